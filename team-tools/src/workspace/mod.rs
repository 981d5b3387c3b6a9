//! The tools an agent can call on the project's files: `read_file`, `list_files`, `grep`,
//! `write_file`, `edit_file` and `bash`, run by [`WorkspaceTools`] (their names, schemas and
//! argument structs are the [`crate::registry`]'s).
//!
//! A call goes through four steps: find the tool (else [`ToolError::UnknownTool`]); parse and
//! check the arguments into a [`WorkspaceCall`] (else [`ToolError::InvalidArgs`] with the
//! expected shape) and confine
//! every path to the project root (else [`ToolError::PathRefused`]); check permissions (else
//! [`ToolError::Denied`], with a [`PermissionDecision`] for the event log); run the tool.

mod bash;
mod beneath;
mod files;
mod path;
mod protect;
mod sandbox;
mod search;
mod text;

use std::path::Path;
use std::time::Duration;

pub use crate::registry::{BASH_DEFAULT_TIMEOUT_SECS, BASH_MAX_TIMEOUT_SECS};
pub use bash::{BASH_STREAM_CAP_BYTES, DEFAULT_HIDDEN_ENV, PIPE_GRACE};
pub use files::{READ_DEFAULT_LIMIT, READ_MAX_LINE_CHARS};
pub use path::{ProjectRoot, ResolvedPath};
pub use protect::{PROTECTED_PATHS, Protected};
pub use sandbox::{
    ENV_TEST_NO_LANDLOCK, SYSTEM_READ_PATHS, SandboxError, SandboxMode, landlock_available,
};
pub use search::{GREP_MAX_LINE_CHARS, GREP_MAX_MATCHES, LIST_MAX_ENTRIES};
pub use text::OUTPUT_CAP_BYTES;

use crate::error::ToolError;
use crate::permission::{DecisionSource, PermissionChecker, PermissionDecision, PermissionRequest};
use crate::registry::{self, ToolKind, ToolSpec, WorkspaceCall};

/// Longest argument summary shown to the human and kept in decisions, in characters.
const SUMMARY_MAX_CHARS: usize = 300;

/// The result of [`WorkspaceTools::execute_with_decision`]: the permission decision (absent when
/// the call failed before the check: unknown tool, bad arguments, refused path) and the result.
#[derive(Debug)]
pub struct ToolOutcome {
    /// The permission decision, when a check was made; emit an event for it (at least when it
    /// denies).
    pub decision: Option<PermissionDecision>,
    /// The text for the model, or the error to send back as an error tool result.
    pub result: Result<String, ToolError>,
}

/// A call whose arguments are parsed and whose paths are confined.
enum Prepared {
    Read {
        target: ResolvedPath,
        offset: Option<u64>,
        limit: Option<u64>,
    },
    List {
        dir: ResolvedPath,
        pattern: String,
    },
    Grep {
        target: ResolvedPath,
        pattern: String,
        glob: Option<String>,
        case_insensitive: bool,
    },
    Write {
        target: ResolvedPath,
        content: String,
    },
    Edit {
        target: ResolvedPath,
        old: String,
        new: String,
        replace_all: bool,
    },
    Bash {
        command: String,
        timeout: Duration,
    },
}

fn summary(text: String) -> String {
    text::cut_chars(&text, SUMMARY_MAX_CHARS, "…").into_owned()
}

impl Prepared {
    /// The protected path this call would write (write tools: the target; `bash`: a
    /// protected path its command names), if any.
    fn protected_hit(&self, protected: &Protected) -> Option<String> {
        match self {
            Prepared::Write { target, .. } | Prepared::Edit { target, .. } => {
                protected.covering(&target.rel).map(str::to_owned)
            }
            Prepared::Bash { command, .. } => {
                protected.named_in_command(command).map(str::to_owned)
            }
            _ => None,
        }
    }

    /// The permission request: tool, subject for object-form patterns, and summary.
    fn request(&self, tool: &str) -> PermissionRequest {
        let (subject, summary_text) = match self {
            Prepared::Read {
                target,
                offset,
                limit,
            } => {
                let mut s = format!("`{}`", target.rel);
                if offset.is_some() || limit.is_some() {
                    s.push_str(&format!(
                        " from line {} ({} lines)",
                        offset.unwrap_or(1),
                        limit.unwrap_or(files::READ_DEFAULT_LIMIT)
                    ));
                }
                (target.rel.clone(), s)
            }
            Prepared::List { dir, pattern } => {
                (pattern.clone(), format!("`{pattern}` in `{}`", dir.rel))
            }
            Prepared::Grep {
                target,
                pattern,
                glob,
                ..
            } => {
                let mut s = format!("`{pattern}` in `{}`", target.rel);
                if let Some(glob) = glob {
                    s.push_str(&format!(" (files `{glob}`)"));
                }
                (pattern.clone(), s)
            }
            Prepared::Write { target, content } => (
                target.rel.clone(),
                format!("`{}` ({} bytes)", target.rel, content.len()),
            ),
            Prepared::Edit {
                target,
                old,
                new,
                replace_all,
            } => {
                let all = if *replace_all {
                    ", every occurrence"
                } else {
                    ""
                };
                let s = format!(
                    "`{}` (replace {} chars with {} chars{all})",
                    target.rel,
                    old.chars().count(),
                    new.chars().count()
                );
                (target.rel.clone(), s)
            }
            Prepared::Bash { command, timeout } => (
                command.clone(),
                format!("{command} (timeout {} s)", timeout.as_secs()),
            ),
        };
        PermissionRequest {
            tool: tool.to_string(),
            subject,
            summary: summary(summary_text),
        }
    }
}

