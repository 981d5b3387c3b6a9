//! Provider registry: settings for every known provider, lazily created shared instances, and
//! resolution of `provider/model` strings.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crate::cassette::{CassetteMode, RecordingProvider, ReplayProvider};
use crate::config::{EnvFn, process_env};
use crate::{
    AnthropicProvider, ApiKey, OpenAiProvider, Provider, ProviderConfig, ProviderError,
    ProviderKind, ProviderSettings,
};

/// Known providers (built-ins overlaid with `[providers.NAME]` tables) and their shared instances.
///
/// One instance per provider name is created on first use and shared by every member, so the
/// rate-limit gate (`max_concurrent_requests`, `Retry-After` pauses) is per provider, not per member.
pub struct ProviderRegistry {
    settings: BTreeMap<String, ProviderSettings>,
    env: EnvFn,
    mode: CassetteMode,
    instances: Mutex<HashMap<String, Arc<dyn Provider>>>,
}

impl std::fmt::Debug for ProviderRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderRegistry")
            .field("settings", &self.settings)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl ProviderRegistry {
    /// Registry from `[providers.NAME]` tables, reading the process environment (API keys,
    /// `OPENAI_BASE_URL`).
    ///
    /// Errors: [`ProviderError::Config`] for an invalid table (see [`ProviderSettings::resolve`]).
    pub fn new(configs: &BTreeMap<String, ProviderConfig>) -> Result<Self, ProviderError> {
        Self::with_env(configs, process_env())
    }

    /// Like [`ProviderRegistry::new`] with an injected environment (tests).
    ///
    /// Errors: [`ProviderError::Config`] for an invalid table.
    pub fn with_env(
        configs: &BTreeMap<String, ProviderConfig>,
        env: EnvFn,
    ) -> Result<Self, ProviderError> {
        let mut settings = BTreeMap::new();
        for name in ProviderSettings::BUILTIN_NAMES {
            if let Some(s) = ProviderSettings::builtin(name, &env) {
                settings.insert(name.to_string(), s);
            }
        }
        for (name, config) in configs {
            if name.is_empty() || name.contains('/') {
                return Err(ProviderError::Config {
                    provider: name.clone(),
                    reason: "a provider name must be non-empty and contain no `/`".into(),
                });
            }
            settings.insert(name.clone(), ProviderSettings::resolve(name, config, &env)?);
        }
        Ok(Self {
            settings,
            env,
            mode: CassetteMode::Off,
            instances: Mutex::new(HashMap::new()),
        })
    }

    /// Records or replays every provider handed out from now on (instances created before are kept
    /// as they are, so set this right after construction).
    pub fn with_cassette(mut self, mode: CassetteMode) -> Self {
        self.mode = mode;
        self.instances = Mutex::new(HashMap::new());
        self
    }

    /// Known provider names, sorted.
    pub fn known(&self) -> Vec<&str> {
        self.settings.keys().map(String::as_str).collect()
    }

    /// Settings of a provider.
    pub fn settings(&self, name: &str) -> Option<&ProviderSettings> {
        self.settings.get(name)
    }

    /// Splits `provider/model` at the first `/` (the model part may contain more `/`).
    ///
    /// Errors: [`ProviderError::BadModel`] when there is no `/` or either side is empty.
    pub fn parse_model(model: &str) -> Result<(&str, &str), ProviderError> {
        let bad = |reason: &str| ProviderError::BadModel {
            model: model.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = model.trim();
        if trimmed.is_empty() {
            return Err(bad("it is empty"));
        }
        let (provider, name) = trimmed
            .split_once('/')
            .ok_or_else(|| bad("there is no `/` between provider and model"))?;
        if provider.trim().is_empty() {
            return Err(bad("the provider part before `/` is empty"));
        }
        if name.trim().is_empty() {
            return Err(bad("the model part after `/` is empty"));
        }
        Ok((provider.trim(), name.trim()))
    }

    /// Resolves `provider/model` to the shared provider instance and the model name to send.
    ///
    /// Errors: [`ProviderError::BadModel`], [`ProviderError::UnknownProvider`] (lists known names),
    /// [`ProviderError::MissingApiKey`] (names the variable), [`ProviderError::Config`].
    pub fn resolve(&self, model: &str) -> Result<(Arc<dyn Provider>, String), ProviderError> {
        let (provider, name) = Self::parse_model(model)?;
        // A replay needs no provider settings: the cassette answers for any provider name.
        let replaying = matches!(self.mode, CassetteMode::Replay(_));
        if !replaying && !self.settings.contains_key(provider) {
            return Err(ProviderError::UnknownProvider {
                provider: provider.to_string(),
                model: model.to_string(),
                known: self.known().join(", "),
            });
        }
        Ok((self.provider(provider)?, name.to_string()))
    }

    /// The shared instance for a provider name, created on first use (the API key is read then).
    ///
    /// Errors: [`ProviderError::UnknownProvider`], [`ProviderError::MissingApiKey`], [`ProviderError::Config`].
    pub fn provider(&self, name: &str) -> Result<Arc<dyn Provider>, ProviderError> {
        if let CassetteMode::Replay(cassette) = &self.mode {
            let mut instances = self.instances.lock().unwrap_or_else(|e| e.into_inner());
            let p = instances
                .entry(name.to_string())
                .or_insert_with(|| Arc::new(ReplayProvider::new(name, cassette.clone())));
            return Ok(p.clone());
        }
        let settings = self
            .settings
            .get(name)
            .ok_or_else(|| ProviderError::UnknownProvider {
                provider: name.to_string(),
                model: format!("{name}/…"),
                known: self.known().join(", "),
            })?;
        let mut instances = self.instances.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = instances.get(name) {
            return Ok(p.clone());
        }
        let created: Arc<dyn Provider> = match &self.mode {
            CassetteMode::Replay(cassette) => Arc::new(ReplayProvider::new(name, cassette.clone())),
            CassetteMode::Off => self.create(settings)?,
            CassetteMode::Record(writer) => Arc::new(RecordingProvider::new(
                self.create(settings)?,
                writer.clone(),
            )),
        };
        instances.insert(name.to_string(), created.clone());
        Ok(created)
    }

    fn create(&self, settings: &ProviderSettings) -> Result<Arc<dyn Provider>, ProviderError> {
        let key = match &settings.api_key_env {
            None => None,
            Some(var) => Some((self.env)(var).and_then(ApiKey::new).ok_or_else(|| {
                ProviderError::MissingApiKey {
                    provider: settings.name.clone(),
                    env_var: var.clone(),
                }
            })?),
        };
        Ok(match settings.kind {
            ProviderKind::OpenAi => Arc::new(OpenAiProvider::new(settings.clone(), key)?),
            ProviderKind::Anthropic => Arc::new(AnthropicProvider::new(settings.clone(), key)?),
        })
    }
}
