//! The store's error type: every message names the entity and its state, and says what to do.

use team_core::delivery::Fenced;
use team_core::manage::NotManager;
use team_core::{IllegalTransition, MemberStatus, TeamStatus};

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

/// Why a rule refused a write: the typed error of the rule in `team-core`, with the entity it
/// was refused to. Its text is the store's message (`task 7 in team docs is completed; it
/// cannot be claimed`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A move the lifecycle tables do not allow (`team_core::lifecycle`).
    #[error("{subject} is {}{note}; it cannot be {}", .transition.from, .transition.verb)]
    Transition {
        /// The entity, by id or name: `task 7 in team docs`, `member reviewer in team docs`.
        subject: String,
        /// Said after its state (` (assignee reviewer)`), or empty.
        note: String,
        /// The refused move.
        transition: IllegalTransition,
    },
    /// A team that has ended cannot take new members, tasks, claims or messages.
    #[error("team {team} is {status}; it cannot take {what}")]
    TeamEnded {
        /// The team's name.
        team: String,
        /// Its (terminal) state.
        status: TeamStatus,
        /// What it was to take (`new members`).
        what: String,
    },
    /// A member that has ended cannot receive messages.
    #[error("member {member} in team {team} is {status}; it cannot receive messages")]
    RecipientEnded {
        /// The member's name.
        member: String,
        /// The team's name.
        team: String,
        /// Its (terminal) state.
        status: MemberStatus,
    },
    /// A write made as a member that has ended (`team_core::delivery::may_act`).
    #[error(transparent)]
    Fenced(#[from] Fenced),
    /// A member that may not take the team down (`team_core::manage::may_disband`).
    #[error(transparent)]
    NotManager(#[from] NotManager),
    /// A team `team resume` may not take up (`team_core::resume::may_resume_team`).
    #[error("team {team} cannot be resumed: {why}")]
    NotResumable {
        /// The team's name.
        team: String,
        /// The rule's reason.
        why: team_core::resume::NotResumable,
    },
}

impl Refusal {
    /// The lifecycle move refused, when that is what this is.
    pub fn transition(&self) -> Option<&IllegalTransition> {
        match self {
            Refusal::Transition { transition, .. } => Some(transition),
            _ => None,
        }
    }

    /// A refused lifecycle move of `subject` (`task 7 in team docs`).
    pub(crate) fn transition_of(subject: String, transition: IllegalTransition) -> Self {
        Refusal::Transition {
            subject,
            note: String::new(),
            transition,
        }
    }
}

impl From<Refusal> for StoreError {
    fn from(r: Refusal) -> Self {
        StoreError::Illegal(r)
    }
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
    /// A move a rule of `team-core` does not allow, said with the entity's id and state, e.g.
    /// `task 7 in team docs is completed; it cannot be claimed`. The [`Refusal`] keeps the
    /// rule's own error (an [`IllegalTransition`] for a lifecycle move).
    #[error("{0}")]
    Illegal(Refusal),
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
