//! Test support: a project in a temp directory, backed by a SQLite file (`.team/team.db`) or by
//! a fresh schema in the PostgreSQL server named by `TEAM_TEST_DATABASE_URL`, and helpers that
//! run the real `team` binary in it. The project itself is team-testkit's
//! ([`team_testkit::Project`]); this adds the calls the end-to-end tests make.
//!
//! PostgreSQL projects pass their URL through `TEAM_DATABASE_URL` (so every command line is the
//! same on both backends); SQLite projects always run with that variable removed.
//!
//! A test that runs on both engines is an `rstest` with one case per [`Backend`]:
//!
//! ```ignore
//! #[rstest]
//! #[case::sqlite(Backend::Sqlite)]
//! #[case::postgres(Backend::Postgres)]
//! fn name(#[case] backend: Backend) {
//!     // `None`: the PostgreSQL variant is skipped (and tallied as such).
//!     let Some(p) = &Project::on(backend) else { return };
//!     // …
//! }
//! ```

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

pub use rstest::rstest;
use serde_json::Value;
pub use team_testkit::Backend;
use team_testkit::process::{assert_success, parse_json};

/// Longest any single `team` call may take before the test fails instead of hanging.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// A `std::process::Command` for `team` in `dir` with a clean environment and no project: no
/// database from the caller's shell, no colour, no log filter
/// ([`team_testkit::project::std_command`]).
pub fn bare_std_cmd(dir: &Path) -> std::process::Command {
    team_testkit::project::std_command(dir)
}

/// [`bare_std_cmd`] as an `assert_cmd::Command`, with [`CALL_TIMEOUT`].
pub fn bare_cmd(dir: &Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::from_std(bare_std_cmd(dir));
    c.timeout(CALL_TIMEOUT);
    c
}

/// stdout of an output as UTF-8.
pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

/// stderr of an output as UTF-8.
pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("stderr is UTF-8")
}

/// A project directory with `team init` done, on one backend: team-testkit's
/// [`team_testkit::Project`] (root, backend, database URL, commands) with the calls below.
pub struct Project(team_testkit::Project);

impl Deref for Project {
    type Target = team_testkit::Project;

    fn deref(&self) -> &team_testkit::Project {
        &self.0
    }
}

impl std::ops::DerefMut for Project {
    fn deref_mut(&mut self) -> &mut team_testkit::Project {
        &mut self.0
    }
}

/// A new temp directory and its canonical path.
pub fn temp_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().canonicalize().expect("canonical temp dir");
    (dir, root)
}

impl Project {
    /// A project on SQLite (`.team/team.db`).
    pub fn sqlite() -> Project {
        Project(team_testkit::Project::sqlite())
    }

    /// A project on PostgreSQL, or `None` when the PostgreSQL variants are skipped.
    pub fn pg() -> Option<Project> {
        Project::on(Backend::Postgres)
    }

    /// A project on `backend`, or `None` when it is PostgreSQL and the PostgreSQL variants are
    /// skipped.
    pub fn on(backend: Backend) -> Option<Project> {
        team_testkit::Project::on(backend).map(Project)
    }

    /// `team` in the project directory, on the project's database.
    pub fn std_cmd(&self) -> std::process::Command {
        self.std_command()
    }

    /// `team` in `dir`, on the project's database (PostgreSQL through `TEAM_DATABASE_URL`).
    pub fn std_cmd_in(&self, dir: &Path) -> std::process::Command {
        self.std_command_in(dir)
    }

    /// [`Project::std_cmd`] as an `assert_cmd::Command`, with [`CALL_TIMEOUT`].
    pub fn team(&self) -> assert_cmd::Command {
        let mut c = assert_cmd::Command::from_std(self.std_cmd());
        c.timeout(CALL_TIMEOUT);
        c
    }

    /// Runs `team ARGS` and returns its output, whatever the exit code.
    pub fn run(&self, args: &[&str]) -> Output {
        self.team().args(args).output().expect("run team")
    }

    /// Runs `team ARGS` with `input` on stdin and returns its output.
    pub fn run_stdin(&self, args: &[&str], input: impl Into<Vec<u8>>) -> Output {
        self.team()
            .args(args)
            .write_stdin(input.into())
            .output()
            .expect("run team")
    }

