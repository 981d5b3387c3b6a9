//! `team-agent`: agent definitions and `team`'s configuration.
//!
//! For: agent files (Markdown with YAML front matter, read as opencode and Claude Code read
//! them), their discovery and resolution (model, tools), the built-in agents, and
//! `config.toml` ([`config`]). Not for: running an agent (`team-runner`), calling a model
//! (`team-provider`) or executing tools (`team-tools`).
//!
//! Agent definitions: Markdown files with YAML front matter, in the opencode / Claude Code
//! convention, and their discovery in a project.
//!
//! A file is `---\n<yaml>\n---\n<body>`; the trimmed body is the agent's instructions (its
//! system prompt). A file without front matter is an agent with only instructions, named
//! after its file stem. See [`AgentDef`] for the fields and [`discover`] for where files are
//! looked up.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod builtin;
mod catalog;
pub mod config;
mod fields;
mod resolve;
pub mod runtime;
mod tools;
pub(crate) mod yaml;

#[cfg(test)]
mod tests;

pub use catalog::{
    AGENT_DIRS, AgentCatalog, BrokenAgent, ShadowedAgent, discover, discover_with_builtins,
};
pub use fields::{MAX_AGENT_TIMEOUT, MAX_AGENT_TURNS};
pub use resolve::{
    ModelContext, ModelRule, ResolvedModel, ToolProblem, offered_tools, resolve_model,
    tool_problems,
};
pub use team_tools::permission::{
    AgentPermissions, Permission, PermissionConfig, PermissionRule, ToolSelection,
};
pub use tools::{canonical_tool_name, is_known_tool};

/// Where agent files are looked up, for error messages.
const LOOKUP_HINT: &str =
    ".team/agents/, .opencode/agent/, .opencode/agents/, .claude/agents/ and the built-in agents";

/// An error reading, parsing or looking up agent definitions. Positions (`line`, `column`)
/// are 1-based and counted in the whole file (the front matter starts at line 2); line 0
/// means unknown.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The agent file could not be read.
    #[error("{}: cannot read agent file: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An agent directory exists but could not be listed.
    #[error("{}: cannot list agent directory: {source}", path.display())]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The front matter is not valid YAML, or not a mapping.
    #[error("{}: invalid YAML in front matter: {message}", position(path, *line, *column))]
    Yaml {
        /// The file.
        path: PathBuf,
        /// Line in the file.
        line: u64,
        /// Column in the line, when known.
        column: Option<u64>,
        /// What the YAML parser reported.
        message: String,
    },
    /// A front-matter field has the wrong type or an invalid value.
    #[error("{}: invalid field `{field}`: {message}", position(path, *line, *column))]
    Field {
        /// The file.
        path: PathBuf,
        /// Line of the field's value in the file.
        line: u64,
        /// Column of the field's value, when known.
        column: Option<u64>,
        /// The field, with a path into it for nested values (`tools[2]`, `permission.bash`).
        field: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// The file as a whole is invalid (unclosed front matter, invalid name from the file
    /// stem, both `model` and `command`, not UTF-8).
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// Two files in the same directory define the same agent name.
    #[error(
        "{}: agent `{name}` is also defined by {}; rename one of them or change its `name:`",
        path.display(),
        other.display()
    )]
    Duplicate {
        /// The agent name.
        name: String,
        /// The file read second.
        path: PathBuf,
        /// The file read first.
        other: PathBuf,
    },
    /// The file that defines this agent is broken (see [`AgentCatalog::broken`]).
    #[error(
        "agent `{name}` cannot be used: {error}; fix the file (`team agents check` lists every broken file)"
    )]
    Broken {
        /// The requested name.
        name: String,
        /// The file's error: `path:line:column: cause`.
        error: String,
    },
    /// No agent has this name.
    #[error(
        "unknown agent `{name}`; {}; agents are looked up in {LOOKUP_HINT}",
        known_list(known)
    )]
    Unknown {
        /// The requested name.
        name: String,
        /// The names that are defined, sorted.
        known: Vec<String>,
    },
}

/// `path:line:column`, `path:line`, or `path` when the line is unknown (0).
fn position(path: &Path, line: u64, column: Option<u64>) -> String {
    match (line, column) {
        (0, _) => path.display().to_string(),
        (_, Some(column)) => format!("{}:{line}:{column}", path.display()),
        (_, None) => format!("{}:{line}", path.display()),
    }
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        "no agents are defined".to_owned()
    } else {
        format!("known agents: {}", known.join(", "))
    }
}

