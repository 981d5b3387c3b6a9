//! Approval requests (issue 18, approval gates that work headless): a member's tool call or
//! plan that waits for a human, as a row of `approvals`. Asking parks the member
//! (`running → waiting`, `team_core::MemberEvent::Park`) in the same transaction; a decision
//! is a guarded update (`WHERE status = 'pending'`, `team_core::ApprovalStatus::transition`).
//! Part of the store's operations (see `ops/mod.rs`).

use diesel::prelude::*;
use serde_json::json;
use team_core::{Approval, ApprovalEvent, ApprovalKind, ApprovalStatus, MemberEvent, MemberStatus};

use super::Conn;
use super::events::event;
use super::members::{member_row, member_step_in};
use super::teams::{active_team, team_by_id};
use crate::dialect::Dialect;
use crate::error::{Refusal, Result, StoreError};
use crate::now_ms;
use crate::rows::ApprovalRow;
use crate::schema::approvals;
use crate::types::{ApprovalDecision, NewApproval};

/// The member's latest request for the same call (kind, tool and arguments), if any.
fn latest_for(
    c: &mut Conn,
    team_id: &str,
    member: &str,
    new: &NewApproval,
) -> Result<Option<ApprovalRow>> {
    Ok(approvals::table
        .filter(approvals::team_id.eq(team_id))
        .filter(approvals::member.eq(member))
        .filter(approvals::kind.eq(new.kind.as_str()))
        .filter(approvals::tool.eq(&new.tool))
        .filter(approvals::arguments.eq(&new.arguments))
        .order(approvals::id.desc())
        .select(ApprovalRow::as_select())
        .first(c)
        .optional()?)
}

/// The approval with `always` that allows `tool` in the team, if any.
fn always_for(c: &mut Conn, team_id: &str, tool: &str) -> Result<Option<ApprovalRow>> {
    Ok(approvals::table
        .filter(approvals::team_id.eq(team_id))
        .filter(approvals::tool.eq(tool))
        .filter(approvals::kind.eq(ApprovalKind::Tool.as_str()))
        .filter(approvals::status.eq(ApprovalStatus::Approved.as_str()))
        .filter(approvals::always.eq(true))
        .order(approvals::id)
        .select(ApprovalRow::as_select())
        .first(c)
        .optional()?)
}

/// Asks for approval of `new` as member `member`, in one transaction. The answer, in order:
/// an earlier request of the member for the same call (same kind, tool and arguments) that
/// was decided (what a member resumed after its runner died finds); an `always` approval of
/// the tool in the team (for tool calls); else a pending request (the earlier one, or a new
/// row with an `approval.requested` event), and the member parked (`running → waiting`)
/// unless it already waits. The caller looks at the returned row's `status`.
pub(crate) fn ask_approval(
    c: &mut Conn,
    team_id: &str,
    member: &str,
    new: &NewApproval,
) -> Result<Approval> {
    c.write_tx(|c| {
        let team = active_team(c, team_id, "approval requests")?;
        let m = member_row(c, &team, member)?;
        let earlier = latest_for(c, team_id, &m.name, new)?;
        if let Some(row) = earlier.clone()
            && row.status()?.is_terminal()
        {
            return row.into_entity();
        }
        if new.kind == ApprovalKind::Tool
            && let Some(rule) = always_for(c, team_id, &new.tool)?
        {
            return rule.into_entity();
        }
        let row = match earlier {
            Some(row) => row,
            None => {
                let now = now_ms();
                let row = diesel::insert_into(approvals::table)
                    .values((
                        approvals::team_id.eq(team_id),
                        approvals::member.eq(&m.name),
                        approvals::kind.eq(new.kind.as_str()),
                        approvals::tool.eq(&new.tool),
                        approvals::arguments.eq(&new.arguments),
                        approvals::summary.eq(&new.summary),
                        approvals::why.eq(&new.why),
                        approvals::status.eq(ApprovalStatus::Pending.as_str()),
                        approvals::always.eq(false),
                        approvals::created_at_ms.eq(now),
                    ))
                    .returning(ApprovalRow::as_returning())
                    .get_result(c)?;
                event(
                    c,
                    Some(team_id),
                    Some(&m.name),
                    "approval.requested",
                    json!({"id": row.id, "kind": new.kind, "tool": new.tool, "summary": new.summary, "why": new.why}),
                )?;
                row
            }
        };
        if m.status()? != MemberStatus::Waiting {
            member_step_in(c, &team, m, MemberEvent::Park)?;
        }
        row.into_entity()
    })
}

/// Approval `id`.
pub(crate) fn get_approval(c: &mut Conn, id: i64) -> Result<Approval> {
    approvals::table
        .find(id)
        .select(ApprovalRow::as_select())
        .get_result(c)
        .optional()?
        .ok_or_else(|| {
            StoreError::not_found_hint(format!("approval {id}"), "see `team approvals`")
        })?
        .into_entity()
}

/// The approval requests of a team (every team when `None`), oldest first; only the pending
/// ones with `pending_only`.
pub(crate) fn list_approvals(
    c: &mut Conn,
    team_id: Option<&str>,
    pending_only: bool,
) -> Result<Vec<Approval>> {
    let mut q = approvals::table
        .select(ApprovalRow::as_select())
        .order(approvals::id)
        .into_boxed();
    if let Some(t) = team_id {
        q = q.filter(approvals::team_id.eq(t));
    }
    if pending_only {
        q = q.filter(approvals::status.eq(ApprovalStatus::Pending.as_str()));
    }
    q.load(c)?.into_iter().map(ApprovalRow::into_entity).collect()
}

/// Decides approval `id` as `decided_by`, in one guarded update with an `approval.approved` /
/// `approval.denied` event: a request is decided once (a second decision is refused with
/// the first one's state), and only in an active team.
pub(crate) fn decide_approval(
    c: &mut Conn,
    id: i64,
    decision: &ApprovalDecision,
    decided_by: &str,
) -> Result<Approval> {
    c.write_tx(|c| {
        let row = approvals::table
            .find(id)
            .select(ApprovalRow::as_select())
            .get_result(c)
            .optional()?
            .ok_or_else(|| {
                StoreError::not_found_hint(format!("approval {id}"), "see `team approvals`")
            })?;
        let team = team_by_id(c, &row.team_id)?;
        active_team(c, &row.team_id, "decisions")?;
        let (ev, reason, always) = match decision {
            ApprovalDecision::Approve { always } => (ApprovalEvent::Approve, None, *always),
            ApprovalDecision::Deny { reason } => (ApprovalEvent::Deny, Some(reason.clone()), false),
        };
        let from = row.status()?;
        let to = from.transition(ev).map_err(|e| {
            StoreError::from(Refusal::transition_of(
                format!("approval {id} in team {}", team.name),
                e,
            ))
        })?;
        let now = now_ms();
        let updated = diesel::update(
            approvals::table
                .filter(approvals::id.eq(id))
                .filter(approvals::status.eq(from.as_str())),
        )
        .set((
            approvals::status.eq(to.as_str()),
            approvals::decided_by.eq(decided_by),
            approvals::reason.eq(&reason),
            approvals::always.eq(always),
            approvals::decided_at_ms.eq(now),
        ))
        .returning(ApprovalRow::as_returning())
        .get_result(c)
        .optional()?
        .ok_or_else(|| StoreError::from(diesel::result::Error::NotFound))?;
        event(
            c,
            Some(&row.team_id),
            Some(&row.member),
            &format!("approval.{to}"),
            json!({"id": id, "tool": row.tool, "by": decided_by, "always": always, "reason": reason}),
        )?;
        updated.into_entity()
    })
}
