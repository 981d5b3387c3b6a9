//! A `team` project for one end-to-end test (feature `pg`): a temp directory, the real `team`
//! binary run in it with a clean environment, on SQLite or on a PostgreSQL schema of its own.
//!
//! Every suite under `tests/` builds its own helpers (JSON calls, agent files, runners, a
//! scripted provider) on this one [`Project`]; the engines are told apart by [`Backend`], which
//! the suites give to `rstest` cases so each test runs once per engine:
//!
//! ```no_run
//! use team_testkit::{Backend, Project};
//! // `None`: a PostgreSQL variant while `TEAM_TEST_DATABASE_URL` is unset (skipped, tallied).
//! if let Some(p) = Project::on(Backend::Postgres) {
//!     let out = p.std_command().args(["--json", "list"]).output().expect("run team");
//!     assert!(out.status.success());
//! }
//! ```
//!
//! A SQLite project keeps its database in `.team/team.db` under the root and runs every child
//! with `TEAM_DATABASE_URL` removed; a PostgreSQL project passes its schema's URL to every child
//! as `TEAM_DATABASE_URL`, so a command line is the same on both engines.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::pg::PgSchema;
use crate::process::{SCRUBBED_ENV, assert_success};

/// The database engine of a [`Project`] (or of any test that runs once per engine).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file (`.team/team.db` in a project).
    Sqlite,
    /// A schema of its own in the test PostgreSQL server named by `TEAM_TEST_DATABASE_URL`
    /// (see [`crate::pg`]).
    Postgres,
}

impl fmt::Display for Backend {
    /// `sqlite` or `postgres` (the suffix of the tests' names).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// A fresh PostgreSQL schema named after the test binary (see [`schema_prefix`]), or `None`
/// when the PostgreSQL variants are skipped: [`PgSchema::create`], which tallies the variant
/// as run or skipped.
///
/// # Panics
/// As [`PgSchema::create`].
pub fn pg_schema() -> Option<PgSchema> {
    PgSchema::create(&schema_prefix())
}

/// The prefix of the PostgreSQL schemas this test binary makes: its name up to the first `-`
/// (cargo's hash follows), lowercased, other characters than `[a-z0-9_]` made `_` (`it`,
/// `runner`, `store`, …); `t` when there is no usable name. It says which suite left a schema
/// behind after a crash.
pub fn schema_prefix() -> String {
    let stem = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let name: String = stem
        .split('-')
        .next()
        .unwrap_or("")
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_') => c,
            _ => '_',
        })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_') {
        name
    } else {
        "t".to_owned()
    }
}

/// The `team` binary cargo built for this test run (`CARGO_BIN_EXE_team`, or `team` next to
/// the test binary's `deps/` directory: [`assert_cmd::cargo::cargo_bin`]).
///
/// # Panics
/// When there is no such binary (a test outside `team-cli`'s integration tests).
pub fn team_bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("team")
}

/// `team` in `dir` as a `std::process::Command` with a clean environment and no project: every
/// variable of [`SCRUBBED_ENV`] removed, `CI=true` (a permission `ask` is decided as without a
/// terminal) and `NO_COLOR=1`. stdin, stdout and stderr are left to the caller (`output()`
/// pipes the last two).
///
/// For a project's database and user configuration use [`Project::std_command`].
pub fn std_command(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(team_bin());
    cmd.current_dir(dir);
    for var in SCRUBBED_ENV {
        cmd.env_remove(var);
    }
    cmd.env("CI", "true").env("NO_COLOR", "1");
    cmd
}

/// A project for one test (see the module docs). Dropping it removes the directory and the
/// PostgreSQL schema; drop it only after every `team` process it started has ended.
pub struct Project {
    /// Canonical path of the temp directory (what `team` sees as its working directory).
    root: PathBuf,
    /// `TEAM_CONFIG_HOME` of every child: `ROOT/user-config`, empty, so the user's own
    /// configuration never applies.
    user_config: PathBuf,
    pg: Option<PgSchema>,
    /// Variables every child gets, in order (see [`Project::env`]).
    env: Vec<(OsString, Option<OsString>)>,
    // Last: removed after the schema is dropped.
    _dir: tempfile::TempDir,
}

impl fmt::Debug for Project {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Project")
            .field("root", &self.root)
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

impl Project {
    /// An empty temp directory (`team-…`, no `.team/` yet) on `backend`; `None` when
    /// `backend` is PostgreSQL and the PostgreSQL variants are skipped.
    ///
    /// # Panics
    /// When the temp directory cannot be made, or as [`PgSchema::create`].
    pub fn bare(backend: Backend) -> Option<Project> {
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(pg_schema()?),
        };
        let dir = tempfile::Builder::new()
            .prefix("team-")
            .tempdir()
            .expect("temp dir");
        let root = dir.path().canonicalize().expect("canonical temp dir");
        let user_config = root.join("user-config");
        std::fs::create_dir_all(&user_config).expect("user config dir");
        Some(Project {
            root,
            user_config,
            pg,
            env: Vec::new(),
            _dir: dir,
        })
    }

