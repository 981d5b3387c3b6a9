//! Approval gates that work headless (issue 18), on both engines, through the binary: a
//! member whose `bash` call asks, in a run with `--on-ask park`, parks (`waiting`, holding
//! no slot) on an approval request that `team approvals` lists; `team approve ID` runs the
//! call and the member goes on, `team deny ID --reason TEXT` sends the reason to the model as
//! the tool's error, and `--always` allows the tool for the rest of the run.

use std::time::{Duration, Instant};

use serde_json::Value;
use team_testkit::{Reply, ScriptRequest, ScriptedServer};

use crate::support::{
    Backend, Project, Wire, code, dump, events_of, from_agent, requests_of, tool_texts,
};

/// The command's output differs from its text, so seeing it proves the command ran.
const FIRST: &str = r#"{"command":"echo GATE-OK-$((40+2))"}"#;
const SECOND: &str = r#"{"command":"echo GATE-TWO-$((6*7))"}"#;

/// `shell` calls bash with [`FIRST`], then (with `two`) with [`SECOND`], then answers; any
/// other agent answers at once.
fn script(two: bool) -> team_testkit::Script {
    team_testkit::Script::from_fn(move |req: &ScriptRequest| {
        if !from_agent(req, "shell") {
            return Reply::text("quick done");
        }
        match req.turn {
            1 => Reply::tool_call("bash", FIRST),
            2 if two => Reply::tool_call("bash", SECOND),
            _ => Reply::text("shell done"),
        }
    })
}

