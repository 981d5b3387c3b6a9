//! Light tests of the scripted server itself (the main users are team-providers' tests).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use team_testkit::{Matcher, NoMatch, Protocol, Reply, Rule, Script, ScriptedServer};

async fn post(url: &str, body: Value) -> (u16, Option<String>, Value) {
    let resp = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let ra = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap_or("").to_string());
    let text = resp.text().await.expect("body");
    (
        status,
        ra,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn openai_rules_turns_tool_calls_and_sequences() {
    let server = ScriptedServer::start(Script::rules(vec![
        Rule::when(
            Matcher::system_contains("lead"),
            Reply::text("hello lead").with_usage(7, 3),
        ),
        Rule::when(
            Matcher::turn(1),
            Reply::tool_call("read_file", "{\"path\": oops"),
        ),
        Rule::when(
            Matcher::last_message_contains("flaky"),
            Reply::first_then(
                Reply::error_retry_after(429, "{\"error\":{}}", "1"),
                1,
                Reply::text("ok now"),
            ),
        ),
    ]))
    .await
    .expect("start");
    let url = format!("{}/chat/completions", server.base_url());

    let (s, _, body) = post(&url, json!({"model": "m", "messages": [{"role": "system", "content": "you are the lead"}, {"role": "user", "content": "hi"}]})).await;
    assert_eq!(s, 200);
    assert_eq!(body["choices"][0]["message"]["content"], "hello lead");
    assert_eq!(body["usage"]["prompt_tokens"], 7);

    let (s, _, body) = post(&url, json!({"model": "m", "messages": [{"role": "user", "content": "go"}], "tools": [{"type": "function", "function": {"name": "read_file", "parameters": {}}}]})).await;
    assert_eq!(s, 200);
    let call = &body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "read_file");
    assert_eq!(call["function"]["arguments"], "{\"path\": oops");
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");

    let turn2 = json!({"model": "m", "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "x", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "flaky result"}]});
    let (s, ra, _) = post(&url, turn2.clone()).await;
    assert_eq!((s, ra.as_deref()), (429, Some("1")));
    let (s, _, body) = post(&url, turn2.clone()).await;
    assert_eq!(s, 200);
    assert_eq!(body["choices"][0]["message"]["content"], "ok now");

    let reqs = server.requests();
    assert_eq!(reqs.len(), 4);
    assert_eq!(reqs[1].tools, vec!["read_file".to_string()]);
    assert_eq!(reqs[2].turn, 2);
    assert_eq!(reqs[2].last_user_or_tool_text(), "flaky result");
    assert_eq!(reqs[0].protocol, Protocol::OpenAi);
    server.stop().await;
}

#[tokio::test]
async fn anthropic_wire_and_no_match_modes() {
    let server = ScriptedServer::start(
        Script::rules(vec![
            Rule::when(
                Matcher::model("claude-x"),
                Reply::tool_call("grep", "{\"q\":1}"),
            )
            .times(1),
        ])
        .with_no_match(NoMatch::Error400),
    )
    .await
    .expect("start");
    let url = format!("{}/v1/messages", server.anthropic_base_url());
    let body = json!({"model": "claude-x", "system": "sys", "max_tokens": 10, "messages": [
        {"role": "user", "content": "find"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "grep", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "none", "is_error": true}]}]});
    let (s, _, reply) = post(&url, body.clone()).await;
    assert_eq!(s, 200);
    assert_eq!(reply["content"][0]["type"], "tool_use");
    assert_eq!(reply["content"][0]["input"]["q"], 1);
    assert_eq!(reply["stop_reason"], "tool_use");
    // The rule was used once: now nothing matches, strict mode answers 400.
    let (s, _, reply) = post(&url, body).await;
    assert_eq!(s, 400);
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("no script rule matched")
    );
    let reqs = server.requests();
    assert_eq!(reqs[0].system, "sys");
    assert_eq!(reqs[0].turn, 2);
    assert_eq!(reqs[0].last_user_or_tool_text(), "none");
}

