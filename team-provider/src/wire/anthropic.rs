//! The Anthropic Messages API wire format, as [`AnthropicMessages`].
//!
//! URL convention: `POST {base_url}/v1/messages` with base_url `https://api.anthropic.com`; when the
//! configured base_url already ends in `/v1`, only `/messages` is appended.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};

use super::WireFormat;
use crate::{
    ChatMessage, ChatRequest, ChatResponse, ProviderKind, StructuredOutput, ToolCall, ToolSpec,
    Usage,
};

/// `anthropic-version` header value sent with every request.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// `max_tokens` sent when the request has none (the API requires it).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The Anthropic Messages API format. Headers: `x-api-key` (when a key is set),
/// `anthropic-version: 2023-06-01`.
///
/// Wire mapping: system prompt → top-level `system`; tools → `{name, description, input_schema}`;
/// assistant tool calls → `tool_use` blocks (`input` = the parsed arguments; arguments that are not a
/// JSON object are sent as `{"_raw_arguments": "<text>"}`); tool results → `tool_result` blocks with
/// `is_error`; consecutive messages of the same role are merged into one message, as the API requires.
/// An [`crate::AnswerFormat`] is asked for as a tool named after it that the model must call
/// ([`StructuredOutput::Tool`]); the call's input is the answer's text.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnthropicMessages;

impl super::sealed::Sealed for AnthropicMessages {}

impl WireFormat for AnthropicMessages {
    const KIND: ProviderKind = ProviderKind::Anthropic;
    const KEY_HEADER: (&'static str, &'static str) = ("x-api-key", "");
    const HEADERS: &'static [(&'static str, &'static str)] =
        &[("anthropic-version", ANTHROPIC_VERSION)];

    fn endpoint_path(base_url: &str) -> &'static str {
        if base_url.ends_with("/v1") {
            "/messages"
        } else {
            "/v1/messages"
        }
    }

    fn head<'a>(
        req: &'a ChatRequest,
        form: StructuredOutput,
        max_tokens: u32,
    ) -> impl Serialize + 'a {
        WireBody::new(req, form, max_tokens)
    }

    fn tools(req: &ChatRequest, form: StructuredOutput) -> Cow<'_, Arc<[ToolSpec]>> {
        match answer_tools(req, form) {
            Some(tools) => Cow::Owned(tools),
            None => Cow::Borrowed(&req.tools),
        }
    }

    fn encode_tools(tools: &[ToolSpec]) -> serde_json::Result<Vec<u8>> {
        encode_tools(tools)
    }

    fn parse_response(body: &Value) -> Result<ChatResponse, String> {
        parse_response(body)
    }

    fn finish(req: &ChatRequest, form: StructuredOutput, resp: &mut ChatResponse) {
        if form == StructuredOutput::Tool
            && let Some(answer) = &req.response_format
            && let Some(i) = resp.tool_calls.iter().position(|c| c.name == answer.name)
        {
            // The forced call's input is the answer.
            let call = resp.tool_calls.remove(i);
            resp.content = Some(call.arguments);
        }
    }
}

/// The Messages API request body for `req`, decoded from the bytes that would be sent
/// (`Value::Null` if they cannot be encoded).
/// `form` is how an [`crate::AnswerFormat`] is asked for ([`StructuredOutput::Tool`]
/// or none), `max_tokens` the limit sent when the request has none (0 = 4096).
pub fn request_body(req: &ChatRequest, form: StructuredOutput, max_tokens: u32) -> Value {
    super::decoded_body::<AnthropicMessages>(req, form, max_tokens)
}

/// The tools of a request whose answer is asked for as a forced tool call: the request's
/// tools and one named after the answer format, whose input schema is the answer's. None
/// when the request asks for no answer format in that form.
fn answer_tools(req: &ChatRequest, form: StructuredOutput) -> Option<Arc<[ToolSpec]>> {
    let answer = req.response_format.as_ref()?;
    if form != StructuredOutput::Tool {
        return None;
    }
    let mut tools: Vec<ToolSpec> = req.tools.to_vec();
    tools.push(ToolSpec {
        name: answer.name.clone(),
        description: "Give your answer: call this tool with it as the input.".into(),
        parameters: answer.schema.clone(),
    });
    Some(tools.into())
}

