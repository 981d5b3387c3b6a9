//! Provider-neutral chat types: what the agent loop sends and gets back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::{Provider, ProviderError};

/// One non-streaming chat call. `model` is the provider's own model name (the part after `provider/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// Model name as the provider knows it, e.g. `gpt-4o-mini`, `claude-sonnet-4-5`, `meta-llama/llama-3`.
    pub model: String,
    /// System prompt; empty = none sent.
    #[serde(default)]
    pub system: String,
    /// Conversation so far, oldest first.
    #[serde(default)]
    pub messages: Vec<ChatMessage>,
    /// Tools offered to the model; empty = no `tools` field sent. Shared: every member with
    /// the same tools points at one list (the JSON schemas are ~50 KB of `Value`s per copy).
    #[serde(default)]
    pub tools: Arc<[ToolSpec]>,
    /// Sampling temperature; None = provider default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Completion token limit; None = provider default (Anthropic requires one: 4096 is sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// The JSON shape the text answer must have (structured output), asked of the provider in
    /// the form its `structured_output` setting picks; None = free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<AnswerFormat>,
}

/// The JSON shape a model's text answer must have: a name and a JSON Schema (derived from the
/// Rust type that reads the answer, see `team_runner::workflow::answers`).
///
/// How it reaches the model depends on the provider's `structured_output` setting
/// ([`crate::StructuredOutput`]): OpenAI `response_format` `json_schema` (strict),
/// llama-cpp-python `response_format` `json_object` with `schema`, llama.cpp's `json_schema`,
/// Ollama's `format`, or an Anthropic tool the model is made to call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerFormat {
    /// A name for the shape (`^[a-zA-Z0-9_-]{1,64}$`, as OpenAI and Anthropic accept), e.g.
    /// `review_answer`.
    pub name: String,
    /// JSON Schema (draft 2020-12, no `$ref`s) of the answer object.
    pub schema: serde_json::Value,
}

impl ChatRequest {
    /// A request for `model` with a system prompt and no messages, tools or limits.
    pub fn new(model: impl Into<String>, system: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            system: system.into(),
            messages: Vec::new(),
            tools: Arc::from([]),
            temperature: None,
            max_tokens: None,
            response_format: None,
        }
    }
}

/// One message of the conversation. Serde: tagged by `role` (`user`, `assistant`, `tool`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum ChatMessage {
    /// A user (or runner-injected) message.
    User {
        /// Text.
        content: String,
    },
    /// A previous model reply: text and/or tool calls.
    Assistant {
        /// Text, if any.
        #[serde(default)]
        content: Option<String>,
        /// Tool calls the model made.
        #[serde(default)]
        tool_calls: Vec<ToolCall>,
    },
    /// The result of one tool call.
    Tool {
        /// Id of the [`ToolCall`] this answers.
        tool_call_id: String,
        /// Tool name.
        name: String,
        /// Result text (or error text when `is_error`).
        content: String,
        /// True when the tool failed. Anthropic: `is_error` on the `tool_result` block;
        /// OpenAI (no such field): content is prefixed with `error: ` unless it already starts with it.
        #[serde(default)]
        is_error: bool,
    },
}

impl ChatMessage {
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::User {
            content: content.into(),
        }
    }

    /// The assistant message that a [`ChatResponse`] represents, to append to the history.
    pub fn from_response(resp: &ChatResponse) -> Self {
        Self::Assistant {
            content: resp.content.clone(),
            tool_calls: resp.tool_calls.clone(),
        }
    }

    /// A tool result message.
    pub fn tool_result(call: &ToolCall, content: impl Into<String>, is_error: bool) -> Self {
        Self::Tool {
            tool_call_id: call.id.clone(),
            name: call.name.clone(),
            content: content.into(),
            is_error,
        }
    }
}

/// A tool call made by the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Provider-assigned call id (generated as `call_<index>` when a server sends none).
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Raw JSON text of the arguments as the model sent it; may be malformed (the caller validates it).
    /// Anthropic sends a JSON object: this is its compact JSON text.
    pub arguments: String,
}

