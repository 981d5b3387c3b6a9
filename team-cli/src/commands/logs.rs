//! `team logs TEAM [--follow] [--member M] [--kind PREFIX] [--since WHEN] [--tail N]`: the
//! team's event log, filtered.

use std::collections::VecDeque;
use std::io::Write;
use std::time::Duration;

use team_core::Event;
use team_store::now_ms;

use crate::cli::LogsArgs;
use crate::doc::{self, EventDoc};
use crate::error::{CommandError, Result};
use crate::output::timestamp;
use crate::project::Ctx;

/// Events read per query.
const PAGE: i64 = 1000;

/// How often `--follow` looks for new events, in ms.
const FOLLOW_POLL_MS: u64 = 200;

/// Which events to print.
struct Filter {
    member: Option<String>,
    kind: Option<String>,
    since_ms: Option<i64>,
}

impl Filter {
    fn keeps(&self, e: &Event) -> bool {
        self.member
            .as_deref()
            .is_none_or(|m| e.member.as_deref() == Some(m))
            && self.kind.as_deref().is_none_or(|k| e.kind.starts_with(k))
            && self.since_ms.is_none_or(|s| e.created_at_ms >= s)
    }
}

/// `--since`: a duration before now (`10m`, `1h30m`, `90s`: humantime's syntax), a time in
/// ms since the Unix epoch (`1764000000000`), or an RFC 3339 time (`2026-12-07T04:00:00Z`).
/// Returns ms since the epoch.
///
/// # Errors
/// Usage error naming the accepted forms.
pub fn parse_since(text: &str, now: i64) -> Result<i64, CommandError> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse::<i64>()
            .map_err(|_| CommandError::usage(format!("--since {t}: the number is too large")));
    }
    if let Ok(d) = humantime::parse_duration(t) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        return Ok(now.saturating_sub(ms));
    }
    if let Ok(at) = humantime::parse_rfc3339_weak(t)
        && let Ok(d) = at.duration_since(std::time::UNIX_EPOCH)
    {
        return Ok(i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    }
    Err(CommandError::usage(format!(
        "--since takes a duration before now (`10m`, `1h30m`), a time in ms since the epoch, or an RFC 3339 time (`2026-12-07T04:00:00Z`), not `{t}`"
    )))
}

/// Runs `team logs`.
pub fn run(ctx: &Ctx, a: &LogsArgs) -> Result<()> {
    let team = ctx.store.resolve_team(&a.team)?;
    if let Some(m) = &a.member {
        // A typo should not look like a quiet member.
        ctx.store.get_member(&team.id, m)?;
    }
    let filter = Filter {
        member: a.member.clone(),
        kind: a.kind.clone(),
        since_ms: a
            .since
            .as_deref()
            .map(|s| parse_since(s, now_ms()))
            .transpose()?,
    };
    let tail = a.tail;
    // The events there are now, filtered (only the last `tail` with --tail).
    let mut after = 0;
    let mut kept: VecDeque<Event> = VecDeque::new();
    loop {
        let page = ctx.store.list_events(Some(&team.id), after, PAGE)?;
        if let Some(last) = page.last() {
            after = last.id;
        }
        let more = page.len() as i64 == PAGE;
        for e in page.into_iter().filter(|e| filter.keeps(e)) {
            kept.push_back(e);
            if tail.is_some_and(|n| kept.len() > n) {
                kept.pop_front();
            }
        }
        if !more {
            break;
        }
    }
    let kept: Vec<Event> = kept.into();
    if !a.follow {
        if ctx.out.json {
            return ctx.out.json(&doc::docs::<_, EventDoc>(kept));
        }
        return print_events(ctx, &kept, false);
    }
    print_events(ctx, &kept, true)?;
    loop {
        let terminal = ctx.store.resolve_team(&team.id)?.status.is_terminal();
        // Read after looking at the status, so nothing written before the end is missed.
        loop {
            let page = ctx.store.list_events(Some(&team.id), after, PAGE)?;
            if let Some(last) = page.last() {
                after = last.id;
            }
            let more = page.len() as i64 == PAGE;
            let new: Vec<Event> = page.into_iter().filter(|e| filter.keeps(e)).collect();
            print_events(ctx, &new, true)?;
            if !more {
                break;
            }
        }
        if terminal {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(FOLLOW_POLL_MS));
    }
}

fn print_events(ctx: &Ctx, events: &[Event], lines: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for e in events {
        if ctx.out.json && lines {
            serde_json::to_writer(&mut out, &EventDoc::from(e.clone()))?;
            writeln!(out)?;
        } else {
            writeln!(
                out,
                "{}  {:<14} {:<18} {}",
                timestamp(e.created_at_ms),
                e.member.as_deref().unwrap_or("-"),
                e.kind,
                e.payload
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_durations_ms_and_rfc3339() {
        let now = 1_800_000_000_000;
        assert_eq!(parse_since("10m", now).unwrap(), now - 600_000);
        assert_eq!(parse_since("1h30m", now).unwrap(), now - 5_400_000);
        assert_eq!(
            parse_since("1764000000000", now).unwrap(),
            1_764_000_000_000
        );
        assert_eq!(
            parse_since("2026-01-01T00:00:00Z", now).unwrap(),
            1_767_225_600_000
        );
        assert!(parse_since("yesterday", now).is_err());
        assert!(parse_since("", now).is_err());
    }
}
