//! Exit codes and bad input: usage errors (2), unknown entities (3), illegal moves and
//! conflicts (4), a missing project, malformed `--db`, invalid UTF-8 on stdin, and the
//! `--json` error object.

use std::path::Path;

use serde_json::json;

use crate::support::*;

/// True when some directory at or above `dir` has a `.team/`, which would make `team` find a
/// project where the test expects none.
fn inside_a_project(dir: &Path) -> bool {
    dir.ancestors().any(|d| d.join(".team").is_dir())
}

#[test]
fn no_project_and_no_db_is_a_usage_error_that_says_to_run_init() {
    let (_dir, root) = temp_dir();
    if inside_a_project(&root) {
        eprintln!("a .team/ exists above {}: skipping", root.display());
        return;
    }
    for args in [
        vec!["list"],
        vec!["create", "demo"],
        vec!["memory", "show", "bob"],
    ] {
        let out = bare_cmd(root.as_path()).args(&args).output().unwrap();
        assert_code(&args, &out, 2);
        assert_eq!(
            stderr(&out),
            format!(
                "error: no .team/ directory in {} or its parents; run `team init` there, or pass \
                 --db PATH_OR_URL (or set TEAM_DATABASE_URL)\n",
                root.as_path().display()
            )
        );
    }
    let out = bare_cmd(root.as_path())
        .args(["--json", "list"])
        .output()
        .unwrap();
    let msg = json_error(&out, 2);
    assert!(msg.contains("run `team init`"), "{msg}");
    // Nothing was created.
    assert!(!root.as_path().join(".team").exists());
    assert_eq!(std::fs::read_dir(root.as_path()).unwrap().count(), 0);
}

#[test]
fn db_flag_and_env_work_without_a_project() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let db = db.to_str().unwrap();
    bare_cmd(dir.path())
        .args(["--db", db, "create", "demo"])
        .assert()
        .success()
        .stdout("demo\n");
    let out = bare_cmd(dir.path())
        .env("TEAM_DATABASE_URL", db)
        .args(["--json", "list"])
        .output()
        .unwrap();
    assert_ok(&["list"], &out);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(strings(&v, "name"), ["demo"]);
    // --db wins over the environment.
    let other = dir.path().join("y.db");
    let out = bare_cmd(dir.path())
        .env("TEAM_DATABASE_URL", db)
        .args(["--db", other.to_str().unwrap(), "--json", "list"])
        .output()
        .unwrap();
    assert_ok(&["list"], &out);
    assert_eq!(stdout(&out).trim(), "[]");
}

#[test]
fn usage_errors_exit_2() {
    let p = Project::sqlite();
    p.create_team("demo");
    for args in [
        vec![],
        vec!["bogus"],
        vec!["create"],
        vec!["member", "add", "demo"],
        vec!["task", "add", "demo"],
        vec!["task", "claim", "demo"],
        vec!["task", "done", "demo"],
        vec!["task", "done", "demo", "x"],
        vec!["send", "demo", "--to", "lead", "x"],
        vec!["inbox", "demo"],
        vec!["memory", "set"],
        vec!["logs"],
        vec!["completions"],
        vec!["list", "--status", "bogus"],
        vec!["task", "list", "demo", "--status", "bogus"],
        vec!["-q", "-v", "list"],
    ] {
        let out = p.run(&args);
        assert_code(&args, &out, 2);
        assert!(!stderr(&out).is_empty(), "{args:?} says why");
    }
    for name in ["bad name", "-x", "_starts_badly", "a/b", &"n".repeat(65)] {
        let args = ["create", "--", name];
        let err = p.fails(&args, 2);
        assert!(
            err.starts_with(&format!("error: invalid team name `{name}`")),
            "{err}"
        );
        let msg = p.fails_json(&args, 2);
        assert!(
            msg.starts_with(&format!("invalid team name `{name}`")),
            "{msg}"
        );
    }
    let err = p.fails(&["create", "demo2", "--lead", "no good"], 2);
    assert!(err.contains("invalid agent name `no good`"), "{err}");
    // None of that created anything.
    assert_eq!(strings(&p.json(&["list", "--all"]), "name"), ["demo"]);
}

