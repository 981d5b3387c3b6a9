//! Provider errors and misbehaving models: a 429 with `Retry-After` is waited out and retried;
//! a provider answering 500 forever fails the member with an error naming the provider and
//! the status, and its lead gets `[AGENT FAILURE]`; a malformed tool call goes back to the
//! model as a tool error and the run goes on; `max_turns` stops a model that never answers.

use std::time::Duration;

use team_testkit::{Matcher, Reply, Rule, Script, ScriptedServer};

use crate::support::{
    Project, Wire, call, calls, code, dump, events_of, from_agent, from_member, requests_of,
    stderr, stdout, tool_texts,
};

const BOOM: &str = r#"{"error":{"message":"upstream exploded","type":"server_error"}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rate_limited_429_is_retried_after_retry_after_then_succeeds() {
    let server = ScriptedServer::start(Script::rules(vec![
        Rule::always(Reply::error_retry_after(
            429,
            r#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#,
            "1",
        ))
        .times(1),
        Rule::always(Reply::text("made it after the 429")),
    ]))
    .await
    .expect("server");
    let p = Project::new(Wire::OpenAi, &server.base_url(), "").await;
    p.agent("worker", "model: mock/m", "You work.");
    p.create_team("t").await;

    let out = p.team(&["spawn", "t", "worker", "--prompt", "go"]).await;
    assert!(out.status.success(), "spawn: {}", dump(&out));
    assert!(
        stdout(&out).contains("made it after the 429"),
        "{}",
        dump(&out)
    );

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "one 429, one retry");
    let gap = reqs[1].received_after - reqs[0].received_after;
    assert!(
        gap >= Duration::from_millis(900),
        "the retry came {gap:?} after the 429: Retry-After: 1 was not honoured"
    );
    let events = p.events("t").await;
    let provider_calls = events_of(&events, "provider.call", Some("worker"));
    assert_eq!(provider_calls.len(), 1, "{provider_calls:#?}");
    assert_eq!(provider_calls[0]["payload"]["attempts"], 2);
    assert_eq!(provider_calls[0]["payload"]["http_status"], 200);
    let w = p.member("t", "worker").await;
    assert_eq!(w["status"], "completed", "{w:#?}");
}

