//! Provider configuration: the `[providers.NAME]` TOML table and built-in defaults.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::provider::ProviderError;

/// Reads an environment variable; injectable so tests never touch the process environment.
pub type EnvFn = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The process environment as an [`EnvFn`] (unset or non-UTF-8 variables read as None).
pub fn process_env() -> EnvFn {
    Arc::new(|name| std::env::var(name).ok())
}

/// Default for `max_concurrent_requests`.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 8;
/// Default for `request_timeout_secs` (per attempt).
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 120;
/// Default for `max_retries` (attempts = max_retries + 1).
pub const DEFAULT_MAX_RETRIES: u32 = 5;
/// Default for `retry_base_ms` (first backoff delay).
pub const DEFAULT_RETRY_BASE_MS: u64 = 500;
/// Default for `retry_max_ms` (longest backoff delay).
pub const DEFAULT_RETRY_MAX_MS: u64 = 30_000;
/// Default for `max_retry_after_secs` (longest `Retry-After` we wait for).
pub const DEFAULT_MAX_RETRY_AFTER_SECS: u64 = 600;

/// Wire protocol of a provider. TOML: `"openai"` or `"anthropic"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenAI-compatible Chat Completions (OpenAI, OpenRouter, Groq, vLLM, llama.cpp, Ollama, LM Studio).
    #[serde(alias = "openai-compatible", alias = "openai_compatible")]
    OpenAi,
    /// Anthropic Messages API.
    Anthropic,
}

impl ProviderKind {
    /// Kind used when a config omits `kind`: Anthropic for the name `anthropic` or a base URL on
    /// `anthropic.com`, else OpenAI-compatible.
    pub fn infer(name: &str, base_url: Option<&str>) -> Self {
        if name == "anthropic" || base_url.is_some_and(|u| u.contains("anthropic.com")) {
            Self::Anthropic
        } else {
            Self::OpenAi
        }
    }
}

/// One `[providers.NAME]` table of `.team/config.toml`; every field optional, overlaid on the
/// built-in defaults of NAME (see [`ProviderSettings::builtin`]) or the generic defaults.
///
/// ```toml
/// [providers.openrouter]
/// base_url = "https://openrouter.ai/api/v1"
/// api_key_env = "OPENROUTER_API_KEY"
/// max_concurrent_requests = 4
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Wire protocol; inferred when omitted (see [`ProviderKind::infer`]).
    pub kind: Option<ProviderKind>,
    /// Base URL. OpenAI kind: requests go to `{base_url}/chat/completions` (so include `/v1`).
    /// Anthropic kind: requests go to `{base_url}/v1/messages`, or `{base_url}/messages` when
    /// base_url already ends in `/v1`.
    pub base_url: Option<String>,
    /// Name of the environment variable holding the API key; `""` = no key (local servers).
    pub api_key_env: Option<String>,
    /// Requests in flight at once for this provider, across all members (default 8).
    pub max_concurrent_requests: Option<usize>,
    /// Timeout of one HTTP attempt in seconds (default 120).
    pub request_timeout_secs: Option<u64>,
    /// Retries after the first attempt on 408, 429, 5xx, connection errors and timeouts (default 5).
    pub max_retries: Option<u32>,
    /// First backoff delay in ms, doubled each retry, with jitter (default 500).
    pub retry_base_ms: Option<u64>,
    /// Longest backoff delay in ms (default 30000).
    pub retry_max_ms: Option<u64>,
    /// Longest `Retry-After` in seconds that is waited for; longer ones fail at once (default 600).
    pub max_retry_after_secs: Option<u64>,
}

/// Complete settings of one provider, after overlaying a [`ProviderConfig`] on the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderSettings {
    /// Provider name (the `provider/` prefix of model strings).
    pub name: String,
    /// Wire protocol.
    pub kind: ProviderKind,
    /// Base URL without a trailing `/` (see [`ProviderConfig::base_url`]).
    pub base_url: String,
    /// Environment variable with the API key; None = send no key.
    pub api_key_env: Option<String>,
    /// Requests in flight at once, across all members (≥ 1).
    pub max_concurrent_requests: usize,
    /// Timeout of one HTTP attempt, in seconds (≥ 1).
    pub request_timeout_secs: u64,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff delay, in ms.
    pub retry_base_ms: u64,
    /// Longest backoff delay, in ms.
    pub retry_max_ms: u64,
    /// Longest honoured `Retry-After`, in seconds.
    pub max_retry_after_secs: u64,
}

