//! Approval gates that work headless (issue 18): a tool call that the member's permission
//! rules say to `ask` about, in a run with `--on-ask park`, and the plan of an agent with
//! `plan: required`, become an approval request (a row of `approvals`, `Store::ask_approval`).
//! The member parks (`running → waiting`, in the request's transaction) and lets its slot go
//! ([`crate::context::Slot`], as `wait_for_messages` does), looks at the row every
//! [`DECISION_POLL`] until a human decides it (`team approve` / `team deny`, from any shell),
//! then takes a slot again and goes on (`waiting → running`). The row is the truth: a member
//! whose runner died asks again on `team resume` and finds its decided request
//! (`Store::ask_approval` returns it instead of a new one).

use std::time::Duration;

use team_core::{ApprovalStatus, MemberEvent};
use team_store::NewApproval;

use super::coordination::{Caller, FailureKind, ToolFailure, without_slot};
use crate::blocking::db;

/// How often a parked member looks at its request (a read of one row by key).
pub(crate) const DECISION_POLL: Duration = Duration::from_millis(200);

/// A human's decision on a request, as the session acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Allowed through approval request `id`.
    Approved(i64),
    /// Refused through approval request `id`, with the human's reason.
    Denied(i64, String),
    /// The request could not be made or read, or the member was cancelled while it waited:
    /// the call is not run and this text goes back to the model.
    Failed(String),
}

/// Asks for `new` as the caller's member and waits for the decision (see the module docs).
pub(crate) async fn decide(c: &Caller<'_>, new: NewApproval) -> Verdict {
    let (team, name) = (c.member.team_id.clone(), c.member.name.clone());
    let store = &c.inner.store;
    let asked = {
        let (team, name) = (team.clone(), name.clone());
        db(store, move |s| s.ask_approval(&team, &name, &new)).await
    };
    let approval = match asked {
        Ok(a) => a,
        Err(e) => return Verdict::Failed(format!("cannot ask a human for approval: {e}")),
    };
    let decided = if approval.status == ApprovalStatus::Pending {
        let id = approval.id;
        tracing::info!(member = %name, approval = id, tool = %approval.tool, "parked for approval");
        let waited = without_slot(c, async {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(DECISION_POLL) => {}
                    () = c.cancel.cancelled() => return Err(ToolFailure::new(FailureKind::Cancelled, "cancelled while waiting for approval")),
                }
                match db(store, move |s| s.approval(id)).await {
                    Ok(a) if a.status.is_terminal() => return Ok(a),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(approval = id, "cannot read the approval: {e}"),
                }
            }
        })
        .await;
        let (t, n) = (team.clone(), name.clone());
        if let Err(e) = db(store, move |s| s.member_step(&t, &n, MemberEvent::Continue)).await {
            // Another parallel call of this member continued it first, or it ended: the
            // cancel token says which.
            tracing::debug!(member = %name, "no move back to running after approval: {e}");
        }
        match waited {
            Ok(a) => a,
            Err(e) => return Verdict::Failed(e.message),
        }
    } else {
        approval
    };
    match decided.status {
        ApprovalStatus::Approved => Verdict::Approved(decided.id),
        _ => Verdict::Denied(
            decided.id,
            decided
                .reason
                .unwrap_or_else(|| "no reason given".to_owned()),
        ),
    }
}
