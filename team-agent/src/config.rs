//! Layered configuration: `config.toml` files and environment variables.
//!
//! Layers, lowest to highest precedence:
//! 1. built-in defaults ([`TeamConfig::default`]);
//! 2. the user file ([`user_config_path`]: `$TEAM_CONFIG_HOME/config.toml`, else
//!    `$XDG_CONFIG_HOME/team/config.toml`, else the platform config dir, `~/.config/team/config.toml`
//!    on Linux and macOS);
//! 3. the project file `<project>/.team/config.toml`;
//! 4. environment variables [`ENV_MAX_AGENTS`], [`ENV_MEMBER_TIMEOUT_SECS`], [`ENV_MODEL`].
//!
//! Tables merge key by key: a project `[providers.openai]` that sets only
//! `max_concurrent_requests` keeps the user file's `base_url`. `[team]` is validated strictly;
//! `[providers.NAME]` tables are kept as raw TOML for the provider config to deserialize.
//! API key values are refused: config names environment variables only (`api_key_env`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::{Table, Value};

use crate::ModelRef;

mod layer;
#[cfg(test)]
mod tests;

/// Environment variable overriding `[team] max_agents`.
pub const ENV_MAX_AGENTS: &str = "TEAM_MAX_AGENTS";
/// Environment variable overriding `[team] member_timeout_secs`.
pub const ENV_MEMBER_TIMEOUT_SECS: &str = "TEAM_MEMBER_TIMEOUT_SECS";
/// Environment variable overriding `[team] default_model`.
pub const ENV_MODEL: &str = "TEAM_MODEL";
pub use team_tools::paths::{ENV_CONFIG_HOME, user_config_path, user_config_path_with_env};
/// The keys valid in `[team]`.
pub const TEAM_KEYS: &[&str] = &[
    "max_agents",
    "member_timeout_secs",
    "default_model",
    "sandbox",
    "max_depth",
    "max_members_per_team",
    "max_message_bytes",
    "on_ask",
    "lead_tools",
    "max_tokens",
    "max_cost",
];

/// An error loading configuration. `origin` is a file path or `environment`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A config file exists but could not be read.
    #[error("{}: cannot read config file: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A config file is not valid TOML (1-based line and column).
    #[error("{}:{line}:{column}: invalid TOML: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Line of the error.
        line: usize,
        /// Column (in characters) of the error.
        column: usize,
        /// What the TOML parser reported.
        message: String,
    },
    /// A key has a value of the wrong type.
    #[error("{origin}: `{key}` must be {expected}, found {found}")]
    WrongType {
        /// File path or `environment`.
        origin: String,
        /// Dotted key (`team.max_agents`, `providers.openai`).
        key: String,
        /// The expected type.
        expected: &'static str,
        /// The type found.
        found: &'static str,
    },
    /// A key has a value of the right type that is out of range or malformed.
    #[error("{origin}: invalid `{key}`: {message}")]
    InvalidValue {
        /// File path or `environment`.
        origin: String,
        /// Dotted key or environment variable name.
        key: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// A key in `[team]` is not one of [`TEAM_KEYS`] (typos must not pass silently).
    #[error("{origin}: unknown key `{key}` in [team]; valid keys: {}", TEAM_KEYS.join(", "))]
    UnknownKey {
        /// File path.
        origin: String,
        /// The unknown key.
        key: String,
    },
    /// A provider table holds a secret value; the value itself is never shown.
    #[error(
        "{origin}: `providers.{provider}.{key}` holds a secret, and config files must not: \
         put the key in an environment variable and set `api_key_env = \"VAR_NAME\"`"
    )]
    Secret {
        /// File path.
        origin: String,
        /// Provider name.
        provider: String,
        /// The offending key.
        key: String,
    },
}

