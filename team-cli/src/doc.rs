//! The `--json` documents: one `Serialize` + `JsonSchema` struct per document a command prints,
//! so the shape is written once, here, and its JSON Schema is generated from it into
//! `docs/schemas/<command>.json` (`schemas()`, and the test that keeps the files current:
//! `TEAM_BLESS=1 cargo test -p team-cli committed_schemas_are_current` rewrites them).
//!
//! The library types (`Team`, `Member`, …) are mirrored rather than printed as they are: the
//! CLI's JSON is a published contract and changes only here. Names follow one rule across the
//! documents: times in ms since the epoch end in `_at_ms`, durations in ms in `_ms`, durations
//! in seconds in `_secs`; token counts are `prompt_tokens` and `completion_tokens` (the names
//! of the `provider.call` events); `team` is always a [`TeamDoc`] object.

use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;
use serde_json::Value;
use team_core::{Event, Member, MemoryEntry, Message, Task, Team};

/// A schema `{"type": "string", "enum": [...]}` of wire names.
fn wire_names(names: impl Iterator<Item = &'static str>) -> Schema {
    let names: Vec<&str> = names.collect();
    json_schema!({"type": "string", "enum": names})
}

fn team_status(_: &mut SchemaGenerator) -> Schema {
    wire_names(team_core::TeamStatus::ALL.iter().map(|s| s.as_str()))
}

fn member_status(_: &mut SchemaGenerator) -> Schema {
    wire_names(team_core::MemberStatus::ALL.iter().map(|s| s.as_str()))
}

fn task_status(_: &mut SchemaGenerator) -> Schema {
    wire_names(team_core::TaskStatus::ALL.iter().map(|s| s.as_str()))
}

fn role(_: &mut SchemaGenerator) -> Schema {
    wire_names(team_core::Role::ALL.iter().map(|s| s.as_str()))
}

fn message_kind(_: &mut SchemaGenerator) -> Schema {
    wire_names(team_core::MessageKind::ALL.iter().map(|s| s.as_str()))
}

fn any_value(_: &mut SchemaGenerator) -> Schema {
    json_schema!(true)
}

/// `[task id, its new status]` pairs.
fn tasks_changed(g: &mut SchemaGenerator) -> Schema {
    let status = task_status(g);
    json_schema!({
        "type": "array",
        "items": {
            "type": "array",
            "prefixItems": [{"type": "integer"}, status],
            "minItems": 2,
            "maxItems": 2
        }
    })
}

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

// --- documents of commands

/// `team init --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Init")]
pub struct InitDoc {
    /// The directory holding `.team/`.
    pub project_root: String,
    /// The database (a SQLite path or a PostgreSQL URL without password).
    pub database: String,
    /// What was created (paths relative to `project_root`); empty when all was there.
    pub created: Vec<String>,
}

/// `team create --json` (without `--prompt`).
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Create")]
pub struct CreateDoc {
    /// The new team.
    pub team: TeamDoc,
    /// Its lead.
    pub lead: MemberDoc,
}

/// One team of `team list --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "TeamSummary")]
pub struct TeamSummaryDoc {
    /// The team.
    #[serde(flatten)]
    pub team: TeamDoc,
    /// Members not in a terminal state.
    pub members_live: i64,
    /// All members.
    pub members_total: i64,
    /// Tasks `pending` or `in_progress`.
    pub tasks_open: i64,
    /// All tasks.
    pub tasks_total: i64,
}

impl From<team_store::TeamSummary> for TeamSummaryDoc {
    fn from(s: team_store::TeamSummary) -> Self {
        Self {
            team: s.team.into(),
            members_live: s.members_live,
            members_total: s.members_total,
            tasks_open: s.tasks_open,
            tasks_total: s.tasks_total,
        }
    }
}

/// `team show --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Show")]
pub struct ShowDoc {
    /// The team.
    pub team: TeamDoc,
    /// Its members, lead first.
    pub members: Vec<MemberDoc>,
    /// Its tasks.
    pub tasks: Vec<TaskDoc>,
    /// Tokens used by all its members.
    pub tokens: TokensDoc,
}

