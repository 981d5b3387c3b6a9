//! `team watch TEAM`: a live view of members and tasks until the team is terminal.
//!
//! On a terminal: one indicatif line per member (status, elapsed, turns, tokens, last
//! output) under a header line with task counts, redrawn in place. Without a terminal: one
//! plain line per change, so a CI log stays readable. With `--json`: JSON Lines on stdout, one
//! [`WatchChangeDoc`] per change (a member's state or turn count, the team's state or task
//! counts), the team's terminal line last.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use team_core::TaskStatus;
use team_store::now_ms;

use crate::doc::{MemberDoc, TeamDoc, WatchChangeDoc};
use crate::error::Result;
use crate::output::{duration, one_line};
use crate::project::Ctx;

/// Redraw period.
const TICK: Duration = Duration::from_millis(250);

/// Runs `team watch`.
pub fn run(ctx: &Ctx, team_ref: &str) -> Result<()> {
    let team = ctx.store.resolve_team(team_ref)?;
    if ctx.out.json {
        return json_lines(ctx, &team.id);
    }
    let live = std::io::stderr().is_terminal();
    let multi = MultiProgress::with_draw_target(if live {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let style = ProgressStyle::with_template("{spinner} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
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

/// `team watch --json`: one [`WatchChangeDoc`] line per change until the team is terminal.
fn json_lines(ctx: &Ctx, team_id: &str) -> Result<()> {
    let mut seen_members: HashMap<i64, (team_core::MemberStatus, i64)> = HashMap::new();
    let mut seen_team = None;
    loop {
        super::run::reconcile_on_sight(ctx);
        let t = ctx.store.resolve_team(team_id)?;
        let members = ctx.store.list_members(team_id)?;
        let tasks = ctx.store.list_tasks(team_id, None)?;
        let mut counts: BTreeMap<String, usize> = TaskStatus::ALL
            .iter()
            .map(|s| (s.as_str().to_owned(), 0))
            .collect();
        for task in &tasks {
            *counts.entry(task.status.as_str().to_owned()).or_default() += 1;
        }
        let now = now_ms();
        for m in members {
            let key = (m.status, m.turns);
            if seen_members.get(&m.id) != Some(&key) {
                seen_members.insert(m.id, key);
                ctx.out.json_line(&WatchChangeDoc {
                    at_ms: now,
                    change: "member",
                    team: TeamDoc::from(t.clone()),
                    tasks: counts.clone(),
                    member: Some(MemberDoc::from(m)),
                })?;
            }
        }
        let key = (t.status, counts.clone());
        if seen_team.as_ref() != Some(&key) {
            seen_team = Some(key);
            ctx.out.json_line(&WatchChangeDoc {
                at_ms: now,
                change: "team",
                team: TeamDoc::from(t.clone()),
                tasks: counts,
                member: None,
            })?;
        }
        if t.status.is_terminal() {
            return Ok(());
        }
        std::thread::sleep(TICK);
    }
}
