//! Path confinement: every path a tool touches must stay inside the project root.
//!
//! Rule: a path is taken relative to the project root (an absolute path is accepted only when it
//! lies inside the root). `..` is resolved lexically and may not climb above the root. Then the
//! deepest existing ancestor is canonicalized (following symlinks) and must still lie inside the
//! canonical root; this refuses symlinks that point outside, for files that exist and for files
//! that do not exist yet (write targets) alike. Checks happen at call time; a symlink swapped in
//! between the check and the I/O (a race by a hostile process) is out of scope.

use std::io;
use std::path::{Component, Path, PathBuf};

use crate::error::ToolError;

/// The canonical project root that tools are confined to.
#[derive(Debug, Clone)]
pub struct ProjectRoot {
    given: PathBuf,
    canonical: PathBuf,
}

/// A path that passed the confinement check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPath {
    /// Absolute path: the canonical deepest existing ancestor joined with the components that do
    /// not exist yet. For an existing file this is its canonical path (symlinks followed).
    pub abs: PathBuf,
    /// The path relative to the canonical root, with `/` separators; `.` for the root itself.
    pub rel: String,
    /// Whether `abs` exists right now.
    pub exists: bool,
}

impl ProjectRoot {
    /// Canonicalizes `root`.
    ///
    /// Errors: [`ToolError::Io`] when the root does not exist or cannot be resolved, and
    /// [`ToolError::Failed`] when it is not a directory.
    pub fn new(root: impl AsRef<Path>) -> Result<Self, ToolError> {
        let given = root.as_ref().to_path_buf();
        let canonical = given.canonicalize().map_err(|e| {
            ToolError::io("resolve the project root", given.display().to_string(), e)
        })?;
        if !canonical.is_dir() {
            return Err(ToolError::Failed(format!(
                "project root `{}` is not a directory",
                given.display()
            )));
        }
        Ok(Self { given, canonical })
    }

    /// The canonical absolute root.
    pub fn path(&self) -> &Path {
        &self.canonical
    }

    /// Checks `input` (relative, or absolute inside the root) and resolves it.
    ///
    /// Errors: [`ToolError::PathRefused`] for an empty path, a NUL byte, an absolute path outside
    /// the root, `..` climbing above the root, a symlink leading outside the root, or a dangling
    /// symlink on the way; [`ToolError::Io`] when an ancestor cannot be inspected.
    pub fn resolve(&self, input: &str) -> Result<ResolvedPath, ToolError> {
        let refuse = |reason: &str| ToolError::PathRefused {
            path: input.to_string(),
            reason: reason.to_string(),
        };
        if input.trim().is_empty() {
            return Err(refuse(
                "the path is empty; give a path relative to the project root",
            ));
        }
        if input.contains('\0') {
            return Err(refuse("the path contains a NUL byte"));
        }
        let raw = Path::new(input);
        let relative: &Path = if raw.is_absolute() {
            raw.strip_prefix(&self.canonical)
                .or_else(|_| raw.strip_prefix(&self.given))
                .map_err(|_| {
                    refuse("absolute paths must lie inside the project root; use a path relative to it")
                })?
        } else {
            raw
        };

        let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
        for component in relative.components() {
            match component {
                Component::CurDir => {}
                Component::Normal(name) => parts.push(name),
                Component::ParentDir => {
                    if parts.pop().is_none() {
                        return Err(refuse("it escapes the project root through `..`"));
                    }
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(refuse("it is not a plain relative path"));
                }
            }
        }

        // Find the deepest existing ancestor and canonicalize it.
        let mut existing = parts.len();
        let canonical_base = loop {
            let candidate = parts[..existing]
                .iter()
                .fold(self.canonical.clone(), |acc, part| acc.join(part));
            match candidate.canonicalize() {
                Ok(canonical) => break canonical,
                Err(e) if e.kind() == io::ErrorKind::NotFound && existing > 0 => {
                    if candidate.symlink_metadata().is_ok() {
                        return Err(refuse(
                            "it goes through a symlink whose target does not exist",
                        ));
                    }
                    existing -= 1;
                }
                Err(e) => {
                    return Err(ToolError::io("resolve", input.to_string(), e));
                }
            }
        };
        if !canonical_base.starts_with(&self.canonical) {
            return Err(refuse(
                "it resolves through a symlink to a location outside the project root",
            ));
        }
        let abs = parts[existing..]
            .iter()
            .fold(canonical_base, |acc, part| acc.join(part));
        let rel = self.relative(&abs);
        Ok(ResolvedPath {
            exists: existing == parts.len(),
            abs,
            rel,
        })
    }

    /// `abs` relative to the canonical root with `/` separators (`.` for the root itself); a path
    /// outside the root is shown as given.
    pub fn relative(&self, abs: &Path) -> String {
        match abs.strip_prefix(&self.canonical) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
            Ok(rel) => rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/"),
            Err(_) => abs.display().to_string(),
        }
    }
}
