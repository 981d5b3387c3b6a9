//! `team run self-review-loop` on a small git repository made by the test: a finding is
//! triaged to be fixed, the fixer edits the file with the workspace tools, the test command
//! runs, and `--commit` makes one commit for the round.

use std::path::Path;
use std::process::Command;

use serde_json::json;
use team_testkit::{Reply, Script, ScriptedServer};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The scripted model: a reliability reviewer finds the bug, a testing reviewer a nit; the
/// lead fixes the bug and keeps the nit; the fixer edits the file, then reports.
fn script() -> Script {
    Script::from_fn(|req| {
        let last = req.last_user_or_tool_text().to_owned();
        if req.system.contains("senior reliability reviewer") {
            return Reply::text(json!({"findings": [{"severity": "major", "location": "app.txt:2", "finding": "the new line says bug", "suggestion": "say fixed"}]}).to_string());
        }
        if req.system.contains("senior testing reviewer") {
            return Reply::text(json!({"findings": [{"severity": "nit", "location": "app.txt:1", "finding": "lowercase greeting", "suggestion": "capitalise"}]}).to_string());
        }
        if last.contains("Triage the findings") {
            return Reply::text(
                json!({"decisions": [
                    {"id": "F1", "decision": "fix", "reason": "a real defect"},
                    {"id": "F2", "decision": "wont_fix", "reason": "a matter of taste"}
                ]})
                .to_string(),
            );
        }
        if req.system.contains("You fix code.") {
            if req.turn == 1 {
                return Reply::tool_call(
                    "edit_file",
                    json!({"path": "app.txt", "old_string": "bug", "new_string": "fixed"})
                        .to_string(),
                );
            }
            return Reply::text("F1: replaced `bug` with `fixed` in app.txt");
        }
        Reply::text("unexpected request")
    })
}

#[test]
fn a_finding_is_fixed_tested_and_committed() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(ScriptedServer::start(script())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    git(root, &["config", "user.email", "t@example.invalid"]);
    git(root, &["config", "user.name", "test"]);
    std::fs::write(root.join("app.txt"), "hello\n").unwrap();
    git(root, &["add", "."]);
    git(root, &["commit", "-qm", "init"]);
    std::fs::write(root.join("app.txt"), "hello\nthis has a bug\n").unwrap();
    // .team/ stays out of the commits the loop makes.
    std::fs::write(root.join(".git/info/exclude"), ".team/\n").unwrap();

    let team = assert_cmd::cargo::cargo_bin("team");
    let init = Command::new(&team)
        .arg("init")
        .current_dir(root)
        .output()
        .unwrap();
    assert!(init.status.success());
    let cfg = root.join(".team/config.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "\n[providers.scripted]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key_env = \"\"\n",
        server.base_url()
    ));
    std::fs::write(&cfg, text).unwrap();

    let out = Command::new(&team)
        .args([
            "run",
            "self-review-loop",
            "--model",
            "scripted/m",
            "--set",
            "test=grep -q fixed app.txt",
            "--commit",
            "--allow",
            "edit",
            "--format",
            "json",
        ])
        .env("CI", "true")
        .current_dir(root)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    // The file was fixed by the fixer, through edit_file.
    assert_eq!(
        std::fs::read_to_string(root.join("app.txt")).unwrap(),
        "hello\nthis has a fixed\n"
    );
    // One round: the bug fixed, the nit kept with the lead's reason, tests passed, a commit.
    let rounds = report["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 1, "{report:#}");
    let r = &rounds[0];
    let fates: Vec<(&str, &str)> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["raised_by"].as_str().unwrap(),
                f["decision"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(fates, [("reliability", "fix"), ("testing", "wont_fix")]);
    assert_eq!(r["fixer"], "completed");
    assert_eq!(r["test"]["passed"], true);
    let hash = r["commit"].as_str().expect("a commit for the round");
    let log = git(root, &["log", "--format=%h %s"]);
    assert!(log.lines().next().unwrap().starts_with(hash), "{log}");
    assert!(log.contains("team self-review round 1: fix F1"), "{log}");
    // The second round found the diff against HEAD empty and stopped.
    assert!(
        report["notes"].to_string().contains("nothing to review"),
        "{report:#}"
    );
    rt.block_on(server.stop());
}

#[test]
fn without_allow_edit_the_fixer_is_denied_in_ci() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(ScriptedServer::start(script())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    git(root, &["config", "user.email", "t@example.invalid"]);
    git(root, &["config", "user.name", "test"]);
    std::fs::write(root.join("app.txt"), "hello\n").unwrap();
    git(root, &["add", "."]);
    git(root, &["commit", "-qm", "init"]);
    std::fs::write(root.join("app.txt"), "hello\nthis has a bug\n").unwrap();
    let team = assert_cmd::cargo::cargo_bin("team");
    assert!(
        Command::new(&team)
            .arg("init")
            .current_dir(root)
            .output()
            .unwrap()
            .status
            .success()
    );
    let cfg = root.join(".team/config.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "\n[providers.scripted]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key_env = \"\"\n",
        server.base_url()
    ));
    std::fs::write(&cfg, text).unwrap();
    let out = Command::new(&team)
        .args([
            "run",
            "self-review-loop",
            "--model",
            "scripted/m",
            "--set",
            "rounds=1",
            "--format",
            "json",
        ])
        .env("CI", "true")
        .current_dir(root)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Permissions apply: edit_file asks, and without a terminal or --allow it is denied.
    assert_eq!(
        std::fs::read_to_string(root.join("app.txt")).unwrap(),
        "hello\nthis has a bug\n"
    );
    let fixer_requests: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.system.contains("You fix code.") && r.turn == 2)
        .collect();
    assert!(
        fixer_requests
            .iter()
            .any(|r| r.last_user_or_tool_text().contains("--allow")),
        "the denial reached the model as a tool error"
    );
    rt.block_on(server.stop());
}

