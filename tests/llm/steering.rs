//! Steering a member mid-turn (issue 18), on both engines, with `team send` from another
//! process while the member runs in a foreground `team spawn`:
//! - a message to an LLM member in a tool loop reaches it before its next model call, framed
//!   as between turns, and is not delivered again as a new turn;
//! - `team send --interrupt` cancels the model call in flight (held by the scripted server)
//!   and the model is asked again with the message, long before the held call would answer;
//! - a command agent is unaffected: the message waits for the end of its turn.

use std::time::{Duration, Instant};

use team_testkit::{Matcher, Reply, Rule, Script, ScriptRequest, ScriptedServer};

use crate::support::{Backend, Project, Wire, dump, events_of, requests_of, stdout};

const STEER: &str = "STEER-LEFT-7: use the other file";

/// Waits (at most 30 s) until `server` has received `n` requests of member `name`.
async fn requests_reach(server: &ScriptedServer, name: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while requests_of(&server.requests(), name).len() < n {
        assert!(
            Instant::now() < deadline,
            "{name} never made {n} model calls"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The user messages of a request that carry `text`.
fn users_with<'a>(req: &'a ScriptRequest, text: &str) -> Vec<&'a str> {
    req.messages
        .iter()
        .filter(|m| m.role == "user" && m.text.contains(text))
        .map(|m| m.text.as_str())
        .collect()
}

/// `team send TEAM --from lead --to MEMBER BODY` (and `extra` flags), which must succeed.
async fn send(p: &Project, team: &str, to: &str, body: &str, extra: &[&str]) {
    let mut args = vec!["send", team, "--from", "lead", "--to", to];
    args.extend_from_slice(extra);
    args.push(body);
    let out = p.team(&args).await;
    assert!(out.status.success(), "team send: {}", dump(&out));
}

#[rstest::rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_reaches_a_member_in_a_tool_loop_before_its_next_call(#[case] backend: Backend) {
    // Tool call (a slow command), tool call, text.
    let script = Script::rules(vec![
        Rule::when(
            Matcher::turn(1),
            Reply::tool_call("bash", r#"{"command":"sleep 3; echo first"}"#),
        ),
        Rule::when(
            Matcher::turn(2),
            Reply::tool_call("bash", r#"{"command":"echo second"}"#),
        ),
        Rule::always(Reply::text("steered and done")),
    ]);
    let server = ScriptedServer::start(script).await.expect("server");
    let Some(p) = Project::on(
        backend,
        Wire::OpenAi,
        &server.base_url(),
        "member_timeout_secs = 1",
    )
    .await
    else {
        return;
    };
    p.agent("worker", "model: mock/m", "You work.");
    p.create_team("steer").await;

    // The member is persistent: had the message also been left in its inbox, it would wake
    // for a second turn before its idle timeout.
    let spawn = p.team(&[
        "spawn",
        "steer",
        "worker",
        "--prompt",
        "go",
        "--persistent",
        "--allow",
        "bash",
    ]);
    let steer = async {
        // The first tool (`sleep 3`) runs once the first model call is answered.
        requests_reach(&server, "worker", 1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        send(&p, "steer", "worker", STEER, &[]).await
    };
    let (out, ()) = tokio::join!(spawn, steer);
    assert!(out.status.success(), "spawn: {}", dump(&out));
    assert!(stdout(&out).contains("steered and done"), "{}", dump(&out));

    let reqs = requests_of(&server.requests(), "worker");
    assert_eq!(
        reqs.len(),
        3,
        "three model calls, no second turn: {reqs:#?}"
    );
    assert!(users_with(&reqs[0], STEER).is_empty());
    let injected = users_with(&reqs[1], STEER);
    assert_eq!(injected.len(), 1, "{:#?}", reqs[1].messages);
    assert!(
        injected[0].starts_with("[message from lead (text)]"),
        "framed as between turns: {}",
        injected[0]
    );
    assert_eq!(
        reqs[1].messages.last().map(|m| m.text.as_str()),
        Some(injected[0]),
        "the message comes after the first tool's result"
    );
    assert_eq!(users_with(&reqs[2], STEER).len(), 1, "given once");

    let events = p.events("steer").await;
    let injected = events_of(&events, "message.injected", Some("worker"));
    assert_eq!(injected.len(), 1, "{injected:#?}");
    assert_eq!(injected[0]["payload"]["interrupt"], false);
    let sent = events_of(&events, "message.sent", Some("lead"));
    let id = sent.last().expect("the send's event")["payload"]["ids"][0].clone();
    assert_eq!(injected[0]["payload"]["ids"], serde_json::json!([id]));
    let delivered: Vec<_> = events_of(&events, "message.delivered", Some("worker"))
        .into_iter()
        .filter(|e| {
            e["payload"]["ids"]
                .as_array()
                .is_some_and(|ids| ids.contains(&id))
        })
        .collect();
    assert_eq!(delivered.len(), 1, "taken exactly once: {delivered:#?}");
    let worker = p.member("steer", "worker").await;
    assert_eq!(worker["turns"], 1, "no second turn: {worker:#}");
}

#[rstest::rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_interrupt_cancels_the_call_in_flight_and_asks_again(#[case] backend: Backend) {
    const HELD_MS: u64 = 20_000;
    let script = Script::rules(vec![
        Rule::when(
            Matcher::last_message_contains(STEER),
            Reply::text("redirected").with_usage(100, 10),
        ),
        Rule::always(Reply::text("the slow answer").with_usage(1000, 1000)).delay_ms(HELD_MS),
    ]);
    let server = ScriptedServer::start(script).await.expect("server");
    let Some(p) = Project::on(backend, Wire::OpenAi, &server.base_url(), "").await else {
        return;
    };
    p.agent("worker", "model: mock/m", "You work.");
    p.create_team("steer").await;

    let started = Instant::now();
    let spawn = p.team(&["spawn", "steer", "worker", "--prompt", "go"]);
    let steer = async {
        requests_reach(&server, "worker", 1).await;
        send(&p, "steer", "worker", STEER, &["--interrupt"]).await
    };
    let (out, ()) = tokio::join!(spawn, steer);
    let took = started.elapsed();
    assert!(out.status.success(), "spawn: {}", dump(&out));
    assert!(stdout(&out).contains("redirected"), "{}", dump(&out));
    assert!(
        took < Duration::from_millis(HELD_MS / 2),
        "the held call was waited for: {took:?}"
    );

    let reqs = requests_of(&server.requests(), "worker");
    assert_eq!(reqs.len(), 2, "{reqs:#?}");
    assert!(users_with(&reqs[0], STEER).is_empty());
    let injected = users_with(&reqs[1], STEER);
    assert_eq!(injected.len(), 1, "{:#?}", reqs[1].messages);
    assert!(injected[0].starts_with("[message from lead (text)]"));

    let events = p.events("steer").await;
    let calls = events_of(&events, "provider.call", Some("worker"));
    let statuses: Vec<&str> = calls
        .iter()
        .filter_map(|e| e["payload"]["status"].as_str())
        .collect();
    assert_eq!(statuses, ["interrupted", "ok"], "{calls:#?}");
    assert_eq!(calls[0]["payload"]["prompt_tokens"], 0);
    let injected = events_of(&events, "message.injected", Some("worker"));
    assert_eq!(injected.len(), 1, "{injected:#?}");
    assert_eq!(injected[0]["payload"]["interrupt"], true);
    let sent = events_of(&events, "message.sent", Some("lead"));
    assert_eq!(sent.last().expect("the send")["payload"]["interrupt"], true);
    // Only the call that answered is counted.
    let worker = p.member("steer", "worker").await;
    assert_eq!(worker["prompt_tokens"], 100, "{worker:#}");
    assert_eq!(worker["completion_tokens"], 10, "{worker:#}");
}

#[rstest::rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_command_agent_gets_messages_after_its_turn(#[case] backend: Backend) {
    let server = ScriptedServer::start(Script::default())
        .await
        .expect("server");
    let Some(p) = Project::on(
        backend,
        Wire::OpenAi,
        &server.base_url(),
        "member_timeout_secs = 1",
    )
    .await
    else {
        return;
    };
    let script = p.path("slow.sh");
    std::fs::write(&script, "input=$(cat)\nsleep 2\necho \"got: $input\"\n").expect("script");
    let argv = serde_json::to_string(&["sh", &script.to_string_lossy()]).expect("argv");
    std::fs::write(
        p.path(".team/agents/slow.md"),
        format!("---\ndescription: a slow command\ncommand: {argv}\n---\nA command.\n"),
    )
    .expect("agent file");
    p.create_team("steer").await;

    let spawn = p.team(&["spawn", "steer", "slow", "--prompt", "go", "--persistent"]);
    let steer = async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !p
            .members("steer")
            .await
            .iter()
            .any(|m| m["name"] == "slow" && m["status"] == "running")
        {
            assert!(Instant::now() < deadline, "slow never ran");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        send(&p, "steer", "slow", STEER, &["--interrupt"]).await
    };
    let (out, ()) = tokio::join!(spawn, steer);
    assert!(out.status.success(), "spawn: {}", dump(&out));
    // The first turn ran to its end on its prompt; the message was the second turn's input.
    let text = stdout(&out);
    assert!(
        text.contains("got: [message from lead (text)]"),
        "{}",
        dump(&out)
    );
    assert!(text.contains(STEER), "{}", dump(&out));
    let events = p.events("steer").await;
    assert!(events_of(&events, "message.injected", None).is_empty());
    let slow = p.member("steer", "slow").await;
    assert_eq!(slow["turns"], 2, "{slow:#}");
    assert!(server.requests().is_empty(), "no model was called");
}
