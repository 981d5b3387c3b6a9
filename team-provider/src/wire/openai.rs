//! The OpenAI Chat Completions wire format (`POST {base_url}/chat/completions`): request
//! bodies and reply parsing, as [`OpenAiChat`].

use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;

use super::WireFormat;
use crate::{
    ChatMessage, ChatRequest, ChatResponse, ProviderKind, StructuredOutput, ToolCall, ToolSpec,
    Usage,
};

/// The OpenAI Chat Completions format (`POST {base_url}/chat/completions`), spoken by OpenAI
/// and compatible servers (OpenRouter, Groq, vLLM, llama.cpp server, Ollama `/v1`, LM Studio).
/// Sends `Authorization: Bearer KEY` when a key is set.
///
/// Wire mapping: system prompt → first `system` message; tools → `{"type":"function","function":{..}}`;
/// assistant tool calls → `tool_calls`; tool results → `tool` messages (`is_error` → content prefixed
/// `error: `); `max_tokens` is sent as `max_tokens` (the provider's `max_tokens` setting when the
/// request has none: some servers otherwise generate until the context is full);
/// `tool_choice: "auto"` is sent with tools (llama-cpp-python ignores `tools` without it); an
/// assistant message with only tool calls has `content: ""` (some servers refuse `null`). An
/// [`crate::AnswerFormat`] is sent in the form of the `structured_output` setting
/// ([`crate::StructuredOutput`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenAiChat;

impl super::sealed::Sealed for OpenAiChat {}

impl WireFormat for OpenAiChat {
    const KIND: ProviderKind = ProviderKind::OpenAi;
    const KEY_HEADER: (&'static str, &'static str) = ("authorization", "Bearer ");
    const HEADERS: &'static [(&'static str, &'static str)] = &[];

    fn endpoint_path(_base_url: &str) -> &'static str {
        "/chat/completions"
    }

    fn head<'a>(
        req: &'a ChatRequest,
        form: StructuredOutput,
        max_tokens: u32,
    ) -> impl Serialize + 'a {
        WireBody::new(req, form, max_tokens)
    }

    fn encode_tools(tools: &[ToolSpec]) -> serde_json::Result<Vec<u8>> {
        encode_tools(tools)
    }

    fn parse_response(body: &Value) -> Result<ChatResponse, String> {
        parse_response(body)
    }
}

/// The Chat Completions request body for `req`, decoded from the bytes that would be sent
/// (`Value::Null` if they cannot be encoded).
/// `form` is how an [`crate::AnswerFormat`] is asked for, `max_tokens` the limit sent
/// when the request has none (0 = none sent).
pub fn request_body(req: &ChatRequest, form: StructuredOutput, max_tokens: u32) -> Value {
    super::decoded_body::<OpenAiChat>(req, form, max_tokens)
}

/// The `tools` array: `[{"type": "function", "function": {name, description, parameters}}]`,
/// borrowing the schemas. Encoded once per tool list by the provider.
fn encode_tools(tools: &[ToolSpec]) -> serde_json::Result<Vec<u8>> {
    let wire: Vec<WireTool<'_>> = tools
        .iter()
        .map(|t| WireTool {
            kind: "function",
            function: WireFunction {
                name: &t.name,
                description: &t.description,
                parameters: &t.parameters,
            },
        })
        .collect();
    serde_json::to_vec(&wire)
}

/// The request body as it is encoded, but for `tools` ([`encode_tools`], spliced in by
/// the provider): it borrows the system prompt and the messages instead of copying
/// them into `Value` trees first (building and encoding such copies was a third of the HTTP
/// client's CPU in a 200-member fan-out, bench/findings.md § 7, and ~2 KB per member in
/// flight, § 9).
#[derive(Serialize)]
struct WireBody<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    /// `"auto"` when tools are offered.
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<WireResponseFormat<'a>>,
    /// llama.cpp's server.
    #[serde(skip_serializing_if = "Option::is_none")]
    json_schema: Option<&'a Value>,
    /// Ollama.
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<&'a Value>,
}

/// `response_format`: OpenAI's `json_schema` or llama-cpp-python's `json_object` with a schema.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireResponseFormat<'a> {
    JsonSchema { json_schema: WireJsonSchema<'a> },
    JsonObject { schema: &'a Value },
}

#[derive(Serialize)]
struct WireJsonSchema<'a> {
    name: &'a str,
    schema: &'a Value,
    strict: bool,
}

/// One Chat Completions message: `{"role": …, …}`.
#[derive(Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
enum WireMessage<'a> {
    System {
        content: &'a str,
    },
    User {
        content: &'a str,
    },
    /// `content` is `""` when the model only called tools (llama-cpp-python and others
    /// refuse `null`).
    Assistant {
        content: &'a str,
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        tool_calls: Vec<WireCall<'a>>,
    },
    Tool {
        tool_call_id: &'a str,
        content: Cow<'a, str>,
    },
}