/// `team run self-review-loop` where `git diff HEAD` cannot run: a clear error (exit 2) before
/// anything is created, in a repository without commits and outside any repository.
#[test]
fn without_a_commit_it_stops_before_creating_a_team() {
    let team = assert_cmd::cargo::cargo_bin("team");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    std::fs::write(root.join("app.txt"), "hello\n").unwrap();
    let run = |root: &Path| {
        Command::new(&team)
            .args([
                "run",
                "self-review-loop",
                "--model",
                "scripted/m",
                "--format",
                "json",
            ])
            .env("CI", "true")
            .env("TEAM_CONFIG_HOME", root.join("no-user-config"))
            .env_remove("TEAM_DATABASE_URL")
            .current_dir(root)
            .output()
            .unwrap()
    };
    let out = run(root);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("reviews `git diff HEAD`, but the repository")
            && stderr.contains("has no commits yet")
            && stderr.contains("git commit"),
        "the error says what to do: {stderr}"
    );
    assert!(out.stdout.is_empty(), "no report");
    // Nothing was created: not the .team/ a first run makes, so not a team either.
    assert!(!root.join(".team").exists(), "stderr: {stderr}");

    // In a project: no team is created.
    let init = Command::new(&team)
        .arg("init")
        .env_remove("TEAM_DATABASE_URL")
        .current_dir(root)
        .output()
        .unwrap();
    assert!(init.status.success());
    let out = run(root);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = Command::new(&team)
        .args(["--json", "list", "--all"])
        .env_remove("TEAM_DATABASE_URL")
        .current_dir(root)
        .output()
        .unwrap();
    let teams: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(teams, json!([]), "no team was created");

    // Outside any git repository.
    let plain = tempfile::tempdir().unwrap();
    let out = run(plain.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("is not in a git repository") && stderr.contains("git init"),
        "{stderr}"
    );
}
