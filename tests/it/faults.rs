//! Fault injection: `team send`, `team inbox` and `team task claim` killed with SIGKILL at
//! random (seeded) moments, on both engines. Afterwards: 0 lost (every message sent is
//! printed by some `team inbox`, every task completed), 0 duplicated (a retried send with
//! its key is stored once; no message is printed by two `team inbox` runs that both finished;
//! no task completed twice) and 0 stuck (nothing leased, unread or in progress once the leases
//! have run out).
//!
//! `TEAM_FAULT_ITERATIONS` (default 20) and `TEAM_FAULT_SEED` set the size and the seed;
//! `bench/faults.sh` runs it with 300 iterations per engine.

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// How a run of `team` ended.
struct Run {
    /// Exit 0 (it was not killed first, or finished before the kill).
    finished: bool,
    stdout: String,
}

/// Runs `team ARGS`, killing it with SIGKILL after `kill_after` unless it ended first.
fn run_killed(p: &Project, args: &[&str], kill_after: Duration) -> Run {
    let mut c: Command = p.std_cmd();
    let mut child = c
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn team");
    let start = Instant::now();
    loop {
        if let Some(_status) = child.try_wait().expect("wait") {
            break;
        }
        if start.elapsed() >= kill_after {
            let _ = child.kill(); // SIGKILL
            break;
        }
        thread::sleep(Duration::from_micros(300));
    }
    let out = child.wait_with_output().expect("collect output");
    Run {
        finished: out.status.code() == Some(0),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

/// Message ids in `team inbox` output whose header line was printed whole.
fn printed_ids(out: &str) -> Vec<i64> {
    out.lines()
        .filter(|l| l.starts_with("--- #") && l.ends_with('Z'))
        .filter_map(|l| l[5..].split(' ').next()?.parse().ok())
        .collect()
}

const LEASE: &str = "1";
const LEASE_WAIT: Duration = Duration::from_millis(1100);

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn kill9_at_random_moments_loses_nothing_duplicates_nothing_leaves_nothing_stuck(
    #[case] backend: Backend,
) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    let iterations = env_u64("TEAM_FAULT_ITERATIONS", 20);
    let seed = env_u64("TEAM_FAULT_SEED", 14);
    let mut rng = StdRng::seed_from_u64(seed ^ (p.backend() as u64) << 32);
    p.create_team("f");
    p.add_member("f", "a");
    p.add_member("f", "w");
    // Kill windows cover a process's whole life: start-up, open, the write, the output.
    let max_ms = 80;

    let mut sent: BTreeMap<String, i64> = BTreeMap::new(); // key -> message id
    let mut seen: BTreeSet<i64> = BTreeSet::new();
    let mut seen_by_finished: BTreeMap<i64, usize> = BTreeMap::new();
    let mut completed: BTreeSet<i64> = BTreeSet::new();
    let mut kills = 0;
    for i in 0..iterations {
        p.add_task("f", &format!("task {i}"), &[]);

        // A send, killed; then retried with the same key until it finishes.
        let key = format!("k{i}");
        let body = format!("message {i}");
        let args = [
            "send", "f", "--from", "lead", "--to", "a", "--key", &key, &body,
        ];
        let r = run_killed(p, &args, Duration::from_millis(rng.random_range(0..max_ms)));
        kills += usize::from(!r.finished);
        let v = p.json(&args);
        let id = v[0]["id"].as_i64().expect("sent id");
        sent.insert(key, id);

        // An inbox take, killed.
        let r = run_killed(
            p,
            &["inbox", "f", "a", "--lease", LEASE],
            Duration::from_millis(rng.random_range(0..max_ms)),
        );
        kills += usize::from(!r.finished);
        for id in printed_ids(&r.stdout) {
            seen.insert(id);
            if r.finished {
                *seen_by_finished.entry(id).or_default() += 1;
            }
        }

        // A claim, killed; a claim that answered is completed.
        let r = run_killed(
            p,
            &[
                "--json", "task", "claim", "f", "--as", "w", "--lease", LEASE,
            ],
            Duration::from_millis(rng.random_range(0..max_ms)),
        );
        kills += usize::from(!r.finished);
        if r.finished {
            let t: Value = serde_json::from_str(&r.stdout).expect("claim --json");
            let id = t["id"].as_i64().unwrap();
            p.ok(&["task", "done", "f", &id.to_string(), "--as", "w"]);
            assert!(completed.insert(id), "task {id} completed twice");
        }
    }

    // Let every lease run out, then drain: what a killed run took comes back.
    thread::sleep(LEASE_WAIT);
    loop {
        let out = p.ok(&["inbox", "f", "a"]);
        let got = printed_ids(&out);
        if got.is_empty() {
            break;
        }
        for id in got {
            seen.insert(id);
            *seen_by_finished.entry(id).or_default() += 1;
        }
    }
    loop {
        let o = p.run(&["--json", "task", "claim", "f", "--as", "w", "--lease", "0"]);
        if o.status.code() == Some(3) {
            break;
        }
        assert_ok(&["task", "claim"], &o);
        let id = serde_json::from_str::<Value>(&stdout(&o)).unwrap()["id"]
            .as_i64()
            .unwrap();
        p.ok(&["task", "done", "f", &id.to_string()]);
        assert!(completed.insert(id), "task {id} completed twice");
    }

    // 0 duplicated: each key stored once; no message printed by two finished takes.
    let all = p.json(&["inbox", "f", "a", "--after", "0"]);
    let stored: Vec<i64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    let expected: BTreeSet<i64> = sent.values().copied().collect();
    assert_eq!(
        stored.len(),
        iterations as usize,
        "a retried send was stored twice"
    );
    assert_eq!(stored.iter().copied().collect::<BTreeSet<_>>(), expected);
    let twice: Vec<_> = seen_by_finished.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "printed by two finished takes: {twice:?}");
    // 0 lost.
    let lost: Vec<_> = expected.difference(&seen).collect();
    assert!(lost.is_empty(), "lost messages {lost:?} (seed {seed})");
    assert_eq!(completed.len(), iterations as usize);
    // 0 stuck.
    assert!(p.peek("f", "a").is_empty());
    let tasks = p.json(&["task", "list", "f"]);
    assert!(
        tasks
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "completed"),
        "{tasks}"
    );
    eprintln!(
        "faults ({:?}, seed {seed}): {iterations} iterations, {kills} processes killed, \
         0 lost, 0 duplicated, 0 stuck",
        p.backend()
    );
}