/// A tool offered to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Tool name (`^[a-zA-Z0-9_-]{1,64}$` is what OpenAI and Anthropic accept).
    pub name: String,
    /// What the tool does, for the model.
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

/// Token usage of one call (0 when the server does not report it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens (Anthropic: input + cache creation + cache read tokens).
    pub prompt_tokens: u64,
    /// Output tokens.
    pub completion_tokens: u64,
}

/// A model reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// Text; None when the reply has only tool calls (or empty text).
    pub content: Option<String>,
    /// Tool calls, in the order sent.
    #[serde(default)]
    pub tool_calls: Vec<ToolCall>,
    /// Token usage.
    #[serde(default)]
    pub usage: Usage,
    /// Wall time of the whole call: gate waits, all attempts and backoff sleeps. Not serialized
    /// (cassettes stay deterministic); replayed responses report the replay's own (near zero) time.
    #[serde(skip)]
    pub latency: Duration,
    /// `finish_reason` (OpenAI) or `stop_reason` (Anthropic) as sent, e.g. `stop`, `tool_calls`, `end_turn`.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// HTTP attempts made (1 = no retry).
    #[serde(default = "one")]
    pub attempts: u32,
}

fn one() -> u32 {
    1
}

/// Who is calling: used by cassettes (replay key = member + turn) and in error messages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CallContext {
    /// Team name.
    pub team: String,
    /// Member name (the lead is a member too).
    pub member: String,
    /// Turn number of this member's agent loop, from 1.
    pub turn: u32,
}

impl CallContext {
    /// A context for `member` of `team` at `turn`.
    pub fn new(team: impl Into<String>, member: impl Into<String>, turn: u32) -> Self {
        Self {
            team: team.into(),
            member: member.into(),
            turn,
        }
    }
}

/// Per-call facts the runner records as an event. `status` is `ok` or the error kind
/// (see [`ProviderError::kind`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallFacts {
    /// Provider name, e.g. `openai`.
    pub provider: String,
    /// Model name (without the provider prefix).
    pub model: String,
    /// Prompt tokens (0 on error).
    pub prompt_tokens: u64,
    /// Completion tokens (0 on error).
    pub completion_tokens: u64,
    /// Wall time of the call in ms.
    pub latency_ms: u64,
    /// HTTP attempts made (0 when none was made, e.g. configuration errors or replay misses).
    pub attempts: u32,
    /// `ok` or the error kind, e.g. `http`, `transport`, `bad_response`.
    pub status: String,
    /// Last HTTP status seen, when known (200 for successful calls).
    pub http_status: Option<u16>,
}

impl CallFacts {
    /// Facts of a finished call; `elapsed` is used for errors (successes use `latency`).
    pub fn from_result(
        provider: &str,
        model: &str,
        elapsed: Duration,
        result: &Result<ChatResponse, ProviderError>,
    ) -> Self {
        match result {
            Ok(r) => Self {
                provider: provider.to_string(),
                model: model.to_string(),
                prompt_tokens: r.usage.prompt_tokens,
                completion_tokens: r.usage.completion_tokens,
                latency_ms: r.latency.as_millis() as u64,
                attempts: r.attempts,
                status: "ok".into(),
                http_status: Some(200),
            },
            Err(e) => Self {
                provider: provider.to_string(),
                model: model.to_string(),
                prompt_tokens: 0,
                completion_tokens: 0,
                latency_ms: elapsed.as_millis() as u64,
                attempts: e.attempts(),
                status: e.kind().to_string(),
                http_status: e.http_status(),
            },
        }
    }
}

/// Calls `provider` and returns the result with its [`CallFacts`].
pub async fn chat_with_facts(
    provider: &dyn Provider,
    ctx: &CallContext,
    req: &ChatRequest,
) -> (Result<ChatResponse, ProviderError>, CallFacts) {
    let start = Instant::now();
    let result = provider.chat(ctx, req).await;
    let facts = CallFacts::from_result(provider.name(), &req.model, start.elapsed(), &result);
    (result, facts)
}
