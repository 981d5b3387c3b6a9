//! Tool names of agent files, and an agent's permission settings.
//!
//! Claude Code (`Read`, `Write`, `Edit`, `MultiEdit`, `Bash`, `Grep`, `Glob`, `LS`, `Task`) and
//! opencode (`read`, `write`, `edit`, `patch`, `bash`, `grep`, `glob`, `list`, `task`) tool
//! names are mapped onto the registry's tool names; see [`canonical_tool_name`]. The types of
//! the `tools:` and `permission:` fields are `team-tools`' ([`ToolSelection`](crate::ToolSelection),
//! [`PermissionConfig`](crate::PermissionConfig)): the checker that applies them reads them as parsed here.

use team_tools::permission::AgentPermissions;
use team_tools::registry;

use crate::AgentDef;

/// Aliases (lowercase) from Claude Code and opencode tool names to runner tool names.
const TOOL_ALIASES: &[(&str, &str)] = &[
    ("read", "read_file"),
    ("write", "write_file"),
    ("edit", "edit_file"),
    ("multiedit", "edit_file"),
    ("patch", "edit_file"),
    ("glob", "list_files"),
    ("ls", "list_files"),
    ("list", "list_files"),
];

/// Maps a tool name as written in an agent file onto the runner's tool name.
///
/// Aliases are matched case-insensitively (`Read` and `read` → `read_file`, `Glob`/`LS`/`list`
/// → `list_files`, `MultiEdit`/`patch` → `edit_file`); a name that is a known tool in any case
/// is lowercased; any other name (an unknown tool, an MCP tool, a `*` pattern) is returned
/// trimmed but otherwise unchanged, so that it can be reported later instead of failing here.
pub fn canonical_tool_name(name: &str) -> String {
    let trimmed = name.trim();
    let lower = trimmed.to_ascii_lowercase();
    if let Some((_, canonical)) = TOOL_ALIASES.iter().find(|(alias, _)| *alias == lower) {
        return (*canonical).to_owned();
    }
    if registry::is_tool(&lower) {
        return lower;
    }
    trimmed.to_owned()
}

/// Whether `name` (already canonical) is a tool of the registry ([`registry::TOOLS`]).
pub fn is_known_tool(name: &str) -> bool {
    registry::is_tool(name)
}

impl AgentDef {
    /// The agent's permission settings, as the permission checker reads them: its
    /// `permission:` rules and its `tools:` selection.
    pub fn permissions(&self) -> AgentPermissions {
        AgentPermissions {
            permission: self.permission.clone(),
            tools: self.tools.clone(),
        }
    }
}
