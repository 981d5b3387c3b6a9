//! Workspace-tool permissions of LLM members in a non-interactive run (stdin not a terminal,
//! `CI=true`): `bash` asks, so it is denied (a tool error naming `--allow bash`, a
//! `tool.denied` event) unless the run passes `--allow bash`; a path that escapes the project
//! root, through `..` or a symlink, is refused.

use team_testkit::{Matcher, Reply, Rule, Script, ScriptedServer};

use crate::support::{Project, Wire, call, calls, dump, events_of, tool_texts};

/// The command's output differs from its text, so seeing it proves the command ran.
const COMMAND: &str = r#"{"command":"echo PERM-OK-$((40+2))"}"#;

fn bash_script() -> Script {
    Script::rules(vec![
        Rule::when(Matcher::turn(1), Reply::tool_call("bash", COMMAND)),
        Rule::always(Reply::text("shell turn over")),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bash_is_denied_without_a_terminal_unless_allowed() {
    let server = ScriptedServer::start(bash_script()).await.expect("server");
    let p = Project::new(Wire::OpenAi, &server.base_url(), "").await;
    p.agent("shell", "model: mock/m", "You run commands.");

    // Without --allow: denied, the model is told how to allow it, the run goes on.
    p.create_team("denied").await;
    let out = p
        .team(&["spawn", "denied", "shell", "--prompt", "run it"])
        .await;
    assert!(out.status.success(), "spawn: {}", dump(&out));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "two model calls");
    let results = tool_texts(&reqs[1]);
    assert_eq!(results.len(), 1, "{results:#?}");
    assert!(
        results[0].starts_with("error"),
        "not a tool error: {}",
        results[0]
    );
    assert!(
        results[0].contains("--allow bash"),
        "no hint: {}",
        results[0]
    );
    assert!(
        !results[0].contains("PERM-OK-42"),
        "bash ran: {}",
        results[0]
    );
    let events = p.events("denied").await;
    let denied = events_of(&events, "tool.denied", Some("shell"));
    assert_eq!(denied.len(), 1, "{events:#?}");
    assert_eq!(denied[0]["payload"]["tool"], "bash");

    // With --allow bash: the command runs and its output goes back to the model.
    p.create_team("allowed").await;
    let out = p
        .team(&[
            "spawn", "allowed", "shell", "--prompt", "run it", "--allow", "bash",
        ])
        .await;
    assert!(out.status.success(), "spawn --allow bash: {}", dump(&out));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 4, "two more model calls");
    let results = tool_texts(&reqs[3]);
    assert_eq!(results.len(), 1, "{results:#?}");
    assert!(
        results[0].contains("PERM-OK-42"),
        "the command's output is missing: {}",
        results[0]
    );
    let events = p.events("allowed").await;
    assert!(
        events_of(&events, "tool.denied", None).is_empty(),
        "{events:#?}"
    );
    let ran = events_of(&events, "tool.call", Some("shell"));
    assert!(
        ran.iter()
            .any(|e| e["payload"]["tool"] == "bash" && e["payload"]["ok"] == true),
        "{events:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paths_escaping_the_project_root_are_refused() {
    let server = ScriptedServer::start(Script::rules(vec![
        Rule::when(
            Matcher::turn(1),
            calls(vec![
                call("read_file", r#"{"path":"../../etc/passwd"}"#),
                call("read_file", r#"{"path":"outside/passwd"}"#),
                call("read_file", r#"{"path":"notes.txt"}"#),
            ]),
        ),
        Rule::always(Reply::text("reader done")),
    ]))
    .await
    .expect("server");
    let p = Project::new(Wire::OpenAi, &server.base_url(), "").await;
    p.agent("reader", "model: mock/m", "You read files.");
    std::fs::write(p.path("notes.txt"), "inside-the-root\n").expect("notes");
    std::os::unix::fs::symlink("/etc", p.path("outside")).expect("symlink");
    p.create_team("t").await;

    let out = p.team(&["spawn", "t", "reader", "--prompt", "read"]).await;
    assert!(out.status.success(), "spawn: {}", dump(&out));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let results = tool_texts(&reqs[1]);
    assert_eq!(results.len(), 3, "{results:#?}");
    for (what, r) in [("`..`", results[0]), ("a symlink", results[1])] {
        assert!(
            r.starts_with("error"),
            "escape through {what} not refused: {r}"
        );
        assert!(
            !r.contains("root:"),
            "escape through {what} read /etc/passwd: {r}"
        );
    }
    assert!(
        results[2].contains("inside-the-root"),
        "a path inside the root is read: {}",
        results[2]
    );
}
