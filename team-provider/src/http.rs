//! Shared HTTP machinery of the provider clients: gate, per-attempt timeout, retries with backoff and
//! `Retry-After`, error construction with body excerpts scrubbed of the API key.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use backon::{BackoffBuilder, ExponentialBuilder};
use reqwest::StatusCode;
use reqwest::header::{
    CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION, RETRY_AFTER,
};
use serde_json::Value;

use crate::body::{EncodedTools, JsonBody};
use crate::error::{excerpt, scrub};
use crate::gate::RateGate;
use crate::{ApiKey, CallContext, ProviderError, ProviderSettings, ToolSpec};

/// A successful (2xx) JSON reply.
pub(crate) struct JsonReply {
    pub body: Value,
    pub raw: String,
    pub attempts: u32,
}

/// Client, gate and key of one provider instance.
pub(crate) struct HttpCore {
    pub settings: ProviderSettings,
    pub gate: Arc<RateGate>,
    client: reqwest::Client,
    key: Option<ApiKey>,
    /// The tool lists of this provider's requests, each encoded once in its wire format.
    tools: EncodedTools,
}

impl std::fmt::Debug for HttpCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpCore")
            .field("settings", &self.settings)
            .field("gate", &self.gate)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl HttpCore {
    pub fn new(settings: ProviderSettings, key: Option<ApiKey>) -> Result<Self, ProviderError> {
        settings.validate()?;
        let timeout = Duration::from_secs(settings.request_timeout_secs);
        let mut builder = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("team/", env!("CARGO_PKG_VERSION")))
            // A model API does not move: a redirect is reported with its target (see
            // `post_json`), not followed. (A body sent in pieces could not be resent to the
            // new address anyway, and following could turn a POST into a GET.)
            .redirect(reqwest::redirect::Policy::none());
        if plain_http(&settings.base_url) {
            // A plain-http provider (a local model server) never speaks TLS: trust no root, so
            // the system's certificate store is not read and parsed at every start (3-5 ms of
            // CPU; bench/findings.md § 9).
            builder = builder.tls_certs_only(std::iter::empty());
        }
        let client = builder.build().map_err(|e| ProviderError::Config {
            provider: settings.name.clone(),
            reason: format!("cannot build the HTTP client: {}", error_chain(&e)),
        })?;
        Ok(Self {
            gate: Arc::new(RateGate::new(settings.max_concurrent_requests)),
            settings,
            client,
            key,
            tools: EncodedTools::default(),
        })
    }

    /// The endpoint `{base_url}{path}`, parsed once when the provider is built (not on every
    /// request).
    ///
    /// Errors: [`ProviderError::Config`] when the URL is not valid.
    pub fn endpoint(&self, path: &str) -> Result<reqwest::Url, ProviderError> {
        let url = format!("{}{path}", self.settings.base_url);
        reqwest::Url::parse(&url).map_err(|e| ProviderError::Config {
            provider: self.settings.name.clone(),
            reason: format!("base_url gives the endpoint `{url}`, which is not a valid URL: {e}"),
        })
    }

    fn secret(&self) -> Option<&str> {
        self.key.as_ref().map(ApiKey::expose)
    }

    /// A header value holding the key, marked sensitive (hidden from hyper's Debug output).
    pub fn secret_header(&self, prefix: &str) -> Option<HeaderValue> {
        let key = self.key.as_ref()?;
        let mut v = HeaderValue::from_str(&format!("{prefix}{}", key.expose())).ok()?;
        v.set_sensitive(true);
        Some(v)
    }

    /// The error for an unreadable 2xx reply.
    pub fn bad_response(
        &self,
        ctx: &CallContext,
        attempts: u32,
        reason: impl Into<String>,
        raw: &str,
    ) -> ProviderError {
        ProviderError::BadResponse {
            provider: self.settings.name.clone(),
            member: ctx.member.clone(),
            attempts,
            reason: scrub(&reason.into(), self.secret()),
            body_excerpt: excerpt(raw, self.secret()),
        }
    }

    /// The body of a request: `head` (a JSON object whose encoding leaves the tools out)
    /// with `tools` spliced in, encoded by `encode_tools` once per tool list
    /// ([`EncodedTools`]). Only these bytes stay allocated while the request is in flight,
    /// shared by its attempts.
    ///
    /// Errors: [`ProviderError::BadResponse`] (attempts 0) when the request cannot be encoded.
    pub fn json_body(
        &self,
        ctx: &CallContext,
        head: &impl serde::Serialize,
        tools: &Arc<[ToolSpec]>,
        encode_tools: impl FnOnce(&[ToolSpec]) -> serde_json::Result<Vec<u8>>,
    ) -> Result<JsonBody, ProviderError> {
        self.tools
            .get(tools, encode_tools)
            .and_then(|tools| JsonBody::spliced(head, tools))
            .map_err(|e| self.bad_response(ctx, 0, format!("cannot encode the request: {e}"), ""))
    }

    /// POSTs `body` (see [`HttpCore::json_body`]) to `url` with `headers`, through the gate,
    /// retrying per the settings. `refusable` names a request field a server may refuse (the
    /// structured-output form in use): an HTTP 500 whose body names it is a refusal, returned
    /// at once rather than retried (llama-cpp-python answers a request it cannot validate
    /// with 500, see [`crate::StructuredOutput`]).
    pub async fn post_json(
        &self,
        ctx: &CallContext,
        url: &reqwest::Url,
        mut headers: HeaderMap,
        body: &JsonBody,
        refusable: Option<&str>,
    ) -> Result<JsonReply, ProviderError> {
        let s = &self.settings;
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let max_delay = Duration::from_millis(s.retry_max_ms.max(1));
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(s.retry_base_ms).min(max_delay))
            .with_max_delay(max_delay)
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(s.max_retries as usize)
            .build();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let outcome = {
                let _permit = self.gate.acquire().await;
                self.attempt(url, &headers, body).await
            };
            let (retry_after, failure) = match outcome {
                Ok((status, _, raw)) if status.is_success() => {
                    return match serde_json::from_str::<Value>(&raw) {
                        Ok(body) => Ok(JsonReply {
                            body,
                            raw,
                            attempts,
                        }),
                        Err(e) => Err(self.bad_response(
                            ctx,
                            attempts,
                            format!("body is not valid JSON ({e})"),
                            &raw,
                        )),
                    };
                }
                Ok((status, resp_headers, raw)) => {
                    let body_excerpt = match resp_headers.get(LOCATION) {
                        Some(to) if status.is_redirection() => format!(
                            "redirected to {}: set base_url of [providers.{}] to the address the server moved to",
                            scrub(&String::from_utf8_lossy(to.as_bytes()), self.secret()),
                            s.name
                        ),
                        _ => excerpt(&raw, self.secret()),
                    };
                    let err = ProviderError::Http {
                        provider: s.name.clone(),
                        member: ctx.member.clone(),
                        status: status.as_u16(),
                        attempts,
                        body_excerpt,
                    };
                    let refused = status == StatusCode::INTERNAL_SERVER_ERROR
                        && refusable.is_some_and(|field| raw.contains(field));
                    if !retryable_status(status) || refused {
                        return Err(err);
                    }
                    let retry_after = parse_retry_after(&resp_headers, SystemTime::now());
                    if let Some(wait) = retry_after {
                        if wait > Duration::from_secs(s.max_retry_after_secs) {
                            return Err(ProviderError::RateLimited {
                                provider: s.name.clone(),
                                member: ctx.member.clone(),
                                status: status.as_u16(),
                                retry_after_secs: wait.as_secs_f64().ceil() as u64,
                                limit_secs: s.max_retry_after_secs,
                                attempts,
                            });
                        }
                        if status == StatusCode::TOO_MANY_REQUESTS
                            || status == StatusCode::SERVICE_UNAVAILABLE
                        {
                            self.gate.pause_for(wait);
                        }
                    }
                    (retry_after, err)
                }
                Err(e) => {
                    let err = ProviderError::Transport {
                        provider: s.name.clone(),
                        member: ctx.member.clone(),
                        attempts,
                        timed_out: e.is_timeout(),
                        message: scrub(&error_chain(&e), self.secret()),
                    };
                    if !retryable_transport(&e) {
                        return Err(err);
                    }
                    (None, err)
                }
            };
            let Some(delay) = backoff.next() else {
                return Err(failure);
            };
            let delay = delay.min(max_delay).max(retry_after.unwrap_or_default());
            tracing::debug!(
                provider = %s.name,
                member = %ctx.member,
                turn = ctx.turn,
                attempt = attempts,
                status = failure.http_status(),
                delay_ms = delay.as_millis() as u64,
                "provider call failed, retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(
        &self,
        url: &reqwest::Url,
        headers: &HeaderMap,
        body: &JsonBody,
    ) -> Result<(StatusCode, HeaderMap, String), reqwest::Error> {
        let resp = self
            .client
            .post(url.clone())
            .headers(headers.clone())
            .header(CONTENT_LENGTH, body.len())
            .body(body.to_reqwest())
            .timeout(Duration::from_secs(self.settings.request_timeout_secs))
            .send()
            .await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await?;
        Ok((status, headers, text))
    }
}

