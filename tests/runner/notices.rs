//! Completion and failure notices: background members spawned from the shell, run by the
//! runner that `team spawn --background` starts. The lead's inbox holds one `completion`
//! notice per completed member, one `failure` notice (exit status and stderr tail) for the
//! member that crashed, and one `[ALL MEMBERS DONE]` summary after them; the task the crashing
//! agent claimed (with `team task claim`, through the environment it was given) is `failed`,
//! and nothing else on the board moved.

use std::time::Duration;

use serde_json::Value;

use crate::support::{Backend, ForeignPid, Project, body_of, eventually, of_kind, rstest, stdout};

/// Waits for the `go` file (so every member is queued before any ends: the summary is sent
/// when the last *existing* member ends), then answers with its name and prompt.
const WORKER: &str = r#"
prompt=$(cat)
while [ ! -e "$ROOT/go" ]; do sleep 0.05; done
echo "result of $TEAM_MEMBER: $prompt"
"#;

/// Claims the task whose id is its prompt, writes a long stderr, and exits 3.
const CRASHER: &str = r#"
task=$(cat)
"$TEAM_BIN" task claim "$TEAM_ID" "$task" --as "$TEAM_MEMBER" > "$ROOT/claimed" || exit 99
while [ ! -e "$ROOT/go" ]; do sleep 0.05; done
echo "HEAD-MARKER: the start of a long stderr" >&2
head -c 3000 /dev/zero | tr '\0' x >&2
echo >&2
echo "fatal: TAIL-MARKER" >&2
exit 3
"#;

fn task(p: &Project, id: &str) -> Value {
    p.json(&["task", "show", "crew", id])
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn lead_gets_one_notice_per_member_and_a_crash_fails_its_task(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.agent("worker", WORKER);
    p.agent("crasher", CRASHER);
    p.ok(&["create", "crew"]);
    assert_eq!(
        p.ok(&["task", "add", "crew", "Investigate the crash"])
            .trim(),
        "1"
    );
    assert_eq!(
        p.ok(&["task", "add", "crew", "Nobody claims this"]).trim(),
        "2"
    );

    let mut runners = Vec::new();
    let mut workers = Vec::new();
    for i in 0..3 {
        let s = p.spawn_bg("crew", "worker", &format!("job {i}"), &[]);
        runners.extend(s.runner_pid.map(ForeignPid));
        workers.push(s.name);
    }
    assert_eq!(workers, ["worker", "worker-2", "worker-3"]);
    let s = p.spawn_bg("crew", "crasher", "1", &[]);
    runners.extend(s.runner_pid.map(ForeignPid));
    assert_eq!(s.name, "crasher");
    // The first spawn started a runner. (A spawn that follows before that runner has
    // registered may start a second one; either way, `runners` stops them all.)
    assert!(
        !runners.is_empty(),
        "no runner was serving: the first spawn starts one"
    );

    // The crasher claimed its task through the environment the runner gave it.
    eventually(
        Duration::from_secs(30),
        "the crasher to claim task 1",
        || p.read("claimed").starts_with("1\t").then_some(()),
    );
    let t1 = task(p, "1");
    assert_eq!(t1["status"], "in_progress", "{t1}");
    assert_eq!(t1["assignee"], "crasher", "{t1}");

    std::fs::write(p.path("go"), "").unwrap();
    let o = p.run(&["--json", "wait", "crew", "--timeout", "60"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "one member failed: wait exits 1\n{}",
        stdout(&o)
    );
    let waited: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(waited["all_completed"], false);
    assert_eq!(waited["members"].as_array().unwrap().len(), 4, "{waited}");

    // The member rows.
    for (i, w) in workers.iter().enumerate() {
        let m = p.member("crew", w);
        assert_eq!(m["status"], "completed", "{m}");
        assert_eq!(m["result"], format!("result of {w}: job {i}\n"), "{m}");
    }
    let c = p.member("crew", "crasher");
    assert_eq!(c["status"], "failed", "{c}");
    let err = c["error"].as_str().unwrap();
    assert!(err.contains("exit status 3"), "{err}");
    assert!(err.contains("fatal: TAIL-MARKER"), "the stderr tail: {err}");
    assert!(
        !err.contains("HEAD-MARKER"),
        "only the tail of stderr: {err}"
    );

    // The lead's inbox: one notice per member, then the summary, nothing else.
    let inbox = p.peek("crew", "lead");
    let completions = of_kind(&inbox, "completion");
    assert_eq!(completions.len(), 3, "{inbox:#?}");
    for (i, w) in workers.iter().enumerate() {
        let mine: Vec<&&Value> = completions.iter().filter(|m| m["sender"] == *w).collect();
        assert_eq!(mine.len(), 1, "completion notices from {w}: {inbox:#?}");
        assert_eq!(
            body_of(mine[0]),
            format!("[AGENT COMPLETED] {w}: result of {w}: job {i}")
        );
    }
    let failures = of_kind(&inbox, "failure");
    assert_eq!(failures.len(), 1, "{inbox:#?}");
    assert_eq!(failures[0]["sender"], "crasher");
    let f = body_of(failures[0]);
    assert!(f.starts_with("[AGENT FAILURE] crasher: "), "{f}");
    assert!(f.contains("exit status 3"), "{f}");
    assert!(f.contains("fatal: TAIL-MARKER"), "{f}");
    let system = of_kind(&inbox, "system");
    assert_eq!(system.len(), 1, "{inbox:#?}");
    assert_eq!(
        body_of(system[0]),
        "[ALL MEMBERS DONE] 3 completed, 1 failed"
    );
    assert_eq!(inbox.len(), 5, "{inbox:#?}");
    let last = inbox
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .max()
        .unwrap();
    assert_eq!(
        system[0]["id"].as_i64(),
        Some(last),
        "the summary comes last: {inbox:#?}"
    );
    assert!(inbox.iter().all(|m| m["recipient"] == "lead"), "{inbox:#?}");

    // The crash failed the task it held; the other task did not move.
    let t1 = task(p, "1");
    assert_eq!(t1["status"], "failed", "{t1}");
    assert_eq!(t1["assignee"], "crasher", "{t1}");
    let t2 = task(p, "2");
    assert_eq!(t2["status"], "pending", "{t2}");
    assert_eq!(t2["assignee"], Value::Null, "{t2}");

    // The notices are delivered once: a take gets them all, the next one nothing.
    let taken = p.json(&["inbox", "crew", "lead"]);
    assert_eq!(taken.as_array().unwrap().len(), 5, "{taken}");
    let again = p.json(&["inbox", "crew", "lead"]);
    assert_eq!(again.as_array().unwrap().len(), 0, "{again}");
}