#[test]
fn unknown_entities_exit_3_and_name_what_is_missing() {
    let p = Project::sqlite();
    p.create_team("demo");
    for (args, what) in [
        (vec!["show", "ghost"], "team ghost not found"),
        (vec!["disband", "ghost"], "team ghost not found"),
        (vec!["member", "list", "ghost"], "team ghost not found"),
        (vec!["task", "list", "ghost"], "team ghost not found"),
        (vec!["logs", "ghost"], "team ghost not found"),
        (vec!["inbox", "ghost", "lead"], "team ghost not found"),
        (
            vec!["inbox", "demo", "ghost"],
            "member ghost in team demo not found",
        ),
        (
            vec!["member", "fail", "demo", "ghost"],
            "member ghost in team demo not found",
        ),
        (
            vec!["task", "show", "demo", "7"],
            "task 7 in team demo not found",
        ),
        (
            vec!["task", "cancel", "demo", "7"],
            "task 7 in team demo not found",
        ),
        (
            vec!["task", "claim", "demo", "--as", "lead"],
            "no claimable task in team demo",
        ),
    ] {
        let err = p.fails(&args, 3);
        assert!(
            err.starts_with(&format!("error: {what}")),
            "{args:?}: {err}"
        );
        let msg = p.fails_json(&args, 3);
        assert!(msg.starts_with(what), "{args:?}: {msg}");
    }
}

#[test]
fn illegal_moves_and_conflicts_exit_4() {
    let p = Project::sqlite();
    p.create_team("docs");
    p.add_member("docs", "w");
    p.add_task("docs", "t", &[]);
    p.ok(&["task", "claim", "docs", "--as", "w"]);
    p.ok(&["task", "done", "docs", "1"]);
    let err = p.fails(&["task", "claim", "docs", "--as", "w", "1"], 4);
    assert_eq!(
        err,
        "error: task 1 in team docs is completed (assignee w); it cannot be claimed\n"
    );
    let err = p.fails(&["create", "docs"], 4);
    assert!(
        err.contains("an active team named docs already exists"),
        "{err}"
    );
    p.ok(&["disband", "docs"]);
    let msg = p.fails_json(&["disband", "docs"], 4);
    assert_eq!(msg, "team docs is disbanded; it cannot be disbanded");
    let msg = p.fails_json(&["task", "claim", "docs", "--as", "w"], 4);
    assert_eq!(msg, "team docs is disbanded; it cannot take task claims");
}

#[test]
fn json_errors_are_one_object_on_stderr() {
    let p = Project::sqlite();
    p.create_team("demo");
    for (args, code) in [
        (vec!["show", "ghost"], 3),
        (vec!["create", "demo"], 4),
        (vec!["create", "bad name"], 2),
        (
            vec!["inbox", "demo", "lead", "--wait", "--timeout", "0.1"],
            124,
        ),
    ] {
        let msg = p.fails_json(&args, code);
        assert!(!msg.is_empty() && !msg.starts_with("error:"), "{msg}");
    }
    let out = p.run(&["--json", "show", "ghost"]);
    let v: serde_json::Value = serde_json::from_str(stderr(&out).trim()).unwrap();
    assert_eq!(
        v,
        json!({"error": {
            "kind": "not_found",
            "message": "team ghost not found; see `team list --all` for the teams in this database",
            "exit_code": 3,
            "hints": [],
        }})
    );
}

/// A script that asks for `--json` should be able to parse every error, including those found
/// while parsing the arguments.
#[test]
fn json_errors_cover_argument_parsing_too() {
    let p = Project::sqlite();
    p.create_team("demo");
    for args in [
        vec!["--json", "task", "claim", "demo"],
        vec!["--json", "list", "--status", "bogus"],
    ] {
        let out = p.run(&args);
        assert_code(&args, &out, 2);
        json_error(&out, 2);
    }
}

