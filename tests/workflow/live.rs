//! The live view of `team run` and `team watch` without a terminal (`CI=true`, as every
//! test's child has): no animation, one timestamped line per change (phases with `k/n`, each
//! member's states from the event log, the lead's `waiting`), no member named twice, the
//! members' completions in order, the team's end last; `team watch` tells the same. Runs the example cassette
//! (`examples/pep-0765.cassette.jsonl`): no model is called.

use std::path::Path;

use serde_json::Value;
use team_testkit::process::output_within;

use crate::support::{Backend, CALL_TIMEOUT, SPECIALISTS, code, dump, stderr};

/// A project on `backend` holding the example specification and its cassette; `None` when the
/// PostgreSQL variants are skipped.
fn example_project(backend: Backend) -> Option<team_testkit::Project> {
    let p = team_testkit::Project::bare(backend)?;
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for f in ["pep-0765.rst", "pep-0765.cassette.jsonl"] {
        std::fs::copy(examples.join(f), p.path(f)).expect("copy the example");
    }
    Some(p)
}

async fn team(p: &team_testkit::Project, args: &[&str]) -> std::process::Output {
    let mut cmd = p.command();
    cmd.args(args);
    output_within(cmd, CALL_TIMEOUT, &format!("team {}", args.join(" "))).await
}

/// The live view's lines of `text` (those that start with `HH:MM:SS `), without the time.
fn timed_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let b = l.as_bytes();
            let timed = b.len() > 9
                && b[..8].iter().enumerate().all(|(i, c)| {
                    if i == 2 || i == 5 {
                        *c == b':'
                    } else {
                        c.is_ascii_digit()
                    }
                })
                && b[8] == b' ';
            timed.then(|| l[9..].to_owned())
        })
        .collect()
}

/// The state a member's plain line shows (`architecture completed (1/5 done): …` →
/// `completed`), given the member's name as the line starts.
fn state_of<'a>(line: &'a str, who: &str) -> Option<&'a str> {
    line.strip_prefix(who)?
        .strip_prefix(' ')?
        .split([' ', ':'])
        .next()
}

async fn a_run_in_ci_prints_a_line_per_change(backend: Backend) {
    let Some(p) = example_project(backend) else {
        return;
    };
    let out = team(
        &p,
        &[
            "run",
            "spec-review",
            "pep-0765.rst",
            "--replay",
            "pep-0765.cassette.jsonl",
            "--name",
            "live",
        ],
    )
    .await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let err = stderr(&out);
    let lines = timed_lines(&err);
    assert!(!lines.is_empty(), "no timestamped lines:\n{err}");
    // No animation: no carriage returns or cursor moves.
    assert!(
        !err.contains('\r') && !err.contains("\u{1b}["),
        "plain lines only:\n{err:?}"
    );

    // The phases, in order, with k/n.
    let phases: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("phase "))
        .collect();
    assert_eq!(
        phases,
        ["review (1/3)", "cross_review (2/3)", "synthesis (3/3)"],
        "{err}"
    );

    // No member is named twice: a specialist whose agent has its name is named once.
    for s in SPECIALISTS {
        assert!(
            !lines.iter().any(|l| l.starts_with(&format!("{s} {s}"))
                || l.starts_with(&format!("{s} ({s})"))),
            "{s} named twice:\n{err}"
        );
    }

    // One line per change: a member's lines are exactly its state changes in the event log.
    let logs = team(&p, &["--json", "logs", "live"]).await;
    assert_eq!(code(&logs), 0, "{}", dump(&logs));
    let events: Vec<Value> = serde_json::from_slice(&logs.stdout).expect("logs --json");
    for s in SPECIALISTS {
        let logged: Vec<String> = events
            .iter()
            .filter(|e| e["member"] == s)
            .filter_map(|e| {
                let kind = e["kind"].as_str()?;
                match kind {
                    "member.added" => Some("pending".to_owned()),
                    k => k
                        .strip_prefix("member.")
                        .filter(|st| {
                            ["running", "idle", "completed", "failed", "cancelled"].contains(st)
                        })
                        .map(str::to_owned),
                }
            })
            .collect();
        let shown: Vec<String> = lines
            .iter()
            .filter_map(|l| state_of(l, s))
            .map(str::to_owned)
            .collect();
        assert_eq!(shown, logged, "the lines of {s}:\n{err}");
        assert!(
            shown.windows(2).all(|w| w[0] != w[1]),
            "{s} repeats a state:\n{err}"
        );
        assert_eq!(shown.last().map(String::as_str), Some("completed"), "{err}");
    }

    // The completions, in order: 1/5 done … 5/5 done.
    let done: Vec<String> = lines
        .iter()
        .filter_map(|l| {
            let (_, rest) = l.split_once(" completed (")?;
            Some(rest.split(')').next()?.to_owned())
        })
        .collect();
    assert_eq!(
        done,
        ["1/5 done", "2/5 done", "3/5 done", "4/5 done", "5/5 done"],
        "{err}"
    );

    // Each phase line is where it happened: the specialists end before the synthesis starts.
    let all_done = lines
        .iter()
        .position(|l| l.contains(" completed (5/5 done)"))
        .expect("5/5 done");
    let synthesis_at = lines
        .iter()
        .position(|l| l.starts_with("phase synthesis"))
        .expect("synthesis phase");
    assert!(all_done < synthesis_at, "{err}");

    // The lead, named with its agent, waits while the specialists work, then runs its
    // synthesis.
    let lead: Vec<&str> = lines
        .iter()
        .filter_map(|l| state_of(l, "lead (spec-lead)"))
        .collect();
    assert_eq!(lead.first(), Some(&"running"), "{err}");
    assert!(lead.contains(&"waiting"), "{err}");
    let synthesis = lines
        .iter()
        .position(|l| l.starts_with("phase synthesis"))
        .expect("synthesis phase");
    let last_wait = lines
        .iter()
        .rposition(|l| l == "lead (spec-lead) waiting")
        .expect("the lead waits");
    assert!(
        last_wait < synthesis,
        "the lead stops waiting before its synthesis:\n{err}"
    );
    assert!(
        lines[synthesis..]
            .iter()
            .any(|l| l == "lead (spec-lead) running")
            || lines[..synthesis]
                .iter()
                .rev()
                .find_map(|l| state_of(l, "lead (spec-lead)"))
                == Some("running"),
        "the lead runs its synthesis:\n{err}"
    );

    // The team's end last.
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("team live completed")),
        "{err}"
    );

    // `team watch` of the ended team tells the same history, phases included, from the
    // event log, by the same rules.
    let watch = team(&p, &["watch", "live"]).await;
    assert_eq!(code(&watch), 0, "{}", dump(&watch));
    let watched = timed_lines(&stderr(&watch));
    assert_eq!(watched, lines, "watch:\n{}\nrun:\n{err}", stderr(&watch));
    assert!(
        watched
            .last()
            .is_some_and(|l| l.starts_with("team live completed")),
        "{}",
        stderr(&watch)
    );
}

mod a_run_in_ci {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        a_run_in_ci_prints_a_line_per_change(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        a_run_in_ci_prints_a_line_per_change(Backend::Postgres).await;
    }
}
