//! What an agent resolves to at run time: its model (and the rule that chose it), and the
//! tools of its `tools:` field that `team` cannot provide.

use std::collections::BTreeMap;
use std::fmt;

use super::tools::is_known_tool;
use super::{AgentDef, AgentKind};

/// What model resolution needs besides the agent file.
#[derive(Debug, Clone, Copy)]
pub struct ModelContext<'a> {
    /// The run's `--model` (`provider/model`): the model of every LLM agent of the run.
    pub run_model: Option<&'a str>,
    /// The model of the team's lead agent, when the lead names one itself.
    pub lead_model: Option<(&'a str, &'a str)>,
    /// `[team] default_model` (or `TEAM_MODEL`).
    pub default_model: Option<&'a str>,
    /// The `[models]` alias table: alias → `provider/model`, built-in defaults merged with
    /// the config (see [`crate::config::Config::model_aliases`]).
    pub aliases: &'a BTreeMap<String, String>,
}

/// Which rule gave an agent its model, in the order they are tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRule {
    /// The run's `--model`, which applies to every LLM agent.
    RunModel,
    /// `model: provider/model` in the agent file.
    AgentFile,
    /// `model: ALIAS` mapped through the `[models]` table.
    Alias {
        /// The alias as written.
        alias: String,
    },
    /// No model (or `inherit`): the team lead's model.
    Lead {
        /// The lead agent's name.
        lead: String,
    },
    /// No model (or `inherit`), no model from the run or the lead: `[team] default_model`.
    ConfigDefault,
}

impl fmt::Display for ModelRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelRule::RunModel => f.write_str("the run's --model (applies to every LLM agent)"),
            ModelRule::AgentFile => f.write_str("`model:` of the agent file"),
            ModelRule::Alias { alias } => write!(f, "alias `{alias}` of the [models] table"),
            ModelRule::Lead { lead } => write!(f, "inherited from the team's lead `{lead}`"),
            ModelRule::ConfigDefault => f.write_str("[team] default_model of the config"),
        }
    }
}

impl ModelRule {
    /// A short machine-readable name: `run`, `agent`, `alias`, `lead` or `default`.
    pub fn key(&self) -> &'static str {
        match self {
            ModelRule::RunModel => "run",
            ModelRule::AgentFile => "agent",
            ModelRule::Alias { .. } => "alias",
            ModelRule::Lead { .. } => "lead",
            ModelRule::ConfigDefault => "default",
        }
    }
}

/// An LLM agent's model (`provider/model`) and the rule that chose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    /// `provider/model`.
    pub model: String,
    /// Which rule applied.
    pub rule: ModelRule,
}

/// Resolves the model of `def`: the run's `--model`; else the file's `provider/model`; else
/// its alias through `[models]`; else (no model, or `inherit`) the lead's model; else
/// `[team] default_model`. `Ok(None)` for a command agent and an agent CLI (`runtime:`, whose model is its own).
///
/// # Errors
/// A sentence naming the agent and what to set: an alias missing from `[models]`, or no
/// model from any rule.
pub fn resolve_model(
    def: &AgentDef,
    ctx: &ModelContext<'_>,
) -> Result<Option<ResolvedModel>, String> {
    let kind = def.kind();
    if let AgentKind::Command { .. } | AgentKind::Runtime { .. } = kind {
        return Ok(None);
    }
    let resolved = |model: &str, rule| {
        Ok(Some(ResolvedModel {
            model: model.to_owned(),
            rule,
        }))
    };
    if let Some(m) = ctx.run_model {
        return resolved(m, ModelRule::RunModel);
    }
    match kind {
        AgentKind::Llm { provider, model } => {
            resolved(&format!("{provider}/{model}"), ModelRule::AgentFile)
        }
        AgentKind::LlmAlias { alias } => match ctx.aliases.get(&alias) {
            Some(m) => resolved(m, ModelRule::Alias { alias }),
            None => Err(format!(
                "agent {} ({}): model alias `{alias}` is not in the [models] table; known \
                 aliases: {}; add `{alias} = \"provider/model\"` under [models] in \
                 .team/config.toml, or write `model: provider/model`",
                def.name,
                def.source.path.display(),
                ctx.aliases.keys().cloned().collect::<Vec<_>>().join(", ")
            )),
        },
        AgentKind::Unconfigured | AgentKind::Command { .. } | AgentKind::Runtime { .. } => {
            if let Some((lead, m)) = ctx.lead_model {
                return resolved(
                    m,
                    ModelRule::Lead {
                        lead: lead.to_owned(),
                    },
                );
            }
            if let Some(m) = ctx.default_model {
                return resolved(m, ModelRule::ConfigDefault);
            }
            Err(format!(
                "agent {} ({}) names no model and no model is configured: pass --model PROVIDER/MODEL (or set TEAM_MODEL), \
                 e.g. --model openai/gpt-4o-mini with OPENAI_API_KEY set, or --model ollama/llama3.2 for a local Ollama; \
                 or set `default_model` under [team] in .team/config.toml (providers go in [providers.NAME] tables, see `team init`); \
                 or replay a recorded run with --replay CASSETTE",
                def.name,
                def.source.path.display()
            ))
        }
    }
}

/// A tool named in an agent's `tools:` that `team` cannot provide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolProblem {
    /// The tool as written (after alias mapping).
    pub tool: String,
    /// Why it is not offered.
    pub reason: &'static str,
}

/// Claude Code tools `team` has no counterpart for (lowercase).
const CLAUDE_ONLY_TOOLS: &[&str] = &[
    "todowrite",
    "todoread",
    "notebookedit",
    "notebookread",
    "bashoutput",
    "killshell",
    "killbash",
    "slashcommand",
    "exitplanmode",
    "skill",
];

/// The tools an agent asks for (in `tools:`; toggles set to `false` excluded) that `team`
/// does not offer: web tools, MCP tools, Claude Code tools without a counterpart, unknown
/// names. Such tools are not offered to the model; this list reports them.
pub fn tool_problems(def: &AgentDef) -> Vec<ToolProblem> {
    let names: Vec<&str> = def
        .tools
        .as_ref()
        .map(|sel| sel.enabled_names())
        .unwrap_or_default();
    names
        .into_iter()
        .filter(|n| !is_known_tool(n) && !n.contains(['*', '?']))
        .map(|n| {
            let lower = n.to_ascii_lowercase();
            let reason = if lower == "webfetch" || lower == "websearch" {
                "team has no web tools"
            } else if lower.starts_with("mcp__") || lower.starts_with("mcp_") {
                "team does not connect to MCP servers"
            } else if CLAUDE_ONLY_TOOLS.contains(&lower.as_str()) {
                "a Claude Code tool that team does not provide"
            } else {
                "unknown tool"
            };
            ToolProblem {
                tool: n.to_owned(),
                reason,
            }
        })
        .collect()
}

/// The tools an LLM agent is offered: the workspace tools its `tools:` selection allows
/// (every one when unset), then the team tools (always offered: they are how a member talks
/// to its team). Permissions (`permission:`, `--allow`) still apply to each call.
pub fn offered_tools(def: &AgentDef) -> Vec<String> {
    use team_tools::registry::{ToolKind, names_of};
    names_of(ToolKind::Workspace)
        .filter(|t| def.tools.as_ref().is_none_or(|sel| sel.allows(t)))
        .chain(names_of(ToolKind::Team))
        .map(str::to_owned)
        .collect()
}