#[test]
fn a_db_path_in_a_missing_directory_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--db", "/nonexistent/dir/x.db", "list"];
    let out = bare_cmd(dir.path()).args(args).output().unwrap();
    assert_code(&args, &out, 2);
    assert_eq!(
        stderr(&out),
        "error: cannot open database /nonexistent/dir/x.db: directory /nonexistent/dir does not \
         exist; run `team init` in your project or pass an existing path with --db\n"
    );
    assert!(!Path::new("/nonexistent/dir").exists());
    let out = bare_cmd(dir.path())
        .args(["--json", "--db", "/nonexistent/dir/x.db", "list"])
        .output()
        .unwrap();
    let msg = json_error(&out, 2);
    assert!(msg.contains("does not exist"), "{msg}");
}

#[test]
fn malformed_db_values_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("notes.txt"),
        "this is not a database, just some text\n".repeat(200),
    )
    .unwrap();
    let not_db = root.join("notes.txt");
    let root_s = root.to_str().unwrap();
    for (db, why) in [
        (root_s, "it is a directory, not a database file"),
        (
            not_db.to_str().unwrap(),
            "the file is not a SQLite database",
        ),
        ("mysql://u@localhost/x", "unknown URL scheme"),
        (":memory:", "an in-memory SQLite database cannot be shared"),
        ("   ", "the database URL is empty"),
    ] {
        let args = ["--db", db, "list"];
        let out = bare_cmd(root).args(args).output().unwrap();
        assert_code(&args, &out, 2);
        let err = stderr(&out);
        assert!(
            err.starts_with("error: cannot open database "),
            "{db:?}: {err}"
        );
        assert!(err.contains(why), "{db:?}: {err}");
    }
    // The text file was not touched.
    assert!(
        std::fs::read_to_string(&not_db)
            .unwrap()
            .starts_with("this is not a database")
    );
}