/// `team disband --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Disband")]
pub struct DisbandDoc {
    /// The team, now `disbanded`.
    pub team: TeamDoc,
    /// Names of the members cancelled.
    pub cancelled_members: Vec<String>,
    /// Ids of the tasks cancelled.
    pub cancelled_tasks: Vec<i64>,
}

impl From<team_store::Disbanded> for DisbandDoc {
    fn from(d: team_store::Disbanded) -> Self {
        Self {
            team: d.team.into(),
            cancelled_members: d.cancelled_members,
            cancelled_tasks: d.cancelled_tasks,
        }
    }
}

/// `team member done|fail --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "MemberEnd")]
pub struct MemberEndDoc {
    /// The member, now terminal.
    pub member: MemberDoc,
    /// `[task id, new status]` of the tasks its end changed.
    #[schemars(schema_with = "tasks_changed")]
    pub tasks_changed: Vec<(i64, team_core::TaskStatus)>,
    /// Every member of the team (but the lead) has ended.
    pub all_done: bool,
}

impl From<team_store::Finished> for MemberEndDoc {
    fn from(f: team_store::Finished) -> Self {
        Self {
            member: f.member.into(),
            tasks_changed: f.tasks_changed,
            all_done: f.all_done,
        }
    }
}

/// `team memory set|append --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "MemoryWrite")]
pub struct MemoryWriteDoc {
    /// The memory as written.
    pub entry: MemoryEntryDoc,
    /// Oldest bytes cut to stay under the cap.
    pub cut_bytes: usize,
}

impl From<team_store::MemoryWrite> for MemoryWriteDoc {
    fn from(w: team_store::MemoryWrite) -> Self {
        Self {
            entry: w.entry.into(),
            cut_bytes: w.cut_bytes,
        }
    }
}

/// `team memory clear --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "MemoryClear")]
pub struct MemoryClearDoc {
    /// The agent.
    pub agent: String,
    /// It had a memory, now deleted.
    pub cleared: bool,
}

/// `team runner --detach --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "RunnerStarted")]
pub struct RunnerStartedDoc {
    /// The runner's process id.
    pub pid: u32,
}

/// `team reconcile --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Reconcile")]
pub struct ReconcileDoc {
    /// Runner ids found lost.
    pub runners_lost: Vec<String>,
    /// Members failed as `runner lost` (`team/member`).
    pub members_failed: Vec<String>,
    /// Teams failed because their foreground owner is gone.
    pub teams_failed: Vec<String>,
}

impl From<team_runner::reconcile::ReconcileReport> for ReconcileDoc {
    fn from(r: team_runner::reconcile::ReconcileReport) -> Self {
        Self {
            runners_lost: r.runners_lost,
            members_failed: r.members_failed,
            teams_failed: r.teams_failed,
        }
    }
}

/// One member of `team wait --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "WaitMember")]
pub struct WaitMemberDoc {
    /// Member name.
    pub name: String,
    /// Its agent.
    pub agent: String,
    /// Its (terminal) state.
    #[schemars(schema_with = "member_status")]
    pub status: team_core::MemberStatus,
    /// Its result.
    pub result: Option<String>,
    /// Its error.
    pub error: Option<String>,
    /// From its creation to its end, in ms.
    pub elapsed_ms: i64,
}

/// `team wait --json` (exit 0 when `all_completed`, else 1).
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Wait")]
pub struct WaitDoc {
    /// The team.
    pub team: TeamDoc,
    /// Every member waited for completed.
    pub all_completed: bool,
    /// The members waited for.
    pub members: Vec<WaitMemberDoc>,
}

/// One line of `team watch --json` (JSON Lines: one object per change, the team's line last
/// once it is terminal).
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "WatchChange")]
pub struct WatchChangeDoc {
    /// When the change was seen, in ms since the epoch.
    pub at_ms: i64,
    /// `team` (its state or task counts changed) or `member` (a member's state or turn count
    /// changed).
    #[schemars(schema_with = "watch_change")]
    pub change: &'static str,
    /// The team.
    pub team: TeamDoc,
    /// Task counts by state (`pending`, `in_progress`, `completed`, `failed`, `cancelled`).
    pub tasks: BTreeMap<String, usize>,
    /// The member that changed (`change` = `member`).
    pub member: Option<MemberDoc>,
}