/// Polls `check` every 50 ms for up to 60 s.
async fn eventually<F, Fut, T>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The pending approvals of `team` (`team approvals TEAM --json`).
async fn pending(p: &Project, team: &str) -> Vec<Value> {
    p.json(&["approvals", team])
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits until `team` has a pending approval and returns it.
async fn first_pending(p: &Project, team: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(a) = pending(p, team).await.into_iter().next() {
            return a;
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(p.path(".team/runner.log")).unwrap_or_default();
            panic!(
                "no pending approval in team {team}: events {:#?}\nrunner log:\n{log}",
                p.events(team).await
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until member `name` of `team` has status `status`.
async fn status_reaches(p: &Project, team: &str, name: &str, status: &str) {
    eventually(&format!("{name} {status}"), || async {
        (p.member(team, name).await["status"] == status).then_some(())
    })
    .await
}

async fn project(backend: Backend, server: &ScriptedServer) -> Option<Project> {
    let p = Project::on(backend, Wire::OpenAi, &server.base_url(), "max_agents = 1").await?;
    p.agent("shell", "model: mock/m", "You run commands.");
    p.agent("quick", "model: mock/m", "You answer at once.");
    Some(p)
}

async fn spawn_parked(p: &Project, team: &str) {
    p.create_team(team).await;
    let out = p
        .team(&[
            "spawn",
            team,
            "shell",
            "--prompt",
            "run it",
            "--background",
            "--on-ask",
            "park",
        ])
        .await;
    assert!(out.status.success(), "spawn: {}", dump(&out));
}

#[rstest::rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_parked_call_waits_without_a_slot_and_runs_once_approved(#[case] backend: Backend) {
    let server = ScriptedServer::start(script(false)).await.expect("server");
    let Some(p) = project(backend, &server).await else {
        return;
    };
    spawn_parked(&p, "gate").await;

    let asked = first_pending(&p, "gate").await;
    assert_eq!(asked["member"], "shell");
    assert_eq!(asked["tool"], "bash");
    assert_eq!(asked["kind"], "tool");
    assert_eq!(asked["status"], "pending");
    assert_eq!(asked["arguments"], FIRST);
    assert!(
        asked["summary"].as_str().unwrap_or("").contains("GATE-OK"),
        "{asked}"
    );
    assert!(
        asked["why"].as_str().unwrap_or("").contains("bash"),
        "{asked}"
    );
    status_reaches(&p, "gate", "shell", "waiting").await;

    // The waiting member holds no slot: with max_agents = 1 another member runs to its end.
    let out = p
        .team(&["spawn", "gate", "quick", "--prompt", "hi", "--background"])
        .await;
    assert!(out.status.success(), "spawn quick: {}", dump(&out));
    status_reaches(&p, "gate", "quick", "completed").await;
    assert_eq!(p.member("gate", "shell").await["status"], "waiting");
    assert_eq!(requests_of(&server.requests(), "shell").len(), 1);

    let id = asked["id"].as_i64().expect("id").to_string();
    let approved = p.json(&["approve", &id]).await;
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["decided_by"], "user");

    status_reaches(&p, "gate", "shell", "completed").await;
    let reqs = requests_of(&server.requests(), "shell");
    assert_eq!(reqs.len(), 2, "two model calls");
    let results = tool_texts(&reqs[1]);
    assert!(
        results.len() == 1 && results[0].contains("GATE-OK-42"),
        "the approved command did not run: {results:#?}"
    );
    assert!(pending(&p, "gate").await.is_empty());
    let all = p.json(&["approvals", "gate", "--all"]).await;
    assert_eq!(all.as_array().map(Vec::len), Some(1), "{all}");

    let events = p.events("gate").await;
    for kind in [
        "approval.requested",
        "approval.approved",
        "member.waiting",
        "tool.call",
    ] {
        assert_eq!(
            events_of(&events, kind, Some("shell")).len(),
            1,
            "{kind}: {events:#?}"
        );
    }
    // A decision is made once.
    let again = p.team(&["approve", &id]).await;
    assert_eq!(code(&again), 4, "{}", dump(&again));
    let unknown = p.team(&["deny", "999999", "--reason", "no"]).await;
    assert_eq!(code(&unknown), 3, "{}", dump(&unknown));
}

#[rstest::rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_denied_call_gives_the_model_the_reason(#[case] backend: Backend) {
    let server = ScriptedServer::start(script(false)).await.expect("server");
    let Some(p) = project(backend, &server).await else {
        return;
    };
    spawn_parked(&p, "nope").await;
    let asked = first_pending(&p, "nope").await;
    let id = asked["id"].as_i64().expect("id").to_string();
    let empty = p.team(&["deny", &id, "--reason", "  "]).await;
    assert_eq!(code(&empty), 2, "{}", dump(&empty));
    let out = p
        .team(&["deny", &id, "--reason", "DENY-7: no shell in this repo"])
        .await;
    assert!(out.status.success(), "deny: {}", dump(&out));

    status_reaches(&p, "nope", "shell", "completed").await;
    let reqs = requests_of(&server.requests(), "shell");
    assert_eq!(reqs.len(), 2, "two model calls");
    let results = tool_texts(&reqs[1]);
    assert_eq!(results.len(), 1, "{results:#?}");
    assert!(
        results[0].contains("DENY-7: no shell in this repo") && !results[0].contains("GATE-OK-42"),
        "{}",
        results[0]
    );
    let events = p.events("nope").await;
    let denied = events_of(&events, "tool.denied", Some("shell"));
    assert_eq!(denied.len(), 1, "{events:#?}");
    assert_eq!(denied[0]["payload"]["source"]["kind"], "human_denied");
    assert_eq!(
        events_of(&events, "approval.denied", Some("shell")).len(),
        1
    );
}

#[rstest::rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn always_allows_the_tool_for_the_rest_of_the_run(#[case] backend: Backend) {
    let server = ScriptedServer::start(script(true)).await.expect("server");
    let Some(p) = project(backend, &server).await else {
        return;
    };
    spawn_parked(&p, "always").await;
    let asked = first_pending(&p, "always").await;
    let id = asked["id"].as_i64().expect("id").to_string();
    let out = p.team(&["approve", &id, "--always"]).await;
    assert!(out.status.success(), "approve --always: {}", dump(&out));

    status_reaches(&p, "always", "shell", "completed").await;
    let reqs = requests_of(&server.requests(), "shell");
    assert_eq!(reqs.len(), 3, "three model calls");
    assert!(tool_texts(&reqs[1])[0].contains("GATE-OK-42"));
    assert!(
        tool_texts(&reqs[2])
            .last()
            .is_some_and(|t| t.contains("GATE-TWO-42")),
        "the second call was not allowed: {:#?}",
        tool_texts(&reqs[2])
    );
    let all = p.json(&["approvals", "always", "--all"]).await;
    assert_eq!(
        all.as_array().map(Vec::len),
        Some(1),
        "the second call asked again: {all}"
    );
    assert_eq!(all[0]["always"], true);
}

