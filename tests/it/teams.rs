//! `team init`, `create`, `list`, `show`, `disband`, and `completions`.

use serde_json::Value;

use crate::support::*;

#[test]
fn init_creates_the_project_and_a_second_run_keeps_it() {
    let (_dir, root) = temp_dir();
    let root = root.as_path();
    let out = bare_cmd(root).arg("init").output().unwrap();
    assert_ok(&["init"], &out);
    let text = stdout(&out);
    assert_eq!(
        text,
        format!(
            "initialised .team/ in {}\n  created .team\n  created .team/agents\n  created \
             .team/workflows\n  created .team/config.toml\n  created .team/.gitignore\n  \
             created .team/team.db\n",
            root.display()
        )
    );
    for d in [".team", ".team/agents", ".team/workflows"] {
        assert!(root.join(d).is_dir(), "{d} is a directory");
    }
    for f in [".team/config.toml", ".team/.gitignore", ".team/team.db"] {
        assert!(root.join(f).is_file(), "{f} is a file");
    }
    let config = std::fs::read_to_string(root.join(".team/config.toml")).unwrap();
    assert!(config.contains("[team]"), "{config}");

    // A second run changes nothing and keeps what the user edited.
    std::fs::write(root.join(".team/config.toml"), "# mine\n").unwrap();
    bare_cmd(root)
        .arg("init")
        .assert()
        .success()
        .stdout(format!(".team/ is already set up in {}\n", root.display()));
    assert_eq!(
        std::fs::read_to_string(root.join(".team/config.toml")).unwrap(),
        "# mine\n"
    );

    // --json: {project_root, database, created}.
    let out = bare_cmd(root).args(["--json", "init"]).output().unwrap();
    assert_ok(&["--json", "init"], &out);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(keys(&v), ["created", "database", "project_root"]);
    assert_eq!(v["created"], serde_json::json!([]));
    assert_eq!(v["project_root"], root.to_string_lossy().as_ref());
    assert_eq!(
        v["database"],
        root.join(".team/team.db").to_string_lossy().as_ref()
    );
}

