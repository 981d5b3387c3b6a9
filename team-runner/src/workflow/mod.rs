//! Workflows: a team's whole job as a file (`.team/workflows/NAME.toml`).
//!
//! A workflow names its lead agent, its inputs and parameters (`--set key=value`), its prompt
//! templates, and the engine (`kind`) that runs its phases. Bundled workflows ship inside the
//! binary ([`BUNDLED`]); a project file of the same name overrides one.
//!
//! Engines ([`WorkflowKind`]): `review` ([`review`]): specialists review an input in parallel,
//! review each other's findings, and the lead writes the synthesis; the report is
//! `team_report::Report`; `fanout` ([`fanout`]); `self-review` ([`self_review`]). [`execute`] runs
//! one on its team, start to end, and says how it ended ([`Outcome`]).

pub mod answers;
pub mod execute;
pub mod fanout;
mod findings;
pub mod journal;
pub mod review;
pub mod self_review;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use execute::{Execution, Outcome, REPORT_EVENT, WorkflowKind, execute};

/// `(name, TOML)` of every bundled workflow.
pub const BUNDLED: &[(&str, &str)] = &[
    ("spec-review", include_str!("bundled/spec-review.toml")),
    (
        "self-review-loop",
        include_str!("bundled/self-review-loop.toml"),
    ),
];

/// The engines a workflow's `kind` may name.
pub const KINDS: &[&str] = &["review", "fanout", "self-review"];

/// Where project workflows live, relative to the project root.
pub const WORKFLOW_DIR: &str = ".team/workflows";

/// A workflow definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowDef {
    /// Its name (`team run NAME`).
    pub name: String,
    /// One line for `team workflows list`.
    #[serde(default)]
    pub description: String,
    /// The engine that runs it (`review`).
    pub kind: String,
    /// The lead agent.
    pub lead: String,
    /// Positional inputs, in order: name → description.
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
    /// Parameters and their defaults (`--set key=value` overrides).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Prompt templates by phase.
    #[serde(default)]
    pub prompts: BTreeMap<String, String>,
    /// This workflow's `max_depth` for the `task` tool (overrides `[team] max_depth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_depth: Option<u32>,
    /// This workflow's `max_members_per_team` for the `task` tool (overrides the config).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_members_per_team: Option<u32>,
    /// This workflow's `[hooks]`: a command per event name (`task_completed`,
    /// `member_idle`, `member_ended`, `before_tool`), over the configuration's for its runs
    /// (an empty command turns the configuration's off); see [`crate::hooks`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hooks: BTreeMap<String, String>,
}

impl WorkflowDef {
    /// `hooks` with this workflow's `[hooks]` laid over them.
    ///
    /// # Errors
    /// A sentence naming a key that is no hook event.
    pub fn hooks_over(
        &self,
        hooks: &team_agent::config::HooksConfig,
    ) -> Result<team_agent::config::HooksConfig, String> {
        use team_agent::config::HookEvent;
        let mut out = hooks.clone();
        for (key, command) in &self.hooks {
            let Some(event) = HookEvent::ALL.into_iter().find(|e| e.as_str() == key) else {
                return Err(format!(
                    "workflow {}: unknown hook `{key}` in [hooks]; expected one of: {}",
                    self.name,
                    HookEvent::ALL.map(HookEvent::as_str).join(", ")
                ));
            };
            if command.trim().is_empty() {
                out.commands.remove(&event);
            } else {
                out.commands.insert(event, command.clone());
            }
        }
        Ok(out)
    }
}

/// Where a workflow definition came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkflowSource {
    /// `bundled` or `project`.
    pub kind: &'static str,
    /// The file (a pseudo path for bundled ones).
    pub path: PathBuf,
    /// The file's text, as written (what `team workflows show` prints).
    pub text: String,
}

/// Workflow errors: unknown, unreadable, invalid.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// No workflow of that name.
    #[error(
        "unknown workflow `{name}`; known workflows: {known}; add one as .team/workflows/{name}.toml"
    )]
    Unknown {
        /// The name asked for.
        name: String,
        /// Known names, comma-separated.
        known: String,
    },
    /// A file that could not be read or parsed.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

