//! An LLM member on an Anthropic-kind provider: the Messages wire format (`/v1/messages`,
//! `x-api-key`, `anthropic-version`, top-level `system`, `tool_use` / `tool_result` blocks)
//! with a tool round trip, a malformed tool call answered as an error `tool_result`, and token
//! usage recorded.

use serde_json::Value;
use team_testkit::{Matcher, Protocol, Reply, Rule, Script, ScriptedServer};

use crate::support::{KEY, Project, Wire, call, calls, dump, events_of, stdout, tool_texts};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn anthropic_wire_tool_round_trip() {
    let server = ScriptedServer::start(Script::rules(vec![
        Rule::when(
            Matcher::turn(1),
            calls(vec![
                call(
                    "team_task",
                    r#"{"action":"add","title":"from claude","description":"added over the Messages API"}"#,
                ),
                call("agent_memory", r#"{"oops"#),
            ]),
        )
        .times(1),
        Rule::when(
            Matcher::turn(2),
            Reply::text("claude is done").with_usage(120, 7),
        ),
    ]))
    .await
    .expect("server");
    let p = Project::new(Wire::Anthropic, &server.anthropic_base_url(), "").await;
    p.agent("claude", "model: mock/claude-test", "You use tools.");
    p.create_team("t").await;

    let out = p
        .team(&["spawn", "t", "claude", "--prompt", "add a task"])
        .await;
    assert!(out.status.success(), "spawn: {}", dump(&out));
    assert!(stdout(&out).contains("claude is done"), "{}", dump(&out));

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "two model calls");
    for r in &reqs {
        assert_eq!(r.protocol, Protocol::Anthropic);
        assert_eq!(r.path, "/v1/messages");
        assert_eq!(r.model, "claude-test");
        assert_eq!(r.header("x-api-key"), Some(KEY));
        assert!(
            r.header("anthropic-version").is_some(),
            "no anthropic-version"
        );
        assert!(
            r.header("authorization").is_none(),
            "no bearer auth on Anthropic"
        );
        assert!(
            r.system.contains("You are `claude`"),
            "top-level system prompt: {}",
            r.system
        );
        assert!(r.body()["max_tokens"].as_u64().is_some_and(|n| n > 0));
        assert!(
            r.tools.iter().any(|t| t == "team_task"),
            "tools: {:?}",
            r.tools
        );
    }
    // The second request replays the assistant's tool_use blocks, then one user message with
    // a tool_result per call (the malformed one flagged is_error).
    let body = &reqs[1].body();
    let msgs = body["messages"].as_array().expect("messages");
    assert_eq!(msgs.len(), 3, "user, assistant, user: {body:#}");
    let uses: Vec<&Value> = msgs[1]["content"]
        .as_array()
        .expect("assistant blocks")
        .iter()
        .filter(|b| b["type"] == "tool_use")
        .collect();
    assert_eq!(uses.len(), 2, "{body:#}");
    assert_eq!(uses[0]["name"], "team_task");
    assert_eq!(uses[0]["input"]["title"], "from claude");
    let results: Vec<&Value> = msgs[2]["content"]
        .as_array()
        .expect("user blocks")
        .iter()
        .filter(|b| b["type"] == "tool_result")
        .collect();
    assert_eq!(results.len(), 2, "{body:#}");
    assert_eq!(results[0]["tool_use_id"], uses[0]["id"]);
    assert_eq!(results[1]["tool_use_id"], uses[1]["id"]);
    assert!(results[0].get("is_error").is_none_or(|e| e == false));
    assert_eq!(results[1]["is_error"], true, "{body:#}");
    let texts = tool_texts(&reqs[1]);
    assert!(
        texts[0].contains("from claude"),
        "tool result: {}",
        texts[0]
    );
    assert!(
        texts[1].contains("agent_memory"),
        "tool error: {}",
        texts[1]
    );

    // The tool really ran: the task is on the board.
    let tasks = p.json(&["task", "list", "t"]).await;
    let tasks = tasks.as_array().cloned().expect("tasks");
    assert_eq!(tasks.len(), 1, "{tasks:#?}");
    assert_eq!(tasks[0]["title"], "from claude");
    assert_eq!(tasks[0]["description"], "added over the Messages API");

    // Token usage from the Anthropic usage block is recorded per call and per member.
    let events = p.events("t").await;
    let provider_calls = events_of(&events, "provider.call", Some("claude"));
    assert_eq!(provider_calls.len(), 2, "{provider_calls:#?}");
    assert_eq!(provider_calls[1]["payload"]["prompt_tokens"], 120);
    assert_eq!(provider_calls[1]["payload"]["completion_tokens"], 7);
    let m = p.member("t", "claude").await;
    assert_eq!(m["status"], "completed");
    assert!(
        m["prompt_tokens"].as_i64().is_some_and(|n| n >= 120),
        "{m:#?}"
    );
    assert!(
        m["completion_tokens"].as_i64().is_some_and(|n| n >= 7),
        "{m:#?}"
    );
}