/// The validated `[team]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct TeamConfig {
    /// Maximum number of agents one runner runs at once (≥ 1; default 10).
    pub max_agents: u32,
    /// Idle timeout of persistent members, in seconds (≥ 1; default 300).
    pub member_timeout_secs: u64,
    /// Model for agents that set none, as `provider/model` (default unset).
    pub default_model: Option<ModelRef>,
    /// How the `bash` tool is confined: `"landlock"` (default) or `"off"` (see
    /// [`team_tools::workspace::SandboxMode`]).
    pub sandbox: team_tools::workspace::SandboxMode,
    /// How deep members may start members with the `task` tool (≥ 1; default 2): the lead is
    /// depth 0, a member it starts depth 1, a member that one starts depth 2, …
    pub max_depth: u32,
    /// How many members the `task` tool may add to one team, counting every member the team
    /// ever had but its lead (≥ 1; default 50).
    pub max_members_per_team: u32,
    /// The largest message body a member or `team send` may send, in bytes (≥ 1, at most
    /// 1 GiB; default 1 MiB, `team_core::delivery::DEFAULT_MAX_MESSAGE_BYTES`): a larger one
    /// is refused (exit 2), so a member cannot fill the database (issue 13).
    pub max_message_bytes: usize,
    /// What a tool call that its agent's permission says to `ask` about becomes when no
    /// `--allow`/`--yes` settles it and the run gives no `--on-ask` (default `prompt`: ask at
    /// a terminal, deny without one; `park`: wait for `team approve`; see
    /// [`team_tools::permission::OnAsk`]).
    pub on_ask: team_tools::permission::OnAsk,
    /// The tools an LLM lead is offered (default `all`; `team`: a coordination-only lead
    /// that delegates everything, see [`LeadTools`]).
    pub lead_tools: LeadTools,
    /// The budget in tokens (prompt + completion, every member's) of a team `team create`
    /// makes without `--max-tokens` (default none; issue 18, `team_core::budget`).
    pub max_tokens: Option<u64>,
    /// The budget in US dollars, at `[prices]`, of a team `team create` makes without
    /// `--max-cost` (default none).
    pub max_cost: Option<f64>,
}

/// `[team] lead_tools`: what an LLM lead may use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LeadTools {
    /// The team tools and the workspace tools its agent file allows (the default).
    #[default]
    All,
    /// Only the team tools (`task`, `send_message`, `team_task`, …): it coordinates and its
    /// members do the work.
    Team,
}

impl Default for TeamConfig {
    fn default() -> Self {
        Self {
            max_agents: 10,
            member_timeout_secs: 300,
            default_model: None,
            sandbox: team_tools::workspace::SandboxMode::Landlock,
            max_depth: 2,
            max_members_per_team: 50,
            max_message_bytes: team_core::delivery::DEFAULT_MAX_MESSAGE_BYTES,
            on_ask: team_tools::permission::OnAsk::Prompt,
            lead_tools: LeadTools::All,
            max_tokens: None,
            max_cost: None,
        }
    }
}

/// The events a hook runs on (`[hooks]` keys, `hook.ran` events' `hook`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HookEvent {
    /// A member moves a task to `completed` (the `team_task` tool): exit 2 keeps the task
    /// `in_progress` and the hook's stderr goes back to the member as the tool's error.
    TaskCompleted,
    /// A persistent member finished a turn and goes idle: exit 2 sends the hook's stderr to
    /// the member as a message, so it works on (Claude Code's `TeammateIdle`).
    MemberIdle,
    /// A member ended (completed, failed, cancelled, timed out): informational.
    MemberEnded,
    /// A member is about to run a tool call: exit 2 refuses the call, with the hook's stderr
    /// as the reason the model reads.
    BeforeTool,
}

impl HookEvent {
    /// Every event, in declaration order.
    pub const ALL: [HookEvent; 4] = [
        HookEvent::TaskCompleted,
        HookEvent::MemberIdle,
        HookEvent::MemberEnded,
        HookEvent::BeforeTool,
    ];

