//! Provider configuration: the `[providers.NAME]` TOML table and built-in defaults.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ProviderError;

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

/// Default for `max_tokens`: the completion token limit sent with every request that sets
/// none (some OpenAI-compatible servers otherwise generate until the context is full).
pub const DEFAULT_OPENAI_MAX_TOKENS: u32 = 4096;

/// How a provider is asked for an answer in a JSON shape ([`crate::AnswerFormat`]).
/// TOML: `structured_output = "auto"` (default), `"none"`, or one form by name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StructuredOutput {
    /// Try the forms of the provider's kind in order ([`StructuredOutput::chain`]); a 4xx (or
    /// llama-cpp-python's 500) whose body names the form's field moves to the next form, once,
    /// and it is kept for the run.
    #[default]
    Auto,
    /// Never ask: the shape is only described in the prompt.
    None,
    /// OpenAI: `response_format: {type: "json_schema", json_schema: {name, schema, strict: true}}`
    /// (also vLLM, Ollama `/v1`, llama.cpp's server).
    JsonSchema,
    /// llama-cpp-python's server: `response_format: {type: "json_object", schema}`.
    JsonObject,
    /// llama.cpp's server: a top-level `json_schema` field.
    LlamaCpp,
    /// Ollama: a top-level `format` field holding the schema.
    Ollama,
    /// Anthropic: the schema as a tool the model is made to call (`tool_choice: {type: "tool"}`);
    /// the call's input is the answer.
    Tool,
}

impl StructuredOutput {
    /// The forms tried, in order, for a provider of `kind` with this setting. `Auto`: OpenAI
    /// kind `json_schema`, `json_object`, `llama_cpp`, `ollama`, then none; Anthropic kind
    /// `tool`, then none. Any other setting is that one form.
    pub fn chain(self, kind: ProviderKind) -> &'static [StructuredOutput] {
        use StructuredOutput as S;
        match (self, kind) {
            (S::Auto, ProviderKind::OpenAi) => &[
                S::JsonSchema,
                S::JsonObject,
                S::LlamaCpp,
                S::Ollama,
                S::None,
            ],
            (S::Auto, ProviderKind::Anthropic) => &[S::Tool, S::None],
            (S::None, _) => &[S::None],
            (S::JsonSchema, _) => &[S::JsonSchema],
            (S::JsonObject, _) => &[S::JsonObject],
            (S::LlamaCpp, _) => &[S::LlamaCpp],
            (S::Ollama, _) => &[S::Ollama],
            (S::Tool, _) => &[S::Tool],
        }
    }

    /// The request field this form adds (what a server's 4xx names when it refuses it).
    pub fn field(self) -> Option<&'static str> {
        match self {
            Self::Auto | Self::None => None,
            Self::JsonSchema | Self::JsonObject => Some("response_format"),
            Self::LlamaCpp => Some("json_schema"),
            Self::Ollama => Some("format"),
            Self::Tool => Some("tool_choice"),
        }
    }

    /// The TOML name, e.g. `json_schema`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::None => "none",
            Self::JsonSchema => "json_schema",
            Self::JsonObject => "json_object",
            Self::LlamaCpp => "llama_cpp",
            Self::Ollama => "ollama",
            Self::Tool => "tool",
        }
    }

    /// Whether a provider of `kind` can send this form.
    fn fits(self, kind: ProviderKind) -> bool {
        match self {
            Self::Auto | Self::None => true,
            Self::Tool => kind == ProviderKind::Anthropic,
            _ => kind == ProviderKind::OpenAi,
        }
    }
}

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
    /// How answers in a JSON shape are asked for (default `auto`, see [`StructuredOutput`]).
    pub structured_output: Option<StructuredOutput>,
    /// Completion token limit sent with every request that sets none (default 4096; `0` = send
    /// none, e.g. for OpenAI models that refuse `max_tokens`; Anthropic always gets one).
    pub max_tokens: Option<u32>,
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
    /// How answers in a JSON shape are asked for.
    #[serde(default)]
    pub structured_output: StructuredOutput,
    /// Completion token limit sent when a request sets none; 0 = none sent (OpenAI kind).
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
}

fn default_max_tokens() -> u32 {
    DEFAULT_OPENAI_MAX_TOKENS
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
            structured_output: StructuredOutput::Auto,
            max_tokens: DEFAULT_OPENAI_MAX_TOKENS,
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
            max_retry_after_secs,
            structured_output,
            max_tokens
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
        if !self.structured_output.fits(self.kind) {
            return fail(format!(
                "structured_output = \"{}\" does not fit a provider of kind {:?}; use \"auto\", \"none\", or {}",
                self.structured_output.as_str(),
                self.kind,
                match self.kind {
                    ProviderKind::OpenAi =>
                        "\"json_schema\", \"json_object\", \"llama_cpp\" or \"ollama\"",
                    ProviderKind::Anthropic => "\"tool\"",
                }
            ));
        }
        if self.request_timeout_secs == 0 {
            return fail("request_timeout_secs must be at least 1".into());
        }
        Ok(())
    }
}

/// The structured-output forms one provider instance tries ([`StructuredOutput::chain`]) and
/// the one in use: shared by every member of the run, so a form a server refused once is not
/// sent again.
#[derive(Debug)]
pub(crate) struct FormChain {
    chain: &'static [StructuredOutput],
    at: std::sync::atomic::AtomicUsize,
}

impl FormChain {
    /// The chain of `setting` for a provider of `kind`, at its first form.
    pub fn new(setting: StructuredOutput, kind: ProviderKind) -> Self {
        Self {
            chain: setting.chain(kind),
            at: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The form to send `req` in: [`StructuredOutput::None`] when it asks for no shape.
    pub fn current(&self, req: &crate::ChatRequest) -> StructuredOutput {
        if req.response_format.is_none() {
            return StructuredOutput::None;
        }
        let at = self.at.load(std::sync::atomic::Ordering::Acquire);
        self.chain[at.min(self.chain.len() - 1)]
    }

    /// Whether `err` is the server refusing `form` (an HTTP 4xx other than 408 and 429, or a
    /// 500 as llama-cpp-python sends for a request it cannot validate, whose body names the
    /// form's field) with a form left to try: then the chain moves on to the
    /// next form for the rest of the run (logged once) and the caller sends the request again.
    pub fn refused(&self, form: StructuredOutput, err: &ProviderError, provider: &str) -> bool {
        let Some(field) = form.field() else {
            return false;
        };
        let ProviderError::Http {
            status,
            body_excerpt,
            ..
        } = err
        else {
            return false;
        };
        if !((400..500).contains(status) || *status == 500) || *status == 408 || *status == 429 {
            return false;
        }
        if !body_excerpt.contains(field) {
            return false;
        }
        let Some(i) = self.chain.iter().position(|f| *f == form) else {
            return false;
        };
        if i + 1 >= self.chain.len() {
            return false;
        }
        use std::sync::atomic::Ordering;
        if self
            .at
            .compare_exchange(i, i + 1, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            tracing::warn!(
                provider,
                refused = form.as_str(),
                next = self.chain[i + 1].as_str(),
                "the provider refused structured output as `{}` (HTTP {status}); using `{}` for the rest of the run",
                form.as_str(),
                self.chain[i + 1].as_str()
            );
        }
        true
    }
}
