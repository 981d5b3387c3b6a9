//! Model answers as real models give them, end to end on SQLite and PostgreSQL: JSON in a
//! code fence with prose around it is read; prose, a missing key and a truncated object get
//! repair turns (the error and the schema sent back) before a specialist counts as failed; the
//! report says who needed repairs; every request asks for the answer's JSON shape (structured
//! output); the same finding raised by two specialists appears once with both raisers, and the
//! lead's proposed merges are applied.

use serde_json::{Value, json};
use team_testkit::{Reply, Script, ScriptRequest, ScriptedServer};

use crate::support::{
    Backend, Project, SYNTHESIS_MARK, assert_schema_valid, code, dump, is_synthesis, run_args,
    specialist_of, stdout,
};

/// What the workflow's repair message starts with.
const REPAIR_MARK: &str = "Your answer could not be read";

/// Repair messages the member has had so far in this conversation.
fn repairs_so_far(req: &ScriptRequest) -> usize {
    req.messages
        .iter()
        .filter(|m| m.role == "user" && m.text.contains(REPAIR_MARK))
        .count()
}

fn answer(req: &ScriptRequest) -> Reply {
    if is_synthesis(req) {
        // The lead merges F3 into F2 (the same issue, worded differently).
        return Reply::text(
            json!({"summary": "Two real issues.", "open_questions": ["Which expiry?"],
                "duplicates": [["F3", "F2"], ["F9", "F1"]]})
            .to_string(),
        );
    }
    let last = req.last_user_or_tool_text();
    let Some(agent) = specialist_of(req) else {
        return Reply::text("?");
    };
    if last.contains("The other specialists reported") {
        return Reply::text(r#"{"responses": [], "added": []}"#);
    }
    let repairs = repairs_so_far(req);
    match (agent, repairs) {
        // Fenced JSON with prose around it: read as it is.
        ("architecture", _) => Reply::text(
            "Here is my review.\n```json\n{\"findings\": [\
             {\"severity\": \"major\", \"location\": \"Section 3\", \"finding\": \"The cache has no expiry.\", \"suggestion\": \"Add a TTL.\"},\
             {\"severity\": \"minor\", \"location\": \"Section 4\", \"finding\": \"No metrics are defined.\", \"suggestion\": \"Define them.\"}]}\n```\nThanks!",
        ),
        // Prose first, then a missing key, then the JSON: two repairs.
        ("security", 0) => {
            Reply::text("The specification looks mostly fine, but the cache worries me.")
        }
        ("security", 1) => {
            Reply::text(r#"{"findings": [{"severity": "major", "location": "Section 3"}]}"#)
        }
        ("security", _) => Reply::text(
            "{\"findings\": [\
             {\"severity\": \"blocker\", \"location\": \"section 3\", \"finding\": \"the cache has NO expiry\", \"suggestion\": \"Expire entries.\"},\
             {\"severity\": \"minor\", \"location\": \"Section 4\", \"finding\": \"Metrics are missing.\", \"suggestion\": \"\"}]}",
        ),
        // Cut off at the token limit, every time: failed after two repairs.
        ("testing", _) => Reply::text("```json\n{\"findings\": [{\"severity\": \"major\", \"loc"),
        _ => Reply::text("?"),
    }
}

async fn tolerant_review(backend: Backend) {
    let server = ScriptedServer::start(Script::from_fn(answer))
        .await
        .expect("start the scripted server");
    let Some(p) = Project::on(backend, &server.base_url()).await else {
        return;
    };
    let spec = p.spec("pep-0765.rst");
    let out = p
        .team(&run_args(
            &spec,
            "answers",
            &[
                "--set",
                "reviewers=architecture,security,testing",
                "--format",
                "json",
            ],
        ))
        .await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_schema_valid(&report);

    // Who needed repairs, and who failed after them.
    let specialists: Vec<(String, String, u64)> = report["specialists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["member"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
                s["repairs"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        specialists,
        [
            ("architecture".into(), "completed".into(), 0),
            ("security".into(), "completed".into(), 2),
            ("testing".into(), "failed".into(), 2),
        ]
    );
    let testing_error = report["specialists"][2]["error"].as_str().unwrap();
    assert!(
        testing_error.contains("after 2 repairs")
            && testing_error.contains("no complete, valid JSON object"),
        "{testing_error}"
    );

    // F1: raised by both (same location and text once normalised), the worse severity kept.
    // F2 absorbed F3 (the lead's merge); F9 does not exist and is ignored.
    let findings = report["findings"].as_array().unwrap();
    let ids: Vec<&str> = findings.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["F1", "F2"], "{report:#}");
    assert_eq!(findings[0]["severity"], "blocker");
    assert_eq!(findings[0]["raised_by"], "architecture");
    assert_eq!(findings[0]["also_raised_by"], json!(["security"]));
    assert_eq!(findings[0]["merged"], json!([]));
    assert_eq!(findings[1]["finding"], "No metrics are defined.");
    assert_eq!(findings[1]["also_raised_by"], json!(["security"]));
    assert_eq!(findings[1]["merged"], json!(["F3"]));
    assert_eq!(report["summary"], "Two real issues.");
    assert_eq!(report["open_questions"], json!(["Which expiry?"]));

    // The Markdown report says the same.
    let md = stdout(&p.team(&["report", "answers"]).await);
    assert!(
        md.contains("- **F1** (Section 3): The cache has no expiry.\n"),
        "{md}"
    );
    assert!(
        md.contains("  - Raised by: architecture, security\n"),
        "{md}"
    );
    assert!(
        md.contains("- **F2** (Section 4): No metrics are defined. (merged: F3)\n"),
        "{md}"
    );
    assert!(
        md.contains("- security (security): completed, 2 finding(s), cross-reviewed, 2 repairs\n"),
        "{md}"
    );
    assert!(
        md.contains("- testing (testing): **failed**, 2 repairs: its answer held no findings"),
        "{md}"
    );

    // On the wire: every specialist turn asked for its shape (structured output), each repair
    // sent the error and the schema, the synthesis asked for its own shape.
    let requests = server.requests();
    let mut repairs_seen = 0;
    for r in &requests {
        let body = r.body();
        let format = &body["response_format"];
        assert_eq!(format["type"], "json_schema", "{body}");
        assert_eq!(format["json_schema"]["strict"], true);
        let name = format["json_schema"]["name"].as_str().unwrap();
        let last = r.last_user_or_tool_text();
        let want = if is_synthesis(r) {
            "synthesis_answer"
        } else if last.contains("The other specialists reported") {
            "cross_review_answer"
        } else {
            "review_answer"
        };
        assert_eq!(name, want, "{last}");
        if want == "review_answer" {
            assert_eq!(
                format["json_schema"]["schema"]["properties"]["findings"]["maxItems"],
                8
            );
        }
        if last.contains(REPAIR_MARK) {
            repairs_seen += 1;
            assert!(last.contains("\"findings\""), "the schema is sent: {last}");
            assert!(
                last.contains("holds no JSON object")
                    || last.contains("missing field `finding`")
                    || last.contains("no complete, valid JSON object"),
                "{last}"
            );
        }
        assert!(body["max_tokens"].is_u64(), "{body}");
    }
    assert_eq!(repairs_seen, 4, "two for security, two for testing");
    assert!(
        requests
            .iter()
            .any(|r| r.last_user_or_tool_text().contains(SYNTHESIS_MARK))
    );
}

mod tolerant_reading_and_repairs {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        tolerant_review(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        tolerant_review(Backend::Postgres).await;
    }
}

/// `max_repairs = 0`: an answer that cannot be read fails the specialist at once, as before
/// this change, with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_repairs_zero_fails_at_once() {
    let server = ScriptedServer::start(Script::from_fn(answer))
        .await
        .expect("start the scripted server");
    let p = Project::new(&server.base_url()).await;
    let spec = p.spec("pep-0765.rst");
    let out = p
        .team(&run_args(
            &spec,
            "strict",
            &[
                "--set",
                "reviewers=architecture,security",
                "--set",
                "max_repairs=0",
                "--format",
                "json",
            ],
        ))
        .await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    let security = &report["specialists"][1];
    assert_eq!(security["status"], "failed");
    assert_eq!(security["repairs"], 0);
    assert_eq!(
        security["error"],
        "its answer held no findings in the JSON shape asked for: the answer holds no JSON object"
    );
    assert!(
        !server
            .requests()
            .iter()
            .any(|r| r.last_user_or_tool_text().contains(REPAIR_MARK))
    );
}
