//! `team send` and `team inbox`, and the defaults a command run inside a member takes from
//! its environment (`TEAM_ID`, `TEAM_MEMBER`).

use std::io::Write;
use std::time::{Duration, Instant};

use team_core::{Message, MessageKind, Team, delivery};
use team_store::{Outgoing, Recipient};

use crate::cli::{InboxArgs, SendArgs};
use crate::doc::{self, MessageDoc};
use crate::error::{CommandError, Kind, Result};
use crate::output::timestamp;
use crate::project::{Ctx, text_or_stdin};

/// How often `team inbox --wait` looks for a message written by another process, in ms.
/// (Within one runner process, waiters are woken in memory instead.)
pub const INBOX_POLL_MS: u64 = 25;

/// Most messages `team inbox --after ID` prints at once (ask again after the last id).
pub const AFTER_LIMIT: i64 = 1000;

/// The team id a runner gives a member's process (`TEAM_ID`), when set and not empty.
pub fn env_team() -> Option<String> {
    std::env::var("TEAM_ID").ok().filter(|s| !s.is_empty())
}

/// The member name a runner gives a member's process (`TEAM_MEMBER`), when set and not empty.
pub fn env_member() -> Option<String> {
    std::env::var("TEAM_MEMBER").ok().filter(|s| !s.is_empty())
}

/// The environment variable a runner gives a member's process with the attempt it runs
/// (`team_core::delivery::may_act`): `team send`, `team task` and `team memory` run as that
/// member pass it on, so a process of a superseded attempt (its host was cut off and the
/// member was retried elsewhere) cannot act for the member any more.
pub const ENV_MEMBER_ATTEMPT: &str = "TEAM_MEMBER_ATTEMPT";

/// The attempt this process runs (`TEAM_MEMBER_ATTEMPT`) when it acts as its own member:
/// `member` of `team` is `TEAM_MEMBER` of `TEAM_ID`. `None` otherwise (a person at a shell,
/// or a member acting for another), and when the variable is not a whole number.
pub fn own_attempt(team: &Team, member: &str) -> Option<i64> {
    own_member(team)
        .filter(|m| m == member)
        .and_then(|_| std::env::var(ENV_MEMBER_ATTEMPT).ok())
        .and_then(|a| a.trim().parse().ok())
}

/// `given`, else the team of the member this process runs as (`TEAM_ID`).
///
/// # Errors
/// Usage error when neither is there.
pub fn team_or_env(given: Option<&str>) -> Result<String, CommandError> {
    given.map(str::to_owned).or_else(env_team).ok_or_else(|| {
        CommandError::usage(
            "no team given; name the team (TEAM), or run inside a member where TEAM_ID is set",
        )
    })
}

/// `given`, else the member this process runs as (`TEAM_MEMBER`) when `team` is its team
/// (`TEAM_ID`). `what` names the flag for the error (`--from`).
///
/// # Errors
/// Usage error when neither is there.
pub fn member_or_env(given: Option<&str>, team: &Team, what: &str) -> Result<String, CommandError> {
    if let Some(m) = given {
        return Ok(m.to_owned());
    }
    own_member(team).ok_or_else(|| {
        CommandError::usage(format!(
            "no member given for team {}; pass {what} MEMBER, or run inside a member of the team (TEAM_ID and TEAM_MEMBER set)",
            team.name
        ))
    })
}

/// The member this process runs as (`TEAM_MEMBER`) when `team` is its team (`TEAM_ID`).
pub fn own_member(team: &Team) -> Option<String> {
    env_team()
        .filter(|t| *t == team.id || *t == team.name)
        .and(env_member())
}

/// A lease from a flag as milliseconds: at least `min_ms` ms, at most a day
/// (`delivery::MAX_LEASE_MS`).
///
/// # Errors
/// Usage error naming `flag` otherwise.
pub fn lease_ms(flag: &str, lease: Duration, min_ms: i64) -> Result<i64, CommandError> {
    let ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    let secs = lease.as_secs_f64();
    if ms > delivery::MAX_LEASE_MS {
        return Err(CommandError::usage(format!(
            "{flag} must be at most {} s (a day), not {secs}",
            delivery::MAX_LEASE_MS / 1000
        )));
    }
    if ms < min_ms {
        return Err(CommandError::usage(format!(
            "{flag} must be at least {} s, not {secs}",
            min_ms as f64 / 1000.0
        )));
    }
    Ok(ms)
}

