//! `team-runner`: the engine that runs members in the background.
//!
//! - [`engine`]: one [`Engine`] per runner process: a claim loop that claims pending members
//!   (FIFO, atomically, so several runners can share one database) under a `max_agents`
//!   semaphore, an executor task per member (`member`, which sees only its leaf `context`
//!   and runs its turns through `turn`), a dispatcher that alone owns the per-member cancel
//!   and wake state and hears the executors' events, one poller that notices what other
//!   processes did (a `team send`, a `team disband`), a heartbeat, and a clean stop.
//! - [`command`]: command agents: a program per turn, prompt on stdin, result on stdout, in
//!   its own process group.
//! - [`agent_cli`]: agent CLIs as members (`runtime: opencode | claude | codex`): command
//!   agents whose argv, configuration and output reading come from the runtime's table.
//! - [`fingerprint`]: the keyed hash of the environment a member was spawned from, so that
//!   a runner started from another environment does not run it.
//! - [`reconcile`]: members of runners that died become `failed` (`runner lost`).
//! - [`llm`]: the LLM member's session (the agent loop) and the team tools it offers; their
//!   effects are also offered to callers outside the engine through [`TeamOps`] (`team mcp`).
//! - [`workflow`]: bundled workflows (`spec-review`, `fanout`, `self-review-loop`), and
//!   [`workflow::execute`], which runs one on its team start to end.
//!
//! Beside it: `team-provider` (model calls), `team-tools` (workspace tools, permissions, the
//! processes agents start), `team-agent` (agent files and config).
//!
//! What it does not do: parse arguments or print (that is `team-cli`), or hold state of its
//! own beyond the process: every state change goes through `team-store`.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod agent_cli;
mod blocking;
pub mod budget;
pub mod command;
mod context;
mod dispatcher;
pub mod engine;
pub mod fingerprint;
mod finisher;
pub mod hooks;
pub mod llm;
mod member;
mod options;
pub mod reconcile;
pub mod runtime;
mod turn;
pub mod workflow;

pub use engine::{Engine, EngineOptions, Foreground, StopReason};
pub use llm::coordination::{FailureKind, TeamOps, ToolFailure};

pub use reconcile::{ReconcileReport, pid_alive, reconcile};
pub use runtime::{AgentRuntime, FanoutBounds, Plan};

/// Errors of the runner: the store's, an agent file's, or starting a process.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// A store operation failed.
    #[error(transparent)]
    Store(#[from] team_store::StoreError),
    /// An agent definition could not be found or read.
    #[error(transparent)]
    Agent(#[from] team_agent::AgentError),
    /// The configuration could not be read.
    #[error(transparent)]
    Config(#[from] team_agent::config::ConfigError),
    /// Anything else, said plainly.
    #[error("{0}")]
    Other(String),
}
