//! What members need to run besides the store: agent definitions, providers, permissions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::RunnerError;
use crate::agent::{AgentCatalog, AgentDef, AgentKind, AgentSource, SourceKind};
use crate::config::Config;
use crate::provider::{CassetteMode, ProviderConfig, ProviderRegistry};
use crate::tools::permission::Permission;
use crate::tools::permission::{
    AgentPermissions, PermissionConfig, PermissionRule, RunPermissions,
};
use team_store::MemberSpec;

/// How an agent runs, once defaults and overrides are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// An external program per turn.
    Command(Vec<String>),
    /// The LLM loop on `provider/model`.
    Llm(String),
}

/// Agent definitions, the provider registry (one rate-limit gate per provider, shared by every
/// member of the runner), the run's permissions, and model defaults.
pub struct AgentRuntime {
    /// The agents of the project.
    pub catalog: AgentCatalog,
    /// The providers.
    pub providers: Arc<ProviderRegistry>,
    /// `--allow` / `--yes` and the terminal prompt gate, shared by all members.
    pub permissions: Arc<RunPermissions>,
    /// `--model` / `TEAM_MODEL` for a run: the model of every LLM agent.
    pub model_override: Option<String>,
    /// `[team] default_model`: the model of agents that name neither a model nor a command.
    pub default_model: Option<String>,
}

impl AgentRuntime {
    /// A runtime from the project's configuration.
    ///
    /// # Errors
    /// An invalid `[providers.NAME]` table.
    pub fn from_config(
        catalog: AgentCatalog,
        config: &Config,
        permissions: Arc<RunPermissions>,
        cassette: CassetteMode,
    ) -> Result<AgentRuntime, RunnerError> {
        let mut tables: BTreeMap<String, ProviderConfig> = BTreeMap::new();
        for (name, table) in &config.providers {
            let pc: ProviderConfig = table.clone().try_into().map_err(|e| {
                RunnerError::Other(format!(
                    "invalid [providers.{name}] in the configuration: {e}"
                ))
            })?;
            tables.insert(name.clone(), pc);
        }
        let providers = ProviderRegistry::new(&tables)
            .map_err(|e| RunnerError::Other(e.to_string()))?
            .with_cassette(cassette);
        Ok(AgentRuntime {
            catalog,
            providers: Arc::new(providers),
            permissions,
            model_override: None,
            default_model: config.team.default_model.as_ref().map(|m| m.to_string()),
        })
    }

    /// How `def` runs: its command, or the LLM loop on the override, its own model, or the
    /// default model (in that order).
    ///
    /// # Errors
    /// A sentence when it can do neither.
    pub fn plan(&self, def: &AgentDef) -> Result<Plan, String> {
        match def.kind() {
            AgentKind::Command { argv } => Ok(Plan::Command(argv)),
            AgentKind::Llm { provider, model } => Ok(Plan::Llm(
                self.model_override
                    .clone()
                    .unwrap_or_else(|| format!("{provider}/{model}")),
            )),
            AgentKind::Unconfigured => self
                .model_override
                .clone()
                .or_else(|| self.default_model.clone())
                .map(Plan::Llm)
                .ok_or_else(|| {
                    format!(
                        "agent {} ({}) names no model and no model is configured: pass --model PROVIDER/MODEL (or set TEAM_MODEL), \
                         e.g. --model openai/gpt-4o-mini with OPENAI_API_KEY set, or --model ollama/llama3.2 for a local Ollama; \
                         or set `default_model` under [team] in .team/config.toml (providers go in [providers.NAME] tables, see `team init`); \
                         or replay a recorded run with --replay CASSETTE",
                        def.name,
                        def.source.path.display()
                    )
                }),
        }
    }

