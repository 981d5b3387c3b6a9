//! The script a [`crate::ScriptedServer`] follows: rules, replies, usage, latency.
//!
//! The serde shape (used by the `scripted-llm --script FILE.json` binary) mirrors the Rust types:
//!
//! ```json
//! [
//!   {"when": {"turn": 1}, "reply": {"type": "tool_calls", "calls": [{"name": "read_file", "arguments": "{\"path\":\"a\"}"}]}},
//!   {"when": {"last_message_contains": "boom"}, "reply": {"type": "error", "status": 429, "body": "{}", "retry_after": "1"}, "times": 1},
//!   {"reply": {"type": "text", "text": "done"}}
//! ]
//! ```

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::quirks::Quirks;
use crate::request::ScriptRequest;

/// A responder closure: called once per request, returns the reply to send.
pub type ReplyFn = Arc<dyn Fn(&ScriptRequest) -> Reply + Send + Sync>;

/// What the server does with each request.
#[derive(Debug, Clone)]
pub struct Script {
    /// Fixed delay before each reply, in ms (a rule's `delay_ms` overrides it). Default 0.
    pub latency_ms: u64,
    /// How replies are chosen.
    pub responder: Responder,
    /// What to answer when no rule matches (rules mode only). Default [`NoMatch::Echo`].
    pub on_no_match: NoMatch,
    /// Wire quirks of real servers to reproduce (none by default).
    pub quirks: Quirks,
    /// CPU each request costs the server before it is answered, in µs of its thread's CPU
    /// time (a server in an interpreted framework, which parses and routes slowly). Default 0.
    pub cpu_us: u64,
    /// Whether the server keeps every request for [`crate::ScriptedServer::requests`]
    /// (bodies included). Default true (tests read them); the `scripted-llm` binary, which
    /// never reads them, turns it off so a 1,000-request burst keeps no bodies.
    pub record: bool,
}

impl Default for Script {
    /// No rules, no latency, echo replies.
    fn default() -> Self {
        Self {
            latency_ms: 0,
            responder: Responder::Rules(Vec::new()),
            on_no_match: NoMatch::Echo,
            quirks: Quirks::default(),
            cpu_us: 0,
            record: true,
        }
    }
}

impl Script {
    /// A script that answers from an ordered rule list (first match wins).
    pub fn rules(rules: Vec<Rule>) -> Self {
        Self {
            responder: Responder::Rules(rules),
            ..Self::default()
        }
    }

    /// A script whose replies come from `f`, called once per request (it may keep its own state).
    pub fn from_fn(f: impl Fn(&ScriptRequest) -> Reply + Send + Sync + 'static) -> Self {
        Self {
            responder: Responder::Func(Arc::new(f)),
            ..Self::default()
        }
    }

    /// Sets the fixed per-request latency in ms.
    pub fn with_latency_ms(mut self, ms: u64) -> Self {
        self.latency_ms = ms;
        self
    }

    /// Sets the CPU cost of each request, in µs of the server thread's CPU time (see
    /// [`Script::cpu_us`]).
    pub fn with_cpu_us(mut self, us: u64) -> Self {
        self.cpu_us = us;
        self
    }

    /// Sets whether the server keeps every request (see [`Script::record`]).
    pub fn with_record(mut self, record: bool) -> Self {
        self.record = record;
        self
    }

    /// Sets the wire quirks to reproduce.
    pub fn with_quirks(mut self, quirks: Quirks) -> Self {
        self.quirks = quirks;
        self
    }

    /// Sets what to answer when no rule matches.
    pub fn with_no_match(mut self, on_no_match: NoMatch) -> Self {
        self.on_no_match = on_no_match;
        self
    }
}

/// How replies are chosen.
#[derive(Clone)]
pub enum Responder {
    /// Ordered rules: the first rule that matches and still has uses left answers.
    Rules(Vec<Rule>),
    /// A closure called for every request.
    Func(ReplyFn),
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rules(rules) => f.debug_tuple("Rules").field(rules).finish(),
            Self::Func(_) => f.write_str("Func(..)"),
        }
    }
}

