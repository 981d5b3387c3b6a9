//! Streamable HTTP: `team mcp --http 127.0.0.1:0` serves the same tools and notices behind a
//! bearer token; a missing or wrong token gets 401.

use rmcp::ServiceExt;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rstest::rstest;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{Backend, Client, Notes, Project, SOON};

/// A running `team mcp --http`: the child, its URL, and the token it takes.
struct Served {
    _child: tokio::process::Child,
    url: String,
    token: String,
}

/// Starts `team mcp --http 127.0.0.1:0 ARGS` and reads its URL (and a generated token) from
/// stderr.
async fn serve(p: &Project, args: &[&str], env: &[(&str, &str)]) -> Served {
    let mut all = vec!["--http", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let mut child = p
        .mcp_command(&all, env)
        .spawn()
        .expect("start team mcp --http");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut token = env
        .iter()
        .find(|(k, _)| *k == "MCP_TOKEN")
        .map(|(_, v)| v.to_string());
    let url = tokio::time::timeout(SOON, async {
        loop {
            let line = lines
                .next_line()
                .await
                .expect("read stderr")
                .expect("team mcp --http exited before serving");
            if let Some(t) = line.strip_prefix("team mcp: bearer token ") {
                token = Some(t.trim().to_owned());
            }
            if let Some(rest) = line.strip_prefix("team mcp: serving MCP at ") {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
    })
    .await
    .expect("team mcp --http says where it serves");
    // Keep draining stderr so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Served {
        _child: child,
        url,
        token: token.expect("a token"),
    }
}

async fn connect(url: &str, token: &str) -> Client {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.to_owned()).auth_header(token.to_owned()),
    );
    let notes = Notes::default();
    let service = tokio::time::timeout(SOON, notes.clone().serve(transport))
        .await
        .expect("initialize in time")
        .expect("initialize");
    Client { service, notes }
}

async fn post_initialize(url: &str, token: Option<&str>) -> reqwest::StatusCode {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"}}})
            .to_string(),
        );
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("POST").status()
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread")]
async fn http_refuses_a_missing_or_wrong_token_and_serves_the_right_one(#[case] backend: Backend) {
    let Some(p) = Project::on(backend) else {
        return;
    };
    p.agent("echo", "echo \"done: $(cat)\"");
    let token = "s3cret-token-for-the-test";
    let s = serve(&p, &["--token-env", "MCP_TOKEN"], &[("MCP_TOKEN", token)]).await;
    assert!(s.url.starts_with("http://127.0.0.1:"), "{}", s.url);
    assert_eq!(post_initialize(&s.url, None).await, 401);
    assert_eq!(post_initialize(&s.url, Some("wrong")).await, 401);
    assert_eq!(post_initialize(&s.url, Some(token)).await, 200);
    // A client with a wrong token cannot start a session.
    let refused = Notes::default()
        .serve(StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(s.url.clone()).auth_header("wrong"),
        ))
        .await;
    assert!(refused.is_err());

    let c = connect(&s.url, &s.token).await;
    let tools = c.service.list_all_tools().await.expect("tools/list");
    assert!(tools.iter().any(|t| t.name == "task"));
    let started = c
        .call("task", json!({"agent": "echo", "prompt": "over http"}))
        .await;
    assert_eq!(started.ok()["member"], "echo");
    let log = c.notes.log_containing("[AGENT COMPLETED] echo").await;
    assert_eq!(log.data, json!("[AGENT COMPLETED] echo: done: over http"));
    let bad = c.call("team_task", json!({"action": "claim"})).await;
    assert_eq!(bad.kind(), "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn http_prints_a_new_token_once_when_none_is_given() {
    let Some(p) = Project::on(Backend::Sqlite) else {
        return;
    };
    let s = serve(&p, &[], &[]).await;
    assert_eq!(s.token.len(), 64, "{}", s.token);
    assert_eq!(post_initialize(&s.url, None).await, 401);
    let c = connect(&s.url, &s.token).await;
    let members = c.call("team_members", json!({})).await;
    assert!(members.ok()["team"].as_str().unwrap().starts_with("mcp-"));
    // The token is not in the database (nor anywhere `team` writes).
    let events = p.ok(&["--json", "logs", members.ok()["team"].as_str().unwrap()]);
    assert!(!events.contains(&s.token));
}
