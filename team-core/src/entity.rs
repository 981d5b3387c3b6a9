//! The entities a team is made of, as the store returns them and `--json` prints them.
//!
//! Times are integers in milliseconds since the Unix epoch (UTC), in fields ending in `_at_ms`,
//! so both database backends store them the same way and scripts need no date parser.

use serde::{Deserialize, Serialize};

use crate::lifecycle::{ApprovalStatus, MemberStatus, TaskStatus, TeamStatus, wire_enum};

wire_enum!(
    /// A member's role in its team.
    Role, "role" {
        /// The team's lead: receives every completion and failure notice. Always named `lead`.
        Lead => "lead",
        /// Any other member.
        Member => "member",
    }
);

wire_enum!(
    /// What a message is.
    MessageKind, "message kind" {
        /// Written by a member or a person (`team send`, the `send_message` tool).
        Text => "text",
        /// A member's turn output, sent to the lead.
        Result => "result",
        /// `[AGENT COMPLETED] name: result`, sent to the lead when a member completes.
        Completion => "completion",
        /// `[AGENT FAILURE] name: error`, sent to the lead when a member fails.
        Failure => "failure",
        /// Written by `team` itself: disband, reconciliation, summaries.
        System => "system",
    }
);

/// A team: a lead and its members, a task board and an inbox per member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    /// Stable id, 8 lowercase letters and digits (`k3v9x2ab`); commands accept it or the name.
    pub id: String,
    /// Unique among active teams.
    pub name: String,
    /// Lifecycle state.
    pub status: TeamStatus,
    /// The agent the lead runs as (`lead` when the lead is a person or a script).
    pub lead_agent: String,
    /// The workflow that created the team (`spec-review`), if any.
    pub workflow: Option<String>,
    /// The project root whose `.team/` holds this database (agents and memory are per project).
    pub project_root: String,
    /// The runner that serves the team's members, if one has claimed any.
    pub runner_id: Option<String>,
    /// Pid of the foreground process that owns the team (`team run`, `team spawn` without
    /// `--background`); reconciliation fails the team when that process is gone.
    pub owner_pid: Option<i64>,
    /// Host name of the owning process.
    pub owner_host: Option<String>,
    /// Creation time, ms since the epoch.
    pub created_at_ms: i64,
    /// Last state change, ms since the epoch.
    pub updated_at_ms: i64,
    /// When the team reached a terminal state, ms since the epoch.
    pub ended_at_ms: Option<i64>,
    /// Why the team ended (`disbanded by user`, `runner lost`), if it did.
    pub reason: Option<String>,
}

/// A member: one instance of an agent in a team, with its own name, inbox and lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Stable numeric id, increasing in creation order: also the member's FIFO position in the
    /// queue of pending members (lower starts first).
    pub id: i64,
    /// The team's id.
    pub team_id: String,
    /// Unique in the team: `lead` for the lead, else the agent's name disambiguated
    /// (`reviewer`, `reviewer-2`).
    pub name: String,
    /// The agent definition it runs.
    pub agent: String,
    /// Lead or member.
    pub role: Role,
    /// Lifecycle state.
    pub status: MemberStatus,
    /// The prompt of its first turn, when it is run by a runner.
    pub prompt: Option<String>,
    /// Persistent members go `idle` after a turn and wait for messages.
    pub persistent: bool,
    /// Hard timeout of the member in seconds, if any.
    pub timeout_secs: Option<i64>,
    /// The runner that claimed it, if any.
    pub runner_id: Option<String>,
    /// Pid of its current process (command agents), if running.
    pub pid: Option<i64>,
    /// Creation time, ms since the epoch.
    pub created_at_ms: i64,
    /// When it first started running, ms since the epoch.
    pub started_at_ms: Option<i64>,
    /// Last state change, ms since the epoch.
    pub updated_at_ms: i64,
    /// When it reached a terminal state, ms since the epoch.
    pub ended_at_ms: Option<i64>,
    /// Its result (last turn's output), once completed.
    pub result: Option<String>,
    /// Its error, once failed, cancelled or timed out.
    pub error: Option<String>,
    /// Turns taken so far.
    pub turns: i64,
    /// Prompt tokens used so far (LLM agents).
    pub tokens_in: i64,
    /// Completion tokens used so far (LLM agents).
    pub tokens_out: i64,
    /// Time spent `running`, in ms (used for the parallel speedup figure).
    pub busy_ms: i64,
    /// Its attempt, counting from 1: a retry ([`crate::retry`]) or a resume starts the next.
    pub attempt: i64,
    /// Attempts it may take in all (its agent's `retries` + 1, fixed at spawn).
    pub max_attempts: i64,
}