    /// Checks, before anything is written, that agent `name` can run: it exists, and its
    /// program is on `PATH` or its provider is configured (with its API key in the
    /// environment).
    ///
    /// # Errors
    /// A sentence naming the agent and what to fix.
    pub fn check_runnable(&self, name: &str, project_root: &Path) -> Result<(), String> {
        let def = self.catalog.get(name).map_err(|e| e.to_string())?;
        match self.plan(def)? {
            Plan::Command(argv) => crate::command::check_program(&argv, project_root)
                .map(|_| ())
                .map_err(|e| format!("agent {name}: {e}")),
            Plan::Llm(model) => self
                .providers
                .resolve(&model)
                .map(|_| ())
                .map_err(|e| format!("agent {name}: {e}")),
        }
    }
}

/// Where `def` came from as stored with a member: `KIND:PATH` (`team:/p/.team/agents/x.md`).
pub fn spec_source(def: &AgentDef) -> String {
    format!("{}:{}", def.source.kind.label(), def.source.path.display())
}

/// The [`AgentSource`] of a stored `KIND:PATH` (see [`spec_source`]); an unknown kind reads
/// as `team`.
pub fn parse_spec_source(text: &str) -> AgentSource {
    let (kind, path) = text.split_once(':').unwrap_or(("team", text));
    let kind = match kind {
        "builtin" => SourceKind::Builtin,
        "claude" => SourceKind::Claude,
        "opencode" => SourceKind::OpenCode,
        _ => SourceKind::Team,
    };
    AgentSource {
        kind,
        path: PathBuf::from(path),
    }
}

impl AgentRuntime {
    /// What a member of agent `name` is spawned with ([`MemberSpec`]): the definition's text
    /// as read now from its file (re-read and parsed again, so what is stored is what was
    /// validated) and where it came from, and `env_fingerprint`. A built-in agent stores no
    /// text (it is compiled into every runner).
    ///
    /// # Errors
    /// A sentence when the agent is unknown, or its file cannot be read or no longer parses.
    pub fn member_spec(
        &self,
        name: &str,
        env_fingerprint: Option<String>,
    ) -> Result<MemberSpec, String> {
        let def = self.catalog.get(name).map_err(|e| e.to_string())?;
        let (agent_def, agent_source) = if def.source.kind == SourceKind::Builtin {
            (None, None)
        } else {
            let text = std::fs::read_to_string(&def.source.path).map_err(|e| {
                format!("cannot read agent file {}: {e}", def.source.path.display())
            })?;
            AgentDef::from_markdown(&text, def.source.clone()).map_err(|e| e.to_string())?;
            (Some(text), Some(spec_source(def)))
        };
        Ok(MemberSpec {
            agent_def,
            agent_source,
            env_fingerprint,
        })
    }
}

/// The workspace-tool permissions of an agent: its `permission` rules (opencode) and its
/// `tools` list (Claude Code) applied to the workspace tools. Team tools are always offered:
/// they are how a member talks to its team.
pub fn agent_permissions(def: &AgentDef) -> AgentPermissions {
    use crate::agent::{PermissionAction, PermissionRule as AgentRule};
    let level = |a: &PermissionAction| match a {
        PermissionAction::Allow => Permission::Allow,
        PermissionAction::Ask => Permission::Ask,
        PermissionAction::Deny => Permission::Deny,
    };
    let permission = def.permission.as_ref().map(|p| {
        if p.rules.is_empty() {
            PermissionConfig::All(p.default.as_ref().map_or(Permission::Ask, level))
        } else {
            let mut rules: Vec<(String, PermissionRule)> = Vec::new();
            if let Some(d) = &p.default {
                rules.push(("*".into(), PermissionRule::Level(level(d))));
            }
            for (tool, rule) in &p.rules {
                let r = match rule {
                    AgentRule::Always(a) => PermissionRule::Level(level(a)),
                    AgentRule::Patterns(ps) => PermissionRule::Patterns(
                        ps.iter().map(|(pat, a)| (pat.clone(), level(a))).collect(),
                    ),
                };
                rules.push((tool.clone(), r));
            }
            PermissionConfig::Rules(rules)
        }
    });
    let tools = def.tools.as_ref().map(|sel| {
        crate::tools::WorkspaceTools::tool_names()
            .into_iter()
            .filter(|t| sel.allows(t))
            .map(str::to_owned)
            .collect()
    });
    AgentPermissions { permission, tools }
}