    /// The `[hooks]` key and the name in events and in `TEAM_HOOK` (`task_completed`).
    pub const fn as_str(self) -> &'static str {
        match self {
            HookEvent::TaskCompleted => "task_completed",
            HookEvent::MemberIdle => "member_idle",
            HookEvent::MemberEnded => "member_ended",
            HookEvent::BeforeTool => "before_tool",
        }
    }
}

/// The default of `[hooks] timeout_secs`.
pub const DEFAULT_HOOK_TIMEOUT_SECS: u64 = 30;

/// The validated `[hooks]` table: a shell command (`sh -c`) per event, run with the event as
/// JSON on stdin and `TEAM_*` in its environment (see `team_runner::hooks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HooksConfig {
    /// The command of each event that has one.
    pub commands: BTreeMap<HookEvent, String>,
    /// How long a hook may run before it is killed (≥ 1 s; default
    /// [`DEFAULT_HOOK_TIMEOUT_SECS`]); a killed hook blocks nothing.
    pub timeout_secs: u64,
}

impl Default for HooksConfig {
    fn default() -> Self {
        Self {
            commands: BTreeMap::new(),
            timeout_secs: DEFAULT_HOOK_TIMEOUT_SECS,
        }
    }
}

impl HooksConfig {
    /// The command of `event`, if one is set.
    pub fn command(&self, event: HookEvent) -> Option<&str> {
        self.commands.get(&event).map(String::as_str)
    }
}

/// A model's price (`[prices."provider/model"]`), in US dollars per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Price {
    /// Per million prompt (input) tokens.
    pub input_per_mtok: f64,
    /// Per million completion (output) tokens.
    pub output_per_mtok: f64,
}

impl Price {
    /// What `prompt_tokens` in and `completion_tokens` out cost, in US dollars.
    pub fn cost(&self, prompt_tokens: u64, completion_tokens: u64) -> f64 {
        (prompt_tokens as f64 * self.input_per_mtok
            + completion_tokens as f64 * self.output_per_mtok)
            / 1_000_000.0
    }
}

/// The merged configuration. Holds no secrets: providers name the environment variables
/// that hold API keys, and tables holding key values are refused at load.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// The `[team]` settings.
    pub team: TeamConfig,
    /// The `[models]` table: model aliases an agent's `model:` may name (alias →
    /// `provider/model`), set in config files; [`Config::model_aliases`] adds the built-in
    /// defaults.
    pub models: BTreeMap<String, ModelRef>,
    /// `[providers.NAME]` tables, merged key by key across layers, not interpreted here.
    pub providers: BTreeMap<String, Table>,
    /// The `[hooks]` table (key by key across layers).
    pub hooks: HooksConfig,
    /// The `[prices]` table: `provider/model` → its price (what `team show` and
    /// `team report` turn tokens into money with).
    pub prices: BTreeMap<String, Price>,
    /// Non-fatal findings (unknown top-level keys or tables), one sentence each.
    pub warnings: Vec<String>,
    /// The config files that were read, lowest precedence first.
    pub loaded_files: Vec<PathBuf>,
}

/// `<project_root>/.team/config.toml`.
pub fn project_config_path(project_root: &Path) -> PathBuf {
    project_root.join(".team").join("config.toml")
}

impl Config {
    /// Loads the layered configuration with the process environment; `project_root` adds
    /// `<project_root>/.team/config.toml` (missing files are skipped).
    ///
    /// Errors: see [`Config::load_with_env`].
    pub fn load(project_root: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(project_root, &|k| std::env::var(k).ok())
    }

