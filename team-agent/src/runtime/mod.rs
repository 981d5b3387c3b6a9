//! Agent CLIs as members (`runtime: opencode | claude | codex` in an agent file).
//!
//! A runtime is data: one [`Runtime`] table per CLI ([`opencode::OPENCODE`],
//! [`claude::CLAUDE`], [`codex::CODEX`], listed in [`RUNTIMES`]) saying how to run it
//! non-interactively (its argv template, fixed environment, where the per-member MCP
//! configuration goes) and how to read what it prints ([`OutputKind`]). From a table and a
//! member's facts ([`Facts`]) [`Runtime::invocation`] builds the program's argv, the
//! environment it adds and the configuration file's text; [`parse_output`] reads the
//! machine-readable output for the result text and the token usage. Nothing here runs a
//! process: `team-runner` does (`command.rs`), with the environment of a command agent.
//!
//! Adding a fourth CLI: write its table in a file beside these (its argv, the `{…}`
//! placeholders it needs, its quiet environment, a [`ConfigFormat`] when its MCP servers are
//! configured in a file, an [`OutputKind`] with a parser in `output.rs` when its JSON
//! events differ from the three here), add it to [`RUNTIMES`], and add its argv, config and
//! output tests.
//!
//! Placeholders of `args` and `env` values ([`Facts`] gives their values): `{model}` (the
//! model as the CLI names it, see [`ModelForm`]), `{instructions}` (the agent file's body),
//! `{config}` (the path of the generated configuration file), `{team_exe}` (the `team`
//! binary, whose `team mcp` the CLI starts as its MCP server), `{provider}`, `{base_url}`,
//! `{api_key_env}` (the endpoint of the `[providers.NAME]` the model names, when it sets a
//! `base_url`). A placeholder may end in `:toml` (the value as a TOML string, for Codex's
//! `-c key=value`). An argv group, or an `env` entry, that names a placeholder without a
//! value is left out whole, so optional flags (`--model {model}`) cost nothing.

use std::fmt;

pub mod claude;
pub mod codex;
pub mod opencode;
mod output;

pub use output::{Output, Usage, parse_output};

/// The name of the MCP server every runtime is given: `team mcp`, acting as the member.
pub const MCP_SERVER_NAME: &str = "team";

/// The environment variables `team mcp` reads to act as the member (set by the runner for
/// every command agent, see `team_runner::command::agent_environment`); each runtime's MCP
/// configuration passes them on to the server it starts.
pub const TEAM_ENV: &[&str] = &[
    "TEAM_DATABASE_URL",
    "TEAM_ID",
    "TEAM_MEMBER",
    "TEAM_LEAD",
    "TEAM_PROJECT_ROOT",
];

/// Every runtime, by the name an agent file's `runtime:` gives.
pub const RUNTIMES: &[&Runtime] = &[&opencode::OPENCODE, &claude::CLAUDE, &codex::CODEX];

/// The runtime named `name` (`opencode`, `claude`, `codex`), or `None`.
pub fn find(name: &str) -> Option<&'static Runtime> {
    RUNTIMES.iter().copied().find(|r| r.name == name)
}

