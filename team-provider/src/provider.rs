//! The one HTTP provider: a [`WireFormat`] over the shared call path ([`HttpCore`]: gate,
//! per-attempt timeout, retries with backoff and `Retry-After`, errors scrubbed of the key).

use std::marker::PhantomData;
use std::time::Instant;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::config::FormChain;
use crate::http::HttpCore;
use crate::wire::{AnthropicMessages, OpenAiChat, WireFormat};
use crate::{
    ApiKey, BoxFuture, CallContext, ChatRequest, ChatResponse, Provider, ProviderError,
    ProviderSettings,
};

/// OpenAI Chat Completions and compatible servers: [`HttpProvider`] over [`OpenAiChat`] (see
/// there for the wire mapping and the servers' quirks handled).
pub type OpenAiProvider = HttpProvider<OpenAiChat>;

/// The Anthropic Messages API: [`HttpProvider`] over [`AnthropicMessages`] (see there for the
/// wire mapping).
pub type AnthropicProvider = HttpProvider<AnthropicMessages>;

/// A model server reached over HTTP in the wire format `W`: one chat call is one JSON `POST`
/// to `{base_url}{W::endpoint_path}`, through the provider's [`crate::RateGate`], with the
/// settings' timeout and retries, read by `W`.
///
/// When the request asks for an [`crate::AnswerFormat`], the structured-output form is the
/// provider's current one (the `structured_output` setting's chain): a server refusing it
/// (an HTTP error naming the form's field) moves the chain on for the rest of the run and the
/// request is sent again in the next form.
pub struct HttpProvider<W> {
    core: HttpCore,
    url: reqwest::Url,
    /// The key header (marked sensitive) and `W`'s fixed headers, built once.
    headers: HeaderMap,
    /// The structured-output form in use (moves on when a server refuses one, `auto`).
    forms: FormChain,
    wire: PhantomData<fn() -> W>,
}

impl<W> std::fmt::Debug for HttpProvider<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpProvider")
            .field("wire", &std::any::type_name::<W>())
            .field("core", &self.core)
            .field("url", &self.url.as_str())
            .field("forms", &self.forms)
            .finish_non_exhaustive()
    }
}

impl<W: WireFormat> HttpProvider<W> {
    /// A client for `settings` with an optional key (read by the caller, e.g.
    /// [`crate::ProviderRegistry`]).
    ///
    /// Errors: [`ProviderError::Config`] for invalid settings, a `base_url` that gives no valid
    /// endpoint URL, or when the HTTP client cannot be built.
    pub fn new(settings: ProviderSettings, key: Option<ApiKey>) -> Result<Self, ProviderError> {
        let path = W::endpoint_path(&settings.base_url);
        let core = HttpCore::new(settings, key)?;
        let url = core.endpoint(path)?;
        let mut headers = HeaderMap::new();
        for (name, value) in W::HEADERS {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let (name, prefix) = W::KEY_HEADER;
        if let Some(v) = core.secret_header(prefix) {
            headers.insert(HeaderName::from_static(name), v);
        }
        let forms = FormChain::new(core.settings.structured_output, core.settings.kind);
        Ok(Self {
            core,
            url,
            headers,
            forms,
            wire: PhantomData,
        })
    }

    /// Settings in use.
    pub fn settings(&self) -> &ProviderSettings {
        &self.core.settings
    }

    /// Requests in flight through this provider's gate right now.
    pub fn in_flight(&self) -> usize {
        self.core.gate.in_flight()
    }

    async fn call(
        &self,
        ctx: &CallContext,
        req: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let start = Instant::now();
        let (reply, form) = loop {
            let form = self.forms.current(req);
            // Only the encoded bytes live across the await.
            let body = {
                let tools = W::tools(req, form);
                let head = W::head(req, form, self.core.settings.max_tokens);
                self.core.json_body(ctx, &head, &tools, W::encode_tools)?
            };
            match self
                .core
                .post_json(ctx, &self.url, self.headers.clone(), &body, form.field())
                .await
            {
                Err(e) if self.forms.refused(form, &e, &self.core.settings.name) => continue,
                other => break (other?, form),
            }
        };
        let mut resp = W::parse_response(&reply.body).map_err(|reason| {
            self.core
                .bad_response(ctx, reply.attempts, reason, &reply.raw)
        })?;
        W::finish(req, form, &mut resp);
        resp.attempts = reply.attempts;
        resp.latency = start.elapsed();
        Ok(resp)
    }
}

impl<W: WireFormat> Provider for HttpProvider<W> {
    fn name(&self) -> &str {
        &self.core.settings.name
    }

    fn chat<'a>(
        &'a self,
        ctx: &'a CallContext,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(self.call(ctx, req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProviderKind;

    fn settings(kind: ProviderKind, url: &str) -> ProviderSettings {
        ProviderSettings::new("p", kind, url)
    }

    #[test]
    fn each_format_posts_to_its_endpoint() {
        let url = |p: &dyn std::fmt::Debug| format!("{p:?}");
        let openai = OpenAiProvider::new(settings(ProviderKind::OpenAi, "http://h/v1"), None);
        assert!(url(&openai.expect("openai")).contains("\"http://h/v1/chat/completions\""));
        for (base, want) in [
            ("http://h", "http://h/v1/messages"),
            ("http://h/v1", "http://h/v1/messages"),
        ] {
            let p = AnthropicProvider::new(settings(ProviderKind::Anthropic, base), None);
            assert!(
                url(&p.expect(base)).contains(&format!("\"{want}\"")),
                "{base}"
            );
        }
    }

    #[test]
    fn headers_carry_the_key_as_the_format_says_and_hide_it() {
        let key = "sk-unit-SECRET";
        let openai = OpenAiProvider::new(
            settings(ProviderKind::OpenAi, "http://h/v1"),
            ApiKey::new(key),
        )
        .expect("openai");
        let auth = &openai.headers["authorization"];
        assert_eq!(auth.to_str().expect("ascii"), format!("Bearer {key}"));
        assert!(auth.is_sensitive());
        assert_eq!(openai.headers.len(), 1);

        let anthropic = AnthropicProvider::new(
            settings(ProviderKind::Anthropic, "http://h"),
            ApiKey::new(key),
        )
        .expect("anthropic");
        assert_eq!(anthropic.headers["x-api-key"].to_str().expect("ascii"), key);
        assert!(anthropic.headers["x-api-key"].is_sensitive());
        assert_eq!(
            anthropic.headers["anthropic-version"],
            crate::wire::anthropic::ANTHROPIC_VERSION
        );
        assert!(!format!("{anthropic:?}").contains(key));

        // No key: no key header, the fixed ones still.
        let keyless = AnthropicProvider::new(settings(ProviderKind::Anthropic, "http://h"), None)
            .expect("keyless");
        assert!(keyless.headers.get("x-api-key").is_none());
        assert_eq!(keyless.headers.len(), 1);
    }
}