/// 408, 429 and 5xx are retried; other statuses are final.
pub(crate) fn retryable_status(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

fn retryable_transport(e: &reqwest::Error) -> bool {
    e.is_timeout() || e.is_connect() || e.is_request() || e.is_body()
}

/// `Retry-After` as a wait from `now`: delay-seconds (fractions accepted) or an HTTP date (past = 0).
pub(crate) fn parse_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(1e9)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// An error's message followed by its sources, `: `-separated.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        cur = s.source();
    }
    out
}

/// Whether `base_url` is plain `http://` (case-insensitive scheme, RFC 3986 § 3.1).
fn plain_http(base_url: &str) -> bool {
    base_url
        .get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_providers_trust_no_root() {
        assert!(plain_http("http://127.0.0.1:8080/v1"));
        assert!(plain_http("HTTP://localhost"));
        assert!(!plain_http("https://api.openai.com/v1"));
        assert!(!plain_http("http:/x"));
        assert!(!plain_http(""));
        // Both kinds of client build: without roots for http, with the system's for https.
        for url in ["http://127.0.0.1:9/v1", "https://api.example.invalid/v1"] {
            let settings = ProviderSettings::new("p", crate::ProviderKind::OpenAi, url);
            HttpCore::new(settings, None).expect(url);
        }
    }

    #[test]
    fn endpoints_are_parsed_when_the_provider_is_built() {
        let core = |url: &str| {
            let settings = ProviderSettings::new("p", crate::ProviderKind::OpenAi, url);
            HttpCore::new(settings, None).expect(url)
        };
        let ok = core("http://127.0.0.1:8080/v1").endpoint("/chat/completions");
        assert_eq!(
            ok.expect("valid").as_str(),
            "http://127.0.0.1:8080/v1/chat/completions"
        );
        let err = core("http://bad host/v1")
            .endpoint("/chat/completions")
            .expect_err("a space in the host");
        let text = err.to_string();
        assert!(
            text.contains("not a valid URL") && text.contains("bad host"),
            "{text}"
        );
        // Through the provider's constructor too.
        let settings = ProviderSettings::new("p", crate::ProviderKind::OpenAi, "http://bad host");
        assert!(crate::OpenAiProvider::new(settings, None).is_err());
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        assert_eq!(parse_retry_after(&h, now), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(parse_retry_after(&h, now), Some(Duration::from_secs(3)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("0.5"));
        assert_eq!(parse_retry_after(&h, now), Some(Duration::from_millis(500)));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(7));
        h.insert(RETRY_AFTER, HeaderValue::from_str(&date).expect("header"));
        assert_eq!(parse_retry_after(&h, now), Some(Duration::from_secs(7)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(7));
        h.insert(RETRY_AFTER, HeaderValue::from_str(&past).expect("header"));
        assert_eq!(parse_retry_after(&h, now), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(parse_retry_after(&h, now), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("-1"));
        assert_eq!(parse_retry_after(&h, now), None);
    }

    #[test]
    fn statuses() {
        for s in [408u16, 429, 500, 502, 503, 529] {
            assert!(
                retryable_status(StatusCode::from_u16(s).expect("status")),
                "{s}"
            );
        }
        for s in [400u16, 401, 403, 404, 422] {
            assert!(
                !retryable_status(StatusCode::from_u16(s).expect("status")),
                "{s}"
            );
        }
    }
}