/// The names of the runtimes, comma-separated, for error messages.
pub fn known_names() -> String {
    RUNTIMES
        .iter()
        .map(|r| r.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One agent CLI that can run as a member: how to invoke it without a terminal and how to
/// read its output.
#[derive(Debug)]
pub struct Runtime {
    /// The value of `runtime:` that selects it.
    pub name: &'static str,
    /// The program, looked up on `PATH` when the member is spawned.
    pub program: &'static str,
    /// The npm package that installs [`Runtime::program`] (`npm install -g PACKAGE`).
    pub npm_package: &'static str,
    /// Arguments after the program, in groups; a group naming a placeholder without a value
    /// is left out (see the module doc). The turn's input goes to stdin.
    pub args: &'static [&'static [&'static str]],
    /// Variables added to the program's environment (placeholders allowed; an entry naming
    /// one without a value is left out): the config file's location, and what keeps the CLI
    /// quiet and offline (no auto-update, telemetry or model-list fetches).
    pub env: &'static [(&'static str, &'static str)],
    /// The file the runner writes per member (path in `{config}`), if the CLI takes one.
    pub config: Option<ConfigFormat>,
    /// The variable the CLI reads its API key from, when it cannot be told another one's
    /// name: the key of the endpoint's `api_key_env` is copied into it (in the environment
    /// only, never into a file or argv).
    pub key_env: Option<&'static str>,
    /// How `model:` is passed.
    pub model: ModelForm,
    /// How its output is read.
    pub output: OutputKind,
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// How an agent file's `model:` reaches the CLI as `{model}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelForm {
    /// As written (`provider/model`: opencode's form).
    AsWritten,
    /// Without a `provider/` prefix (`anthropic/claude-sonnet-4-5` → `claude-sonnet-4-5`;
    /// an alias such as `sonnet` as written): Claude Code's and Codex's form.
    Bare,
}

/// The per-member configuration file a runtime is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigFormat {
    /// opencode's config JSON (`OPENCODE_CONFIG`): an `mcp.team` local server, an agent
    /// `team-member` whose prompt is the agent file's body, and a `provider` entry for the
    /// endpoint (`@ai-sdk/openai-compatible` or `@ai-sdk/anthropic`, the key as
    /// `{env:NAME}`).
    OpenCode,
    /// Claude Code's `--mcp-config` JSON: `mcpServers.team`, a stdio server.
    ClaudeMcp,
}

/// The machine-readable output a runtime prints on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// `opencode run --format json`: one JSON event per line (`text` parts, `step_finish`
    /// with `tokens`, `error`).
    OpenCodeJson,
    /// `claude -p --output-format stream-json --verbose` (or `json`): the last line is the
    /// `result` event with `result`, `is_error` and `usage`.
    ClaudeJson,
    /// `codex exec --json`: JSON lines (`item.completed` with an `agent_message`,
    /// `turn.completed` with `usage`, `turn.failed`, `error`).
    CodexJson,
}

/// Which wire format an endpoint speaks (a `[providers.NAME]` table's `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointKind {
    /// OpenAI-compatible Chat Completions.
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
}

/// A model server the runtime is pointed at: the `[providers.NAME]` of the configuration
/// that the agent's `model: NAME/…` names, when it sets a `base_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The provider's name (`NAME`).
    pub provider: String,
    /// Its wire format.
    pub kind: EndpointKind,
    /// Its base URL as the configuration gives it (OpenAI kind: ending in `/v1`).
    pub base_url: String,
    /// The variable holding its API key, if any. Only a key the agent was given (its
    /// `env_passthrough:`) is in the CLI's environment.
    pub api_key_env: Option<String>,
}

/// What a member's invocation is built from.
#[derive(Debug, Clone, Default)]
pub struct Facts<'a> {
    /// `model:` as written in the agent file, if any.
    pub model: Option<&'a str>,
    /// The agent file's body (empty: none).
    pub instructions: &'a str,
    /// The `team` binary (its `mcp` subcommand is the MCP server).
    pub team_exe: &'a str,
    /// Where the configuration file will be written (for `{config}`).
    pub config_path: Option<&'a str>,
    /// The endpoint of the model's provider, if configured with a `base_url`.
    pub endpoint: Option<&'a Endpoint>,
}

/// The program and arguments to run, the environment to add, and the configuration file to
/// write (at [`Facts::config_path`]) before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// Program (as on `PATH`) then arguments.
    pub argv: Vec<String>,
    /// Variables to add to the member's environment, in order.
    pub env: Vec<(String, String)>,
    /// The configuration file's text, if the runtime takes one.
    pub config: Option<String>,
}

impl Runtime {
    /// The install hint of a missing program: `npm install -g PACKAGE`.
    pub fn install_hint(&self) -> String {
        format!("npm install -g {}", self.npm_package)
    }

    /// The model as this CLI names it (see [`ModelForm`]).
    pub fn model_arg(&self, model: &str) -> String {
        match self.model {
            ModelForm::AsWritten => model.to_owned(),
            ModelForm::Bare => model
                .split_once('/')
                .map_or(model, |(_, bare)| bare)
                .to_owned(),
        }
    }