/// What to answer when no rule matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoMatch {
    /// A text reply `echo: <text of the last user or tool message>`.
    #[default]
    Echo,
    /// HTTP 400 with a JSON error body saying that no script rule matched (strict tests).
    Error400,
}

/// One scripted rule: when `when` matches, answer `reply`, at most `times` times (None = unlimited).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Conditions (all set ones must hold). Empty matches everything.
    #[serde(default)]
    pub when: Matcher,
    /// The reply.
    pub reply: Reply,
    /// How many requests this rule answers before it is skipped; None = unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<usize>,
    /// Delay for this rule's replies in ms, instead of the script latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
}

impl Rule {
    /// A rule that always answers `reply`.
    pub fn always(reply: Reply) -> Self {
        Self {
            reply,
            ..Self::default()
        }
    }

    /// A rule answering `reply` when `when` matches.
    pub fn when(when: Matcher, reply: Reply) -> Self {
        Self {
            when,
            reply,
            ..Self::default()
        }
    }

    /// Limits the rule to `n` uses.
    pub fn times(mut self, n: usize) -> Self {
        self.times = Some(n);
        self
    }

    /// Sets this rule's delay in ms.
    pub fn delay_ms(mut self, ms: u64) -> Self {
        self.delay_ms = Some(ms);
        self
    }
}

/// Request conditions; every field that is set must hold (string tests are case-sensitive substrings).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    /// The system prompt contains this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_contains: Option<String>,
    /// The last user or tool message contains this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message_contains: Option<String>,
    /// The turn number (number of assistant messages in the request + 1) equals this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<u32>,
    /// The model name equals this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

impl Matcher {
    /// Matches when the system prompt contains `s`.
    pub fn system_contains(s: impl Into<String>) -> Self {
        Self {
            system_contains: Some(s.into()),
            ..Self::default()
        }
    }

    /// Matches when the last user/tool message contains `s`.
    pub fn last_message_contains(s: impl Into<String>) -> Self {
        Self {
            last_message_contains: Some(s.into()),
            ..Self::default()
        }
    }

    /// Matches the given turn (1 = no assistant message yet).
    pub fn turn(turn: u32) -> Self {
        Self {
            turn: Some(turn),
            ..Self::default()
        }
    }

    /// Matches the given model name.
    pub fn model(model: impl Into<String>) -> Self {
        Self {
            model: Some(model.into()),
            ..Self::default()
        }
    }

    /// True when every set condition holds for `req`.
    pub fn matches(&self, req: &ScriptRequest) -> bool {
        if let Some(s) = &self.system_contains
            && !req.system.contains(s.as_str())
        {
            return false;
        }
        if let Some(s) = &self.last_message_contains
            && !req.last_user_or_tool_text().contains(s.as_str())
        {
            return false;
        }
        if let Some(t) = self.turn
            && req.turn != t
        {
            return false;
        }
        if let Some(m) = &self.model
            && &req.model != m
        {
            return false;
        }
        true
    }
}

/// A scripted tool call: name and raw arguments text (sent as-is, so it may be malformed JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptToolCall {
    /// Tool name.
    pub name: String,
    /// Raw arguments text. OpenAI wire: sent verbatim. Anthropic wire: parsed as the `input` object,
    /// or sent as a JSON string when it is not valid JSON.
    #[serde(default)]
    pub arguments: String,
    /// Call id; generated (`call_<n>` / `toolu_<n>`) when None.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// Token usage reported in a reply. None in a reply means computed: prompt = request text chars / 4 + 1,
/// completion = reply text chars / 4 + 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageSpec {
    /// Prompt (input) tokens.
    pub prompt_tokens: u64,
    /// Completion (output) tokens.
    pub completion_tokens: u64,
}

