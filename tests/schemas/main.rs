//! Every command's `--json` output, from the real binary, validates against its schema in
//! `docs/schemas/<command>.json` (generated from `team-cli/src/doc.rs`; the unit test
//! `committed_schemas_are_current` keeps the files current). One scenario on SQLite runs each
//! command once, offline (the workflow run replays `examples/pep-0765.cassette.jsonl`), and
//! checks that every schema file was used.
#![allow(missing_docs)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

struct Project {
    _dir: tempfile::TempDir,
    root: PathBuf,
    checked: BTreeSet<String>,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn validator(schema: &str) -> jsonschema::Validator {
    let path = repo().join("docs/schemas").join(format!("{schema}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let v: Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&v).unwrap_or_else(|e| panic!("{schema}: {e}"))
}

fn dump(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn assert_valid(schema: &str, what: &str, doc: &Value) {
    let v = validator(schema);
    let errors: Vec<String> = v.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "`{what}` does not validate against docs/schemas/{schema}.json: {errors:?}\n{doc:#}"
    );
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().canonicalize().expect("canonical");
        let p = Project {
            _dir: dir,
            root,
            checked: BTreeSet::new(),
        };
        std::fs::create_dir_all(p.root.join("no-user-config")).expect("mkdir");
        p
    }

    fn team(&self, args: &[&str]) -> Output {
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("team"));
        c.current_dir(&self.root);
        for var in team_testkit::process::SCRUBBED_ENV {
            c.env_remove(var);
        }
        c.env("NO_COLOR", "1")
            .env("CI", "true")
            .env("TEAM_CONFIG_HOME", self.root.join("no-user-config"))
            .stdin(std::process::Stdio::null())
            .arg("--json")
            .args(args);
        c.output().expect("run team")
    }

    /// Runs `team --json ARGS`, expects exit `code`, and validates stdout (one document)
    /// against `schema`.
    fn check(&mut self, schema: &str, args: &[&str], code: i32) -> Value {
        let o = self.team(args);
        let what = format!("team --json {}", args.join(" "));
        assert_eq!(o.status.code(), Some(code), "{what}\n{}", dump(&o));
        let doc: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!("{what}: stdout is not one JSON document: {e}\n{}", dump(&o))
        });
        assert_valid(schema, &what, &doc);
        self.checked.insert(schema.to_owned());
        doc
    }

    /// Like [`Project::check`] for JSON Lines: every line validates; returns the lines.
    fn check_lines(&mut self, schema: &str, args: &[&str]) -> Vec<Value> {
        let o = self.team(args);
        let what = format!("team --json {}", args.join(" "));
        assert_eq!(o.status.code(), Some(0), "{what}\n{}", dump(&o));
        let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{what}: {e}: {l}")))
            .collect();
        assert!(!lines.is_empty(), "{what} printed nothing\n{}", dump(&o));
        for l in &lines {
            assert_valid(schema, &what, l);
        }
        self.checked.insert(schema.to_owned());
        lines
    }

    /// Runs a command that must fail with `code` and validates its stderr against the error
    /// document's schema.
    fn check_error(&mut self, args: &[&str], code: i32) -> Value {
        let o = self.team(args);
        let what = format!("team --json {}", args.join(" "));
        assert_eq!(o.status.code(), Some(code), "{what}\n{}", dump(&o));
        let doc: Value = serde_json::from_slice(&o.stderr).unwrap_or_else(|e| {
            panic!("{what}: stderr is not one JSON document: {e}\n{}", dump(&o))
        });
        assert_valid("error", &what, &doc);
        self.checked.insert("error".to_owned());
        doc
    }
}