    /// Builds the invocation of this runtime for a member described by `facts`.
    pub fn invocation(&self, facts: &Facts<'_>) -> Invocation {
        let values = Values { rt: self, facts };
        let mut argv = vec![self.program.to_owned()];
        for group in self.args {
            if let Some(expanded) = group
                .iter()
                .map(|a| values.expand(a))
                .collect::<Option<Vec<_>>>()
            {
                argv.extend(expanded);
            }
        }
        let mut env: Vec<(String, String)> = self
            .env
            .iter()
            .filter_map(|(k, v)| Some(((*k).to_owned(), values.expand(v)?)))
            .collect();
        let config = self.config.map(|format| match format {
            ConfigFormat::OpenCode => opencode::config(self, facts),
            ConfigFormat::ClaudeMcp => claude::mcp_config(facts),
        });
        if let (
            Some(key_env),
            Some(Endpoint {
                api_key_env: Some(from),
                ..
            }),
        ) = (self.key_env, facts.endpoint)
            && from != key_env
        {
            // Marked for the runner: copy the value of `from`, if the member has it.
            env.push((key_env.to_owned(), format!("{COPY_FROM}{from}")));
        }
        Invocation { argv, env, config }
    }
}

/// An [`Invocation::env`] value that starts with this names a variable of the member's own
/// environment whose value is to be copied (the runner resolves it; a secret never appears
/// in the invocation itself).
pub const COPY_FROM: &str = "$copy-from:";

struct Values<'a> {
    rt: &'a Runtime,
    facts: &'a Facts<'a>,
}

impl Values<'_> {
    fn value(&self, name: &str) -> Option<String> {
        let f = self.facts;
        let endpoint = f.endpoint;
        match name {
            "model" => f.model.map(|m| self.rt.model_arg(m)),
            "instructions" => Some(f.instructions.to_owned()).filter(|s| !s.trim().is_empty()),
            "config" => f.config_path.map(str::to_owned),
            "team_exe" => Some(f.team_exe.to_owned()),
            "provider" => endpoint.map(|e| e.provider.clone()),
            "base_url" => endpoint.map(|e| e.base_url.clone()),
            "anthropic_base_url" => {
                endpoint
                    .filter(|e| e.kind == EndpointKind::Anthropic)
                    .map(|e| {
                        e.base_url
                            .trim_end_matches('/')
                            .trim_end_matches("/v1")
                            .to_owned()
                    })
            }
            "openai_base_url" => endpoint
                .filter(|e| e.kind == EndpointKind::OpenAi)
                .map(|e| e.base_url.clone()),
            "api_key_env" => endpoint.and_then(|e| e.api_key_env.clone()),
            "openai_api_key_env" => endpoint
                .filter(|e| e.kind == EndpointKind::OpenAi)
                .and_then(|e| e.api_key_env.clone()),
            "team_env_toml" => Some(toml_array(TEAM_ENV)),
            _ => None,
        }
    }

    /// `template` with its placeholders replaced, or `None` when one has no value.
    fn expand(&self, template: &str) -> Option<String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            let Some(len) = rest[start..].find('}') else {
                break;
            };
            let inner = &rest[start + 1..start + len];
            let (name, as_toml) = match inner.strip_suffix(":toml") {
                Some(n) => (n, true),
                None => (inner, false),
            };
            if !name.chars().all(|c| c.is_ascii_lowercase() || c == '_') || name.is_empty() {
                out.push_str(&rest[..=start]);
                rest = &rest[start + 1..];
                continue;
            }
            let value = self.value(name)?;
            out.push_str(&rest[..start]);
            if as_toml {
                out.push_str(&toml_string(&value));
            } else {
                out.push_str(&value);
            }
            rest = &rest[start + len + 1..];
        }
        out.push_str(rest);
        Some(out)
    }
}

/// `text` as a TOML basic string (quoted and escaped).
pub fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn toml_array(items: &[&str]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| toml_string(s))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

#[cfg(test)]
mod tests;
