//! The `bash` tool's Landlock sandbox and the protected paths, through the tools registry:
//! each escape a hostile model would try is refused, and ordinary work inside the project
//! still runs. These run on a kernel with Landlock (this machine reports ABI 7); where it is
//! missing they check the documented fallback instead (bash refused unless `sandbox = "off"`).

use std::fs;
use std::path::Path;

use serde_json::json;
use team_tools::ToolError;
use team_tools::permission::{Decision, DecisionSource};
use team_tools::workspace::{SandboxMode, landlock_available};

use crate::common::{args, open_tools, project, put};

async fn bash(root: &Path, command: &str) -> String {
    let tools = open_tools(root);
    match tools
        .execute(
            "bash",
            &args(json!({"command": command, "timeout_secs": 20})),
        )
        .await
    {
        Ok(out) => out,
        Err(e) => format!("ERROR {e}"),
    }
}

/// A project with `.team/config.toml`, an agent file, `.git/hooks`, `src/`.
fn team_project() -> tempfile::TempDir {
    let dir = project();
    put(dir.path(), ".team/config.toml", "[team]\n");
    put(
        dir.path(),
        ".team/agents/a.md",
        "---\nmodel: x/y\n---\nhi\n",
    );
    put(
        dir.path(),
        ".claude/agents/c.md",
        "---\nmodel: x/y\n---\nhi\n",
    );
    put(dir.path(), ".claude/settings.json", "{}\n");
    put(dir.path(), ".git/hooks/README", "hooks\n");
    put(dir.path(), ".git/config", "[core]\n");
    put(dir.path(), ".git/HEAD", "ref: refs/heads/main\n");
    put(dir.path(), "src/lib.rs", "fn main() {}\n");
    put(dir.path(), "README.md", "readme\n");
    dir
}

#[tokio::test]
async fn sandboxed_bash_writes_only_beneath_the_root_minus_protected_paths() {
    if !landlock_available() {
        return fallback_refuses_bash().await;
    }
    let dir = team_project();
    let root = dir.path().canonicalize().expect("canon");
    let outside = tempfile::tempdir().expect("outside");
    let out_file = outside.path().join("escaped");
    // Obfuscated names get past the textual check: the sandbox must stop them.
    let cmd = format!(
        "t=.te; t=${{t}}am; echo pwned > $t/config.toml; echo $?; \
         echo x > $t/agents/new.md; echo $?; \
         c=.cla; echo x > ${{c}}ude/agents/c.md; echo $?; \
         g=.gi; echo x > ${{g}}t/hooks/pre-commit; echo $?; echo x >> ${{g}}t/config; echo $?; \
         echo x > {out}; echo $?; \
         echo ok > src/new.rs && echo wrote-src; echo more >> README.md && echo wrote-readme; \
         echo x > ${{c}}ude/settings.json && echo wrote-settings; \
         echo y > ${{g}}t/HEAD && echo wrote-git-head; \
         echo tmp > $TMPDIR/t && cat $TMPDIR/t; echo quiet > /dev/null && echo devnull-ok",
        out = out_file.display()
    );
    let out = bash(&root, &cmd).await;
    assert!(!out.starts_with("ERROR"), "{out}");
    assert_eq!(
        fs::read_to_string(root.join(".team/config.toml")).expect("config"),
        "[team]\n",
        "{out}"
    );
    assert!(!root.join(".team/agents/new.md").exists(), "{out}");
    assert!(
        fs::read_to_string(root.join(".claude/agents/c.md"))
            .expect("agent")
            .contains("model")
    );
    assert!(!root.join(".git/hooks/pre-commit").exists(), "{out}");
    assert_eq!(
        fs::read_to_string(root.join(".git/config")).expect("git config"),
        "[core]\n"
    );
    assert!(!out_file.exists(), "wrote outside the root: {out}");
    for ok in [
        "wrote-src",
        "wrote-readme",
        "wrote-settings",
        "wrote-git-head",
        "tmp\n",
        "devnull-ok",
    ] {
        assert!(out.contains(ok), "missing {ok}: {out}");
    }
    assert!(out.contains("Permission denied"), "{out}");
}