/// `team run --on-ask park` on a workflow whose members all park: the run stops with exit 20
/// ("needs input"), printing the pending requests (JSON with `--format json`); the team stays
/// active with no owner to fail it, so a later step can approve (and resume).
#[rstest::rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_whose_members_all_wait_exits_20_with_the_requests(#[case] backend: Backend) {
    let server = ScriptedServer::start(script(false)).await.expect("server");
    let Some(p) = project(backend, &server).await else {
        return;
    };
    p.agent("fan-lead", "model: mock/m", "You merge results.");
    std::fs::create_dir_all(p.path(".team/workflows")).expect("mkdir");
    std::fs::write(
        p.path(".team/workflows/gated.toml"),
        "name = \"gated\"\ndescription = \"two shells\"\nkind = \"fanout\"\nlead = \"fan-lead\"\n\n\
         [params]\ncount = \"2\"\nagent = \"shell\"\n\n\
         [prompts]\nmember = \"Run it as worker {i}.\"\nsynthesis = \"Merge:\\n{results}\"\n",
    )
    .expect("workflow file");

    let out = p
        .team(&[
            "run", "gated", "--name", "ci", "--on-ask", "park", "--format", "json",
        ])
        .await;
    assert_eq!(code(&out), 20, "{}", dump(&out));
    let pending: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", dump(&out)));
    let pending = pending.as_array().cloned().unwrap_or_default();
    let mut members: Vec<&str> = pending
        .iter()
        .map(|a| a["member"].as_str().unwrap_or(""))
        .collect();
    members.sort_unstable();
    assert_eq!(members, ["shell", "shell-2"], "{pending:#?}");
    assert!(
        pending
            .iter()
            .all(|a| a["status"] == "pending" && a["tool"] == "bash")
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs input"), "{err}");
    assert!(err.contains("team approve"), "{err}");

    let show = p.json(&["show", "ci"]).await;
    assert_eq!(show["team"]["status"], "active", "{show:#}");
    assert!(show["team"]["owner_pid"].is_null(), "{show:#}");
    // Nothing fails the team once its run is gone, and the requests can be decided.
    let rec = p.team(&["reconcile"]).await;
    assert!(rec.status.success(), "{}", dump(&rec));
    assert_eq!(p.json(&["show", "ci"]).await["team"]["status"], "active");
    let id = pending[0]["id"].to_string();
    let approved = p.json(&["approve", &id]).await;
    assert_eq!(approved["status"], "approved");
    let events = p.events("ci").await;
    assert_eq!(
        events_of(&events, "team.released", None).len(),
        1,
        "{events:#?}"
    );
}

/// An agent with `plan: required` answers with a plan first, offered no write tools; the plan
/// is an approval request: denied, the model reads the reason and revises it; approved, its
/// write tools are unlocked and it carries the plan out.
#[rstest::rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plan_is_approved_before_the_write_tools_unlock(#[case] backend: Backend) {
    let script = team_testkit::Script::from_fn(|req: &ScriptRequest| match req.turn {
        1 => Reply::text("PLAN-1: write out.txt"),
        2 => Reply::text("PLAN-2: write out.txt, with a test"),
        3 => Reply::tool_call("write_file", r#"{"path":"out.txt","content":"planned"}"#),
        _ => Reply::text("carried out"),
    });
    let server = ScriptedServer::start(script).await.expect("server");
    let Some(p) = project(backend, &server).await else {
        return;
    };
    p.agent(
        "planner",
        "model: mock/m\nplan: required\npermission: allow",
        "You change files.",
    );
    p.create_team("plans").await;
    let out = p
        .team(&[
            "spawn",
            "plans",
            "planner",
            "--prompt",
            "do it",
            "--background",
        ])
        .await;
    assert!(out.status.success(), "spawn: {}", dump(&out));

    let first = first_pending(&p, "plans").await;
    assert_eq!(first["kind"], "plan");
    assert_eq!(first["arguments"], "PLAN-1: write out.txt");
    status_reaches(&p, "plans", "planner", "waiting").await;
    let id = first["id"].to_string();
    let out = p
        .team(&["deny", &id, "--reason", "REVISE-9: add a test"])
        .await;
    assert!(out.status.success(), "deny: {}", dump(&out));

    let second = eventually("the revised plan", || async {
        pending(&p, "plans")
            .await
            .into_iter()
            .find(|a| a["arguments"] == "PLAN-2: write out.txt, with a test")
    })
    .await;
    assert!(
        !p.path("out.txt").exists(),
        "nothing changes before approval"
    );
    let id = second["id"].to_string();
    let out = p.team(&["approve", &id]).await;
    assert!(out.status.success(), "approve: {}", dump(&out));
    status_reaches(&p, "plans", "planner", "completed").await;
    assert_eq!(
        std::fs::read_to_string(p.path("out.txt")).expect("out.txt"),
        "planned"
    );

    let reqs = requests_of(&server.requests(), "planner");
    assert_eq!(reqs.len(), 4, "{reqs:#?}");
    let offered = |r: &ScriptRequest| r.tools.clone();
    for r in &reqs[..2] {
        assert!(
            !offered(r).iter().any(|t| t == "write_file" || t == "bash"),
            "write tools offered before approval: {:?}",
            offered(r)
        );
        assert!(offered(r).iter().any(|t| t == "read_file"));
    }
    assert!(offered(&reqs[2]).iter().any(|t| t == "write_file"));
    let last_user = |r: &ScriptRequest| r.last_user_or_tool_text().to_owned();
    assert!(
        last_user(&reqs[1]).contains("REVISE-9: add a test"),
        "{}",
        last_user(&reqs[1])
    );
    assert!(
        last_user(&reqs[2]).contains("plan approved"),
        "{}",
        last_user(&reqs[2])
    );
}