#[test]
fn commands_find_the_project_from_a_subdirectory() {
    let p = Project::sqlite();
    p.create_team("demo");
    let sub = p.root().join("a/b");
    std::fs::create_dir_all(&sub).unwrap();
    let out = p.std_cmd_in(&sub).args(["list"]).output().unwrap();
    assert_ok(&["list"], &out);
    assert!(stdout(&out).contains("demo"), "{}", stdout(&out));
    // Memory is keyed by the project root, not the subdirectory.
    let out = p
        .std_cmd_in(&sub)
        .args(["memory", "set", "bob", "hi"])
        .output()
        .unwrap();
    assert_ok(&["memory", "set"], &out);
    let v = p.json(&["memory", "show", "bob"]);
    assert_eq!(v["content"], "hi");
    assert_eq!(v["project_root"], p.root().to_string_lossy().as_ref());
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn create_prints_the_name_and_refuses_a_duplicate(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    let out = p.run(&["create", "demo"]);
    assert_ok(&["create", "demo"], &out);
    assert_eq!(stdout(&out), "demo\n");
    let note = stderr(&out);
    assert!(note.starts_with("created team demo (id "), "{note}");
    assert!(note.trim_end().ends_with("), lead agent lead"), "{note}");

    let v = p.json(&["create", "docs", "--lead", "boss"]);
    assert_eq!(keys(&v), ["lead", "team"]);
    let team = &v["team"];
    for k in [
        "id",
        "name",
        "status",
        "lead_agent",
        "workflow",
        "project_root",
        "runner_id",
        "owner_pid",
        "owner_host",
        "created_at_ms",
        "updated_at_ms",
        "ended_at_ms",
        "reason",
    ] {
        assert!(team.get(k).is_some(), "team.{k} in {team}");
    }
    assert_eq!(team["name"], "docs");
    assert_eq!(team["status"], "active");
    assert_eq!(team["lead_agent"], "boss");
    assert_eq!(team["project_root"], p.root().to_string_lossy().as_ref());
    let id = team["id"].as_str().unwrap();
    assert_eq!(id.len(), 8, "{id}");
    assert!(
        id.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
        "{id}"
    );
    assert_eq!(v["lead"]["name"], "lead");
    assert_eq!(v["lead"]["agent"], "boss");
    assert_eq!(v["lead"]["role"], "lead");
    assert_eq!(v["lead"]["status"], "running");
    assert_eq!(v["lead"]["team_id"], id);

    let err = p.fails(&["create", "demo"], 4);
    assert!(
        err.starts_with("error: an active team named demo already exists (id "),
        "{err}"
    );
    let msg = p.fails_json(&["create", "docs"], 4);
    assert!(
        msg.contains(&format!(
            "an active team named docs already exists (id {id})"
        )),
        "{msg}"
    );

    // The id works wherever a name does.
    assert_eq!(p.json(&["show", id])["team"]["name"], "docs");
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn list_filters_by_state(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    // Nothing yet: a note on stderr, nothing on stdout.
    let out = p.run(&["list"]);
    assert_ok(&["list"], &out);
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        "no active teams; create one with `team create NAME`\n"
    );
    assert_eq!(p.json(&["list"]), serde_json::json!([]));

    p.create_team("alpha");
    p.create_team("beta");
    p.add_member("alpha", "reviewer");
    p.add_task("alpha", "one", &[]);
    p.add_task("alpha", "two", &[]);
    p.ok(&["task", "cancel", "alpha", "2"]);
    p.ok(&["disband", "beta"]);

    let v = p.json(&["list"]);
    assert_eq!(strings(&v, "name"), ["alpha"]);
    let a = &v[0];
    assert_eq!(a["status"], "active");
    assert_eq!(a["members_live"], 2);
    assert_eq!(a["members_total"], 2);
    assert_eq!(a["tasks_open"], 1);
    assert_eq!(a["tasks_total"], 2);
    assert!(a["id"].is_string() && a["created_at_ms"].is_i64(), "{a}");

    assert_eq!(
        strings(&p.json(&["list", "--all"]), "name"),
        ["alpha", "beta"]
    );
    let d = p.json(&["list", "--status", "disbanded"]);
    assert_eq!(strings(&d, "name"), ["beta"]);
    assert_eq!(d[0]["members_live"], 0);
    assert_eq!(
        strings(&p.json(&["list", "--status", "active"]), "name"),
        ["alpha"]
    );
    assert_eq!(
        p.json(&["list", "--status", "completed"]),
        serde_json::json!([])
    );

    // Human output: a header row and one row per team.
    let text = p.ok(&["list", "--all"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "ID",
            "STATUS",
            "LEAD",
            "LIVE/MEMBERS",
            "OPEN/TASKS",
            "AGE"
        ]
    );
    let alpha: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(alpha[0], "alpha");
    assert_eq!(&alpha[2..6], ["active", "lead", "2/2", "1/2"]);
    let beta: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(beta[0], "beta");
    assert_eq!(&beta[2..6], ["disbanded", "lead", "0/1", "0/0"]);

    let err = p.fails(&["list", "--status", "bogus"], 2);
    assert!(
        err.contains(
            "unknown team status `bogus`; expected one of: active, completed, failed, disbanded"
        ),
        "{err}"
    );
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn show_prints_members_and_tasks(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    let id = p.create_team("demo");
    p.add_member("demo", "reviewer");
    p.add_task("demo", "write the spec", &[]);
    p.add_task("demo", "review it", &["--blocked-by", "1"]);
    p.ok(&["task", "claim", "demo", "--as", "reviewer"]);

    let text = p.ok(&["show", "demo"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!("team demo ({id})  active  lead agent lead"),
        "{text}"
    );
    assert_eq!(lines[1], "");
    let header: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "MEMBER", "AGENT", "ROLE", "STATUS", "ELAPSED", "TURNS", "TOKENS", "IN/OUT", "RESULT",
            "OR", "ERROR"
        ]
    );
    let lead: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(&lead[..4], ["lead", "lead", "lead", "running"]);
    let rev: Vec<&str> = lines[4].split_whitespace().collect();
    assert_eq!(&rev[..4], ["reviewer", "reviewer", "member", "running"]);
    assert_eq!(lines[5], "");
    let theader: Vec<&str> = lines[6].split_whitespace().collect();
    assert_eq!(
        theader,
        ["TASK", "STATUS", "ASSIGNEE", "BLOCKED", "BY", "TITLE"]
    );
    let t1: Vec<&str> = lines[7].split_whitespace().collect();
    assert_eq!(
        t1,
        ["1", "in_progress", "reviewer", "-", "write", "the", "spec"]
    );
    let t2: Vec<&str> = lines[8].split_whitespace().collect();
    assert_eq!(t2, ["2", "pending", "-", "1", "review", "it"]);
    assert_eq!(lines.len(), 9, "{text}");

    let v = p.json(&["show", "demo"]);
    assert_eq!(keys(&v), ["members", "spend", "tasks", "team", "tokens"]);
    assert_eq!(v["team"]["id"], id.as_str());
    assert_eq!(v["team"]["name"], "demo");
    assert_eq!(strings(&v["members"], "name"), ["lead", "reviewer"]);
    let m = &v["members"][1];
    for k in [
        "id",
        "team_id",
        "name",
        "agent",
        "role",
        "status",
        "prompt",
        "persistent",
        "timeout_secs",
        "runner_id",
        "pid",
        "created_at_ms",
        "started_at_ms",
        "updated_at_ms",
        "ended_at_ms",
        "result",
        "error",
        "turns",
        "prompt_tokens",
        "completion_tokens",
        "busy_ms",
    ] {
        assert!(m.get(k).is_some(), "member.{k} in {m}");
    }
    assert_eq!(v["tasks"].as_array().unwrap().len(), 2);
    assert_eq!(v["tasks"][0]["status"], "in_progress");
    assert_eq!(v["tasks"][0]["assignee"], "reviewer");
    assert_eq!(v["tasks"][1]["blocked_by"], serde_json::json!([1]));
    assert_eq!(
        v["tokens"],
        serde_json::json!({"prompt_tokens": 0, "completion_tokens": 0})
    );

    // A team without tasks prints no task table.
    p.create_team("empty");
    let text = p.ok(&["show", "empty"]);
    assert!(!text.contains("TASK"), "{text}");
    assert_eq!(text.lines().count(), 4, "{text}");

    let err = p.fails(&["show", "ghost"], 3);
    assert_eq!(
        err,
        "error: team ghost not found; see `team list --all` for the teams in this database\n"
    );
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn disband_cascades_to_members_tasks_and_inboxes(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.create_team("demo");
    p.add_member("demo", "reviewer");
    p.add_member("demo", "coder");
    p.ok(&["member", "done", "demo", "coder", "--result", "ok"]);
    p.add_task("demo", "pending one", &[]);
    p.add_task("demo", "claimed one", &[]);
    p.add_task("demo", "done one", &[]);
    p.ok(&["task", "claim", "demo", "--as", "reviewer", "2"]);
    p.ok(&["task", "claim", "demo", "--as", "reviewer", "3"]);
    p.ok(&["task", "done", "demo", "3"]);
    // Drain the lead's inbox so only the disband notice remains.
    p.ok(&["inbox", "demo", "lead"]);

    let v = p.json(&["disband", "demo", "--reason", "plans changed"]);
    assert_eq!(keys(&v), ["cancelled_members", "cancelled_tasks", "team"]);
    assert_eq!(v["team"]["status"], "disbanded");
    assert_eq!(v["team"]["reason"], "plans changed");
    assert!(v["team"]["ended_at_ms"].is_i64());
    assert_eq!(
        v["cancelled_members"],
        serde_json::json!(["lead", "reviewer"])
    );
    assert_eq!(v["cancelled_tasks"], serde_json::json!([1, 2]));

    let show = p.json(&["show", "demo"]);
    assert_eq!(show["team"]["status"], "disbanded");
    let statuses: Vec<(String, String)> = show["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().into(),
                m["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("lead".into(), "cancelled".into()),
            ("reviewer".into(), "cancelled".into()),
            ("coder".into(), "completed".into())
        ]
    );
    assert_eq!(show["members"][1]["error"], "plans changed");
    assert_eq!(
        strings(&show["tasks"], "status"),
        ["cancelled", "cancelled", "completed"]
    );
    let cancelled = p.json(&["task", "list", "demo", "--status", "cancelled"]);
    assert_eq!(cancelled.as_array().unwrap().len(), 2);

    // Every live member was told, once, by `team`; the completed member was not.
    for who in ["lead", "reviewer"] {
        let inbox = p.json(&["inbox", "demo", who]);
        assert_eq!(inbox.as_array().unwrap().len(), 1, "{who}: {inbox}");
        assert_eq!(inbox[0]["sender"], "team");
        assert_eq!(inbox[0]["kind"], "system");
        assert_eq!(
            inbox[0]["body"],
            "[TEAM DISBANDED] team demo was disbanded: plans changed"
        );
    }
    assert_eq!(p.json(&["inbox", "demo", "coder"]), serde_json::json!([]));

    // Terminal: no second disband, no new members, tasks or messages.
    let err = p.fails(&["disband", "demo"], 4);
    assert_eq!(
        err,
        "error: team demo is disbanded; it cannot be disbanded\n"
    );
    let err = p.fails(&["member", "add", "demo", "x"], 4);
    assert!(
        err.contains("team demo is disbanded; it cannot take new members"),
        "{err}"
    );
    let err = p.fails(&["task", "add", "demo", "x"], 4);
    assert!(
        err.contains("team demo is disbanded; it cannot take new tasks"),
        "{err}"
    );
    let err = p.fails(
        &["send", "demo", "--from", "lead", "--to", "reviewer", "hi"],
        4,
    );
    assert!(
        err.contains("team demo is disbanded; it cannot take new messages"),
        "{err}"
    );

    // The name is free again; `show NAME` now means the new active team.
    let new_id = p.create_team("demo");
    assert_eq!(p.json(&["show", "demo"])["team"]["id"], new_id.as_str());
    let text = p.ok(&["disband", "demo"]);
    assert_eq!(
        text,
        "disbanded team demo: 1 member(s) and 0 task(s) cancelled\n"
    );
    assert_eq!(
        p.json(&["show", &new_id])["team"]["reason"],
        "disbanded by user"
    );
}

#[test]
fn completions_print_a_script_without_a_project() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = bare_cmd(dir.path())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert_ok(&["completions", shell], &out);
        let script = stdout(&out);
        assert!(script.len() > 1000, "{shell}: {} bytes", script.len());
        assert!(script.contains("team"), "{shell}");
    }
    let out = bare_cmd(dir.path())
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(stdout(&out).contains("_team()"));
    bare_cmd(dir.path())
        .args(["completions", "tcsh"])
        .assert()
        .code(2);
}
