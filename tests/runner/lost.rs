//! Issue 14, the runner side: a dead runner is noticed without `team reconcile` (by the
//! runners that survive it and by `team wait`), its agents die with it, a member runs the
//! definition and environment it was spawned with, Ctrl-C on a foreground spawn cancels only
//! what that process owns, and a seeded fault test that kills runners at random moments.

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    Backend, ForeignPid, Proc, Project, alive, eventually, pids_of, rstest, signal,
    started_runner_pid, stderr, stdout, wait_timeout,
};

/// The heartbeat period of the runners of these tests: a dead runner is noticed at the next
/// heartbeat of a live one, a stale heartbeat after three periods (long enough that a loaded
/// machine does not make a live runner look lost).
const HEARTBEAT_MS: u64 = 250;

/// Sleeps until killed.
const SLEEPER: &str = "sleep 300";

/// Starts a background job, then (after a second) writes a file and sends the lead a
/// message: what an agent of a killed runner must never get to do.
const WRITER: &str = r#"
sleep 300 &
echo $! > "$ROOT/bg.pid"
sleep 1
echo late > "$ROOT/written"
"$TEAM_BIN" send "$TEAM_ID" --from "$TEAM_MEMBER" --to lead "late"
wait
"#;

/// An agent file whose command is `bash -c SCRIPT` (no script file: the definition is all).
fn inline_agent(script: &str) -> String {
    let argv = serde_json::to_string(&["bash", "-c", script]).unwrap();
    format!("---\ndescription: inline test agent\ncommand: {argv}\n---\nA test agent.\n")
}

/// Waits until the script of `member` logged its pid; returns it.
fn script_pid(p: &Project, member: &str) -> i32 {
    eventually(
        Duration::from_secs(30),
        &format!("{member} to start"),
        || pids_of(&p.lines("pids.log"), member).first().copied(),
    )
}