fn parse(text: &str, path: &Path) -> Result<WorkflowDef, WorkflowError> {
    let def: WorkflowDef = toml::from_str(text).map_err(|e| WorkflowError::Invalid {
        path: path.display().to_string(),
        message: e.to_string().trim().to_owned(),
    })?;
    if !KINDS.contains(&def.kind.as_str()) {
        return Err(WorkflowError::Invalid {
            path: path.display().to_string(),
            message: format!(
                "unknown workflow kind `{}`; this version runs `review`",
                def.kind
            ),
        });
    }
    Ok(def)
}

/// Every workflow available in a project: bundled ones, overridden by `.team/workflows/*.toml`.
///
/// # Errors
/// A project workflow file that cannot be read or parsed.
pub fn list(project_root: &Path) -> Result<Vec<(WorkflowDef, WorkflowSource)>, WorkflowError> {
    let mut by_name: BTreeMap<String, (WorkflowDef, WorkflowSource)> = BTreeMap::new();
    for (name, text) in BUNDLED {
        let path = PathBuf::from(format!("bundled/{name}.toml"));
        let def = parse(text, &path)?;
        by_name.insert(
            def.name.clone(),
            (
                def,
                WorkflowSource {
                    kind: "bundled",
                    path,
                    text: (*text).to_owned(),
                },
            ),
        );
    }
    let dir = project_root.join(WORKFLOW_DIR);
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|e| WorkflowError::Invalid {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            let def = parse(&text, &path)?;
            by_name.insert(
                def.name.clone(),
                (
                    def,
                    WorkflowSource {
                        kind: "project",
                        path,
                        text,
                    },
                ),
            );
        }
    }
    Ok(by_name.into_values().collect())
}

/// The workflow called `name`.
///
/// # Errors
/// [`WorkflowError::Unknown`], or a project file that cannot be parsed.
pub fn find(
    project_root: &Path,
    name: &str,
) -> Result<(WorkflowDef, WorkflowSource), WorkflowError> {
    let all = list(project_root)?;
    let known = all
        .iter()
        .map(|(d, _)| d.name.clone())
        .collect::<Vec<_>>()
        .join(", ");
    all.into_iter()
        .find(|(d, _)| d.name == name)
        .ok_or(WorkflowError::Unknown {
            name: name.to_owned(),
            known,
        })
}

/// Fills `{key}` placeholders of `template` from `vars` (unknown placeholders stay as written,
/// so JSON braces in a template survive).
pub fn render(template: &str, vars: &BTreeMap<&str, String>) -> String {
    let mut out = template.to_owned();
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_workflows_parse() {
        let dir = tempfile::tempdir().unwrap();
        let all = list(dir.path()).unwrap();
        assert_eq!(all.len(), 2);
        let (def, src) = all.iter().find(|(d, _)| d.name == "spec-review").unwrap();
        assert_eq!(src.kind, "bundled");
        assert!(def.params["reviewers"].contains("security"));
        assert!(def.prompts.contains_key("cross_review"));
    }

    #[test]
    fn a_project_file_overrides_and_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let wf = dir.path().join(WORKFLOW_DIR);
        std::fs::create_dir_all(&wf).unwrap();
        let text = BUNDLED[0]
            .1
            .replace("max_findings = \"8\"", "max_findings = \"3\"");
        std::fs::write(wf.join("spec-review.toml"), text).unwrap();
        let (def, src) = find(dir.path(), "spec-review").unwrap();
        assert_eq!(def.params["max_findings"], "3");
        assert_eq!(src.kind, "project");
        std::fs::write(wf.join("bad.toml"), "name = 3").unwrap();
        let e = list(dir.path()).unwrap_err().to_string();
        assert!(e.contains("bad.toml"), "{e}");
        std::fs::remove_file(wf.join("bad.toml")).unwrap();
        let e = find(dir.path(), "nope").unwrap_err().to_string();
        assert!(
            e.contains("known workflows: self-review-loop, spec-review"),
            "{e}"
        );
    }

    #[test]
    fn render_fills_known_placeholders_only() {
        let vars = BTreeMap::from([("a", "1".to_owned())]);
        assert_eq!(render("{a} {\"b\": 2} {c}", &vars), "1 {\"b\": 2} {c}");
    }
}
