//! Runners on several hosts serving one team: a message on one host wakes a member on
//! another; a killed host's members finish on the others; a host cut off from the database
//! for longer than three heartbeat periods cannot act for the members that moved on.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::hosts::{
    Host, Proxy, assert_ok, percentile, processes_with, run_in, runners_on, start_runner,
    start_runner_with,
};
use crate::support::{Backend, Project, body_of, eventually, now_ms, of_kind};

/// The heartbeat period of these tests' runners: a lost host is noticed within three.
const HEARTBEAT_MS: u64 = 500;

/// A project on PostgreSQL with a short heartbeat, or `None` (skipped) without
/// `TEAM_TEST_DATABASE_URL`.
fn pg_project() -> Option<Project> {
    let p = Project::on(Backend::Postgres)?;
    p.heartbeat_ms(HEARTBEAT_MS);
    Some(p)
}

/// `count` simulated hosts named `host-a`, `host-b`, …, or `None` (skipped) when namespaces
/// cannot be made here outside CI.
fn hosts(count: usize) -> Option<Vec<Host>> {
    (0..count)
        .map(|i| Host::start_or_skip(&format!("host-{}", (b'a' + i as u8) as char)))
        .collect()
}

/// Logs `MEMBER HOST NANOS` (when the turn started) to `turns.log`, answers with its input.
const ECHO: &str = r#"
echo "$TEAM_MEMBER $(hostname) $(date +%s%N)" >> "$ROOT/turns.log"
echo "echo: $(cat)"
"#;

/// Member `name` of team `crew`, from `team show --json`.
fn member(p: &Project, name: &str) -> Value {
    p.member("crew", name)
}

#[test]
fn a_send_on_one_host_wakes_an_idle_member_on_another() {
    let Some(p) = pg_project() else { return };
    let Some(h) = hosts(2) else { return };
    let (a, b) = (&h[0], &h[1]);
    p.agent("echo", ECHO);
    p.ok(&["create", "crew"]);
    // The only runner is on host b.
    let _rb = start_runner(&p, b, &["--max-agents", "4"], None);
    let s = p.spawn_bg("crew", "echo", "first", &["--persistent"]);
    assert!(
        s.runner_pid.is_none(),
        "the runner on host-b serves the spawn"
    );
    let name = s.name;
    eventually(Duration::from_secs(60), "the first turn to end", || {
        (p.status("crew", &name) == "idle").then_some(())
    });
    let m = member(&p, &name);
    assert_eq!(
        m["host"], "host-b",
        "team show names the member's host: {m}"
    );

    const ROUNDS: usize = 12;
    let mut latencies = Vec::new();
    for round in 1..=ROUNDS {
        eventually(Duration::from_secs(30), "the member to be idle", || {
            (p.status("crew", &name) == "idle").then_some(())
        });
        let sent_at = now_ms();
        let o = run_in(
            &p,
            a,
            &[
                "send",
                "crew",
                "--from",
                "lead",
                "--to",
                &name,
                &format!("wake {round}"),
            ],
        );
        assert_ok("team send on host-a", &o);
        let line = eventually(Duration::from_secs(10), "the member to wake", || {
            p.lines("turns.log").get(round).cloned()
        });
        let mut f = line.split_whitespace();
        assert_eq!(f.nth(1), Some("host-b"), "the turn ran on host-b: {line}");
        let ns: i64 = f.next().unwrap().parse().unwrap();
        latencies.push(ns / 1_000_000 - sent_at);
    }
    let (p50, p99) = (
        percentile(&mut latencies.clone(), 0.5),
        percentile(&mut latencies.clone(), 0.99),
    );
    eprintln!(
        "cross-host send -> wake (ms, including the start of `team send`): p50 {p50}, p99 {p99}: {latencies:?}"
    );
    for &l in &latencies {
        assert!(
            (0..3000).contains(&l),
            "send -> wake took {l} ms: {latencies:?}"
        );
    }
    let results = of_kind(&p.peek("crew", "lead"), "result")
        .iter()
        .map(|m| body_of(m).to_owned())
        .collect::<Vec<_>>();
    assert_eq!(results.len(), ROUNDS + 1, "{results:?}");
}

