//! Ctrl-C (SIGINT) during the review phase of `team run spec-review`: exit 130 at once (not
//! after the replies in flight), the team is disbanded, no member is left live, no process is
//! left in the project; SIGTERM does the same.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use team_testkit::ScriptedServer;

use crate::support::{
    Backend, Faults, Project, SPECIALISTS, json_lines, pep_0765, poll_until, processes_in,
    run_args, script,
};

/// The scripted replies take this long: the review phase is still running when the signal
/// comes, and a run that waited for the replies would be caught by [`EXIT_LIMIT`].
const LATENCY_MS: u64 = 120_000;

/// How long the run may take to exit after the signal.
const EXIT_LIMIT: Duration = Duration::from_secs(30);

async fn interrupt_during_review(backend: Backend, signal: Signal) {
    let review = pep_0765();
    let server = ScriptedServer::start(script(&review, &Faults::default(), LATENCY_MS))
        .await
        .unwrap();
    let Some(p) = Project::on(backend, &server.base_url()).await else {
        return;
    };
    let spec = p.spec(review.spec);
    let child = p
        .command(&run_args(
            &spec,
            "interrupted",
            &["--events", "events.jsonl"],
        ))
        .spawn()
        .expect("spawn team run");
    let pid = child.id().expect("the child's pid");

    // The review phase is under way: all five specialists are waiting for their replies.
    let reviewing = poll_until(Duration::from_secs(90), || {
        server.in_flight() >= SPECIALISTS.len()
    })
    .await;
    assert!(
        reviewing,
        "the five review requests never were in flight together (in flight: {}, received: {})",
        server.in_flight(),
        server.request_count()
    );
    let show = p.show("interrupted").await;
    let running: Vec<&str> = show["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter(|m| m["name"] != "lead" && m["status"] == "running")
        .map(|m| m["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        running, SPECIALISTS,
        "the specialists are running: {show:#}"
    );

    kill(Pid::from_raw(pid as i32), signal).expect("signal team run");
    let sent = Instant::now();
    let out = match tokio::time::timeout(EXIT_LIMIT, child.wait_with_output()).await {
        Ok(out) => out.expect("wait for team run"),
        // The child is dropped with the future, and killed.
        Err(_) => panic!("team run did not exit within {EXIT_LIMIT:?} of {signal}"),
    };
    let took = sent.elapsed();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(130),
        "exit after {signal} ({took:?}); stderr:\n{err}"
    );
    assert!(
        err.contains("was cancelled; the team is disbanded"),
        "stderr:\n{err}"
    );
    assert_eq!(
        server.request_count(),
        SPECIALISTS.len(),
        "no phase after review ran"
    );

    // The team is disbanded and no member is live.
    let show = p.show("interrupted").await;
    assert_eq!(show["team"]["status"], "disbanded", "{show:#}");
    assert!(
        show["team"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("signal")),
        "{show:#}"
    );
    for m in show["members"].as_array().expect("members") {
        let status = m["status"].as_str().unwrap_or("");
        assert!(
            ["cancelled", "failed", "completed", "timed_out"].contains(&status),
            "member {} left {status}: {show:#}",
            m["name"]
        );
    }
    for s in SPECIALISTS {
        let m = show["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == s)
            .unwrap_or_else(|| panic!("no member {s}"));
        assert_eq!(m["status"], "cancelled", "{m:#}");
    }
    assert_eq!(
        p.json(&["list"]).await,
        serde_json::json!([]),
        "no active team is left"
    );
    let list = p.json(&["list", "--all"]).await;
    let team = list
        .as_array()
        .expect("list")
        .iter()
        .find(|t| t["name"] == "interrupted")
        .expect("the team is listed");
    assert_eq!(team["members_live"], 0, "{team:#}");

    // The events written at the end say the same.
    let events = json_lines(&p.read("events.jsonl"));
    assert!(
        events.iter().any(|e| e["kind"] == "team.disbanded"),
        "events: {events:#?}"
    );

    // No process is left behind in the project.
    let left = processes_in(p.root());
    assert!(left.is_empty(), "processes left in the project: {left:?}");
}

mod sigint_during_review {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        interrupt_during_review(Backend::Sqlite, Signal::SIGINT).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        interrupt_during_review(Backend::Postgres, Signal::SIGINT).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_review() {
    interrupt_during_review(Backend::Sqlite, Signal::SIGTERM).await;
}
