//! The store's error type: every message names the entity and its state, and says what to do.

/// What kind of failure an error is; the CLI maps each kind to an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A team, member, task or agent that does not exist.
    NotFound,
    /// An illegal lifecycle move, or a conflict with another writer (a lost claim, a taken name).
    Conflict,
    /// Input the store refuses (an empty title, an unknown blocker, a bad database URL).
    Invalid,
    /// The database failed (connection lost, disk full, corrupt row).
    Database,
}

/// An error from a store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A lookup found nothing. `what` names the entity (`team docs`, `task 7 in team docs`).
    #[error("{what} not found{hint}")]
    NotFound {
        /// The entity looked for, as a phrase.
        what: String,
        /// Extra advice, starting with `; ` (or empty).
        hint: String,
    },
    /// Nothing matched a request that needs one (no claimable task): the message says why.
    #[error("{0}")]
    Empty(String),
    /// A move the lifecycle does not allow, said with the entity's id and state, e.g.
    /// `task 7 in team docs is completed; it cannot be claimed`.
    #[error("{0}")]
    Illegal(String),
    /// Another writer got there first, or a uniqueness rule holds.
    #[error("{0}")]
    Conflict(String),
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
    /// The database could not be opened or migrated. `target` is the URL with any password
    /// removed.
    #[error("cannot open database {target}: {message}")]
    Open {
        /// Where (password redacted).
        target: String,
        /// Why, and what to do.
        message: String,
    },
    /// A query failed.
    #[error("database error: {0}")]
    Database(diesel::result::Error),
    /// A write failed because the disk (or the file system holding the database) is full.
    #[error(
        "the disk holding the database is full ({0}); free some space and try again (nothing was written)"
    )]
    DiskFull(String),
    /// A write to a database that can only be read (a read-only file or directory).
    #[error("the database is read-only ({0}); read commands work, writes need write access to it")]
    ReadOnly(String),
    /// The database file is damaged or is not a database. `target` is where.
    #[error("database {target} is unreadable: {message}")]
    Unreadable {
        /// Where (password redacted).
        target: String,
        /// What was found, and what to do.
        message: String,
    },
    /// A write transaction failed and the engine had already undone it; the text is the
    /// original cause (not the failed rollback that followed).
    #[error("database error: {0}")]
    Failed(String),
    /// No connection could be had from the pool in time.
    #[error("database connection unavailable: {0}")]
    Pool(#[from] r2d2::Error),
    /// A row holds a value this version does not understand (e.g. an unknown status).
    #[error("unreadable row in the database: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// The kind of failure, for exit codes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::NotFound { .. } | StoreError::Empty(_) => ErrorKind::NotFound,
            StoreError::Illegal(_) | StoreError::Conflict(_) => ErrorKind::Conflict,
            StoreError::Invalid(_) | StoreError::Open { .. } => ErrorKind::Invalid,
            StoreError::Database(_)
            | StoreError::Pool(_)
            | StoreError::Corrupt(_)
            | StoreError::DiskFull(_)
            | StoreError::ReadOnly(_)
            | StoreError::Unreadable { .. }
            | StoreError::Failed(_) => ErrorKind::Database,
        }
    }

    pub(crate) fn not_found_hint(what: impl Into<String>, hint: impl AsRef<str>) -> Self {
        StoreError::NotFound {
            what: what.into(),
            hint: format!("; {}", hint.as_ref()),
        }
    }
}

impl From<diesel::result::Error> for StoreError {
    /// Names the real cause: a failed commit's own error rather than the failed rollback
    /// after it, a full disk as [`StoreError::DiskFull`], a read-only database as
    /// [`StoreError::ReadOnly`], a damaged file as [`StoreError::Corrupt`].
    fn from(e: diesel::result::Error) -> Self {
        let e = match e {
            diesel::result::Error::RollbackErrorOnCommit { commit_error, .. } => *commit_error,
            e => e,
        };
        classify(&e.to_string()).unwrap_or(StoreError::Database(e))
    }
}

/// The error a database message stands for, when it says more than "a query failed".
pub(crate) fn classify(text: &str) -> Option<StoreError> {
    let t = text.to_ascii_lowercase();
    if t.contains("disk is full") || t.contains("no space left on device") {
        Some(StoreError::DiskFull(text.to_owned()))
    } else if t.contains("readonly database") || t.contains("read-only file system") {
        Some(StoreError::ReadOnly(text.to_owned()))
    } else if t.contains("malformed") || t.contains("not a database") {
        Some(StoreError::Corrupt(format!(
            "{text}; the database file is damaged: restore it from a backup"
        )))
    } else {
        None
    }
}

/// `Result` with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
