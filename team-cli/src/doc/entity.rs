//! The documents of the entities (`Team`, `Member`, `Task`, `Message`, `Event`, memory),
//! mirrored from `team-core` with the CLI's names (`prompt_tokens`, `completion_tokens`).

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use team_core::{Event, Member, MemoryEntry, Message, Task, Team};

use super::{any_value, member_status, message_kind, role, task_status, team_status};

/// A team.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Team")]
pub struct TeamDoc {
    /// Short random id (`k3v9x2`).
    pub id: String,
    /// Unique among active teams.
    pub name: String,
    /// `active`, or a terminal state.
    #[schemars(schema_with = "team_status")]
    pub status: team_core::TeamStatus,
    /// The agent the lead runs as.
    pub lead_agent: String,
    /// The workflow that created it (`team run`), if any.
    pub workflow: Option<String>,
    /// The project directory (holding `.team/`).
    pub project_root: String,
    /// The runner that owns it, if any.
    pub runner_id: Option<String>,
    /// The process that created it in the foreground (`team run`, `team create --prompt`).
    pub owner_pid: Option<i64>,
    /// The host of `owner_pid`.
    pub owner_host: Option<String>,
    /// Created, in ms since the epoch.
    pub created_at_ms: i64,
    /// Last changed, in ms since the epoch.
    pub updated_at_ms: i64,
    /// Ended (a terminal state), in ms since the epoch.
    pub ended_at_ms: Option<i64>,
    /// Why it ended.
    pub reason: Option<String>,
}

impl From<Team> for TeamDoc {
    fn from(t: Team) -> Self {
        Self {
            id: t.id,
            name: t.name,
            status: t.status,
            lead_agent: t.lead_agent,
            workflow: t.workflow,
            project_root: t.project_root,
            runner_id: t.runner_id,
            owner_pid: t.owner_pid,
            owner_host: t.owner_host,
            created_at_ms: t.created_at_ms,
            updated_at_ms: t.updated_at_ms,
            ended_at_ms: t.ended_at_ms,
            reason: t.reason,
        }
    }
}

/// A member of a team.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Member")]
pub struct MemberDoc {
    /// Database id.
    pub id: i64,
    /// Its team's id.
    pub team_id: String,
    /// Disambiguated name (`reviewer`, `reviewer-2`; the lead is `lead`).
    pub name: String,
    /// The agent it runs as.
    pub agent: String,
    /// `lead` or `member`.
    #[schemars(schema_with = "role")]
    pub role: team_core::Role,
    /// Lifecycle state.
    #[schemars(schema_with = "member_status")]
    pub status: team_core::MemberStatus,
    /// The prompt of its first turn.
    pub prompt: Option<String>,
    /// Goes idle after a turn instead of completing.
    pub persistent: bool,
    /// Hard timeout in seconds, if any.
    pub timeout_secs: Option<i64>,
    /// The runner that holds it, if any.
    pub runner_id: Option<String>,
    /// Its process (command agents).
    pub pid: Option<i64>,
    /// Added, in ms since the epoch.
    pub created_at_ms: i64,
    /// First started, in ms since the epoch.
    pub started_at_ms: Option<i64>,
    /// Last changed, in ms since the epoch.
    pub updated_at_ms: i64,
    /// Ended, in ms since the epoch.
    pub ended_at_ms: Option<i64>,
    /// Its result, once completed.
    pub result: Option<String>,
    /// Its error, once failed, cancelled or timed out.
    pub error: Option<String>,
    /// Turns taken.
    pub turns: i64,
    /// Prompt (input) tokens used (LLM agents).
    pub prompt_tokens: i64,
    /// Completion (output) tokens used (LLM agents).
    pub completion_tokens: i64,
    /// Time spent `running`, in ms.
    pub busy_ms: i64,
    /// Its attempt, counting from 1 (a retry or a resume starts the next; `team show`
    /// prints `attempt 2 of 3`).
    pub attempt: i64,
    /// Attempts it may take in all: its agent's `retries` + 1, fixed when it was spawned.
    pub max_attempts: i64,
    /// The host of the runner that holds it (a `running` or `idle` member; `team show`
    /// fills it in), else `null`.
    pub host: Option<String>,
}

impl From<Member> for MemberDoc {
    fn from(m: Member) -> Self {
        Self {
            id: m.id,
            team_id: m.team_id,
            name: m.name,
            agent: m.agent,
            role: m.role,
            status: m.status,
            prompt: m.prompt,
            persistent: m.persistent,
            timeout_secs: m.timeout_secs,
            runner_id: m.runner_id,
            pid: m.pid,
            created_at_ms: m.created_at_ms,
            started_at_ms: m.started_at_ms,
            updated_at_ms: m.updated_at_ms,
            ended_at_ms: m.ended_at_ms,
            result: m.result,
            error: m.error,
            turns: m.turns,
            prompt_tokens: m.tokens_in,
            completion_tokens: m.tokens_out,
            busy_ms: m.busy_ms,
            attempt: m.attempt,
            max_attempts: m.max_attempts,
            host: None,
        }
    }
}