    /// [`Project::bare`] then `team init` (run synchronously; async tests run it themselves
    /// on a bare project).
    ///
    /// # Panics
    /// As [`Project::bare`], and when `team init` fails.
    pub fn on(backend: Backend) -> Option<Project> {
        let p = Project::bare(backend)?;
        p.init();
        Some(p)
    }

    /// A SQLite project with `team init` done (SQLite is never skipped).
    ///
    /// # Panics
    /// As [`Project::on`].
    pub fn sqlite() -> Project {
        match Project::on(Backend::Sqlite) {
            Some(p) => p,
            None => unreachable!("a SQLite project is never skipped"),
        }
    }

    /// Runs `team init` in the root and asserts that it succeeded.
    ///
    /// # Panics
    /// When `team` cannot be run or exits non-zero.
    #[track_caller]
    pub fn init(&self) {
        let out = self
            .std_command()
            .arg("init")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run team init");
        assert_success("team init", &out);
    }

    /// Gives every child started from now on `key=value` (replacing what the clean
    /// environment or an earlier call set).
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Project {
        let key = key.as_ref().to_owned();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, Some(value.as_ref().to_owned())));
        self
    }

    /// Removes `key` from the environment of every child started from now on.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Project {
        let key = key.as_ref().to_owned();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, None));
        self
    }

    /// The engine of the project's database.
    pub fn backend(&self) -> Backend {
        if self.pg.is_some() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// The project root (canonical; the working directory of every child).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `rel` under the root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The user configuration directory every child gets as `TEAM_CONFIG_HOME`
    /// (`ROOT/user-config`, empty unless the test writes `team/config.toml` into it).
    pub fn user_config(&self) -> &Path {
        &self.user_config
    }

    /// The project's PostgreSQL schema (`None` on SQLite), e.g. to drop it under a running
    /// `team` ([`PgSchema::drop_now`]).
    pub fn pg_schema(&self) -> Option<&PgSchema> {
        self.pg.as_ref()
    }

    /// The URL of the project's PostgreSQL schema (what children get as `TEAM_DATABASE_URL`);
    /// `None` on SQLite.
    pub fn pg_url(&self) -> Option<&str> {
        self.pg.as_ref().map(|pg| pg.url.as_str())
    }

    /// What `--db` or `TEAM_DATABASE_URL` would name to reach the project's database: the
    /// schema's URL, or the absolute path of `.team/team.db`.
    pub fn db_url(&self) -> String {
        match self.pg_url() {
            Some(url) => url.to_owned(),
            None => self.path(".team/team.db").to_string_lossy().into_owned(),
        }
    }

    /// The variables a child of this project gets on top of the clean environment:
    /// `TEAM_CONFIG_HOME`, `TEAM_DATABASE_URL` on PostgreSQL, then those of [`Project::env`].
    fn project_env(&self) -> Vec<(OsString, Option<OsString>)> {
        let mut vars = vec![
            (
                OsString::from("TEAM_CONFIG_HOME"),
                Some(self.user_config.clone().into_os_string()),
            ),
            // The runners' relay sockets (team-cli `relay`) live and die with the project,
            // not in the user's `/tmp/team-<uid>/` (a killed runner leaves its socket file).
            (
                OsString::from("XDG_RUNTIME_DIR"),
                Some(self.root.join("run").into_os_string()),
            ),
        ];
        if let Some(url) = self.pg_url() {
            vars.push(("TEAM_DATABASE_URL".into(), Some(url.into())));
        }
        vars.extend(self.env.iter().cloned());
        vars
    }

    /// `team` in the root as a `std::process::Command`: [`std_command`]'s clean environment
    /// plus the project's database and user configuration (see [`Project::std_command_in`]).
    pub fn std_command(&self) -> std::process::Command {
        self.std_command_in(&self.root)
    }

    /// `team` in `dir` (any directory, e.g. outside the project) on the project's database:
    /// [`std_command`] with `TEAM_CONFIG_HOME` = [`Project::user_config`], `XDG_RUNTIME_DIR` =
    /// `ROOT/run` (the relay sockets of its runners), on PostgreSQL
    /// `TEAM_DATABASE_URL` = [`Project::pg_url`], and the variables of [`Project::env`].
    pub fn std_command_in(&self, dir: &Path) -> std::process::Command {
        let mut cmd = std_command(dir);
        for (k, v) in self.project_env() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd
    }

    /// `team` in the root as a `tokio::process::Command` that never outlives its test
    /// ([`crate::process::command`]: stdin `/dev/null`, output piped, killed on drop, clean
    /// environment) on the project's database, with the variables of
    /// [`Project::std_command_in`].
    pub fn command(&self) -> tokio::process::Command {
        let mut cmd = crate::process::command(team_bin(), &self.root);
        for (k, v) in self.project_env() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd
    }
}