fn watch_change(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "enum": ["team", "member"]})
}

/// `team run --detach --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "RunDetached")]
pub struct RunDetachedDoc {
    /// The run's team.
    pub team: TeamDoc,
    /// The background process.
    pub pid: u32,
}

/// A workflow run's report (`team run --json`, `--format json`): the schema is
/// `docs/report.schema.json`, written by hand next to the runner's `Report`.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct ReportDoc(pub Value);

/// The report's schema, from `docs/report.schema.json`.
const REPORT_SCHEMA: &str = include_str!("../../docs/report.schema.json");

impl JsonSchema for ReportDoc {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Report".into()
    }

    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let mut v: serde_json::Map<String, Value> =
            serde_json::from_str(REPORT_SCHEMA).unwrap_or_default();
        // Its `$defs` join the document's, where its `#/$defs/…` references point.
        if let Some(Value::Object(defs)) = v.remove("$defs") {
            g.definitions_mut().extend(defs);
        }
        v.remove("$schema");
        v.remove("$id");
        Schema::from(v)
    }
}

/// One member of `team report --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "ReportMember")]
pub struct ReportMemberDoc {
    /// Member name.
    pub name: String,
    /// Its agent.
    pub agent: String,
    /// `lead` or `member`.
    #[schemars(schema_with = "role")]
    pub role: team_core::Role,
    /// Its state.
    #[schemars(schema_with = "member_status")]
    pub status: team_core::MemberStatus,
    /// Its error.
    pub error: Option<String>,
    /// Turns taken.
    pub turns: i64,
    /// Tokens used.
    pub tokens: TokensDoc,
    /// Time spent running, in ms.
    pub busy_ms: i64,
    /// From its creation to its end, in ms.
    pub elapsed_ms: i64,
}

/// `team report --json`: the run's manifest.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "ReportManifest")]
pub struct ReportManifestDoc {
    /// The run's team.
    pub team: TeamDoc,
    /// From the team's creation to its end (or now), in ms.
    pub wall_ms: i64,
    /// Tokens used by all members.
    pub tokens: TokensDoc,
    /// Every member.
    pub members: Vec<ReportMemberDoc>,
    /// The report.
    pub report: ReportDoc,
}

/// One workflow of `team workflows list --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Workflow")]
pub struct WorkflowDoc {
    /// Its name.
    pub name: String,
    /// One line.
    pub description: String,
    /// `review`, `fanout` or `self-review`.
    pub kind: String,
    /// Its lead agent.
    pub lead: String,
    /// Its inputs, in order: name → description.
    pub inputs: BTreeMap<String, String>,
    /// Its parameters and their defaults.
    pub params: BTreeMap<String, String>,
    /// `bundled` or `project`.
    pub source: String,
    /// Its file (bundled: a name).
    pub path: String,
}

/// `team workflows show NAME --json`: the definition.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "WorkflowDef")]
pub struct WorkflowDefDoc {
    /// Its name.
    pub name: String,
    /// One line.
    pub description: String,
    /// `review`, `fanout` or `self-review`.
    pub kind: String,
    /// Its lead agent.
    pub lead: String,
    /// Its inputs, in order: name → description.
    pub inputs: BTreeMap<String, String>,
    /// Its parameters and their defaults.
    pub params: BTreeMap<String, String>,
    /// Its prompts by phase.
    pub prompts: BTreeMap<String, String>,
    /// Fan-out depth bound, when it sets one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_depth: Option<u32>,
    /// Members per team bound, when it sets one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_members_per_team: Option<u32>,
}

impl From<team_runner::workflow::WorkflowDef> for WorkflowDefDoc {
    fn from(d: team_runner::workflow::WorkflowDef) -> Self {
        Self {
            name: d.name,
            description: d.description,
            kind: d.kind,
            lead: d.lead,
            inputs: d.inputs,
            params: d.params,
            prompts: d.prompts,
            max_depth: d.max_depth,
            max_members_per_team: d.max_members_per_team,
        }
    }
}

/// A tool an agent asks for that `team` cannot provide.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "ToolProblem")]
pub struct ToolProblemDoc {
    /// The tool.
    pub tool: String,
    /// Why.
    pub reason: String,
}