/// Which kind of place an agent definition came from; also its precedence when names
/// collide (`Team` > `OpenCode` > `Claude` > `Builtin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKind {
    /// Compiled into the binary; lowest precedence.
    Builtin,
    /// `.claude/agents/*.md` (Claude Code).
    Claude,
    /// `.opencode/agent/*.md` or `.opencode/agents/*.md` (opencode).
    OpenCode,
    /// `.team/agents/*.md`; highest precedence.
    Team,
}

impl SourceKind {
    /// The label shown by `team agents list`: `team`, `opencode`, `claude` or `builtin`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Team => "team",
            Self::OpenCode => "opencode",
            Self::Claude => "claude",
            Self::Builtin => "builtin",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Where an agent definition was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSource {
    /// The kind of place (and precedence).
    pub kind: SourceKind,
    /// The file (the project root joined with e.g. `.team/agents/x.md`); for built-in agents
    /// a pseudo path such as `builtin/lead.md`, used in error messages only.
    pub path: PathBuf,
}

/// A model reference `provider/model` (`openai/gpt-4o-mini`); the model part may contain
/// further `/` (`openrouter/meta-llama/llama-3-70b`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelRef {
    /// Provider name, a key of `[providers.NAME]` in the config.
    pub provider: String,
    /// Model id as the provider names it.
    pub model: String,
}

impl ModelRef {
    /// Parses `provider/model`; both parts must be non-empty and free of whitespace.
    /// Errors with a message that says the expected shape.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        match text.split_once('/') {
            Some((provider, model))
                if !provider.is_empty()
                    && !model.is_empty()
                    && !text.contains(char::is_whitespace) =>
            {
                Ok(Self {
                    provider: provider.to_owned(),
                    model: model.to_owned(),
                })
            }
            _ => Err(format!(
                "`{text}` is not of the form `provider/model` (e.g. `openai/gpt-4o-mini`)"
            )),
        }
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}

/// Whether an agent keeps memory between runs (`memory:` field; default `none`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum MemoryMode {
    /// No memory (the default).
    #[default]
    None,
    /// Memory kept in the project's store (`local`; Claude Code's `project` and `user`
    /// are read as `local` too).
    Local,
}

/// Whether an LLM agent must have its plan approved before it may change anything (`plan:`
/// field; default `none`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum PlanMode {
    /// It works at once (the default).
    #[default]
    None,
    /// `plan: required` (or `true`): its first answer is a plan, with its write tools
    /// (`write_file`, `edit_file`, `bash`) withheld; the plan is an approval request
    /// (`team approve` / `team deny`), and once approved the write tools are unlocked.
    Required,
}

/// opencode's `mode:` field: where the agent may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentMode {
    /// A primary (top-level) agent.
    Primary,
    /// Only a subagent.
    Subagent,
    /// Both.
    All,
}

/// How an agent runs, derived from `model` and `command` (see [`AgentDef::kind`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentKind {
    /// An LLM agent driven by the runner's loop.
    Llm {
        /// Provider name.
        provider: String,
        /// Model id.
        model: String,
    },
    /// A command agent: an external program (`argv[0]` plus arguments).
    Command {
        /// Program and arguments, never empty.
        argv: Vec<String>,
    },
    /// An agent CLI run as a member (`runtime:`; see [`runtime`]).
    Runtime {
        /// The runtime's name (`opencode`, `claude`, `codex`), one of [`runtime::RUNTIMES`].
        runtime: String,
        /// `model:` as written, passed to the CLI; `None`: the CLI's own default.
        model: Option<String>,
    },
    /// An LLM agent whose `model:` is an alias (`sonnet`), resolved through `[models]`.
    LlmAlias {
        /// The alias as written.
        alias: String,
    },
    /// Neither `model` nor `command` (or `model: inherit`): valid to list; the model comes
    /// from the run, the lead or the config default (see [`resolve_model`]).
    Unconfigured,
}

