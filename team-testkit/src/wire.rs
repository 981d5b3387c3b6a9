//! Renders scripted replies in the OpenAI Chat Completions and Anthropic Messages wire formats.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::request::{Protocol, ScriptRequest};
use crate::script::{Reply, ScriptToolCall, UsageSpec};

/// Builds the HTTP response for a resolved (non-sequence) reply. `seq` numbers ids. A
/// request that asks to stream (`"stream": true`, as the agent CLIs' SDKs do) gets the same
/// answer as server-sent events ([`stream_body`]).
pub(crate) fn render(req: &ScriptRequest, reply: &Reply, seq: u64) -> Response {
    let answer = |text: Option<&str>, calls: &[ScriptToolCall], usage: UsageSpec| {
        if wants_stream(req) || req.protocol == Protocol::Responses {
            sse_ok(stream_body(req, text, calls, usage, seq))
        } else {
            json_ok(message_body(req, text, calls, usage, seq))
        }
    };
    match reply {
        Reply::Text { text, usage } => {
            let usage = usage.unwrap_or_else(|| computed_usage(req, text.chars().count()));
            answer(Some(text), &[], usage)
        }
        Reply::Echo => {
            let text = format!("echo: {}", req.last_user_or_tool_text());
            let usage = computed_usage(req, text.chars().count());
            answer(Some(&text), &[], usage)
        }
        Reply::ToolCalls { calls, text, usage } => {
            let chars = calls
                .iter()
                .map(|c| c.name.len() + c.arguments.chars().count())
                .sum::<usize>()
                + text.as_deref().map(|t| t.chars().count()).unwrap_or(0);
            let usage = usage.unwrap_or_else(|| computed_usage(req, chars));
            answer(text.as_deref(), calls, usage)
        }
        Reply::Error {
            status,
            body,
            retry_after,
        } => raw(*status, body, retry_after.as_deref()),
        Reply::Sequence { .. } => {
            // Callers resolve sequences first; a nested unresolved one is a script bug.
            raw(
                500,
                r#"{"error":{"message":"scripted-llm: unresolved sequence reply"}}"#,
                None,
            )
        }
    }
}

/// HTTP 400 saying no rule matched, in the request's wire format.
pub(crate) fn no_match(req: &ScriptRequest) -> Response {
    let message = format!(
        "scripted-llm: no script rule matched (model `{}`, turn {}, last message `{}`)",
        req.model,
        req.turn,
        req.last_user_or_tool_text()
    );
    let body = match req.protocol {
        Protocol::OpenAi => json!({"error": {"message": message, "type": "invalid_request_error"}}),
        Protocol::Anthropic => {
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}})
        }
        Protocol::Responses => {
            json!({"error": {"message": message, "type": "invalid_request_error", "code": null}})
        }
    };
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

fn computed_usage(req: &ScriptRequest, reply_chars: usize) -> UsageSpec {
    UsageSpec {
        prompt_tokens: (req.text_chars() / 4 + 1) as u64,
        completion_tokens: (reply_chars / 4 + 1) as u64,
    }
}

