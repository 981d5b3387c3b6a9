//! Tool names, tool selections (`tools:`) and permissions (`permission:`) of agent files.
//!
//! Claude Code (`Read`, `Write`, `Edit`, `MultiEdit`, `Bash`, `Grep`, `Glob`, `LS`, `Task`) and
//! opencode (`read`, `write`, `edit`, `patch`, `bash`, `grep`, `glob`, `list`, `task`) tool
//! names are mapped onto the runner's tool names; see [`canonical_tool_name`].

/// The tool names the runner knows: file tools, `bash`, and the team tools.
pub const KNOWN_TOOLS: &[&str] = &[
    "read_file",
    "write_file",
    "edit_file",
    "bash",
    "grep",
    "list_files",
    "task",
    "send_message",
    "wait_for_messages",
    "team_task",
    "agent_memory",
    "team_members",
    "team_create",
    "team_delete",
];

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
    if KNOWN_TOOLS.contains(&lower.as_str()) {
        return lower;
    }
    trimmed.to_owned()
}

/// Whether `name` (already canonical) is one of [`KNOWN_TOOLS`].
pub fn is_known_tool(name: &str) -> bool {
    KNOWN_TOOLS.contains(&name)
}

/// Which tools an agent may use, from the `tools:` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolSelection {
    /// Claude Code allow-list (`tools: Read, Grep` or a YAML list): only these tools, by
    /// canonical name, in file order without duplicates. Entries may use `*`/`?` wildcards.
    Only(Vec<String>),
    /// opencode toggles (`tools: {bash: false, write: true}`): canonical name or `*`/`?`
    /// pattern → enabled, in file order; the last matching entry wins and tools matched by
    /// no entry stay enabled.
    Toggles(Vec<(String, bool)>),
}

impl ToolSelection {
    /// Whether the (canonical) tool `tool` is enabled by this selection.
    pub fn allows(&self, tool: &str) -> bool {
        match self {
            ToolSelection::Only(names) => names.iter().any(|n| wildcard_match(n, tool)),
            ToolSelection::Toggles(toggles) => toggles
                .iter()
                .rev()
                .find(|(pattern, _)| wildcard_match(pattern, tool))
                .is_none_or(|(_, enabled)| *enabled),
        }
    }

    /// Names in the selection that are not [`KNOWN_TOOLS`] and not patterns (for warnings).
    pub fn unknown_tools(&self) -> Vec<&str> {
        let names: Vec<&str> = match self {
            ToolSelection::Only(names) => names.iter().map(String::as_str).collect(),
            ToolSelection::Toggles(toggles) => toggles.iter().map(|(n, _)| n.as_str()).collect(),
        };
        names
            .into_iter()
            .filter(|n| !is_known_tool(n) && !is_pattern(n))
            .collect()
    }
}

/// What to do when a tool call matches a permission rule (opencode `allow` | `ask` | `deny`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PermissionAction {
    /// Run the tool call without asking.
    Allow,
    /// Ask (the lead or the user) before running the tool call.
    Ask,
    /// Refuse the tool call.
    Deny,
}

impl PermissionAction {
    /// Parses `allow`, `ask` or `deny` (case-insensitive); `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "allow" => Some(Self::Allow),
            "ask" => Some(Self::Ask),
            "deny" => Some(Self::Deny),
            _ => None,
        }
    }

    /// The lowercase name as written in agent files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Ask => "ask",
            Self::Deny => "deny",
        }
    }
}

/// The permission of one tool: one action, or opencode's per-pattern actions
/// (`bash: {"git diff*": allow, "*": ask}`) matched against the tool call's subject
/// (the command line for `bash`, the path for file tools).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionRule {
    /// The same action for every call of the tool.
    Always(PermissionAction),
    /// `*`/`?` patterns → action, in file order; the last matching pattern wins. A pattern
    /// ending in ` *` also matches the bare command (`git status *` matches `git status`).
    Patterns(Vec<(String, PermissionAction)>),
}

/// The `permission:` field: a single action for every tool (`permission: ask`), or per-tool
/// rules (`permission: {edit: deny, bash: ask}`), keys mapped by [`canonical_tool_name`].
///
/// opencode's `edit` permission covers every file-changing tool, so a key `edit` yields rules
/// for both `edit_file` and `write_file`. A key `*` sets [`Permissions::default`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    /// Action for tools that no rule matches (`permission: ask`, a single action for all).
    pub default: Option<PermissionAction>,
    /// Canonical tool name (or `*`/`?` pattern) → rule, in file order; the last match wins.
    pub rules: Vec<(String, PermissionRule)>,
}

impl Permissions {
    /// The action for a call of the canonical tool `tool` on `subject` (a command line or a
    /// path; `None` when the tool has none). Returns `None` when neither a rule nor the
    /// default applies, leaving the choice to the caller.
    pub fn action_for(&self, tool: &str, subject: Option<&str>) -> Option<PermissionAction> {
        for (pattern, rule) in self.rules.iter().rev() {
            if !wildcard_match(pattern, tool) {
                continue;
            }
            match rule {
                PermissionRule::Always(action) => return Some(*action),
                PermissionRule::Patterns(patterns) => {
                    let subject = subject.unwrap_or("");
                    if let Some((_, action)) = patterns
                        .iter()
                        .rev()
                        .find(|(p, _)| subject_match(p, subject))
                    {
                        return Some(*action);
                    }
                }
            }
        }
        self.default
    }
}

/// Matches a permission pattern against a call's subject; `cmd *` also matches `cmd`.
fn subject_match(pattern: &str, subject: &str) -> bool {
    wildcard_match(pattern, subject)
        || pattern
            .strip_suffix(" *")
            .is_some_and(|bare| wildcard_match(bare, subject))
}

/// Whether `name` contains a `*` or `?` wildcard.
fn is_pattern(name: &str) -> bool {
    name.contains(['*', '?'])
}

/// Matches `text` against `pattern`, where `*` matches any run of characters (also empty)
/// and `?` exactly one character; everything else matches itself.
pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}
