//! A cheap reachability check of a provider for `team doctor`: one `GET {base_url}/models`
//! (Anthropic: `/v1/models`) with a short timeout, the key sent as the provider would send it
//! and never shown.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderName, HeaderValue};

use crate::http::error_chain;
use crate::{EnvFn, ProviderKind, ProviderSettings};

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ProbeOutcome {
    /// The server answered 2xx.
    Ok {
        /// The HTTP status.
        status: u16,
        /// Round trip, in ms.
        latency_ms: u64,
    },
    /// The server answered 401 or 403: reachable, but the key (or its absence) is refused.
    KeyRefused {
        /// The HTTP status.
        status: u16,
    },
    /// The server answered with another status (some servers have no `/models`): it is
    /// reachable.
    Answered {
        /// The HTTP status.
        status: u16,
    },
    /// No answer: connection refused, DNS failure, TLS error or timeout.
    Unreachable {
        /// Why, with the key scrubbed (it is never part of a connection error).
        error: String,
    },
}

impl ProbeOutcome {
    /// True when the provider can be used as configured (2xx, or another non-auth answer).
    pub fn is_ok(&self) -> bool {
        matches!(
            self,
            ProbeOutcome::Ok { .. } | ProbeOutcome::Answered { .. }
        )
    }
}

/// The URL a probe of `settings` asks: `{base_url}/models` for OpenAI-compatible servers,
/// `{base_url}/v1/models` (or `/models` when the base ends in `/v1`) for Anthropic.
pub fn probe_url(settings: &ProviderSettings) -> String {
    let base = settings.base_url.trim_end_matches('/');
    match settings.kind {
        ProviderKind::Anthropic if !base.ends_with("/v1") => format!("{base}/v1/models"),
        _ => format!("{base}/models"),
    }
}

/// GETs [`probe_url`] with `timeout` (connect and whole request), sending the key named by
/// `api_key_env` (read through `env`) as `Authorization: Bearer` (OpenAI kind) or `x-api-key`
/// (Anthropic). Never fails: every failure is a [`ProbeOutcome`].
pub async fn probe(settings: &ProviderSettings, env: &EnvFn, timeout: Duration) -> ProbeOutcome {
    let client = match reqwest::Client::builder()
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent(concat!("team/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            return ProbeOutcome::Unreachable {
                error: format!("cannot build the HTTP client: {}", error_chain(&e)),
            };
        }
    };
    let mut req = client.get(probe_url(settings));
    let key = settings
        .api_key_env
        .as_deref()
        .and_then(|var| env(var))
        .filter(|k| !k.trim().is_empty());
    let ((key_header, prefix), fixed) = crate::wire::headers_of(settings.kind);
    if let Some(key) = key
        && let Ok(mut v) = HeaderValue::from_str(&format!("{prefix}{key}"))
    {
        v.set_sensitive(true);
        req = req.header(HeaderName::from_static(key_header), v);
    }
    for (name, value) in fixed {
        req = req.header(*name, *value);
    }
    let start = Instant::now();
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            if resp.status().is_success() {
                ProbeOutcome::Ok {
                    status,
                    latency_ms: start.elapsed().as_millis() as u64,
                }
            } else if status == 401 || status == 403 {
                ProbeOutcome::KeyRefused { status }
            } else {
                ProbeOutcome::Answered { status }
            }
        }
        Err(e) => ProbeOutcome::Unreachable {
            error: if e.is_timeout() {
                format!("no answer within {} ms", timeout.as_millis())
            } else {
                error_chain(&e)
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_asks_models_where_each_kind_serves_it() {
        let openai = ProviderSettings::new("o", ProviderKind::OpenAi, "http://127.0.0.1:9/v1/");
        assert_eq!(probe_url(&openai), "http://127.0.0.1:9/v1/models");
        let anthropic = ProviderSettings::new("a", ProviderKind::Anthropic, "https://x.invalid");
        assert_eq!(probe_url(&anthropic), "https://x.invalid/v1/models");
        let anthropic_v1 =
            ProviderSettings::new("a", ProviderKind::Anthropic, "https://x.invalid/v1");
        assert_eq!(probe_url(&anthropic_v1), "https://x.invalid/v1/models");
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable_quickly() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let s = ProviderSettings::new(
            "o",
            ProviderKind::OpenAi,
            format!("http://127.0.0.1:{port}/v1"),
        );
        let env: EnvFn = std::sync::Arc::new(|_| None);
        let got = probe(&s, &env, Duration::from_millis(500)).await;
        assert!(matches!(got, ProbeOutcome::Unreachable { .. }), "{got:?}");
        assert!(!got.is_ok());
    }
}