#[test]
fn an_unreachable_postgres_url_is_named_with_its_password_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let url = "postgres://someone:hunter2pw@127.0.0.1:1/x";
    let args = ["--db", url, "list"];
    let out = bare_cmd(dir.path()).args(args).output().unwrap();
    assert!(!out.status.success(), "an unreachable server is an error");
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: cannot open database postgres://someone:***@127.0.0.1:1/x: "),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "the password leaked: {err}");
    assert!(stdout(&out).is_empty());

    // The same through the environment and with --json.
    let out = bare_cmd(dir.path())
        .env("TEAM_DATABASE_URL", url)
        .args(["--json", "show", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(!err.contains("hunter2"), "the password leaked: {err}");
    let v: serde_json::Value = serde_json::from_str(err.trim()).unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("postgres://someone:***@127.0.0.1:1/x"),
        "{v}"
    );
    assert_eq!(v["error"]["exit_code"], out.status.code().unwrap());
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn invalid_utf8_for_send_is_refused_and_nothing_is_sent(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.create_team("demo");
    p.add_member("demo", "a");
    let before = p.json(&["logs", "demo"]).as_array().unwrap().len();
    for to in [vec!["--to", "a"], vec!["--all"]] {
        let mut args = vec!["send", "demo", "--from", "lead"];
        args.extend(to);
        let out = p.run_stdin(&args, &b"hi \xc3\x28 there"[..]);
        assert_code(&args, &out, 2);
        assert_eq!(
            stderr(&out),
            "error: the message body on stdin is not valid UTF-8 (invalid byte at offset 3); \
                 nothing was written\n"
        );
    }
    assert_eq!(p.peek("demo", "a"), Vec::<serde_json::Value>::new());
    assert_eq!(p.json(&["logs", "demo"]).as_array().unwrap().len(), before);
    // Valid multi-byte UTF-8 on stdin goes through untouched.
    p.ok_stdin(
        &["send", "demo", "--from", "lead", "--to", "a"],
        "héllo → 世界 😀",
    );
    assert_eq!(
        strings(&p.json(&["inbox", "demo", "a"]), "body"),
        ["héllo → 世界 😀"]
    );
}

/// A damaged database file is a database error (exit 1) that says so, not a usage error:
/// a SQLite file whose pages are garbage, and the project's `.team/team.db` overwritten with
/// anything.
#[test]
fn a_corrupt_database_is_a_database_error() {
    let (_dir, root) = temp_dir();
    std::fs::create_dir(root.join(".team")).unwrap();
    let mut junk = b"SQLite format 3\0".to_vec();
    junk.extend((0..8000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let db = root.join(".team/team.db");
    std::fs::write(&db, &junk).unwrap();
    let o = bare_cmd(&root).args(["list"]).output().unwrap();
    assert_code(&["list"], &o, 1);
    assert!(stderr(&o).contains("is unreadable"), "{}", stderr(&o));
    // The same file named with --db.
    let args = ["--db", db.to_str().unwrap(), "list"];
    let o = bare_cmd(&root).args(args).output().unwrap();
    assert_code(&args, &o, 1);
    std::fs::write(&db, "garbage\n".repeat(1000)).unwrap();
    let o = bare_cmd(&root).args(["list"]).output().unwrap();
    assert_code(&["list"], &o, 1);
    assert!(stderr(&o).contains("database is damaged"), "{}", stderr(&o));
}

/// Runs `sh -c script` as root; false (with a note) when it fails, e.g. without the rights to
/// mount.
fn try_sh(script: &str) -> bool {
    let ok = std::process::Command::new("sh")
        .args(["-c", script])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: cannot run `{script}` (needs root to mount)");
    }
    ok
}

/// A read-only `.team/` (a read-only bind mount: as root, file modes alone would not stop a
/// write) still serves the read commands; a write says the database is read-only (exit 1).
#[test]
fn a_read_only_team_dir_still_serves_reads() {
    let p = Project::sqlite();
    p.create_team("demo");
    p.add_task("demo", "t", &[]);
    let dir = p.root().join(".team");
    let d = dir.display();
    if !try_sh(&format!(
        "mount --bind {d} {d} && mount -o remount,ro,bind {d}"
    )) {
        return;
    }
    let list = p.run(&["list"]);
    let show = p.run(&["show", "demo"]);
    let logs = p.run(&["logs", "demo"]);
    let write = p.run(&["task", "add", "demo", "u"]);
    try_sh(&format!("umount {d}"));
    assert_ok(&["list"], &list);
    assert!(stdout(&list).contains("demo"));
    assert_ok(&["show"], &show);
    assert_ok(&["logs"], &logs);
    assert_code(&["task", "add"], &write, 1);
    assert!(stderr(&write).contains("read-only"), "{}", stderr(&write));
}

/// On a full disk (a tiny tmpfs, filled), `team` says the disk is full (exit 1), not
/// "cannot rollback - no transaction is active".
#[test]
fn a_full_disk_says_the_disk_is_full() {
    let (_dir, root) = temp_dir();
    let r = root.display();
    if !try_sh(&format!("mount -t tmpfs -o size=600k tmpfs {r}")) {
        return;
    }
    let init = bare_cmd(&root).args(["init"]).output().unwrap();
    let create = bare_cmd(&root).args(["create", "demo"]).output().unwrap();
    try_sh(&format!(
        "head -c 2000000 /dev/zero > {r}/filler 2>/dev/null; true"
    ));
    let big = "z".repeat(300_000);
    let send = bare_cmd(&root)
        .args(["send", "demo", "--from", "lead", "--all"])
        .write_stdin(big)
        .output()
        .unwrap();
    let list = bare_cmd(&root).args(["list"]).output().unwrap();
    try_sh(&format!("umount {r}"));
    assert_ok(&["init"], &init);
    assert_ok(&["create"], &create);
    for (what, o) in [("send", &send), ("list", &list)] {
        assert_code(&[what], o, 1);
        assert!(
            stderr(o).contains("disk holding the database is full"),
            "{what}: {}",
            stderr(o)
        );
        assert!(!stderr(o).contains("cannot rollback"), "{}", stderr(o));
    }
}
