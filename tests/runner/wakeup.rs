//! Persistent members: after a turn a `--persistent` member goes `idle`; a `team send` from
//! another process wakes it for one more turn with the message as input (the send → wake
//! latency is measured by the agent itself and bounded generously); after
//! `[team] member_timeout_secs` of idleness it completes with its last result.

use std::time::Duration;

use crate::support::{Backend, Project, body_of, eventually, now_ms, of_kind, rstest};

/// Logs `MEMBER NANOS` (when the turn started) to `turns.log`, answers with its input.
const ECHO: &str = r#"
echo "$TEAM_MEMBER $(date +%s%N)" >> "$ROOT/turns.log"
echo "echo: $(cat)"
"#;

/// Start times (ms since the epoch) of the turns logged in `turns.log`.
fn turn_starts_ms(p: &Project) -> Vec<i64> {
    p.lines("turns.log")
        .iter()
        .map(|l| {
            let ns: i64 = l.split_whitespace().nth(1).unwrap().parse().unwrap();
            ns / 1_000_000
        })
        .collect()
}

/// Bodies of the lead's unread messages of `kind`, oldest first (peeked).
fn lead_msgs(p: &Project, kind: &str) -> Vec<String> {
    of_kind(&p.peek("crew", "lead"), kind)
        .iter()
        .map(|m| body_of(m).to_owned())
        .collect()
}

