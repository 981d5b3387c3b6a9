//! `team send` and `team inbox`, and the defaults a command run inside a member takes from
//! its environment (`TEAM_ID`, `TEAM_MEMBER`).

use std::io::Write;
use std::time::{Duration, Instant};

use team_core::{Message, MessageKind, Team, delivery};
use team_store::{Outgoing, Recipient, Store};

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

/// Who a `team` process acts as, from its environment: `TEAM_ID`, `TEAM_MEMBER` and
/// `TEAM_MEMBER_ATTEMPT`, each `None` when unset or empty. Read once by the process
/// ([`ActorEnv::from_process`]) and, for a command the local relay runs for it, sent along
/// with the request (`crate::relay`), so the runner decides exactly as the command would.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ActorEnv {
    /// `TEAM_ID`: the team of the member this process runs as.
    pub team: Option<String>,
    /// `TEAM_MEMBER`: the member this process runs as.
    pub member: Option<String>,
    /// `TEAM_MEMBER_ATTEMPT` as given (parsed by [`ActorEnv::own_attempt`]).
    pub attempt: Option<String>,
}

impl ActorEnv {
    /// The variables of this process.
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|s| !s.is_empty());
        Self {
            team: var("TEAM_ID"),
            member: var("TEAM_MEMBER"),
            attempt: var(ENV_MEMBER_ATTEMPT),
        }
    }

    /// The member this process runs as (`TEAM_MEMBER`) when `team` is its team (`TEAM_ID`).
    pub fn own_member(&self, team: &Team) -> Option<String> {
        self.team
            .as_ref()
            .filter(|t| **t == team.id || **t == team.name)
            .and(self.member.clone())
    }

    /// The attempt this process runs (`TEAM_MEMBER_ATTEMPT`) when it acts as its own
    /// member: `member` of `team` is `TEAM_MEMBER` of `TEAM_ID`. `None` otherwise (a person
    /// at a shell, or a member acting for another), and when the variable is not a whole
    /// number.
    pub fn own_attempt(&self, team: &Team, member: &str) -> Option<i64> {
        self.own_member(team)
            .filter(|m| m == member)
            .and(self.attempt.as_deref())
            .and_then(|a| a.trim().parse().ok())
    }

    /// `given`, else `TEAM_ID`.
    ///
    /// # Errors
    /// Usage error when neither is there.
    pub fn team_or_env(&self, given: Option<&str>) -> Result<String, CommandError> {
        given
            .map(str::to_owned)
            .or_else(|| self.team.clone())
            .ok_or_else(|| {
                CommandError::usage(
                    "no team given; name the team (TEAM), or run inside a member where TEAM_ID is set",
                )
            })
    }

    /// `given`, else the member this process runs as (`TEAM_MEMBER`) when `team` is its
    /// team (`TEAM_ID`). `what` names the flag for the error (`--from`).
    ///
    /// # Errors
    /// Usage error when neither is there.
    pub fn member_or_env(
        &self,
        given: Option<&str>,
        team: &Team,
        what: &str,
    ) -> Result<String, CommandError> {
        if let Some(m) = given {
            return Ok(m.to_owned());
        }
        self.own_member(team).ok_or_else(|| {
            CommandError::usage(format!(
                "no member given for team {}; pass {what} MEMBER, or run inside a member of the team (TEAM_ID and TEAM_MEMBER set)",
                team.name
            ))
        })
    }
}

/// The team id a runner gives a member's process (`TEAM_ID`), when set and not empty.
pub fn env_team() -> Option<String> {
    ActorEnv::from_process().team
}

/// The member name a runner gives a member's process (`TEAM_MEMBER`), when set and not empty.
pub fn env_member() -> Option<String> {
    ActorEnv::from_process().member
}

/// The environment variable a runner gives a member's process with the attempt it runs
/// (`team_core::delivery::may_act`): `team send`, `team task` and `team memory` run as that
/// member pass it on, so a process of a superseded attempt (its host was cut off and the
/// member was retried elsewhere) cannot act for the member any more.
pub const ENV_MEMBER_ATTEMPT: &str = "TEAM_MEMBER_ATTEMPT";

/// [`ActorEnv::own_attempt`] of this process.
pub fn own_attempt(team: &Team, member: &str) -> Option<i64> {
    ActorEnv::from_process().own_attempt(team, member)
}

/// [`ActorEnv::team_or_env`] of this process.
///
/// # Errors
/// Usage error when neither is there.
pub fn team_or_env(given: Option<&str>) -> Result<String, CommandError> {
    ActorEnv::from_process().team_or_env(given)
}