/// `team send [TEAM] [--from M] (--to M | --all) [--key K] [--interrupt] [BODY]`.
pub fn send(ctx: &Ctx, a: &SendArgs) -> Result<()> {
    // Inside a member, one argument is the body: `team send --to lead "done"`.
    let (team_ref, body) = match (a.args.as_slice(), env_team()) {
        ([team, body], _) => (team.clone(), Some(body.clone())),
        ([body], Some(team)) => (team, Some(body.clone())),
        ([team], None) => (team.clone(), None),
        ([], env) => (team_or_env(env.as_deref())?, None),
        _ => return Err(CommandError::usage("give at most TEAM and BODY")),
    };
    let team = ctx.store.resolve_team(&team_ref)?;
    let from = member_or_env(a.from.as_deref(), &team, "--from")?;
    let body = text_or_stdin(body, "message body")?;
    if body.trim().is_empty() {
        return Err(CommandError::usage(format!(
            "the message body is empty; nothing was sent to team {}",
            team.name
        )));
    }
    let to = match (&a.to, a.all) {
        (Some(m), false) => Recipient::Member(m.clone()),
        _ => Recipient::All,
    };
    let msg = Outgoing {
        from: &from,
        to,
        kind: MessageKind::Text,
        body: &body,
    };
    let store = ctx
        .store
        .clone()
        .with_max_message_bytes(max_message_bytes(&ctx.project_root));
    let sent = store.send_message_as(
        &team.id,
        &msg,
        a.key.as_deref(),
        a.interrupt,
        own_attempt(&team, &from),
    )?;
    if ctx.out.json {
        return ctx.out.json(&doc::docs::<_, MessageDoc>(sent));
    }
    let names: Vec<&str> = sent.iter().map(|m| m.recipient.as_str()).collect();
    ctx.out.note(format!("sent to {}", names.join(", ")));
    Ok(())
}

/// `team inbox [TEAM] [MEMBER] [--peek | --after ID] [--wait [--timeout SECS]] [--lease SECS]`.
///
/// Without `--peek`/`--after`, the messages are taken under a delivery lease, printed,
/// flushed, and only then acknowledged: a `team inbox` killed before its acknowledgement
/// loses nothing (the messages come back when the lease ends, under the same ids).
pub fn inbox(ctx: &Ctx, a: &InboxArgs) -> Result<()> {
    let team = ctx.store.resolve_team(&team_or_env(a.team.as_deref())?)?;
    let member = member_or_env(a.member.as_deref(), &team, "MEMBER")?;
    let deadline = a.timeout.and_then(|t| Instant::now().checked_add(t));
    let lease = match a.lease {
        Some(s) => lease_ms("--lease", s, 1)?,
        None => delivery::DEFAULT_INBOX_LEASE_MS,
    };
    let (messages, lease_token) = loop {
        let (got, token) = if a.peek {
            (ctx.store.take_inbox(&team.id, &member, true)?, None)
        } else if let Some(after) = a.after {
            (
                ctx.store
                    .inbox_after(&team.id, &member, after, AFTER_LIMIT)?,
                None,
            )
        } else {
            let l = ctx.store.lease_inbox(&team.id, &member, lease)?;
            (l.messages, Some(l.lease))
        };
        if !got.is_empty() || !a.wait {
            break (got, token);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(CommandError::new(
                Kind::Timeout,
                format!(
                    "no message for member {member} in team {} within {}s",
                    team.name,
                    a.timeout.unwrap_or_default().as_secs_f64()
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(INBOX_POLL_MS));
    };
    if ctx.out.json {
        let docs: Vec<MessageDoc> = messages.iter().cloned().map(MessageDoc::from).collect();
        ctx.out.json(&docs)?;
    } else {
        print_messages(&messages);
    }
    // Only what reached stdout is acknowledged: a failed flush (a closed pipe, a full disk)
    // leaves the messages to come back after the lease.
    std::io::stdout().flush()?;
    if let Some(token) = lease_token
        && !messages.is_empty()
    {
        ctx.store.ack_inbox(&team.id, &member, &token)?;
    }
    if messages.is_empty() && !ctx.out.json {
        ctx.out.note(format!(
            "no unread messages for {member} in team {}",
            team.name
        ));
    }
    Ok(())
}

/// Prints messages for a person: a header line per message, then its body.
pub fn print_messages(messages: &[Message]) {
    for m in messages {
        println!(
            "--- #{} from {} ({}{}) at {}",
            m.id,
            m.sender,
            m.kind,
            if m.broadcast { ", broadcast" } else { "" },
            timestamp(m.created_at_ms)
        );
        println!("{}", m.body.trim_end());
    }
}

/// `[team] max_message_bytes` of the project's configuration; the default (1 MiB) with a
/// warning when the configuration cannot be read, so a broken config file never stops a send.
fn max_message_bytes(root: &std::path::Path) -> usize {
    match team_agent::config::Config::load(Some(root)) {
        Ok(config) => config.team.max_message_bytes,
        Err(e) => {
            tracing::warn!("{e}; sending with the default message size limit (1 MiB)");
            team_core::delivery::DEFAULT_MAX_MESSAGE_BYTES
        }
    }
}
