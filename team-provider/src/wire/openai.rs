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
}
