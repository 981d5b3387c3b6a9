//! The API key in the environment (`MOCK_API_KEY`) is sent to the provider and nowhere else:
//! not in events, not in `-vvv` log lines, not in error texts (even when the provider echoes
//! it back in an error body), not in the `bash` tool's environment, not in the database.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use team_testkit::{Reply, Script, ScriptedServer};

use crate::support::{
    KEY, KEY_MARK, Project, Wire, assert_no_key, bytes_contain, code, dump, from_agent, stderr,
    stdout, tool_texts,
};

fn script() -> Script {
    let first = Arc::new(AtomicUsize::new(0));
    Script::from_fn(move |req| {
        let auth = req.header("authorization").unwrap_or("").to_owned();
        let echo = format!(r#"{{"error":{{"message":"rejected credentials: {auth}"}}}}"#);
        if from_agent(req, "worker") {
            // One 429 that echoes the key (retried), then a bash call, then an answer.
            if first.fetch_add(1, Ordering::SeqCst) == 0 {
                return Reply::error(429, echo);
            }
            return match req.turn {
                1 => Reply::tool_call(
                    "bash",
                    r#"{"command":"echo \"key=[$MOCK_API_KEY]\"; env | grep -c 'SECRET1[2]3' || true"}"#,
                ),
                _ => Reply::text("worker answered"),
            };
        }
        if from_agent(req, "broken") {
            return Reply::error(500, echo);
        }
        Reply::error(400, "unexpected caller")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_key_appears_in_no_event_log_line_error_or_database() {
    let server = ScriptedServer::start(script()).await.expect("server");
    let p = Project::new(Wire::OpenAi, &server.base_url(), "").await;
    p.agent("worker", "model: mock/m", "You work.");
    p.agent("broken", "model: mock/m", "Your provider is broken.");
    p.create_team("t").await;

    // A run that succeeds after a retry, with trace logging.
    let ok = p
        .team(&[
            "-vvv", "spawn", "t", "worker", "--prompt", "go", "--allow", "bash",
        ])
        .await;
    assert!(ok.status.success(), "worker: {}", dump(&ok));
    assert!(stdout(&ok).contains("worker answered"), "{}", dump(&ok));
    assert!(
        !stderr(&ok).trim().is_empty(),
        "-vvv printed no log lines at all"
    );

    // A run that fails on HTTP 500, with trace logging.
    let failed = p
        .team(&["-vvv", "spawn", "t", "broken", "--prompt", "go"])
        .await;
    assert_eq!(code(&failed), 1, "broken: {}", dump(&failed));
    assert!(stderr(&failed).contains("HTTP 500"), "{}", dump(&failed));

    // The key was really used: the server got it in the Authorization header and echoed it.
    let reqs = server.requests();
    assert!(
        reqs.iter()
            .all(|r| r.header("authorization") == Some(&format!("Bearer {KEY}"))),
        "every request carries the key"
    );

    // The bash tool runs without the key in its environment.
    let after_bash = reqs
        .iter()
        .filter(|r| from_agent(r, "worker"))
        .find(|r| r.turn == 2)
        .expect("the worker's second call");
    let bash_out = tool_texts(after_bash).join("\n");
    assert!(bash_out.contains("key=[]"), "bash output: {bash_out}");
    assert_no_key("the bash tool's output", &bash_out);

    // Nowhere in what the program printed, recorded or stored.
    assert_no_key("stdout/stderr of the successful run", &dump(&ok));
    assert_no_key("stdout/stderr of the failed run", &dump(&failed));
    let broken = p.member("t", "broken").await;
    let error = broken["error"].as_str().unwrap_or("").to_owned();
    assert!(
        error.contains("500") && error.contains("rejected credentials"),
        "the error keeps the status and the body excerpt (scrubbed): {error}"
    );
    assert_no_key("the member's error", &error);
    let events = p.json(&["logs", "t"]).await;
    assert_no_key("team logs --json", &events.to_string());
    let logs = p.team(&["logs", "t"]).await;
    assert_no_key("team logs", &dump(&logs));
    let show = p.json(&["show", "t"]).await;
    assert_no_key("team show --json", &show.to_string());
    let inbox = p.json(&["inbox", "t", "lead", "--peek"]).await;
    assert!(
        inbox.to_string().contains("[AGENT FAILURE] broken"),
        "inbox: {inbox}"
    );
    assert_no_key("the lead's inbox", &inbox.to_string());
    let db = p.db_bytes();
    assert!(
        !bytes_contain(&db, KEY_MARK),
        "the API key is stored in the database file"
    );
    for entry in walk(&p.path(".team")) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !bytes_contain(&bytes, KEY_MARK),
            "the API key is written to {}",
            entry.display()
        );
    }
}

/// Every file under `dir`, recursively.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}