    /// Like [`Config::load`] with environment lookups through `env` (for tests).
    ///
    /// Errors: [`ConfigError::Read`] / [`ConfigError::Parse`] for unreadable or invalid
    /// files; [`ConfigError::WrongType`], [`ConfigError::InvalidValue`] and
    /// [`ConfigError::UnknownKey`] for bad `[team]` keys or env values (naming the file or
    /// variable and the key); [`ConfigError::Secret`] when a provider table holds an API key.
    pub fn load_with_env(
        project_root: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut files = Vec::new();
        files.extend(user_config_path_with_env(env));
        files.extend(project_root.map(project_config_path));
        let mut config = Config::default();
        let mut providers = Table::new();
        for path in files {
            let Some(text) = read_optional(&path)? else {
                continue;
            };
            let table = layer::parse_toml(&text, &path)?;
            let origin = path.display().to_string();
            layer::apply_file(&mut config, &mut providers, table, &origin)?;
            config.loaded_files.push(path);
        }
        layer::apply_env(&mut config.team, env)?;
        config.providers = provider_tables(providers);
        Ok(config)
    }

    /// Parses one config file's `text` as the only layer above the defaults (no user file,
    /// no environment); `origin` names it in errors.
    ///
    /// Errors: as [`Config::load_with_env`], minus the environment ones.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        let mut providers = Table::new();
        let table = layer::parse_toml(text, origin)?;
        let origin = origin.display().to_string();
        layer::apply_file(&mut config, &mut providers, table, &origin)?;
        config.providers = provider_tables(providers);
        Ok(config)
    }

    /// Every model alias: the built-in defaults ([`crate::CLAUDE_MODEL_ALIASES`]:
    /// `sonnet`, `opus`, `haiku` → Anthropic models) overridden and extended by `[models]`.
    /// Alias → `provider/model`.
    pub fn model_aliases(&self) -> BTreeMap<String, String> {
        let mut aliases: BTreeMap<String, String> = crate::CLAUDE_MODEL_ALIASES
            .iter()
            .map(|(a, m)| ((*a).to_owned(), (*m).to_owned()))
            .collect();
        aliases.extend(self.models.iter().map(|(a, m)| (a.clone(), m.to_string())));
        aliases
    }

    /// The idle timeout of persistent members.
    pub fn member_timeout(&self) -> Duration {
        Duration::from_secs(self.team.member_timeout_secs)
    }

    /// The commented `config.toml` that `team init` writes: every key documented with its
    /// default commented out, plus commented OpenAI and Ollama provider examples. It parses
    /// to the defaults.
    pub fn default_file_text() -> &'static str {
        DEFAULT_FILE_TEXT
    }
}

/// The validated `[providers]` table as name → table (non-tables were refused earlier).
fn provider_tables(providers: Table) -> BTreeMap<String, Table> {
    providers
        .into_iter()
        .filter_map(|(name, value)| match value {
            Value::Table(t) => Some((name, t)),
            _ => None,
        })
        .collect()
}

fn read_optional(path: &Path) -> Result<Option<String>, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

const DEFAULT_FILE_TEXT: &str = r#"# team configuration (.team/config.toml).
#
# Layers, lowest to highest precedence: built-in defaults; the user file
# ($TEAM_CONFIG_HOME/config.toml, else $XDG_CONFIG_HOME/team/config.toml, else
# ~/.config/team/config.toml); this project file; then the environment variables
# TEAM_MAX_AGENTS, TEAM_MEMBER_TIMEOUT_SECS and TEAM_MODEL.
# Tables merge key by key: a key set here overrides only that key of the user file.
# Uncomment a line to change its default.

[team]
# Maximum number of agents one runner runs at the same time (integer >= 1).
# Environment: TEAM_MAX_AGENTS.
# max_agents = 10

# Seconds a persistent member may stay idle before it is stopped (integer >= 1).
# Environment: TEAM_MEMBER_TIMEOUT_SECS.
# member_timeout_secs = 300

# Model for agents whose definition sets no `model`, as "provider/model"
# (the provider is a [providers.NAME] table below). Unset by default.
# Environment: TEAM_MODEL.
# default_model = "openai/gpt-4o-mini"