/// One step of a [`Reply::Sequence`]: `reply` for `times` requests (None = forever).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceStep {
    /// The reply of this step.
    pub reply: Reply,
    /// How many requests this step answers; None = all remaining (the last step repeats anyway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<usize>,
}

/// A scripted reply. Serde: internally tagged by `type` (`text`, `tool_calls`, `error`, `sequence`, `echo`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Reply {
    /// An assistant text message (finish reason `stop` / `end_turn`).
    Text {
        /// The text.
        text: String,
        /// Usage to report; computed when None.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<UsageSpec>,
    },
    /// An assistant message with tool calls (finish reason `tool_calls` / `tool_use`).
    ToolCalls {
        /// The calls.
        calls: Vec<ScriptToolCall>,
        /// Optional text next to the calls.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// Usage to report; computed when None.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<UsageSpec>,
    },
    /// A raw HTTP reply: any status (even 200 with a broken body), body sent verbatim
    /// (`application/json` when it parses as JSON, else `text/plain`), optional `Retry-After` header value.
    Error {
        /// HTTP status code.
        status: u16,
        /// Body text.
        #[serde(default)]
        body: String,
        /// `Retry-After` header value (seconds or an HTTP date).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<String>,
    },
    /// Steps answered in order, counted per rule (closure mode: the closure keeps its own state instead);
    /// the last step repeats once all are used.
    Sequence {
        /// The steps.
        steps: Vec<SequenceStep>,
    },
    /// `echo: <text of the last user or tool message>` (the default reply).
    #[default]
    Echo,
}

static ECHO: Reply = Reply::Echo;

impl Reply {
    /// A text reply with computed usage.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text {
            text: text.into(),
            usage: None,
        }
    }

    /// A tool-call reply for one call with raw `arguments` text.
    pub fn tool_call(name: impl Into<String>, arguments: impl Into<String>) -> Self {
        Self::ToolCalls {
            calls: vec![ScriptToolCall {
                name: name.into(),
                arguments: arguments.into(),
                id: None,
            }],
            text: None,
            usage: None,
        }
    }

    /// An HTTP error reply.
    pub fn error(status: u16, body: impl Into<String>) -> Self {
        Self::Error {
            status,
            body: body.into(),
            retry_after: None,
        }
    }

    /// An HTTP error reply with a `Retry-After` header value.
    pub fn error_retry_after(
        status: u16,
        body: impl Into<String>,
        retry_after: impl Into<String>,
    ) -> Self {
        Self::Error {
            status,
            body: body.into(),
            retry_after: Some(retry_after.into()),
        }
    }

    /// `first` for the first `n` requests, then `then` forever.
    pub fn first_then(first: Reply, n: usize, then: Reply) -> Self {
        Self::Sequence {
            steps: vec![
                SequenceStep {
                    reply: first,
                    times: Some(n),
                },
                SequenceStep {
                    reply: then,
                    times: None,
                },
            ],
        }
    }

    /// Sets fixed usage on a text or tool-call reply (other replies are returned unchanged).
    pub fn with_usage(mut self, prompt_tokens: u64, completion_tokens: u64) -> Self {
        if let Self::Text { usage, .. } | Self::ToolCalls { usage, .. } = &mut self {
            *usage = Some(UsageSpec {
                prompt_tokens,
                completion_tokens,
            });
        }
        self
    }

    /// Resolves sequences: the reply for the `n`-th (0-based) use of this reply.
    pub fn resolve(&self, n: usize) -> &Reply {
        let Self::Sequence { steps } = self else {
            return self;
        };
        let mut left = n;
        for (i, step) in steps.iter().enumerate() {
            match step.times {
                Some(t) if left >= t && i + 1 < steps.len() => left -= t,
                _ => return step.reply.resolve(left),
            }
        }
        // Empty sequence: behave like echo.
        &ECHO
    }
}