/// [`ActorEnv::member_or_env`] of this process.
///
/// # Errors
/// Usage error when neither is there.
pub fn member_or_env(given: Option<&str>, team: &Team, what: &str) -> Result<String, CommandError> {
    ActorEnv::from_process().member_or_env(given, team, what)
}

/// [`ActorEnv::own_member`] of this process.
pub fn own_member(team: &Team) -> Option<String> {
    ActorEnv::from_process().own_member(team)
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

/// What `team send` was asked, after the steps that need no database: the team named
/// (`TEAM`, or `TEAM_ID`) and the body given as an argument (`None`: read from stdin).
///
/// # Errors
/// Usage error for more than TEAM and BODY, or no team at all.
pub fn send_target(a: &SendArgs, env: &ActorEnv) -> Result<(String, Option<String>)> {
    // Inside a member, one argument is the body: `team send --to lead "done"`.
    Ok(match (a.args.as_slice(), env.team.clone()) {
        ([team, body], _) => (team.clone(), Some(body.clone())),
        ([body], Some(team)) => (team, Some(body.clone())),
        ([team], None) => (team.clone(), None),
        ([], env_team) => (env.team_or_env(env_team.as_deref())?, None),
        _ => return Err(CommandError::usage("give at most TEAM and BODY")),
    })
}

/// The store calls and rules of `team send` (shared by the command and the local relay,
/// `crate::relay`, which runs them for a `team send` of another process): resolves
/// `team_ref`, the sender (`--from`, else [`ActorEnv::own_member`]), takes the body from
/// `body` (called once the team and sender are known, so errors come in the command's
/// order), refuses an empty one, and sends it with the size limit `max_bytes` (called after
/// the body checks) as the sender's attempt ([`ActorEnv::own_attempt`]: a superseded
/// attempt or an ended member is refused by the store).
///
/// # Errors
/// The store's (team or member not found, refusals: exit 3/4), usage errors for the body.
pub fn send_in(
    store: &Store,
    a: &SendArgs,
    env: &ActorEnv,
    team_ref: &str,
    body: impl FnOnce() -> Result<String>,
    max_bytes: impl FnOnce() -> usize,
) -> Result<Vec<Message>> {
    let team = store.resolve_team(team_ref)?;
    let from = env.member_or_env(a.from.as_deref(), &team, "--from")?;
    let body = body()?;
    if body.trim().is_empty() {
        return Err(CommandError::usage(format!(
            "the message body is empty; nothing was sent to team {}",
            team.name
        )));
    }
    // clap makes `--to` and `--all` exclusive and one of them required; arguments that come
    // through a runner's relay were parsed by the client, and are checked again here.
    let to = match (&a.to, a.all) {
        (Some(m), false) => Recipient::Member(m.clone()),
        (None, true) => Recipient::All,
        _ => {
            return Err(CommandError::usage(format!(
                "give exactly one of --to MEMBER and --all; nothing was sent to team {}",
                team.name
            )));
        }
    };
    let msg = Outgoing {
        from: &from,
        to,
        kind: MessageKind::Text,
        body: &body,
    };
    let store = store.clone().with_max_message_bytes(max_bytes());
    Ok(store.send_message_as(
        &team.id,
        &msg,
        a.key.as_deref(),
        a.interrupt,
        env.own_attempt(&team, &from),
    )?)
}

/// Prints what `team send` sent: the messages as JSON, or `sent to NAMES` on stderr.
///
/// # Errors
/// Writing stdout failed.
pub fn print_sent(out: &crate::output::Out, sent: Vec<Message>) -> Result<()> {
    if out.json {
        return out.json(&doc::docs::<_, MessageDoc>(sent));
    }
    let names: Vec<&str> = sent.iter().map(|m| m.recipient.as_str()).collect();
    out.note(format!("sent to {}", names.join(", ")));
    Ok(())
}

/// `team send [TEAM] [--from M] (--to M | --all) [--key K] [--interrupt] [BODY]`.
/// `read`: the body as already read by a try through the local relay that fell back
/// (`crate::relay::client`; stdin cannot be read twice), else `None`.
pub fn send(ctx: &Ctx, a: &SendArgs, read: Option<Result<String>>) -> Result<()> {
    let env = ActorEnv::from_process();
    let (team_ref, body) = send_target(a, &env)?;
    let sent = send_in(
        &ctx.store,
        a,
        &env,
        &team_ref,
        || read.unwrap_or_else(|| text_or_stdin(body, "message body")),
        || max_message_bytes(&ctx.project_root),
    )?;
    print_sent(&ctx.out, sent)
}

/// How `team inbox` reads: [`InboxMode::Lease`] (the default: take under a lease of so many
/// ms, acknowledge after printing), `--peek` or `--after ID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum InboxMode {
    /// `--peek`: read without consuming.
    Peek,
    /// `--after ID`: the messages above ID, delivered or not.
    After(i64),
    /// Take under a delivery lease of this many ms.
    Lease(i64),
}

