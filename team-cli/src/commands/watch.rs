//! `team watch TEAM`: a live view of members and tasks until the team is terminal.
//!
//! The human view is [`super::live`]'s, as for `team run`: on a terminal, a header (the team's
//! state, its task counts, the members done of all) above one row per member, redrawn in
//! place; in CI, on a dumb terminal or without a terminal, one timestamped line per change (the
//! team's history first, then each change as it happens; a workflow's phases with `k/n`), the
//! team's end last. With `--json`:
//! JSON Lines on stdout, one [`WatchChangeDoc`] per change (a member's state or turn count, the
//! team's state or task counts), the team's terminal line last.

use std::collections::{BTreeMap, HashMap};

use team_core::TaskStatus;
use team_runner::workflow::WorkflowKind;
use team_store::now_ms;

use super::live::{Mode, TICK, View};
use crate::doc::{MemberDoc, TeamDoc, WatchChangeDoc};
use crate::error::Result;
use crate::output::{colors, duration, paint_state};
use crate::project::Ctx;

/// Runs `team watch`.
pub fn run(ctx: &Ctx, team_ref: &str) -> Result<()> {
    let team = ctx.store.resolve_team(team_ref)?;
    if ctx.out.json {
        return json_lines(ctx, &team.id);
    }
    let color = colors(&std::io::stderr());
    // The workflow's kind numbers its phases (`k/n`); a team without one has none.
    let kind = team
        .workflow
        .as_deref()
        .and_then(|w| team_runner::workflow::find(&ctx.project_root, w).ok())
        .and_then(|(def, _)| WorkflowKind::of(&def).ok());
    let mut view = View::new(Mode::detect(), team.name.as_str(), kind);
    loop {
        // A lost runner's members would otherwise look live for ever.
        super::run::reconcile_on_sight(ctx);
        let t = ctx.store.resolve_team(&team.id)?;
        let tasks = ctx.store.list_tasks(&team.id, None)?;
        let count = |s: TaskStatus| tasks.iter().filter(|t| t.status == s).count();
        let status = format!(
            "team {} {} {} · tasks: {} pending, {} in progress, {} completed, {} failed",
            t.name,
            paint_state(t.status.as_str(), t.status.as_str(), color),
            duration(t.ended_at_ms.unwrap_or_else(now_ms) - t.created_at_ms),
            count(TaskStatus::Pending),
            count(TaskStatus::InProgress),
            count(TaskStatus::Completed),
            count(TaskStatus::Failed)
        );
        let looked = view.look(&ctx.store, &team.id, &status);
        if let Err(e) = looked {
            view.finish();
            return Err(e.into());
        }
        if t.status.is_terminal() {
            view.finish();
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
