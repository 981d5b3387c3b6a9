//! Members started with `task`, and the notices of their ends without polling: a logging
//! message with the `[AGENT COMPLETED]` / `[AGENT FAILURE]` text, a resource update of the
//! team for a subscribed client, and the same notice from `wait_for_messages`.

use rmcp::model::{LoggingLevel, ReadResourceRequestParams, SubscribeRequestParams};
use rstest::rstest;
use serde_json::{Value, json};

use crate::support::{Backend, Project};

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread")]
async fn a_background_members_end_is_notified_and_waited_for(#[case] backend: Backend) {
    let Some(p) = Project::on(backend) else {
        return;
    };
    p.agent("echo", "echo \"done: $(cat)\"");
    p.agent("broken", "echo 'it broke' >&2; exit 3");
    let c = p.stdio(&[], &[]).await;
    let team = c.call("team_members", json!({})).await.ok()["team"]
        .as_str()
        .unwrap()
        .to_owned();
    let uri = format!("team://{team}");
    c.service
        .subscribe(SubscribeRequestParams::new(uri.clone()))
        .await
        .expect("resources/subscribe");

    let started = c
        .call("task", json!({"agent": "echo", "prompt": "review A"}))
        .await;
    assert_eq!(started.ok()["member"], "echo");
    assert_eq!(started.ok()["status"], "pending");
    // Told without asking: a logging message with the notice, and an update of the team.
    let log = c.notes.log_containing("[AGENT COMPLETED] echo").await;
    assert_eq!(log.data, json!("[AGENT COMPLETED] echo: done: review A"));
    assert_eq!(log.level, LoggingLevel::Info);
    assert_eq!(log.logger.as_deref(), Some("team"));
    c.notes.updated(&uri).await;
    // And the same notice from the inbox.
    let waited = c.call("wait_for_messages", json!({"timeout_s": 30})).await;
    let bodies: Vec<&str> = waited.ok()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert!(
        bodies.contains(&"[AGENT COMPLETED] echo: done: review A"),
        "{bodies:?}"
    );

    // A failure.
    c.call("task", json!({"agent": "broken", "prompt": "x"}))
        .await
        .ok();
    let failed = c.notes.log_containing("[AGENT FAILURE] broken").await;
    assert_eq!(failed.level, LoggingLevel::Warning);
    assert!(
        failed.data.as_str().unwrap().contains("it broke"),
        "{:?}",
        failed.data
    );

    // A waiting task returns the member's result.
    let fg = c
        .call(
            "task",
            json!({"agent": "echo", "prompt": "B", "background": false}),
        )
        .await;
    assert_eq!(fg.ok()["status"], "completed", "{}", fg.text);
    assert_eq!(fg.ok()["result"], "done: B\n");

    // The resources: listed, and read as JSON.
    let listed = c
        .service
        .list_all_resources()
        .await
        .expect("resources/list");
    let uris: Vec<&str> = listed.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            uri.clone(),
            format!("{uri}/members"),
            format!("{uri}/tasks"),
            format!("{uri}/events")
        ]
    );
    let read = |u: String| {
        let s = &c.service;
        async move {
            let r = s
                .read_resource(ReadResourceRequestParams::new(u))
                .await
                .expect("resources/read");
            let text = match &r.contents[0] {
                rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
                other => panic!("{other:?}"),
            };
            serde_json::from_str::<Value>(&text).expect("JSON")
        }
    };
    let doc = read(uri.clone()).await;
    assert_eq!(doc["team"]["name"], team);
    assert_eq!(doc["members"].as_array().unwrap().len(), 4);
    let members = read(format!("{uri}/members")).await;
    assert_eq!(members[1]["status"], "completed");
    assert_eq!(members[2]["status"], "failed");
    let events = read(format!("{uri}/events")).await;
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "member.completed"),
        "{events}"
    );
    let tasks = read(format!("{uri}/tasks")).await;
    assert_eq!(tasks, json!([]));
    let missing = c
        .service
        .read_resource(ReadResourceRequestParams::new("team://nope"))
        .await;
    assert!(missing.is_err());
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread")]
async fn members_outlive_the_client_that_started_them(#[case] backend: Backend) {
    let Some(p) = Project::on(backend) else {
        return;
    };
    p.agent("slow", "sleep 2; echo \"slept on $(cat)\"");
    let c = p.stdio(&[], &[]).await;
    let team = c.call("team_members", json!({})).await.ok()["team"]
        .as_str()
        .unwrap()
        .to_owned();
    c.call("task", json!({"agent": "slow", "prompt": "it"}))
        .await
        .ok();
    // The client goes away (its `team mcp` is killed with it) while the member runs.
    drop(c);
    let out = p
        .std_command()
        .args(["--json", "wait", &team, "--timeout", "60"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let waited: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(waited["members"][0]["status"], "completed");
    assert_eq!(waited["members"][0]["result"], "slept on it\n");
    // Its notice waits in the lead's inbox for the next session.
    let next = p.stdio(&["--team", &team], &[]).await;
    let inbox = next.call("read_inbox", json!({})).await;
    assert_eq!(
        inbox.ok()["messages"][0]["body"],
        "[AGENT COMPLETED] slow: slept on it"
    );
}