fn json_ok(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// Whether the request asks for a streamed answer (`"stream": true`).
fn wants_stream(req: &ScriptRequest) -> bool {
    req.stream
}

fn sse_ok(body: String) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// The answer as one server-sent-events body, in the request's wire format: OpenAI
/// `chat.completion.chunk`s (the text, each tool call, the finish reason, a usage chunk, then
/// `data: [DONE]`), or Anthropic's `message_start`, one content block per text and tool call
/// (`text_delta` / `input_json_delta`), `message_delta` with the stop reason and usage,
/// `message_stop`. Sent whole: the clients read it as a stream all the same.
fn stream_body(
    req: &ScriptRequest,
    text: Option<&str>,
    calls: &[ScriptToolCall],
    usage: UsageSpec,
    seq: u64,
) -> String {
    let mut out = String::new();
    let mut event = |name: Option<&str>, data: &Value| {
        if let Some(name) = name {
            out.push_str("event: ");
            out.push_str(name);
            out.push('\n');
        }
        out.push_str("data: ");
        out.push_str(&data.to_string());
        out.push_str("\n\n");
    };
    match req.protocol {
        Protocol::OpenAi => {
            let id = format!("chatcmpl-scripted-{seq}");
            let chunk = |delta: Value, finish: Option<&str>| {
                json!({
                    "id": id, "object": "chat.completion.chunk", "created": 0, "model": req.model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                })
            };
            event(
                None,
                &chunk(json!({"role": "assistant", "content": ""}), None),
            );
            if let Some(t) = text.filter(|t| !t.is_empty()) {
                event(None, &chunk(json!({"content": t}), None));
            }
            for (i, c) in calls.iter().enumerate() {
                let call = json!({
                    "index": i,
                    "id": c.id.clone().unwrap_or_else(|| format!("call_{seq}_{i}")),
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                });
                event(None, &chunk(json!({"tool_calls": [call]}), None));
            }
            let finish = if calls.is_empty() {
                "stop"
            } else {
                "tool_calls"
            };
            event(None, &chunk(json!({}), Some(finish)));
            event(
                None,
                &json!({
                    "id": id, "object": "chat.completion.chunk", "created": 0, "model": req.model,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": usage.prompt_tokens,
                        "completion_tokens": usage.completion_tokens,
                        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
                    },
                }),
            );
            out.push_str("data: [DONE]\n\n");
        }
        Protocol::Anthropic => {
            event(
                Some("message_start"),
                &json!({"type": "message_start", "message": {
                    "id": format!("msg_scripted_{seq}"), "type": "message", "role": "assistant",
                    "model": req.model, "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": usage.prompt_tokens, "output_tokens": 0},
                }}),
            );
            let mut index = 0;
            if let Some(t) = text.filter(|t| !t.is_empty()) {
                event(
                    Some("content_block_start"),
                    &json!({"type": "content_block_start", "index": index,
                        "content_block": {"type": "text", "text": ""}}),
                );
                event(
                    Some("content_block_delta"),
                    &json!({"type": "content_block_delta", "index": index,
                        "delta": {"type": "text_delta", "text": t}}),
                );
                event(
                    Some("content_block_stop"),
                    &json!({"type": "content_block_stop", "index": index}),
                );
                index += 1;
            }
            for (i, c) in calls.iter().enumerate() {
                event(
                    Some("content_block_start"),
                    &json!({"type": "content_block_start", "index": index, "content_block": {
                        "type": "tool_use",
                        "id": c.id.clone().unwrap_or_else(|| format!("toolu_{seq}_{i}")),
                        "name": c.name, "input": {},
                    }}),
                );
                event(
                    Some("content_block_delta"),
                    &json!({"type": "content_block_delta", "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": c.arguments}}),
                );
                event(
                    Some("content_block_stop"),
                    &json!({"type": "content_block_stop", "index": index}),
                );
                index += 1;
            }
            let stop = if calls.is_empty() {
                "end_turn"
            } else {
                "tool_use"
            };
            event(
                Some("message_delta"),
                &json!({"type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": null},
                    "usage": {"output_tokens": usage.completion_tokens}}),
            );
            event(Some("message_stop"), &json!({"type": "message_stop"}));
        }
        Protocol::Responses => {
            let id = format!("resp_scripted_{seq}");
            event(
                Some("response.created"),
                &json!({"type": "response.created", "response": {"id": id, "object": "response",
                    "status": "in_progress", "model": req.model, "output": []}}),
            );
            let output = responses_output(req, text, calls, seq);
            for (i, item) in output.iter().enumerate() {
                event(
                    Some("response.output_item.added"),
                    &json!({"type": "response.output_item.added", "output_index": i, "item": item}),
                );
                if item["type"] == "message" {
                    event(
                        Some("response.output_text.delta"),
                        &json!({"type": "response.output_text.delta", "output_index": i,
                            "content_index": 0, "item_id": item["id"],
                            "delta": item["content"][0]["text"]}),
                    );
                }
                event(
                    Some("response.output_item.done"),
                    &json!({"type": "response.output_item.done", "output_index": i, "item": item}),
                );
            }
            event(
                Some("response.completed"),
                &json!({"type": "response.completed", "response": {"id": id, "object": "response",
                    "status": "completed", "model": req.model, "output": output,
                    "usage": responses_usage(usage)}}),
            );
        }
    }
    out
}

