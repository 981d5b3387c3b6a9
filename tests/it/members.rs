//! `team member add|list|done|fail`, the `lead` alias, and the notices the lead gets.

use serde_json::json;

use crate::support::*;

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn add_prints_disambiguated_names_and_list_shows_them(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.create_team("demo");
    let out = p.run(&["member", "add", "demo", "reviewer"]);
    assert_ok(&["member", "add"], &out);
    assert_eq!(stdout(&out), "reviewer\n");
    assert_eq!(p.ok(&["member", "add", "demo", "reviewer"]), "reviewer-2\n");
    let v = p.json(&["member", "add", "demo", "reviewer"]);
    assert_eq!(v["name"], "reviewer-3");
    assert_eq!(v["agent"], "reviewer");
    assert_eq!(v["role"], "member");
    assert_eq!(v["status"], "running");
    // `lead` is reserved for the lead: an agent called lead gets another name.
    assert_eq!(p.ok(&["member", "add", "demo", "lead"]), "lead-2\n");

    let list = p.json(&["member", "list", "demo"]);
    assert_eq!(
        strings(&list, "name"),
        ["lead", "reviewer", "reviewer-2", "reviewer-3", "lead-2"]
    );
    assert_eq!(
        strings(&list, "agent"),
        ["lead", "reviewer", "reviewer", "reviewer", "lead"]
    );
    assert_eq!(
        strings(&list, "role"),
        ["lead", "member", "member", "member", "member"]
    );

    let text = p.ok(&["member", "list", "demo"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "MEMBER", "AGENT", "ROLE", "STATUS", "ELAPSED", "RESULT", "OR", "ERROR"
        ]
    );
    let row: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(&row[..4], ["reviewer", "reviewer", "member", "running"]);

    let err = p.fails(&["member", "add", "demo", "bad name"], 2);
    assert!(err.contains("invalid agent name `bad name`"), "{err}");
    let err = p.fails(&["member", "add", "ghost", "reviewer"], 3);
    assert!(err.contains("team ghost not found"), "{err}");
    p.fails(&["member", "list", "ghost"], 3);
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn done_and_fail_tell_the_lead_and_fail_held_tasks(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.create_team("demo");
    p.add_member("demo", "reviewer");
    p.add_member("demo", "coder");
    p.add_task("demo", "build it", &[]);
    p.add_task("demo", "test it", &[]);
    p.ok(&["task", "claim", "demo", "--as", "coder", "1"]);

    let out = p.run(&[
        "member",
        "done",
        "demo",
        "reviewer",
        "--result",
        "looks good",
    ]);
    assert_ok(&["member", "done"], &out);
    assert_eq!(stdout(&out), "reviewer completed\n");
    let inbox = p.peek("demo", "lead");
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["kind"], "completion");
    assert_eq!(inbox[0]["sender"], "reviewer");
    assert_eq!(inbox[0]["body"], "[AGENT COMPLETED] reviewer: looks good");

    let out = p.run(&[
        "member",
        "fail",
        "demo",
        "coder",
        "--error",
        "compiler crashed",
    ]);
    assert_ok(&["member", "fail"], &out);
    assert_eq!(stdout(&out), "coder failed\n");
    assert_eq!(stderr(&out), "task 1 is now failed\n");

    let inbox = p.json(&["inbox", "demo", "lead"]);
    assert_eq!(strings(&inbox, "kind"), ["completion", "failure", "system"]);
    assert_eq!(strings(&inbox, "sender"), ["reviewer", "coder", "team"]);
    assert_eq!(
        strings(&inbox, "body"),
        [
            "[AGENT COMPLETED] reviewer: looks good",
            "[AGENT FAILURE] coder: compiler crashed",
            "[ALL MEMBERS DONE] 1 completed, 1 failed",
        ]
    );

    // The failed member's in-progress task failed with it; the pending one is untouched.
    let t1 = p.json(&["task", "show", "demo", "1"]);
    assert_eq!(t1["status"], "failed");
    assert_eq!(t1["result"], "assignee coder failed: compiler crashed");
    assert_eq!(p.task_status("demo", 2), "pending");

    let members = p.json(&["member", "list", "demo"]);
    assert_eq!(
        strings(&members, "status"),
        ["running", "completed", "failed"]
    );
    assert_eq!(members[1]["result"], "looks good");
    assert_eq!(members[2]["error"], "compiler crashed");
    assert!(members[2]["ended_at_ms"].is_i64());

    // Terminal members stay terminal.
    let err = p.fails(&["member", "done", "demo", "reviewer"], 4);
    assert_eq!(
        err,
        "error: member reviewer in team demo is completed; it cannot be completed\n"
    );
    let err = p.fails(&["member", "fail", "demo", "coder"], 4);
    assert_eq!(
        err,
        "error: member coder in team demo is failed; it cannot be failed\n"
    );
    let err = p.fails(&["member", "done", "demo", "ghost"], 3);
    assert_eq!(
        err,
        "error: member ghost in team demo not found; see `team member list demo`\n"
    );
    // The wrong outcome flag is a usage error.
    p.add_member("demo", "extra");
    let err = p.fails(&["member", "done", "demo", "extra", "--error", "x"], 2);
    assert!(err.contains("takes --result, not --error"), "{err}");
    let err = p.fails(&["member", "fail", "demo", "extra", "--result", "x"], 2);
    assert!(err.contains("takes --error, not --result"), "{err}");
    assert_eq!(p.json(&["member", "list", "demo"])[3]["status"], "running");

    // --json: {member, tasks_changed, all_done}; the summary goes out again only when
    // all members have ended again.
    let v = p.json(&["member", "done", "demo", "extra"]);
    assert_eq!(keys(&v), ["all_done", "member", "tasks_changed"]);
    assert_eq!(v["all_done"], true);
    assert_eq!(v["member"]["status"], "completed");
    assert_eq!(v["tasks_changed"], json!([]));
    let inbox = p.json(&["inbox", "demo", "lead"]);
    assert_eq!(
        strings(&inbox, "body"),
        [
            "[AGENT COMPLETED] extra: ",
            "[ALL MEMBERS DONE] 2 completed, 1 failed"
        ]
    );
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn all_members_done_is_sent_once_when_the_last_member_ends(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.create_team("demo");
    for _ in 0..3 {
        p.add_member("demo", "w");
    }
    let summary = |p: &Project| {
        p.peek("demo", "lead")
            .iter()
            .filter(|m| {
                m["body"]
                    .as_str()
                    .unwrap()
                    .starts_with("[ALL MEMBERS DONE]")
            })
            .count()
    };
    let v = p.json(&["member", "done", "demo", "w"]);
    assert_eq!(v["all_done"], false);
    assert_eq!(summary(p), 0);
    p.ok(&["member", "fail", "demo", "w-2", "--error", "boom"]);
    assert_eq!(summary(p), 0);
    // The lead ending does not count as a member ending.
    let v = p.json(&["member", "done", "demo", "w-3", "--result", "fine"]);
    assert_eq!(v["all_done"], true);
    assert_eq!(summary(p), 1);
    let last = p.peek("demo", "lead").pop().unwrap();
    assert_eq!(last["body"], "[ALL MEMBERS DONE] 2 completed, 1 failed");
    assert_eq!(last["kind"], "system");
    assert_eq!(last["recipient"], "lead");
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn lead_names_the_teams_lead_everywhere(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    let v = p.json(&["create", "demo", "--lead", "boss"]);
    assert_eq!(v["lead"]["name"], "lead");
    assert_eq!(v["lead"]["agent"], "boss");
    p.add_member("demo", "worker");
    p.ok(&[
        "send",
        "demo",
        "--from",
        "worker",
        "--to",
        "lead",
        "for the lead",
    ]);
    let out = p.ok(&["inbox", "demo", "lead"]);
    assert!(out.starts_with("--- #1 from worker (text) at "), "{out}");
    assert!(out.ends_with("\nfor the lead\n"), "{out}");
    p.ok(&[
        "send",
        "demo",
        "--from",
        "lead",
        "--to",
        "worker",
        "from the lead",
    ]);
    let inbox = p.json(&["inbox", "demo", "worker"]);
    assert_eq!(inbox[0]["sender"], "lead");
    p.add_task("demo", "lead's own", &["--assignee", "lead"]);
    assert_eq!(
        p.ok(&["task", "claim", "demo", "--as", "lead"]),
        "1\tlead's own\n"
    );
    let v = p.json(&["member", "done", "demo", "lead", "--result", "wrapped up"]);
    assert_eq!(v["member"]["role"], "lead");
    assert_eq!(v["member"]["status"], "completed");
    // The lead does not notify itself.
    assert_eq!(p.json(&["inbox", "demo", "lead"]), json!([]));
}