impl ProviderSettings {
    /// Settings with generic defaults (8 in flight, 120 s timeout, 5 retries, 500..30000 ms backoff, no key).
    pub fn new(name: impl Into<String>, kind: ProviderKind, base_url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind,
            base_url: base_url.into().trim_end_matches('/').to_string(),
            api_key_env: None,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            request_timeout_secs: DEFAULT_REQUEST_TIMEOUT_SECS,
            max_retries: DEFAULT_MAX_RETRIES,
            retry_base_ms: DEFAULT_RETRY_BASE_MS,
            retry_max_ms: DEFAULT_RETRY_MAX_MS,
            max_retry_after_secs: DEFAULT_MAX_RETRY_AFTER_SECS,
        }
    }

    /// Sets the API key environment variable name.
    pub fn with_api_key_env(mut self, var: impl Into<String>) -> Self {
        self.api_key_env = Some(var.into());
        self
    }

    /// Names with built-in defaults.
    pub const BUILTIN_NAMES: [&'static str; 5] =
        ["anthropic", "groq", "ollama", "openai", "openrouter"];

    /// Built-in defaults for well-known names:
    /// - `openai`: base from env `OPENAI_BASE_URL`, else `https://api.openai.com/v1`; key `OPENAI_API_KEY`.
    /// - `anthropic`: `https://api.anthropic.com`; key `ANTHROPIC_API_KEY`.
    /// - `ollama`: `http://127.0.0.1:11434/v1`; no key.
    /// - `openrouter`: `https://openrouter.ai/api/v1`; key `OPENROUTER_API_KEY`.
    /// - `groq`: `https://api.groq.com/openai/v1`; key `GROQ_API_KEY`.
    pub fn builtin(name: &str, env: &EnvFn) -> Option<Self> {
        let s = match name {
            "openai" => {
                let base = env("OPENAI_BASE_URL")
                    .filter(|v| !v.trim().is_empty())
                    .unwrap_or_else(|| "https://api.openai.com/v1".into());
                Self::new(name, ProviderKind::OpenAi, base).with_api_key_env("OPENAI_API_KEY")
            }
            "anthropic" => Self::new(name, ProviderKind::Anthropic, "https://api.anthropic.com")
                .with_api_key_env("ANTHROPIC_API_KEY"),
            "ollama" => Self::new(name, ProviderKind::OpenAi, "http://127.0.0.1:11434/v1"),
            "openrouter" => Self::new(name, ProviderKind::OpenAi, "https://openrouter.ai/api/v1")
                .with_api_key_env("OPENROUTER_API_KEY"),
            "groq" => Self::new(name, ProviderKind::OpenAi, "https://api.groq.com/openai/v1")
                .with_api_key_env("GROQ_API_KEY"),
            _ => return None,
        };
        Some(s)
    }

    /// Overlays `config` on the built-in defaults of `name` (or generic defaults) and validates.
    ///
    /// Errors: [`ProviderError::Config`] when there is no base URL (no built-in and none configured), the base
    /// URL is not http(s), or `max_concurrent_requests` / `request_timeout_secs` is 0.
    pub fn resolve(
        name: &str,
        config: &ProviderConfig,
        env: &EnvFn,
    ) -> Result<Self, ProviderError> {
        let builtin = Self::builtin(name, env);
        let base_url = match (&config.base_url, &builtin) {
            (Some(url), _) => url.clone(),
            (None, Some(b)) => b.base_url.clone(),
            (None, None) => {
                return Err(ProviderError::Config {
                    provider: name.to_string(),
                    reason: format!(
                        "base_url is missing and `{name}` has no built-in default; set base_url under [providers.{name}]"
                    ),
                });
            }
        };
        let kind = config
            .kind
            .or(builtin
                .as_ref()
                .filter(|_| config.base_url.is_none())
                .map(|b| b.kind))
            .unwrap_or_else(|| ProviderKind::infer(name, Some(&base_url)));
        let mut s = builtin
            .map(|b| Self {
                kind,
                base_url: base_url.trim_end_matches('/').to_string(),
                ..b
            })
            .unwrap_or_else(|| Self::new(name, kind, &base_url));
        if let Some(var) = &config.api_key_env {
            s.api_key_env = (!var.trim().is_empty()).then(|| var.trim().to_string());
        }
        macro_rules! overlay {
            ($($f:ident),*) => { $( if let Some(v) = config.$f { s.$f = v; } )* };
        }
        overlay!(
            max_concurrent_requests,
            request_timeout_secs,
            max_retries,
            retry_base_ms,
            retry_max_ms,
            max_retry_after_secs
        );
        s.validate()?;
        Ok(s)
    }

    /// Checks the settings. Errors: [`ProviderError::Config`] naming the field and the fix.
    pub fn validate(&self) -> Result<(), ProviderError> {
        let fail = |reason: String| {
            Err(ProviderError::Config {
                provider: self.name.clone(),
                reason,
            })
        };
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return fail(format!(
                "base_url `{}` must start with http:// or https://",
                self.base_url
            ));
        }
        if self.max_concurrent_requests == 0 {
            return fail("max_concurrent_requests must be at least 1".into());
        }
        if self.request_timeout_secs == 0 {
            return fail("request_timeout_secs must be at least 1".into());
        }
        Ok(())
    }
}
