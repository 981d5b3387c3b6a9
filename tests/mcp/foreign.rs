//! A foreign client: the Python SDK (PyPI `mcp`) drives `team mcp` over stdio through
//! initialize, tools/list, a background `task` and its completion notice
//! (`tests/mcp/python_client.py`). Skipped with a message when `python3 -c "import mcp"`
//! fails, unless `CI` is set (CI installs it: `.ci/run`), where it must run.

use std::process::Command;

use rstest::rstest;

use crate::support::{Backend, Project};

/// Whether the Python SDK is importable; panics in CI when it is not.
fn python_mcp() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import mcp"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        assert!(
            !ci,
            "CI is set but `python3 -c \"import mcp\"` fails: .ci/run must `pip install mcp`"
        );
        eprintln!(
            "skipped: the foreign-client test needs Python's MCP SDK (`pip install mcp`); \
             `python3 -c \"import mcp\"` failed"
        );
    }
    ok
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn the_python_sdk_starts_a_member_and_gets_its_completion_notice(#[case] backend: Backend) {
    if !python_mcp() {
        return;
    }
    let Some(p) = Project::on(backend) else {
        return;
    };
    p.agent("echo", "echo \"done: $(cat)\"");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/mcp/python_client.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script)
        .arg(team_testkit::project::team_bin())
        .current_dir(p.root())
        .env("TEAM_CONFIG_HOME", p.user_config())
        .env("NO_COLOR", "1");
    for var in team_testkit::process::SCRUBBED_ENV {
        cmd.env_remove(var);
    }
    if let Some(url) = p.pg_url() {
        cmd.env("TEAM_DATABASE_URL", url);
    }
    let out = cmd.output().expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the Python client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ok: [AGENT COMPLETED] echo: done: from python"),
        "{stdout}"
    );
}
