//! A lead LLM agent fans out ten background members under `max_agents = 4`: the slots cap the
//! requests in flight, every result reaches the lead, and the run takes about
//! ceil(10/4) × latency, not 10 × latency. And a completion notice wakes a lead blocked in
//! `wait_for_messages` at once, not at the wait's timeout.

use std::time::{Duration, Instant};

use team_testkit::{Matcher, Reply, Rule, Script, ScriptRequest, ScriptedServer};

use crate::support::{
    Project, Wire, call, calls, dump, from_agent, from_member, prompt_of, requests_of, stdout,
    tool_texts,
};

const WORKERS: usize = 10;
const MAX_AGENTS: usize = 4;
const LATENCY_MS: u64 = 300;
const DONE: &str = "[AGENT COMPLETED]";

/// Completion notices the lead has seen in its tool results so far.
fn completions_seen(req: &ScriptRequest) -> usize {
    tool_texts(req)
        .iter()
        .map(|t| t.matches(DONE).count())
        .sum()
}

fn script() -> Script {
    Script::from_fn(|req| {
        if from_member(req, "lead") {
            if req.turn == 1 {
                let spawn = (1..=WORKERS)
                    .map(|i| {
                        call(
                            "task",
                            &format!(
                                r#"{{"agent":"worker","prompt":"job-{i}","background":true}}"#
                            ),
                        )
                    })
                    .collect();
                return calls(spawn);
            }
            if completions_seen(req) < WORKERS {
                // A short wait, varied per turn (the loop detector stops 20 identical calls):
                // this test is about slots, not about how fast a notice wakes the lead (see
                // `completion_notice_wakes_a_waiting_lead`).
                let wait = format!(r#"{{"timeout_s":{}}}"#, 1.0 + f64::from(req.turn) / 1000.0);
                return Reply::tool_call("wait_for_messages", wait);
            }
            return Reply::text(format!("all {WORKERS} workers reported"));
        }
        if from_agent(req, "worker") {
            return Reply::text(format!("result of {}", prompt_of(req)));
        }
        Reply::error(400, "unexpected caller")
    })
    .with_latency_ms(LATENCY_MS)
}

/// Highest number of worker requests overlapping in time, each taken as
/// `[received, received + latency)` (the server holds every request for the latency).
fn worker_overlap(reqs: &[ScriptRequest]) -> usize {
    let lat = Duration::from_millis(LATENCY_MS);
    let mut edges: Vec<(Duration, i32)> = Vec::new();
    for r in reqs {
        edges.push((r.received_after, 1));
        edges.push((r.received_after + lat, -1));
    }
    // Ends sort before starts at the same instant.
    edges.sort();
    let (mut now, mut max) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        max = max.max(now);
    }
    max as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lead_fans_out_ten_members_under_max_agents_four() {
    let server = ScriptedServer::start(script()).await.expect("server");
    let p = Project::new(Wire::OpenAi, &server.base_url(), "max_agents = 4").await;
    p.agent("boss", "model: mock/fan-model", "You coordinate workers.");
    p.agent("worker", "model: mock/fan-model", "You do one job.");

    let started = Instant::now();
    let out = p
        .team(&[
            "create",
            "fan",
            "--lead",
            "boss",
            "--prompt",
            "run ten jobs",
        ])
        .await;
    let wall = started.elapsed();
    assert!(out.status.success(), "lead run: {}", dump(&out));
    assert!(
        stdout(&out).contains(&format!("all {WORKERS} workers reported")),
        "the lead's final answer is printed: {}",
        dump(&out)
    );

    // Every worker completed with its own result.
    let members = p.members("fan").await;
    let workers: Vec<_> = members.iter().filter(|m| m["agent"] == "worker").collect();
    assert_eq!(workers.len(), WORKERS, "members: {members:#?}");
    for w in &workers {
        assert_eq!(w["status"], "completed", "worker: {w:#?}");
    }
    let mut results: Vec<String> = workers
        .iter()
        .map(|w| w["result"].as_str().unwrap_or("").to_owned())
        .collect();
    results.sort();
    let mut expected: Vec<String> = (1..=WORKERS)
        .map(|i| format!("result of job-{i}"))
        .collect();
    expected.sort();
    assert_eq!(results, expected);

    // All ten results reached the lead through wait_for_messages.
    let all = server.requests();
    let lead = requests_of(&all, "lead");
    let last = lead.last().expect("lead requests");
    let seen: String = tool_texts(last).join("\n");
    for i in 1..=WORKERS {
        assert!(
            seen.contains(&format!("result of job-{i}")),
            "the lead never received job-{i}'s result; its tool results:\n{seen}"
        );
    }
    assert_eq!(completions_seen(last), WORKERS);

    // Concurrency: at most 4 worker requests at once (the lead's own call may overlap once).
    let worker_reqs: Vec<ScriptRequest> = all
        .iter()
        .filter(|r| from_agent(r, "worker"))
        .cloned()
        .collect();
    assert_eq!(worker_reqs.len(), WORKERS, "one model call per worker");
    let overlap = worker_overlap(&worker_reqs);
    assert!(
        overlap <= MAX_AGENTS,
        "{overlap} worker requests in flight at once with max_agents = {MAX_AGENTS}"
    );
    assert!(
        overlap >= 2,
        "workers ran one at a time ({overlap} in flight at most): no parallelism"
    );
    assert!(
        server.max_in_flight() <= MAX_AGENTS + 1,
        "server saw {} requests in flight",
        server.max_in_flight()
    );

    // Wall time: the worker phase takes at least ceil(10/4) latencies (the cap holds) and the
    // whole run stays far below 10 sequential latencies plus the lead's own calls.
    let lat = Duration::from_millis(LATENCY_MS);
    let waves = WORKERS.div_ceil(MAX_AGENTS) as u32;
    let first = worker_reqs.first().expect("worker").received_after;
    let last_end = worker_reqs.last().expect("worker").received_after + lat;
    let phase = last_end - first;
    assert!(
        phase >= lat * waves - Duration::from_millis(50),
        "worker phase {phase:?} is shorter than {waves} × {lat:?}: the cap did not hold"
    );
    assert!(
        phase < lat * (waves + 3),
        "worker phase {phase:?} is far from {waves} × {lat:?}"
    );
    assert!(
        wall < lat * 20,
        "the run took {wall:?}, not close to {waves} × {lat:?} (+ the lead's calls)"
    );
    eprintln!(
        "fan-out: wall {wall:?}, worker phase {phase:?}, overlap {overlap}, max in flight {}",
        server.max_in_flight()
    );
}

/// The lead starts one slow background worker, then at once waits for messages with a long
/// timeout: the worker's `[AGENT COMPLETED]` notice must end the wait when it lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn completion_notice_wakes_a_waiting_lead() {
    let lead = |turn: u32| Matcher {
        turn: Some(turn),
        ..Matcher::system_contains("You are `lead`")
    };
    let server = ScriptedServer::start(Script::rules(vec![
        Rule::when(
            lead(1),
            Reply::tool_call("task", r#"{"agent":"worker","prompt":"slow job"}"#),
        ),
        Rule::when(
            lead(2),
            Reply::tool_call("wait_for_messages", r#"{"timeout_s":20}"#),
        ),
        Rule::when(
            Matcher::system_contains("You are `lead`"),
            Reply::text("lead done"),
        ),
        Rule::when(
            Matcher::system_contains("(agent `worker`)"),
            Reply::text("slow result"),
        )
        .delay_ms(1000),
    ]))
    .await
    .expect("server");
    let p = Project::new(Wire::OpenAi, &server.base_url(), "max_agents = 4").await;
    p.agent("boss", "model: mock/m", "You coordinate.");
    p.agent("worker", "model: mock/m", "You work slowly.");

    let started = Instant::now();
    let out = p
        .team(&["create", "wake", "--lead", "boss", "--prompt", "go"])
        .await;
    let wall = started.elapsed();
    assert!(out.status.success(), "lead run: {}", dump(&out));
    assert!(
        wall < Duration::from_secs(10),
        "the lead waited {wall:?}: the notice (after ~1 s) did not end its 20 s wait"
    );
    let all = server.requests();
    let lead_reqs = requests_of(&all, "lead");
    let last = lead_reqs.last().expect("lead requests");
    assert!(
        tool_texts(last)
            .iter()
            .any(|t| t.contains("[AGENT COMPLETED] worker: slow result")),
        "the wait returned without the notice: {:?}",
        tool_texts(last)
    );
}

/// With `max_agents = 1` the lead holds the only slot; a foreground `task` (wait for the child)
/// and a `wait_for_messages` must let it go, or the child could never start.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_waiting_lead_lets_its_slot_go_with_max_agents_one() {
    let lead = |turn: u32| Matcher {
        turn: Some(turn),
        ..Matcher::system_contains("You are `lead`")
    };
    let server = ScriptedServer::start(Script::rules(vec![
        Rule::when(
            lead(1),
            Reply::tool_call(
                "task",
                r#"{"agent":"worker","prompt":"first job","background":false}"#,
            ),
        ),
        Rule::when(
            lead(2),
            Reply::tool_call("task", r#"{"agent":"worker","prompt":"second job"}"#),
        ),
        Rule::when(
            lead(3),
            Reply::tool_call("wait_for_messages", r#"{"timeout_s":30}"#),
        ),
        Rule::when(
            Matcher::system_contains("You are `lead`"),
            Reply::text("lead done"),
        ),
        Rule::when(
            Matcher::system_contains("(agent `worker`)"),
            Reply::text("job result"),
        ),
    ]))
    .await
    .expect("server");
    let p = Project::new(Wire::OpenAi, &server.base_url(), "max_agents = 1").await;
    p.agent("boss", "model: mock/m", "You coordinate.");
    p.agent("worker", "model: mock/m", "You work.");

    let started = Instant::now();
    let out = p
        .team(&["create", "one", "--lead", "boss", "--prompt", "go"])
        .await;
    let wall = started.elapsed();
    assert!(out.status.success(), "lead run: {}", dump(&out));
    assert!(
        wall < Duration::from_secs(20),
        "the lead took {wall:?}: its children could not get the only slot"
    );
    let all = server.requests();
    let lead_reqs = requests_of(&all, "lead");
    assert_eq!(lead_reqs.len(), 4, "{lead_reqs:#?}");
    // The foreground task returned the child's result as the tool result.
    assert!(
        tool_texts(&lead_reqs[1])
            .iter()
            .any(|t| t.contains("job result") && t.contains("completed")),
        "{:?}",
        tool_texts(&lead_reqs[1])
    );
    // The wait returned a notice (the inbox also holds the foreground child's).
    assert!(
        tool_texts(&lead_reqs[3])
            .iter()
            .any(|t| t.contains("[AGENT COMPLETED] worker")),
        "{:?}",
        tool_texts(&lead_reqs[3])
    );
    // The background child ran too, under the same single slot.
    let w2 = p.member("one", "worker-2").await;
    assert_ne!(w2["status"], "pending", "{w2:#?}");
    // Never two model calls at once: the slot limit held.
    assert_eq!(server.max_in_flight(), 1);
}
