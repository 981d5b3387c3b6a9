//! The `bash` tool with real processes.

use crate::common;

use std::fs;
use std::path::Path;
use std::time::Duration;

use common::{args, err_text, ok_text, open_tools, project};
use serde_json::json;
use team_tools::ToolError;

/// Whether `pid` is still a live (non-zombie) process.
fn alive(pid: i32) -> bool {
    let signalled = std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !signalled {
        return false;
    }
    // A killed process whose new parent has not reaped it yet is a zombie: gone for our purpose.
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().next());
    !matches!(state, Some("Z" | "X") | None)
}

/// Waits (generously) until `pid` is gone; true if it went.
async fn gone_within(pid: i32, limit: Duration) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    !alive(pid)
}

/// Waits until `path` holds a pid and returns it.
async fn read_pid(path: &Path) -> i32 {
    for _ in 0..400 {
        if let Some(pid) = fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no pid written to {}", path.display());
}

#[tokio::test]
async fn bash_reports_exit_code_stdout_and_stderr_from_the_root() {
    let dir = project();
    let tools = open_tools(dir.path());
    let out = ok_text(
        tools
            .execute(
                "bash",
                &args(json!({"command": "pwd; echo oops >&2; exit 3"})),
            )
            .await,
    );
    let root = dir.path().canonicalize().expect("canonical root");
    assert_eq!(
        out,
        format!("exit code: 3\nstdout:\n{}\nstderr:\noops\n", root.display())
    );
    let quiet = ok_text(
        tools
            .execute("bash", &args(json!({"command": "true"})))
            .await,
    );
    assert_eq!(quiet, "exit code: 0\nstdout:\n(empty)\nstderr:\n(empty)\n");
    let signalled = ok_text(
        tools
            .execute("bash", &args(json!({"command": "kill -9 $$"})))
            .await,
    );
    assert!(signalled.starts_with("killed by signal 9"), "{signalled}");
}

#[tokio::test]
async fn bash_keeps_the_tail_of_long_output() {
    let dir = project();
    let tools = open_tools(dir.path());
    let out = ok_text(
        tools
            .execute("bash", &args(json!({"command": "seq 1 100000; echo END"})))
            .await,
    );
    assert!(
        out.contains("bytes cut; showing the last 50 KiB"),
        "{}",
        &out[..200]
    );
    assert!(out.contains("99999\n100000\nEND\n"), "tail kept");
    assert!(!out.contains("\n1\n2\n3\n"), "head dropped");
    assert!(out.len() < 2 * team_tools::workspace::BASH_STREAM_CAP_BYTES);
}

#[tokio::test]
async fn bash_timeout_kills_the_whole_process_group() {
    let dir = project();
    // The sandbox lets a command write in existing subdirectories, not at the top level.
    fs::create_dir(dir.path().join("work")).expect("work dir");
    let tools = open_tools(dir.path());
    let command = "echo started; sleep 1000 & echo $! > work/bg.pid; sleep 1000";
    // The 60 s bound is loose on purpose: it only tells "killed at the timeout" from "waited for
    // the 1000 s sleeps".
    let result = tokio::time::timeout(
        Duration::from_secs(60),
        tools.execute(
            "bash",
            &args(json!({"command": command, "timeout_secs": 1})),
        ),
    )
    .await
    .expect("the call returns soon after its 1 s timeout");
    match &result {
        Err(ToolError::Timeout { secs: 1, output }) => {
            assert!(output.contains("started"), "partial output kept: {output}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(err_text(result).contains("timed out after 1 s"));
    let pid = read_pid(&dir.path().join("work/bg.pid")).await;
    assert!(
        gone_within(pid, Duration::from_secs(10)).await,
        "background sleep {pid} survived"
    );
}

#[tokio::test]
async fn dropping_the_call_kills_the_process_group() {
    let dir = project();
    // The sandbox lets a command write in existing subdirectories, not at the top level.
    fs::create_dir(dir.path().join("work")).expect("work dir");
    let tools = open_tools(dir.path());
    let task = tokio::spawn({
        let tools = tools.clone();
        async move {
            tools
                .execute(
                    "bash",
                    &args(json!({"command": "sleep 1000 & echo $! > work/bg.pid; wait"})),
                )
                .await
        }
    });
    let pid = read_pid(&dir.path().join("work/bg.pid")).await;
    assert!(alive(pid), "child runs while the call is pending");
    task.abort();
    let _ = task.await;
    assert!(
        gone_within(pid, Duration::from_secs(10)).await,
        "background sleep {pid} survived cancellation"
    );
}

#[tokio::test]
async fn background_jobs_holding_the_pipes_do_not_block_the_result() {
    let dir = project();
    // The sandbox lets a command write in existing subdirectories, not at the top level.
    fs::create_dir(dir.path().join("work")).expect("work dir");
    let tools = open_tools(dir.path());
    let out = ok_text(
        tools
            .execute(
                "bash",
                &args(json!({"command": "sleep 30 & echo $! > work/bg.pid; echo done"})),
            )
            .await,
    );
    assert!(out.starts_with("exit code: 0\nstdout:\ndone\n"), "{out}");
    assert!(out.contains("background processes still hold"), "{out}");
    let pid = read_pid(&dir.path().join("work/bg.pid")).await;
    let _ = std::process::Command::new("kill")
        .arg(pid.to_string())
        .status();
}

#[tokio::test]
async fn bash_hides_matching_environment_variables() {
    let dir = project();
    let Some((name, _)) = std::env::vars().find(|(k, v)| {
        k != "PATH" && !v.is_empty() && k.chars().all(|c| c.is_ascii_uppercase() || c == '_')
    }) else {
        return; // no suitable variable in this environment
    };
    let tools = open_tools(dir.path()).with_hidden_env([name.clone()]);
    let command = format!("echo \"[${{{name}:-unset}}]\"");
    let out = ok_text(
        tools
            .execute("bash", &args(json!({"command": command})))
            .await,
    );
    assert!(out.contains("[unset]"), "{name} should be hidden: {out}");
    let visible = open_tools(dir.path()).with_hidden_env(Vec::<String>::new());
    let out = ok_text(
        visible
            .execute("bash", &args(json!({"command": command})))
            .await,
    );
    assert!(
        !out.contains("[unset]"),
        "{name} visible without hiding: {out}"
    );
}
