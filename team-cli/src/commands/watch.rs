//! `team watch TEAM`: a live view of members and tasks until the team is terminal.
//!
//! On a terminal: one indicatif line per member (status, elapsed, turns, tokens, last
//! output) under a header line with task counts, redrawn in place. Without a terminal: one
//! plain line per change, so a CI log stays readable.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use team_core::TaskStatus;
use team_store::now_ms;

use crate::output::{duration, one_line};
use crate::project::Ctx;

/// Redraw period.
const TICK: Duration = Duration::from_millis(250);

/// Runs `team watch`.
pub fn run(ctx: &Ctx, team_ref: &str) -> anyhow::Result<()> {
    let team = ctx.store.resolve_team(team_ref)?;
    let live = std::io::stderr().is_terminal();
    let multi = MultiProgress::with_draw_target(if live {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let style = ProgressStyle::with_template("{spinner} {msg}")?;
    let header = multi.add(ProgressBar::new_spinner().with_style(style.clone()));
    let mut bars: HashMap<i64, ProgressBar> = HashMap::new();
    let mut last_line: HashMap<i64, String> = HashMap::new();
    loop {
        // A lost runner's members would otherwise look live for ever.
        super::run::reconcile_on_sight(ctx);
        let t = ctx.store.resolve_team(&team.id)?;
        let members = ctx.store.list_members(&team.id)?;
        let tasks = ctx.store.list_tasks(&team.id, None)?;
        let count = |s: TaskStatus| tasks.iter().filter(|t| t.status == s).count();
        header.set_message(format!(
            "team {} {}  tasks: {} pending, {} in progress, {} completed, {} failed",
            t.name,
            t.status,
            count(TaskStatus::Pending),
            count(TaskStatus::InProgress),
            count(TaskStatus::Completed),
            count(TaskStatus::Failed)
        ));
        header.tick();
        let now = now_ms();
        for m in &members {
            let line = format!(
                "{:<16} {:<10} {:>7}  turns {:<3} tokens {}/{}  {}",
                m.name,
                m.status,
                duration(m.elapsed_ms(now)),
                m.turns,
                m.tokens_in,
                m.tokens_out,
                one_line(m.error.as_deref().or(m.result.as_deref()).unwrap_or(""), 50)
            );
            if live {
                let bar = bars.entry(m.id).or_insert_with(|| {
                    multi.add(ProgressBar::new_spinner().with_style(style.clone()))
                });
                bar.set_message(line);
                if m.status.is_terminal() {
                    bar.finish();
                } else {
                    bar.tick();
                }
            } else {
                // Without a terminal, print a member's line only when its status changes.
                let key = format!("{} {}", m.name, m.status);
                if last_line.get(&m.id) != Some(&key) {
                    eprintln!("{line}");
                    last_line.insert(m.id, key);
                }
            }
        }
        if t.status.is_terminal() {
            header.finish();
            if !live {
                eprintln!("team {} {}", t.name, t.status);
            }
            return Ok(());
        }
        std::thread::sleep(TICK);
    }
}
