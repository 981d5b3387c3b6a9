//! Wire quirks of real OpenAI-compatible servers (llama.cpp, llama-cpp-python, vLLM, Ollama),
//! reproduced by the scripted server so a client's handling of each can be tested.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::request::{Protocol, ScriptRequest};
use crate::script::Reply;

/// Characters of the reply a [`Quirks::fill_without_max_tokens`] server sends when the
/// request sets no `max_tokens`: the model "generated until the context was full".
pub const FILL_CHARS: usize = 4000;

/// Quirks of an OpenAI-compatible server, all off by default (OpenAI's own behaviour). Set
/// with [`crate::Script::with_quirks`] or a script file's `"quirks"` object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quirks {
    /// llama-cpp-python: `tools` without `tool_choice` are ignored; a scripted tool-call reply
    /// comes back as text (the model wrote the call as prose) with no `tool_calls`.
    pub tools_need_tool_choice: bool,
    /// Servers that validate `content` as a string: an assistant message with `content: null`
    /// is refused with HTTP [`Quirks::refusal_status`], naming `content`.
    pub reject_null_content: bool,
    /// The `response_format.type`s the server knows (e.g. llama-cpp-python: `text`,
    /// `json_object`); any other is refused with HTTP [`Quirks::refusal_status`], naming
    /// `response_format`. Empty = every type is accepted.
    pub response_format_types: Vec<String>,
    /// Top-level request fields the server refuses (e.g. `json_schema`, `format` for a server
    /// that knows neither), with HTTP [`Quirks::refusal_status`] naming the field.
    pub reject_fields: Vec<String>,
    /// Without `max_tokens` the model generates until its context is full: the reply is
    /// [`FILL_CHARS`] characters of filler, whatever the script says.
    pub fill_without_max_tokens: bool,
    /// The status of the refusals above: 400 when unset (llama-cpp-python sends 500).
    pub refusal_status: Option<u16>,
}

impl Quirks {
    /// The refusal of `req` by these quirks, if it trips one (OpenAI wire format only).
    pub(crate) fn refuse(&self, req: &ScriptRequest) -> Option<Response> {
        let any = self.reject_null_content
            || !self.response_format_types.is_empty()
            || !self.reject_fields.is_empty();
        if req.protocol != Protocol::OpenAi || !any {
            // No quirk to test: the body is not parsed whole.
            return None;
        }
        let body = req.body();
        let status = StatusCode::from_u16(self.refusal_status.unwrap_or(400))
            .unwrap_or(StatusCode::BAD_REQUEST);
        let refuse = |message: String| {
            let body = json!({"error": {"message": message, "type": "invalid_request_error"}});
            Some((status, axum::Json(body)).into_response())
        };
        if self.reject_null_content {
            let messages = body.get("messages").and_then(Value::as_array);
            for (i, m) in messages.into_iter().flatten().enumerate() {
                if m.get("role").and_then(Value::as_str) == Some("assistant")
                    && m.get("content").is_none_or(Value::is_null)
                {
                    return refuse(format!(
                        "messages[{i}].content: Input should be a valid string (got null)"
                    ));
                }
            }
        }
        if !self.response_format_types.is_empty()
            && let Some(kind) = body.get("response_format").map(|f| f.get("type"))
        {
            let kind = kind.and_then(Value::as_str).unwrap_or("");
            if !self.response_format_types.iter().any(|t| t == kind) {
                return refuse(format!(
                    "response_format.type: Input should be {} (got '{kind}')",
                    self.response_format_types
                        .iter()
                        .map(|t| format!("'{t}'"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                ));
            }
        }
        for field in &self.reject_fields {
            if body.get(field).is_some() {
                return refuse(format!("Unrecognized request argument supplied: {field}"));
            }
        }
        None
    }

    /// `reply` as this server gives it for `req`.
    pub(crate) fn shape(&self, req: &ScriptRequest, reply: Reply) -> Reply {
        if req.protocol != Protocol::OpenAi
            || !(self.fill_without_max_tokens || self.tools_need_tool_choice)
        {
            return reply;
        }
        let body = req.body();
        if self.fill_without_max_tokens && body.get("max_tokens").is_none_or(Value::is_null) {
            return Reply::Text {
                text: "lorem ipsum ".repeat(FILL_CHARS / 12),
                usage: None,
            };
        }
        if self.tools_need_tool_choice
            && body.get("tool_choice").is_none_or(Value::is_null)
            && let Reply::ToolCalls { calls, text, usage } = reply
        {
            let prose = calls
                .iter()
                .map(|c| format!("I would call {}({})", c.name, c.arguments))
                .collect::<Vec<_>>()
                .join("\n");
            return Reply::Text {
                text: text.map(|t| format!("{t}\n{prose}")).unwrap_or(prose),
                usage,
            };
        }
        reply
    }
}
