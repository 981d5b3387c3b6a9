//! The tools: `tools/list` is the registry's team tools with their schemas; each tool's
//! success and its refusals, with the CLI's error kinds and messages.

use rstest::rstest;
use serde_json::{Value, json};
use team_tools::registry::{self, ToolKind};

use crate::support::{Backend, Project};

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread")]
async fn tools_list_is_the_registrys_team_tools_with_their_schemas(#[case] backend: Backend) {
    let Some(p) = Project::on(backend) else {
        return;
    };
    let c = p.stdio(&[], &[]).await;
    let tools = c.service.list_all_tools().await.expect("tools/list");
    let listed: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    let registered: Vec<&str> = registry::names_of(ToolKind::Team).collect();
    assert_eq!(listed, registered);
    for tool in &tools {
        let info = registry::find(&tool.name).expect("a registered tool");
        assert_eq!(
            Value::Object((*tool.input_schema).clone()),
            info.schema(),
            "{}",
            tool.name
        );
        assert_eq!(tool.description.as_deref(), Some(info.description));
    }
    // No team is created just to list the tools.
    assert_eq!(p.json(&["list"]).as_array().map(Vec::len), Some(0));
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread")]
async fn the_task_board_as_the_lead_of_a_team_it_creates(#[case] backend: Backend) {
    let Some(p) = Project::on(backend) else {
        return;
    };
    let c = p.stdio(&[], &[]).await;
    // The first call creates the team the session leads.
    let members = c.call("team_members", json!({})).await;
    let team = members.ok()["team"].as_str().expect("team").to_owned();
    assert!(team.starts_with("mcp-"), "{team}");
    assert_eq!(members.ok()["members"][0]["name"], "lead");
    assert_eq!(p.json(&["show", &team])["team"]["name"], team);

    let add = c
        .call("team_task", json!({"action": "add", "title": "Write it"}))
        .await;
    let id = add.ok()["id"].as_i64().expect("id");
    let claim = c.call("team_task", json!({"action": "claim"})).await;
    assert_eq!(claim.ok()["id"], id);
    assert_eq!(claim.ok()["status"], "in_progress");
    let done = c
        .call(
            "team_task",
            json!({"action": "complete", "id": id, "result": "written"}),
        )
        .await;
    assert_eq!(done.ok()["status"], "completed");
    // The CLI sees the same board.
    let listed = p.json(&["task", "list", &team]);
    assert_eq!(listed[0]["status"], "completed");
    assert_eq!(listed[0]["result"], "written");

    // Refusals: the CLI's kinds (exit 3 not found, 4 conflict, 2 usage) and messages.
    let again = c
        .call("team_task", json!({"action": "complete", "id": id}))
        .await;
    assert_eq!(again.kind(), "conflict", "{}", again.text);
    let cli = p
        .std_command()
        .args(["task", "done", &team, &id.to_string()])
        .output()
        .unwrap();
    assert_eq!(cli.status.code(), Some(4));
    assert!(
        String::from_utf8_lossy(&cli.stderr).contains(&again.text),
        "{}",
        again.text
    );
    let none = c.call("team_task", json!({"action": "claim"})).await;
    assert_eq!(none.kind(), "not_found", "{}", none.text);
    assert!(none.text.contains("no claimable task"), "{}", none.text);
    let missing = c.call("team_task", json!({"action": "add"})).await;
    assert_eq!(missing.kind(), "usage");
    assert!(
        missing.text.contains("team_task add needs `title`"),
        "{}",
        missing.text
    );
    let unknown = c
        .call("team_task", json!({"action": "complete", "id": 999}))
        .await;
    assert_eq!(unknown.kind(), "not_found", "{}", unknown.text);

    // Fail and release.
    let a = c
        .call("team_task", json!({"action": "add", "title": "A"}))
        .await;
    let a = a.ok()["id"].as_i64().unwrap();
    c.call("team_task", json!({"action": "claim", "id": a}))
        .await
        .ok();
    let failed = c
        .call(
            "team_task",
            json!({"action": "fail", "id": a, "result": "no"}),
        )
        .await;
    assert_eq!(failed.ok()["status"], "failed");
    let b = c
        .call("team_task", json!({"action": "add", "title": "B"}))
        .await;
    let b = b.ok()["id"].as_i64().unwrap();
    c.call("team_task", json!({"action": "claim", "id": b}))
        .await
        .ok();
    let released = c
        .call("team_task", json!({"action": "release", "id": b}))
        .await;
    assert_eq!(released.ok()["status"], "pending");
    let list = c.call("team_task", json!({"action": "list"})).await;
    assert!(!list.error, "{}", list.text);
    let statuses: Vec<Value> = serde_json::from_str::<Value>(&list.text)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        [json!("completed"), json!("failed"), json!("pending")]
    );
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread")]
async fn messages_memory_members_and_teams(#[case] backend: Backend) {
    let Some(p) = Project::on(backend) else {
        return;
    };
    p.ok(&["create", "docs"]);
    p.ok(&["member", "add", "docs", "writer"]);
    let c = p.stdio(&["--team", "docs"], &[]).await;

    // send_message, and what the CLI's inbox then holds.
    let sent = c
        .call("send_message", json!({"to": "writer", "body": "hello"}))
        .await;
    assert_eq!(sent.ok()["delivered_to"], json!(["writer"]));
    let inbox = p.json(&["inbox", "docs", "writer"]);
    assert_eq!(inbox[0]["body"], "hello");
    assert_eq!(inbox[0]["sender"], "lead");
    let nobody = c
        .call("send_message", json!({"to": "nobody", "body": "x"}))
        .await;
    assert_eq!(nobody.kind(), "not_found", "{}", nobody.text);
    let bad = c.call("send_message", json!({"body": "x"})).await;
    assert_eq!(bad.kind(), "usage");
    assert!(bad.text.contains("missing field `to`"), "{}", bad.text);

    // The inbox: read_inbox (peek, then take) and wait_for_messages.
    p.ok(&[
        "send",
        "docs",
        "--from",
        "writer",
        "--to",
        "lead",
        "draft ready",
    ]);
    let peek = c.call("read_inbox", json!({"peek": true})).await;
    assert_eq!(peek.ok()["messages"][0]["body"], "draft ready");
    let take = c.call("wait_for_messages", json!({"timeout_s": 5})).await;
    assert_eq!(take.ok()["messages"][0]["from"], "writer");
    let empty = c.call("read_inbox", json!({})).await;
    assert_eq!(empty.ok()["messages"], json!([]));
    let bad_wait = c
        .call("wait_for_messages", json!({"timeout_s": "soon"}))
        .await;
    assert_eq!(bad_wait.kind(), "usage", "{}", bad_wait.text);
    let bad_read = c.call("read_inbox", json!({"peek": "yes"})).await;
    assert_eq!(bad_read.kind(), "usage", "{}", bad_read.text);
    let waited = c.call("wait_for_messages", json!({"timeout_s": 0.3})).await;
    assert_eq!(waited.ok()["messages"], json!([]));
    // A message sent by another process while the tool waits wakes it.
    let later = {
        let cmd = p.std_command();
        tokio::task::spawn_blocking(move || {
            std::thread::sleep(std::time::Duration::from_millis(500));
            let mut cmd = cmd;
            cmd.args(["send", "docs", "--from", "writer", "--to", "lead", "late"])
                .output()
                .unwrap()
        })
    };
    let woke = c.call("wait_for_messages", json!({"timeout_s": 30})).await;
    assert_eq!(woke.ok()["messages"][0]["body"], "late");
    assert!(later.await.unwrap().status.success());

    // agent_memory: the lead agent's memory in this project.
    let w = c
        .call("agent_memory", json!({"action": "write", "content": "one"}))
        .await;
    assert_eq!(w.ok()["bytes"], 3);
    c.call(
        "agent_memory",
        json!({"action": "append", "content": "two"}),
    )
    .await
    .ok();
    let r = c.call("agent_memory", json!({"action": "read"})).await;
    assert!(
        !r.error && r.text.contains("one") && r.text.contains("two"),
        "{}",
        r.text
    );
    let no_content = c.call("agent_memory", json!({"action": "write"})).await;
    assert_eq!(no_content.kind(), "usage");
    c.call("agent_memory", json!({"action": "clear"}))
        .await
        .ok();

    // team_members.
    let members = c.call("team_members", json!({})).await;
    let names: Vec<&str> = members.ok()["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lead", "writer"]);

    // task: an unknown agent is not found (as `team spawn` says), a bad name is usage.
    let unknown = c
        .call("task", json!({"agent": "ghost", "prompt": "x"}))
        .await;
    assert_eq!(unknown.kind(), "not_found", "{}", unknown.text);
    let bad_name = c
        .call("task", json!({"agent": "no spaces", "prompt": "x"}))
        .await;
    assert_eq!(bad_name.kind(), "usage", "{}", bad_name.text);

    // team_create: the session leads the new team; team_delete disbands it.
    let created = c.call("team_create", json!({"name": "docs-2"})).await;
    assert_eq!(created.ok()["team"], "docs-2");
    let now = c.call("team_members", json!({})).await;
    assert_eq!(now.ok()["team"], "docs-2");
    let taken = c.call("team_create", json!({"name": "docs"})).await;
    assert_eq!(taken.kind(), "conflict", "{}", taken.text);
    let deleted = c.call("team_delete", json!({})).await;
    assert_eq!(deleted.ok()["team"], "docs-2");
    assert_eq!(p.json(&["show", "docs-2"])["team"]["status"], "disbanded");
    let gone = c.call("team_delete", json!({"team": "nope"})).await;
    assert_eq!(gone.kind(), "not_found", "{}", gone.text);
    // Deleting its own team lets the next call start a new one.
    let fresh = c.call("team_members", json!({})).await;
    assert!(fresh.ok()["team"].as_str().unwrap().starts_with("mcp-"));

    // An unknown tool is a protocol error.
    let r = c
        .service
        .call_tool(rmcp::model::CallToolRequestParams::new("read_file"))
        .await;
    assert!(r.is_err(), "{r:?}");
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread")]
async fn inside_a_member_it_acts_as_that_member_from_its_environment(#[case] backend: Backend) {
    let Some(p) = Project::on(backend) else {
        return;
    };
    p.ok(&["create", "docs"]);
    let team_id = p.json(&["show", "docs"])["team"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    p.ok(&["member", "add", "docs", "writer"]);
    p.ok(&["task", "add", "docs", "Chapter 1"]);
    // What a runner gives a member's process (`TEAM_*`), and no flags.
    let c = p
        .stdio(
            &[],
            &[
                ("TEAM_ID", &team_id),
                ("TEAM_MEMBER", "writer"),
                ("TEAM_LEAD", "lead"),
            ],
        )
        .await;
    let claim = c.call("team_task", json!({"action": "claim"})).await;
    assert_eq!(claim.ok()["assignee"], "writer");
    let sent = c
        .call("send_message", json!({"to": "lead", "body": "on it"}))
        .await;
    assert!(!sent.error, "{}", sent.text);
    let inbox = p.json(&["inbox", "docs", "lead"]);
    assert_eq!(inbox[0]["sender"], "writer");
    assert_eq!(inbox[0]["body"], "on it");
    // A member may not disband its team (`manage::may_disband`): the store's refusal.
    let refused = c.call("team_delete", json!({})).await;
    assert!(refused.error, "{}", refused.text);
    assert_eq!(p.json(&["show", "docs"])["team"]["status"], "active");
    // A member that does not exist: not found, on the first call.
    let ghost = p.stdio(&["--team", "docs", "--member", "ghost"], &[]).await;
    let r = ghost.call("team_members", json!({})).await;
    assert_eq!(r.kind(), "not_found", "{}", r.text);
    // The process of a superseded attempt (`TEAM_MEMBER_ATTEMPT` older than the member's, as
    // on a host cut off while the member was retried elsewhere) is fenced: it sends nothing.
    let stale = p
        .stdio(
            &[],
            &[
                ("TEAM_ID", &team_id),
                ("TEAM_MEMBER", "writer"),
                ("TEAM_MEMBER_ATTEMPT", "0"),
            ],
        )
        .await;
    let late = stale
        .call("send_message", json!({"to": "lead", "body": "late"}))
        .await;
    assert!(late.error, "{}", late.text);
    assert!(late.text.contains("attempt"), "{}", late.text);
    let inbox = p.json(&["inbox", "docs", "lead"]);
    assert!(
        inbox
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["body"] != "late"),
        "{inbox}"
    );
}
