//! `team task add|list|show|claim|done|fail|release|cancel`.

use serde_json::json;

use crate::support::*;

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn add_list_and_show(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.create_team("demo");
    p.add_member("demo", "reviewer");

    // An empty board: a note, no table; `[]` in JSON.
    let out = p.run(&["task", "list", "demo"]);
    assert_ok(&["task", "list"], &out);
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), "no tasks in team demo\n");
    assert_eq!(p.json(&["task", "list", "demo"]), json!([]));

    assert_eq!(p.ok(&["task", "add", "demo", "write the spec"]), "1\n");
    assert_eq!(
        p.ok(&[
            "task",
            "add",
            "demo",
            "review the spec",
            "--description",
            "line one\nline two",
            "--blocked-by",
            "1",
            "--assignee",
            "reviewer"
        ]),
        "2\n"
    );
    let v = p.json(&[
        "task",
        "add",
        "demo",
        "ship",
        "--blocked-by",
        "2",
        "--blocked-by",
        "1",
    ]);
    assert_eq!(
        keys(&v),
        [
            "assignee",
            "blocked_by",
            "created_at_ms",
            "description",
            "id",
            "result",
            "status",
            "team_id",
            "title",
            "updated_at_ms"
        ]
    );
    assert_eq!(v["id"], 3);
    assert_eq!(v["title"], "ship");
    assert_eq!(v["status"], "pending");
    assert_eq!(v["blocked_by"], json!([1, 2]));
    assert_eq!(v["assignee"], json!(null));
    assert_eq!(v["description"], json!(null));

    let text = p.ok(&["task", "list", "demo"]);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["TASK", "STATUS", "ASSIGNEE", "BLOCKED", "BY", "TITLE"],
            vec!["1", "pending", "-", "-", "write", "the", "spec"],
            vec!["2", "pending", "reviewer", "1", "review", "the", "spec"],
            vec!["3", "pending", "-", "1,2", "ship"],
        ]
    );

    let text = p.ok(&["task", "show", "demo", "2"]);
    assert_eq!(
        text,
        "task 2 in team demo: review the spec\nstatus:     pending\nassignee:   reviewer\n\
             blocked by: [1]\n\nline one\nline two\n"
    );
    let v = p.json(&["task", "show", "demo", "2"]);
    assert_eq!(v["description"], "line one\nline two");
    assert_eq!(v["assignee"], "reviewer");
    assert_eq!(v["blocked_by"], json!([1]));

    // --status filters.
    p.ok(&["task", "claim", "demo", "--as", "reviewer", "1"]);
    assert_eq!(
        p.json(&["task", "list", "demo", "--status", "in_progress"])
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [1]
    );
    assert_eq!(
        p.json(&["task", "list", "demo", "--status", "pending"])
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [2, 3]
    );
    assert_eq!(
        p.json(&["task", "list", "demo", "--status", "completed"]),
        json!([])
    );
    let err = p.fails(&["task", "list", "demo", "--status", "done"], 2);
    assert!(
            err.contains(
                "unknown task status `done`; expected one of: pending, in_progress, completed, failed, cancelled"
            ),
            "{err}"
        );

    // Bad input.
    let err = p.fails(&["task", "show", "demo", "9"], 3);
    assert_eq!(
        err,
        "error: task 9 in team demo not found; see `team task list demo`\n"
    );
    let err = p.fails(&["task", "add", "demo", "x", "--blocked-by", "9"], 3);
    assert!(
        err.contains("blocker task 9 in team demo not found"),
        "{err}"
    );
    let err = p.fails(&["task", "add", "demo", "x", "--assignee", "ghost"], 3);
    assert!(err.contains("member ghost in team demo not found"), "{err}");
    let err = p.fails(&["task", "add", "demo", "   "], 2);
    assert!(err.contains("a task needs a title"), "{err}");
    p.fails(&["task", "add", "demo"], 2);
    p.fails(&["task", "show", "demo", "one"], 2);
    p.fails(&["task", "list", "ghost"], 3);
    // Nothing was added by the failed calls.
    assert_eq!(
        p.json(&["task", "list", "demo"]).as_array().unwrap().len(),
        3
    );
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn claim_takes_the_oldest_claimable_and_respects_blockers_and_reservations(
    #[case] backend: Backend,
) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.create_team("demo");
    p.add_member("demo", "alice");
    p.add_member("demo", "bob");
    p.add_task("demo", "first", &[]);
    p.add_task("demo", "second", &["--blocked-by", "1"]);
    p.add_task("demo", "for bob", &["--assignee", "bob"]);

    let out = p.run(&["task", "claim", "demo", "--as", "alice"]);
    assert_ok(&["task", "claim"], &out);
    assert_eq!(stdout(&out), "1\tfirst\n");

    let err = p.fails(&["task", "claim", "demo", "--as", "alice", "2"], 4);
    assert_eq!(
        err,
        "error: task 2 in team demo is blocked by task 1 (in_progress); it can be claimed \
             once they are completed\n"
    );
    let err = p.fails(&["task", "claim", "demo", "--as", "alice"], 3);
    assert_eq!(
        err,
        "error: no claimable task in team demo: 2 pending task(s) are blocked or reserved \
             for other members\n"
    );
    let err = p.fails(&["task", "claim", "demo", "--as", "alice", "3"], 4);
    assert_eq!(
        err,
        "error: task 3 in team demo is reserved for member bob; alice cannot claim it\n"
    );
    let err = p.fails(&["task", "claim", "demo", "--as", "alice", "1"], 4);
    assert_eq!(
        err,
        "error: task 1 in team demo is in_progress (assignee alice); it cannot be claimed\n"
    );

    let v = p.json(&["task", "claim", "demo", "--as", "bob"]);
    assert_eq!(v["id"], 3);
    assert_eq!(v["status"], "in_progress");
    assert_eq!(v["assignee"], "bob");

    assert_eq!(
        p.ok(&["task", "done", "demo", "1", "--result", "written"]),
        "task 1 completed\n"
    );
    assert_eq!(
        p.ok(&["task", "claim", "demo", "--as", "alice", "2"]),
        "2\tsecond\n"
    );

    let err = p.fails(&["task", "claim", "demo", "--as", "bob", "1"], 4);
    assert!(
        err.contains("task 1 in team demo is completed") && err.contains("it cannot be claimed"),
        "{err}"
    );
    let msg = p.fails_json(&["task", "claim", "demo", "--as", "bob", "1"], 4);
    assert!(msg.contains("task 1 in team demo is completed"), "{msg}");

    let err = p.fails(&["task", "claim", "demo", "--as", "alice"], 3);
    assert_eq!(
        err,
        "error: no claimable task in team demo: the board has no pending task; add one with \
             `team task add demo`\n"
    );
    p.fails_json(&["task", "claim", "demo", "--as", "alice"], 3);
    let err = p.fails(&["task", "claim", "demo", "--as", "ghost"], 3);
    assert!(err.contains("member ghost in team demo not found"), "{err}");
    p.fails(&["task", "claim", "demo", "--as", "alice", "99"], 3);
    p.fails(&["task", "claim", "demo"], 2);

    // A member that has ended cannot claim.
    p.add_task("demo", "late", &[]);
    p.ok(&["member", "done", "demo", "bob"]);
    let err = p.fails(&["task", "claim", "demo", "--as", "bob"], 4);
    assert_eq!(
        err,
        "error: member bob in team demo is completed; it can no longer claim tasks\n"
    );
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn done_fail_release_cancel_follow_the_lifecycle(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.create_team("docs");
    p.add_member("docs", "w");
    for t in ["a", "b", "c", "d"] {
        p.add_task("docs", t, &[]);
    }
    p.ok(&["task", "claim", "docs", "--as", "w", "1"]);
    p.ok(&["task", "claim", "docs", "--as", "w", "2"]);

    // release: in_progress -> pending, assignee cleared.
    assert_eq!(p.ok(&["task", "release", "docs", "1"]), "task 1 pending\n");
    let t = p.json(&["task", "show", "docs", "1"]);
    assert_eq!(t["status"], "pending");
    assert_eq!(t["assignee"], json!(null));
    // fail: in_progress -> failed, with the result text.
    let v = p.json(&["task", "fail", "docs", "2", "--result", "broken link"]);
    assert_eq!(v["status"], "failed");
    assert_eq!(v["result"], "broken link");
    // cancel: pending -> cancelled.
    assert_eq!(p.ok(&["task", "cancel", "docs", "3"]), "task 3 cancelled\n");
    // done: in_progress -> completed.
    p.ok(&["task", "claim", "docs", "--as", "w", "4"]);
    assert_eq!(
        p.ok(&["task", "done", "docs", "4", "--result", "ok"]),
        "task 4 completed\n"
    );
    let text = p.ok(&["task", "show", "docs", "4"]);
    assert!(text.ends_with("\nresult:\nok\n"), "{text}");

    // Illegal moves: exit 4, naming the task, its team and its state; nothing changes.
    for (args, msg) in [
        (
            vec!["task", "done", "docs", "1"],
            "task 1 in team docs is pending; it cannot be completed",
        ),
        (
            vec!["task", "fail", "docs", "1"],
            "task 1 in team docs is pending; it cannot be failed",
        ),
        (
            vec!["task", "release", "docs", "1"],
            "task 1 in team docs is pending; it cannot be released",
        ),
        (
            vec!["task", "cancel", "docs", "4"],
            "task 4 in team docs is completed; it cannot be cancelled",
        ),
        (
            vec!["task", "done", "docs", "4"],
            "task 4 in team docs is completed; it cannot be completed",
        ),
        (
            vec!["task", "release", "docs", "2"],
            "task 2 in team docs is failed; it cannot be released",
        ),
        (
            vec!["task", "done", "docs", "3"],
            "task 3 in team docs is cancelled; it cannot be completed",
        ),
    ] {
        let err = p.fails(&args, 4);
        assert_eq!(err, format!("error: {msg}\n"), "{args:?}");
        assert_eq!(p.fails_json(&args, 4), msg);
    }
    assert_eq!(
        strings(&p.json(&["task", "list", "docs"]), "status"),
        ["pending", "failed", "cancelled", "completed"]
    );
    p.fails(&["task", "done", "docs", "42"], 3);
    p.fails(&["task", "cancel", "nope", "1"], 3);
}

