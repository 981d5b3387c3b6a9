//! `team-provider`: LLM provider clients for the `team` agent loop.
//!
//! For: one chat call to a model server in its wire format (OpenAI-compatible Chat
//! Completions, Anthropic Messages), retries, rate gates, API keys from the environment, and
//! cassettes that record and replay calls. Not for: the conversation loop, tools or agent files
//! (`team-runner`, `team-tools`, `team-agent`); it knows nothing of teams.
//!
//! - [`Provider`]: one non-streaming chat call ([`ChatRequest`] → [`ChatResponse`]).
//! - [`HttpProvider`]: the one call path, on `reqwest`, with per-attempt timeouts, exponential
//!   backoff with jitter on 408/429/5xx/connection errors/timeouts, `Retry-After` (seconds or HTTP
//!   date), and a per-provider [`RateGate`] (`max_concurrent_requests` in flight; a 429
//!   `Retry-After` pauses every caller of that provider), over a [`WireFormat`]:
//!   [`OpenAiProvider`] (Chat Completions, OpenAI-compatible servers, [`wire::openai`]) and
//!   [`AnthropicProvider`] (Messages API, [`wire::anthropic`]).
//! - [`ProviderRegistry`]: `[providers.NAME]` configs overlaid on built-ins, `provider/model` resolution,
//!   lazily created shared instances, API keys read from env vars (never printed: [`ApiKey`]).
//! - Cassettes: [`RecordingProvider`] wraps any provider and writes its calls as JSON Lines,
//!   [`ReplayProvider`] serves them by (member, turn) instead of a provider.
//! - [`CallFacts`] / [`chat_with_facts`]: provider, model, tokens, latency, attempts, status for events.

mod body;
mod cassette;
mod config;
mod error;
mod gate;
mod http;
mod probe;
mod provider;
mod registry;
mod secret;
mod types;
pub mod wire;

use std::future::Future;
use std::pin::Pin;

pub use cassette::{
    Cassette, CassetteEntry, CassetteMode, CassetteWriter, RecordingProvider, ReplayProvider,
};
pub use config::{
    DEFAULT_MAX_CONCURRENT_REQUESTS, DEFAULT_MAX_RETRIES, DEFAULT_MAX_RETRY_AFTER_SECS,
    DEFAULT_OPENAI_MAX_TOKENS, DEFAULT_REQUEST_TIMEOUT_SECS, DEFAULT_RETRY_BASE_MS,
    DEFAULT_RETRY_MAX_MS, EnvFn, ProviderConfig, ProviderKind, ProviderSettings, StructuredOutput,
    process_env,
};
pub use error::{BODY_EXCERPT_CHARS, ProviderError};
pub use gate::RateGate;
pub use probe::{ProbeOutcome, probe, probe_url};
pub use provider::{AnthropicProvider, HttpProvider, OpenAiProvider};
pub use registry::ProviderRegistry;
pub use secret::ApiKey;
pub use types::{
    AnswerFormat, CallContext, CallFacts, ChatMessage, ChatRequest, ChatResponse, ToolCall,
    ToolSpec, Usage, chat_with_facts,
};
pub use wire::WireFormat;
pub use wire::anthropic::{ANTHROPIC_VERSION, DEFAULT_MAX_TOKENS};

/// A boxed, `Send` future (the return type of [`Provider::chat`]).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An LLM provider: one non-streaming chat call per [`Provider::chat`]. Implementations are shared
/// (`Arc<dyn Provider>`) by all members using the provider.
pub trait Provider: Send + Sync {
    /// Provider name as configured, e.g. `openai`, `anthropic`, `ollama`.
    fn name(&self) -> &str;

    /// Sends `req` on behalf of `ctx` (member and turn appear in errors and cassettes).
    ///
    /// Errors: [`ProviderError`] (HTTP status with body excerpt, transport, unreadable reply, rate limit,
    /// cassette miss), never containing the API key.
    fn chat<'a>(
        &'a self,
        ctx: &'a CallContext,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>>;
}
