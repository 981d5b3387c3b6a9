//! The other options of `team run spec-review`: `--set reviewers=…`, `--output`, `--events -`
//! and the progress and summary on stderr, `--timeout` (124), `--max-tokens` (125),
//! `--detach` (then `team wait` and `team report`), and a run without a model.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use team_testkit::{Matcher, Reply, Rule, Script, ScriptedServer};

use crate::support::{
    Faults, Project, SPECIALISTS, assert_markdown_report, code, dump, is_cross_review,
    is_synthesis, pep_0703, pep_0765, processes_in, run_args, script, specialist_of, stderr,
    stdout,
};

/// `team show --json TEAM`, polled until the team is no longer active (fails after `limit`).
async fn wait_ended(p: &Project, team: &str, limit: Duration) -> Value {
    let start = Instant::now();
    loop {
        let show = p.show(team).await;
        if show["team"]["status"] != "active" {
            return show;
        }
        assert!(
            start.elapsed() < limit,
            "team {team} still active after {limit:?}: {show:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls until no process runs in the project directory (fails after `limit`).
async fn no_process_left(p: &Project, limit: Duration) {
    let start = Instant::now();
    loop {
        let left = processes_in(p.root());
        if left.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "processes left in the project after {limit:?}: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asserts that every member of a `team show --json` document is terminal.
#[track_caller]
fn assert_no_live_member(show: &Value) {
    for m in show["members"].as_array().expect("members") {
        let status = m["status"].as_str().unwrap_or("");
        assert!(
            ["cancelled", "failed", "completed", "timed_out"].contains(&status),
            "member {} is {status}: {show:#}",
            m["name"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chosen_reviewers_only() {
    let review = pep_0765();
    let server = ScriptedServer::start(script(&review, &Faults::default(), 20))
        .await
        .unwrap();
    let p = Project::new(&server.base_url()).await;
    let spec = p.spec(review.spec);
    let out = p
        .team(&run_args(
            &spec,
            "pair",
            &["--set", "reviewers=security, testing"],
        ))
        .await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let exp = review.expected_of(&["security", "testing"], &[]);
    assert_markdown_report(&stdout(&out), &review, &exp);
    let reqs = server.requests();
    let agents: Vec<&str> = reqs.iter().filter_map(specialist_of).collect();
    assert!(
        agents.iter().all(|a| *a == "security" || *a == "testing"),
        "only the chosen specialists ran: {agents:?}"
    );
    assert_eq!(reqs.iter().filter(|r| is_cross_review(r)).count(), 2);
    let members = p.show("pair").await["members"].clone();
    let names: Vec<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["lead", "security", "testing"]);

    // An unknown parameter is a usage error naming the known ones.
    let out = p
        .team(&run_args(&spec, "typo", &["--set", "reviewer=security"]))
        .await;
    assert_eq!(code(&out), 2, "{}", dump(&out));
    assert!(
        stderr(&out).contains("no parameter `reviewer`"),
        "{}",
        dump(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_file_events_on_stderr_progress_and_summary() {
    // Each phase lasts longer than the progress view's 250 ms refresh.
    let review = pep_0765();
    let server = ScriptedServer::start(script(&review, &Faults::default(), 1000))
        .await
        .unwrap();
    let p = Project::new(&server.base_url()).await;
    let spec = p.spec(review.spec);
    let out = p
        .team(&run_args(
            &spec,
            "quietly",
            &["--output", "review.md", "--events", "-"],
        ))
        .await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    assert!(
        out.stdout.is_empty(),
        "stdout carries only the report: {}",
        dump(&out)
    );
    let md = p.read("review.md");
    assert_markdown_report(&md, &review, &review.expected(&[]));
    assert_eq!(md, stdout(&p.team(&["report", "quietly"]).await));

    let err = stderr(&out);
    // Every event as a JSON line.
    let events: Vec<Value> = err
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let logged = p.events("quietly").await;
    assert_eq!(events, logged, "--events - writes every event to stderr");
    // Plain progress lines (CI, no terminal): the phases, in order, timestamped, with k/n.
    let phases: Vec<&str> = err
        .lines()
        .filter_map(|l| l.split_once(" phase ").map(|(_, p)| p))
        .collect();
    assert_eq!(
        phases,
        ["review (1/3)", "cross_review (2/3)", "synthesis (3/3)"],
        "{err}"
    );
    // The summary: tokens per member and in total, wall time, parallel speedup.
    for m in SPECIALISTS.iter().chain(&["lead"]) {
        assert!(
            err.lines()
                .any(|l| l.trim_start().starts_with(&format!("{m} ")) && l.contains("busy")),
            "no summary line for {m}:\n{err}"
        );
    }
    let total = err
        .lines()
        .find(|l| l.starts_with("total tokens "))
        .unwrap_or_else(|| panic!("no total line:\n{err}"));
    assert!(total.contains("wall time"), "{total}");
    let speedup: f64 = total
        .split("parallel speedup ")
        .nth(1)
        .and_then(|s| s.split('x').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no speedup in `{total}`"));
    assert!(speedup > 1.0, "five members in parallel: speedup {speedup}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_exits_124_and_disbands_the_team() {
    let review = pep_0765();
    let server = ScriptedServer::start(script(&review, &Faults::default(), 120_000))
        .await
        .unwrap();
    let p = Project::new(&server.base_url()).await;
    let spec = p.spec(review.spec);
    let start = Instant::now();
    let out = p.team(&run_args(&spec, "slow", &["--timeout", "2"])).await;
    assert_eq!(code(&out), 124, "{}", dump(&out));
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "it gave up on time: {:?}",
        start.elapsed()
    );
    assert!(stderr(&out).contains("timed out"), "{}", dump(&out));
    let show = p.show("slow").await;
    assert_eq!(show["team"]["status"], "disbanded", "{show:#}");
    assert!(
        show["team"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("timed out")),
        "{show:#}"
    );
    assert_no_live_member(&show);
    assert!(processes_in(p.root()).is_empty());
}

/// How the report names a specialist stopped by the token budget.
const CUT_SHORT: &str = "stopped before it answered (token budget spent)";

/// A script in which `slow` never answers within the test while every other specialist
/// answers its review at once; anything else is unexpected (HTTP 400).
fn one_slow_specialist(review: &crate::support::Review, slow: &str) -> Script {
    let mut rules = vec![
        Rule::when(
            Matcher::system_contains(format!("(agent `{slow}`)")),
            Reply::text(review.answer_of(slow)),
        )
        .delay_ms(120_000),
    ];
    for agent in SPECIALISTS.iter().filter(|a| **a != slow) {
        rules.push(Rule::when(
            Matcher {
                system_contains: Some(format!("(agent `{agent}`)")),
                turn: Some(1),
                ..Matcher::default()
            },
            Reply::text(review.answer_of(agent)),
        ));
    }
    rules.push(Rule::always(Reply::error(
        400,
        r#"{"error":{"message":"unexpected request"}}"#,
    )));
    Script::rules(rules).with_latency_ms(20)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_tokens_stops_the_run_with_125_and_the_report_says_so() {
    let review = pep_0703();
    let server = ScriptedServer::start(one_slow_specialist(&review, "security"))
        .await
        .unwrap();
    let p = Project::new(&server.base_url()).await;
    let spec = p.spec(review.spec);
    let start = Instant::now();
    let out = p
        .team(&run_args(&spec, "budget", &["--max-tokens", "100"]))
        .await;
    assert_eq!(code(&out), 125, "{}", dump(&out));
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "it stopped without waiting for the slow specialist: {:?}",
        start.elapsed()
    );
    let md = stdout(&out);
    assert!(
        md.contains("> **Note:** the token budget (100 tokens) was spent"),
        "the report says so:\n{md}"
    );
    assert!(
        md.contains(&format!("- security (security): **failed**: {CUT_SHORT}\n")),
        "the specialist cut short is named:\n{md}"
    );
    // The fast specialists answered at about the moment the budget was crossed: each is in
    // the report either with its findings or as cut short, never silently.
    for agent in SPECIALISTS.iter().filter(|a| **a != "security") {
        let completed = md.contains(&format!(
            "- {agent} ({agent}): completed, {} finding(s)\n",
            review.findings_of(agent).len()
        ));
        let cut = md.contains(&format!("- {agent} ({agent}): **failed**: {CUT_SHORT}\n"));
        assert!(completed || cut, "{agent}:\n{md}");
        for f in review.findings_of(agent) {
            assert_eq!(
                md.contains(f.finding),
                completed,
                "{agent}'s findings are in the report iff it completed:\n{md}"
            );
        }
    }
    let reqs = server.requests();
    assert!(
        !reqs.iter().any(|r| is_cross_review(r) || is_synthesis(r)),
        "nothing ran after the budget was spent"
    );
    let show = p.show("budget").await;
    assert_eq!(show["team"]["status"], "failed", "{show:#}");
    assert_no_live_member(&show);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_tokens_spent_by_the_last_answer_still_stops_the_run() {
    let review = pep_0765();
    let server = ScriptedServer::start(script(&review, &Faults::default(), 20))
        .await
        .unwrap();
    let p = Project::new(&server.base_url()).await;
    let spec = p.spec(review.spec);
    let out = p
        .team(&run_args(
            &spec,
            "one-budget",
            &["--set", "reviewers=security", "--max-tokens", "100"],
        ))
        .await;
    // The one review request alone holds the whole PEP: far more than 100 tokens.
    let show = p.json(&["report", "one-budget"]).await;
    let used = show["tokens"]["prompt_tokens"].as_i64().unwrap_or(0)
        + show["tokens"]["completion_tokens"].as_i64().unwrap_or(0);
    assert!(used > 100, "{show:#}");
    assert_eq!(
        code(&out),
        125,
        "{used} tokens used with --max-tokens 100: {}",
        dump(&out)
    );
    assert!(
        stdout(&out).contains("the token budget (100 tokens) was spent"),
        "{}",
        dump(&out)
    );
    assert!(
        !server.requests().iter().any(is_synthesis),
        "no synthesis once the budget is spent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_tokens_keeps_the_answers_that_reached_the_lead() {
    let review = pep_0703();
    let server = ScriptedServer::start(one_slow_specialist(&review, "security"))
        .await
        .unwrap();
    let p = Project::new(&server.base_url()).await;
    let spec = p.spec(review.spec);
    for attempt in 0..10 {
        let name = format!("budget-{attempt}");
        let out = p
            .team(&run_args(&spec, &name, &["--max-tokens", "100"]))
            .await;
        assert_eq!(code(&out), 125, "{}", dump(&out));
        let events = p.events(&name).await;
        // The workflow stops the specialists it gave up on: the first of those events marks
        // the moment the budget stop was decided.
        let stop = events
            .iter()
            .position(|e| e["kind"] == "member.failed" && e["payload"]["error"] == CUT_SHORT)
            .expect("security was cut short");
        let report = &events
            .iter()
            .find(|e| e["kind"] == "workflow.report")
            .expect("the report event")["payload"];
        for agent in SPECIALISTS.iter().filter(|a| **a != "security") {
            let answered = events[..stop].iter().any(|e| {
                e["kind"] == "message.sent"
                    && e["member"] == *agent
                    && e["payload"]["kind"] == "result"
            });
            let entry = report["specialists"]
                .as_array()
                .and_then(|l| l.iter().find(|s| s["member"] == *agent))
                .expect("the specialist is in the report");
            if answered {
                assert_eq!(
                    entry["status"], "completed",
                    "attempt {attempt}: {agent} sent its answer to the lead before the budget \
                     stop, yet the report says {entry}"
                );
            }
        }
    }
}

/// Kills a detached `team run` (by its pid, if it still runs in the project) when dropped.
struct Detached {
    pid: i32,
    root: PathBuf,
}

impl Drop for Detached {
    fn drop(&mut self) {
        let cwd = std::fs::read_link(format!("/proc/{}/cwd", self.pid));
        if cwd.is_ok_and(|c| c.starts_with(&self.root)) {
            let _ = kill(Pid::from_raw(self.pid), Signal::SIGKILL);
        }
    }
}

/// `team --json run … --detach --name NAME`: returns the guard of the background run.
async fn detach(p: &Project, spec: &str, name: &str) -> Detached {
    let mut args = vec!["--json"];
    args.extend(run_args(spec, name, &["--detach"]));
    let out = p.team(&args).await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(v["team"]["name"], name, "{v:#}");
    let pid = v["pid"].as_i64().expect("the background run's pid") as i32;
    Detached {
        pid,
        root: p.root().to_path_buf(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detach_returns_at_once_and_the_report_comes_later() {
    let review = pep_0765();
    let server = ScriptedServer::start(script(&review, &Faults::default(), 1000))
        .await
        .unwrap();
    let p = Project::new(&server.base_url()).await;
    let spec = p.spec(review.spec);
    let _guard = detach(&p, &spec, "later").await;
    // Three phases of one-second replies: the run cannot be over yet.
    let show = p.show("later").await;
    assert_eq!(show["team"]["status"], "active", "{show:#}");
    assert!(server.request_count() < 11);

    let show = wait_ended(&p, "later", Duration::from_secs(120)).await;
    assert_eq!(show["team"]["status"], "completed", "{show:#}");
    let out = p.team(&["report", "later"]).await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let md = stdout(&out);
    assert_markdown_report(&md, &review, &review.expected(&[]));
    assert_eq!(
        md,
        p.read(".team/report-later.md"),
        "the run wrote its report"
    );
    let manifest = p.json(&["report", "later"]).await;
    assert_eq!(manifest["members"].as_array().map(Vec::len), Some(6));
    no_process_left(&p, Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detach_then_wait_then_report() {
    let review = pep_0765();
    let server = ScriptedServer::start(script(&review, &Faults::default(), 1000))
        .await
        .unwrap();
    let p = Project::new(&server.base_url()).await;
    let spec = p.spec(review.spec);
    let _guard = detach(&p, &spec, "waited").await;
    let out = p.team(&["wait", "waited", "--timeout", "120"]).await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let out = p.team(&["report", "waited"]).await;
    let ok = code(&out) == 0;
    // Let the background run finish before failing, so nothing is left behind.
    wait_ended(&p, "waited", Duration::from_secs(120)).await;
    no_process_left(&p, Duration::from_secs(30)).await;
    assert!(ok, "report right after wait: {}", dump(&out));
    assert_markdown_report(&stdout(&out), &review, &review.expected(&[]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_model_it_stops_at_once_and_says_how_to_configure_one() {
    let p = Project::bare();
    let spec = p.spec("pep-0765.rst");
    let start = Instant::now();
    let out = p.team(&["run", "spec-review", &spec]).await;
    assert_eq!(code(&out), 2, "{}", dump(&out));
    assert!(start.elapsed() < Duration::from_secs(30));
    let err = stderr(&out);
    assert!(err.contains("--model PROVIDER/MODEL"), "{err}");
    assert!(err.contains("[providers."), "{err}");
    assert!(out.stdout.is_empty(), "{}", dump(&out));
    // Nothing is left behind: the .team/ the run made is removed with its database (issue 20).
    assert!(
        !p.path(".team").exists(),
        "a failed first run leaves no .team/"
    );
}
