//! Reconciliation: `kill -9` of the detached runner that `team spawn --background` started,
//! in the middle of a run; the surviving runner reconciles it by itself (issue 14), and
//! `team reconcile` then finds nothing left: the members it held are `failed` with
//! `runner lost`, the task one of them held failed with it, their lead got the failure
//! notices; nothing else changed: the member that had completed, the open task, another team
//! served by another (live) runner, its shell-driven member, its task and its messages.

use std::time::Duration;

use serde_json::Value;

use crate::support::{
    Backend, ForeignPid, Project, alive, body_of, eventually, of_kind, pids_of, rstest, signal,
};

/// Answers at once.
const QUICK: &str = r#"echo "quick: $(cat)""#;

/// Sleeps until killed.
const SLEEPER: &str = "sleep 300";

/// Claims the task whose id is its prompt, then sleeps until killed.
const CLAIMER: &str = r#"
task=$(cat)
"$TEAM_BIN" task claim "$TEAM_ID" "$task" --as "$TEAM_MEMBER" > "$ROOT/claimed" || exit 99
sleep 300
"#;

/// Waits until the script of `member` logged its pid; returns it.
fn script_pid(p: &Project, member: &str) -> i32 {
    eventually(
        Duration::from_secs(30),
        &format!("{member} to start"),
        || pids_of(&p.lines("pids.log"), member).first().copied(),
    )
}

/// What `team show --json` says of a team: team, members, tasks.
fn snapshot(p: &Project, team: &str) -> Value {
    p.json(&["show", team])
}