// `team task claim --count K`: up to K of the oldest claimable tasks, a line each; the rules
// and exit codes of a single claim.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn claim_count_takes_up_to_k_tasks(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.create_team("demo");
    p.add_member("demo", "alice");
    p.add_member("demo", "bob");
    p.add_task("demo", "first", &[]);
    p.add_task("demo", "second", &["--blocked-by", "1"]);
    p.add_task("demo", "for bob", &["--assignee", "bob"]);
    p.add_task("demo", "fourth", &[]);
    p.add_task("demo", "fifth", &[]);

    assert_eq!(
        p.ok(&["task", "claim", "demo", "--as", "alice", "--count", "2"]),
        "1\tfirst\n4\tfourth\n"
    );
    let v = p.json(&["task", "claim", "demo", "--as", "alice", "--count", "10"]);
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v[0]["id"], 5);
    assert_eq!(v[0]["assignee"], "alice");
    let err = p.fails(
        &["task", "claim", "demo", "--as", "alice", "--count", "3"],
        3,
    );
    assert_eq!(
        err,
        "error: no claimable task in team demo: 2 pending task(s) are blocked or reserved \
             for other members\n"
    );
    assert_eq!(
        p.ok(&["task", "claim", "demo", "--as", "bob", "--count", "3"]),
        "3\tfor bob\n"
    );
    // Out of range, or with a task id: usage errors.
    p.fails(
        &["task", "claim", "demo", "--as", "alice", "--count", "0"],
        2,
    );
    p.fails(
        &["task", "claim", "demo", "--as", "alice", "--count", "1001"],
        2,
    );
    p.fails(
        &[
            "task", "claim", "demo", "--as", "alice", "2", "--count", "2",
        ],
        2,
    );
}