/// The model an agent resolves to, or why it does not.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "Model")]
pub enum ModelDoc {
    /// Resolved.
    Resolved {
        /// `provider/model`.
        model: String,
        /// The provider part.
        provider: Option<String>,
        /// The rule that chose it: `run`, `agent`, `alias`, `lead` or `default`.
        rule: String,
        /// The rule, said.
        rule_text: String,
    },
    /// Not resolved.
    Error {
        /// Why.
        error: String,
    },
}

/// One permission rule of an agent.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "PermissionRule")]
pub enum PermissionRuleDoc {
    /// One action for every call of the tool.
    Always {
        /// The tool.
        tool: String,
        /// `allow`, `ask` or `deny`.
        action: String,
    },
    /// An action per pattern of the call (first match wins).
    Patterns {
        /// The tool.
        tool: String,
        /// The patterns, in order.
        patterns: Vec<PatternDoc>,
    },
}

/// A pattern and its action.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Pattern")]
pub struct PatternDoc {
    /// The pattern (`git *`).
    pub pattern: String,
    /// `allow`, `ask` or `deny`.
    pub action: String,
}

/// An agent's permissions.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Permissions")]
pub struct PermissionsDoc {
    /// The action for tools no rule names.
    pub default: Option<String>,
    /// The rules.
    pub rules: Vec<PermissionRuleDoc>,
}

/// `team agents show --json`, and each agent of `team agents list --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Agent")]
pub struct AgentDoc {
    /// Its name.
    pub name: String,
    /// One line.
    pub description: Option<String>,
    /// `llm` or `command`.
    pub kind: String,
    /// What it runs (a model, or a command line).
    pub runs: String,
    /// The model it resolves to (null for a command agent).
    pub model: Option<ModelDoc>,
    /// Its `model:` field as written.
    pub model_field: Option<String>,
    /// Its command line (command agents).
    pub command: Option<Vec<String>>,
    /// The tools offered (LLM agents).
    pub tools: Option<Vec<String>>,
    /// Tools it asks for that `team` cannot provide.
    pub unavailable_tools: Vec<ToolProblemDoc>,
    /// Its permissions (null: the defaults).
    pub permissions: Option<PermissionsDoc>,
    /// `none`, `local`, …
    pub memory: String,
    /// Most turns per run.
    pub max_turns: Option<u32>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Hard timeout in seconds.
    pub timeout_secs: Option<u64>,
    /// Names of the variables it sets.
    pub env: Vec<String>,
    /// Variables passed through from the runner's environment.
    pub env_passthrough: Vec<String>,
    /// Where it was found: `team`, `opencode`, `claude` or `builtin`.
    pub source: String,
    /// Its file, relative to the project root.
    pub path: String,
    /// Warnings about its file.
    pub warnings: Vec<String>,
    /// Its instructions (system prompt).
    pub instructions: String,
}

/// An agent file that does not load.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "BrokenAgent")]
pub struct BrokenAgentDoc {
    /// The agent's name, when known.
    pub name: Option<String>,
    /// The file, relative to the project root.
    pub path: String,
    /// `team`, `opencode`, `claude` or `builtin`.
    pub source: String,
    /// The line of the error, when known.
    pub line: Option<u64>,
    /// What is wrong.
    pub error: String,
}

/// An agent hidden by another of the same name.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "ShadowedAgent")]
pub struct ShadowedAgentDoc {
    /// The hidden agent.
    pub agent: AgentDoc,
    /// The file of the agent that hides it.
    pub shadowed_by: String,
}

/// `team agents list --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "AgentsList")]
pub struct AgentsListDoc {
    /// The agents this project can run.
    pub agents: Vec<AgentDoc>,
    /// Agents hidden by others of the same name.
    pub shadowed: Vec<ShadowedAgentDoc>,
    /// Agent files that do not load.
    pub broken: Vec<BrokenAgentDoc>,
}

/// One file of `team agents check --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "AgentCheck")]
pub struct AgentCheckDoc {
    /// The agent.
    pub name: String,
    /// Its file.
    pub path: String,
    /// Warnings.
    pub warnings: Vec<String>,
    /// Tools it asks for that `team` cannot provide.
    pub unavailable_tools: Vec<ToolProblemDoc>,
    /// Its model alias does not resolve.
    pub model_error: Option<String>,
}