/// One agent definition, parsed from a Markdown file with YAML front matter.
///
/// Every field but `name`, `instructions`, `memory`, `env`, `extra` and `source` is optional
/// (`None` = not set in the file; a YAML `null` counts as not set).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentDef {
    /// `name:` or the file stem; matches `[A-Za-z0-9][A-Za-z0-9_.-]{0,63}`.
    pub name: String,
    /// `description:`: when to use the agent.
    pub description: Option<String>,
    /// `model:` as `provider/model`; a bare `claude-…` id gets the `anthropic` provider.
    /// Claude Code's `inherit` (and no `model:`) read as unset; a bare word (`sonnet`) is
    /// [`AgentDef::model_alias`] instead.
    pub model: Option<ModelRef>,
    /// `model:` as an alias (`sonnet`, `opus`, `haiku`, or a name of the `[models]` table of
    /// the config), resolved when the agent runs (see [`resolve_model`]).
    pub model_alias: Option<String>,
    /// `tools:`: `None` = the runner's default tool set.
    pub tools: Option<ToolSelection>,
    /// `permission:`: `None` = the runner's default permissions.
    pub permission: Option<PermissionConfig>,
    /// `memory:`: `local` | `none`.
    pub memory: MemoryMode,
    /// `plan:`: `required` | `none` (see [`PlanMode`]).
    pub plan: PlanMode,
    /// `task_budget:` (≥ 0): how many members a member of this agent may start with the
    /// `task` tool over its life (a delegation limit beside `max_depth` and
    /// `max_members_per_team`); `None`: no limit of its own.
    pub task_budget: Option<u32>,
    /// `temperature:`, 0.0 ..= 2.0.
    pub temperature: Option<f32>,
    /// `max_turns:` (also `maxTurns`, `steps`, `maxSteps`), ≥ 1.
    pub max_turns: Option<u32>,
    /// `timeout:` (1 s ..= 30 days, [`MAX_AGENT_TIMEOUT`]): whole seconds as an integer, or a
    /// `humantime` duration such as `90s`, `5m`, `1h`, `1h30m`.
    pub timeout: Option<Duration>,
    /// `retries:` (0 ..= `team_core::retry::MAX_RETRIES`, default 0): how many more attempts a
    /// member gets after its runner was lost or its provider failed transiently.
    pub retries: u32,
    /// `backoff:` (at most 1 hour; default 1 s): the wait before the first retry, doubled for
    /// each later one; a `humantime` duration (`500ms`, `2s`) or whole seconds.
    pub backoff: Option<Duration>,
    /// `command:`: argv of a command agent, from a list or a shell-style string.
    pub command: Option<Vec<String>>,
    /// `runtime:`: the agent CLI this agent runs as (`opencode`, `claude`, `codex`; see
    /// [`runtime`]), validated against [`runtime::RUNTIMES`]. Not with `command`.
    pub runtime: Option<String>,
    /// With `runtime:`, `model:` exactly as written (`inherit` and empty: `None`): the
    /// model the CLI is given.
    pub runtime_model: Option<String>,
    /// `env:`: environment variables set for a command agent (scalar values are stringified).
    pub env: BTreeMap<String, String>,
    /// `env_passthrough:`: names of variables of the runner's environment that a command agent
    /// gets even though they look like secrets (a list or a comma-separated string). See
    /// `team_runner::command::agent_environment`.
    pub env_passthrough: Vec<String>,
    /// `mode:` (opencode): `primary` | `subagent` | `all`.
    pub mode: Option<AgentMode>,
    /// `color:` (opencode / Claude Code), kept as written.
    pub color: Option<String>,
    /// The trimmed Markdown body: the agent's instructions (system prompt).
    pub instructions: String,
    /// Front-matter fields this crate does not interpret, kept as JSON and otherwise ignored
    /// (each also has a warning in [`AgentDef::warnings`]).
    pub extra: BTreeMap<String, serde_json::Value>,
    /// Non-fatal findings, one sentence each, prefixed with `path:line:`: unknown fields, and
    /// values read with Claude Code's `key: rest of line` fallback.
    pub warnings: Vec<String>,
    /// Where the definition was found.
    pub source: AgentSource,
}

/// Claude Code model aliases and the Anthropic model each maps to (`provider/model`): the
/// built-in defaults of the config's `[models]` table.
pub const CLAUDE_MODEL_ALIASES: &[(&str, &str)] = &[
    ("sonnet", "anthropic/claude-sonnet-4-5"),
    ("opus", "anthropic/claude-opus-4-5"),
    ("haiku", "anthropic/claude-haiku-4-5"),
];