/// Writes agent `name` running `bash SCRIPT` (with the prelude of `Project::agent`: `TEAM_BIN`,
/// `ROOT`, `pids.log`) whose front matter also has `extra` lines (`retries: 2`).
fn agent_with(p: &Project, name: &str, extra: &str, body: &str) {
    p.agent(name, body);
    let path = p.path(&format!(".team/agents/{name}.md"));
    let text = std::fs::read_to_string(&path).expect("agent file");
    let text = text.replacen("---\n", &format!("---\n{extra}\n"), 1);
    std::fs::write(&path, text).expect("write agent file");
}

/// One line per run in `logs/MEMBER.log`: `start HOST ATTEMPT NANOS` when it starts and `end
/// HOST ATTEMPT` after two seconds of work, then a keyed message to the lead (a re-sent message
/// with the same key is not stored twice).
const WORKER: &str = r#"
mkdir -p "$ROOT/logs"
log="$ROOT/logs/$TEAM_MEMBER.log"
echo "start $(hostname) ${TEAM_MEMBER_ATTEMPT:-?} $(date +%s%N)" >> "$log"
sleep 2
echo "end $(hostname) ${TEAM_MEMBER_ATTEMPT:-?}" >> "$log"
"$TEAM_BIN" send --to lead --key done "done $TEAM_MEMBER"
"#;

/// Lines of `logs/MEMBER.log` as (what, host, attempt).
fn runs(p: &Project, member: &str) -> Vec<(String, String, String)> {
    p.lines(&format!("logs/{member}.log"))
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_owned(), f[1].to_owned(), f[2].to_owned())
        })
        .collect()
}