const ROUNDS: usize = 5;

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn persistent_member_wakes_on_send_from_another_process(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.agent("echo", ECHO);
    p.ok(&["create", "crew"]);
    // A foreground runner of ours (the default idle timeout, 300 s, is far away).
    let _runner = p.start_runner("runner", &[]);
    let name = p.spawn_bg("crew", "echo", "first", &["--persistent"]).name;

    eventually(Duration::from_secs(30), "the first turn to end", || {
        (p.status("crew", &name) == "idle").then_some(())
    });
    assert_eq!(lead_msgs(p, "result"), ["echo: first\n"]);

    let mut latencies = Vec::new();
    for round in 1..=ROUNDS {
        eventually(Duration::from_secs(30), "the member to be idle", || {
            (p.status("crew", &name) == "idle").then_some(())
        });
        assert_eq!(turn_starts_ms(p).len(), round, "one turn per message");
        let sent_at = now_ms();
        p.ok(&[
            "send",
            "crew",
            "--from",
            "lead",
            "--to",
            &name,
            &format!("wake up {round}"),
        ]);
        let started = eventually(Duration::from_secs(10), "the member to wake", || {
            turn_starts_ms(p).get(round).copied()
        });
        latencies.push(started - sent_at);
    }
    eprintln!("send → wake latency (ms, including the start of `team send`): {latencies:?}");
    for &l in &latencies {
        assert!(
            (0..2000).contains(&l),
            "send → wake took {l} ms: {latencies:?}"
        );
    }

    // Each message was one turn, with the message as input, and its result went to the
    // lead; the member is idle again.
    eventually(Duration::from_secs(30), "the last turn to end", || {
        (lead_msgs(p, "result").len() == ROUNDS + 1).then_some(())
    });
    let results = lead_msgs(p, "result");
    for (round, r) in results.iter().enumerate().skip(1) {
        assert!(r.starts_with("echo: [message from lead (text)]"), "{r}");
        assert!(r.contains(&format!("wake up {round}\n")), "{r}");
    }
    eventually(
        Duration::from_secs(30),
        "the member to be idle again",
        || (p.status("crew", &name) == "idle").then_some(()),
    );
    let m = p.member("crew", &name);
    assert_eq!(m["turns"], ROUNDS as i64 + 1, "{m}");
    assert_eq!(turn_starts_ms(p).len(), ROUNDS + 1, "one turn per message");
    assert!(
        lead_msgs(p, "completion").is_empty(),
        "a persistent member is not done"
    );
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn idle_member_completes_after_member_timeout(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.config("[team]\nmember_timeout_secs = 1\n");
    p.agent("echo", ECHO);
    p.ok(&["create", "crew"]);
    let runner = p.start_runner("runner", &[]);
    let name = p
        .spawn_bg("crew", "echo", "only turn", &["--persistent"])
        .name;

    let m = eventually(Duration::from_secs(30), "the member to complete", || {
        let m = p.member("crew", &name);
        (m["status"] != "running" && m["status"] != "idle" && m["status"] != "pending").then_some(m)
    });
    assert_eq!(m["status"], "completed", "{m}");
    assert_eq!(
        m["result"], "echo: only turn\n",
        "the last turn's result: {m}"
    );
    assert_eq!(m["turns"], 1, "{m}");

    // It went idle when its turn's result reached the lead, and stayed idle for the
    // timeout (1 s) before it completed; not much longer.
    let inbox = p.peek("crew", "lead");
    let results = of_kind(&inbox, "result");
    assert_eq!(results.len(), 1, "{inbox:#?}");
    let idle_at = results[0]["created_at_ms"].as_i64().unwrap();
    let ended_at = m["ended_at_ms"].as_i64().unwrap();
    let idle_ms = ended_at - idle_at;
    assert!(
        (990..6000).contains(&idle_ms),
        "completed after {idle_ms} ms of idleness; member_timeout_secs = 1"
    );

    // The lead is told as for any completion, and the summary follows.
    let completions = of_kind(&inbox, "completion");
    assert_eq!(completions.len(), 1, "{inbox:#?}");
    assert_eq!(
        body_of(completions[0]),
        format!("[AGENT COMPLETED] {name}: echo: only turn")
    );
    let system = of_kind(&inbox, "system");
    assert_eq!(system.len(), 1, "{inbox:#?}");
    assert_eq!(body_of(system[0]), "[ALL MEMBERS DONE] 1 completed");
    assert_eq!(turn_starts_ms(p).len(), 1, "no turn without a message");
    drop(runner);
}

/// Like [`ECHO`], but its first turn waits for the `go` file.
const SLOW_FIRST: &str = r#"
echo "$TEAM_MEMBER $(date +%s%N)" >> "$ROOT/turns.log"
input=$(cat)
if [ "$input" = "first" ]; then
    while [ ! -e "$ROOT/go" ]; do sleep 0.05; done
fi
echo "echo: $input"
"#;

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn messages_sent_while_running_start_the_next_turn(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.agent("echo", SLOW_FIRST);
    p.ok(&["create", "crew"]);
    let _runner = p.start_runner("runner", &[]);
    let name = p.spawn_bg("crew", "echo", "first", &["--persistent"]).name;
    eventually(Duration::from_secs(30), "the first turn to start", || {
        (turn_starts_ms(p).len() == 1).then_some(())
    });
    // Two messages land while the member is busy; neither is lost.
    p.ok(&["send", "crew", "--from", "lead", "--to", &name, "one"]);
    p.ok(&["send", "crew", "--from", "lead", "--to", &name, "two"]);
    assert_eq!(p.status("crew", &name), "running");
    std::fs::write(p.path("go"), "").unwrap();

    eventually(Duration::from_secs(30), "a turn with both messages", || {
        let results = lead_msgs(p, "result");
        let with_both = results
            .iter()
            .any(|r| r.contains("\none\n") && r.contains("\ntwo\n"));
        let seen = |w: &str| {
            results
                .iter()
                .filter(|r| r.contains(&format!("\n{w}\n")))
                .count()
        };
        assert!(
            seen("one") <= 1 && seen("two") <= 1,
            "a message taken twice: {results:?}"
        );
        with_both.then_some(())
    });
    eventually(Duration::from_secs(30), "the member to be idle", || {
        (p.status("crew", &name) == "idle").then_some(())
    });
    assert_eq!(turn_starts_ms(p).len(), 2, "one turn for both messages");
    assert!(p.peek("crew", &name).is_empty(), "its inbox was taken");
}
