//! `team approvals [TEAM] [--all]`, `team approve ID [--always]`, `team deny ID --reason TEXT`:
//! the human side of the approval gates (issue 18). A member parked on a request (`waiting`)
//! sees the decision within `DECISION_POLL` in a live runner, or on `team resume`.

use team_core::{Approval, ApprovalStatus};
use team_store::ApprovalDecision;

use crate::cli::{ApprovalsArgs, ApproveArgs, DenyArgs};
use crate::doc::ApprovalDoc;
use crate::error::{CommandError, Result};
use crate::output::{one_line, timestamp};
use crate::project::Ctx;

/// Who decides from the command line (`approvals.decided_by`).
pub const DECIDED_BY_USER: &str = "user";

/// The rows of a table of requests, for a person.
pub fn table_rows(approvals: &[Approval], team_names: &dyn Fn(&str) -> String) -> Vec<Vec<String>> {
    approvals
        .iter()
        .map(|a| {
            vec![
                a.id.to_string(),
                team_names(&a.team_id),
                a.member.clone(),
                a.tool.clone(),
                one_line(&a.summary, 60),
                a.status.to_string(),
                timestamp(a.created_at_ms),
            ]
        })
        .collect()
}

/// The header of [`table_rows`].
pub const HEADER: &[&str] = &["ID", "TEAM", "MEMBER", "TOOL", "CALL", "STATUS", "ASKED"];

/// `team approvals [TEAM] [--all]`.
pub fn list(ctx: &Ctx, a: &ApprovalsArgs) -> Result<()> {
    let team = match &a.team {
        Some(t) => Some(ctx.store.resolve_team(t)?),
        None => None,
    };
    let approvals = ctx
        .store
        .list_approvals(team.as_ref().map(|t| t.id.as_str()), !a.all)?;
    if ctx.out.json {
        let docs: Vec<ApprovalDoc> = approvals.into_iter().map(ApprovalDoc::from).collect();
        return ctx.out.json(&docs);
    }
    if approvals.is_empty() {
        ctx.out.note(match &team {
            Some(t) => format!("no pending approvals in team {}", t.name),
            None => "no pending approvals".to_owned(),
        });
        return Ok(());
    }
    let name_of = |id: &str| {
        ctx.store
            .resolve_team(id)
            .map_or_else(|_| id.to_owned(), |t| t.name)
    };
    println!(
        "{}",
        ctx.out.table(HEADER, table_rows(&approvals, &name_of))
    );
    Ok(())
}

/// `team approve ID [--always]`.
pub fn approve(ctx: &Ctx, a: &ApproveArgs) -> Result<()> {
    decide(ctx, a.id, &ApprovalDecision::Approve { always: a.always })
}

/// `team deny ID --reason TEXT`.
pub fn deny(ctx: &Ctx, a: &DenyArgs) -> Result<()> {
    let reason = a.reason.trim();
    if reason.is_empty() {
        return Err(CommandError::usage(format!(
            "--reason is empty; say why approval {} is denied (the model reads it)",
            a.id
        )));
    }
    decide(
        ctx,
        a.id,
        &ApprovalDecision::Deny {
            reason: reason.to_owned(),
        },
    )
}

fn decide(ctx: &Ctx, id: i64, decision: &ApprovalDecision) -> Result<()> {
    let decided = ctx.store.decide_approval(id, decision, DECIDED_BY_USER)?;
    if ctx.out.json {
        return ctx.out.json(&ApprovalDoc::from(decided));
    }
    let verb = match decided.status {
        ApprovalStatus::Approved if decided.always => {
            format!(
                "approved (and every later {} call in the team)",
                decided.tool
            )
        }
        ApprovalStatus::Approved => "approved".to_owned(),
        _ => "denied".to_owned(),
    };
    ctx.out.note(format!(
        "approval {id} ({} of {}) {verb}",
        decided.tool, decided.member
    ));
    Ok(())
}
