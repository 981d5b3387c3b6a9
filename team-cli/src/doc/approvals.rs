//! The documents of approval requests (`team approvals`, `team approve`, `team deny`, and the
//! pending requests `team run --on-ask park` prints when it stops for input).

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;
use team_core::Approval;

use super::wire_names;

fn approval_status(_: &mut SchemaGenerator) -> Schema {
    wire_names(team_core::ApprovalStatus::ALL.iter().map(|s| s.as_str()))
}

fn approval_kind(_: &mut SchemaGenerator) -> Schema {
    wire_names(team_core::ApprovalKind::ALL.iter().map(|s| s.as_str()))
}

/// A request for a human's decision: a member's tool call that needs approval, or its plan.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Approval")]
pub struct ApprovalDoc {
    /// The id to pass to `team approve` / `team deny`.
    pub id: i64,
    /// Its team's id.
    pub team_id: String,
    /// The member that waits for it.
    pub member: String,
    /// `tool` (a tool call) or `plan` (a `plan: required` agent's plan).
    #[schemars(schema_with = "approval_kind")]
    pub kind: team_core::ApprovalKind,
    /// The tool (`bash`, `write_file`); `plan` for a plan.
    pub tool: String,
    /// The call's arguments as the model sent them (a JSON text), or the plan's text.
    pub arguments: String,
    /// One line saying what the call does (the bash command, the file and its size).
    pub summary: String,
    /// Why it needs approval (the permission rule that asked).
    pub why: String,
    /// `pending`, `approved` or `denied`.
    #[schemars(schema_with = "approval_status")]
    pub status: team_core::ApprovalStatus,
    /// Who decided (`user` from the command line); null while pending.
    pub decided_by: Option<String>,
    /// A denial's reason (the model reads it as the tool's error); null otherwise.
    pub reason: Option<String>,
    /// Approved with `--always`: every later call of the tool in the team is allowed.
    pub always: bool,
    /// Asked, in ms since the epoch.
    pub created_at_ms: i64,
    /// Decided, in ms since the epoch; null while pending.
    pub decided_at_ms: Option<i64>,
}

impl From<Approval> for ApprovalDoc {
    fn from(a: Approval) -> Self {
        Self {
            id: a.id,
            team_id: a.team_id,
            member: a.member,
            kind: a.kind,
            tool: a.tool,
            arguments: a.arguments,
            summary: a.summary,
            why: a.why,
            status: a.status,
            decided_by: a.decided_by,
            reason: a.reason,
            always: a.always,
            created_at_ms: a.created_at_ms,
            decided_at_ms: a.decided_at_ms,
        }
    }
}
