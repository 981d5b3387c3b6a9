//! What members need to run besides the store: agent definitions, providers, permissions.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::RunnerError;
use crate::agent::{AgentCatalog, AgentDef, AgentKind};
use crate::config::Config;
use crate::provider::{CassetteMode, ProviderConfig, ProviderRegistry};
use crate::tools::permission::Permission;
use crate::tools::permission::{
    AgentPermissions, PermissionConfig, PermissionRule, RunPermissions,
};

/// How an agent runs, once defaults and overrides are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// An external program per turn.
    Command(Vec<String>),
    /// The LLM loop on `provider/model`.
    Llm(String),
}

/// Bounds on what members may start with the `task` tool (`[team] max_depth`,
/// `max_members_per_team`, or a workflow's own values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanoutBounds {
    /// Deepest nesting of members starting members: the lead is depth 0, the members it
    /// starts depth 1, and a member at depth `max_depth` cannot start members (default 2).
    pub max_depth: u32,
    /// Most members the `task` tool may bring a team to, counting every member it ever had
    /// but its lead (default 50).
    pub max_members_per_team: u32,
}

impl Default for FanoutBounds {
    fn default() -> Self {
        Self {
            max_depth: 2,
            max_members_per_team: 50,
        }
    }
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
    /// `[team] sandbox`: how the `bash` tool is confined.
    pub sandbox: crate::tools::workspace::SandboxMode,
    /// Bounds on the `task` tool's fan-out.
    pub bounds: FanoutBounds,
    /// The depth of members known to this process (member id → depth), see
    /// [`FanoutBounds::max_depth`]; members started elsewhere are looked up in the events.
    pub(crate) depths: std::sync::Mutex<std::collections::HashMap<i64, u32>>,
    /// Held while a `task` call checks the bounds and adds its member, so parallel calls of
    /// this process cannot overshoot `max_members_per_team` together.
    pub(crate) spawn_lock: tokio::sync::Mutex<()>,
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
        if config.team.sandbox == crate::tools::workspace::SandboxMode::Off {
            tracing::warn!(
                "`sandbox = \"off\"` in the configuration: the bash tool runs without a sandbox, \
                 with your rights (it can read your files and the runner's environment)"
            );
        }
        Ok(AgentRuntime {
            catalog,
            providers: Arc::new(providers),
            permissions,
            model_override: None,
            default_model: config.team.default_model.as_ref().map(|m| m.to_string()),
            sandbox: config.team.sandbox,
            bounds: FanoutBounds {
                max_depth: config.team.max_depth,
                max_members_per_team: config.team.max_members_per_team,
            },
            depths: Default::default(),
            spawn_lock: Default::default(),
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
