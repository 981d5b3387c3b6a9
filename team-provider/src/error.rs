//! The provider error type. Messages never contain API keys: bodies and transport messages are
//! scrubbed of the provider's key before they are stored.

use serde::{Deserialize, Serialize};

/// Longest body excerpt kept in an error, in characters.
pub const BODY_EXCERPT_CHARS: usize = 500;

/// Why a provider call (or provider lookup) failed. Serializable so cassettes can replay errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProviderError {
    /// The `provider/` prefix of a model string names no configured provider.
    #[error(
        "unknown provider `{provider}` in model `{model}`; known providers: {known}; \
         configure one under [providers.{provider}] in .team/config.toml (kind = \"openai\" or \"anthropic\", base_url, api_key_env)"
    )]
    UnknownProvider {
        /// The unknown name.
        provider: String,
        /// The full model string.
        model: String,
        /// Known provider names, comma separated.
        known: String,
    },
    /// A model string is not `provider/model`.
    #[error(
        "bad model string `{model}`: {reason}; expected `provider/model`, e.g. `openai/gpt-4o-mini`, `anthropic/claude-sonnet-4-5` or `ollama/llama3.2`"
    )]
    BadModel {
        /// The model string as given.
        model: String,
        /// What is wrong.
        reason: String,
    },
    /// The provider needs an API key and its environment variable is unset or empty.
    #[error(
        "provider `{provider}` needs an API key: environment variable {env_var} is not set or is empty; \
         export it, or set api_key_env under [providers.{provider}] in .team/config.toml"
    )]
    MissingApiKey {
        /// Provider name.
        provider: String,
        /// The variable's name (never its value).
        env_var: String,
    },
    /// A provider configuration is invalid.
    #[error("invalid configuration for provider `{provider}` in .team/config.toml: {reason}")]
    Config {
        /// Provider name.
        provider: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The server answered with a non-success HTTP status (after retries when it was retryable).
    #[error(
        "provider `{provider}` answered HTTP {status} to member `{member}` after {attempts} attempt(s): {body_excerpt}"
    )]
    Http {
        /// Provider name.
        provider: String,
        /// Calling member.
        member: String,
        /// HTTP status code.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// Start of the response body (at most 500 characters).
        body_excerpt: String,
    },
    /// A 429/503 asked to wait longer than the configured `max_retry_after_secs`; not waited for.
    #[error(
        "provider `{provider}` is rate limited: it asked member `{member}` to wait {retry_after_secs} s (HTTP {status} Retry-After), \
         more than max_retry_after_secs = {limit_secs}; retry later or raise the limit in .team/config.toml"
    )]
    RateLimited {
        /// Provider name.
        provider: String,
        /// Calling member.
        member: String,
        /// HTTP status code (429 or 503).
        status: u16,
        /// Requested wait in seconds.
        retry_after_secs: u64,
        /// Configured limit in seconds.
        limit_secs: u64,
        /// Attempts made.
        attempts: u32,
    },
    /// Connection failure or timeout on every attempt.
    #[error(
        "request to provider `{provider}` for member `{member}` failed after {attempts} attempt(s): {message}"
    )]
    Transport {
        /// Provider name.
        provider: String,
        /// Calling member.
        member: String,
        /// Attempts made.
        attempts: u32,
        /// True when the last attempt timed out (request_timeout_secs).
        timed_out: bool,
        /// What failed (the URL is included; keys never are).
        message: String,
    },
    /// A success status with a body that is not the expected JSON (not JSON, no `choices`, ...).
    #[error(
        "provider `{provider}` sent member `{member}` a reply that cannot be read: {reason}; body starts: {body_excerpt}"
    )]
    BadResponse {
        /// Provider name.
        provider: String,
        /// Calling member.
        member: String,
        /// Attempts made.
        attempts: u32,
        /// What is missing or malformed.
        reason: String,
        /// Start of the response body (at most 500 characters).
        body_excerpt: String,
    },
    /// Replay found no recorded exchange for this member and turn.
    #[error(
        "no recorded exchange for member `{member}` turn {turn} in cassette {path}{detail}; \
         re-record the cassette or run without replay"
    )]
    CassetteMiss {
        /// Calling member.
        member: String,
        /// Turn.
        turn: u32,
        /// Cassette file path.
        path: String,
        /// Extra context, e.g. `(all 1 recorded exchanges already served)`; may be empty.
        detail: String,
    },
    /// A cassette file could not be read or written.
    #[error("cassette {path}: {reason}")]
    Cassette {
        /// Cassette file path.
        path: String,
        /// What failed.
        reason: String,
    },
}