impl Member {
    /// Wall time the member has existed for: from creation to its end, or to `now_ms`.
    pub fn elapsed_ms(&self, now_ms: i64) -> i64 {
        self.ended_at_ms.unwrap_or(now_ms) - self.created_at_ms
    }
}

/// A task on a team's board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// The team's id.
    pub team_id: String,
    /// Short numeric id, unique in the team, counting from 1.
    pub id: i64,
    /// One line saying what to do.
    pub title: String,
    /// More detail, if any.
    pub description: Option<String>,
    /// Lifecycle state.
    pub status: TaskStatus,
    /// The member working on it (set by a claim, or up front with `--assignee`).
    pub assignee: Option<String>,
    /// Ids of tasks that must be `completed` before this one can be claimed.
    pub blocked_by: Vec<i64>,
    /// The outcome text given when it was completed or failed.
    pub result: Option<String>,
    /// Creation time, ms since the epoch.
    pub created_at_ms: i64,
    /// Last state change, ms since the epoch.
    pub updated_at_ms: i64,
}

/// One delivery of a message: a broadcast is stored as one row per recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Increasing id (delivery order within an inbox).
    pub id: i64,
    /// The team's id.
    pub team_id: String,
    /// The sending member's name (`lead` for the lead, `team` for system messages).
    pub sender: String,
    /// The receiving member's name.
    pub recipient: String,
    /// What the message is.
    pub kind: MessageKind,
    /// The text.
    pub body: String,
    /// True when this delivery is part of a broadcast (`--all`).
    pub broadcast: bool,
    /// When it was sent, ms since the epoch.
    pub created_at_ms: i64,
    /// When its recipient took it from the inbox, ms since the epoch; `None` while unread.
    pub delivered_at_ms: Option<i64>,
}

/// An agent's memory in one project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryEntry {
    /// The agent's name.
    pub agent: String,
    /// The project root it belongs to.
    pub project_root: String,
    /// The text (at most [`crate::memory::MEMORY_CAP_BYTES`] bytes).
    pub content: String,
    /// Last write, ms since the epoch.
    pub updated_at_ms: i64,
}

/// One entry of the append-only event log (`team logs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Increasing id.
    pub id: i64,
    /// The team it concerns, if any.
    pub team_id: Option<String>,
    /// The member it concerns (or who acted), if any.
    pub member: Option<String>,
    /// What happened, dotted (`member.completed`, `task.claimed`, `message.sent`).
    pub kind: String,
    /// Details as a JSON object.
    pub payload: serde_json::Value,
    /// When, ms since the epoch.
    pub created_at_ms: i64,
}

wire_enum!(
    /// What an approval request asks for.
    ApprovalKind, "approval kind" {
        /// One tool call that its agent's `permission` setting says to `ask` about, in a run
        /// with `--on-ask park`.
        Tool => "tool",
        /// The plan of an agent with `plan: required`: approving it unlocks its write tools.
        Plan => "plan",
    }
);

/// A request for a human's decision (a row of `approvals`): a member's tool call that needs
/// approval, or its plan. The row is the truth: a member that parks on it, a runner that died
/// meanwhile and `team resume` all read the decision from here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Increasing id, unique across teams (`team approve ID`).
    pub id: i64,
    /// The team's id.
    pub team_id: String,
    /// The member that asked.
    pub member: String,
    /// A tool call or a plan.
    pub kind: ApprovalKind,
    /// The tool (`bash`, `write_file`); `plan` for a plan.
    pub tool: String,
    /// The call's arguments as the model sent them (a JSON text); for a plan, the plan's text.
    pub arguments: String,
    /// A one-line summary of the call (the bash command, `src/main.rs (1234 bytes)`).
    pub summary: String,
    /// Why it needs approval (the rule that said `ask`).
    pub why: String,
    /// Lifecycle state.
    pub status: ApprovalStatus,
    /// Who decided (`user` from the CLI), once decided.
    pub decided_by: Option<String>,
    /// A denial's reason (sent to the model as the tool error), once denied.
    pub reason: Option<String>,
    /// An approval with `--always`: every later call of the tool in the team is allowed.
    pub always: bool,
    /// When it was asked, ms since the epoch.
    pub created_at_ms: i64,
    /// When it was decided, ms since the epoch.
    pub decided_at_ms: Option<i64>,
}
