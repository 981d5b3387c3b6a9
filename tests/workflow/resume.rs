//! Issue 18, resume: `team run spec-review` killed with `kill -9` in its review phase (some
//! specialists have answered, the others' model calls are in flight), then `team run
//! --resume`, writes the report an uninterrupted run writes, and no specialist's model call
//! is made again except those in flight at the kill.

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use team_testkit::{Matcher, Reply, Rule, Script, ScriptedServer};

use crate::support::{
    Backend, Faults, Project, SPECIALISTS, code, dump, pep_0765, run_args, script, specialist_of,
};

/// Specialists whose review call is still in flight when the run is killed.
const SLOW: [&str; 2] = ["security", "testing"];

/// The report of `team run ... --format json` (or `--resume`), parsed.
fn report_of(p: &Project, file: &str) -> Value {
    serde_json::from_str(&p.read(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Starts `team run spec-review` as team `killed` in `p` (whose provider is `first`, where the
/// [`SLOW`] specialists' review calls never come back), waits until the other specialists have
/// answered and the slow ones' calls are in flight, and kills it with SIGKILL. Returns the
/// (specialist, turn) of every request `first` received.
async fn kill_in_review(p: &Project, first: &ScriptedServer, spec: &str) -> Vec<(String, u32)> {
    let mut child = p
        .command(&run_args(spec, "killed", &[]))
        .spawn()
        .expect("spawn team run");
    let pid = child.id().expect("the child's pid");
    // Wait until the fast specialists have answered (idle) and the slow ones are in flight.
    let fast: Vec<&str> = SPECIALISTS
        .iter()
        .copied()
        .filter(|a| !SLOW.contains(a))
        .collect();
    let mut ready = false;
    for _ in 0..600 {
        if first.in_flight() == SLOW.len() {
            let show = p.show("killed").await;
            let idle = show["members"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| {
                    fast.contains(&m["name"].as_str().unwrap_or("")) && m["status"] == "idle"
                })
                .count();
            if idle == fast.len() {
                ready = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ready,
        "the fast specialists never all answered with the slow ones in flight: {:#}",
        p.show("killed").await
    );
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill -9 team run");
    let _ = child.wait().await;
    let before: Vec<(String, u32)> = first
        .requests()
        .iter()
        .map(|r| (specialist_of(r).unwrap_or("lead").to_owned(), r.turn))
        .collect();
    assert_eq!(before.len(), SPECIALISTS.len(), "{before:?}");
    before
}

/// A scripted server on which the [`SLOW`] specialists' review calls never come back.
async fn first_server(review: &crate::support::Review) -> ScriptedServer {
    let rules: Vec<Rule> = SPECIALISTS
        .iter()
        .map(|a| {
            let when = Matcher {
                system_contains: Some(format!("(agent `{a}`)")),
                turn: Some(1),
                ..Matcher::default()
            };
            let rule = Rule::when(when, Reply::text(review.answer_of(a)));
            if SLOW.contains(a) {
                rule.delay_ms(600_000)
            } else {
                rule
            }
        })
        .collect();
    ScriptedServer::start(Script::rules(rules)).await.unwrap()
}

async fn killed_in_review_then_resumed(backend: Backend) {
    let review = pep_0765();

    // The report of an uninterrupted run.
    let full = ScriptedServer::start(script(&review, &Faults::default(), 0))
        .await
        .unwrap();
    let Some(base) = Project::on(backend, &full.base_url()).await else {
        return;
    };
    let spec = base.spec(review.spec);
    let out = base
        .team(&run_args(
            &spec,
            "whole",
            &["--format", "json", "--output", "whole.json"],
        ))
        .await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let expected = report_of(&base, "whole.json");

    // The interrupted run: the slow specialists' review calls never come back.
    let first = first_server(&review).await;
    let Some(p) = Project::on(backend, &first.base_url()).await else {
        return;
    };
    let spec = p.spec(review.spec);
    kill_in_review(&p, &first, &spec).await;

    // The rest of the run, on a server that answers everything.
    let second = ScriptedServer::start(script(&review, &Faults::default(), 0))
        .await
        .unwrap();
    let config = p.read(".team/config.toml");
    std::fs::write(
        p.path(".team/config.toml"),
        config.replace(&first.base_url(), &second.base_url()),
    )
    .unwrap();
    // `team resume` of a workflow team: the run's own options (the report on stdout; JSON
    // with `--json`).
    let out = p.team(&["--json", "resume", "killed"]).await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let resumed: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("the report on stdout: {e}\n{}", dump(&out)));
    assert_eq!(
        resumed, expected,
        "the resumed run's report differs from an uninterrupted run's"
    );

    // No specialist's review call made again, except the ones in flight at the kill.
    let after: Vec<(String, u32)> = second
        .requests()
        .iter()
        .map(|r| (specialist_of(r).unwrap_or("lead").to_owned(), r.turn))
        .collect();
    for a in SPECIALISTS {
        let reviews = after.iter().filter(|(s, t)| s == a && *t == 1).count();
        let expect = usize::from(SLOW.contains(&a));
        assert_eq!(
            reviews, expect,
            "specialist {a}: review calls after the resume: {after:?}"
        );
        let cross = after.iter().filter(|(s, t)| s == a && *t == 2).count();
        assert_eq!(cross, 1, "specialist {a}: cross-review calls: {after:?}");
    }
    assert_eq!(after.len(), SLOW.len() + SPECIALISTS.len() + 1, "{after:?}");

    let show = p.show("killed").await;
    assert_eq!(show["team"]["status"], "completed", "{show:#}");
    for m in show["members"].as_array().unwrap() {
        if m["name"] == "lead" {
            continue;
        }
        assert_eq!(m["status"], "completed", "{m:#}");
        assert_eq!(m["attempt"], 2, "{m:#}");
    }
}

mod killed_in_review_then_resumed {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        killed_in_review_then_resumed(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        killed_in_review_then_resumed(Backend::Postgres).await;
    }
}

/// The same with cassettes: an uninterrupted run recorded, then a run killed in its review
/// phase and resumed with `--replay` of that cassette writes the report an uninterrupted
/// replay writes, byte for byte.
async fn killed_then_resumed_from_a_cassette(backend: Backend) {
    let review = pep_0765();
    let full = ScriptedServer::start(script(&review, &Faults::default(), 0))
        .await
        .unwrap();
    let Some(base) = Project::on(backend, &full.base_url()).await else {
        return;
    };
    let spec = base.spec(review.spec);
    let out = base
        .team(&run_args(
            &spec,
            "recorded",
            &["--record", "run.cassette.jsonl"],
        ))
        .await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let out = base
        .team(&run_args(
            &spec,
            "replayed",
            &["--replay", "run.cassette.jsonl", "--output", "replayed.md"],
        ))
        .await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let expected = base.read("replayed.md");

    let first = first_server(&review).await;
    let Some(p) = Project::on(backend, &first.base_url()).await else {
        return;
    };
    let spec = p.spec(review.spec);
    std::fs::copy(
        base.path("run.cassette.jsonl"),
        p.path("run.cassette.jsonl"),
    )
    .unwrap();
    kill_in_review(&p, &first, &spec).await;
    let out = p
        .team(&[
            "run",
            "--resume",
            "killed",
            "--replay",
            "run.cassette.jsonl",
            "--output",
            "resumed.md",
        ])
        .await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    assert_eq!(
        p.read("resumed.md"),
        expected,
        "the resumed replay's report differs from an uninterrupted replay's"
    );
}

mod killed_then_resumed_from_a_cassette {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        killed_then_resumed_from_a_cassette(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        killed_then_resumed_from_a_cassette(Backend::Postgres).await;
    }
}

/// A run stopped by its `--timeout` in the review phase (exit 124, the team disbanded) is
/// resumed with `team run --resume` and writes the report an uninterrupted run writes.
async fn timed_out_in_review_then_resumed(backend: Backend) {
    let review = pep_0765();
    let full = ScriptedServer::start(script(&review, &Faults::default(), 0))
        .await
        .unwrap();
    let Some(base) = Project::on(backend, &full.base_url()).await else {
        return;
    };
    let spec = base.spec(review.spec);
    let out = base
        .team(&run_args(
            &spec,
            "whole",
            &["--format", "json", "--output", "whole.json"],
        ))
        .await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let expected = report_of(&base, "whole.json");

    let first = first_server(&review).await;
    let Some(p) = Project::on(backend, &first.base_url()).await else {
        return;
    };
    let spec = p.spec(review.spec);
    let out = p.team(&run_args(&spec, "late", &["--timeout", "8"])).await;
    assert_eq!(code(&out), 124, "{}", dump(&out));
    let show = p.show("late").await;
    assert_eq!(show["team"]["status"], "disbanded", "{show:#}");

    let second = ScriptedServer::start(script(&review, &Faults::default(), 0))
        .await
        .unwrap();
    let config = p.read(".team/config.toml");
    std::fs::write(
        p.path(".team/config.toml"),
        config.replace(&first.base_url(), &second.base_url()),
    )
    .unwrap();
    let out = p
        .team(&[
            "run",
            "--resume",
            "late",
            "--timeout",
            "300",
            "--format",
            "json",
            "--output",
            "resumed.json",
        ])
        .await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    assert_eq!(report_of(&p, "resumed.json"), expected);
    // The specialists that had answered are not asked their review again.
    let reviews = second
        .requests()
        .iter()
        .filter(|r| specialist_of(r).is_some() && r.turn == 1)
        .count();
    assert!(
        reviews <= SLOW.len(),
        "{reviews} review calls after the resume"
    );
    // A finished team is not resumable.
    let out = p.team(&["run", "--resume", "late"]).await;
    assert_eq!(code(&out), 4, "{}", dump(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot be resumed"),
        "{}",
        dump(&out)
    );
}

mod timed_out_in_review_then_resumed {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        timed_out_in_review_then_resumed(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        timed_out_in_review_then_resumed(Backend::Postgres).await;
    }
}