#[test]
fn three_hosts_run_thirty_members_once_each_and_a_killed_hosts_members_finish_on_the_others() {
    let Some(p) = pg_project() else { return };
    let Some(mut h) = hosts(3) else { return };
    agent_with(&p, "worker", "retries: 2\nbackoff: 100ms", WORKER);
    p.ok(&["create", "crew"]);
    let _runners: Vec<_> = h
        .iter()
        .map(|host| start_runner(&p, host, &["--max-agents", "4"], None))
        .collect();
    let names: Vec<String> = (0..30)
        .map(|i| {
            let s = p.spawn_bg("crew", "worker", &format!("job {i}"), &[]);
            assert!(
                s.runner_pid.is_none(),
                "the hosts' runners serve the spawns"
            );
            s.name
        })
        .collect();

    // Kill host-b while members run on it (they started, they have not ended).
    let running_on_b = |p: &Project| -> Vec<String> {
        names
            .iter()
            .filter(|n| {
                let r = runs(p, n);
                r.iter().any(|(w, h, _)| w == "start" && h == "host-b")
                    && !r.iter().any(|(w, h, _)| w == "end" && h == "host-b")
            })
            .cloned()
            .collect()
    };
    // Mid-run: each of them started less than 1.2 s ago, so none is near its end (a run
    // killed between its `end` line and its recorded end would run again: at-least-once).
    let started_ms = |p: &Project, n: &str| -> i64 {
        p.lines(&format!("logs/{n}.log"))
            .iter()
            .filter_map(|l| l.strip_prefix("start host-b "))
            .filter_map(|rest| rest.split_whitespace().nth(1)?.parse::<i64>().ok())
            .map(|ns| ns / 1_000_000)
            .max()
            .unwrap_or(0)
    };
    // And every member host-b's runner holds is one of them (none is past its `end` line
    // with its end not yet recorded).
    let held_by_b = |p: &Project| -> Vec<String> {
        runners_on(p, "host-b")
            .iter()
            .flat_map(|r| r["members"].as_array().cloned().unwrap_or_default())
            .filter_map(|m| m["name"].as_str().map(str::to_owned))
            .collect()
    };
    let on_b = eventually(Duration::from_secs(60), "members mid-run on host-b", || {
        let on_b = running_on_b(&p);
        let now = now_ms();
        let held = held_by_b(&p);
        (on_b.len() >= 2
            && on_b.iter().all(|n| now - started_ms(&p, n) < 1200)
            && held.iter().all(|n| on_b.contains(n)))
        .then_some(on_b)
    });
    let killed_at = now_ms();
    h[1].kill();
    let killed = Instant::now();

    let all_ended = eventually(Duration::from_secs(120), "every member to end", || {
        let ms = p.members("crew");
        ms.iter()
            .filter(|m| m["role"] == "member")
            .all(|m| {
                matches!(
                    m["status"].as_str(),
                    Some("completed" | "failed" | "cancelled" | "timed_out")
                )
            })
            .then_some(ms)
    });
    eprintln!("all 30 ended {:?} after the kill", killed.elapsed());
    // Members whose run on host-b was cut short by the kill (more may have started there
    // between the look and the kill).
    let cut_short = running_on_b(&p);
    assert!(cut_short.len() >= on_b.len().min(1), "{cut_short:?}");

    let mut recovery_ms = Vec::new();
    for name in &names {
        let m = all_ended.iter().find(|m| &m["name"] == name).unwrap();
        assert_eq!(m["status"], "completed", "{m}");
        let r = runs(&p, name);
        let ends: Vec<_> = r.iter().filter(|(w, ..)| w == "end").collect();
        assert_eq!(ends.len(), 1, "{name} ran to its end once: {r:?}");
        let starts = r.iter().filter(|(w, ..)| w == "start").count();
        if cut_short.contains(name) {
            assert_eq!(starts, 2, "{name} was retried once: {r:?}");
            assert_ne!(ends[0].1, "host-b", "{name} finished on a live host: {r:?}");
            assert_eq!(ends[0].2, "2", "{name}'s second attempt finished it: {r:?}");
            recovery_ms.push(m["ended_at_ms"].as_i64().unwrap() - killed_at);
        } else {
            assert_eq!(starts, 1, "{name} ran once: {r:?}");
        }
    }
    // Lost within 3 heartbeat periods, then a retry (backoff 100 ms) of 2 s of work; the
    // machine is shared, so the bound is generous and the figure is printed.
    let worst = recovery_ms.iter().copied().max().unwrap_or(0);
    eprintln!(
        "recovery after the host kill (kill -> end of the retried members, ms): {recovery_ms:?}; \
         bound 3 x {HEARTBEAT_MS} ms + 2000 ms of work"
    );
    assert!(
        worst <= 3 * HEARTBEAT_MS as i64 + 2000 + 6000,
        "the killed host's members took {worst} ms to finish elsewhere"
    );

    // No message lost, none twice: one `done` per member.
    let mut done: Vec<String> = p
        .peek("crew", "lead")
        .iter()
        .filter(|m| m["kind"] == "text")
        .map(|m| body_of(m).to_owned())
        .collect();
    done.sort();
    let mut want: Vec<String> = names.iter().map(|n| format!("done {n}")).collect();
    want.sort();
    assert_eq!(done, want);

    // host-b's runner was found lost (by a surviving runner: nobody ran `team reconcile`).
    let b = runners_on(&p, "host-b");
    assert_eq!(b.len(), 1, "{b:?}");
    assert_eq!(b[0]["state"], "stopped", "{b:?}");
}

/// Attempt 1 sends `tick N` to the lead every 200 ms for ever (logging `sent N`, or
/// `refused N: ERROR`); a later attempt logs its host and ends at once.
const LOOPER: &str = r#"
log="$ROOT/looper.log"
if [ "${TEAM_MEMBER_ATTEMPT:-1}" = 1 ]; then
  i=0
  while true; do
    i=$((i+1))
    if out=$("$TEAM_BIN" send --to lead "tick $i" 2>&1); then
      echo "sent $i" >> "$log"
    else
      echo "refused $i: $out" | tr '\n' ' ' >> "$log"
      echo >> "$log"
    fi
    sleep 0.2
  done
