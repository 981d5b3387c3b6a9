//! The agent's `permission` setting (opencode's format) and how it resolves for one tool call.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// What to do with a tool call: run it, ask the human first, or refuse it. Serialized in
/// lowercase (`"allow"`, `"ask"`, `"deny"`), as in opencode's `permission` config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Run without asking.
    Allow,
    /// Ask the human; without a terminal this means deny.
    Ask,
    /// Refuse.
    Deny,
}

impl Permission {
    /// Parses `allow`, `ask` or `deny` (case-insensitive, surrounding spaces ignored), as agent
    /// files write them; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "allow" => Some(Self::Allow),
            "ask" => Some(Self::Ask),
            "deny" => Some(Self::Deny),
            _ => None,
        }
    }

    /// The lowercase name: `allow`, `ask` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Allow => "allow",
            Permission::Ask => "ask",
            Permission::Deny => "deny",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The built-in permission of a tool when no rule names it: the read tools (`read_file`,
/// `list_files`, `grep`) allow; the write tools (`write_file`, `edit_file`) and `bash` ask. Any
/// other tool name (e.g. the runner's own task or message tools) allows.
pub fn default_permission(tool: &str) -> Permission {
    match tool {
        "write_file" | "edit_file" | "bash" => Permission::Ask,
        _ => Permission::Allow,
    }
}

/// The tools an opencode group name covers: `edit` → `write_file`, `edit_file`; `read` →
/// `read_file`; `glob` and `list` → `list_files`; `grep` → `grep`; `bash` → `bash`. `None` for
/// a name that is not a group.
pub fn group_tools(group: &str) -> Option<&'static [&'static str]> {
    Some(match group {
        "edit" => &["write_file", "edit_file"],
        "read" => &["read_file"],
        "glob" | "list" => &["list_files"],
        "grep" => &["grep"],
        "bash" => &["bash"],
        _ => return None,
    })
}

/// Whether `name` (a tool, group or `*`, as given to `--allow`) covers `tool`.
pub(crate) fn name_covers(name: &str, tool: &str) -> bool {
    name == "*" || name == tool || group_tools(name).is_some_and(|tools| tools.contains(&tool))
}

/// opencode's wildcard match: `*` matches any run of characters (also empty), `?` exactly one,
/// everything else itself. The whole `text` must match (the `wildmatch` crate).
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    wildmatch::WildMatch::new(pattern).matches(text)
}

/// One entry of the `permission` map: a level for the whole tool, or opencode's object form,
/// `{"*": "ask", "git *": "allow"}`, whose patterns are matched against the call's subject (the
/// bash command, or the project-relative path for file tools, or the pattern for `list_files` /
/// `grep`); the last matching pattern wins, and when none matches the entry does not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionRule {
    /// `"bash": "ask"`: the same level for every call of the tool.
    Always(Permission),
    /// `"bash": {"*": "ask", "git *": "allow"}`, in the order written.
    Patterns(Vec<(String, Permission)>),
}

/// The agent's `permission` setting: one value for every tool (`permission: allow`, kept in
/// [`PermissionConfig::default`]) or a map from tool name, opencode group name or wildcard
/// (`*`, `mcp_*`) to a [`PermissionRule`] ([`PermissionConfig::rules`], in the order written).
///
/// Precedence for a tool (more specific wins, whatever the order in the file): an entry named
/// exactly like the tool (`write_file`), then a group covering it (`edit`), then wildcard keys
/// matching the tool name (`*`); within one level the last applicable entry wins; then the
/// single value ([`PermissionConfig::default`]); when nothing applies, the built-in
/// [`default_permission`]. Keys naming tools this registry does not have (`webfetch`) are kept
/// and simply apply to nothing here. This differs from opencode when a `*` entry is written
/// after a specific one (opencode lets the later `*` win, here the specific entry wins), and a
/// pattern `git *` does not match the bare `git` (opencode's does).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionConfig {
    /// The single value for every tool (`permission: ask`); `None` for the map form.
    pub default: Option<Permission>,
    /// Tool name, group name or `*`/`?` pattern → rule, in the order written.
    pub rules: Vec<(String, PermissionRule)>,
}

/// Which part of the `permission` setting decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RuleHit {
    pub permission: Permission,
    /// The map key, or `None` for the single-value form.
    pub key: Option<String>,
    /// The pattern inside an object-form entry.
    pub pattern: Option<String>,
}

impl PermissionRule {
    fn apply(&self, subject: &str) -> Option<(Permission, Option<&str>)> {
        match self {
            PermissionRule::Always(p) => Some((*p, None)),
            PermissionRule::Patterns(patterns) => patterns
                .iter()
                .rev()
                .find(|(pattern, _)| wildcard_match(pattern, subject))
                .map(|(pattern, p)| (*p, Some(pattern.as_str()))),
        }
    }
}

