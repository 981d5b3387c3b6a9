//! Finding the project (`.team/` upward from the working directory) and its database.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use team_store::Store;

use crate::error::CommandError;
use crate::output::Out;

/// The name of the project directory that holds config, agents, workflows and the database.
pub const TEAM_DIR: &str = ".team";

/// The SQLite file inside [`TEAM_DIR`].
pub const DB_FILE: &str = "team.db";

/// What every command that touches the database gets.
pub struct Ctx {
    /// The open store.
    pub store: Store,
    /// The project root: the directory holding `.team/`, or the working directory when
    /// `--db` names a database outside any project.
    pub project_root: PathBuf,
    /// Output settings.
    pub out: Out,
    /// The database URL, with a SQLite path made absolute (given to command agents and to a
    /// detached runner as `TEAM_DATABASE_URL`).
    pub db_url: String,
}

impl Ctx {
    /// The project root as stored in the database (memory is keyed by it).
    pub fn root_str(&self) -> String {
        self.project_root.to_string_lossy().into_owned()
    }
}

/// The nearest directory at or above `start` that holds a `.team/` directory.
pub fn find_project(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|d| d.join(TEAM_DIR).is_dir())
        .map(Path::to_path_buf)
}

/// The database URL a command opens and its project root: `db` (`--db` /
/// `TEAM_DATABASE_URL`) in the project found upward from the working directory (else the
/// working directory), or the project's SQLite file.
///
/// # Errors
/// Usage error (exit 2) when no database is given and no `.team/` is found.
pub fn locate(db: Option<&str>) -> Result<(String, PathBuf), CommandError> {
    let cwd = std::env::current_dir()
        .map_err(|e| CommandError::usage(format!("cannot read the working directory: {e}")))?;
    let project = find_project(&cwd);
    let (url, project_root) = match (db, project) {
        (Some(url), Some(root)) => (url.to_owned(), root),
        (Some(url), None) => (url.to_owned(), cwd),
        (None, Some(root)) => (
            root.join(TEAM_DIR)
                .join(DB_FILE)
                .to_string_lossy()
                .into_owned(),
            root,
        ),
        (None, None) => {
            return Err(CommandError::usage(format!(
                "no {TEAM_DIR}/ directory in {} or its parents; run `team init` there, or pass --db PATH_OR_URL (or set TEAM_DATABASE_URL)",
                cwd.display()
            )));
        }
    };
    Ok((url, project_root))
}

/// Opens the database named by `--db` / `TEAM_DATABASE_URL`, or the project's default.
///
/// # Errors
/// Usage error (exit 2) when no database is given and no `.team/` is found; the store's open
/// error otherwise.
pub fn open(db: Option<&str>, out: Out) -> Result<Ctx, CommandError> {
    open_with(db, out, &team_store::OpenOptions::default(), None)
}

/// Like [`open`], with the store's settings and the connection `early` started for `db`
/// at the beginning of the process (see [`team_store::Preconnect`]; dropped unused when the
/// database turns out to be another).
///
/// # Errors
/// As [`open`].
pub fn open_with(
    db: Option<&str>,
    out: Out,
    opts: &team_store::OpenOptions,
    early: Option<team_store::Preconnect>,
) -> Result<Ctx, CommandError> {
    let (url, project_root) = locate(db)?;
    let store = Store::open_preconnected(&url, opts, early).map_err(|e| match (&e, db) {
        // The project's own database (no --db) that is not a database any more was damaged:
        // a database error (exit 1), not bad input.
        (team_store::StoreError::Open { .. }, None)
            if e.to_string().contains("not a SQLite database") =>
        {
            CommandError::new(
                crate::error::Kind::Failure,
                format!(
                    "{e}: the project's database is damaged; restore {TEAM_DIR}/{DB_FILE} from a backup, or move it away and run `team init`"
                ),
            )
        }
        _ => e.into(),
    })?;
    let db_url = if store.backend() == team_store::Backend::Sqlite {
        std::path::absolute(store.target())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or(url)
    } else {
        url
    };
    Ok(Ctx {
        store,
        project_root,
        out,
        db_url,
    })
}

/// `arg`, or the whole of stdin when `arg` is `None`, as UTF-8 text.
///
/// # Errors
/// Usage error when stdin is a terminal (nothing piped) or not valid UTF-8; nothing is
/// written in either case.
pub fn text_or_stdin(arg: Option<String>, what: &str) -> Result<String, CommandError> {
    if let Some(text) = arg {
        return Ok(text);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(CommandError::usage(format!(
            "no {what} given: pass it as an argument or pipe it on stdin"
        )));
    }
    let mut bytes = Vec::new();
    stdin
        .lock()
        .read_to_end(&mut bytes)
        .map_err(|e| CommandError::usage(format!("cannot read the {what} from stdin: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        CommandError::usage(format!(
            "the {what} on stdin is not valid UTF-8 (invalid byte at offset {}); nothing was written",
            e.utf8_error().valid_up_to()
        ))
    })
}