fn strings(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn kill_9_of_a_detached_runner_then_reconcile_fails_only_its_members(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    // The detached runner takes its limit from the config: 2, so a third member has to
    // go to the second runner.
    p.config("[team]\nmax_agents = 2\n");
    p.agent("quick", QUICK);
    p.agent("sleeper", SLEEPER);
    p.agent("claimer", CLAIMER);
    p.agent("bystander", SLEEPER);
    p.ok(&["create", "crew"]);
    p.ok(&["create", "other"]);
    assert_eq!(
        p.ok(&["task", "add", "crew", "Held by the claimer"]).trim(),
        "1"
    );
    assert_eq!(p.ok(&["task", "add", "crew", "Open"]).trim(), "2");

    // A member that completes before the crash.
    let q = p.spawn_bg("crew", "quick", "before", &[]);
    let r1 = q
        .runner_pid
        .expect("the first background spawn starts a runner");
    let _r1 = ForeignPid(r1);
    eventually(
        Duration::from_secs(30),
        "the quick member to complete",
        || (p.status("crew", &q.name) == "completed").then_some(()),
    );
    // Read its notices now, so the lead's inbox then holds only what follows.
    assert_eq!(
        p.json(&["inbox", "crew", "lead"]).as_array().unwrap().len(),
        2
    );

    // Two members the detached runner is running when it dies; one holds task 1.
    let c = p.spawn_bg("crew", "claimer", "1", &[]);
    let s = p.spawn_bg("crew", "sleeper", "sleep", &[]);
    assert!(
        c.runner_pid.is_none() && s.runner_pid.is_none(),
        "one runner serves"
    );
    script_pid(p, &c.name);
    script_pid(p, &s.name);
    eventually(Duration::from_secs(30), "the claim", || {
        p.read("claimed").starts_with("1\t").then_some(())
    });
    let lost_runner = p.member("crew", &c.name)["runner_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(p.member("crew", &s.name)["runner_id"], lost_runner.as_str());

    // Another team, served by a second runner (the first has no free slot), with a
    // shell-driven member holding a task and an unread message.
    let runner2 = p.start_runner("runner-2", &["--max-agents", "5"]);
    let o = p.spawn_bg("other", "bystander", "sleep", &[]);
    assert!(o.runner_pid.is_none(), "two runners serve");
    let other_pid = script_pid(p, &o.name);
    // The runner records the pid of the process on the row as it starts it: wait for it,
    // so that the snapshot below is of a settled row.
    eventually(
        Duration::from_secs(30),
        "the member's pid on its row",
        || (p.member("other", &o.name)["pid"] == other_pid).then_some(()),
    );
    let o_row = p.member("other", &o.name);
    assert_eq!(o_row["status"], "running", "{o_row}");
    assert_ne!(o_row["runner_id"], lost_runner.as_str(), "{o_row}");
    assert_eq!(p.ok(&["member", "add", "other", "quick"]).trim(), "quick");
    assert_eq!(p.ok(&["task", "add", "other", "Shell work"]).trim(), "1");
    p.ok(&["task", "claim", "other", "--as", "quick"]);
    p.ok(&[
        "send",
        "other",
        "--from",
        "lead",
        "--to",
        "quick",
        "keep going",
    ]);
    let other_before = snapshot(p, "other");
    let other_inbox = p.peek("other", "quick");
    let quick_before = p.member("crew", &q.name);
    let task2_before = p.json(&["task", "show", "crew", "2"]);

    // The crash. The surviving runner notices by itself, at its next heartbeat (issue 14;
    // before, nothing noticed until `team reconcile`).
    signal(&r1.to_string(), "KILL");
    eventually(Duration::from_secs(10), "the runner to die", || {
        (!alive(r1)).then_some(())
    });
    eventually(Duration::from_secs(15), "runner-2 to reconcile", || {
        (p.status("crew", &c.name) == "failed" && p.status("crew", &s.name) == "failed")
            .then_some(())
    });
    let r = p.json(&["reconcile"]);
    assert_eq!(
        strings(&r["runners_lost"]),
        Vec::<String>::new(),
        "already reconciled: {r}"
    );
    assert_eq!(strings(&r["members_failed"]), Vec::<String>::new(), "{r}");

    // Its members failed with `runner lost`; the task the claimer held failed with it.
    for m in [&c.name, &s.name] {
        let row = p.member("crew", m);
        assert_eq!(row["status"], "failed", "{row}");
        assert_eq!(row["error"], "runner lost", "{row}");
    }
    let t1 = p.json(&["task", "show", "crew", "1"]);
    assert_eq!(t1["status"], "failed", "{t1}");

    // The lead was told, under each member's own name, and then that all are done.
    let inbox = p.peek("crew", "lead");
    let failures = of_kind(&inbox, "failure");
    assert_eq!(failures.len(), 2, "{inbox:#?}");
    for m in [&c.name, &s.name] {
        let told: Vec<_> = failures
            .iter()
            .filter(|x| x["sender"] == m.as_str())
            .collect();
        assert_eq!(told.len(), 1, "{inbox:#?}");
        assert_eq!(
            body_of(told[0]),
            format!("[AGENT FAILURE] {m}: runner lost")
        );
    }
    let system = of_kind(&inbox, "system");
    assert_eq!(system.len(), 1, "{inbox:#?}");
    assert_eq!(
        body_of(system[0]),
        "[ALL MEMBERS DONE] 1 completed, 2 failed"
    );
    assert_eq!(inbox.len(), 3, "{inbox:#?}");

    // Nothing else changed.
    assert_eq!(p.member("crew", &q.name), quick_before);
    assert_eq!(p.json(&["task", "show", "crew", "2"]), task2_before);
    assert_eq!(p.json(&["show", "crew"])["team"]["status"], "active");
    assert_eq!(snapshot(p, "other"), other_before);
    assert_eq!(p.peek("other", "quick"), other_inbox);
    assert!(alive(runner2.pid()), "{}", runner2.log_text());
    assert!(alive(other_pid), "the other runner's member keeps running");

    // A second reconciliation finds nothing to do.
    let again = p.json(&["reconcile"]);
    assert_eq!(
        again["runners_lost"].as_array().unwrap().len(),
        0,
        "{again}"
    );
    assert_eq!(
        again["members_failed"].as_array().unwrap().len(),
        0,
        "{again}"
    );
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn a_runner_starting_after_a_crash_reconciles(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.agent("sleeper", SLEEPER);
    p.ok(&["create", "crew"]);
    let s = p.spawn_bg("crew", "sleeper", "sleep", &[]);
    let r1 = s
        .runner_pid
        .expect("the first background spawn starts a runner");
    let _r1 = ForeignPid(r1);
    script_pid(p, &s.name);
    assert_eq!(p.status("crew", &s.name), "running");

    signal(&r1.to_string(), "KILL");
    eventually(Duration::from_secs(10), "the runner to die", || {
        (!alive(r1)).then_some(())
    });
    // The next runner reconciles as it starts.
    let _r2 = p.start_runner("runner-2", &[]);
    let m = p.member("crew", &s.name);
    assert_eq!(m["status"], "failed", "{m}");
    assert_eq!(m["error"], "runner lost", "{m}");
    let inbox = p.peek("crew", "lead");
    let failures = of_kind(&inbox, "failure");
    assert_eq!(failures.len(), 1, "{inbox:#?}");
    assert_eq!(
        body_of(failures[0]),
        format!("[AGENT FAILURE] {}: runner lost", s.name)
    );
    let r = p.json(&["reconcile"]);
    assert_eq!(
        r["runners_lost"],
        serde_json::json!([]),
        "already reconciled: {r}"
    );
}