impl ProviderError {
    /// True when the failure may pass by itself, so that a new attempt of the member may
    /// succeed (an agent's `retries:`): an HTTP 408, 429 or 5xx after the provider's own
    /// retries, a rate limit that asked for a longer wait than allowed, a connection failure
    /// or timeout. Configuration errors, other statuses, unreadable replies and cassette
    /// misses are not.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Http { status, .. } => *status == 408 || *status == 429 || *status >= 500,
            Self::RateLimited { .. } | Self::Transport { .. } => true,
            _ => false,
        }
    }

    /// Short snake_case name of the variant (the serde tag), e.g. `http`, `transport`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UnknownProvider { .. } => "unknown_provider",
            Self::BadModel { .. } => "bad_model",
            Self::MissingApiKey { .. } => "missing_api_key",
            Self::Config { .. } => "config",
            Self::Http { .. } => "http",
            Self::RateLimited { .. } => "rate_limited",
            Self::Transport { .. } => "transport",
            Self::BadResponse { .. } => "bad_response",
            Self::CassetteMiss { .. } => "cassette_miss",
            Self::Cassette { .. } => "cassette",
        }
    }

    /// HTTP attempts made before failing (0 when no request was sent).
    pub fn attempts(&self) -> u32 {
        match self {
            Self::Http { attempts, .. }
            | Self::RateLimited { attempts, .. }
            | Self::Transport { attempts, .. }
            | Self::BadResponse { attempts, .. } => *attempts,
            _ => 0,
        }
    }

    /// Last HTTP status, when one was received.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Http { status, .. } | Self::RateLimited { status, .. } => Some(*status),
            Self::BadResponse { .. } => Some(200),
            _ => None,
        }
    }
}

/// First [`BODY_EXCERPT_CHARS`] characters of `body` (with `…` when cut), with `secret` replaced by `[redacted]`.
pub(crate) fn excerpt(body: &str, secret: Option<&str>) -> String {
    let scrubbed = scrub(body, secret);
    let trimmed = scrubbed.trim();
    let mut out: String = trimmed.chars().take(BODY_EXCERPT_CHARS).collect();
    if trimmed.chars().count() > BODY_EXCERPT_CHARS {
        out.push('…');
    }
    if out.is_empty() {
        out.push_str("(empty body)");
    }
    out
}

/// `text` with every occurrence of `secret` (when non-empty) replaced by `[redacted]`.
pub(crate) fn scrub(text: &str, secret: Option<&str>) -> String {
    match secret {
        Some(s) if !s.is_empty() => text.replace(s, "[redacted]"),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_cuts_and_scrubs() {
        let body = format!("key sk-123 {}", "x".repeat(1000));
        let e = excerpt(&body, Some("sk-123"));
        assert!(!e.contains("sk-123"));
        assert!(e.starts_with("key [redacted]"));
        assert_eq!(e.chars().count(), BODY_EXCERPT_CHARS + 1);
        assert_eq!(excerpt("  ", None), "(empty body)");
        let multibyte = "é".repeat(600);
        assert_eq!(
            excerpt(&multibyte, None).chars().count(),
            BODY_EXCERPT_CHARS + 1
        );
    }
}
