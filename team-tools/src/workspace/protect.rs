//! Protected paths: the parts of a project that make up `team`'s control plane, which no
//! workspace tool may write, whatever the agent's `permission`, `--allow` or `--yes` say.
//!
//! An agent that could write them could take over the next run: point a provider's `base_url`
//! in `.team/config.toml` at another server (the next run sends it the API key), turn an agent
//! file into a command agent that runs anything, or add a git hook. The list
//! ([`PROTECTED_PATHS`], relative to the project root, each with everything beneath it):
//!
//! - `.team` — config, agents, workflows, the database, the runner log;
//! - `.claude/agents`, `.opencode/agent`, `.opencode/agents` — the agent folders `team` reads;
//! - `.git/hooks`, `.git/config` — what git runs or reads to decide what to run;
//! - the user configuration directory (`~/.config/team`, see
//!   [`crate::paths::user_config_path`]) when it lies inside the project root (everything
//!   outside the root is refused anyway).
//!
//! The write tools check the canonical (symlink-resolved) path, so a symlink inside the root
//! that points into a protected path is refused too; the writes themselves are made without
//! following symlinks (see `beneath`), so a symlink swapped in after the check cannot redirect
//! them. `bash` is kept out by its sandbox (see `sandbox`), and a command naming a protected
//! path is refused before it runs.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

/// The protected paths, relative to the project root, with `/` separators.
pub const PROTECTED_PATHS: &[&str] = &[
    ".team",
    ".claude/agents",
    ".opencode/agent",
    ".opencode/agents",
    ".git/hooks",
    ".git/config",
];

/// The protected paths of one project: [`PROTECTED_PATHS`] plus the user configuration
/// directory when it lies inside the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protected {
    rels: Vec<String>,
}

impl Protected {
    /// The protected paths of the project at `root` (canonical).
    pub fn for_root(root: &Path) -> Protected {
        let mut rels: Vec<String> = PROTECTED_PATHS.iter().map(|s| s.to_string()).collect();
        if let Some(dir) =
            crate::paths::user_config_path().and_then(|p| p.parent().map(Path::to_path_buf))
        {
            let dir = dir.canonicalize().unwrap_or(dir);
            if let Ok(rel) = dir.strip_prefix(root)
                && !rel.as_os_str().is_empty()
            {
                rels.push(
                    rel.components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/"),
                );
            }
        }
        Protected { rels }
    }

    /// The protected paths, relative to the root.
    pub fn rels(&self) -> &[String] {
        &self.rels
    }

    /// The protected path that `rel` (relative to the root, `/` separators, no `.` or `..`)
    /// is or lies beneath; `None` when it is writable. The root itself (`.`) is not protected.
    pub fn covering(&self, rel: &str) -> Option<&str> {
        self.rels
            .iter()
            .find(|p| {
                rel == p.as_str()
                    || rel
                        .strip_prefix(p.as_str())
                        .is_some_and(|r| r.starts_with('/'))
            })
            .map(String::as_str)
    }

    /// The protected path that a `bash` command names (as a word: after a space, quote, `=`,
    /// `/`, `<`, `>`, `(`, `;`, `|`, `&` or at the start, and followed by `/`, the end, or such
    /// a separator); `None` when it names none. The sandbox is what keeps the command out; this
    /// only refuses the obvious attempts early, with a clear error and a `tool.denied` event.
    pub fn named_in_command(&self, command: &str) -> Option<&str> {
        static SEP: LazyLock<String> = LazyLock::new(|| r#"[\s'"=/<>();|&`]"#.to_string());
        self.rels.iter().map(String::as_str).find(|p| {
            let pattern = format!(
                r#"(^|{sep}|\./){p}($|/|{sep})"#,
                sep = SEP.as_str(),
                p = regex::escape(p)
            );
            Regex::new(&pattern).is_ok_and(|re| re.is_match(command))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Protected {
        Protected {
            rels: PROTECTED_PATHS.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn covering_matches_the_path_and_what_lies_beneath() {
        let p = p();
        assert_eq!(p.covering(".team"), Some(".team"));
        assert_eq!(p.covering(".team/config.toml"), Some(".team"));
        assert_eq!(p.covering(".claude/agents/x.md"), Some(".claude/agents"));
        assert_eq!(p.covering(".git/hooks/pre-commit"), Some(".git/hooks"));
        assert_eq!(p.covering(".git/config"), Some(".git/config"));
        assert_eq!(p.covering(".git/objects/aa"), None);
        assert_eq!(p.covering(".teams/x"), None);
        assert_eq!(p.covering(".claude/settings.json"), None);
        assert_eq!(p.covering("src/.team"), None);
        assert_eq!(p.covering("."), None);
    }

    #[test]
    fn commands_naming_a_protected_path_are_found() {
        let p = p();
        for c in [
            "echo x > .team/config.toml",
            "cat >>.team/agents/a.md",
            "cp x ./.team/agents/",
            "rm -rf .team",
            "sed -i s/a/b/ '.claude/agents/r.md'",
            "ln -s x .git/hooks/pre-commit",
            "cd .team && echo > config.toml",
            "git config --file=.git/config core.hooksPath x",
        ] {
            assert!(p.named_in_command(c).is_some(), "{c}");
        }
        for c in [
            "echo my.teammate",
            "ls src/.teamcity",
            "cargo test",
            "cat .gitignore",
            "git status",
            "echo .teams",
        ] {
            assert_eq!(p.named_in_command(c), None, "{c}");
        }
    }
}