#[test]
fn every_command_prints_a_document_its_schema_accepts() {
    let mut p = Project::new();
    p.check("init", &["init"], 0);
    std::fs::write(
        p.root.join(".team/agents/echo.md"),
        "---\ndescription: says done\ncommand: [\"echo\", \"done\"]\n---\nSays done.\n",
    )
    .expect("agent file");
    for f in ["pep-0765.rst", "pep-0765.cassette.jsonl"] {
        std::fs::copy(repo().join("examples").join(f), p.root.join(f)).expect("copy example");
    }

    // Teams, members, tasks.
    let created = p.check("create", &["create", "demo"], 0);
    assert_eq!(created["team"]["name"], "demo");
    p.check("list", &["list"], 0);
    p.check("member-add", &["member", "add", "demo", "worker"], 0);
    p.check("member-add", &["member", "add", "demo", "helper"], 0);
    p.check("member-list", &["member", "list", "demo"], 0);
    for title in ["one", "two", "three"] {
        p.check("task-add", &["task", "add", "demo", title], 0);
    }
    p.check("task-list", &["task", "list", "demo"], 0);
    p.check("task-show", &["task", "show", "demo", "1"], 0);
    p.check(
        "task-claim",
        &["task", "claim", "demo", "--as", "worker", "1"],
        0,
    );
    p.check(
        "task-done",
        &["task", "done", "demo", "1", "--result", "ok"],
        0,
    );
    p.check(
        "task-claim",
        &[
            "task", "claim", "demo", "--as", "worker", "2", "--lease", "1m",
        ],
        0,
    );
    p.check("task-fail", &["task", "fail", "demo", "2"], 0);
    p.check(
        "task-claim",
        &["task", "claim", "demo", "--as", "worker", "3"],
        0,
    );
    p.check("task-release", &["task", "release", "demo", "3"], 0);
    p.check("task-cancel", &["task", "cancel", "demo", "3"], 0);
    for title in ["four", "five"] {
        p.check("task-add", &["task", "add", "demo", title], 0);
    }
    let claimed = p.check(
        "task-claim-count",
        &["task", "claim", "demo", "--as", "worker", "--count", "5"],
        0,
    );
    assert_eq!(claimed.as_array().map(Vec::len), Some(2), "{claimed}");

    // Messages and memory.
    p.check(
        "send",
        &["send", "demo", "--from", "lead", "--to", "worker", "hello"],
        0,
    );
    let inbox = p.check("inbox", &["inbox", "demo", "worker", "--lease", "30s"], 0);
    assert_eq!(inbox[0]["body"], "hello");
    p.check("memory-set", &["memory", "set", "reviewer", "first"], 0);
    p.check(
        "memory-append",
        &["memory", "append", "reviewer", "second"],
        0,
    );
    p.check("memory-show", &["memory", "show", "reviewer"], 0);
    p.check("memory-clear", &["memory", "clear", "reviewer"], 0);
    p.check("memory-show", &["memory", "show", "reviewer"], 0);

    // Ends, a foreground member, waiting.
    p.check(
        "member-done",
        &["member", "done", "demo", "worker", "--result", "ok"],
        0,
    );
    p.check(
        "member-fail",
        &["member", "fail", "demo", "helper", "--error", "no"],
        0,
    );
    let spawned = p.check(
        "spawn",
        &["spawn", "demo", "echo", "--prompt", "hi", "--timeout", "1m"],
        0,
    );
    assert_eq!(spawned["status"], "completed");
    let show = p.check("show", &["show", "demo"], 0);
    assert!(show["tokens"]["prompt_tokens"].is_i64(), "{show:#}");
    let waited = p.check("wait", &["wait", "demo", "--timeout", "60"], 1);
    assert_eq!(
        waited["team"]["name"], "demo",
        "`team` is a Team object: {waited:#}"
    );
    p.check("reconcile", &["reconcile"], 0);
    let resumed = p.check("resume", &["resume", "demo"], 0);
    assert_eq!(resumed["team"]["status"], "active", "{resumed:#}");
    p.check("logs", &["logs", "demo", "--tail", "5"], 0);
    p.check("disband", &["disband", "demo"], 0);
    p.check_lines("logs-follow", &["logs", "demo", "--follow", "--tail", "3"]);

    // A lead run in the foreground.
    let lead = p.check(
        "create-prompt",
        &["create", "solo", "--lead", "echo", "--prompt", "go"],
        0,
    );
    assert_eq!(lead["role"], "lead");

    // Agents, workflows, configuration, the doctor.
    p.check("agents-list", &["agents", "list"], 0);
    p.check("agents-show", &["agents", "show", "echo"], 0);
    p.check("agents-show", &["agents", "show", "spec-lead"], 0);
    p.check("agents-check", &["agents", "check"], 0);
    p.check("workflows-list", &["workflows", "list"], 0);
    p.check("workflows-show", &["workflows", "show", "spec-review"], 0);
    p.check("config-show", &["config", "show"], 0);
    let doctor = p.team(&["doctor"]);
    let doc: Value = serde_json::from_slice(&doctor.stdout).expect("doctor --json");
    assert_valid("doctor", "team --json doctor", &doc);
    p.checked.insert("doctor".into());

    // A workflow run (replayed: no model is called), its report and its live view.
    let replay = ["pep-0765.rst", "--replay", "pep-0765.cassette.jsonl"];
    let mut args = vec!["run", "spec-review"];
    args.extend(replay);
    args.extend(["--name", "rev"]);
    let report = p.check("run", &args, 0);
    assert!(report["findings"].is_array(), "{report:#}");
    p.check("report", &["report", "rev"], 0);
    let lines = p.check_lines("watch", &["watch", "rev"]);
    assert_eq!(
        lines.last().map(|l| l["change"].clone()),
        Some("team".into())
    );
    assert_eq!(
        lines.last().map(|l| l["team"]["status"].clone()),
        Some("completed".into())
    );

    let mut args = vec!["run", "spec-review"];
    args.extend(replay);
    args.extend(["--name", "bg", "--detach"]);
    let detached = p.check("run-detach", &args, 0);
    assert_eq!(detached["team"]["name"], "bg");
    let o = p.team(&["wait", "bg", "--timeout", "120"]);
    assert_eq!(o.status.code(), Some(0), "{}", dump(&o));

    let runner = p.check(
        "runner-detach",
        &["runner", "--detach", "--idle-exit", "0.5s"],
        0,
    );
    assert!(
        runner["pid"].as_u64().is_some_and(|pid| pid > 0),
        "{runner}"
    );
    p.check("runners", &["runners", "--all"], 0);
    // Stops it, or finds nothing alive when it already quit after its idle time.
    p.check("runner-stop", &["runner", "stop", "--all"], 0);

    // Approval requests (issue 18): the lead of a shell-driven team asks twice (through the
    // store, as a parked member's runner does), one request is approved, one denied.
    let gate = p.check("create", &["create", "gate"], 0);
    let team_id = gate["team"]["id"].as_str().expect("team id").to_owned();
    let store = team_store::Store::open(&p.root.join(".team/team.db").to_string_lossy())
        .expect("open the store");
    for (tool, args) in [("bash", r#"{"command":"make"}"#), ("write_file", "{}")] {
        let new = team_store::NewApproval {
            kind: team_core::ApprovalKind::Tool,
            tool: tool.into(),
            arguments: args.into(),
            summary: format!("{tool} call"),
            why: format!("{tool} asks by default"),
        };
        store.ask_approval(&team_id, "lead", &new).expect("ask");
    }
    let pending = p.check("approvals", &["approvals", "gate"], 0);
    assert_eq!(pending.as_array().map(Vec::len), Some(2), "{pending:#}");
    let first = pending[0]["id"].to_string();
    let second = pending[1]["id"].to_string();
    p.check("approve", &["approve", &first, "--always"], 0);
    p.check("deny", &["deny", &second, "--reason", "not now"], 0);
    p.check("approvals", &["approvals", "--all"], 0);

    // Errors, with their hints.
    let e = p.check_error(&["show", "nope"], 3);
    assert_eq!(e["error"]["kind"], "not_found");
    let e = p.check_error(&["agents", "show", "nope"], 3);
    assert!(
        !e["error"]["hints"].as_array().is_some_and(Vec::is_empty),
        "{e}"
    );
    p.check_error(&["wait", "rev", "--timeout", "soon"], 2);

    // Every schema in docs/schemas/ was checked against real output.
    let files: BTreeSet<String> = std::fs::read_dir(repo().join("docs/schemas"))
        .expect("docs/schemas")
        .flatten()
        .filter_map(|f| {
            f.file_name()
                .to_str()?
                .strip_suffix(".json")
                .map(str::to_owned)
        })
        .collect();
    let unchecked: Vec<&String> = files.difference(&p.checked).collect();
    assert!(
        unchecked.is_empty(),
        "schemas no command was checked against: {unchecked:?}"
    );
}

/// Human errors: `error: …`, then a `hint: …` line per hint; coloured by anstream's rules
/// (`CLICOLOR_FORCE` colours a pipe, `NO_COLOR` wins over it, `CLICOLOR=0` turns colour off).
#[test]
fn errors_carry_hints_and_colour_follows_the_environment() {
    let p = Project::new();
    let o = p.team(&["init"]);
    assert_eq!(o.status.code(), Some(0), "{}", dump(&o));
    let run = |env: &[(&str, &str)]| {
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("team"));
        c.current_dir(&p.root)
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("TEAM_DATABASE_URL")
            .args(["agents", "show", "nope"]);
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().expect("run team");
        assert_eq!(o.status.code(), Some(3), "{}", dump(&o));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let plain = run(&[]);
    assert!(plain.starts_with("error: unknown agent `nope`"), "{plain}");
    assert!(
        plain.ends_with("\nhint: `team agents list` lists the agents this project can run\n"),
        "{plain}"
    );
    let forced = run(&[("CLICOLOR_FORCE", "1")]);
    assert!(
        forced.contains("\x1b["),
        "CLICOLOR_FORCE colours a pipe: {forced:?}"
    );
    let no_color = run(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
    assert!(!no_color.contains('\x1b'), "NO_COLOR wins: {no_color:?}");
    assert_eq!(no_color, plain);
}
