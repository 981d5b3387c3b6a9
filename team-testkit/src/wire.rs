//! Renders scripted replies in the OpenAI Chat Completions and Anthropic Messages wire formats.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::request::{Protocol, ScriptRequest};
use crate::script::{Reply, ScriptToolCall, UsageSpec};

/// Builds the HTTP response for a resolved (non-sequence) reply. `seq` numbers ids.
pub(crate) fn render(req: &ScriptRequest, reply: &Reply, seq: u64) -> Response {
    match reply {
        Reply::Text { text, usage } => {
            let usage = usage.unwrap_or_else(|| computed_usage(req, text.chars().count()));
            json_ok(message_body(req, Some(text), &[], usage, seq))
        }
        Reply::Echo => {
            let text = format!("echo: {}", req.last_user_or_tool_text());
            let usage = computed_usage(req, text.chars().count());
            json_ok(message_body(req, Some(&text), &[], usage, seq))
        }
        Reply::ToolCalls { calls, text, usage } => {
            let chars = calls
                .iter()
                .map(|c| c.name.len() + c.arguments.chars().count())
                .sum::<usize>()
                + text.as_deref().map(|t| t.chars().count()).unwrap_or(0);
            let usage = usage.unwrap_or_else(|| computed_usage(req, chars));
            json_ok(message_body(req, text.as_deref(), calls, usage, seq))
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