/// The `tools` array: `[{name, description, input_schema}]`, borrowing the schemas. Encoded
/// once per tool list by the provider.
fn encode_tools(tools: &[ToolSpec]) -> serde_json::Result<Vec<u8>> {
    let wire: Vec<WireTool<'_>> = tools
        .iter()
        .map(|t| WireTool {
            name: &t.name,
            description: &t.description,
            input_schema: &t.parameters,
        })
        .collect();
    serde_json::to_vec(&wire)
}

/// The request body as it is encoded, but for `tools` ([`encode_tools`], spliced in by the
/// provider); it borrows the system prompt.
#[derive(Serialize)]
struct WireBody<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<&'a str>,
    messages: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    /// `{"type": "tool", "name": …}` when the answer is asked for as a forced tool call.
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
}

#[derive(Serialize)]
struct WireTool<'a> {
    name: &'a str,
    description: &'a str,
    input_schema: &'a Value,
}

impl<'a> WireBody<'a> {
    fn new(req: &'a ChatRequest, form: StructuredOutput, max_tokens: u32) -> Self {
        let mut messages: Vec<(&'static str, Vec<Value>)> = Vec::new();
        let mut push = |role: &'static str, block: Value| match messages.last_mut() {
            Some((r, blocks)) if *r == role => blocks.push(block),
            _ => messages.push((role, vec![block])),
        };
        for m in &req.messages {
            match m {
                ChatMessage::User { content } => {
                    push("user", json!({"type": "text", "text": content}))
                }
                ChatMessage::Assistant {
                    content,
                    tool_calls,
                } => {
                    let text = content.as_deref().filter(|c| !c.is_empty());
                    if let Some(text) = text {
                        push("assistant", json!({"type": "text", "text": text}));
                    } else if tool_calls.is_empty() {
                        // The API rejects empty assistant content.
                        push("assistant", json!({"type": "text", "text": "(no content)"}));
                    }
                    for c in tool_calls {
                        push(
                            "assistant",
                            json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input_object(&c.arguments)}),
                        );
                    }
                }
                ChatMessage::Tool {
                    tool_call_id,
                    content,
                    is_error,
                    ..
                } => {
                    let mut block = json!({"type": "tool_result", "tool_use_id": tool_call_id, "content": content});
                    if *is_error {
                        block["is_error"] = Value::Bool(true);
                    }
                    push("user", block);
                }
            }
        }
        WireBody {
            model: &req.model,
            max_tokens: req.max_tokens.unwrap_or(if max_tokens > 0 {
                max_tokens
            } else {
                DEFAULT_MAX_TOKENS
            }),
            system: (!req.system.is_empty()).then_some(req.system.as_str()),
            messages: messages
                .into_iter()
                .map(|(role, content)| json!({"role": role, "content": content}))
                .collect(),
            temperature: req.temperature,
            tool_choice: req
                .response_format
                .as_ref()
                .filter(|_| form == StructuredOutput::Tool)
                .map(|a| json!({"type": "tool", "name": a.name})),
        }
    }
}

/// Arguments text as a `tool_use.input` object (the API accepts only objects).
fn input_object(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return json!({});
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({"_raw_arguments": arguments}),
    }
}

