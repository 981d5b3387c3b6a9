//! Workspace tools for team agents, and the permission checks in front of them.
//!
//! - [`workspace`]: `read_file`, `list_files`, `grep`, `write_file`, `edit_file`, `bash`, confined
//!   to a project root, behind the [`WorkspaceTools`] registry (specs for the provider, and
//!   `execute(name, args_json)` for tool calls).
//! - [`permission`]: allow / ask / deny resolution from the agent's `permission` setting
//!   (opencode), its `tools` allow-list (Claude Code) and the run's `--allow` / `--yes` flags,
//!   with a run-wide prompt gate for `ask`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), team_runner::tools::ToolError> {
//! use std::sync::Arc;
//! use team_runner::tools::permission::{AgentPermissions, PermissionChecker, PromptGate, RunFlags, RunPermissions};
//! use team_runner::tools::WorkspaceTools;
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
pub mod permission;
pub mod workspace;

pub use error::ToolError;
pub use workspace::{ToolOutcome, ToolSpec, WorkspaceTools};
