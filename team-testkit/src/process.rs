//! Child processes that never outlive their test: a non-interactive [`command`] with a clean
//! environment that is killed when dropped, [`output_within`] to run it under a time limit,
//! and helpers to read and report what it printed.
//!
//! ```no_run
//! # async fn demo() {
//! use std::time::Duration;
//! use team_testkit::process::{command, dump, output_within};
//! let mut cmd = command("team", std::path::Path::new("/tmp/project"));
//! cmd.args(["--json", "list"]).env("MOCK_API_KEY", "sk-test");
//! let out = output_within(cmd, Duration::from_secs(60), "team --json list").await;
//! assert!(out.status.success(), "{}", dump(&out));
//! # }
//! ```

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;

/// Variables of the test's own environment that could change what a `team` child does, which
/// [`command`] removes: the database (`TEAM_DATABASE_URL`: README, "Configuration"), the
/// runner's settings (`TEAM_MAX_AGENTS`, `TEAM_MEMBER_TIMEOUT_SECS`, `TEAM_MODEL`: team-runner's
/// `config.rs`; `TEAM_HEARTBEAT_MS`, `TEAM_QUEUE_POLL_MS`, the runner's heartbeat and queue poll periods), the identity of a member
/// (`TEAM_ID`, `TEAM_MEMBER`, `TEAM_MEMBER_ATTEMPT`, `TEAM_LEAD`, `TEAM_PROJECT_ROOT`: set for a member's process, they
/// would make the child act as that member), the log filters (`TEAM_LOG`, `RUST_LOG`), the user
/// config directory (`XDG_CONFIG_HOME`, under which `team/config.toml` is layered in; tests
/// point `TEAM_CONFIG_HOME` at a directory of their own instead), the built-in providers'
/// endpoint and keys (`OPENAI_BASE_URL`, `OPENAI_API_KEY`, `ANTHROPIC_API_KEY`: README, "LLM
/// agents"), and GitHub Actions' (`GITHUB_ACTIONS`, `GITHUB_STEP_SUMMARY`: `team run` annotates
/// the findings and appends the report to the step summary there; README, "In GitHub Actions").
pub const SCRUBBED_ENV: &[&str] = &[
    "TEAM_DATABASE_URL",
    "TEAM_MAX_AGENTS",
    "TEAM_MEMBER_TIMEOUT_SECS",
    "TEAM_MODEL",
    "TEAM_HEARTBEAT_MS",
    "TEAM_QUEUE_POLL_MS",
    "TEAM_ID",
    "TEAM_MEMBER",
    "TEAM_MEMBER_ATTEMPT",
    "TEAM_LEAD",
    "TEAM_PROJECT_ROOT",
    "TEAM_RUNNER_SOCKET",
    "TEAM_RELAY",
    "TEAM_LOG",
    "RUST_LOG",
    "XDG_CONFIG_HOME",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "GITHUB_ACTIONS",
    "GITHUB_STEP_SUMMARY",
];

/// A command running `program` in `dir` non-interactively, that never outlives its test:
/// stdin is `/dev/null`, stdout and stderr are piped, the child is killed when the command's
/// child (or the future of [`tokio::process::Command::output`]) is dropped (`kill_on_drop`),
/// every variable of [`SCRUBBED_ENV`] is removed, and `CI=true` (a permission `ask` is never
/// prompted on a terminal but decided as without one: README, "LLM agents") and `NO_COLOR=1`
/// (no ANSI colour in the output the test compares) are set.
///
/// Arguments and further variables are the caller's to add; a variable set afterwards
/// replaces what this set or removed.
pub fn command(program: impl AsRef<OsStr>, dir: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(program);
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for var in SCRUBBED_ENV {
        cmd.env_remove(var);
    }
    cmd.env("CI", "true").env("NO_COLOR", "1");
    cmd
}

/// Runs `cmd` to its end and returns its output (stdout and stderr as piped by `cmd`: see
/// [`command`]), whatever its exit status.
///
/// `what` names the call in panic messages (e.g. `team --json list`).
///
/// # Panics
/// When the child cannot be started (`` run `WHAT`: ERROR ``), or when it runs longer than
/// `limit` (`` `WHAT` ran longer than LIMIT ``): the test fails instead of hanging, and the
/// child, dropped with the future, is killed if `cmd` has `kill_on_drop` (as [`command`] sets).
pub async fn output_within(
    mut cmd: tokio::process::Command,
    limit: Duration,
    what: &str,
) -> Output {
    match tokio::time::timeout(limit, cmd.output()).await {
        Ok(out) => out.unwrap_or_else(|e| panic!("run `{what}`: {e}")),
        Err(_) => panic!("`{what}` ran longer than {limit:?}"),
    }
}

/// stdout of an output as text (invalid UTF-8 replaced by `U+FFFD`).
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr of an output as text (invalid UTF-8 replaced by `U+FFFD`).
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit code of an output (-1 when killed by a signal).
pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Everything a child printed, for assertion messages:
/// `exit Some(CODE)\n--- stdout ---\nSTDOUT\n--- stderr ---\nSTDERR` (`exit None` when killed
/// by a signal).
pub fn dump(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    )
}

/// Asserts that `o` exited 0.
///
/// `what` names the call in the panic message (e.g. `team task list`).
///
/// # Panics
/// When it did not: `` `WHAT` failed with CODE\nstdout: STDOUT\nstderr: STDERR `` (`CODE` as
/// `Some(N)`, or `None` when killed by a signal).
#[track_caller]
pub fn assert_success(what: &str, o: &Output) {
    assert!(
        o.status.success(),
        "`{what}` failed with {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
}

/// `text` (what a call printed) parsed as one JSON document.
///
/// `what` names the call in the panic message (e.g. `team --json task list`).
///
/// # Panics
/// When it is not: `` `WHAT` printed no JSON (ERROR):\nTEXT ``.
#[track_caller]
pub fn parse_json(what: &str, text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("`{what}` printed no JSON ({e}):\n{text}"))
}

/// stdout of a call that must have succeeded, parsed as one JSON document.
///
/// `what` names the call in panic messages (e.g. `team --json show docs`).
///
/// # Panics
/// When `out` is not a success (`WHAT: ` then [`dump`]), or when stdout is not one JSON
/// document (`WHAT: stdout is not JSON (ERROR): ` then [`dump`]).
#[track_caller]
pub fn stdout_json(what: &str, out: &Output) -> Value {
    assert!(out.status.success(), "{what}: {}", dump(out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what}: stdout is not JSON ({e}): {}", dump(out)))
}