fn failing_script() -> Script {
    Script::from_fn(|req| {
        if from_member(req, "lead") {
            if req.turn == 1 {
                return Reply::tool_call(
                    "task",
                    r#"{"agent":"worker","prompt":"call the broken provider","background":true}"#,
                );
            }
            let seen = tool_texts(req)
                .iter()
                .any(|t| t.contains("[AGENT FAILURE]"));
            if !seen {
                // Short, varied waits: this test is about the notice, not the wake-up.
                let wait = format!(r#"{{"timeout_s":{}}}"#, 1.0 + f64::from(req.turn) / 1000.0);
                return Reply::tool_call("wait_for_messages", wait);
            }
            return Reply::text("the worker failed, noted");
        }
        if from_agent(req, "worker") {
            return Reply::error(500, BOOM);
        }
        Reply::error(400, "unexpected caller")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn http_500_forever_fails_the_member_and_the_lead_gets_a_failure_notice() {
    let server = ScriptedServer::start(failing_script())
        .await
        .expect("server");
    let p = Project::new(Wire::OpenAi, &server.base_url(), "").await;
    p.agent("boss", "model: mock/m", "You coordinate.");
    p.agent("worker", "model: mock/m", "You work.");

    // Through the lead: the worker fails, the lead is told.
    let out = p
        .team(&["create", "t", "--lead", "boss", "--prompt", "delegate"])
        .await;
    assert!(out.status.success(), "lead run: {}", dump(&out));
    let w = p.member("t", "worker").await;
    assert_eq!(w["status"], "failed", "{w:#?}");
    let error = w["error"].as_str().unwrap_or("").to_owned();
    for needle in ["mock", "500", "upstream exploded"] {
        assert!(
            error.contains(needle),
            "the member's error should name `{needle}`: {error}"
        );
    }
    let worker_reqs: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| from_agent(r, "worker"))
        .collect();
    assert_eq!(worker_reqs.len(), 4, "1 attempt + max_retries = 3");
    let all = server.requests();
    let lead = requests_of(&all, "lead");
    let notice = lead
        .last()
        .map(|r| tool_texts(r).join("\n"))
        .unwrap_or_default();
    assert!(
        notice.contains("[AGENT FAILURE] worker:") && notice.contains("500"),
        "the lead's last request lacks the failure notice: {notice}"
    );

    // In the foreground: exit 1, the error on stderr, the notice in the lead's inbox.
    p.create_team("fg").await;
    let out = p
        .team(&["spawn", "fg", "worker", "--prompt", "try again"])
        .await;
    assert_eq!(code(&out), 1, "spawn: {}", dump(&out));
    let err = stderr(&out);
    assert!(
        err.contains("mock") && err.contains("HTTP 500") && err.contains("upstream exploded"),
        "stderr: {err}"
    );
    let inbox = p.json(&["inbox", "fg", "lead"]).await;
    let inbox = inbox.as_array().cloned().expect("inbox list");
    assert!(
        inbox.iter().any(|m| m["body"]
            .as_str()
            .is_some_and(|b| b.starts_with("[AGENT FAILURE] worker:") && b.contains("500"))),
        "lead inbox: {inbox:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_tool_calls_go_back_to_the_model_and_the_run_goes_on() {
    let server = ScriptedServer::start(Script::rules(vec![
        Rule::when(
            Matcher::turn(1),
            calls(vec![
                call("send_message", r#"{"oops"#),
                call("read_file", r#"{"oops"#),
                call("no_such_tool", "{}"),
                call("team_task", r#"{"action":"list","bogus":1}"#),
            ]),
        ),
        Rule::always(Reply::text("recovered from bad calls")),
    ]))
    .await
    .expect("server");
    let p = Project::new(Wire::OpenAi, &server.base_url(), "").await;
    p.agent("worker", "model: mock/m", "You work.");
    p.create_team("t").await;

    let out = p.team(&["spawn", "t", "worker", "--prompt", "go"]).await;
    assert!(out.status.success(), "spawn: {}", dump(&out));
    assert!(
        stdout(&out).contains("recovered from bad calls"),
        "{}",
        dump(&out)
    );
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "the run went on to a second call");
    let results = tool_texts(&reqs[1]);
    assert_eq!(results.len(), 4, "one tool message per call: {results:#?}");
    for r in &results {
        assert!(r.starts_with("error"), "not a tool error: {r}");
    }
    assert!(
        results[0].contains("send_message") && results[0].contains("invalid"),
        "bad JSON of a team tool: {}",
        results[0]
    );
    assert!(
        results[1].to_lowercase().contains("json") || results[1].contains("argument"),
        "bad JSON of a workspace tool: {}",
        results[1]
    );
    assert!(
        results[2].contains("no_such_tool"),
        "unknown tool: {}",
        results[2]
    );
    assert!(
        results[3].contains("bogus"),
        "unknown argument: {}",
        results[3]
    );
    // Each tool message answers its call (same id, same order).
    let ids: Vec<&str> = reqs[1].body()["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["role"] == "tool")
        .filter_map(|m| m["tool_call_id"].as_str())
        .collect();
    let asked: Vec<&str> = reqs[1]
        .tool_calls
        .iter()
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(ids, asked);
    let events = p.events("t").await;
    let failed: Vec<_> = events_of(&events, "tool.call", Some("worker"))
        .into_iter()
        .filter(|e| e["payload"]["ok"] == false)
        .collect();
    assert_eq!(failed.len(), 4, "{failed:#?}");
    let w = p.member("t", "worker").await;
    assert_eq!(w["status"], "completed", "{w:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_turns_exceeded_fails_the_member() {
    let server = ScriptedServer::start(Script::from_fn(|req| {
        // Always a tool call, never an answer (arguments vary so the loop detector stays out).
        Reply::tool_call(
            "team_task",
            format!(r#"{{"action":"list","id":{}}}"#, req.turn),
        )
    }))
    .await
    .expect("server");
    let p = Project::new(Wire::OpenAi, &server.base_url(), "").await;
    p.agent("looper", "model: mock/m\nmax_turns: 3", "You never stop.");
    p.create_team("t").await;

    let out = p.team(&["spawn", "t", "looper", "--prompt", "go"]).await;
    assert_eq!(code(&out), 1, "spawn: {}", dump(&out));
    assert!(stderr(&out).contains("max_turns"), "{}", dump(&out));
    assert_eq!(server.request_count(), 3, "exactly max_turns model calls");
    let m = p.member("t", "looper").await;
    assert_eq!(m["status"], "failed", "{m:#?}");
    let error = m["error"].as_str().unwrap_or("");
    assert!(error.contains("max_turns (3)"), "error: {error}");
    let inbox = p.json(&["inbox", "t", "lead"]).await;
    assert!(
        inbox.as_array().is_some_and(|l| l.iter().any(|m| m["body"]
            .as_str()
            .is_some_and(|b| b.starts_with("[AGENT FAILURE] looper:")))),
        "lead inbox: {inbox:#?}"
    );
}

/// Issue 18, retries: a transient provider failure (HTTP 500 through all of the provider's
/// own retries) ends the member's attempt, and with `retries: 1` its second attempt runs and
/// succeeds: `attempt 2 of 2`, a `member.retried` event, no failure notice to the lead.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transient_failure_is_retried_by_the_agents_policy() {
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let n = served.clone();
    let server = ScriptedServer::start(Script::from_fn(move |req| {
        if !from_agent(req, "worker") {
            return Reply::error(400, "unexpected caller");
        }
        // The first attempt's call and its 3 provider retries fail.
        if n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 4 {
            return Reply::error(500, BOOM);
        }
        Reply::text("recovered")
    }))
    .await
    .expect("server");
    let p = Project::new(Wire::OpenAi, &server.base_url(), "").await;
    p.agent(
        "worker",
        "model: mock/m\nretries: 1\nbackoff: 100ms",
        "You work.",
    );
    p.create_team("t").await;
    // Before: exit 1, the member failed with HTTP 500.
    let out = p.team(&["spawn", "t", "worker", "--prompt", "go"]).await;
    assert_eq!(code(&out), 0, "spawn: {}", dump(&out));
    let w = p.member("t", "worker").await;
    assert_eq!(w["status"], "completed", "{w:#?}");
    assert_eq!(w["result"], "recovered", "{w:#?}");
    assert_eq!(
        (w["attempt"].as_i64(), w["max_attempts"].as_i64()),
        (Some(2), Some(2))
    );
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 5);
    let events = p.events("t").await;
    let retried = events_of(&events, "member.retried", Some("worker"));
    assert_eq!(retried.len(), 1, "{events:#?}");
    assert_eq!(retried[0]["payload"]["cause"], "transient");
    let inbox = p.json(&["inbox", "t", "lead"]).await;
    assert!(
        inbox
            .as_array()
            .is_some_and(|a| a.iter().all(|m| m["kind"] != "failure")),
        "{inbox:#?}"
    );
}
