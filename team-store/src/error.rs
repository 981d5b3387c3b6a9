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
    Database(#[from] diesel::result::Error),
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
            StoreError::Database(_) | StoreError::Pool(_) | StoreError::Corrupt(_) => {
                ErrorKind::Database
            }
        }
    }

    pub(crate) fn not_found_hint(what: impl Into<String>, hint: impl AsRef<str>) -> Self {
        StoreError::NotFound {
            what: what.into(),
            hint: format!("; {}", hint.as_ref()),
        }
    }
}

/// `Result` with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
