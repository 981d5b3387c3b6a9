//! Scripted LLM server for tests and benchmarks of the `team` runner.
//!
//! [`ScriptedServer`] binds `127.0.0.1:0` and speaks two real wire formats, as one JSON
//! answer or, when the request says `"stream": true` (the agent CLIs' SDKs do), as
//! server-sent events carrying the same answer:
//! - OpenAI Chat Completions: `POST /v1/chat/completions` (also `/chat/completions`);
//!   point a client at [`ScriptedServer::base_url`] (`http://127.0.0.1:PORT/v1`).
//! - Anthropic Messages: `POST /v1/messages` (also `/messages`);
//!   point a client at [`ScriptedServer::anthropic_base_url`] (`http://127.0.0.1:PORT`).
//! - OpenAI Responses (what Codex speaks): `POST /v1/responses` (also `/responses`), always
//!   answered as events; point a client at [`ScriptedServer::base_url`].
//!
//! Replies come from a [`Script`]: ordered [`Rule`]s (first match wins) or a closure. It records every
//! request ([`ScriptRequest`]) and counts requests in flight, so tests can check concurrency limits.
//!
//! ```no_run
//! # async fn demo() -> Result<(), team_testkit::TestkitError> {
//! use team_testkit::{Matcher, Reply, Rule, Script, ScriptedServer};
//! let server = ScriptedServer::start(Script::rules(vec![
//!     Rule::when(Matcher::turn(1), Reply::tool_call("read_file", r#"{"path":"a.txt"}"#)),
//!     Rule::always(Reply::text("done")),
//! ]).with_latency_ms(50)).await?;
//! println!("{}", server.base_url());
//! # Ok(()) }
//! ```
//!
//! Shared support of the end-to-end tests (`tests/` of the workspace):
//! - [`process`]: child processes that never outlive their test (a clean, non-interactive
//!   command killed on drop, run under a time limit) and helpers to read their output.
//! - `pg` (feature `pg`, which links libpq): a PostgreSQL schema of its own per test, on the
//!   server named by `TEAM_TEST_DATABASE_URL`.
//! - `project` (feature `pg`): [`Project`], a `team` project per test (a temp directory, the
//!   real binary with a clean environment) on either [`Backend`].
//! - [`host`]: several hosts on one machine (Linux namespaces made by the test) and a loopback
//!   proxy that cuts a host off from its database, for the multi-host tests.
#![forbid(unsafe_code)]

pub mod host;
#[cfg(feature = "pg")]
pub mod pg;
pub mod process;
#[cfg(feature = "pg")]
pub mod project;
mod quirks;
mod request;
mod script;
mod server;
mod wire;

use serde::Deserialize;

pub use quirks::{FILL_CHARS, Quirks};
pub use request::{Protocol, ScriptMessage, ScriptRequest};
pub use script::{
    Matcher, NoMatch, Reply, ReplyFn, Responder, Rule, Script, ScriptToolCall, SequenceStep,
    UsageSpec,
};
pub use server::ScriptedServer;

#[cfg(feature = "pg")]
pub use project::{Backend, Project};

/// Errors of the testkit.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// The listening socket could not be bound: (address, reason).
    #[error("cannot bind scripted LLM server on {0}: {1}; pick another port or use port 0")]
    Bind(String, String),
    /// A script file could not be read: (path, reason).
    #[error("cannot read script file {0}: {1}")]
    ReadScript(String, String),
    /// A script file is not valid: (path or `<json>`, serde message).
    #[error(
        "invalid script {0}: {1}; expected a JSON list of rules or {{\"latency_ms\", \"on_no_match\", \"rules\"}}"
    )]
    ParseScript(String, String),
}

impl From<Vec<Rule>> for Script {
    fn from(rules: Vec<Rule>) -> Self {
        Script::rules(rules)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ScriptFile {
    Rules(Vec<Rule>),
    Full {
        #[serde(default)]
        latency_ms: u64,
        #[serde(default)]
        on_no_match: NoMatch,
        #[serde(default)]
        rules: Vec<Rule>,
        #[serde(default)]
        quirks: Quirks,
    },
}

impl Script {
    /// Parses a JSON script: either a list of [`Rule`]s, or an object
    /// `{"latency_ms": u64, "on_no_match": "echo"|"error400", "rules": [..], "quirks": {..}}`
    /// (all fields optional; `quirks` is a [`Quirks`]).
    ///
    /// Errors: [`TestkitError::ParseScript`] with serde's message.
    pub fn from_json(text: &str) -> Result<Script, TestkitError> {
        // Try the list form first for a precise error message on the common shape.
        let file: ScriptFile = match serde_json::from_str::<Vec<Rule>>(text) {
            Ok(rules) => ScriptFile::Rules(rules),
            Err(list_err) => match serde_json::from_str::<serde_json::Value>(text) {
                Ok(serde_json::Value::Array(_)) | Err(_) => {
                    return Err(TestkitError::ParseScript(
                        "<json>".into(),
                        list_err.to_string(),
                    ));
                }
                Ok(_) => serde_json::from_str(text)
                    .map_err(|e| TestkitError::ParseScript("<json>".into(), e.to_string()))?,
            },
        };
        Ok(match file {
            ScriptFile::Rules(rules) => Script::rules(rules),
            ScriptFile::Full {
                latency_ms,
                on_no_match,
                rules,
                quirks,
            } => Script::rules(rules)
                .with_latency_ms(latency_ms)
                .with_no_match(on_no_match)
                .with_quirks(quirks),
        })
    }

    /// Reads and parses a JSON script file (see [`Script::from_json`]).
    ///
    /// Errors: [`TestkitError::ReadScript`], [`TestkitError::ParseScript`] (naming the path).
    pub fn from_file(path: &std::path::Path) -> Result<Script, TestkitError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| TestkitError::ReadScript(path.display().to_string(), e.to_string()))?;
        Script::from_json(&text).map_err(|e| match e {
            TestkitError::ParseScript(_, msg) => {
                TestkitError::ParseScript(path.display().to_string(), msg)
            }
            other => other,
        })
    }
}