/// The team, member and mode of a `team inbox` (shared with the local relay): resolves the
/// team (`TEAM`, else `TEAM_ID`), the member (`MEMBER`, else `TEAM_MEMBER`), and checks
/// `--lease`.
///
/// # Errors
/// Not found (exit 3) or usage errors, as the command.
pub fn inbox_target(
    store: &Store,
    a: &InboxArgs,
    env: &ActorEnv,
) -> Result<(Team, String, InboxMode)> {
    let team = store.resolve_team(&env.team_or_env(a.team.as_deref())?)?;
    let member = env.member_or_env(a.member.as_deref(), &team, "MEMBER")?;
    let lease = match a.lease {
        Some(s) => lease_ms("--lease", s, 1)?,
        None => delivery::DEFAULT_INBOX_LEASE_MS,
    };
    let mode = if a.peek {
        InboxMode::Peek
    } else if let Some(after) = a.after {
        InboxMode::After(after)
    } else {
        InboxMode::Lease(lease)
    };
    Ok((team, member, mode))
}

/// One read of `member`'s inbox in `team_id` by `mode`: the messages and, for a lease, its
/// token (to acknowledge with once printed).
///
/// # Errors
/// The store's.
pub fn inbox_take(
    store: &Store,
    team_id: &str,
    member: &str,
    mode: InboxMode,
) -> Result<(Vec<Message>, Option<String>)> {
    Ok(match mode {
        InboxMode::Peek => (store.take_inbox(team_id, member, true)?, None),
        InboxMode::After(after) => (
            store.inbox_after(team_id, member, after, AFTER_LIMIT)?,
            None,
        ),
        InboxMode::Lease(ms) => {
            let l = store.lease_inbox(team_id, member, ms)?;
            (l.messages, Some(l.lease))
        }
    })
}

/// Prints what `team inbox` read (JSON or [`print_messages`]), flushes stdout, and only
/// then acknowledges a lease through `ack` (a failed flush leaves the messages to come back
/// after the lease); says so on stderr when there was nothing.
///
/// # Errors
/// Writing stdout failed, or `ack`'s error.
pub fn print_inbox(
    out: &crate::output::Out,
    team_name: &str,
    member: &str,
    messages: &[Message],
    lease_token: Option<&str>,
    ack: impl FnOnce(&str) -> Result<()>,
) -> Result<()> {
    if out.json {
        let docs: Vec<MessageDoc> = messages.iter().cloned().map(MessageDoc::from).collect();
        out.json(&docs)?;
    } else {
        print_messages(messages);
    }
    // Only what reached stdout is acknowledged: a failed flush (a closed pipe, a full disk)
    // leaves the messages to come back after the lease.
    std::io::stdout().flush()?;
    if let Some(token) = lease_token
        && !messages.is_empty()
    {
        ack(token)?;
    }
    if messages.is_empty() && !out.json {
        out.note(format!(
            "no unread messages for {member} in team {team_name}"
        ));
    }
    Ok(())
}

/// `team inbox [TEAM] [MEMBER] [--peek | --after ID] [--wait [--timeout SECS]] [--lease SECS]`.
///
/// Without `--peek`/`--after`, the messages are taken under a delivery lease, printed,
/// flushed, and only then acknowledged: a `team inbox` killed before its acknowledgement
/// loses nothing (the messages come back when the lease ends, under the same ids).
pub fn inbox(ctx: &Ctx, a: &InboxArgs) -> Result<()> {
    let env = ActorEnv::from_process();
    let (team, member, mode) = inbox_target(&ctx.store, a, &env)?;
    let deadline = a.timeout.and_then(|t| Instant::now().checked_add(t));
    let (messages, lease_token) = loop {
        let (got, token) = inbox_take(&ctx.store, &team.id, &member, mode)?;
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
    print_inbox(
        &ctx.out,
        &team.name,
        &member,
        &messages,
        lease_token.as_deref(),
        |token| {
            ctx.store.ack_inbox(&team.id, &member, token)?;
            Ok(())
        },
    )
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
pub fn max_message_bytes(root: &std::path::Path) -> usize {
    match team_agent::config::Config::load(Some(root)) {
        Ok(config) => config.team.max_message_bytes,
        Err(e) => {
            tracing::warn!("{e}; sending with the default message size limit (1 MiB)");
            team_core::delivery::DEFAULT_MAX_MESSAGE_BYTES
        }
    }
}
