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

mod approvals;
mod entity;
mod runners;
mod setup;

use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;
use serde_json::Value;

pub use approvals::*;
pub use entity::*;
pub use runners::*;
pub use setup::*;

/// A schema `{"type": "string", "enum": [...]}` of wire names.
pub(crate) fn wire_names(names: impl Iterator<Item = &'static str>) -> Schema {
    let names: Vec<&str> = names.collect();
    json_schema!({"type": "string", "enum": names})
}

pub(crate) fn team_status(_: &mut SchemaGenerator) -> Schema {
    wire_names(team_core::TeamStatus::ALL.iter().map(|s| s.as_str()))
}

pub(crate) fn member_status(_: &mut SchemaGenerator) -> Schema {
    wire_names(team_core::MemberStatus::ALL.iter().map(|s| s.as_str()))
}

pub(crate) fn task_status(_: &mut SchemaGenerator) -> Schema {
    wire_names(team_core::TaskStatus::ALL.iter().map(|s| s.as_str()))
}

pub(crate) fn role(_: &mut SchemaGenerator) -> Schema {
    wire_names(team_core::Role::ALL.iter().map(|s| s.as_str()))
}

pub(crate) fn message_kind(_: &mut SchemaGenerator) -> Schema {
    wire_names(team_core::MessageKind::ALL.iter().map(|s| s.as_str()))
}

pub(crate) fn any_value(_: &mut SchemaGenerator) -> Schema {
    json_schema!(true)
}

/// `[task id, its new status]` pairs.
pub(crate) fn tasks_changed(g: &mut SchemaGenerator) -> Schema {
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
    /// What its members spent in money (with `[prices]` in the configuration).
    pub spend: SpendDoc,
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

/// `team resume --json` (a team no workflow runs; a workflow team prints its report).
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Resume")]
pub struct ResumeDoc {
    /// The team, now `active`.
    pub team: TeamDoc,
    /// Members queued again (`pending`, their next attempt, from their last checkpoint).
    pub members: Vec<String>,
    /// Tasks reopened (`pending`): those the team's interrupted end cancelled.
    pub tasks: Vec<i64>,
    /// Members kept as they ended (completed, or failed on their own).
    pub kept: Vec<String>,
}

impl From<team_store::Resumed> for ResumeDoc {
    fn from(r: team_store::Resumed) -> Self {
        Self {
            team: r.team.into(),
            members: r.members,
            tasks: r.tasks,
            kept: r.kept,
        }
    }
}

/// `team reconcile --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Reconcile")]
pub struct ReconcileDoc {
    /// Runner ids found lost.
    pub runners_lost: Vec<String>,
    /// Members failed as `runner lost` (`team/member`).
    pub members_failed: Vec<String>,
    /// Members of lost runners that went back to `pending` for their next attempt (their
    /// agent's `retries:`), as `team/member`.
    pub members_retried: Vec<String>,
    /// Teams failed because their foreground owner is gone.
    pub teams_failed: Vec<String>,
}

impl From<team_runner::reconcile::ReconcileReport> for ReconcileDoc {
    fn from(r: team_runner::reconcile::ReconcileReport) -> Self {
        Self {
            runners_lost: r.runners_lost,
            members_failed: r.members_failed,
            members_retried: r.members_retried,
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
const REPORT_SCHEMA: &str = include_str!("../../../docs/report.schema.json");

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
    /// What the members spent in money (with `[prices]` in the configuration).
    pub spend: SpendDoc,
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
        file::<Vec<TaskDoc>>("task-claim-count"),
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
        file::<ResumeDoc>("resume"),
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
        file::<Vec<RunnerDoc>>("runners"),
        file::<RunnerStopDoc>("runner-stop"),
        file::<Vec<ApprovalDoc>>("approvals"),
        file::<ApprovalDoc>("approve"),
        file::<ApprovalDoc>("deny"),
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
        let team = team_core::Team {
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
