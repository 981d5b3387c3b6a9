//! `team logs TEAM [--follow]`: the team's event log.

use std::io::Write;
use std::time::Duration;

use team_core::Event;

use crate::output::timestamp;
use crate::project::Ctx;

/// Events read per query.
const PAGE: i64 = 1000;

/// How often `--follow` looks for new events, in ms.
const FOLLOW_POLL_MS: u64 = 200;

/// Runs `team logs`.
pub fn run(ctx: &Ctx, team_ref: &str, follow: bool) -> anyhow::Result<()> {
    let team = ctx.store.resolve_team(team_ref)?;
    let mut after = 0;
    let mut all = Vec::new();
    loop {
        let page = ctx.store.list_events(Some(&team.id), after, PAGE)?;
        if let Some(last) = page.last() {
            after = last.id;
        }
        let more = page.len() as i64 == PAGE;
        if follow {
            print_events(ctx, &page, true)?;
        } else {
            all.extend(page);
        }
        if more {
            continue;
        }
        if !follow {
            break;
        }
        if ctx.store.resolve_team(&team.id)?.status.is_terminal() {
            // One last read so nothing written before the end is missed.
            let tail = ctx.store.list_events(Some(&team.id), after, PAGE)?;
            print_events(ctx, &tail, true)?;
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(FOLLOW_POLL_MS));
    }
    if ctx.out.json {
        return ctx.out.json(&all);
    }
    print_events(ctx, &all, false)
}

fn print_events(ctx: &Ctx, events: &[Event], lines: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for e in events {
        if ctx.out.json && lines {
            serde_json::to_writer(&mut out, e)?;
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
