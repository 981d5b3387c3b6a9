//! Team-tool round trips of an LLM member: `send_message` to the lead, `team_task` claim and
//! complete on the board, `agent_memory` append; then a new member of the same agent
//! (`memory: local`) finds the memory in its system prompt, as the server received it.

use serde_json::Value;
use team_testkit::{Reply, Script, ScriptedServer};

use crate::support::{
    Project, Wire, dump, events_of, from_member, requests_of, stdout, tool_texts,
};

const NOTE: &str = "REMEMBER-ZEBRA-42: the docs live in docs/";

fn script() -> Script {
    Script::from_fn(|req| {
        if from_member(req, "scribe") {
            return match req.turn {
                1 => Reply::tool_call(
                    "send_message",
                    r#"{"to":"lead","body":"hello lead, scribe here"}"#,
                ),
                2 => Reply::tool_call("team_task", r#"{"action":"claim"}"#),
                3 => Reply::tool_call(
                    "team_task",
                    r#"{"action":"complete","id":1,"result":"docs written"}"#,
                ),
                4 => Reply::tool_call(
                    "agent_memory",
                    format!(r#"{{"action":"append","content":"{NOTE}"}}"#),
                ),
                _ => Reply::text("scribe finished"),
            };
        }
        if from_member(req, "scribe-2") {
            return Reply::text("second scribe finished");
        }
        Reply::error(400, "unexpected caller")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn send_message_task_claim_complete_and_memory_round_trip() {
    let server = ScriptedServer::start(script()).await.expect("server");
    let p = Project::new(Wire::OpenAi, &server.base_url(), "").await;
    p.agent(
        "scribe",
        "model: mock/scribe-model\nmemory: local",
        "You write docs.",
    );
    p.create_team("docs").await;
    let out = p.team(&["task", "add", "docs", "write the docs"]).await;
    assert!(out.status.success(), "task add: {}", dump(&out));

    let out = p
        .team(&["spawn", "docs", "scribe", "--prompt", "do the docs task"])
        .await;
    assert!(out.status.success(), "spawn scribe: {}", dump(&out));
    assert!(stdout(&out).contains("scribe finished"), "{}", dump(&out));

    // Every tool call succeeded, and its result went back to the model.
    let all = server.requests();
    let scribe = requests_of(&all, "scribe");
    assert_eq!(scribe.len(), 5, "five model calls");
    let results: Vec<&str> = tool_texts(&scribe[4]);
    assert_eq!(results.len(), 4, "four tool results: {results:#?}");
    for r in &results {
        assert!(!r.starts_with("error"), "a tool failed: {results:#?}");
    }
    assert!(results[0].contains("lead"), "send_message: {}", results[0]);
    assert!(results[1].contains("in_progress"), "claim: {}", results[1]);
    assert!(results[2].contains("completed"), "complete: {}", results[2]);
    let events = p.events("docs").await;
    let calls = events_of(&events, "tool.call", Some("scribe"));
    let names: Vec<&str> = calls
        .iter()
        .filter_map(|e| e["payload"]["tool"].as_str())
        .collect();
    assert_eq!(
        names,
        ["send_message", "team_task", "team_task", "agent_memory"]
    );
    assert!(
        calls.iter().all(|e| e["payload"]["ok"] == true),
        "{calls:#?}"
    );

    // send_message: the lead's inbox has the message from scribe.
    let inbox = p.json(&["inbox", "docs", "lead", "--peek"]).await;
    let inbox = inbox.as_array().expect("inbox is a list");
    assert!(
        inbox
            .iter()
            .any(|m| m["sender"] == "scribe" && m["body"] == "hello lead, scribe here"),
        "lead inbox: {inbox:#?}"
    );

    // team_task: claimed by scribe, then completed with its result.
    let tasks = p.json(&["task", "list", "docs"]).await;
    let tasks: Vec<Value> = tasks.as_array().cloned().expect("task list is a list");
    assert_eq!(tasks.len(), 1, "{tasks:#?}");
    assert_eq!(tasks[0]["status"], "completed", "{tasks:#?}");
    assert_eq!(tasks[0]["assignee"], "scribe", "{tasks:#?}");
    assert_eq!(tasks[0]["result"], "docs written", "{tasks:#?}");

    // agent_memory: stored for the agent in this project.
    let out = p.team(&["memory", "show", "scribe"]).await;
    assert!(out.status.success(), "memory show: {}", dump(&out));
    assert!(stdout(&out).contains(NOTE), "memory: {}", dump(&out));
    assert!(
        !scribe[0].system.contains("REMEMBER-ZEBRA-42"),
        "the first scribe had no memory yet"
    );

    // A new member of the same agent sees the memory in its system prompt.
    let out = p
        .team(&["spawn", "docs", "scribe", "--prompt", "anything to recall?"])
        .await;
    assert!(out.status.success(), "spawn scribe-2: {}", dump(&out));
    let all = server.requests();
    let second = requests_of(&all, "scribe-2");
    assert_eq!(second.len(), 1, "one call for scribe-2");
    assert!(
        second[0].system.contains(NOTE),
        "scribe-2's system prompt lacks the memory:\n{}",
        second[0].system
    );
    // The body on the wire carries it too (first message, role system).
    let body_system = second[0].body()["messages"][0]["content"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert_eq!(second[0].body()["messages"][0]["role"], "system");
    assert!(body_system.contains(NOTE), "wire body: {body_system}");
}

/// `team_delete` from a member that may not disband: its own team (it is not the lead) and a
/// team another agent leads are both refused with team-core's reasons (`manage::may_disband`,
/// decided by the store in the disband's transaction), and both teams stay active.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn team_delete_is_refused_to_a_member_that_may_not_disband() {
    let server = ScriptedServer::start(Script::from_fn(|req| {
        if from_member(req, "wrecker") {
            return match req.turn {
                1 => Reply::tool_call("team_delete", r#"{}"#),
                2 => Reply::tool_call("team_delete", r#"{"team":"other"}"#),
                _ => Reply::text("wrecker finished"),
            };
        }
        Reply::error(400, "unexpected caller")
    }))
    .await
    .expect("server");
    let p = Project::new(Wire::OpenAi, &server.base_url(), "").await;
    p.agent("wrecker", "model: mock/wrecker-model", "You tidy up.");
    p.create_team("docs").await;
    p.create_team("other").await;
    let out = p
        .team(&["spawn", "docs", "wrecker", "--prompt", "disband everything"])
        .await;
    assert!(out.status.success(), "spawn wrecker: {}", dump(&out));

    let all = server.requests();
    let wrecker = requests_of(&all, "wrecker");
    assert_eq!(wrecker.len(), 3, "three model calls");
    let results = tool_texts(&wrecker[2]);
    assert_eq!(results.len(), 2, "{results:#?}");
    assert!(
        results[0].contains("only the lead can disband team docs"),
        "{results:#?}"
    );
    assert!(
        results[1].contains("team other is not led by your agent wrecker"),
        "{results:#?}"
    );
    for team in ["docs", "other"] {
        let shown = p.json(&["show", team]).await;
        assert_eq!(shown["team"]["status"], "active", "{shown}");
    }
}