    /// Runs `team ARGS`, asserts exit 0, returns stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_ok(args, &o);
        stdout(&o)
    }

    /// Runs `team ARGS` with `input` on stdin, asserts exit 0, returns stdout.
    #[track_caller]
    pub fn ok_stdin(&self, args: &[&str], input: impl Into<Vec<u8>>) -> String {
        let o = self.run_stdin(args, input);
        assert_ok(args, &o);
        stdout(&o)
    }

    /// Runs `team --json ARGS`, asserts exit 0, and parses stdout as one JSON document.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        parse_json(&format!("team {}", all.join(" ")), &out)
    }

    /// Runs `team ARGS`, asserts it exits with `code`, returns stderr.
    #[track_caller]
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let o = self.run(args);
        assert_code(args, &o, code);
        stderr(&o)
    }

    /// Runs `team --json ARGS`, asserts it exits with `code` and that stderr is the documented
    /// JSON error object; returns its `message`.
    #[track_caller]
    pub fn fails_json(&self, args: &[&str], code: i32) -> String {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let o = self.run(&all);
        assert_code(&all, &o, code);
        json_error(&o, code)
    }

    /// Creates team `name` and returns its id.
    pub fn create_team(&self, name: &str) -> String {
        let v = self.json(&["create", name]);
        v["team"]["id"].as_str().expect("team id").to_owned()
    }

    /// Adds a member of `agent` to `team`, returning its name.
    pub fn add_member(&self, team: &str, agent: &str) -> String {
        self.ok(&["member", "add", team, agent]).trim().to_owned()
    }

    /// Adds a task and returns its id.
    pub fn add_task(&self, team: &str, title: &str, extra: &[&str]) -> i64 {
        let mut args = vec!["task", "add", team, title];
        args.extend_from_slice(extra);
        self.ok(&args)
            .trim()
            .parse()
            .expect("task add prints an id")
    }

    /// The status of task `id` in `team`.
    pub fn task_status(&self, team: &str, id: i64) -> String {
        self.json(&["task", "show", team, &id.to_string()])["status"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The unread messages of `member` (peeked, not consumed).
    pub fn peek(&self, team: &str, member: &str) -> Vec<Value> {
        self.json(&["inbox", team, member, "--peek"])
            .as_array()
            .expect("inbox --json is an array")
            .clone()
    }
}

/// Asserts `o` exited 0.
#[track_caller]
pub fn assert_ok(args: &[&str], o: &Output) {
    assert_success(&format!("team {}", args.join(" ")), o);
}

/// Asserts `o` exited with `code`.
#[track_caller]
pub fn assert_code(args: &[&str], o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "`team {}`: expected exit {code}\nstdout: {}\nstderr: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Checks that stderr of a `--json` call that exited with `code` is exactly one JSON object
/// `{"error": {"kind", "message", "exit_code"}}` and nothing was printed on stdout; returns the
/// message.
#[track_caller]
pub fn json_error(o: &Output, code: i32) -> String {
    let err = stderr(o);
    let v: Value = serde_json::from_str(err.trim())
        .unwrap_or_else(|e| panic!("stderr is not one JSON document ({e}):\n{err}"));
    let obj = v.as_object().expect("a JSON object");
    assert_eq!(obj.len(), 1, "only `error` at the top: {v}");
    let e = v["error"].as_object().expect("`error` is an object");
    let mut keys: Vec<&str> = e.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["exit_code", "hints", "kind", "message"], "{v}");
    assert_eq!(v["error"]["exit_code"], code, "{v}");
    let kind = v["error"]["kind"].as_str().expect("kind is a string");
    let expected_kind = match code {
        1 => "failure",
        2 => "usage",
        3 => "not_found",
        4 => "conflict",
        124 => "timeout",
        _ => panic!("no kind for exit code {code}"),
    };
    assert_eq!(kind, expected_kind, "{v}");
    assert!(
        o.stdout.is_empty(),
        "nothing on stdout: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    v["error"]["message"].as_str().unwrap().to_owned()
}

/// The string values of `key` in each object of a JSON array.
pub fn strings(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .expect("a JSON array")
        .iter()
        .map(|x| {
            x[key]
                .as_str()
                .unwrap_or_else(|| panic!("`{key}` is a string in {x}"))
                .to_owned()
        })
        .collect()
}

/// The sorted keys of a JSON object.
pub fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("a JSON object: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort_unstable();
    k
}
