//! Discovery of agent files in a project and the catalog of agents by name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{AgentDef, AgentError, AgentSource, SourceKind};

/// The directories searched by [`discover`], relative to the project root, in lookup order.
/// When names collide the higher [`SourceKind`] wins (`.team` > `.opencode` > `.claude`);
/// between `.opencode/agent` and `.opencode/agents` the first listed wins.
pub const AGENT_DIRS: &[(&str, SourceKind)] = &[
    (".team/agents", SourceKind::Team),
    (".opencode/agent", SourceKind::OpenCode),
    (".opencode/agents", SourceKind::OpenCode),
    (".claude/agents", SourceKind::Claude),
];

/// An agent definition hidden by another one of the same name (shown by `team agents list`).
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowedAgent {
    /// The hidden definition.
    pub agent: AgentDef,
    /// Where the definition that wins was found.
    pub shadowed_by: AgentSource,
}

/// An agent file that cannot be used: unreadable, invalid, or a duplicate name. It is listed
/// (`team agents list`, `team agents check`) and stops only a spawn of its own agent.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokenAgent {
    /// The agent name the file would define: its `name:` line if one can be read, else the
    /// file stem; `None` for a directory that cannot be listed.
    pub name: Option<String>,
    /// The file (or directory) and its kind of place.
    pub source: AgentSource,
    /// Line of the error in the file, when known.
    pub line: Option<u64>,
    /// The whole error, `path:line:column: cause`.
    pub error: String,
}

/// The agents of a project by name, plus the definitions shadowed by higher-precedence ones
/// and the files that are broken.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentCatalog {
    agents: BTreeMap<String, AgentDef>,
    shadowed: Vec<ShadowedAgent>,
    broken: Vec<BrokenAgent>,
}

/// Reads the agent files of the project at `project_root`: every `*.md` file directly in
/// each of [`AGENT_DIRS`] (non-recursive, sorted by file name; hidden files and
/// non-files are skipped; missing directories are fine), then adds the built-in agents
/// (lowest precedence: a file of the same name wins).
///
/// A file that cannot be read or parsed, or that defines a name already defined in its
/// directory, is never skipped silently and never stops the others: it goes to
/// [`AgentCatalog::broken`], and [`AgentCatalog::get`] of its name fails with its error.
///
/// Errors: none today (the `Result` is kept for callers); see [`AgentCatalog::broken`].
pub fn discover_with_builtins(project_root: &Path) -> Result<AgentCatalog, AgentError> {
    let mut catalog = discover(project_root)?;
    super::builtin::add_builtins(&mut catalog);
    Ok(catalog)
}

/// The agents of a project's files only (see [`discover_with_builtins`] for what a run uses).
///
/// Errors: as [`discover_with_builtins`].
pub fn discover(project_root: &Path) -> Result<AgentCatalog, AgentError> {
    let mut catalog = AgentCatalog::new();
    for (dir, kind) in AGENT_DIRS {
        let dir = project_root.join(dir);
        let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
        let files = match agent_files(&dir) {
            Ok(files) => files,
            Err(e) => {
                catalog.broken.push(BrokenAgent {
                    name: None,
                    source: AgentSource {
                        kind: *kind,
                        path: dir.clone(),
                    },
                    line: None,
                    error: e.to_string(),
                });
                continue;
            }
        };
        for path in files {
            let source = AgentSource {
                kind: *kind,
                path: path.clone(),
            };
            let def = match AgentDef::load(&path, *kind) {
                Ok(def) => def,
                Err(e) => {
                    catalog.broken.push(BrokenAgent {
                        name: Some(guess_name(&path)),
                        source,
                        line: error_line(&e),
                        error: e.to_string(),
                    });
                    continue;
                }
            };
            if let Some(other) = seen.get(&def.name) {
                let e = AgentError::Duplicate {
                    name: def.name.clone(),
                    path: path.clone(),
                    other: other.clone(),
                };
                catalog.broken.push(BrokenAgent {
                    name: Some(def.name),
                    source,
                    line: None,
                    error: e.to_string(),
                });
                continue;
            }
            seen.insert(def.name.clone(), path.clone());
            catalog.insert(def);
        }
    }
    Ok(catalog)
}

/// The line of an error, when it has one.
fn error_line(e: &AgentError) -> Option<u64> {
    match e {
        AgentError::Yaml { line, .. } | AgentError::Field { line, .. } if *line > 0 => Some(*line),
        _ => None,
    }
}