/// `team agents check --json` (exit 2 unless `ok`).
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "AgentsCheck")]
pub struct AgentsCheckDoc {
    /// No broken file and no unresolved model.
    pub ok: bool,
    /// The agent files that load.
    pub agents: Vec<AgentCheckDoc>,
    /// The agent files that do not.
    pub broken: Vec<BrokenAgentDoc>,
}

/// A configuration file layer.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "ConfigFile")]
pub struct ConfigFileDoc {
    /// `user` or `project`.
    pub layer: String,
    /// Its path (null: no project here).
    pub path: Option<String>,
    /// It exists.
    pub found: bool,
}

/// One resolved configuration value.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "ConfigValue")]
pub struct ConfigValueDoc {
    /// Dotted key (`team.max_agents`).
    pub key: String,
    /// Its value.
    #[schemars(schema_with = "any_value")]
    pub value: Value,
    /// `default`, `user`, `project` or `environment`.
    pub source: String,
    /// The file or variable that set it (null for built-in defaults).
    pub origin: Option<String>,
}

/// `team config show --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "ConfigShow")]
pub struct ConfigShowDoc {
    /// The files looked for.
    pub files: Vec<ConfigFileDoc>,
    /// The values, by key.
    pub values: Vec<ConfigValueDoc>,
    /// Warnings from loading.
    pub warnings: Vec<String>,
}

/// The configuration part of `team doctor --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "DoctorConfig")]
pub struct DoctorConfigDoc {
    /// The files looked for.
    pub files: Vec<ConfigFileDoc>,
    /// The variables set that change the configuration or the run.
    pub environment: Vec<String>,
    /// Warnings from loading.
    pub warnings: Vec<String>,
    /// Why it does not load.
    pub error: Option<String>,
}

/// A provider in `team doctor --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "DoctorProvider")]
pub struct DoctorProviderDoc {
    /// Its name.
    pub name: String,
    /// `openai` or `anthropic`.
    pub kind: String,
    /// Its address.
    pub base_url: String,
    /// The address was set by the user (only those are probed).
    pub base_url_given: bool,
    /// The variable holding its key.
    pub api_key_env: Option<String>,
    /// That variable is set (null: no key needed).
    pub key_set: Option<bool>,
    /// The probe's outcome (`{"outcome": "ok" | "answered" | "key_refused" | "unreachable",
    /// …}`), null when not probed.
    #[schemars(schema_with = "any_object_or_null")]
    pub probe: Option<Value>,
}

fn any_object_or_null(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": ["object", "null"]})
}