/// The output items of a Responses answer: the text as an assistant `message`, each call as
/// a `function_call` (a call of `NAMESPACE__TOOL`, a tool of a namespace the request
/// offered, carries `namespace` and `name` apart, as Codex expects).
fn responses_output(
    req: &ScriptRequest,
    text: Option<&str>,
    calls: &[ScriptToolCall],
    seq: u64,
) -> Vec<Value> {
    let mut items = Vec::new();
    if let Some(t) = text.filter(|t| !t.is_empty()) {
        items.push(json!({
            "type": "message", "id": format!("msg_scripted_{seq}"), "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": t, "annotations": []}],
        }));
    }
    for (i, c) in calls.iter().enumerate() {
        let mut item = json!({
            "type": "function_call", "id": format!("fc_scripted_{seq}_{i}"), "status": "completed",
            "call_id": c.id.clone().unwrap_or_else(|| format!("call_{seq}_{i}")),
            "name": c.name, "arguments": c.arguments,
        });
        if let Some((namespace, name)) = namespaced(req, &c.name) {
            item["namespace"] = Value::String(namespace);
            item["name"] = Value::String(name);
        }
        items.push(item);
    }
    items
}

/// `(namespace, tool)` when `name` is `NAMESPACE__TOOL` for a tool of a namespace the
/// request offered.
fn namespaced(req: &ScriptRequest, name: &str) -> Option<(String, String)> {
    let tools = req.body().get("tools")?.as_array()?;
    tools.iter().find_map(|t| {
        let ns = t.get("name")?.as_str()?;
        let tool = name.strip_prefix(ns)?.strip_prefix("__")?;
        t.get("tools")?
            .as_array()?
            .iter()
            .any(|sub| sub.get("name").and_then(Value::as_str) == Some(tool))
            .then(|| (ns.to_owned(), tool.to_owned()))
    })
}

fn responses_usage(usage: UsageSpec) -> Value {
    json!({
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    })
}

fn raw(status: u16, body: &str, retry_after: Option<&str>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type = if serde_json::from_str::<Value>(body).is_ok() {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(ra) = retry_after
        && let Ok(v) = HeaderValue::from_str(ra)
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

fn message_body(
    req: &ScriptRequest,
    text: Option<&str>,
    calls: &[ScriptToolCall],
    usage: UsageSpec,
    seq: u64,
) -> Value {
    match req.protocol {
        Protocol::OpenAi => {
            let mut message = json!({"role": "assistant", "content": text});
            if !calls.is_empty() {
                let tool_calls: Vec<Value> = calls
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        json!({
                            "id": c.id.clone().unwrap_or_else(|| format!("call_{seq}_{i}")),
                            "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments},
                        })
                    })
                    .collect();
                message["tool_calls"] = Value::Array(tool_calls);
            }
            let finish = if calls.is_empty() {
                "stop"
            } else {
                "tool_calls"
            };
            json!({
                "id": format!("chatcmpl-scripted-{seq}"),
                "object": "chat.completion",
                "created": 0,
                "model": req.model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {
                    "prompt_tokens": usage.prompt_tokens,
                    "completion_tokens": usage.completion_tokens,
                    "total_tokens": usage.prompt_tokens + usage.completion_tokens,
                },
            })
        }
        Protocol::Responses => json!({
            "id": format!("resp_scripted_{seq}"),
            "object": "response",
            "status": "completed",
            "model": req.model,
            "output": responses_output(req, text, calls, seq),
            "usage": responses_usage(usage),
        }),
        Protocol::Anthropic => {
            let mut content = Vec::new();
            if let Some(t) = text {
                content.push(json!({"type": "text", "text": t}));
            }
            for (i, c) in calls.iter().enumerate() {
                // The Anthropic wire carries `input` as JSON; malformed text travels as a JSON string.
                let input = serde_json::from_str::<Value>(&c.arguments)
                    .unwrap_or_else(|_| Value::String(c.arguments.clone()));
                content.push(json!({
                    "type": "tool_use",
                    "id": c.id.clone().unwrap_or_else(|| format!("toolu_{seq}_{i}")),
                    "name": c.name,
                    "input": input,
                }));
            }
            let stop = if calls.is_empty() {
                "end_turn"
            } else {
                "tool_use"
            };
            json!({
                "id": format!("msg_scripted_{seq}"),
                "type": "message",
                "role": "assistant",
                "model": req.model,
                "content": content,
                "stop_reason": stop,
                "stop_sequence": null,
                "usage": {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens},
            })
        }
    }
}