fi
echo "attempt $TEAM_MEMBER_ATTEMPT on $(hostname)" >> "$log"
"#;

#[test]
fn a_host_cut_off_for_three_periods_is_fenced_and_its_processes_stop() {
    let Some(p) = pg_project() else { return };
    let Some(h) = hosts(2) else { return };
    let (a, b) = (&h[0], &h[1]);
    let proxy = Proxy::start("127.0.0.1:5432").expect("proxy");
    let behind = proxy.url_for(p.pg_url().expect("a PostgreSQL project"));
    agent_with(&p, "looper", "retries: 1\nbackoff: 100ms", LOOPER);
    p.ok(&["create", "crew"]);
    // host-a reaches the database through the proxy; it alone serves at first.
    let mut ra = start_runner(&p, a, &["--max-agents", "2"], Some(&behind));
    let name = p.spawn_bg("crew", "looper", "go", &[]).name;
    eventually(Duration::from_secs(60), "attempt 1 to send", || {
        p.lines("looper.log")
            .iter()
            .any(|l| l == "sent 2")
            .then_some(())
    });
    let m = member(&p, &name);
    assert_eq!(m["host"], "host-a", "{m}");
    let _rb = start_runner(&p, b, &["--max-agents", "2"], None);

    // Cut host-a off for much longer than three heartbeat periods.
    proxy.cut();
    let cut_at = now_ms();
    let done = eventually(
        Duration::from_secs(60),
        "the member to finish on host-b",
        || {
            let m = member(&p, &name);
            (m["status"] == "completed").then_some(m)
        },
    );
    let moved_after = done["ended_at_ms"].as_i64().unwrap() - cut_at;
    eprintln!("cut off -> finished on host-b: {moved_after} ms");
    assert!(
        p.lines("looper.log")
            .iter()
            .any(|l| l == "attempt 2 on host-b"),
        "{:?}",
        p.lines("looper.log")
    );
    // Attempt 1 still runs on host-a: it does not know yet.
    let root = format!("TEAM_PROJECT_ROOT={}", p.root().display());
    let first = [
        root.clone(),
        format!("TEAM_MEMBER={name}"),
        "TEAM_MEMBER_ATTEMPT=1".to_owned(),
    ];
    assert!(
        !processes_with(&first).is_empty(),
        "attempt 1 runs on cut off host-a"
    );
    let ticks_before = p
        .peek("crew", "lead")
        .iter()
        .filter(|m| body_of(m).starts_with("tick"))
        .count();
    std::thread::sleep(Duration::from_millis(4 * HEARTBEAT_MS));

    // Restored: host-a's runner learns it was marked lost, stops attempt 1 and exits; what
    // attempt 1 sent after the cut is refused.
    let restored = Instant::now();
    proxy.restore();
    let status = eventually(Duration::from_secs(30), "host-a's runner to exit", || {
        ra.child.try_wait().ok().flatten()
    });
    eprintln!(
        "host-a's runner exited {:?} after the restore",
        restored.elapsed()
    );
    assert!(!status.success(), "{}", ra.log_text());
    assert!(ra.log_text().contains("marked lost"), "{}", ra.log_text());
    eventually(
        Duration::from_secs(15),
        "attempt 1's processes to stop",
        || processes_with(&first).is_empty().then_some(()),
    );
    // Every tick the lead has was made before the cut (a send whose transaction had been
    // checked before the link broke may still land: README, "Running on several machines");
    // none made after it.
    let ticks: Vec<Value> = p
        .peek("crew", "lead")
        .into_iter()
        .filter(|m| body_of(m).starts_with("tick"))
        .collect();
    assert!(ticks.len() >= ticks_before, "{ticks:?}");
    for t in &ticks {
        let at = t["created_at_ms"].as_i64().unwrap();
        assert!(at <= cut_at + 50, "attempt 1 sent after the cut: {t}");
    }
    // A send attempt 1 made after the restore, if it lived that long, was refused for what
    // it is (and a send held by the cut never landed: the ticks above).
    let log = p.lines("looper.log");
    for l in log.iter().filter(|l| l.starts_with("refused")) {
        assert!(l.contains("has moved on to attempt 2"), "{log:?}");
    }
    // The member's end is attempt 2's: attempt 1's cancellation was refused.
    let m = member(&p, &name);
    assert_eq!(m["status"], "completed", "{m}");
    assert!(a.alive());
}

