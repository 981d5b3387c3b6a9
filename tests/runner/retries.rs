//! Issue 18, retries: a member whose runner is killed goes back to the queue for its next
//! attempt when its agent file sets `retries:`, a surviving runner runs that attempt after the
//! backoff, `team show` says which attempt it is, and the lead hears of no failure.

use std::time::Duration;

use serde_json::Value;

use crate::support::{Backend, Project, eventually, pids_of, rstest, signal};

/// The heartbeat period of these tests' runners (see `lost.rs`).
const HEARTBEAT_MS: u64 = 250;

/// Sleeps until killed on its first attempt; answers `second` on the next one.
const FLAKY: &str = r#"
if [ -e "$ROOT/attempted" ]; then echo second; exit 0; fi
touch "$ROOT/attempted"
sleep 300
"#;

fn ended(p: &Project, team: &str, name: &str) -> Value {
    eventually(Duration::from_secs(60), &format!("{name} to end"), || {
        let m = p.member(team, name);
        matches!(
            m["status"].as_str(),
            Some("completed" | "failed" | "cancelled" | "timed_out")
        )
        .then_some(m)
    })
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn a_member_of_a_killed_runner_is_retried_by_a_surviving_one(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.heartbeat_ms(HEARTBEAT_MS);
    p.agent("flaky", FLAKY);
    // The same agent with a retry policy (the script `agent` wrote stays).
    let text = std::fs::read_to_string(p.path(".team/agents/flaky.md")).unwrap();
    p.agent_file(
        "flaky",
        &text.replacen("---\n", "---\nretries: 2\nbackoff: 200ms\n", 1),
    );
    p.ok(&["create", "crew"]);
    let a = p.start_runner("runner-a", &[]);
    let s = p.spawn_bg("crew", "flaky", "go", &[]);
    eventually(
        Duration::from_secs(30),
        "the first attempt to start",
        || pids_of(&p.lines("pids.log"), &s.name).first().copied(),
    );
    let m = p.member("crew", &s.name);
    assert_eq!(
        (m["attempt"].as_i64(), m["max_attempts"].as_i64()),
        (Some(1), Some(3)),
        "{m}"
    );
    let _b = p.start_runner("runner-b", &[]);

    signal(&a.pid().to_string(), "KILL");
    let m = ended(p, "crew", &s.name);
    // Before: failed with `runner lost`.
    assert_eq!(m["status"], "completed", "{m}");
    assert_eq!(m["result"], "second\n", "{m}");
    assert_eq!(m["attempt"], 2, "{m}");
    assert_eq!(m["max_attempts"], 3, "{m}");

    let events = p.json(&["logs", "crew"]);
    let retried: Vec<&Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "member.retried")
        .collect();
    assert_eq!(retried.len(), 1, "{events:#}");
    assert_eq!(retried[0]["payload"]["cause"], "runner_lost");
    assert_eq!(retried[0]["payload"]["attempt"], 2);
    let inbox = p.peek("crew", "lead");
    assert!(
        inbox.iter().all(|x| x["kind"] != "failure"),
        "a retried attempt sent a failure notice: {inbox:#?}"
    );
    let shown = p.ok(&["show", "crew"]);
    assert!(shown.contains("attempt 2 of 3"), "{shown}");
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn team_resume_queues_a_member_lost_with_its_runner_again(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.heartbeat_ms(HEARTBEAT_MS);
    p.agent("flaky", FLAKY);
    p.ok(&["create", "crew"]);
    let a = p.start_runner("runner-a", &[]);
    let s = p.spawn_bg("crew", "flaky", "go", &[]);
    eventually(
        Duration::from_secs(30),
        "the first attempt to start",
        || pids_of(&p.lines("pids.log"), &s.name).first().copied(),
    );
    signal(&a.pid().to_string(), "KILL");
    drop(a);
    let r = p.json(&["reconcile"]);
    assert_eq!(r["members_failed"].as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(p.member("crew", &s.name)["status"], "failed");

    // Before: no such command.
    let r = p.json(&["resume", "crew"]);
    assert_eq!(r["members"], serde_json::json!([s.name]), "{r}");
    assert_eq!(r["team"]["status"], "active", "{r}");
    let runners = p.json(&["runners"]);
    let _detached: Vec<crate::support::ForeignPid> = runners
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter_map(|r| r["pid"].as_i64())
                .map(|pid| crate::support::ForeignPid(pid as i32))
                .collect()
        })
        .unwrap_or_default();
    let m = ended(p, "crew", &s.name);
    assert_eq!(m["status"], "completed", "{m}");
    assert_eq!(m["result"], "second\n", "{m}");
    assert_eq!(m["attempt"], 2, "{m}");
    let inbox = p.peek("crew", "lead");
    assert!(
        inbox.iter().all(|x| x["kind"] != "failure"),
        "the interruption's notice is withdrawn: {inbox:#?}"
    );
    // A finished member is not queued again.
    let r = p.json(&["resume", "crew"]);
    assert_eq!(r["members"], serde_json::json!([]), "{r}");
}
