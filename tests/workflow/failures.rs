//! Failures during `team run spec-review`: a specialist whose provider fails does not sink the
//! run (the report names it, exit 0); a failed lead fails the run (exit 1, the report says
//! so); so does a run in which no specialist succeeds.

use serde_json::Value;
use team_testkit::ScriptedServer;

use crate::support::{
    Faults, Project, SPECIALISTS, assert_json_report, assert_markdown_report, assert_schema_valid,
    code, dump, is_cross_review, is_synthesis, pep_0703, pep_0765, run_args, script, specialist_of,
    stdout,
};

const LATENCY_MS: u64 = 20;

/// The statuses of a team's members by name (`team show --json`).
async fn statuses(p: &Project, team: &str) -> Vec<(String, String)> {
    let show = p.show(team).await;
    show["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap_or("").to_owned(),
                m["status"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_specialist_whose_provider_fails_is_named_and_the_run_succeeds() {
    let review = pep_0703();
    let faults = Faults {
        failing: vec!["security"],
        ..Faults::default()
    };
    let server = ScriptedServer::start(script(&review, &faults, LATENCY_MS))
        .await
        .unwrap();
    let p = Project::new(&server.base_url()).await;
    let spec = p.spec(review.spec);
    let out = p.team(&run_args(&spec, "partial", &[])).await;
    assert_eq!(code(&out), 0, "{}", dump(&out));

    let md = stdout(&out);
    let exp = review.expected(&["security"]);
    assert_markdown_report(&md, &review, &exp);
    // The report names the failed specialist and why (the provider's HTTP 500).
    let line = md
        .lines()
        .find(|l| l.starts_with("- security (security): **failed**: "))
        .unwrap_or_else(|| panic!("no failed line for security:\n{md}"));
    assert!(line.contains("500"), "the error says what failed: {line}");
    let security_finding = review.findings[1].1[0].finding;
    assert!(
        !md.contains(security_finding),
        "the failed specialist's findings cannot be in the report:\n{md}"
    );
    let again = p.team(&["report", "partial", "--format", "json"]).await;
    let json: Value = serde_json::from_slice(&again.stdout).expect("team report JSON");
    assert_schema_valid(&json);
    assert_json_report(&json, &review, &exp);

    // The others reviewed each other; security was never asked to cross-review.
    let reqs = server.requests();
    assert!(
        reqs.iter()
            .filter(|r| specialist_of(r) == Some("security"))
            .all(|r| r.turn == 1 && !is_cross_review(r)),
        "security only ever made its first call"
    );
    for agent in SPECIALISTS.iter().filter(|a| **a != "security") {
        assert_eq!(
            reqs.iter()
                .filter(|r| specialist_of(r) == Some(*agent) && is_cross_review(r))
                .count(),
            1,
            "{agent} cross-reviewed"
        );
    }
    assert_eq!(reqs.iter().filter(|r| is_synthesis(r)).count(), 1);

    let show = p.show("partial").await;
    assert_eq!(show["team"]["status"], "completed", "{show:#}");
    for (name, status) in statuses(&p, "partial").await {
        let want = if name == "security" {
            "failed"
        } else {
            "completed"
        };
        assert_eq!(status, want, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_lead_fails_the_run() {
    let review = pep_0765();
    let faults = Faults {
        lead_fails: true,
        ..Faults::default()
    };
    let server = ScriptedServer::start(script(&review, &faults, LATENCY_MS))
        .await
        .unwrap();
    let p = Project::new(&server.base_url()).await;
    let spec = p.spec(review.spec);
    let out = p
        .team(&run_args(&spec, "leadless", &["--format", "json"]))
        .await;
    assert_eq!(code(&out), 1, "{}", dump(&out));

    // The report is still written, with the findings, and says the lead failed.
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("the report is still printed ({e}): {}", dump(&out)));
    assert_schema_valid(&report);
    assert_json_report(&report, &review, &review.expected(&[]));
    let notes = report["notes"].as_array().expect("notes");
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().is_some_and(|n| n.contains("the lead failed"))),
        "{report:#}"
    );
    assert_eq!(report["open_questions"], serde_json::json!([]));

    let show = p.show("leadless").await;
    assert_eq!(show["team"]["status"], "failed", "{show:#}");
    for (name, status) in statuses(&p, "leadless").await {
        let want = if name == "lead" {
            "failed"
        } else {
            "completed"
        };
        assert_eq!(status, want, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_specialist_succeeding_fails_the_run() {
    let review = pep_0765();
    let faults = Faults {
        failing: SPECIALISTS.to_vec(),
        ..Faults::default()
    };
    let server = ScriptedServer::start(script(&review, &faults, LATENCY_MS))
        .await
        .unwrap();
    let p = Project::new(&server.base_url()).await;
    let spec = p.spec(review.spec);
    let out = p.team(&run_args(&spec, "nobody", &[])).await;
    assert_eq!(code(&out), 1, "{}", dump(&out));
    let md = stdout(&out);
    assert!(md.contains("from 0 of 5 specialists"), "{md}");
    assert!(md.contains("no specialist produced findings"), "{md}");
    for s in SPECIALISTS {
        assert!(
            md.contains(&format!("- {s} ({s}): **failed**: ")),
            "{s} named as failed:\n{md}"
        );
    }
    assert!(
        !server.requests().iter().any(is_synthesis),
        "no synthesis without findings"
    );
    let show = p.show("nobody").await;
    assert_eq!(show["team"]["status"], "failed", "{show:#}");
}
