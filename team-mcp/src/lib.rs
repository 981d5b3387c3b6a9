//! `team-mcp`: `team mcp`, the team tools and the team's state as a Model Context Protocol
//! server, for agent CLIs (opencode, Claude Code, Codex, any MCP client) over stdio or
//! streamable HTTP, on the official Rust SDK (`rmcp`).
//!
//! - Tools ([`server`]): the team tools of the one registry (`team_tools::registry`, the same
//!   names, descriptions and JSON Schemas an LLM member is offered), carried out by
//!   `team_runner::TeamOps`, the very effects of an LLM member's calls. A refused call is an
//!   MCP tool error (`isError: true`) with the CLI's error kind and message.
//! - Whom it acts as ([`Scope`]): a member (inside a member's process, from its `TEAM_*`
//!   environment), or the lead of a team it is pointed at or creates (`team_create`, or on
//!   first use).
//! - Notices without polling ([`watch`]): one poller per process reads the store every
//!   [`POLL`]; a new message to the session's member (the `[AGENT COMPLETED] …` and
//!   `[AGENT FAILURE] …` notices among them) goes to every connected client as a logging
//!   message, a change of the team as `notifications/resources/updated` for the `team://`
//!   resources a client subscribed to, and every `wait_for_messages` in progress looks again.
//! - Resources ([`resources`]): `team://TEAM`, `team://TEAM/members`, `team://TEAM/tasks`,
//!   `team://TEAM/events`, as JSON.
//! - Transports: stdio ([`McpServer::serve_stdio`]) and streamable HTTP behind a bearer token
//!   ([`McpServer::serve_http`], [`http`]).
//!
//! Not here: starting runners (the caller passes an [`EnsureRunner`]: `team-cli` starts a
//! detached runner as `team spawn --background` does, so members outlive the MCP client),
//! argv, printing (the CLI prints the HTTP address and token).
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod http;
pub mod resources;
pub mod server;
pub mod watch;

use std::sync::Arc;
use std::time::Duration;

pub use server::McpServer;

/// How often the process's poller looks at the store for new messages and events (ms: 200).
pub const POLL: Duration = Duration::from_millis(200);

/// Makes sure a runner will take the members `task` queues: called (on the blocking pool)
/// after a background `task` and before a waiting one. `Err` is a sentence saying why no
/// runner could be started; the call still succeeds (the member waits, pending, for one).
pub type EnsureRunner = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Whom an MCP session acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Member `member` of team `team` (a name or an id): what `team mcp` is inside a member
    /// (`TEAM_ID`, `TEAM_MEMBER`) or with `--team T --member M`.
    Member {
        /// The team, by name or id.
        team: String,
        /// The member's exact name.
        member: String,
        /// The attempt this session acts as (`TEAM_MEMBER_ATTEMPT` of the member's process):
        /// its writes are refused once the member moved on to another attempt (fencing,
        /// `team_core::delivery::may_act`). `None`: the member's current attempt when the
        /// session starts.
        attempt: Option<i64>,
    },
    /// The lead of team `team` (a name or an id) when given (`--team`); otherwise of a team
    /// it creates with `team_create`, or on the first call that needs one (named
    /// `mcp-PID`), with `lead_agent` as its lead's agent.
    Lead {
        /// The team, by name or id, if pointed at one.
        team: Option<String>,
        /// The agent the lead of a team it creates is recorded as (`--lead`, default `lead`:
        /// a person).
        lead_agent: String,
    },
}

/// Errors serving MCP: the transport could not be set up or broke.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// Reading, writing or binding failed.
    #[error("MCP transport: {0}")]
    Io(#[from] std::io::Error),
    /// The client and the server could not agree (the `initialize` handshake failed).
    #[error("MCP session: {0}")]
    Session(String),
}