/// The workspace tools of one member: the project root it is confined to, and that
/// member's permission checker.
#[derive(Debug, Clone)]
pub struct WorkspaceTools {
    root: ProjectRoot,
    checker: PermissionChecker,
    hidden_env: Vec<String>,
    protected: Protected,
    sandbox: SandboxMode,
}

impl WorkspaceTools {
    /// Tools on `project_root` (canonicalized once here) checked by `checker`. `bash` hides the
    /// environment variables matching [`DEFAULT_HIDDEN_ENV`] unless changed with
    /// [`WorkspaceTools::with_hidden_env`], and runs in the Landlock sandbox unless changed
    /// with [`WorkspaceTools::with_sandbox`]. Writes to the protected paths ([`Protected`])
    /// are always refused.
    ///
    /// Errors: the root does not exist or is not a directory.
    pub fn new(
        project_root: impl AsRef<Path>,
        checker: PermissionChecker,
    ) -> Result<Self, ToolError> {
        let root = ProjectRoot::new(project_root)?;
        let protected = Protected::for_root(root.path());
        Ok(Self {
            root,
            checker,
            hidden_env: DEFAULT_HIDDEN_ENV.iter().map(|s| s.to_string()).collect(),
            protected,
            sandbox: SandboxMode::default(),
        })
    }

    /// Sets how `bash` is confined (`[team] sandbox`).
    pub fn with_sandbox(mut self, mode: SandboxMode) -> Self {
        self.sandbox = mode;
        self
    }

    /// The protected paths of this project.
    pub fn protected(&self) -> &Protected {
        &self.protected
    }

    /// Replaces the patterns (`*`/`?` wildcards) of environment variable names removed from
    /// `bash` commands, e.g. `["*_API_KEY", "TEAM_DATABASE_URL"]`.
    pub fn with_hidden_env(
        mut self,
        patterns: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.hidden_env = patterns.into_iter().map(Into::into).collect();
        self
    }

    /// The canonical project root.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The member's permission checker.
    pub fn checker(&self) -> &PermissionChecker {
        &self.checker
    }

