//! The documents of the setup commands: `team agents list|show|check`, `team config show`,
//! `team doctor`.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;
use serde_json::Value;

use super::any_value;

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
    /// `llm`, `command` or `runtime` (an agent CLI: `runtime:`).
    pub kind: String,
    /// What it runs (a model, a command line, or a runtime and its model).
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
