//! Wire formats: how one model API writes a [`ChatRequest`] and reads its reply.
//!
//! A format is pure translation (no IO): the endpoint path, the headers, the request body
//! (structured-output forms and server quirks included) and the reading of a 2xx reply. The
//! call itself (gate, timeouts, retries, `Retry-After`, error mapping, latency and attempts)
//! is [`crate::HttpProvider`]'s, one path for every format.
//!
//! - [`openai`]: Chat Completions ([`OpenAiChat`]), for OpenAI and compatible servers.
//! - [`anthropic`]: Messages API ([`AnthropicMessages`]).

pub mod anthropic;
pub mod openai;

use std::borrow::Cow;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::body::JsonBody;
use crate::{ChatRequest, ChatResponse, ProviderKind, StructuredOutput, ToolSpec};

pub use anthropic::AnthropicMessages;
pub use openai::OpenAiChat;

mod sealed {
    /// Keeps [`super::WireFormat`] implemented by this crate's formats only (the trait may
    /// grow methods without breaking anyone).
    pub trait Sealed {}
}

/// One model API's request and reply format, used by [`crate::HttpProvider`]. Implemented by
/// [`OpenAiChat`] and [`AnthropicMessages`] only (sealed).
///
/// Every function is pure: the same request, form and limit give the same bytes.
pub trait WireFormat: sealed::Sealed + Send + Sync + 'static {
    /// The provider kind (`kind = "…"` in `[providers.NAME]`) that speaks this format.
    const KIND: ProviderKind;

    /// The header carrying the API key (lowercase name) and the text sent before the key,
    /// e.g. `("authorization", "Bearer ")`. Not sent when the provider has no key.
    const KEY_HEADER: (&'static str, &'static str);

    /// Headers sent with every request besides the key and `content-type` (lowercase names),
    /// e.g. Anthropic's `anthropic-version`.
    const HEADERS: &'static [(&'static str, &'static str)];

    /// The path appended to the provider's `base_url` for a chat call, e.g.
    /// `/chat/completions`.
    fn endpoint_path(base_url: &str) -> &'static str;

    /// The request body of `req` but for its `tools` (spliced in by the caller, encoded once
    /// per list by [`WireFormat::encode_tools`]), borrowing from `req`. `form` is how an
    /// [`crate::AnswerFormat`] is asked for (one of [`StructuredOutput::chain`] of the
    /// provider's setting, [`StructuredOutput::None`] when `req` asks for none); `max_tokens`
    /// is the provider's `max_tokens` setting, sent when `req` sets no limit (0 = the
    /// format's default).
    fn head<'a>(
        req: &'a ChatRequest,
        form: StructuredOutput,
        max_tokens: u32,
    ) -> impl Serialize + 'a;

    /// The tools sent with `req` in `form`: the request's own list, unless the format asks
    /// for an answer through a tool of its own (Anthropic's forced answer tool).
    fn tools(req: &ChatRequest, form: StructuredOutput) -> Cow<'_, Arc<[ToolSpec]>> {
        let _ = form;
        Cow::Borrowed(&req.tools)
    }

    /// The JSON array of `tools` (never empty) as this format writes it.
    ///
    /// Errors: a schema that cannot be encoded.
    fn encode_tools(tools: &[ToolSpec]) -> serde_json::Result<Vec<u8>>;

    /// Reads a 2xx reply. `latency` and `attempts` are left for the caller.
    ///
    /// Errors: a reason string (without the body, which the caller adds as an excerpt).
    fn parse_response(body: &Value) -> Result<ChatResponse, String>;

    /// Turns a reply read by [`WireFormat::parse_response`] into the answer to `req` sent in
    /// `form`. Default: as read. (Anthropic: the forced answer tool's input becomes the text.)
    fn finish(req: &ChatRequest, form: StructuredOutput, resp: &mut ChatResponse) {
        let _ = (req, form, resp);
    }
}

/// The body `W` sends for `req`, decoded from the bytes that would be sent (`Value::Null` if
/// they cannot be encoded): what `wire::*::request_body` shows.
fn decoded_body<W: WireFormat>(
    req: &ChatRequest,
    form: StructuredOutput,
    max_tokens: u32,
) -> Value {
    let tools = W::tools(req, form);
    JsonBody::decoded(&W::head(req, form, max_tokens), &tools, W::encode_tools)
}

/// The key header and the fixed headers of the format of `kind` (for `team doctor`'s probe,
/// which sends the key as a call would).
pub(crate) fn headers_of(
    kind: ProviderKind,
) -> (
    (&'static str, &'static str),
    &'static [(&'static str, &'static str)],
) {
    match kind {
        ProviderKind::OpenAi => (OpenAiChat::KEY_HEADER, OpenAiChat::HEADERS),
        ProviderKind::Anthropic => (AnthropicMessages::KEY_HEADER, AnthropicMessages::HEADERS),
    }
}

/// What the wire formats' tests send: one answer shape and one tool.
#[cfg(test)]
pub(crate) mod fixtures {
    use serde_json::json;

    use crate::ToolSpec;

    /// A small answer shape (`review_answer`).
    pub(crate) fn answer() -> crate::AnswerFormat {
        crate::AnswerFormat {
            name: "review_answer".into(),
            schema: json!({"type": "object", "properties": {"ok": {"type": "boolean"}}}),
        }
    }

    /// A tool (`read_file`) with an empty object schema.
    pub(crate) fn tool() -> ToolSpec {
        ToolSpec {
            name: "read_file".into(),
            description: "Read".into(),
            parameters: json!({"type": "object"}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_valid_lowercase() {
        for kind in [ProviderKind::OpenAi, ProviderKind::Anthropic] {
            let ((key, _), fixed) = headers_of(kind);
            for name in std::iter::once(key).chain(fixed.iter().map(|(n, _)| *n)) {
                assert_eq!(name, name.to_ascii_lowercase());
                reqwest::header::HeaderName::from_bytes(name.as_bytes()).expect(name);
            }
        }
        assert_eq!(OpenAiChat::KIND, ProviderKind::OpenAi);
        assert_eq!(AnthropicMessages::KIND, ProviderKind::Anthropic);
    }
}