    /// Names of every workspace tool (from the [`registry`]).
    pub fn tool_names() -> Vec<&'static str> {
        registry::names_of(ToolKind::Workspace).collect()
    }

    /// Specs of every workspace tool, regardless of permissions.
    pub fn all_specs() -> Vec<ToolSpec> {
        registry::specs_of(ToolKind::Workspace)
    }

    /// Specs of the tools this member may see: all of them minus those left out of the agent's
    /// `tools` allow-list (other denials happen per call, since they may depend on arguments).
    pub fn specs(&self) -> Vec<ToolSpec> {
        let names = self.visible_names();
        Self::all_specs()
            .into_iter()
            .filter(|s| names.contains(&s.name.as_str()))
            .collect()
    }

    /// Names of the tools [`WorkspaceTools::specs`] returns, in the same order, without
    /// building their schemas: a key for sharing one built list between members.
    pub fn visible_names(&self) -> Vec<&'static str> {
        registry::names_of(ToolKind::Workspace)
            .filter(|n| self.checker.configured(n, "").1 != DecisionSource::NotInToolsList)
            .collect()
    }

    /// Runs one call and returns only its result (see [`WorkspaceTools::execute_with_decision`]
    /// to also get the permission decision).
    pub async fn execute(&self, name: &str, args_json: &str) -> Result<String, ToolError> {
        self.execute_with_decision(name, args_json).await.result
    }

    /// Runs one call: parse and confine, check permissions (possibly asking the human), run.
    /// Dropping the future cancels the call; a running `bash` command's process group is killed.
    pub async fn execute_with_decision(&self, name: &str, args_json: &str) -> ToolOutcome {
        self.execute_as(name, args_json, None).await
    }

    /// Runs one call that a human approved through approval request `approval` (after
    /// [`PermissionDecision::needs_approval`]): parsed and confined again, the refusals that
    /// nothing lifts (protected paths, `bash` without its sandbox) still apply, the permission
    /// rules do not.
    pub async fn execute_approved(
        &self,
        name: &str,
        args_json: &str,
        approval: i64,
    ) -> ToolOutcome {
        self.execute_as(name, args_json, Some(approval)).await
    }

    async fn execute_as(&self, name: &str, args_json: &str, approval: Option<i64>) -> ToolOutcome {
        let Some(call) = WorkspaceCall::parse(name, args_json) else {
            let available = Self::tool_names().join(", ");
            return ToolOutcome {
                decision: None,
                result: Err(ToolError::UnknownTool {
                    name: name.to_string(),
                    available,
                }),
            };
        };
        let tool = call.as_ref().map_or(name, |c| c.name()).to_owned();
        let prepared = match call.and_then(|call| self.prepare(call)) {
            Ok(p) => p,
            Err(e) => {
                return ToolOutcome {
                    decision: None,
                    result: Err(e),
                };
            }
        };
        let request = prepared.request(&tool);
        // Refusals that no rule, flag or prompt lifts come first.
        let refusal = match prepared.protected_hit(&self.protected) {
            Some(path) => Some(DecisionSource::ProtectedPath { path }),
            None if matches!(prepared, Prepared::Bash { .. })
                && self.sandbox == SandboxMode::Landlock
                && !landlock_available() =>
            {
                Some(DecisionSource::SandboxUnavailable)
            }
            None => None,
        };
        let decision = match (refusal, approval) {
            (Some(source), _) => self.checker.refuse(&request, source),
            (None, Some(id)) => self.checker.approved(&request, id),
            (None, None) => self.checker.check(&request).await,
        };
        if let Some(denied) = decision.to_error() {
            return ToolOutcome {
                decision: Some(decision),
                result: Err(denied),
            };
        }
        let result = self.run(&tool, prepared).await;
        ToolOutcome {
            decision: Some(decision),
            result,
        }
    }

    fn resolve_or_root(&self, path: Option<&str>) -> Result<ResolvedPath, ToolError> {
        self.root.resolve(path.unwrap_or("."))
    }

    fn prepare(&self, call: WorkspaceCall) -> Result<Prepared, ToolError> {
        Ok(match call {
            WorkspaceCall::ReadFile(a) => Prepared::Read {
                target: self.root.resolve(&a.path)?,
                offset: a.offset,
                limit: a.limit,
            },
            WorkspaceCall::ListFiles(a) => Prepared::List {
                dir: self.resolve_or_root(a.path.as_deref())?,
                pattern: a.pattern,
            },
            WorkspaceCall::Grep(a) => Prepared::Grep {
                target: self.resolve_or_root(a.path.as_deref())?,
                pattern: a.pattern,
                glob: a.glob,
                case_insensitive: a.case_insensitive.unwrap_or(false),
            },
            WorkspaceCall::WriteFile(a) => Prepared::Write {
                target: self.root.resolve(&a.path)?,
                content: a.content,
            },
            WorkspaceCall::EditFile(a) => Prepared::Edit {
                target: self.root.resolve(&a.path)?,
                old: a.old_string,
                new: a.new_string,
                replace_all: a.replace_all.unwrap_or(false),
            },
            WorkspaceCall::Bash(a) => Prepared::Bash {
                timeout: Duration::from_secs(a.timeout_secs()),
                command: a.command,
            },
        })
    }

    async fn run(&self, tool: &str, prepared: Prepared) -> Result<String, ToolError> {
        if let Prepared::Bash { command, timeout } = &prepared {
            return self.run_bash(command, *timeout).await;
        }
        let root = self.root.clone();
        let work = move || match prepared {
            Prepared::Read {
                target,
                offset,
                limit,
            } => files::read_file(root.path(), &target, offset, limit),
            Prepared::List { dir, pattern } => search::list_files(&root, &dir, &pattern),
            Prepared::Grep {
                target,
                pattern,
                glob,
                case_insensitive,
            } => {
                let query = search::GrepQuery {
                    pattern: &pattern,
                    glob: glob.as_deref(),
                    case_insensitive,
                };
                search::grep(&root, &target, &query)
            }
            Prepared::Write { target, content } => {
                files::write_file(root.path(), &target, &content)
            }
            Prepared::Edit {
                target,
                old,
                new,
                replace_all,
            } => files::edit_file(root.path(), &target, &old, &new, replace_all),
            Prepared::Bash { .. } => Err(ToolError::Failed(
                "bash ran on the blocking pool".to_string(),
            )),
        };
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ToolError::Failed(format!("the {tool} call stopped unexpectedly: {e}")))?
    }

    /// Runs `bash` in its sandbox (or without one with `sandbox = "off"`).
    async fn run_bash(&self, command: &str, timeout: Duration) -> Result<String, ToolError> {
        let root = self.root.path();
        if self.sandbox == SandboxMode::Off {
            return bash::run_bash(root, command, timeout, &self.hidden_env, None).await;
        }
        let tmp = tempfile::Builder::new()
            .prefix("team-bash-")
            .tempdir()
            .map_err(|e| {
                ToolError::Failed(format!("could not make bash's temporary directory: {e}"))
            })?;
        let (root_buf, protected, tmp_path) = (
            root.to_path_buf(),
            self.protected.clone(),
            tmp.path().to_path_buf(),
        );
        let ruleset =
            tokio::task::spawn_blocking(move || sandbox::ruleset(&root_buf, &protected, &tmp_path))
                .await
                .map_err(|e| ToolError::Failed(format!("the bash sandbox setup stopped: {e}")))?
                .map_err(|e| ToolError::Failed(e.to_string()))?;
        bash::run_bash(
            root,
            command,
            timeout,
            &self.hidden_env,
            Some((ruleset, tmp.path())),
        )
        .await
    }
}
