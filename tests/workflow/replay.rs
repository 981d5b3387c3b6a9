//! `team run spec-review --record FILE`, then `--replay FILE` with the scripted server stopped:
//! the same report, byte for byte, in the same project and in a fresh directory with no
//! provider configured; a cassette that lacks an exchange is a clear error naming the member
//! and the turn.

use std::collections::BTreeSet;

use serde_json::Value;
use team_testkit::ScriptedServer;

use crate::support::{
    Faults, Project, SPECIALISTS, code, dump, json_lines, pep_0703, run_args, script, stderr,
    stdout,
};

const LATENCY_MS: u64 = 20;

/// The note a replayed report starts its notes with.
const REPLAY_NOTE: &str = "> **Note:** replayed from the cassette run.cassette.jsonl: no model was called; its answers were recorded from mock/review-model\n\n";

/// A replayed Markdown report without its replay note; panics when the note is missing (the
/// report must say it replays recorded answers).
fn without_replay_note(replayed: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(replayed);
    assert!(
        text.contains(REPLAY_NOTE),
        "the replayed report says it is a replay:\n{text}"
    );
    text.replacen(REPLAY_NOTE, "", 1).into_bytes()
}

/// Records a run of PEP 703 in a new project, then stops the server. Returns the project, the
/// report printed by the recorded run (in `format`).
async fn record(format: &str) -> (Project, Vec<u8>) {
    let review = pep_0703();
    let server = ScriptedServer::start(script(&review, &Faults::default(), LATENCY_MS))
        .await
        .unwrap();
    let p = Project::new(&server.base_url()).await;
    let spec = p.spec(review.spec);
    let out = p
        .team(&run_args(
            &spec,
            "recorded",
            &["--record", "run.cassette.jsonl", "--format", format],
        ))
        .await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    assert_eq!(
        server.request_count(),
        11,
        "5 reviews, 5 cross-reviews, 1 synthesis"
    );
    let addr = server.addr();
    server.stop().await;
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the scripted server is stopped"
    );
    (p, out.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_run_prints_the_recorded_report_byte_for_byte() {
    let (p, recorded) = record("md").await;
    assert!(!recorded.is_empty());

    // Every exchange is in the cassette, keyed by member and turn.
    let lines = json_lines(&p.read("run.cassette.jsonl"));
    let keys: BTreeSet<(String, u64)> = lines
        .iter()
        .map(|l| {
            (
                l["member"].as_str().unwrap_or("").to_owned(),
                l["turn"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let mut want: BTreeSet<(String, u64)> = BTreeSet::new();
    for s in SPECIALISTS {
        want.insert((s.to_owned(), 1));
        want.insert((s.to_owned(), 2));
    }
    want.insert(("lead".to_owned(), 1));
    assert_eq!(keys, want, "cassette keys");
    assert_eq!(lines.len(), 11);
    assert!(
        lines.iter().all(|l| l["response"].is_object()),
        "every exchange has its response"
    );

    // The same project, the server stopped.
    let out = p
        .team(&run_args(
            "pep-0703.rst",
            "replayed",
            &["--replay", "run.cassette.jsonl"],
        ))
        .await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    assert!(
        stderr(&out)
            .contains("note: replayed from the cassette run.cassette.jsonl: no model was called"),
        "stderr says it is a replay: {}",
        dump(&out)
    );
    assert!(
        without_replay_note(&out.stdout) == recorded,
        "the replayed report differs from the recorded one:\n--- recorded ---\n{}\n--- replayed ---\n{}",
        String::from_utf8_lossy(&recorded),
        stdout(&out)
    );
    let show = p.show("replayed").await;
    assert_eq!(show["team"]["status"], "completed", "{show:#}");

    // A fresh directory: no .team/, no provider, no key, no --model (the cassette names it).
    let fresh = Project::bare();
    let spec = fresh.spec("pep-0703.rst");
    std::fs::copy(
        p.path("run.cassette.jsonl"),
        fresh.path("run.cassette.jsonl"),
    )
    .unwrap();
    let out = fresh
        .team(&[
            "run",
            "spec-review",
            &spec,
            "--replay",
            "run.cassette.jsonl",
        ])
        .await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    assert!(
        without_replay_note(&out.stdout) == recorded,
        "the report replayed in a fresh directory differs:\n--- recorded ---\n{}\n--- replayed ---\n{}",
        String::from_utf8_lossy(&recorded),
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_json_report_is_the_recorded_one_with_a_replay_note() {
    let (p, recorded) = record("json").await;
    let v: Value = serde_json::from_slice(&recorded).expect("the recorded report is JSON");
    assert_eq!(v["specialists"].as_array().map(Vec::len), Some(5));
    let out = p
        .team(&run_args(
            "pep-0703.rst",
            "replayed-json",
            &["--replay", "run.cassette.jsonl", "--format", "json"],
        ))
        .await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    // The replay's notes start with the replay note; without it, the report is the same.
    let mut replayed: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let notes = replayed["notes"].as_array_mut().expect("notes");
    let note = notes.remove(0);
    assert_eq!(
        note,
        "replayed from the cassette run.cassette.jsonl: no model was called; its answers were recorded from mock/review-model"
    );
    assert!(
        replayed == v,
        "--- recorded ---\n{}\n--- replayed ---\n{}",
        String::from_utf8_lossy(&recorded),
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_exchange_is_an_error_naming_member_and_turn() {
    let (p, _) = record("md").await;
    // Drop the lead's synthesis from the cassette.
    let text = p.read("run.cassette.jsonl");
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["member"] != "lead"
        })
        .collect();
    assert_eq!(kept.len(), 10);
    std::fs::write(p.path("short.cassette.jsonl"), kept.join("\n") + "\n").unwrap();
    let out = p
        .team(&run_args(
            "pep-0703.rst",
            "short",
            &["--replay", "short.cassette.jsonl"],
        ))
        .await;
    assert_eq!(code(&out), 1, "the lead failed: {}", dump(&out));
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        all.contains("no recorded exchange for member `lead` turn 1"),
        "the error names the member and the turn: {}",
        dump(&out)
    );
}
