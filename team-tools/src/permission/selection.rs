//! The agent's `tools` setting: which workspace tools it may use.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};

use super::rules::{ordered_pairs, wildcard_match};
use crate::registry::{self, ToolKind};

/// Which workspace tools an agent may use (the team tools are always available: they are how a
/// member talks to its team). Names are this registry's tool names (agent files' aliases such
/// as Claude Code's `Read` are mapped by `team-agent` before they get here).
///
/// Deserializes from a list of names (`["read_file", "grep"]`: [`ToolSelection::Only`]) or a
/// map of toggles (`{"bash": false}`: [`ToolSelection::Toggles`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolSelection {
    /// Claude Code allow-list (`tools: Read, Grep` or a YAML list): only these tools, in file
    /// order without duplicates. Entries may use `*`/`?` wildcards.
    Only(Vec<String>),
    /// opencode toggles (`tools: {bash: false, write: true}`): name or `*`/`?` pattern →
    /// enabled, in file order; the last matching entry wins and tools matched by no entry stay
    /// enabled.
    Toggles(Vec<(String, bool)>),
}

impl ToolSelection {
    /// Whether the tool `tool` is enabled by this selection.
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

    /// The workspace tools this selection allows, in registry order.
    pub fn workspace_tools(&self) -> Vec<&'static str> {
        registry::names_of(ToolKind::Workspace)
            .filter(|t| self.allows(t))
            .collect()
    }

    /// The names written in the selection, in file order (toggles set to `false` included).
    pub fn names(&self) -> Vec<&str> {
        match self {
            ToolSelection::Only(names) => names.iter().map(String::as_str).collect(),
            ToolSelection::Toggles(toggles) => toggles.iter().map(|(n, _)| n.as_str()).collect(),
        }
    }

    /// The names the selection turns on, in file order: every name of a list, the toggles set
    /// to `true`.
    pub fn enabled_names(&self) -> Vec<&str> {
        match self {
            ToolSelection::Only(names) => names.iter().map(String::as_str).collect(),
            ToolSelection::Toggles(toggles) => toggles
                .iter()
                .filter(|(_, on)| *on)
                .map(|(n, _)| n.as_str())
                .collect(),
        }
    }

    /// Names in the selection that are neither registered tools nor patterns (for warnings).
    pub fn unknown_tools(&self) -> Vec<&str> {
        self.names()
            .into_iter()
            .filter(|n| !registry::is_tool(n) && !n.contains(['*', '?']))
            .collect()
    }
}

impl<'de> Deserialize<'de> for ToolSelection {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SelectionVisitor;
        impl<'de> Visitor<'de> for SelectionVisitor {
            type Value = ToolSelection;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of tool names, or a map from tool name to true or false")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut names: Vec<String> = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
                Ok(ToolSelection::Only(names))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                ordered_pairs(map).map(ToolSelection::Toggles)
            }
        }
        deserializer.deserialize_any(SelectionVisitor)
    }
}
