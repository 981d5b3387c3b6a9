//! The error every workspace tool returns; its text goes back to the model as the tool result.

use std::io;

/// Why a tool call failed. The `Display` text is written for the model: it says what failed, on
/// what, and what to do instead. None of these is a crash: the runner sends the text back as an
/// error tool result and the conversation goes on.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The model called a tool this registry does not have.
    #[error("unknown tool `{name}`: the available tools are {available}")]
    UnknownTool {
        /// The name the model used.
        name: String,
        /// Comma-separated names of the tools that exist.
        available: String,
    },

    /// The arguments were not valid JSON, or did not have the tool's shape (a missing, unknown or
    /// mistyped field, or a value out of range).
    #[error("invalid arguments for `{tool}`: {detail}; expected arguments shaped like {expected}")]
    InvalidArgs {
        /// The tool that was called.
        tool: String,
        /// What was wrong (from serde, or from a range check).
        detail: String,
        /// The expected shape, e.g. `{"path": string, "offset"?: integer}` (`?` = optional).
        expected: String,
    },

    /// A path was refused because it leaves the project root (through `..`, an absolute path
    /// elsewhere, or a symlink) or is not usable as a path at all.
    #[error("path `{path}` refused: {reason}")]
    PathRefused {
        /// The path as the model gave it.
        path: String,
        /// Why, e.g. "it escapes the project root through `..`".
        reason: String,
    },

    /// The permission check denied the call (agent rule, tools allow-list, the human, or no
    /// terminal to ask). The matching [`crate::permission::PermissionDecision`] says the same in
    /// structured form for the runner's event log.
    #[error("{tool} denied: {reason}")]
    Denied {
        /// The tool that was denied.
        tool: String,
        /// Why it was denied and what would allow it.
        reason: String,
    },

    /// A `bash` command ran longer than its timeout (seconds); its whole process group was
    /// killed. `output` holds what it printed until then (exit status, stdout, stderr).
    #[error(
        "bash command timed out after {secs} s and its process group was killed; \
         raise timeout_secs (max 600) or run less at once. output so far:\n{output}"
    )]
    Timeout {
        /// The timeout that was hit, in seconds.
        secs: u64,
        /// The formatted partial output.
        output: String,
    },

    /// An I/O operation on a file or directory failed.
    #[error("could not {action} `{path}`: {source}")]
    Io {
        /// What was being done, e.g. "read", "write", "create the parent directories of".
        action: String,
        /// The project-relative path it was done on.
        path: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// The tool ran but could not do what was asked (e.g. `old_string` not found, a directory
    /// given to `read_file`, an invalid regex). The text is complete and says what to do.
    #[error("{0}")]
    Failed(String),
}

impl ToolError {
    /// True for [`ToolError::Denied`]: the runner may count or report denials apart from other
    /// failures.
    pub fn is_denied(&self) -> bool {
        matches!(self, ToolError::Denied { .. })
    }

    pub(crate) fn io(
        action: impl Into<String>,
        path: impl Into<String>,
        source: io::Error,
    ) -> Self {
        ToolError::Io {
            action: action.into(),
            path: path.into(),
            source,
        }
    }
}
