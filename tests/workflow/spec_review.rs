//! `team run spec-review` end to end, on PEP 765 (Markdown report) and PEP 703 (JSON report),
//! on SQLite and PostgreSQL: every specialist's findings reach the report with who raised,
//! agreed with and disputed each; the cross-review messages were exchanged (events); the five
//! specialists' review requests were in flight at once; the report's sections are there; the
//! JSON report validates against `docs/report.schema.json`; the manifest (`team report --json`)
//! agrees with the run.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use team_testkit::{ScriptRequest, ScriptedServer};

use crate::support::{
    Backend, CROSS_REVIEW_ANSWER, CROSS_REVIEW_MARK, Expected, Faults, Project, Review,
    SPECIALISTS, assert_json_report, assert_markdown_report, assert_schema_valid, code, dump,
    handed_findings, is_cross_review, is_synthesis, json_lines, md_section, pep_0703, pep_0765,
    run_args, schema_errors, script, specialist_of, stdout,
};

/// Every scripted reply takes this long, so the five review requests overlap even on a slow,
/// busy machine (they are sent within milliseconds of each other).
const LATENCY_MS: u64 = 2500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Markdown,
    Json,
}

/// Watches the server while the review phase runs: the most requests seen in flight at once
/// while the server had received no more than the five review requests.
struct InFlightWatch {
    stop: Arc<AtomicBool>,
    max: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl InFlightWatch {
    fn start(server: Arc<ScriptedServer>) -> InFlightWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let max = Arc::new(AtomicUsize::new(0));
        let (s, m) = (stop.clone(), max.clone());
        let task = tokio::spawn(async move {
            while !s.load(Ordering::SeqCst) {
                if server.request_count() <= SPECIALISTS.len() {
                    let now = server.in_flight();
                    // Counted only if no later request had arrived by the time it was read.
                    if server.request_count() <= SPECIALISTS.len() {
                        m.fetch_max(now, Ordering::SeqCst);
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        InFlightWatch { stop, max, task }
    }

    async fn finish(self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        self.max.load(Ordering::SeqCst)
    }
}

async fn full_review(backend: Backend, review: Review, format: Format) {
    let server = Arc::new(
        ScriptedServer::start(script(&review, &Faults::default(), LATENCY_MS))
            .await
            .expect("start the scripted server"),
    );
    let Some(p) = Project::on(backend, &server.base_url()).await else {
        return;
    };
    let spec = p.spec(review.spec);
    // Agent files the review does not use never stop it, even broken ones (issue 15).
    std::fs::create_dir_all(p.path(".claude/agents")).unwrap();
    std::fs::write(
        p.path(".claude/agents/broken.md"),
        "---\nname: [oops\n---\nx\n",
    )
    .unwrap();
    std::fs::write(
        p.path(".claude/agents/stats.md"),
        "---\ndescription: Use for stats. Triggers on: 'p-value', 'regression'\n---\nx\n",
    )
    .unwrap();
    let mut extra = vec!["--events", "events.jsonl"];
    if format == Format::Json {
        extra.extend(["--format", "json"]);
    }
    let watch = InFlightWatch::start(server.clone());
    let out = p.team(&run_args(&spec, "review", &extra)).await;
    let max_in_review = watch.finish().await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let exp = review.expected(&[]);

    // The report on stdout.
    let (report_json, report_md) = match format {
        Format::Json => {
            let v: Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("--format json prints JSON ({e}): {}", dump(&out)));
            assert_schema_valid(&v);
            let md = stdout(&p.team(&["report", "review"]).await);
            (v, md)
        }
        Format::Markdown => {
            let md = stdout(&out);
            let again = p.team(&["report", "review", "--format", "json"]).await;
            assert_eq!(code(&again), 0, "{}", dump(&again));
            let v: Value = serde_json::from_slice(&again.stdout).expect("team report JSON");
            assert_schema_valid(&v);
            (v, md)
        }
    };
    assert_json_report(&report_json, &review, &exp);
    assert_markdown_report(&report_md, &review, &exp);
    assert_eq!(report_json["summary"], review.summary);
    assert_eq!(
        report_json["open_questions"],
        serde_json::json!(review.open_questions)
    );
    assert_eq!(report_json["notes"], serde_json::json!([]));
    // The sections of the Markdown report, in order.
    let headings: Vec<&str> = report_md.lines().filter(|l| l.starts_with("## ")).collect();
    assert_eq!(
        headings,
        [
            "## Summary",
            "## Findings",
            "## Open questions",
            "## Specialists"
        ],
        "{report_md}"
    );
    let summary = md_section(&report_md, "## Summary").expect("Summary");
    assert!(summary.contains(review.summary), "{report_md}");
    let questions = md_section(&report_md, "## Open questions").expect("Open questions");
    for q in &review.open_questions {
        assert!(questions.contains(&format!("- {q}\n")), "{report_md}");
    }

    check_requests(&server.requests(), &review, &exp, max_in_review);
    assert!(
        server.max_in_flight() >= SPECIALISTS.len(),
        "max in flight {}",
        server.max_in_flight()
    );

    // The cross-review happened through messages: the events say so.
    let events = json_lines(&p.read("events.jsonl"));
    check_cross_review_events(&events);
    let logged = p.events("review").await;
    let ids = |v: &[Value]| v.iter().map(|e| e["id"].clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&events),
        ids(&logged),
        "--events holds every event of `team logs`"
    );

    // The manifest: every member completed, with tokens and time; the same report.
    let manifest = p.json(&["report", "review"]).await;
    assert_eq!(manifest["team"]["status"], "completed", "{manifest:#}");
    assert_eq!(manifest["report"], report_json, "{manifest:#}");
    let members = manifest["members"].as_array().expect("members");
    let names: BTreeSet<&str> = members
        .iter()
        .map(|m| m["name"].as_str().unwrap_or(""))
        .collect();
    let want: BTreeSet<&str> = SPECIALISTS.iter().copied().chain(["lead"]).collect();
    assert_eq!(names, want, "{manifest:#}");
    for m in members {
        assert_eq!(m["status"], "completed", "{m:#}");
        assert!(
            m["tokens"]["prompt_tokens"].as_i64().unwrap_or(0) > 0,
            "{m:#}"
        );
        assert!(
            m["tokens"]["completion_tokens"].as_i64().unwrap_or(0) > 0,
            "{m:#}"
        );
        assert!(
            m["busy_ms"].as_i64().unwrap_or(0) >= LATENCY_MS as i64,
            "{m:#}"
        );
    }
    let specialist_turns: Vec<i64> = members
        .iter()
        .filter(|m| m["name"] != "lead")
        .map(|m| m["turns"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(specialist_turns, [2; 5], "review + cross-review turns");
}

/// The server's view: the five review requests came first and overlapped, each specialist got
/// the others' findings (not its own) in its cross-review, and the lead's synthesis came last
/// with every finding.
fn check_requests(reqs: &[ScriptRequest], review: &Review, exp: &Expected, max_in_review: usize) {
    let n = SPECIALISTS.len();
    assert_eq!(
        reqs.len(),
        2 * n + 1,
        "5 reviews, 5 cross-reviews, 1 synthesis"
    );
    let first: Vec<&ScriptRequest> = reqs[..n].iter().collect();
    let agents: BTreeSet<&str> = first.iter().filter_map(|r| specialist_of(r)).collect();
    assert_eq!(
        agents.len(),
        n,
        "the first five requests are the five reviews"
    );
    for r in &first {
        assert_eq!(r.turn, 1);
        assert!(!is_cross_review(r));
        let prompt = &r.messages[0].text;
        assert!(
            prompt.contains(review.spec_mark),
            "the review prompt holds the specification's text"
        );
        assert!(prompt.contains(&format!("Specification: {}", review.spec)));
    }
    // All five were received within less than one reply latency, and each was held that long:
    // at the arrival of the last, all five were in flight.
    let arrived: Vec<Duration> = first.iter().map(|r| r.received_after).collect();
    let span = *arrived.iter().max().unwrap() - *arrived.iter().min().unwrap();
    assert!(
        span < Duration::from_millis(LATENCY_MS),
        "the five review requests were not in flight together: they arrived over {span:?}"
    );
    assert!(
        max_in_review >= n,
        "in flight during the review phase, as seen by polling the server: {max_in_review}"
    );

    let cross: Vec<&ScriptRequest> = reqs[n..2 * n].iter().collect();
    let review_phase: Vec<_> = exp
        .findings
        .iter()
        .filter(|f| f.phase == "review")
        .collect();
    for agent in SPECIALISTS {
        let mine: Vec<&&ScriptRequest> = cross
            .iter()
            .filter(|r| specialist_of(r) == Some(agent))
            .collect();
        assert_eq!(mine.len(), 1, "one cross-review request of {agent}");
        let r = mine[0];
        assert!(
            is_cross_review(r),
            "{agent}'s second request is its cross-review"
        );
        assert_eq!(
            r.turn, 2,
            "the cross-review continues {agent}'s conversation"
        );
        let handed = handed_findings(r.last_user_or_tool_text()).expect("findings handed over");
        let got: BTreeSet<&str> = handed
            .iter()
            .map(|f| f["finding"].as_str().unwrap_or(""))
            .collect();
        let want: BTreeSet<&str> = review_phase
            .iter()
            .filter(|f| f.raised_by != agent)
            .map(|f| f.raw.finding)
            .collect();
        assert_eq!(got, want, "the findings handed to {agent}");
        for f in &handed {
            assert_ne!(f["raised_by"], agent, "{agent} is not asked about its own");
            assert!(f["id"].as_str().is_some_and(|i| i.starts_with('F')));
        }
    }
    let last = &reqs[2 * n];
    assert!(is_synthesis(last), "the lead's synthesis comes last");
    for f in &exp.findings {
        assert!(
            last.last_user_or_tool_text().contains(f.raw.finding),
            "the synthesis prompt holds `{}`",
            f.raw.finding
        );
    }
}

/// The lead sent each specialist one cross-review message, each specialist received it and
/// answered the lead with its verdicts.
fn check_cross_review_events(events: &[Value]) {
    for agent in SPECIALISTS {
        let to_it: Vec<&Value> = events
            .iter()
            .filter(|e| {
                e["kind"] == "message.sent"
                    && e["member"] == "lead"
                    && e["payload"]["to"] == serde_json::json!([agent])
            })
            .collect();
        assert_eq!(to_it.len(), 1, "one message from the lead to {agent}");
        let sent = to_it[0];
        assert_eq!(sent["payload"]["kind"], "text");
        assert!(
            sent["payload"]["body"]
                .as_str()
                .is_some_and(|b| b.contains(CROSS_REVIEW_MARK)),
            "{sent:#}"
        );
        let msg_id = sent["payload"]["ids"][0].clone();
        let delivered = events.iter().position(|e| {
            e["kind"] == "message.delivered"
                && e["member"] == agent
                && e["payload"]["ids"]
                    .as_array()
                    .is_some_and(|ids| ids.contains(&msg_id))
        });
        let sent_at = events
            .iter()
            .position(|e| std::ptr::eq(e, sent))
            .expect("sent");
        let delivered = delivered.unwrap_or_else(|| panic!("{agent} received the cross-review"));
        assert!(delivered > sent_at);
        let answered = events[delivered..].iter().any(|e| {
            e["kind"] == "message.sent"
                && e["member"] == agent
                && e["payload"]["kind"] == "result"
                && e["payload"]["to"] == serde_json::json!(["lead"])
                && e["payload"]["body"]
                    .as_str()
                    .is_some_and(|b| b.starts_with(CROSS_REVIEW_ANSWER))
        });
        assert!(answered, "{agent} answered the lead with its verdicts");
    }
    assert!(
        events.iter().any(|e| e["kind"] == "team.completed"),
        "the team completed"
    );
}

mod pep_0765_markdown {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        full_review(Backend::Sqlite, pep_0765(), Format::Markdown).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        full_review(Backend::Postgres, pep_0765(), Format::Markdown).await;
    }
}

mod pep_0703_json {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        full_review(Backend::Sqlite, pep_0703(), Format::Json).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        full_review(Backend::Postgres, pep_0703(), Format::Json).await;
    }
}

/// The schema check is not vacuous: a report missing a section, with an unknown severity or an
/// extra field fails it.
#[test]
fn the_schema_rejects_malformed_reports() {
    let good = serde_json::json!({
        "workflow": "spec-review", "input": "x.rst", "summary": "s",
        "findings": [{"id": "F1", "severity": "major", "location": "l", "finding": "f",
            "suggestion": "s", "raised_by": "security", "also_raised_by": ["testing"],
            "merged": [], "phase": "review",
            "agreed_by": [{"member": "testing", "reason": "r"}], "disputed_by": []}],
        "open_questions": [], "specialists": [{"member": "security", "agent": "security",
            "status": "completed", "error": null, "findings": 1, "cross_reviewed": true,
            "repairs": 1}],
        "notes": []
    });
    assert!(
        schema_errors(&good).is_empty(),
        "{:?}",
        schema_errors(&good)
    );
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("specialists");
    assert!(!schema_errors(&missing).is_empty());
    let mut severity = good.clone();
    severity["findings"][0]["severity"] = "critical".into();
    assert!(!schema_errors(&severity).is_empty());
    let mut extra = good.clone();
    extra["findings"][0]["votes"] = 3.into();
    assert!(!schema_errors(&extra).is_empty());
}