#[tokio::test]
async fn sandboxed_bash_reads_neither_home_nor_the_runner_environment() {
    if !landlock_available() {
        return fallback_refuses_bash().await;
    }
    let dir = team_project();
    let home = tempfile::tempdir().expect("home");
    put(home.path(), ".ssh/id_ed25519", "PRIVATE-KEY-MARK\n");
    let cmd = format!(
        "cat {home}/.ssh/id_ed25519; ls {home}/.ssh; tr '\\0' '\\n' < /proc/$PPID/environ | head -3; cat /proc/$PPID/environ; cat /proc/$PPID/cmdline; echo; \
         cat <(echo substituted); head -c 5 /proc/cpuinfo >/dev/null && echo cpuinfo-ok;  \
         echo ppid-done; cat src/lib.rs; ls /usr/bin/env",
        home = home.path().display()
    );
    let out = bash(dir.path(), &cmd).await;
    assert!(!out.contains("PRIVATE-KEY-MARK"), "read ~/.ssh: {out}");
    assert!(!out.contains("id_ed25519\n"), "listed ~/.ssh: {out}");
    // No `NAME=value` line of the parent's environment.
    let leaked = out.lines().find(|l| {
        l.split_once('=').is_some_and(|(k, _)| {
            !k.is_empty() && k.chars().all(|c| c.is_ascii_uppercase() || c == '_')
        })
    });
    assert!(leaked.is_none(), "read /proc/$PPID/environ: {out}");
    assert!(!out.contains("wstools"), "read /proc/$PPID/cmdline: {out}");
    assert!(
        out.contains("ppid-done") && out.contains("fn main"),
        "{out}"
    );
    assert!(
        out.contains("substituted") && out.contains("cpuinfo-ok"),
        "{out}"
    );
    assert!(
        out.contains("/usr/bin/env"),
        "system dirs are readable: {out}"
    );
}

#[tokio::test]
async fn write_tools_refuse_protected_paths_whatever_the_permissions() {
    let dir = team_project();
    let tools = open_tools(dir.path()); // permission: allow for every tool
    for (tool, a) in [
        (
            "write_file",
            json!({"path": ".team/config.toml", "content": "x"}),
        ),
        (
            "write_file",
            json!({"path": ".team/agents/evil.md", "content": "x"}),
        ),
        (
            "write_file",
            json!({"path": "./.claude/agents/c.md", "content": "x"}),
        ),
        (
            "write_file",
            json!({"path": ".opencode/agent/o.md", "content": "x"}),
        ),
        (
            "write_file",
            json!({"path": ".git/hooks/pre-commit", "content": "x"}),
        ),
        (
            "edit_file",
            json!({"path": ".git/config", "old_string": "core", "new_string": "x"}),
        ),
        (
            "edit_file",
            json!({"path": "src/../.team/config.toml", "old_string": "team", "new_string": "x"}),
        ),
        ("bash", json!({"command": "echo x > .team/config.toml"})),
    ] {
        let outcome = tools.execute_with_decision(tool, &args(a.clone())).await;
        let decision = outcome.decision.expect("a decision");
        assert_eq!(decision.decision, Decision::Deny, "{tool} {a}");
        assert!(
            matches!(decision.source, DecisionSource::ProtectedPath { .. }),
            "{tool} {a}: {:?}",
            decision.source
        );
        let err = outcome.result.expect_err("refused");
        assert!(
            err.is_denied() && err.to_string().contains("protected"),
            "{err}"
        );
    }
    // A symlink inside the root that leads into `.team` is refused too.
    std::os::unix::fs::symlink(".team", dir.path().join("link")).expect("symlink");
    let outcome = tools
        .execute_with_decision(
            "write_file",
            &args(json!({"path": "link/config.toml", "content": "x"})),
        )
        .await;
    assert!(outcome.result.is_err_and(|e| e.is_denied()));
    assert_eq!(
        fs::read_to_string(dir.path().join(".team/config.toml")).expect("config"),
        "[team]\n"
    );
    // Elsewhere in the project the same tools write.
    let ok = tools
        .execute(
            "write_file",
            &args(json!({"path": ".claude/settings.json", "content": "{}"})),
        )
        .await;
    assert!(ok.is_ok(), "{ok:?}");
}

#[tokio::test]
async fn sandbox_off_runs_bash_unconfined() {
    let dir = team_project();
    let outside = tempfile::tempdir().expect("outside");
    let target = outside.path().join("written");
    let tools = open_tools(dir.path()).with_sandbox(SandboxMode::Off);
    let out = tools
        .execute(
            "bash",
            &args(json!({"command": format!("echo x > {}", target.display())})),
        )
        .await;
    assert!(out.is_ok(), "{out:?}");
    assert!(target.exists(), "sandbox = off does not confine");
}

/// Without Landlock: bash is refused (a denial naming `sandbox = "off"`), and runs with it.
async fn fallback_refuses_bash() {
    let dir = team_project();
    let tools = open_tools(dir.path());
    let outcome = tools
        .execute_with_decision("bash", &args(json!({"command": "echo hi"})))
        .await;
    let decision = outcome.decision.expect("decision");
    assert_eq!(decision.source, DecisionSource::SandboxUnavailable);
    match outcome.result {
        Err(ToolError::Denied { reason, .. }) => assert!(reason.contains("sandbox = \"off\"")),
        other => panic!("{other:?}"),
    }
}
