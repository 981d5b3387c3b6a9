//! `team-tools`: the tools an agent's model may call, and the permission checks in front of
//! them.
//!
//! For: the workspace tools (files, search, `bash` in its sandbox), the protected paths of
//! `team`'s own control plane, the permission model, and the processes agents start
//! ([`lifeline`]). Not for: the team tools' effects (they need a live team: `team-runner`),
//! providers (`team-provider`) or agent files (`team-agent`).
//!
//! - [`registry`]: every tool (workspace and team tools) with its typed arguments, its
//!   generated JSON Schema and its parser; the one list of tool names.
//! - [`workspace`]: `read_file`, `list_files`, `grep`, `write_file`, `edit_file`, `bash`, confined
//!   to a project root, behind [`WorkspaceTools`] (one member's tools: the specs it may see,
//!   and `execute(name, args_json)` for tool calls).
//! - [`permission`]: allow / ask / deny resolution from the agent's `permission` setting
//!   (opencode), its `tools` setting (Claude Code's allow-list or opencode's toggles) and the
//!   run's `--allow` / `--yes` flags, with a run-wide prompt gate for `ask`. The agent files'
//!   `tools:` and `permission:` fields parse into these same types (`team-agent`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), team_tools::ToolError> {
//! use std::sync::Arc;
//! use team_tools::permission::{AgentPermissions, PermissionChecker, PromptGate, RunFlags, RunPermissions};
//! use team_tools::WorkspaceTools;
//!
//! let run = Arc::new(RunPermissions::new(RunFlags::default(), PromptGate::terminal()));
//! let checker = PermissionChecker::new("alice", AgentPermissions::default(), run);
//! let tools = WorkspaceTools::new("/path/to/project", checker)?;
//! let outcome = tools.execute_with_decision("read_file", r#"{"path": "Cargo.toml"}"#).await;
//! if let Some(decision) = &outcome.decision {
//!     if !decision.is_allowed() { /* record a permission-denied event */ }
//! }
//! # Ok(()) }
//! ```

mod error;
pub mod lifeline;
pub mod paths;
pub mod permission;
pub mod registry;
pub mod workspace;

pub use error::ToolError;
pub use registry::{ToolKind, ToolSpec};
pub use workspace::{ToolOutcome, WorkspaceTools};