# How the bash tool is confined: "landlock" (a Landlock sandbox: it writes only beneath
# the project root, minus .team/, the agent folders and .git/hooks and .git/config, and
# reads only the project and the system directories) or "off" (no sandbox: bash runs with
# your rights; a warning is logged). Without Landlock in the kernel, bash is refused
# unless this says "off".
# sandbox = "landlock"

# How deep members may start members with the `task` tool (integer >= 1): the lead is
# depth 0, the members it starts depth 1, the members those start depth 2.
# max_depth = 2

# How many members the `task` tool may add to one team in all (integer >= 1).
# max_members_per_team = 50

# The largest message body a member or `team send` may send, in bytes (1 to 1073741824);
# a larger one is refused (exit 2).
# max_message_bytes = 1048576

# What a tool call that an agent's permission says to "ask" about becomes when neither
# --allow nor --yes settles it and the command gives no --on-ask: "prompt" (ask at a
# terminal; without one, as in CI, deny), "deny", or "park" (the member waits, holding no
# slot, until `team approve ID` or `team deny ID --reason TEXT` decides, from any shell).
# on_ask = "prompt"

# The tools an LLM lead gets: "all" (the team tools and its workspace tools) or "team" (only
# the team tools: a coordination-only lead; its members do the work).
# lead_tools = "all"

# A budget for every team `team create` makes (`--max-tokens` / `--max-cost` override it):
# tokens (prompt and completion, all members), and US dollars at the [prices] below. A member
# started with `task` reserves its max_tokens and does not start when the rest cannot cover
# it; at 80 % the lead is told, at 100 % running members stop ("budget spent").
# max_tokens = 2000000
# max_cost = 5.0

# Hooks: a shell command run on an event, with the event as JSON on stdin and TEAM_HOOK,
# TEAM_ID, TEAM_MEMBER, TEAM_PROJECT_ROOT, TEAM_DATABASE_URL in its environment. Exit 2
# blocks (task_completed: the task stays in_progress and stderr goes back to the member;
# before_tool: the call is refused with stderr as the reason; member_idle: stderr is sent to
# the member, which works on); other exit codes are logged and ignored. Each run is a
# `hook.ran` event.
# [hooks]
# task_completed = "./scripts/check-task.sh"
# member_idle = "./scripts/more-work.sh"
# member_ended = "./scripts/notify.sh"
# before_tool = "./scripts/policy.sh"
# timeout_secs = 30

# Prices of models, in US dollars per million tokens: `team show` and `team report` show
# what each member and the whole team spent.
# [prices."openai/gpt-4o-mini"]
# input_per_mtok = 0.15
# output_per_mtok = 0.60

# Model aliases that an agent file's `model:` may name instead of "provider/model"
# (Claude Code files say `model: sonnet`). Built-in defaults:
#   sonnet = "anthropic/claude-sonnet-4-5", opus = "anthropic/claude-opus-4-5",
#   haiku = "anthropic/claude-haiku-4-5".
# [models]
# sonnet = "openai/gpt-4o"
# haiku = "ollama/llama3.2"

# Providers: one [providers.NAME] table each; agents name models as "NAME/model".
# Never write an API key here: api_key_env names the environment variable that holds it.
#
#   kind                     "openai" (OpenAI-compatible API) or "anthropic";
#                            inferred from NAME when absent
#   base_url                 the API endpoint
#   api_key_env              environment variable holding the API key (omit when none)
#   max_concurrent_requests  requests in flight to this provider at once (integer >= 1)

# [providers.openai]
# base_url = "https://api.openai.com/v1"
# api_key_env = "OPENAI_API_KEY"
# max_concurrent_requests = 8

# A local Ollama server speaks the OpenAI API and needs no key.
# [providers.ollama]
# kind = "openai"
# base_url = "http://localhost:11434/v1"
# max_concurrent_requests = 2
"#;
