//! What members need to run besides the store: agent definitions, providers, permissions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::RunnerError;
use team_agent::config::Config;
use team_agent::{
    AgentCatalog, AgentDef, AgentKind, AgentSource, ModelContext, ResolvedModel, SourceKind,
    resolve_model,
};
use team_provider::{CassetteMode, ProviderConfig, ProviderRegistry};
use team_store::MemberSpec;
use team_tools::permission::RunPermissions;

/// How an agent runs, once defaults and overrides are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// An external program per turn.
    Command(Vec<String>),
    /// The LLM loop on `provider/model`.
    Llm(String),
    /// An agent CLI (`runtime:`) per turn: the runtime's name (one of
    /// `team_agent::runtime::RUNTIMES`) and the model given to it (as written).
    Runtime {
        /// `opencode`, `claude` or `codex`.
        runtime: String,
        /// `model:` as written, if any.
        model: Option<String>,
    },
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

pub use team_agent::config::LeadTools;

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
    /// The `[models]` alias table with its built-in defaults (alias → `provider/model`).
    pub model_aliases: BTreeMap<String, String>,
    /// `[team] max_message_bytes`: the largest message body its members may send (bytes).
    pub max_message_bytes: usize,
    /// The variables holding the providers' API keys (`api_key_env`): never passed to a
    /// command agent unless its file lists them in `env_passthrough`.
    pub provider_key_envs: Vec<String>,
    /// `[team] sandbox`: how the `bash` tool is confined.
    pub sandbox: team_tools::workspace::SandboxMode,
    /// Bounds on the `task` tool's fan-out.
    pub bounds: FanoutBounds,
    /// The `[providers.NAME]` tables that set a `base_url`: an agent CLI whose `model:`
    /// names one of them is pointed at it (see [`AgentRuntime::endpoint`]).
    pub endpoint_providers: std::collections::BTreeSet<String>,
    /// `[hooks]`: the commands run on a member's events (see [`crate::hooks`]).
    pub hooks: team_agent::config::HooksConfig,
    /// `[team] lead_tools`: the tools an LLM lead is offered.
    pub lead_tools: LeadTools,
    /// `[prices]`: `provider/model` → its price (a run's `--max-cost`).
    pub prices: BTreeMap<String, team_agent::config::Price>,
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
        let endpoint_providers = tables
            .iter()
            .filter(|(_, pc)| pc.base_url.is_some())
            .map(|(name, _)| name.clone())
            .collect();
        let mut provider_key_envs: Vec<String> = tables
            .values()
            .filter_map(|pc| pc.api_key_env.clone())
            .collect();
        provider_key_envs.extend(
            [
                "OPENAI_API_KEY",
                "ANTHROPIC_API_KEY",
                "OPENROUTER_API_KEY",
                "GROQ_API_KEY",
            ]
            .map(String::from),
        );
        let providers = ProviderRegistry::new(&tables)
            .map_err(|e| RunnerError::Other(e.to_string()))?
            .with_cassette(cassette);
        if config.team.sandbox == team_tools::workspace::SandboxMode::Off {
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
            model_aliases: config.model_aliases(),
            provider_key_envs,
            max_message_bytes: config.team.max_message_bytes,
            sandbox: config.team.sandbox,
            bounds: FanoutBounds {
                max_depth: config.team.max_depth,
                max_members_per_team: config.team.max_members_per_team,
            },
            endpoint_providers,
            hooks: config.hooks.clone(),
            lead_tools: config.team.lead_tools,
            prices: config.prices.clone(),
            depths: Default::default(),
            spawn_lock: Default::default(),
        })
    }

    /// How `def` runs, with no team lead to inherit a model from (see [`Self::plan_for`]).
    ///
    /// # Errors
    /// A sentence when it can do neither.
    pub fn plan(&self, def: &AgentDef) -> Result<Plan, String> {
        self.plan_for(def, None)
    }

    /// How `def` runs in a team whose lead agent is `lead_agent`: its command, or the LLM
    /// loop on the model [`Self::resolve_model`] gives.
    ///
    /// # Errors
    /// A sentence when it can do neither.
    pub fn plan_for(&self, def: &AgentDef, lead_agent: Option<&str>) -> Result<Plan, String> {
        match def.kind() {
            AgentKind::Command { argv } => return Ok(Plan::Command(argv)),
            AgentKind::Runtime { runtime, model } => return Ok(Plan::Runtime { runtime, model }),
            _ => {}
        }
        match self.resolve_model(def, lead_agent)? {
            Some(r) => Ok(Plan::Llm(r.model)),
            None => Err(format!("agent {} has no model", def.name)),
        }
    }

    /// The model of `def` and the rule that chose it (see [`team_agent::resolve_model`]):
    /// the run's `--model`, the file's model or alias (through `[models]`), the model the
    /// team's lead agent `lead_agent` names itself, `[team] default_model`. `Ok(None)` for a
    /// command agent.
    ///
    /// # Errors
    /// A sentence naming the agent and what to set.
    pub fn resolve_model(
        &self,
        def: &AgentDef,
        lead_agent: Option<&str>,
    ) -> Result<Option<ResolvedModel>, String> {
        let base = ModelContext {
            run_model: self.model_override.as_deref(),
            lead_model: None,
            default_model: self.default_model.as_deref(),
            aliases: &self.model_aliases,
        };
        // The lead's own model: from its file (or alias), not inherited in turn.
        let lead = lead_agent
            .filter(|l| *l != def.name)
            .and_then(|l| self.catalog.get(l).ok())
            .and_then(|lead| {
                let own = ModelContext {
                    run_model: None,
                    default_model: None,
                    ..base
                };
                resolve_model(lead, &own).ok().flatten()
            });
        let ctx = ModelContext {
            lead_model: lead
                .as_ref()
                .zip(lead_agent)
                .map(|(r, name)| (name, r.model.as_str())),
            ..base
        };
        resolve_model(def, &ctx)
    }

    /// Checks, before anything is written, that agent `name` can run: it exists, and its
    /// program is on `PATH` or its provider is configured (with its API key in the
    /// environment).
    ///
    /// # Errors
    /// A sentence naming the agent and what to fix.
    pub fn check_runnable(&self, name: &str, project_root: &Path) -> Result<(), String> {
        self.check_runnable_in(name, project_root, None)
    }

    /// [`Self::check_runnable`] for a member of a team whose lead agent is `lead_agent` (an
    /// agent without a model of its own inherits the lead's).
    ///
    /// # Errors
    /// A sentence naming the agent and what to fix.
    pub fn check_runnable_in(
        &self,
        name: &str,
        project_root: &Path,
        lead_agent: Option<&str>,
    ) -> Result<(), String> {
        let def = self.catalog.get(name).map_err(|e| e.to_string())?;
        match self.plan_for(def, lead_agent)? {
            Plan::Command(argv) => crate::command::check_program(&argv, project_root)
                .map(|_| ())
                .map_err(|e| format!("agent {name}: {e}")),
            Plan::Llm(model) => self
                .providers
                .resolve(&model)
                .map(|_| ())
                .map_err(|e| format!("agent {name}: {e}")),
            Plan::Runtime { runtime, .. } => {
                let rt = team_agent::runtime::find(&runtime).ok_or_else(|| {
                    format!(
                        "agent {name}: unknown runtime `{runtime}`; known: {}",
                        team_agent::runtime::known_names()
                    )
                })?;
                crate::agent_cli::check_program(rt, std::env::var_os("PATH"), project_root)
                    .map_err(|e| format!("agent {name}: {e}"))
            }
        }
    }

    /// The endpoint an agent CLI with `model:` `model` is pointed at: the provider the model
    /// names (`NAME/…`) when its `[providers.NAME]` sets a `base_url` (else `None`: the CLI
    /// uses its own provider settings).
    pub fn endpoint(&self, model: Option<&str>) -> Option<team_agent::runtime::Endpoint> {
        let (provider, _) = model?.split_once('/')?;
        if !self.endpoint_providers.contains(provider) {
            return None;
        }
        let settings = self.providers.settings(provider)?;
        Some(team_agent::runtime::Endpoint {
            provider: provider.to_owned(),
            kind: match settings.kind {
                team_provider::ProviderKind::Anthropic => {
                    team_agent::runtime::EndpointKind::Anthropic
                }
                team_provider::ProviderKind::OpenAi => team_agent::runtime::EndpointKind::OpenAi,
            },
            base_url: settings.base_url.clone(),
            api_key_env: settings.api_key_env.clone(),
        })
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
            retry: def.retry_policy(),
            on_ask: None,
        })
    }

    /// What a member of agent `name` added by a runner itself (a workflow, the `task` tool)
    /// is spawned with: only its agent's retry policy (`retries`, `backoff`; the default
    /// when the agent is unknown here, which the member's own start then reports).
    pub fn retry_spec(&self, name: &str) -> MemberSpec {
        MemberSpec {
            retry: self
                .catalog
                .get(name)
                .map(AgentDef::retry_policy)
                .unwrap_or_default(),
            ..MemberSpec::default()
        }
    }
}