#[tokio::test]
async fn closure_responder_and_json_script() {
    let server = ScriptedServer::start(Script::from_fn(|req| {
        Reply::text(format!("model={}", req.model))
    }))
    .await
    .expect("start");
    let (_, _, body) = post(
        &format!("{}/chat/completions", server.base_url()),
        json!({"model": "abc", "messages": []}),
    )
    .await;
    assert_eq!(body["choices"][0]["message"]["content"], "model=abc");

    let script = Script::from_json(
        r#"[{"when": {"turn": 1}, "reply": {"type": "text", "text": "t1"}, "times": 2}]"#,
    )
    .expect("parse");
    assert!(format!("{script:?}").contains("t1"));
    let err = Script::from_json(r#"[{"reply": {"type": "nope"}}]"#).expect_err("bad type");
    assert!(err.to_string().contains("invalid script"), "{err}");
}

#[test]
fn binary_prints_address_and_summary() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scripted-llm"))
        .args(["--port", "0", "--latency-ms", "10"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn scripted-llm");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("a line").expect("read");
    let base = first
        .strip_prefix("listening ")
        .expect("listening line")
        .to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        for _ in 0..3 {
            let (s, _, _) = post(
                &format!("{base}/v1/chat/completions"),
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
            )
            .await;
            assert_eq!(s, 200);
        }
    });
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let summary = lines.next().expect("summary line").expect("read");
    let v: Value = serde_json::from_str(&summary).expect("json summary");
    assert_eq!(v["requests"], 3);
    assert_eq!(v["max_in_flight"], 1);
    assert!(child.wait().expect("wait").success());
}

#[test]
fn binary_serves_a_json_script_file() {
    let path = std::env::temp_dir().join(format!("scripted-llm-test-{}.json", std::process::id()));
    std::fs::write(&path, r#"{"latency_ms": 5, "rules": [{"when": {"model": "m"}, "reply": {"type": "text", "text": "from file", "usage": {"prompt_tokens": 2, "completion_tokens": 3}}}]}"#)
        .expect("write script");
    let mut child = Command::new(env!("CARGO_BIN_EXE_scripted-llm"))
        .args(["--port", "0", "--script"])
        .arg(&path)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn scripted-llm");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let base = lines
        .next()
        .expect("a line")
        .expect("read")
        .replace("listening ", "");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let body = rt.block_on(async {
        let (s, _, body) = post(
            &format!("{base}/v1/messages"),
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
        assert_eq!(s, 200);
        body
    });
    assert_eq!(body["content"][0]["text"], "from file");
    assert_eq!(body["usage"]["output_tokens"], 3);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let _ = std::fs::remove_file(&path);

    let out = Command::new(env!("CARGO_BIN_EXE_scripted-llm"))
        .args(["--script", "/nonexistent/script.json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read script file"));
}

/// The data lines of a server-sent-events body, parsed (`[DONE]` left out).
fn sse_data(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).expect("an event's data is JSON"))
        .collect()
}

