//! Dynamic shell completion: `source <(COMPLETE=bash team)` (clap_complete's
//! [`clap_complete::CompleteEnv`]; zsh, fish, elvish and PowerShell alike) completes commands
//! and flags, and the names below, read when Tab is pressed:
//! - teams (every team of the database, active ones first), members (of the team named
//!   earlier on the line, else of every active team), runners (alive), from the project's
//!   database, opened read-only ([`team_store::Store::open_read_only`]);
//! - agents (the project's agent files and the built-in agents) and workflows (bundled and
//!   `.team/workflows/`).
//!
//! The database is the one the command would use: `--db` on the line, else
//! `TEAM_DATABASE_URL`, else `.team/team.db` of the nearest `.team/` upward. A completion
//! never writes, prints or fails: on any error (no project, no database, a damaged file, a
//! server down) it offers nothing.

use std::ffi::OsString;
use std::path::PathBuf;

use clap_complete::engine::CompletionCandidate;
use team_store::{Store, TeamFilter};

use crate::project::{DB_FILE, TEAM_DIR, find_project};

/// The words of the command line being completed: what follows `--` in this process's
/// arguments (`team -- team show cr`), without the program name. Empty outside a completion.
fn words() -> Vec<String> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let Some(dash) = args.iter().position(|a| a == "--") else {
        return Vec::new();
    };
    args.into_iter()
        .skip(dash + 2)
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// The value of `--db` on the line being completed (`--db X` or `--db=X`), if any.
fn db_flag(words: &[String]) -> Option<String> {
    words.iter().enumerate().find_map(|(i, w)| {
        if w == "--db" {
            words.get(i + 1).cloned()
        } else {
            w.strip_prefix("--db=").map(str::to_owned)
        }
    })
}

/// The project root as the command would find it (the working directory outside one).
fn project_root() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    Some(find_project(&cwd).unwrap_or(cwd))
}

/// The database the command would use, opened read-only; `None` on any error.
fn store(words: &[String]) -> Option<Store> {
    let url = db_flag(words)
        .or_else(|| {
            std::env::var("TEAM_DATABASE_URL")
                .ok()
                .filter(|u| !u.trim().is_empty())
        })
        .or_else(|| {
            let cwd = std::env::current_dir().ok()?;
            let root = find_project(&cwd)?;
            Some(
                root.join(TEAM_DIR)
                    .join(DB_FILE)
                    .to_string_lossy()
                    .into_owned(),
            )
        })?;
    Store::open_read_only(&url).ok()
}

/// Every team's name, active teams first (each name once), with its state as help.
pub fn teams() -> Vec<CompletionCandidate> {
    let Some(store) = store(&words()) else {
        return Vec::new();
    };
    let Ok(mut all) = store.list_teams(&TeamFilter {
        all: true,
        status: None,
    }) else {
        return Vec::new();
    };
    all.sort_by_key(|t| t.team.status != team_core::TeamStatus::Active);
    let mut seen = std::collections::HashSet::new();
    all.into_iter()
        .filter(|t| seen.insert(t.team.name.clone()))
        .map(|t| CompletionCandidate::new(t.team.name).help(Some(t.team.status.as_str().into())))
        .collect()
}

/// Member names: of the team named earlier on the line (the first word that is an active
/// team's name or a team's id), else of every active team; `lead` included.
pub fn members() -> Vec<CompletionCandidate> {
    let words = words();
    let Some(store) = store(&words) else {
        return Vec::new();
    };
    let Ok(active) = store.list_teams(&TeamFilter::default()) else {
        return Vec::new();
    };
    // The last word is the one being completed.
    let earlier = &words[..words.len().saturating_sub(1)];
    let named = earlier.iter().find_map(|w| {
        active
            .iter()
            .find(|t| &t.team.name == w || &t.team.id == w)
            .map(|t| t.team.id.clone())
            .or_else(|| {
                (w.len() >= 4 && !w.starts_with('-'))
                    .then(|| store.resolve_team(w).ok().map(|t| t.id))
                    .flatten()
            })
    });
    let team_ids: Vec<String> = match named {
        Some(id) => vec![id],
        None => active.iter().map(|t| t.team.id.clone()).collect(),
    };
    let mut names = std::collections::BTreeMap::new();
    for id in team_ids {
        for m in store.list_members(&id).unwrap_or_default() {
            names
                .entry(m.name)
                .or_insert_with(|| format!("{} ({})", m.agent, m.status));
        }
    }
    names
        .into_iter()
        .map(|(name, help)| CompletionCandidate::new(name).help(Some(help.into())))
        .collect()
}

/// The agents this project can run (its agent files and the built-in ones), with their
/// descriptions as help.
pub fn agents() -> Vec<CompletionCandidate> {
    let Some(root) = project_root() else {
        return Vec::new();
    };
    let Ok(catalog) = team_agent::discover_with_builtins(&root) else {
        return Vec::new();
    };
    catalog
        .agents()
        .map(|a| {
            let about = a.description.as_deref().and_then(|d| d.lines().next());
            CompletionCandidate::new(a.name.clone()).help(about.map(|d| d.to_owned().into()))
        })
        .collect()
}

/// The workflows (bundled, and this project's `.team/workflows/*.toml`).
pub fn workflows() -> Vec<CompletionCandidate> {
    let Some(root) = project_root() else {
        return Vec::new();
    };
    let Ok(all) = team_runner::workflow::list(&root) else {
        return Vec::new();
    };
    all.into_iter()
        .map(|(d, _)| CompletionCandidate::new(d.name).help(Some(d.description.into())))
        .collect()
}

/// The ids of the runners that are not stopped, with their host and pid as help.
pub fn runners() -> Vec<CompletionCandidate> {
    let Some(store) = store(&words()) else {
        return Vec::new();
    };
    store
        .list_runners(false)
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            CompletionCandidate::new(r.id).help(Some(format!("pid {} on {}", r.pid, r.host).into()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_db_flag_is_read_in_both_forms() {
        let w = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            db_flag(&w(&["--db", "x.db", "show", ""])),
            Some("x.db".into())
        );
        assert_eq!(db_flag(&w(&["show", "--db=y.db", ""])), Some("y.db".into()));
        assert_eq!(db_flag(&w(&["show", ""])), None);
    }
}