/// The name a broken file would define: a `name:` line of its front matter, else its stem.
fn guess_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Ok(text) = std::fs::read_to_string(path) else {
        return stem;
    };
    let mut lines = text.lines();
    if lines
        .next()
        .map(|l| l.trim_start_matches('\u{feff}').trim_end())
        != Some("---")
    {
        return stem;
    }
    for line in lines {
        if line.trim_end() == "---" {
            break;
        }
        if let Some(value) = line.strip_prefix("name:") {
            let value = value.trim().trim_matches(['"', '\'']).trim();
            if super::is_valid_agent_name(value) {
                return value.to_owned();
            }
        }
    }
    stem
}

/// The `*.md` files directly in `dir`, sorted; empty when `dir` does not exist.
fn agent_files(dir: &Path) -> Result<Vec<PathBuf>, AgentError> {
    let read_dir_err = |source| AgentError::ReadDir {
        path: dir.to_owned(),
        source,
    };
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(read_dir_err(e)),
        Ok(meta) if !meta.is_dir() => {
            tracing::warn!(path = %dir.display(), "agent path is not a directory; skipped");
            return Ok(Vec::new());
        }
        Ok(_) => {}
    }
    let entries = std::fs::read_dir(dir).map_err(read_dir_err)?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(read_dir_err)?.path();
        let is_md = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("md"));
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        // `is_file` follows symlinks and is false for broken ones and directories.
        if is_md && !hidden && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

impl AgentCatalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `def` by precedence of its [`SourceKind`]: a higher kind replaces an existing
    /// definition of the same name, which moves to [`AgentCatalog::shadowed`]; an equal or
    /// lower kind is itself recorded as shadowed (the first one added wins among equals).
    pub fn insert(&mut self, def: AgentDef) {
        match self.agents.get_mut(&def.name) {
            None => {
                self.agents.insert(def.name.clone(), def);
            }
            Some(existing) if def.source.kind > existing.source.kind => {
                let shadowed_by = def.source.clone();
                let old = std::mem::replace(existing, def);
                self.shadowed.push(ShadowedAgent {
                    agent: old,
                    shadowed_by,
                });
            }
            Some(existing) => {
                let shadowed_by = existing.source.clone();
                self.shadowed.push(ShadowedAgent {
                    agent: def,
                    shadowed_by,
                });
            }
        }
    }

    /// Adds a compiled-in agent with the lowest precedence: its source kind is set to
    /// [`SourceKind::Builtin`], so any project file of the same name shadows it.
    pub fn insert_builtin(&mut self, mut def: AgentDef) {
        def.source.kind = SourceKind::Builtin;
        self.insert(def);
    }

    /// The agent named `name`.
    ///
    /// Errors: [`AgentError::Broken`] when a broken file defines `name` with a precedence at
    /// least that of the valid definition (or there is none): its file, line and cause;
    /// [`AgentError::Unknown`], listing the known names and where agents are looked up.
    pub fn get(&self, name: &str) -> Result<&AgentDef, AgentError> {
        let found = self.agents.get(name);
        let floor = found.map(|d| d.source.kind);
        if let Some(b) = self.broken.iter().find(|b| {
            b.name.as_deref() == Some(name) && floor.is_none_or(|kind| b.source.kind >= kind)
        }) {
            return Err(AgentError::Broken {
                name: name.to_owned(),
                error: b.error.clone(),
            });
        }
        found.ok_or_else(|| AgentError::Unknown {
            name: name.to_owned(),
            known: self.names(),
        })
    }

    /// The agent files that cannot be used, in discovery order.
    pub fn broken(&self) -> &[BrokenAgent] {
        &self.broken
    }

    /// Whether an agent named `name` is defined.
    pub fn contains(&self, name: &str) -> bool {
        self.agents.contains_key(name)
    }

    /// The effective agents, sorted by name.
    pub fn agents(&self) -> impl Iterator<Item = &AgentDef> {
        self.agents.values()
    }

    /// The effective agent names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.agents.keys().cloned().collect()
    }

    /// Definitions hidden by a higher-precedence one of the same name, in insertion order.
    pub fn shadowed(&self) -> &[ShadowedAgent] {
        &self.shadowed
    }

    /// Number of effective agents.
    pub fn len(&self) -> usize {
        self.agents.len()
    }

    /// Whether no agent is defined.
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }
}