/// `{"id": …, "type": "function", "function": {"name": …, "arguments": "<JSON text>"}}`.
#[derive(Serialize)]
struct WireCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireCallFunction<'a>,
}

#[derive(Serialize)]
struct WireCallFunction<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunction<'a>,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    name: &'a str,
    description: &'a str,
    parameters: &'a Value,
}

impl<'a> WireBody<'a> {
    fn new(req: &'a ChatRequest, form: StructuredOutput, max_tokens: u32) -> Self {
        let mut messages = Vec::with_capacity(req.messages.len() + 1);
        if !req.system.is_empty() {
            messages.push(WireMessage::System {
                content: &req.system,
            });
        }
        messages.extend(req.messages.iter().map(|m| {
            match m {
                ChatMessage::User { content } => WireMessage::User { content },
                ChatMessage::Assistant {
                    content,
                    tool_calls,
                } => WireMessage::Assistant {
                    content: content.as_deref().unwrap_or(""),
                    tool_calls: tool_calls
                        .iter()
                        .map(|c| WireCall {
                            id: &c.id,
                            kind: "function",
                            function: WireCallFunction {
                                name: &c.name,
                                arguments: &c.arguments,
                            },
                        })
                        .collect(),
                },
                ChatMessage::Tool {
                    tool_call_id,
                    content,
                    is_error,
                    ..
                } => WireMessage::Tool {
                    tool_call_id,
                    // The wire has no error flag: the text says it.
                    content: if *is_error && !content.starts_with("error") {
                        Cow::Owned(format!("error: {content}"))
                    } else {
                        Cow::Borrowed(content)
                    },
                },
            }
        }));
        let answer = req.response_format.as_ref();
        let schema = answer.map(|a| &a.schema);
        WireBody {
            model: &req.model,
            messages,
            temperature: req.temperature,
            max_tokens: req.max_tokens.or((max_tokens > 0).then_some(max_tokens)),
            tool_choice: (!req.tools.is_empty()).then_some("auto"),
            response_format: answer.and_then(|a| match form {
                StructuredOutput::JsonSchema => Some(WireResponseFormat::JsonSchema {
                    json_schema: WireJsonSchema {
                        name: &a.name,
                        schema: &a.schema,
                        strict: true,
                    },
                }),
                StructuredOutput::JsonObject => {
                    Some(WireResponseFormat::JsonObject { schema: &a.schema })
                }
                _ => None,
            }),
            json_schema: schema.filter(|_| form == StructuredOutput::LlamaCpp),
            format: schema.filter(|_| form == StructuredOutput::Ollama),
        }
    }
}

