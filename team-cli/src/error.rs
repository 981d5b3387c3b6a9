//! Errors a user sees, and the exit codes they map to: one [`CommandError`] type (after jj's
//! `cli/src/command_error.rs`), built from every library error by a `From` impl, and the one
//! published table of exit codes ([`exit`], the README's "Exit codes" and `team --help`).
//!
//! A command returns `Result<(), CommandError>`; `main` prints the error (`error: MESSAGE`,
//! then one `hint: …` line per hint, on stderr; with `--json` the [`ErrorDoc`](crate::doc::ErrorDoc)
//! `{"error": {"kind", "message", "exit_code", "hints"}}`) and exits with its kind's code.

use std::fmt;

use team_agent::AgentError;
use team_agent::config::ConfigError;
use team_provider::ProviderError;
use team_runner::RunnerError;
use team_runner::workflow::WorkflowError;
use team_store::{ErrorKind, StoreError};

/// The published exit codes (README "Exit codes", `team --help`). Every code `team` exits
/// with is here and nowhere else; [`Kind::code`] maps each error kind to one.
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// A failure (a database error, a failed member, a failed workflow run).
    pub const FAILURE: i32 = 1;
    /// Bad usage or bad input (also `team agents check` finding a broken file).
    pub const USAGE: i32 = 2;
    /// A team, member, task, agent or workflow that does not exist (or nothing to claim).
    pub const NOT_FOUND: i32 = 3;
    /// An illegal lifecycle move or a conflict with another writer.
    pub const CONFLICT: i32 = 4;
    /// `team run --fail-on SEVERITY`: the report holds a finding at or above it.
    pub const GATE: i32 = 10;
    /// `team run --on-ask park`: everything left waits for a human's approval
    /// (`team approvals`, `team approve`, then `team resume`).
    pub const NEEDS_INPUT: i32 = 20;
    /// A wait ran out of time, or a member's hard timeout ended it.
    pub const TIMEOUT: i32 = 124;
    /// `team run --max-tokens N`: the token budget was spent.
    pub const BUDGET: i32 = 125;
    /// Cancelled by Ctrl-C or SIGTERM.
    pub const CANCELLED: i32 = 130;
}

/// The kind of a [`CommandError`], which decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Exit 1.
    Failure,
    /// Exit 2.
    Usage,
    /// Exit 3.
    NotFound,
    /// Exit 4.
    Conflict,
    /// Exit 10.
    Gate,
    /// Exit 20.
    NeedsInput,
    /// Exit 124.
    Timeout,
    /// Exit 125.
    Budget,
    /// Exit 130.
    Cancelled,
}

impl Kind {
    /// Every kind, in the order of their codes.
    pub const ALL: &'static [Kind] = &[
        Kind::Failure,
        Kind::Usage,
        Kind::NotFound,
        Kind::Conflict,
        Kind::Gate,
        Kind::NeedsInput,
        Kind::Timeout,
        Kind::Budget,
        Kind::Cancelled,
    ];

    /// The exit code (see [`exit`]).
    pub fn code(self) -> i32 {
        match self {
            Kind::Failure => exit::FAILURE,
            Kind::Usage => exit::USAGE,
            Kind::NotFound => exit::NOT_FOUND,
            Kind::Conflict => exit::CONFLICT,
            Kind::Gate => exit::GATE,
            Kind::NeedsInput => exit::NEEDS_INPUT,
            Kind::Timeout => exit::TIMEOUT,
            Kind::Budget => exit::BUDGET,
            Kind::Cancelled => exit::CANCELLED,
        }
    }

    /// The name printed in `--json` errors (`error.kind`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Failure => "failure",
            Kind::Usage => "usage",
            Kind::NotFound => "not_found",
            Kind::Conflict => "conflict",
            Kind::Gate => "gate",
            Kind::NeedsInput => "needs_input",
            Kind::Timeout => "timeout",
            Kind::Budget => "budget",
            Kind::Cancelled => "cancelled",
        }
    }
}

/// An error for the user: what failed (naming team, member or task), and hints saying what
/// to do next.
///
/// An empty `message` means the command has already said what happened (a table, a report,
/// the member's error line) and only the exit code is left to give: `main` prints nothing.
#[derive(Debug)]
pub struct CommandError {
    /// Decides the exit code.
    pub kind: Kind,
    /// One sentence, lowercase start, no trailing period; empty when already reported.
    pub message: String,
    /// What to do next, one sentence each (printed as `hint: …` lines).
    pub hints: Vec<String>,
}

impl CommandError {
    /// A new error without hints.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            hints: Vec::new(),
        }
    }

    /// Bad usage or input (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }

    /// A failure (exit 1).
    pub fn failure(message: impl Into<String>) -> Self {
        Self::new(Kind::Failure, message)
    }

    /// Only an exit code: the command already printed what happened (see the type's doc).
    pub fn reported(kind: Kind) -> Self {
        Self::new(kind, "")
    }

    /// The same error with one more hint.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// True when the command already said what happened (an empty message).
    pub fn is_reported(&self) -> bool {
        self.message.is_empty()
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CommandError {}

/// The result of a command.
pub type Result<T, E = CommandError> = std::result::Result<T, E>;

fn store_kind(k: ErrorKind) -> Kind {
    match k {
        ErrorKind::NotFound => Kind::NotFound,
        ErrorKind::Conflict => Kind::Conflict,
        ErrorKind::Invalid => Kind::Usage,
        ErrorKind::Database => Kind::Failure,
    }
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        CommandError::new(store_kind(e.kind()), e.to_string())
    }
}