/// The database part of `team doctor --json`.
#[derive(Debug, Default, Serialize, JsonSchema)]
#[schemars(rename = "DoctorDatabase")]
pub struct DoctorDatabaseDoc {
    /// Where (password removed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// It exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    /// `sqlite` or `postgres`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// The engine's version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Migrations applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migrations_applied: Option<Vec<String>>,
    /// Migrations this binary knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migrations_known: Option<usize>,
    /// Known, not applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migrations_pending: Option<Vec<String>>,
    /// Applied, not known (a newer binary wrote it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migrations_unknown: Option<Vec<String>>,
    /// Why it cannot be used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The agents part of `team doctor --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "DoctorAgents")]
pub struct DoctorAgentsDoc {
    /// Agents this project can run.
    pub count: usize,
    /// Of which from files.
    pub files: usize,
    /// Warnings in those files.
    pub warnings: usize,
    /// Broken files and unresolved models.
    pub errors: Vec<String>,
}

/// A runner in `team doctor --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "DoctorRunner")]
pub struct DoctorRunnerDoc {
    /// Its id.
    pub id: String,
    /// Its process.
    pub pid: i64,
    /// Its host.
    pub host: String,
    /// Members it runs at once.
    pub max_agents: i64,
    /// Started, in ms since the epoch.
    pub started_at_ms: i64,
    /// Last heartbeat, in ms since the epoch.
    pub heartbeat_at_ms: i64,
    /// Its process lives (same host) or its heartbeat is fresh.
    pub alive: bool,
}

/// One agent of the `spec_review` plan.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "PlanAgent")]
pub struct PlanAgentDoc {
    /// The agent.
    pub agent: String,
    /// `lead` or `specialist`.
    pub role: String,
    /// Its command line (command agents).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Its model (LLM agents).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The rule that chose the model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Why it cannot run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What `team run spec-review` would run now.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Plan")]
pub struct PlanDoc {
    /// `spec-review`.
    pub workflow: String,
    /// `bundled` or `project`.
    pub source: String,
    /// Its lead agent.
    pub lead: String,
    /// The lead and the specialists.
    pub agents: Vec<PlanAgentDoc>,
}

/// A problem `team doctor` found.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Problem")]
pub struct ProblemDoc {
    /// The section (`config`, `providers`, `database`, `agents`, `runners`,
    /// `team run spec-review`).
    pub section: String,
    /// What is wrong.
    pub message: String,
    /// The command (or edit) that fixes it.
    pub fix: String,
}

/// `team doctor --json` (exit 1 unless `ok`).
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Doctor")]
pub struct DoctorDoc {
    /// No problem found.
    pub ok: bool,
    /// Configuration files and variables.
    pub config: DoctorConfigDoc,
    /// Providers.
    pub providers: Vec<DoctorProviderDoc>,
    /// The database.
    pub database: DoctorDatabaseDoc,
    /// Agent files (null when the configuration does not load).
    pub agents: Option<DoctorAgentsDoc>,
    /// Runners.
    pub runners: Vec<DoctorRunnerDoc>,
    /// What `team run spec-review` would run now (null when it cannot be known).
    pub spec_review: Option<PlanDoc>,
    /// The problems, in order; the first one's `fix` is the next thing to do.
    pub problems: Vec<ProblemDoc>,
}

/// The `error` object of an [`ErrorDoc`].
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "ErrorBody")]
pub struct ErrorBodyDoc {
    /// `failure`, `usage`, `not_found`, `conflict`, `gate`, `timeout`, `budget` or
    /// `cancelled`.
    #[schemars(schema_with = "error_kind")]
    pub kind: &'static str,
    /// What failed.
    pub message: String,
    /// The process's exit status.
    pub exit_code: i32,
    /// What to do next.
    pub hints: Vec<String>,
}

fn error_kind(_: &mut SchemaGenerator) -> Schema {
    wire_names(crate::error::Kind::ALL.iter().map(|k| k.name()))
}

/// An error with `--json`, on stderr.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Error")]
pub struct ErrorDoc {
    /// The error.
    pub error: ErrorBodyDoc,
}

impl From<&crate::error::CommandError> for ErrorDoc {
    fn from(e: &crate::error::CommandError) -> Self {
        Self {
            error: ErrorBodyDoc {
                kind: e.kind.name(),
                message: e.message.clone(),
                exit_code: e.kind.code(),
                hints: e.hints.clone(),
            },
        }
    }
}

/// The schema of one document, as a `docs/schemas/<file>.json` file holds it.
#[cfg(test)]
pub struct SchemaFile {
    /// The file's name without `.json`: the command, words joined by `-` (`task-claim`).
    pub name: &'static str,
    /// The schema.
    pub schema: Schema,
}

#[cfg(test)]
fn file<T: JsonSchema + ?Sized>(name: &'static str) -> SchemaFile {
    let mut schema = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>();
    schema.insert(
        "$id".into(),
        Value::String(format!("team/schemas/{name}.json")),
    );
    SchemaFile { name, schema }
}

