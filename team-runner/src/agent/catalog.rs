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

/// The agents of a project by name, plus the definitions shadowed by higher-precedence ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentCatalog {
    agents: BTreeMap<String, AgentDef>,
    shadowed: Vec<ShadowedAgent>,
}

/// Reads the agent files of the project at `project_root`: every `*.md` file directly in
/// each of [`AGENT_DIRS`] (non-recursive, sorted by file name; hidden files and
/// non-files are skipped; missing directories are fine).
///
/// Errors: the first file that cannot be read or parsed ([`AgentError::Read`],
/// [`AgentError::Yaml`], [`AgentError::Field`], [`AgentError::Invalid`]) — a malformed file
/// is never skipped silently; [`AgentError::ReadDir`] when a directory cannot be listed;
/// [`AgentError::Duplicate`] when two files of one directory define the same name.
/// Also adds the built-in agents (lowest precedence: a file of the same name wins).
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
        for path in agent_files(&dir)? {
            let def = AgentDef::load(&path, *kind)?;
            if let Some(other) = seen.insert(def.name.clone(), path.clone()) {
                return Err(AgentError::Duplicate {
                    name: def.name,
                    path,
                    other,
                });
            }
            catalog.insert(def);
        }
    }
    Ok(catalog)
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
    /// Errors: [`AgentError::Unknown`], listing the known names and where agents are looked up.
    pub fn get(&self, name: &str) -> Result<&AgentDef, AgentError> {
        self.agents.get(name).ok_or_else(|| AgentError::Unknown {
            name: name.to_owned(),
            known: self.names(),
        })
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