/// A task on a team's board.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Task")]
pub struct TaskDoc {
    /// Its team's id.
    pub team_id: String,
    /// Id, per team, from 1.
    pub id: i64,
    /// One line saying what to do.
    pub title: String,
    /// More detail.
    pub description: Option<String>,
    /// Lifecycle state.
    #[schemars(schema_with = "task_status")]
    pub status: team_core::TaskStatus,
    /// The member that claimed it, or that it is reserved for.
    pub assignee: Option<String>,
    /// Tasks that must be completed first.
    pub blocked_by: Vec<i64>,
    /// Its outcome text.
    pub result: Option<String>,
    /// Added, in ms since the epoch.
    pub created_at_ms: i64,
    /// Last changed, in ms since the epoch.
    pub updated_at_ms: i64,
}

impl From<Task> for TaskDoc {
    fn from(t: Task) -> Self {
        Self {
            team_id: t.team_id,
            id: t.id,
            title: t.title,
            description: t.description,
            status: t.status,
            assignee: t.assignee,
            blocked_by: t.blocked_by,
            result: t.result,
            created_at_ms: t.created_at_ms,
            updated_at_ms: t.updated_at_ms,
        }
    }
}

/// A message delivered (or to be delivered) to one member.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Message")]
pub struct MessageDoc {
    /// Id of this delivery.
    pub id: i64,
    /// Its team's id.
    pub team_id: String,
    /// The sending member.
    pub sender: String,
    /// The receiving member.
    pub recipient: String,
    /// `text`, or a notice the system sent.
    #[schemars(schema_with = "message_kind")]
    pub kind: team_core::MessageKind,
    /// The text.
    pub body: String,
    /// Sent to every live member.
    pub broadcast: bool,
    /// Sent, in ms since the epoch.
    pub created_at_ms: i64,
    /// Taken by its recipient, in ms since the epoch (null until acknowledged).
    pub delivered_at_ms: Option<i64>,
}

impl From<Message> for MessageDoc {
    fn from(m: Message) -> Self {
        Self {
            id: m.id,
            team_id: m.team_id,
            sender: m.sender,
            recipient: m.recipient,
            kind: m.kind,
            body: m.body,
            broadcast: m.broadcast,
            created_at_ms: m.created_at_ms,
            delivered_at_ms: m.delivered_at_ms,
        }
    }
}

/// One entry of a team's event log.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Event")]
pub struct EventDoc {
    /// Id, increasing.
    pub id: i64,
    /// Its team's id.
    pub team_id: Option<String>,
    /// The member it concerns.
    pub member: Option<String>,
    /// `team.created`, `member.added`, `task.claimed`, `provider.call`, …
    pub kind: String,
    /// The event's fields (an object; `provider.call` has `prompt_tokens` and
    /// `completion_tokens`).
    #[schemars(schema_with = "any_value")]
    pub payload: Value,
    /// When, in ms since the epoch.
    pub created_at_ms: i64,
}

impl From<Event> for EventDoc {
    fn from(e: Event) -> Self {
        Self {
            id: e.id,
            team_id: e.team_id,
            member: e.member,
            kind: e.kind,
            payload: e.payload,
            created_at_ms: e.created_at_ms,
        }
    }
}

/// An agent's memory in one project.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "MemoryEntry")]
pub struct MemoryEntryDoc {
    /// The agent.
    pub agent: String,
    /// The project root.
    pub project_root: String,
    /// The text.
    pub content: String,
    /// Last written, in ms since the epoch.
    pub updated_at_ms: i64,
}

impl From<MemoryEntry> for MemoryEntryDoc {
    fn from(e: MemoryEntry) -> Self {
        Self {
            agent: e.agent,
            project_root: e.project_root,
            content: e.content,
            updated_at_ms: e.updated_at_ms,
        }
    }
}

/// Token counts.
#[derive(Debug, Default, Serialize, JsonSchema)]
#[schemars(rename = "Tokens")]
pub struct TokensDoc {
    /// Prompt (input) tokens.
    pub prompt_tokens: i64,
    /// Completion (output) tokens.
    pub completion_tokens: i64,
}

impl TokensDoc {
    /// The sum over `members`.
    pub fn of(members: &[Member]) -> Self {
        members.iter().fold(Self::default(), |t, m| Self {
            prompt_tokens: t.prompt_tokens + m.tokens_in,
            completion_tokens: t.completion_tokens + m.tokens_out,
        })
    }
}

/// Converts a list of library values into their documents.
pub fn docs<T, D: From<T>>(items: Vec<T>) -> Vec<D> {
    items.into_iter().map(D::from).collect()
}

/// What a team spent in money, from its `provider.call` events and the `[prices]` of the
/// configuration (US dollars per million tokens).
#[derive(Debug, Default, Serialize, JsonSchema)]
#[schemars(rename = "Spend")]
pub struct SpendDoc {
    /// Per member that called a model, in the order of the members.
    pub members: Vec<MemberSpendDoc>,
    /// The sum over the members, in US dollars (of the priced calls).
    pub total_usd: f64,
    /// `provider/model` names called by the team that `[prices]` does not price (their
    /// calls count for nothing in the sums).
    pub unpriced_models: Vec<String>,
}

/// One member's spend.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "MemberSpend")]
pub struct MemberSpendDoc {
    /// The member's name.
    pub member: String,
    /// Its priced calls' cost, in US dollars.
    pub usd: f64,
}
