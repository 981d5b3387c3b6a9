//! The workspace tools' arguments: `read_file`, `list_files`, `grep`, `write_file`,
//! `edit_file`, `bash`. Field doc comments are the descriptions the model reads.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{ToolArgs, ToolKind, parse};
use crate::error::ToolError;

/// Default `bash` timeout in seconds.
pub const BASH_DEFAULT_TIMEOUT_SECS: u64 = 120;
/// Largest `bash` timeout a call may ask for, in seconds.
pub const BASH_MAX_TIMEOUT_SECS: u64 = 600;

/// Arguments of `read_file`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadFileArgs {
    /// File path relative to the project root.
    pub path: String,
    /// First line to read, 1-based (default 1).
    #[serde(default)]
    pub offset: Option<u64>,
    /// How many lines to read (default 2000).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub limit: Option<u64>,
}

impl ToolArgs for ReadFileArgs {
    const NAME: &'static str = "read_file";
    const KIND: ToolKind = ToolKind::Workspace;
    const DESCRIPTION: &'static str = "Read a text file of the project. Returns its lines \
        numbered from 1 (`number<TAB>text`). Reads up to 2000 lines and 100 KiB per call; when \
        the output is cut it says so and gives the offset to continue from.";
}

/// Arguments of `list_files`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListFilesArgs {
    /// Glob matched against paths relative to `path`.
    pub pattern: String,
    /// Directory to search in, relative to the project root (default: the root).
    #[serde(default)]
    pub path: Option<String>,
}

impl ToolArgs for ListFilesArgs {
    const NAME: &'static str = "list_files";
    const KIND: ToolKind = ToolKind::Workspace;
    const DESCRIPTION: &'static str = "List project files whose path matches a glob, e.g. \
        `src/**/*.rs` or `*.toml` (`*` stays within one directory, `**` crosses directories). \
        Paths are relative to the project root, sorted, and files ignored by .gitignore are left \
        out. At most 1000 paths.";
}

/// Arguments of `grep`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrepArgs {
    /// Regular expression to search for.
    pub pattern: String,
    /// File or directory to search, relative to the project root (default: the root).
    #[serde(default)]
    pub path: Option<String>,
    /// Only search files matching this glob, e.g. `*.rs` (matched against the file name) or
    /// `src/**/*.rs` (matched against the path).
    #[serde(default)]
    pub glob: Option<String>,
    /// Match case-insensitively (default false).
    #[serde(default)]
    pub case_insensitive: Option<bool>,
}

impl ToolArgs for GrepArgs {
    const NAME: &'static str = "grep";
    const KIND: ToolKind = ToolKind::Workspace;
    const DESCRIPTION: &'static str = "Search file contents with a regular expression (Rust \
        regex syntax). Returns `path:line:text` lines, files in path order, skipping binary files \
        and files ignored by .gitignore. At most 500 matching lines.";
}

/// Arguments of `write_file`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteFileArgs {
    /// File path relative to the project root.
    pub path: String,
    /// The complete new content of the file.
    pub content: String,
}

impl ToolArgs for WriteFileArgs {
    const NAME: &'static str = "write_file";
    const KIND: ToolKind = ToolKind::Workspace;
    const DESCRIPTION: &'static str = "Create or overwrite a file with the given content. \
        Parent directories are created. The write is atomic (a temporary file renamed into \
        place).";
}

/// Arguments of `edit_file`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditFileArgs {
    /// File path relative to the project root.
    pub path: String,
    /// The exact text to replace.
    pub old_string: String,
    /// The text to put in its place (must differ).
    pub new_string: String,
    /// Replace every occurrence (default false).
    #[serde(default)]
    pub replace_all: Option<bool>,
}

impl ToolArgs for EditFileArgs {
    const NAME: &'static str = "edit_file";
    const KIND: ToolKind = ToolKind::Workspace;
    const DESCRIPTION: &'static str = "Replace an exact string in a file. `old_string` must \
        occur exactly once (include surrounding lines to make it unique) unless `replace_all` is \
        true. Read the file first so `old_string` matches its text exactly, whitespace included.";
}

/// Arguments of `bash`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BashArgs {
    /// The command line to run.
    pub command: String,
    /// Timeout in seconds (default 120, max 600).
    #[serde(default)]
    #[schemars(range(min = 1, max = 600))]
    pub timeout_secs: Option<u64>,
}

impl BashArgs {
    /// The timeout to use, in seconds: `timeout_secs` or [`BASH_DEFAULT_TIMEOUT_SECS`].
    pub fn timeout_secs(&self) -> u64 {
        self.timeout_secs.unwrap_or(BASH_DEFAULT_TIMEOUT_SECS)
    }
}

impl ToolArgs for BashArgs {
    const NAME: &'static str = "bash";
    const KIND: ToolKind = ToolKind::Workspace;
    const DESCRIPTION: &'static str = "Run a shell command with `bash -c` in the project root. \
        Returns the exit code, stdout and stderr (each cut to its last 50 KiB). The command and \
        everything it starts are killed when the timeout passes.";

    fn check(&self) -> Result<(), String> {
        let secs = self.timeout_secs();
        if !(1..=BASH_MAX_TIMEOUT_SECS).contains(&secs) {
            return Err(format!(
                "timeout_secs is {secs}, but it must be between 1 and {BASH_MAX_TIMEOUT_SECS}"
            ));
        }
        if self.command.trim().is_empty() {
            return Err("command is empty".to_owned());
        }
        Ok(())
    }
}

/// A parsed call of a workspace tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkspaceCall {
    /// `read_file`.
    ReadFile(ReadFileArgs),
    /// `list_files`.
    ListFiles(ListFilesArgs),
    /// `grep`.
    Grep(GrepArgs),
    /// `write_file`.
    WriteFile(WriteFileArgs),
    /// `edit_file`.
    EditFile(EditFileArgs),
    /// `bash`.
    Bash(BashArgs),
}

impl WorkspaceCall {
    /// Parses a call of workspace tool `name`; `None` when `name` is not a workspace tool.
    ///
    /// Errors: [`ToolError::InvalidArgs`] (see [`super::parse`]).
    pub fn parse(name: &str, args_json: &str) -> Option<Result<WorkspaceCall, ToolError>> {
        Some(match name {
            ReadFileArgs::NAME => parse(args_json).map(Self::ReadFile),
            ListFilesArgs::NAME => parse(args_json).map(Self::ListFiles),
            GrepArgs::NAME => parse(args_json).map(Self::Grep),
            WriteFileArgs::NAME => parse(args_json).map(Self::WriteFile),
            EditFileArgs::NAME => parse(args_json).map(Self::EditFile),
            BashArgs::NAME => parse(args_json).map(Self::Bash),
            _ => return None,
        })
    }

    /// The tool's name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ReadFile(_) => ReadFileArgs::NAME,
            Self::ListFiles(_) => ListFilesArgs::NAME,
            Self::Grep(_) => GrepArgs::NAME,
            Self::WriteFile(_) => WriteFileArgs::NAME,
            Self::EditFile(_) => EditFileArgs::NAME,
            Self::Bash(_) => BashArgs::NAME,
        }
    }
}