/// Reads a Chat Completions reply (first choice). `latency` and `attempts` are left for the caller.
///
/// Errors: a reason string when `choices[0].message` is missing or a tool call has no function name.
/// Tolerated: missing usage (zeros), missing call ids (`call_<index>`), arguments sent as a JSON
/// object instead of a string (re-encoded as text), content given as an array of text parts.
pub fn parse_response(body: &Value) -> Result<ChatResponse, String> {
    if let Some(err) = body.get("error").filter(|e| !e.is_null()) {
        return Err(format!("the reply is an error object: {}", compact(err)));
    }
    let choice = body
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .ok_or_else(|| "no `choices[0]` in the reply".to_string())?;
    let message = choice
        .get("message")
        .filter(|m| m.is_object())
        .ok_or_else(|| "no `choices[0].message` in the reply".to_string())?;
    let content = match message.get("content") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(parts)) => Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(""),
        ),
        _ => None,
    }
    .filter(|s| !s.is_empty());
    let mut tool_calls = Vec::new();
    if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
        for (i, call) in calls.iter().enumerate() {
            let function = call.get("function").unwrap_or(&Value::Null);
            let name = function
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| format!("tool call {i} has no `function.name`"))?;
            let arguments = match function.get("arguments") {
                Some(Value::String(s)) => s.clone(),
                None | Some(Value::Null) => String::new(),
                Some(other) => compact(other),
            };
            let id = call
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
    }
    let usage = body.get("usage").unwrap_or(&Value::Null);
    Ok(ChatResponse {
        content,
        tool_calls,
        usage: Usage {
            prompt_tokens: usage
                .get("prompt_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            completion_tokens: usage
                .get("completion_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        },
        latency: Default::default(),
        finish_reason: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(str::to_string),
        attempts: 1,
    })
}

fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fixtures::{answer, tool};
    use serde_json::json;

    #[test]
    fn body_maps_roles_and_tools() {
        let mut req = ChatRequest::new("m", "sys");
        req.messages = vec![
            ChatMessage::user("hi"),
            ChatMessage::Assistant {
                content: None,
                tool_calls: vec![ToolCall {
                    id: "c1".into(),
                    name: "t".into(),
                    arguments: "{bad".into(),
                }],
            },
            ChatMessage::Tool {
                tool_call_id: "c1".into(),
                name: "t".into(),
                content: "boom".into(),
                is_error: true,
            },
        ];
        req.tools = std::sync::Arc::from([ToolSpec {
            name: "t".into(),
            description: "d".into(),
            parameters: json!({"type": "object"}),
        }]);
        let b = request_body(&req, StructuredOutput::None, 0);
        // The whole message list, exactly as the wire carries it.
        assert_eq!(
            b["messages"],
            json!([
                {"role": "system", "content": "sys"},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "t", "arguments": "{bad"}}
                ]},
                {"role": "tool", "tool_call_id": "c1", "content": "error: boom"}
            ])
        );
        assert_eq!(
            b["tools"],
            json!([{"type": "function", "function": {"name": "t", "description": "d", "parameters": {"type": "object"}}}])
        );
        assert_eq!(b["messages"][0]["role"], "system");
        assert_eq!(
            b["messages"][2]["tool_calls"][0]["function"]["arguments"],
            "{bad"
        );
        assert_eq!(b["messages"][3]["content"], "error: boom");
        assert_eq!(b["tools"][0]["function"]["name"], "t");
        assert!(b.get("max_tokens").is_none());
        assert!(
            request_body(&ChatRequest::new("m", ""), StructuredOutput::None, 0)
                .get("tools")
                .is_none()
        );
    }

    #[test]
    fn parse_tolerates_variants_and_rejects_missing_choices() {
        let r = parse_response(
            &json!({"choices": [{"message": {"content": null, "tool_calls": [
            {"function": {"name": "a", "arguments": {"x": 1}}}]}, "finish_reason": "tool_calls"}]}),
        )
        .expect("parse");
        assert_eq!(r.tool_calls[0].id, "call_0");
        assert_eq!(r.tool_calls[0].arguments, r#"{"x":1}"#);
        assert_eq!(r.usage, Usage::default());
        assert!(
            parse_response(&json!({"object": "x"}))
                .unwrap_err()
                .contains("choices")
        );
        assert!(
            parse_response(&json!({"error": {"message": "m"}}))
                .unwrap_err()
                .contains("error object")
        );
    }

    #[test]
    fn tools_go_with_tool_choice_auto_and_only_with_tools() {
        // llama-cpp-python ignores `tools` without `tool_choice` (Quirks::tools_need_tool_choice).
        let mut req = ChatRequest::new("m", "");
        req.tools = std::sync::Arc::from([tool()]);
        let b = request_body(&req, StructuredOutput::None, 0);
        assert_eq!(b["tool_choice"], "auto");
        assert_eq!(b["tools"][0]["type"], "function");
        let bare = request_body(&ChatRequest::new("m", ""), StructuredOutput::None, 0);
        assert!(bare.get("tool_choice").is_none() && bare.get("tools").is_none());
        // No system prompt: no system message.
        assert_eq!(bare["messages"], json!([]));
    }

    #[test]
    fn assistant_content_is_never_null() {
        // Servers validating `content` as a string refuse null (Quirks::reject_null_content).
        let mut req = ChatRequest::new("m", "");
        req.messages = vec![ChatMessage::Assistant {
            content: None,
            tool_calls: Vec::new(),
        }];
        let b = request_body(&req, StructuredOutput::None, 0);
        assert_eq!(
            b["messages"],
            json!([{"role": "assistant", "content": ""}]),
            "no null, no empty tool_calls"
        );
    }

    #[test]
    fn max_tokens_the_requests_then_the_settings_then_none() {
        // Without it some servers generate until the context is full
        // (Quirks::fill_without_max_tokens).
        let mut req = ChatRequest::new("m", "s");
        assert_eq!(
            request_body(&req, StructuredOutput::None, 512)["max_tokens"],
            512
        );
        assert!(
            request_body(&req, StructuredOutput::None, 0)
                .get("max_tokens")
                .is_none()
        );
        req.max_tokens = Some(7);
        req.temperature = Some(0.5);
        let b = request_body(&req, StructuredOutput::None, 512);
        assert_eq!(b["max_tokens"], 7);
        assert_eq!(b["temperature"], 0.5);
        assert_eq!(b["model"], "m");
    }

    #[test]
    fn each_structured_output_form_in_the_body() {
        let mut req = ChatRequest::new("m", "s");
        req.response_format = Some(answer());
        let schema = answer().schema;
        let forms = [
            (
                StructuredOutput::JsonSchema,
                "response_format",
                json!({"type": "json_schema", "json_schema": {"name": "review_answer", "schema": schema, "strict": true}}),
            ),
            (
                StructuredOutput::JsonObject,
                "response_format",
                json!({"type": "json_object", "schema": schema}),
            ),
            (StructuredOutput::LlamaCpp, "json_schema", schema.clone()),
            (StructuredOutput::Ollama, "format", schema.clone()),
        ];
        let all = ["response_format", "json_schema", "format"];
        for (form, field, want) in forms {
            let b = request_body(&req, form, 0);
            assert_eq!(b[field], want, "{form:?}");
            // The refusal of a form is recognised by this field's name in the error body.
            assert_eq!(form.field(), Some(field), "{form:?}");
            for other in all.iter().filter(|f| **f != field) {
                assert!(b.get(*other).is_none(), "{form:?} sends only {field}");
            }
        }
        let none = request_body(&req, StructuredOutput::None, 0);
        assert!(all.iter().all(|f| none.get(*f).is_none()));
        // A form with no answer asked for sends nothing.
        let free = request_body(&ChatRequest::new("m", ""), StructuredOutput::JsonSchema, 0);
        assert!(all.iter().all(|f| free.get(*f).is_none()));
    }

    #[test]
    fn a_tool_error_is_prefixed_once() {
        let call = ToolCall {
            id: "c".into(),
            name: "t".into(),
            arguments: "{}".into(),
        };
        let mut req = ChatRequest::new("m", "");
        req.messages = vec![
            ChatMessage::tool_result(&call, "error: already said", true),
            ChatMessage::tool_result(&call, "fine", false),
        ];
        let b = request_body(&req, StructuredOutput::None, 0);
        assert_eq!(b["messages"][0]["content"], "error: already said");
        assert_eq!(b["messages"][1]["content"], "fine");
        assert_eq!(b["messages"][1]["tool_call_id"], "c");
    }

    #[test]
    fn parse_reads_text_parts_usage_and_finish_reason() {
        let r = parse_response(&json!({
            "choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 3}
        }))
        .expect("parse");
        assert_eq!(r.content.as_deref(), Some("ab"));
        assert_eq!(r.usage.prompt_tokens, 11);
        assert_eq!(r.usage.completion_tokens, 3);
        assert_eq!(r.finish_reason.as_deref(), Some("stop"));
        assert_eq!(r.attempts, 1);
        // Empty text is no text; null arguments are empty text; ids are kept.
        let r = parse_response(
            &json!({"choices": [{"message": {"content": "", "tool_calls": [
            {"id": "x", "function": {"name": "t", "arguments": null}}]}}]}),
        )
        .expect("parse");
        assert_eq!(r.content, None);
        assert_eq!(r.tool_calls[0].id, "x");
        assert_eq!(r.tool_calls[0].arguments, "");
        assert_eq!(r.finish_reason, None);
    }

    #[test]
    fn parse_rejects_what_cannot_be_read() {
        for (body, says) in [
            (json!({"choices": []}), "choices[0]"),
            (json!({"choices": [{"message": null}]}), "message"),
            (json!({"choices": [{"message": "text"}]}), "message"),
            (
                json!({"choices": [{"message": {"tool_calls": [{"function": {"name": ""}}]}}]}),
                "tool call 0",
            ),
        ] {
            let err = parse_response(&body).expect_err("unreadable");
            assert!(err.contains(says), "{body}: {err}");
        }
        // `error: null` beside a good reply is no error.
        let ok = json!({"error": null, "choices": [{"message": {"content": "hi"}}]});
        assert_eq!(
            parse_response(&ok).expect("ok").content.as_deref(),
            Some("hi")
        );
    }

    #[test]
    fn the_format_speaks_to_its_endpoint_with_a_bearer_key() {
        assert_eq!(
            OpenAiChat::endpoint_path("http://h/v1"),
            "/chat/completions"
        );
        assert_eq!(OpenAiChat::KEY_HEADER, ("authorization", "Bearer "));
        assert!(OpenAiChat::HEADERS.is_empty());
        // The answer is the text: nothing to move.
        let mut req = ChatRequest::new("m", "");
        req.response_format = Some(answer());
        let mut resp =
            parse_response(&json!({"choices": [{"message": {"content": "{}"}}]})).expect("parse");
        let before = resp.clone();
        OpenAiChat::finish(&req, StructuredOutput::JsonSchema, &mut resp);
        assert_eq!(resp, before);
    }
}
