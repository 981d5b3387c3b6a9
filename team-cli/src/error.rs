//! Errors a user sees, and the exit codes they map to.

use std::fmt;

use team_store::{ErrorKind, StoreError};

/// Published exit codes (README, `team --help`).
#[allow(dead_code)] // the full published table; not every code is produced yet
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// A failure (a database error, a failed member).
    pub const FAILURE: i32 = 1;
    /// Bad usage or bad input.
    pub const USAGE: i32 = 2;
    /// A team, member, task or agent that does not exist (or nothing to claim).
    pub const NOT_FOUND: i32 = 3;
    /// An illegal lifecycle move or a conflict with another writer.
    pub const CONFLICT: i32 = 4;
    /// A wait ran out of time.
    pub const TIMEOUT: i32 = 124;
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
    /// Exit 124.
    Timeout,
}

impl Kind {
    /// The exit code.
    pub fn code(self) -> i32 {
        match self {
            Kind::Failure => exit::FAILURE,
            Kind::Usage => exit::USAGE,
            Kind::NotFound => exit::NOT_FOUND,
            Kind::Conflict => exit::CONFLICT,
            Kind::Timeout => exit::TIMEOUT,
        }
    }

    /// The name printed in `--json` errors.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Failure => "failure",
            Kind::Usage => "usage",
            Kind::NotFound => "not_found",
            Kind::Conflict => "conflict",
            Kind::Timeout => "timeout",
        }
    }
}

/// An error for the user: what failed (naming team, member or task) and what to do.
#[derive(Debug)]
pub struct CommandError {
    /// Decides the exit code.
    pub kind: Kind,
    /// One sentence, lowercase start, no trailing period.
    pub message: String,
}

impl CommandError {
    /// A new error.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Bad usage or input (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CommandError {}

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

/// The kind of any error reaching `main`: a [`CommandError`] or [`StoreError`] in the chain
/// decides; anything else is a plain failure.
pub fn kind_of(err: &anyhow::Error) -> Kind {
    for cause in err.chain() {
        if let Some(c) = cause.downcast_ref::<CommandError>() {
            return c.kind;
        }
        if let Some(s) = cause.downcast_ref::<StoreError>() {
            return store_kind(s.kind());
        }
    }
    Kind::Failure
}