/// A queue poll so long that a runner under test never reaches it: a member it starts came
/// to it by a wake-up (`TEAM_QUEUE_POLL_MS`, 10 minutes).
const NO_QUEUE_POLL: (&str, &str) = ("TEAM_QUEUE_POLL_MS", "600000");

#[test]
fn a_member_spawned_from_another_host_wakes_a_runner_without_its_queue_poll() {
    let Some(p) = pg_project() else { return };
    let Some(h) = hosts(2) else { return };
    let (a, b) = (&h[0], &h[1]);
    p.agent("echo", ECHO);
    p.ok(&["create", "crew"]);
    // The only runner, on host-b, looked at the queue when it started and would look again
    // in 10 minutes: only the notification of the spawn's commit (PostgreSQL `NOTIFY
    // team_queue`) can start the member before the test gives up.
    let _rb = start_runner_with(&p, b, &["--max-agents", "2"], None, &[NO_QUEUE_POLL]);
    let o = run_in(
        &p,
        a,
        &["spawn", "crew", "echo", "--background", "--prompt", "hi"],
    );
    assert_ok("team spawn --background on host-a", &o);
    let line = eventually(Duration::from_secs(60), "the member's turn", || {
        p.lines("turns.log").first().cloned()
    });
    assert!(line.contains(" host-b "), "it ran on host-b: {line}");
    let ms = p.members("crew");
    let m = ms
        .iter()
        .find(|m| m["role"] == "member")
        .expect("the spawned member");
    eventually(Duration::from_secs(30), "the member to complete", || {
        (p.status("crew", m["name"].as_str().unwrap()) == "completed").then_some(())
    });
}

/// Attempt 1 works for a minute; a later attempt logs its host and ends at once.
const SLOW_FIRST: &str = r#"
if [ "${TEAM_MEMBER_ATTEMPT:-1}" = 1 ]; then
  echo "attempt 1 on $(hostname)" >> "$ROOT/attempts.log"
  sleep 60
fi
echo "attempt $TEAM_MEMBER_ATTEMPT on $(hostname)" >> "$ROOT/attempts.log"
"#;

#[test]
fn a_killed_hosts_member_is_retried_on_a_runner_without_its_queue_poll() {
    let Some(p) = pg_project() else { return };
    let Some(mut h) = hosts(2) else { return };
    agent_with(&p, "slow", "retries: 1\nbackoff: 200ms", SLOW_FIRST);
    p.ok(&["create", "crew"]);
    let _rb = start_runner(&p, &h[1], &["--max-agents", "2"], None);
    let name = p.spawn_bg("crew", "slow", "go", &[]).name;
    eventually(Duration::from_secs(60), "attempt 1 on host-b", || {
        p.lines("attempts.log")
            .iter()
            .any(|l| l == "attempt 1 on host-b")
            .then_some(())
    });
    // The survivor, on host-a, never polls its queue during the test: the member's retry
    // (after host-b's loss and the backoff) must wake it.
    let _ra = start_runner_with(&p, &h[0], &["--max-agents", "2"], None, &[NO_QUEUE_POLL]);
    h[1].kill();
    let done = eventually(
        Duration::from_secs(60),
        "the member to finish on host-a",
        || {
            let m = member(&p, &name);
            (m["status"] == "completed").then_some(m)
        },
    );
    assert_eq!(done["attempt"], 2, "{done}");
    assert!(
        p.lines("attempts.log")
            .iter()
            .any(|l| l == "attempt 2 on host-a"),
        "{:?}",
        p.lines("attempts.log")
    );
}