/// Reads a Messages API reply. Text blocks are joined with `\n`; `tool_use` inputs become compact JSON
/// text (a string `input`, as some servers send for broken JSON, is passed through as its raw text).
///
/// Errors: a reason string when the body is an error object or has no `content` array.
pub fn parse_response(body: &Value) -> Result<ChatResponse, String> {
    if body.get("type").and_then(Value::as_str) == Some("error") {
        return Err(format!(
            "the reply is an error object: {}",
            serde_json::to_string(body.get("error").unwrap_or(body)).unwrap_or_default()
        ));
    }
    let blocks = body
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| "no `content` array in the reply".to_string())?;
    let mut texts = Vec::new();
    let mut tool_calls = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                if let Some(t) = block.get("text").and_then(Value::as_str) {
                    texts.push(t);
                }
            }
            Some("tool_use") => {
                let name = block
                    .get("name")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| format!("tool_use block {i} has no `name`"))?;
                let arguments = match block.get("input") {
                    Some(Value::String(s)) => s.clone(),
                    None | Some(Value::Null) => "{}".to_string(),
                    Some(v) => serde_json::to_string(v).unwrap_or_default(),
                };
                let id = block
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("call_{i}"));
                tool_calls.push(ToolCall {
                    id,
                    name: name.to_string(),
                    arguments,
                });
            }
            _ => {} // thinking, redacted_thinking, server tool blocks: not used by the runner.
        }
    }
    let content = (!texts.is_empty())
        .then(|| texts.join("\n"))
        .filter(|t| !t.is_empty());
    let usage = body.get("usage").unwrap_or(&Value::Null);
    let n = |k: &str| usage.get(k).and_then(Value::as_u64).unwrap_or(0);
    Ok(ChatResponse {
        content,
        tool_calls,
        usage: Usage {
            prompt_tokens: n("input_tokens")
                + n("cache_creation_input_tokens")
                + n("cache_read_input_tokens"),
            completion_tokens: n("output_tokens"),
        },
        latency: Default::default(),
        finish_reason: body
            .get("stop_reason")
            .and_then(Value::as_str)
            .map(str::to_string),
        attempts: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fixtures::{answer, tool};

    #[test]
    fn body_merges_roles_and_maps_tool_blocks() {
        let call = |id: &str| ToolCall {
            id: id.into(),
            name: "t".into(),
            arguments: r#"{"a":1}"#.into(),
        };
        let mut req = ChatRequest::new("claude", "sys");
        req.messages = vec![
            ChatMessage::user("hi"),
            ChatMessage::Assistant {
                content: Some("using tools".into()),
                tool_calls: vec![call("a"), call("b")],
            },
            ChatMessage::tool_result(&call("a"), "ok", false),
            ChatMessage::tool_result(&call("b"), "bad", true),
            ChatMessage::user("and now?"),
        ];
        let b = request_body(&req, StructuredOutput::None, 0);
        assert_eq!(b["system"], "sys");
        assert_eq!(b["max_tokens"], DEFAULT_MAX_TOKENS);
        let msgs = b["messages"].as_array().expect("messages");
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[1]["content"][1]["input"]["a"], 1);
        assert_eq!(msgs[2]["content"][0]["type"], "tool_result");
        assert!(msgs[2]["content"][0].get("is_error").is_none());
        assert_eq!(msgs[2]["content"][1]["is_error"], true);
        assert_eq!(msgs[2]["content"][2]["text"], "and now?");
        assert_eq!(input_object("{oops"), json!({"_raw_arguments": "{oops"}));
    }

    #[test]
    fn parse_blocks_usage_and_errors() {
        let r = parse_response(&json!({"content": [
            {"type": "text", "text": "a"}, {"type": "tool_use", "id": "x", "name": "t", "input": {"k": "v"}}],
            "stop_reason": "tool_use", "usage": {"input_tokens": 3, "cache_read_input_tokens": 2, "output_tokens": 4}}))
        .expect("parse");
        assert_eq!(r.content.as_deref(), Some("a"));
        assert_eq!(r.tool_calls[0].arguments, r#"{"k":"v"}"#);
        assert_eq!(r.usage.prompt_tokens, 5);
        assert!(
            parse_response(&json!({"type": "error", "error": {"type": "overloaded_error"}}))
                .is_err()
        );
        assert!(
            parse_response(&json!({"id": "m"}))
                .unwrap_err()
                .contains("content")
        );
    }

    #[test]
    fn the_format_speaks_to_its_endpoint_with_its_headers() {
        assert_eq!(
            AnthropicMessages::endpoint_path("https://api.anthropic.com"),
            "/v1/messages"
        );
        assert_eq!(AnthropicMessages::endpoint_path("http://h/v1"), "/messages");
        assert_eq!(AnthropicMessages::KEY_HEADER, ("x-api-key", ""));
        assert_eq!(
            AnthropicMessages::HEADERS,
            &[("anthropic-version", "2023-06-01")]
        );
    }

    #[test]
    fn the_answer_is_asked_for_as_a_forced_tool_call() {
        let mut req = ChatRequest::new("claude", "");
        req.tools = Arc::from([tool()]);
        req.response_format = Some(answer());
        let b = request_body(&req, StructuredOutput::Tool, 0);
        assert_eq!(
            b["tool_choice"],
            json!({"type": "tool", "name": "review_answer"})
        );
        assert_eq!(
            b["tools"],
            json!([
                {"name": "read_file", "description": "Read", "input_schema": {"type": "object"}},
                {"name": "review_answer", "description": "Give your answer: call this tool with it as the input.",
                 "input_schema": answer().schema}
            ])
        );
        assert_eq!(StructuredOutput::Tool.field(), Some("tool_choice"));
        assert!(b.get("system").is_none(), "no empty system prompt");
        // Without the form (refused, or `none`): the request's own tools only.
        let plain = request_body(&req, StructuredOutput::None, 0);
        assert!(plain.get("tool_choice").is_none());
        assert_eq!(plain["tools"].as_array().map(Vec::len), Some(1));
        // No tools and no answer: no `tools` member.
        let bare = request_body(&ChatRequest::new("claude", ""), StructuredOutput::Tool, 0);
        assert!(bare.get("tools").is_none() && bare.get("tool_choice").is_none());
    }

    #[test]
    fn the_forced_call_becomes_the_answer_text() {
        let mut req = ChatRequest::new("claude", "");
        req.response_format = Some(answer());
        let body = json!({"content": [
            {"type": "tool_use", "id": "a", "name": "read_file", "input": {"path": "x"}},
            {"type": "tool_use", "id": "b", "name": "review_answer", "input": {"ok": true}}],
            "stop_reason": "tool_use"});
        let mut resp = parse_response(&body).expect("parse");
        AnthropicMessages::finish(&req, StructuredOutput::Tool, &mut resp);
        assert_eq!(resp.content.as_deref(), Some(r#"{"ok":true}"#));
        assert_eq!(resp.tool_calls.len(), 1);
        assert_eq!(resp.tool_calls[0].name, "read_file");
        // In another form the call is left as it came.
        let mut resp = parse_response(&body).expect("parse");
        AnthropicMessages::finish(&req, StructuredOutput::None, &mut resp);
        assert_eq!(resp.content, None);
        assert_eq!(resp.tool_calls.len(), 2);
    }

    #[test]
    fn max_tokens_the_requests_then_the_settings_then_4096() {
        let mut req = ChatRequest::new("claude", "");
        assert_eq!(
            request_body(&req, StructuredOutput::None, 0)["max_tokens"],
            4096
        );
        assert_eq!(
            request_body(&req, StructuredOutput::None, 300)["max_tokens"],
            300
        );
        req.max_tokens = Some(9);
        req.temperature = Some(0.25);
        let b = request_body(&req, StructuredOutput::None, 300);
        assert_eq!(b["max_tokens"], 9);
        assert_eq!(b["temperature"], 0.25);
    }

    #[test]
    fn assistant_messages_are_never_empty() {
        let call = ToolCall {
            id: "c".into(),
            name: "t".into(),
            arguments: String::new(),
        };
        let mut req = ChatRequest::new("claude", "");
        req.messages = vec![
            ChatMessage::Assistant {
                content: Some(String::new()),
                tool_calls: Vec::new(),
            },
            ChatMessage::user("go on"),
            ChatMessage::Assistant {
                content: None,
                tool_calls: vec![call.clone()],
            },
        ];
        let b = request_body(&req, StructuredOutput::None, 0);
        assert_eq!(
            b["messages"],
            json!([
                {"role": "assistant", "content": [{"type": "text", "text": "(no content)"}]},
                {"role": "user", "content": [{"type": "text", "text": "go on"}]},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "c", "name": "t", "input": {}}]}
            ])
        );
        assert_eq!(input_object("[1]"), json!({"_raw_arguments": "[1]"}));
        assert_eq!(input_object(" "), json!({}));
    }

    #[test]
    fn parse_tolerates_odd_blocks() {
        let r = parse_response(&json!({"content": [
            {"type": "thinking", "thinking": "hm"},
            {"type": "text", "text": "one"},
            {"type": "tool_use", "name": "t", "input": "{broken"},
            {"type": "tool_use", "id": "", "name": "u"},
            {"type": "text", "text": "two"}]}))
        .expect("parse");
        assert_eq!(r.content.as_deref(), Some("one\ntwo"));
        assert_eq!(r.tool_calls[0].id, "call_2");
        assert_eq!(r.tool_calls[0].arguments, "{broken");
        assert_eq!(r.tool_calls[1].id, "call_3");
        assert_eq!(r.tool_calls[1].arguments, "{}");
        assert_eq!(r.usage, Usage::default());
        assert_eq!(r.finish_reason, None);
        let err = parse_response(&json!({"content": [{"type": "tool_use", "id": "x"}]}))
            .expect_err("no name");
        assert!(err.contains("tool_use block 0"), "{err}");
        let r = parse_response(&json!({"content": []})).expect("empty");
        assert_eq!(r.content, None);
    }
}
