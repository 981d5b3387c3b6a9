//! `team send` and `team inbox`.

use std::time::{Duration, Instant};

use team_core::{Message, MessageKind};
use team_store::{Outgoing, Recipient};

use crate::cli::{InboxArgs, SendArgs};
use crate::error::{CommandError, Kind};
use crate::output::timestamp;
use crate::project::{Ctx, text_or_stdin};

/// How often `team inbox --wait` looks for a message written by another process, in ms.
/// (Within one runner process, waiters are woken in memory instead.)
pub const INBOX_POLL_MS: u64 = 25;

/// `team send TEAM --from M (--to M | --all) [BODY]`.
pub fn send(ctx: &Ctx, a: &SendArgs) -> anyhow::Result<()> {
    let team = ctx.store.resolve_team(&a.team)?;
    let body = text_or_stdin(a.body.clone(), "message body")?;
    if body.trim().is_empty() {
        return Err(CommandError::usage(format!(
            "the message body is empty; nothing was sent to team {}",
            team.name
        ))
        .into());
    }
    let to = match (&a.to, a.all) {
        (Some(m), false) => Recipient::Member(m.clone()),
        _ => Recipient::All,
    };
    let sent = ctx.store.send_message(
        &team.id,
        &Outgoing {
            from: &a.from,
            to,
            kind: MessageKind::Text,
            body: &body,
        },
    )?;
    if ctx.out.json {
        return ctx.out.json(&sent);
    }
    let names: Vec<&str> = sent.iter().map(|m| m.recipient.as_str()).collect();
    ctx.out.note(format!("sent to {}", names.join(", ")));
    Ok(())
}

/// `team inbox TEAM MEMBER [--peek] [--wait] [--timeout SECS]`.
pub fn inbox(ctx: &Ctx, a: &InboxArgs) -> anyhow::Result<()> {
    let team = ctx.store.resolve_team(&a.team)?;
    let deadline = match a.timeout {
        Some(s) if !(s.is_finite() && s >= 0.0) => {
            return Err(CommandError::usage(format!(
                "--timeout must be a number of seconds ≥ 0, not {s}"
            ))
            .into());
        }
        Some(s) => Some(Instant::now() + Duration::from_secs_f64(s)),
        None => None,
    };
    let messages = loop {
        let got = ctx.store.take_inbox(&team.id, &a.member, a.peek)?;
        if !got.is_empty() || !a.wait {
            break got;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(CommandError::new(
                Kind::Timeout,
                format!(
                    "no message for member {} in team {} within {}s",
                    a.member,
                    team.name,
                    a.timeout.unwrap_or_default()
                ),
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(INBOX_POLL_MS));
    };
    if ctx.out.json {
        return ctx.out.json(&messages);
    }
    print_messages(&messages);
    if messages.is_empty() {
        ctx.out.note(format!(
            "no unread messages for {} in team {}",
            a.member, team.name
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