impl PermissionConfig {
    /// The permission this setting gives `tool` for a call whose subject is `subject` (`""` when
    /// the call has none), or `None` when no entry applies.
    pub(crate) fn lookup(&self, tool: &str, subject: &str) -> Option<RuleHit> {
        let rules = &self.rules;
        let levels: [&dyn Fn(&str) -> bool; 3] = [
            &|key| key == tool,
            &|key| key != tool && group_tools(key).is_some_and(|t| t.contains(&tool)),
            &|key| key.contains(['*', '?']) && wildcard_match(key, tool),
        ];
        levels
            .iter()
            .find_map(|level| {
                rules
                    .iter()
                    .rev()
                    .filter(|(key, _)| level(key))
                    .find_map(|(key, rule)| {
                        rule.apply(subject).map(|(permission, pattern)| RuleHit {
                            permission,
                            key: Some(key.clone()),
                            pattern: pattern.map(str::to_string),
                        })
                    })
            })
            .or_else(|| {
                self.default.map(|permission| RuleHit {
                    permission,
                    key: None,
                    pattern: None,
                })
            })
    }

    /// The permission this setting gives a call of `tool` on `subject` (the bash command, the
    /// project-relative path, the search pattern; `""` when the call has none), or `None` when
    /// nothing in it applies (then [`default_permission`] does).
    pub fn permission_for(&self, tool: &str, subject: &str) -> Option<Permission> {
        self.lookup(tool, subject).map(|hit| hit.permission)
    }
}

/// Reads a map into an ordered list of pairs (serde maps would lose the order).
pub(super) fn ordered_pairs<'de, A, V>(mut map: A) -> Result<Vec<(String, V)>, A::Error>
where
    A: MapAccess<'de>,
    V: Deserialize<'de>,
{
    let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0));
    while let Some((key, value)) = map.next_entry::<String, V>()? {
        pairs.push((key, value));
    }
    Ok(pairs)
}

fn level_from_str<E: de::Error>(value: &str) -> Result<Permission, E> {
    match value {
        "allow" => Ok(Permission::Allow),
        "ask" => Ok(Permission::Ask),
        "deny" => Ok(Permission::Deny),
        other => Err(E::invalid_value(
            de::Unexpected::Str(other),
            &"one of \"allow\", \"ask\", \"deny\"",
        )),
    }
}

impl<'de> Deserialize<'de> for PermissionRule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RuleVisitor;
        impl<'de> Visitor<'de> for RuleVisitor {
            type Value = PermissionRule;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"allow\", \"ask\", \"deny\", or a map from pattern to one of them")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                level_from_str(v).map(PermissionRule::Always)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                ordered_pairs(map).map(PermissionRule::Patterns)
            }
        }
        deserializer.deserialize_any(RuleVisitor)
    }
}

impl<'de> Deserialize<'de> for PermissionConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ConfigVisitor;
        impl<'de> Visitor<'de> for ConfigVisitor {
            type Value = PermissionConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "\"allow\", \"ask\", \"deny\", or a map from tool or group name to a rule",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                level_from_str(v).map(|level| PermissionConfig {
                    default: Some(level),
                    rules: Vec::new(),
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                ordered_pairs(map).map(|rules| PermissionConfig {
                    default: None,
                    rules,
                })
            }
        }
        deserializer.deserialize_any(ConfigVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_matches_like_opencode() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("git *", "git status"));
        assert!(!wildcard_match("git *", "git"));
        assert!(wildcard_match("rm ?rf *", "rm -rf /tmp/x"));
        assert!(wildcard_match("*_API_KEY", "OPENAI_API_KEY"));
        assert!(!wildcard_match("*_API_KEY", "OPENAI_API_KEYS"));
        assert!(wildcard_match("a*b*c", "aXbYbZc"));
        assert!(!wildcard_match("a*b*c", "aXbYbZ"));
    }

    #[test]
    fn object_form_keeps_order_and_last_pattern_wins() {
        let config: PermissionConfig = serde_json::from_str(
            r#"{"bash": {"*": "ask", "git *": "allow", "git push *": "deny"}}"#,
        )
        .unwrap_or_default();
        let hit = |s: &str| config.lookup("bash", s).map(|h| h.permission);
        assert_eq!(hit("ls"), Some(Permission::Ask));
        assert_eq!(hit("git status"), Some(Permission::Allow));
        assert_eq!(hit("git push origin"), Some(Permission::Deny));
    }

    #[test]
    fn bad_level_is_a_deserialization_error() {
        let err = serde_json::from_str::<PermissionConfig>(r#"{"bash": "maybe"}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("\"allow\", \"ask\", \"deny\""), "{err}");
    }
}