/// Waits until member `name` of `team` is terminal; returns its row.
fn ended(p: &Project, team: &str, name: &str, within: Duration) -> Value {
    eventually(within, &format!("{name} to end"), || {
        let m = p.member(team, name);
        matches!(
            m["status"].as_str(),
            Some("completed" | "failed" | "cancelled" | "timed_out")
        )
        .then_some(m)
    })
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn team_wait_notices_that_the_only_runner_was_killed_and_its_agent_died_with_it(
    #[case] backend: Backend,
) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.heartbeat_ms(HEARTBEAT_MS);
    p.agent("writer", WRITER);
    p.ok(&["create", "crew"]);
    let s = p.spawn_bg("crew", "writer", "go", &[]);
    let r1 = s
        .runner_pid
        .expect("the first background spawn starts a runner");
    let _r1 = ForeignPid(r1);
    let agent = script_pid(p, &s.name);
    let bg: i32 = eventually(Duration::from_secs(30), "the background job", || {
        p.read("bg.pid").trim().parse().ok()
    });

    signal(&r1.to_string(), "KILL");
    let start = Instant::now();
    let o = p.run(&["wait", "crew", "--timeout", "15"]);
    // Before: exit 124 after 15 s, "still live: writer".
    assert_eq!(
        o.status.code(),
        Some(1),
        "stdout: {}\nstderr: {}",
        stdout(&o),
        stderr(&o)
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
    let m = p.member("crew", &s.name);
    assert_eq!(m["status"], "failed", "{m}");
    assert_eq!(m["error"], "runner lost", "{m}");

    // The agent died with its runner, its background job with the reconciliation.
    eventually(Duration::from_secs(5), "the agent to die", || {
        (!alive(agent)).then_some(())
    });
    eventually(Duration::from_secs(5), "its background job to die", || {
        (!alive(bg)).then_some(())
    });
    // Past the moment it would have written and sent.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !p.path("written").exists(),
        "the agent of a dead runner went on writing"
    );
    let inbox = p.peek("crew", "lead");
    assert!(
        inbox.iter().all(|x| x["body"] != "late"),
        "the agent of a dead runner sent: {inbox:#?}"
    );
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn a_surviving_runner_reconciles_a_dead_one_by_itself(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.heartbeat_ms(HEARTBEAT_MS);
    p.agent("sleeper", SLEEPER);
    p.ok(&["create", "crew"]);
    let a = p.start_runner("runner-a", &[]);
    let s = p.spawn_bg("crew", "sleeper", "sleep", &[]);
    assert!(s.runner_pid.is_none(), "runner-a serves the spawn");
    script_pid(p, &s.name);
    let _b = p.start_runner("runner-b", &[]);

    signal(&a.pid().to_string(), "KILL");
    let start = Instant::now();
    // Only reads from here: no `team reconcile`, `wait` or `watch`.
    let m = ended(p, "crew", &s.name, Duration::from_secs(10));
    assert_eq!(m["status"], "failed", "{m}");
    assert_eq!(m["error"], "runner lost", "{m}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    let r = p.json(&["reconcile"]);
    assert_eq!(
        r["runners_lost"],
        serde_json::json!([]),
        "already reconciled: {r}"
    );
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn members_run_the_definition_they_were_spawned_with(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.ok(&["create", "crew"]);
    let _r = p.start_runner("runner", &["--max-agents", "1"]);
    // An agent added after the runner started (before: `unknown agent`).
    p.agent_file("late", &inline_agent("echo late-$(cat)"));
    let late = p.spawn_bg("crew", "late", "x", &[]);
    assert!(
        late.runner_pid.is_none(),
        "the live runner serves the spawn"
    );
    let m = ended(p, "crew", &late.name, Duration::from_secs(30));
    assert_eq!(m["status"], "completed", "{m}");
    assert_eq!(m["result"], "late-x\n", "{m}");

    // The only slot is held until `go` exists; meanwhile `ver` is spawned, edited and
    // spawned again.
    p.agent_file(
        "gate",
        &inline_agent(r#"while [ ! -e "$TEAM_PROJECT_ROOT/go" ]; do sleep 0.05; done"#),
    );
    p.agent_file("ver", &inline_agent("echo v1"));
    let g = p.spawn_bg("crew", "gate", "x", &[]);
    eventually(Duration::from_secs(30), "the gate to run", || {
        (p.status("crew", &g.name) == "running").then_some(())
    });
    let old = p.spawn_bg("crew", "ver", "x", &[]);
    p.agent_file("ver", &inline_agent("echo v2"));
    let new = p.spawn_bg("crew", "ver", "x", &[]);
    assert_eq!(p.status("crew", &old.name), "pending");
    std::fs::write(p.path("go"), "").unwrap();
    let o = ended(p, "crew", &old.name, Duration::from_secs(30));
    let n = ended(p, "crew", &new.name, Duration::from_secs(30));
    assert_eq!(
        o["result"], "v1\n",
        "the old spawn runs the old version: {o}"
    );
    assert_eq!(
        n["result"], "v2\n",
        "the new spawn runs the new version: {n}"
    );
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn a_spawn_from_another_environment_is_not_run_with_the_old_one(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.agent_file(
        "env",
        &inline_agent(r#"echo "base=${OPENAI_BASE_URL:-none}""#),
    );
    p.ok(&["create", "crew"]);
    let _r = p.start_runner("runner", &[]);
    let same = p.spawn_bg("crew", "env", "x", &[]);
    assert!(
        same.runner_pid.is_none(),
        "the live runner has the same environment"
    );
    let m = ended(p, "crew", &same.name, Duration::from_secs(30));
    assert_eq!(m["result"], "base=none\n", "{m}");

    let o = p
        .cmd()
        .args(["spawn", "crew", "env", "--prompt", "x", "--background"])
        .env("OPENAI_BASE_URL", "http://127.0.0.1:9/other")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let name = stdout(&o).trim().to_owned();
    let pid = started_runner_pid(&stderr(&o))
        .unwrap_or_else(|| panic!("a runner with this environment is started: {}", stderr(&o)));
    let _guard = ForeignPid(pid);
    let m = ended(p, "crew", &name, Duration::from_secs(30));
    assert_eq!(m["status"], "completed", "{m}");
    assert_eq!(m["result"], "base=http://127.0.0.1:9/other\n", "{m}");
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn ctrl_c_on_a_foreground_spawn_cancels_only_what_it_owns(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.agent("sleeper", SLEEPER);
    p.ok(&["create", "crew"]);
    let other = p.spawn_bg("crew", "sleeper", "other", &[]);
    let _r = other.runner_pid.map(ForeignPid);
    script_pid(p, &other.name);

    let log = p.path("fg.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = p
        .cmd()
        .args(["spawn", "crew", "sleeper", "--prompt", "mine"])
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let mut fg = Proc { child, log };
    let mine = eventually(Duration::from_secs(30), "the foreground member", || {
        p.members("crew")
            .into_iter()
            .find(|m| m["role"] == "member" && m["name"] != other.name.as_str())
            .map(|m| m["name"].as_str().unwrap().to_owned())
    });
    script_pid(p, &mine);
    signal(&fg.pid().to_string(), "INT");
    let status = wait_timeout(&mut fg.child, Duration::from_secs(20))
        .unwrap_or_else(|| panic!("the foreground spawn did not stop: {}", fg.log_text()));
    assert_eq!(status.code(), Some(130), "{}", fg.log_text());
    assert_eq!(p.status("crew", &mine), "cancelled");
    // Before: the whole team was disbanded.
    assert_eq!(p.status("crew", &other.name), "running");
    assert_eq!(p.json(&["show", "crew"])["team"]["status"], "active");
}

/// One iteration per `TEAM_FAULT_ITERATIONS` (default 3; bench/runner-kill-stress.sh runs
/// 300), seeded by `TEAM_FAULT_SEED` (default 14): spawn 4 members (quick, and slow ones
/// that take 0.6–1 s), kill -9 the runner at a random moment, then `team wait` must return
/// (0 stuck), every member must be terminal, each completed one with its result, each other one `failed: runner lost`, and
/// the lead must have exactly one notice per member (0 lost, 0 duplicated).
fn random_kills(p: &Project) {
    let iterations: u64 = std::env::var("TEAM_FAULT_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let seed: u64 = std::env::var("TEAM_FAULT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(14);
    let mut rng = StdRng::seed_from_u64(seed);
    p.heartbeat_ms(HEARTBEAT_MS);
    p.agent("quick", r#"echo "ok $(cat)""#);
    // 0.6 to 1 s: most are running when the runner is killed.
    p.agent("slow", r#"p=$(cat); sleep 0.5; sleep "0.$p"; echo "ok $p""#);
    let mut guards = Vec::new();
    let (mut completed, mut lost) = (0, 0);
    // The live runner: started by a spawn, or by a `team wait` that found members pending
    // after the previous kill (it then serves the next iteration's spawns).
    let mut current: Option<i32> = None;
    for i in 0..iterations {
        let team = format!("t{i}");
        p.ok(&["create", &team]);
        let mut names = Vec::new();
        for k in 0..4 {
            let agent = if rng.random_range(0..2) == 0 {
                "quick"
            } else {
                "slow"
            };
            let prompt = format!("{}", 1 + rng.random_range(0..5));
            let s = p.spawn_bg(&team, agent, &prompt, &[]);
            if let Some(pid) = s.runner_pid {
                current = Some(pid);
                guards.push(ForeignPid(pid));
            }
            names.push(s.name);
            if k == 1 {
                std::thread::sleep(Duration::from_millis(rng.random_range(0..150)));
            }
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(0..600)));
        if let Some(pid) = current.take() {
            signal(&pid.to_string(), "KILL");
        }
        let o = p.run(&["wait", &team, "--timeout", "60"]);
        if let Some(pid) = started_runner_pid(&stderr(&o)) {
            current = Some(pid);
            guards.push(ForeignPid(pid));
        }
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "iteration {i} (seed {seed}): team wait did not return: {:?}\n{}{}",
            o.status.code(),
            stdout(&o),
            stderr(&o)
        );
        let inbox = p.peek(&team, "lead");
        for name in &names {
            let m = p.member(&team, name);
            match m["status"].as_str() {
                Some("completed") => {
                    assert!(m["result"].as_str().unwrap_or("").starts_with("ok "), "{m}");
                    completed += 1;
                }
                Some("failed") => {
                    assert_eq!(m["error"], "runner lost", "{m}");
                    lost += 1;
                }
                other => panic!("iteration {i} (seed {seed}): {name} is {other:?}: {m}"),
            }
            let notices = inbox
                .iter()
                .filter(|x| x["sender"] == name.as_str())
                .count();
            assert_eq!(
                notices, 1,
                "iteration {i} (seed {seed}): {name}: {inbox:#?}"
            );
        }
    }
    eprintln!(
        "random kills: {iterations} iterations (seed {seed}): {completed} members completed, \
         {lost} failed with `runner lost`; 0 stuck, 0 lost, 0 duplicated"
    );
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn kill_9_of_runners_at_random_moments_leaves_nothing_lost_or_stuck(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    random_kills(p);
}
