//! `team run spec-review --fail-on SEVERITY`: exit 10 when the report holds a finding at or
//! above SEVERITY (the report is still written), 0 when it holds none.

use team_testkit::ScriptedServer;

use crate::support::{Faults, Project, code, dump, pep_0765, run_args, script, stderr, stdout};

const LATENCY_MS: u64 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_on_major_trips_on_a_major_finding() {
    let review = pep_0765();
    let exp = review.expected(&[]);
    assert_eq!(
        exp.count("major"),
        2,
        "the scripted review has major findings"
    );
    let server = ScriptedServer::start(script(&review, &Faults::default(), LATENCY_MS))
        .await
        .unwrap();
    let p = Project::new(&server.base_url()).await;
    let spec = p.spec(review.spec);
    let out = p
        .team(&run_args(&spec, "gated", &["--fail-on", "major"]))
        .await;
    assert_eq!(code(&out), 10, "{}", dump(&out));
    let md = stdout(&out);
    assert!(
        md.contains("### Major"),
        "the report is still written:\n{md}"
    );
    assert!(
        stderr(&out).contains("gate: 2 finding(s) at or above major"),
        "{}",
        dump(&out)
    );
    // The gate is not a failure of the run.
    let show = p.show("gated").await;
    assert_eq!(show["team"]["status"], "completed", "{show:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_on_major_passes_without_one() {
    let review = pep_0765().without_major();
    let exp = review.expected(&[]);
    assert_eq!(exp.count("blocker") + exp.count("major"), 0);
    assert!(exp.count("minor") > 0);
    let server = ScriptedServer::start(script(&review, &Faults::default(), LATENCY_MS))
        .await
        .unwrap();
    let p = Project::new(&server.base_url()).await;
    let spec = p.spec(review.spec);
    let out = p
        .team(&run_args(&spec, "clean", &["--fail-on", "major"]))
        .await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let md = stdout(&out);
    assert!(
        md.contains(&format!(
            "{} findings (0 blocker, 0 major, {} minor, {} nit)",
            exp.findings.len(),
            exp.count("minor"),
            exp.count("nit")
        )),
        "{md}"
    );
    assert!(!stderr(&out).contains("gate:"), "{}", dump(&out));

    // The same review gated lower does trip: the gate reads this report's findings.
    let out = p
        .team(&run_args(&spec, "clean-minor", &["--fail-on", "minor"]))
        .await;
    assert_eq!(code(&out), 10, "{}", dump(&out));
    assert!(
        stderr(&out).contains(&format!(
            "gate: {} finding(s) at or above minor",
            exp.count("minor")
        )),
        "{}",
        dump(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_on_rejects_an_unknown_severity() {
    let p = Project::bare();
    let spec = p.spec("pep-0765.rst");
    let out = p
        .team(&run_args(&spec, "bad-gate", &["--fail-on", "serious"]))
        .await;
    assert_eq!(code(&out), 2, "{}", dump(&out));
    assert!(
        stderr(&out).contains("--fail-on takes blocker, major, minor or nit"),
        "{}",
        dump(&out)
    );
}