/// Every document's schema, by command: what `docs/schemas/` holds.
#[cfg(test)]
pub fn schemas() -> Vec<SchemaFile> {
    let mut v = vec![
        file::<InitDoc>("init"),
        file::<CreateDoc>("create"),
        file::<MemberDoc>("create-prompt"),
        file::<Vec<TeamSummaryDoc>>("list"),
        file::<ShowDoc>("show"),
        file::<DisbandDoc>("disband"),
        file::<MemberDoc>("member-add"),
        file::<Vec<MemberDoc>>("member-list"),
        file::<MemberEndDoc>("member-done"),
        file::<MemberEndDoc>("member-fail"),
        file::<Vec<TaskDoc>>("task-list"),
        file::<Vec<MessageDoc>>("send"),
        file::<Vec<MessageDoc>>("inbox"),
        file::<Option<MemoryEntryDoc>>("memory-show"),
        file::<MemoryWriteDoc>("memory-set"),
        file::<MemoryWriteDoc>("memory-append"),
        file::<MemoryClearDoc>("memory-clear"),
        file::<Vec<EventDoc>>("logs"),
        file::<EventDoc>("logs-follow"),
        file::<MemberDoc>("spawn"),
        file::<RunnerStartedDoc>("runner-detach"),
        file::<WaitDoc>("wait"),
        file::<WatchChangeDoc>("watch"),
        file::<ReconcileDoc>("reconcile"),
        file::<AgentsListDoc>("agents-list"),
        file::<AgentDoc>("agents-show"),
        file::<AgentsCheckDoc>("agents-check"),
        file::<ReportDoc>("run"),
        file::<RunDetachedDoc>("run-detach"),
        file::<ReportManifestDoc>("report"),
        file::<Vec<WorkflowDoc>>("workflows-list"),
        file::<WorkflowDefDoc>("workflows-show"),
        file::<DoctorDoc>("doctor"),
        file::<ConfigShowDoc>("config-show"),
        file::<ErrorDoc>("error"),
    ];
    for cmd in ["add", "show", "claim", "done", "fail", "release", "cancel"] {
        let name = match cmd {
            "add" => "task-add",
            "show" => "task-show",
            "claim" => "task-claim",
            "done" => "task-done",
            "fail" => "task-fail",
            "release" => "task-release",
            _ => "task-cancel",
        };
        v.push(file::<TaskDoc>(name));
    }
    v.sort_by_key(|f| f.name);
    v
}

/// `schema` as the text of its file: pretty JSON and a final newline.
#[cfg(test)]
pub fn schema_text(schema: &Schema) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/schemas/` holds exactly what [`schemas`] generates. Run with `TEAM_BLESS=1` to
    /// rewrite the files after a change to a document.
    #[test]
    fn committed_schemas_are_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/schemas");
        let bless = std::env::var_os("TEAM_BLESS").is_some();
        let all = schemas();
        if bless {
            std::fs::create_dir_all(&dir).expect("create docs/schemas");
            for f in std::fs::read_dir(&dir)
                .expect("read docs/schemas")
                .flatten()
            {
                std::fs::remove_file(f.path()).expect("remove an old schema");
            }
        }
        let mut stale = Vec::new();
        for f in &all {
            let path = dir.join(format!("{}.json", f.name));
            let text = schema_text(&f.schema);
            if bless {
                std::fs::write(&path, &text).expect("write a schema");
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(f.name);
            }
        }
        let on_disk = std::fs::read_dir(&dir)
            .map(|d| d.flatten().count())
            .unwrap_or(0);
        assert!(
            stale.is_empty() && on_disk == all.len(),
            "docs/schemas/ is out of date ({stale:?}; {on_disk} files for {} documents): \
             run `TEAM_BLESS=1 cargo test -p team-cli committed_schemas_are_current`",
            all.len()
        );
    }

    /// Each schema is a valid JSON Schema and accepts a document made from library values.
    #[test]
    fn schemas_compile_and_accept_documents() {
        for f in schemas() {
            jsonschema::validator_for(f.schema.as_value())
                .unwrap_or_else(|e| panic!("{}: {e}", f.name));
        }
        let team = Team {
            id: "abc".into(),
            name: "t".into(),
            status: team_core::TeamStatus::Active,
            lead_agent: "lead".into(),
            workflow: None,
            project_root: "/p".into(),
            runner_id: None,
            owner_pid: None,
            owner_host: None,
            created_at_ms: 1,
            updated_at_ms: 1,
            ended_at_ms: None,
            reason: None,
        };
        let doc = serde_json::to_value(TeamDoc::from(team)).expect("json");
        let schema = file::<TeamDoc>("team").schema;
        let v = jsonschema::validator_for(schema.as_value()).expect("schema");
        assert!(v.is_valid(&doc), "{doc}");
    }
}