impl AgentDef {
    /// The retry policy of `retries:` and `backoff:`, as stored on each member at spawn.
    pub fn retry_policy(&self) -> team_core::retry::RetryPolicy {
        team_core::retry::RetryPolicy::new(
            self.retries,
            self.backoff
                .map(|b| u64::try_from(b.as_millis()).unwrap_or(u64::MAX)),
        )
    }

    /// Reads and parses the agent file at `path` found in a place of kind `kind`.
    ///
    /// Errors: [`AgentError::Read`] when the file cannot be read, and every error of
    /// [`AgentDef::from_markdown`].
    pub fn load(path: &Path, kind: SourceKind) -> Result<Self, AgentError> {
        let bytes = std::fs::read(path).map_err(|source| AgentError::Read {
            path: path.to_owned(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|_| AgentError::Invalid {
            path: path.to_owned(),
            message: "is not valid UTF-8 text; save the agent file as UTF-8".to_owned(),
        })?;
        Self::from_markdown(
            &text,
            AgentSource {
                kind,
                path: path.to_owned(),
            },
        )
    }

    /// Parses agent Markdown `text` (CRLF or LF, optional BOM); `source.path`'s stem is the
    /// default name and its display form prefixes every error.
    ///
    /// Front matter that is invalid YAML only because top-level values hold an unquoted `: `
    /// is read as Claude Code reads it (`key: rest of line`), with a warning.
    ///
    /// Errors: [`AgentError::Yaml`] (bad YAML, front matter not a mapping),
    /// [`AgentError::Field`] (a field of the wrong type or value, naming the field) and
    /// [`AgentError::Invalid`] (unclosed front matter, invalid name from the file stem,
    /// both `model` and `command`).
    pub fn from_markdown(text: &str, source: AgentSource) -> Result<Self, AgentError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let text = text.replace("\r\n", "\n");
        let split = yaml::split_front_matter(&text).map_err(|()| AgentError::Invalid {
            path: source.path.clone(),
            message: "the front matter opened by `---` on line 1 has no closing `---` line"
                .to_owned(),
        })?;
        let parsed = match split.yaml {
            None => yaml::parse_front_matter("").map_err(|_| AgentError::Invalid {
                path: source.path.clone(),
                message: "cannot read the front matter".to_owned(),
            })?,
            Some(yaml_text) => {
                yaml::parse_front_matter(yaml_text).map_err(|e| AgentError::Yaml {
                    path: source.path.clone(),
                    line: e.line.max(1) + 1,
                    column: e.column,
                    message: e.message,
                })?
            }
        };
        fields::build(parsed, 1, split.body.trim().to_owned(), source)
    }

    /// How this agent runs: [`AgentKind::Runtime`] with a runtime, [`AgentKind::Llm`] with
    /// a model, [`AgentKind::Command`] with a command, else [`AgentKind::Unconfigured`]
    /// (parsing refuses a command with a model or a runtime).
    pub fn kind(&self) -> AgentKind {
        if let Some(runtime) = &self.runtime {
            return AgentKind::Runtime {
                runtime: runtime.clone(),
                model: self.runtime_model.clone(),
            };
        }
        match (&self.model, &self.command) {
            (Some(m), _) => AgentKind::Llm {
                provider: m.provider.clone(),
                model: m.model.clone(),
            },
            (None, Some(argv)) => AgentKind::Command { argv: argv.clone() },
            (None, None) => match &self.model_alias {
                Some(alias) => AgentKind::LlmAlias {
                    alias: alias.clone(),
                },
                None => AgentKind::Unconfigured,
            },
        }
    }

    /// Tool names in `tools:` that the runner does not know (for a warning at load time).
    pub fn unknown_tools(&self) -> Vec<&str> {
        self.tools
            .as_ref()
            .map_or_else(Vec::new, ToolSelection::unknown_tools)
    }
}

/// Whether `name` is a valid agent name: 1–64 characters of ASCII letters, digits, `_`, `.`
/// and `-`, starting with a letter or digit (`[A-Za-z0-9][A-Za-z0-9_.-]{0,63}`).
pub fn is_valid_agent_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The rule for agent names, for error messages.
pub(crate) const NAME_RULE: &str = "agent names are 1-64 characters of letters, digits, `_`, `.` \
     and `-`, starting with a letter or digit";