#[tokio::test]
async fn streams_in_each_wire_format_when_asked() {
    let server = ScriptedServer::start(Script::rules(vec![
        Rule::when(
            Matcher::turn(1),
            Reply::tool_call("mcp__team__send_message", r#"{"to":"lead"}"#).with_usage(9, 2),
        ),
        Rule::always(Reply::text("done").with_usage(9, 2)),
    ]))
    .await
    .expect("start");
    // OpenAI chat completions: chunks, the call, a usage chunk, [DONE].
    let (s, _, body) = post(
        &format!("{}/chat/completions", server.base_url()),
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "go"}]}),
    )
    .await;
    assert_eq!(s, 200);
    let text = body.as_str().expect("an event stream");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let events = sse_data(text);
    assert!(
        events
            .iter()
            .all(|e| e["object"] == "chat.completion.chunk")
    );
    assert_eq!(
        events[1]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"],
        "mcp__team__send_message"
    );
    assert_eq!(events.last().unwrap()["usage"]["prompt_tokens"], 9);
    // Anthropic messages: message_start .. message_stop, the text as a delta.
    let (s, _, body) = post(
        &format!("{}/v1/messages", server.anthropic_base_url()),
        json!({"model": "m", "stream": true, "max_tokens": 10, "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [{"type": "text", "text": "x"}]},
            {"role": "user", "content": "again"}]}),
    )
    .await;
    assert_eq!(s, 200);
    let events = sse_data(body.as_str().expect("an event stream"));
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(events[2]["delta"]["text"], "done");
    // OpenAI responses (always a stream): a call of a tool in an offered namespace carries
    // the namespace apart, as Codex expects.
    let (s, _, body) = post(
        &format!("{}/responses", server.base_url()),
        json!({"model": "m", "stream": true, "instructions": "be brief",
            "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]}],
            "tools": [{"type": "namespace", "name": "mcp__team", "tools": [
                {"type": "function", "name": "send_message", "parameters": {}}]}]}),
    )
    .await;
    assert_eq!(s, 200);
    let events = sse_data(body.as_str().expect("an event stream"));
    let done = events
        .iter()
        .find(|e| e["type"] == "response.output_item.done")
        .expect("an item");
    assert_eq!(done["item"]["type"], "function_call");
    assert_eq!(done["item"]["namespace"], "mcp__team");
    assert_eq!(done["item"]["name"], "send_message");
    let completed = events.last().unwrap();
    assert_eq!(completed["type"], "response.completed");
    assert_eq!(completed["response"]["usage"]["input_tokens"], 9);
    let reqs = server.requests();
    assert_eq!(reqs[2].protocol, Protocol::Responses);
    assert_eq!(reqs[2].system, "be brief");
    assert_eq!(reqs[2].tools, ["mcp__team__send_message"]);
}

/// `--cpu-us` (a CPU-hungry server): requests cost the server CPU one after the other (it
/// runs on one thread), so four sent at once take at least four times the cost.
#[test]
fn binary_with_a_cpu_cost_serves_requests_one_cpu_slice_at_a_time() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scripted-llm"))
        .args(["--port", "0", "--cpu-us", "25000"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn scripted-llm");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("a line").expect("read");
    let base = first.strip_prefix("listening ").expect("listening line");
    let url = format!("{base}/v1/chat/completions");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let took = rt.block_on(async {
        let t0 = std::time::Instant::now();
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
        let all = (0..4).map(|_| {
            let (url, body) = (url.clone(), body.clone());
            async move { post(&url, body).await }
        });
        for (s, _, _) in futures_join_all(all).await {
            assert_eq!(s, 200);
        }
        t0.elapsed()
    });
    assert!(
        took >= std::time::Duration::from_millis(100),
        "4 requests of 25 ms of CPU each took {took:?}"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// Awaits every future (a small `join_all`, tokio tasks underneath).
async fn futures_join_all<F>(futs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("join"));
    }
    out
}

#[tokio::test]
async fn a_server_that_does_not_record_keeps_arrivals_but_no_requests() {
    let server = ScriptedServer::start(Script::default().with_record(false))
        .await
        .expect("start");
    let url = format!("{}/chat/completions", server.base_url());
    for text in ["one", "two"] {
        let (s, _, body) = post(
            &url,
            json!({"model": "m", "stream": false, "messages": [{"role": "user", "content": text}]}),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(
            body["choices"][0]["message"]["content"],
            format!("echo: {text}")
        );
    }
    assert_eq!(server.request_count(), 2);
    assert_eq!(server.arrivals().len(), 2);
    assert!(server.requests().is_empty());
    // Recording is the default: tests read the requests back.
    let server = ScriptedServer::start(Script::default())
        .await
        .expect("start");
    let url = format!("{}/chat/completions", server.base_url());
    post(
        &url,
        json!({"messages": [{"role": "user", "content": "hi"}], "stream": true}),
    )
    .await;
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].stream);
    assert_eq!(requests[0].body()["messages"][0]["content"], "hi");
    assert_eq!(server.arrivals(), vec![requests[0].received_after]);
}