impl From<AgentError> for CommandError {
    fn from(e: AgentError) -> Self {
        match e {
            AgentError::Unknown { .. } => CommandError::new(Kind::NotFound, e.to_string())
                .hint("`team agents list` lists the agents this project can run"),
            // Every other agent error is a file that cannot be read or parsed: bad input.
            _ => CommandError::usage(e.to_string())
                .hint("`team agents check` lists every broken agent file"),
        }
    }
}

impl From<ConfigError> for CommandError {
    fn from(e: ConfigError) -> Self {
        CommandError::usage(e.to_string())
            .hint("`team config show` prints the configuration with the source of each value")
    }
}

impl From<ProviderError> for CommandError {
    fn from(e: ProviderError) -> Self {
        match e {
            // The setup names a provider or model that cannot be used: bad input.
            ProviderError::UnknownProvider { .. }
            | ProviderError::BadModel { .. }
            | ProviderError::MissingApiKey { .. }
            | ProviderError::Config { .. } => CommandError::usage(e.to_string())
                .hint("`team doctor` checks the providers and what each agent runs on"),
            // A call that failed.
            _ => CommandError::failure(e.to_string()),
        }
    }
}

impl From<WorkflowError> for CommandError {
    fn from(e: WorkflowError) -> Self {
        match e {
            WorkflowError::Unknown { .. } => CommandError::new(Kind::NotFound, e.to_string())
                .hint("`team workflows list` lists the workflows"),
            WorkflowError::Invalid { .. } => CommandError::usage(e.to_string()),
        }
    }
}

impl From<RunnerError> for CommandError {
    fn from(e: RunnerError) -> Self {
        match e {
            RunnerError::Store(e) => e.into(),
            RunnerError::Agent(e) => e.into(),
            RunnerError::Config(e) => e.into(),
            RunnerError::Other(m) => CommandError::failure(m),
        }
    }
}

impl From<std::io::Error> for CommandError {
    fn from(e: std::io::Error) -> Self {
        CommandError::failure(e.to_string())
    }
}

impl From<serde_json::Error> for CommandError {
    fn from(e: serde_json::Error) -> Self {
        CommandError::failure(e.to_string())
    }
}

/// An error from code that collects its causes with `anyhow` (the engine's start, a
/// runtime): a [`CommandError`] or library error in its chain decides the kind (its hints
/// kept); anything else is a plain failure. The message is the whole chain.
impl From<anyhow::Error> for CommandError {
    fn from(err: anyhow::Error) -> Self {
        let message = format!("{err:#}");
        for cause in err.chain() {
            if let Some(c) = cause.downcast_ref::<CommandError>() {
                return CommandError {
                    kind: c.kind,
                    message: if c.is_reported() {
                        String::new()
                    } else {
                        message
                    },
                    hints: c.hints.clone(),
                };
            }
            if let Some(s) = cause.downcast_ref::<StoreError>() {
                return CommandError::new(store_kind(s.kind()), message);
            }
            if let Some(r) = cause.downcast_ref::<RunnerError>()
                && let RunnerError::Store(s) = r
            {
                return CommandError::new(store_kind(s.kind()), message);
            }
        }
        CommandError::failure(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_published_code() {
        let codes: Vec<i32> = Kind::ALL.iter().map(|k| k.code()).collect();
        assert_eq!(codes, [1, 2, 3, 4, 10, 20, 124, 125, 130]);
        let mut names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        names.dedup();
        assert_eq!(names.len(), Kind::ALL.len());
    }

    #[test]
    fn the_readme_lists_every_exit_code() {
        let readme = include_str!("../../README.md");
        let table = readme
            .split("## Exit codes")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .unwrap_or_default();
        let listed: Vec<i32> = table
            .lines()
            .filter_map(|l| l.strip_prefix("| "))
            .filter_map(|l| l.split(' ').next()?.parse().ok())
            .collect();
        let mut published = vec![exit::OK];
        published.extend(Kind::ALL.iter().map(|k| k.code()));
        assert_eq!(
            listed, published,
            "README's exit codes and error::exit differ"
        );
        for code in published {
            assert!(
                crate::cli::AFTER_HELP.contains(&format!(" {code} ")),
                "`team --help` does not list exit {code}"
            );
        }
    }

    #[test]
    fn library_errors_keep_their_kind_through_anyhow() {
        let e = StoreError::NotFound {
            what: "team x".into(),
            hint: String::new(),
        };
        let c: CommandError = anyhow::Error::new(e).context("reading").into();
        assert_eq!(c.kind, Kind::NotFound);
        let c: CommandError =
            anyhow::Error::new(CommandError::new(Kind::Timeout, "late").hint("wait longer")).into();
        assert_eq!((c.kind, c.hints.len()), (Kind::Timeout, 1));
        let c: CommandError = anyhow::Error::new(CommandError::reported(Kind::Gate)).into();
        assert!(c.is_reported());
    }
}
