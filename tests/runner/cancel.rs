//! Cancellation: SIGINT (or SIGTERM) to a foreground `team runner` cancels the members it runs
//! (their processes, grandchildren and SIGTERM-ignoring ones included, are gone; their lead is
//! told) and exits 130; a second SIGINT kills at once; SIGINT to a foreground `team spawn`
//! cancels its member (not the team it did not create); `team disband` from another process
//! cancels a running background member, and wakes an idle one, within a second or so.

use std::time::{Duration, Instant};

use crate::support::{
    Backend, ForeignPid, Proc, Project, alive, body_of, eventually, of_kind, pids_of, rstest,
    signal, wait_timeout,
};

/// Starts a grandchild `sleep` (logged as `MEMBER PID` to `children.log`) and waits for it.
const SLEEPER: &str = r#"
sleep 300 &
echo "$TEAM_MEMBER $!" >> "$ROOT/children.log"
wait
"#;

/// Like [`SLEEPER`], but ignores SIGTERM (and so does its grandchild): only SIGKILL stops it.
const STUBBORN: &str = r#"
trap '' TERM INT HUP
sleep 300 &
echo "$TEAM_MEMBER $!" >> "$ROOT/children.log"
while :; do sleep 1; done
"#;

/// Claims the task whose id is its prompt, then sleeps like [`SLEEPER`].
const CLAIMER: &str = r#"
task=$(cat)
"$TEAM_BIN" task claim "$TEAM_ID" "$task" --as "$TEAM_MEMBER" > "$ROOT/claimed" || exit 99
sleep 300 &
echo "$TEAM_MEMBER $!" >> "$ROOT/children.log"
wait
"#;

/// One turn that answers at once (for a persistent member that then goes idle).
const ECHO: &str = r#"echo "echo: $(cat)""#;

/// Every pid logged for `member`: its script (`pids.log`) and its grandchildren
/// (`children.log`).
fn pids(p: &Project, member: &str) -> Vec<i32> {
    let mut v = pids_of(&p.lines("pids.log"), member);
    v.extend(pids_of(&p.lines("children.log"), member));
    v
}

/// Waits until the script of `member` and one grandchild are logged; returns their pids.
fn started(p: &Project, member: &str) -> Vec<i32> {
    eventually(
        Duration::from_secs(30),
        &format!("{member} to start"),
        || {
            let script = pids_of(&p.lines("pids.log"), member);
            let children = pids_of(&p.lines("children.log"), member);
            (!script.is_empty() && !children.is_empty()).then(|| pids(p, member))
        },
    )
}

/// A foreground runner (two slots) runs a member, a member that ignores SIGTERM, and has a
/// third queued; `sig` stops it.
fn signal_stops_runner(p: &Project, sig: &str) {
    p.agent("sleeper", SLEEPER);
    p.agent("stubborn", STUBBORN);
    p.ok(&["create", "crew"]);
    let mut runner = p.start_runner("runner", &["--max-agents", "2"]);
    let a = p.spawn_bg("crew", "sleeper", "sleep", &[]);
    let b = p.spawn_bg("crew", "stubborn", "sleep", &[]);
    let c = p.spawn_bg("crew", "sleeper", "wait for a slot", &[]);
    assert!(a.runner_pid.is_none() && b.runner_pid.is_none() && c.runner_pid.is_none());
    assert_eq!(c.name, "sleeper-2");

    let mut procs = started(p, &a.name);
    procs.extend(started(p, &b.name));
    assert_eq!(procs.len(), 4, "two scripts, two grandchildren: {procs:?}");
    assert!(procs.iter().all(|&pid| alive(pid)), "{procs:?}");
    assert_eq!(p.status("crew", &a.name), "running");
    assert_eq!(p.status("crew", &b.name), "running");
    assert_eq!(
        p.status("crew", &c.name),
        "pending",
        "two slots, two running"
    );

    let t0 = Instant::now();
    signal(&runner.pid().to_string(), sig);
    let status = wait_timeout(&mut runner.child, Duration::from_secs(30)).unwrap_or_else(|| {
        panic!(
            "the runner is still running 30 s after SIG{sig}:\n{}",
            runner.log_text()
        )
    });
    eprintln!("runner exited {:?} after SIG{sig}", t0.elapsed());
    assert_eq!(
        status.code(),
        Some(130),
        "runner log:\n{}",
        runner.log_text()
    );

    // Its members' processes are gone, the one that ignores SIGTERM too.
    eventually(
        Duration::from_secs(5),
        "the members' processes to be gone",
        || procs.iter().all(|&pid| !alive(pid)).then_some(()),
    );
    for m in [&a.name, &b.name] {
        let row = p.member("crew", m);
        assert_eq!(row["status"], "cancelled", "{row}");
        assert_eq!(row["error"], "runner stopped", "{row}");
    }
    // The member it did not run is still queued, for the next runner.
    assert_eq!(p.status("crew", &c.name), "pending");

    // The lead was told of each cancellation, under the member's own name.
    let inbox = p.peek("crew", "lead");
    for m in [&a.name, &b.name] {
        let told: Vec<_> = inbox.iter().filter(|x| x["sender"] == m.as_str()).collect();
        assert_eq!(told.len(), 1, "{inbox:#?}");
        assert_eq!(
            body_of(told[0]),
            format!("[AGENT CANCELLED] {m}: runner stopped")
        );
    }
    assert_eq!(inbox.len(), 2, "{inbox:#?}");

    // It stopped cleanly: nothing left for reconciliation.
    let r = p.json(&["reconcile"]);
    assert_eq!(r["runners_lost"].as_array().unwrap().len(), 0, "{r}");
    assert_eq!(r["members_failed"].as_array().unwrap().len(), 0, "{r}");
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn sigint_to_a_runner_cancels_its_members_and_exits_130(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    signal_stops_runner(p, "INT");
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn sigterm_to_a_runner_cancels_its_members_and_exits_130(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    signal_stops_runner(p, "TERM");
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn second_sigint_kills_the_members_at_once(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.agent("stubborn", STUBBORN);
    p.ok(&["create", "crew"]);
    let mut runner = p.start_runner("runner", &[]);
    let s = p.spawn_bg("crew", "stubborn", "sleep", &[]);
    let procs = started(p, &s.name);

    signal(&runner.pid().to_string(), "INT");
    // The runner is cancelling: the member got SIGTERM, which it ignores; the runner
    // waits out the grace period before SIGKILL.
    eventually(
        Duration::from_secs(10),
        "the runner to handle the first SIGINT",
        || runner.log_text().contains("SIGINT").then_some(()),
    );
    let t0 = Instant::now();
    signal(&runner.pid().to_string(), "INT");
    let status = wait_timeout(&mut runner.child, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("the runner survived two SIGINTs:\n{}", runner.log_text()));
    assert_eq!(status.code(), Some(130), "{}", runner.log_text());
    assert!(
        t0.elapsed() < Duration::from_millis(1500),
        "a second SIGINT exits at once, not after {:?}",
        t0.elapsed()
    );
    // SIGKILL is sent before the exit; a killed process still has to be scheduled to
    // die, which took over 3 s on a 2-core machine under a full test run.
    eventually(
        Duration::from_secs(10),
        "the member's processes to be gone",
        || procs.iter().all(|&pid| !alive(pid)).then_some(()),
    );
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn sigint_to_a_foreground_spawn_cancels_its_member_and_exits_130(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.agent("sleeper", SLEEPER);
    p.ok(&["create", "crew"]);
    assert_eq!(p.ok(&["task", "add", "crew", "Open"]).trim(), "1");
    let log = p.path("spawn.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = p
        .cmd()
        .args(["spawn", "crew", "sleeper", "--prompt", "sleep"])
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("start team spawn");
    let mut spawn = Proc { child, log };
    let procs = started(p, "sleeper");
    assert_eq!(p.status("crew", "sleeper"), "running");

    signal(&spawn.pid().to_string(), "INT");
    let status = wait_timeout(&mut spawn.child, Duration::from_secs(30))
        .unwrap_or_else(|| panic!("team spawn survived SIGINT:\n{}", spawn.log_text()));
    assert_eq!(status.code(), Some(130), "{}", spawn.log_text());
    eventually(
        Duration::from_secs(5),
        "the member's processes to be gone",
        || procs.iter().all(|&pid| !alive(pid)).then_some(()),
    );

    // A foreground spawn into a team it did not create cancels what it owns (its
    // member), not the team (issue 14; tests/runner/lost.rs has the other members' side).
    let show = p.json(&["show", "crew"]);
    assert_eq!(show["team"]["status"], "active", "{show}");
    assert_eq!(p.status("crew", "sleeper"), "cancelled", "{show}");
    assert_eq!(show["tasks"][0]["status"], "pending", "{show}");
    // Its runner stopped cleanly: nothing left for reconciliation.
    let r = p.json(&["reconcile"]);
    assert_eq!(r["runners_lost"].as_array().unwrap().len(), 0, "{r}");
}

/// A runner that exits after this long with nothing live: it shows that a disband also ends
/// the executor of an idle member (one left waiting would keep the runner busy for the
/// 300 s idle timeout).
const IDLE_EXIT_SECS: u64 = 8;

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn disband_from_another_process_cancels_running_and_idle_members(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.agent("claimer", CLAIMER);
    p.agent("echo", ECHO);
    p.ok(&["create", "crew"]);
    assert_eq!(
        p.ok(&["task", "add", "crew", "Held by the claimer"]).trim(),
        "1"
    );
    assert_eq!(p.ok(&["task", "add", "crew", "Open"]).trim(), "2");
    let mut runner = p.start_runner("runner", &["--idle-exit", &IDLE_EXIT_SECS.to_string()]);
    let worker = p.spawn_bg("crew", "claimer", "1", &[]);
    let idler = p.spawn_bg("crew", "echo", "hello", &["--persistent"]);
    let _guards: Vec<ForeignPid> = [worker.runner_pid, idler.runner_pid]
        .into_iter()
        .flatten()
        .map(ForeignPid)
        .collect();
    assert!(
        _guards.is_empty(),
        "the runner stopped serving before the spawns (idle exit too short?)"
    );

    let procs = started(p, &worker.name);
    eventually(Duration::from_secs(30), "the claim", || {
        p.read("claimed").starts_with("1\t").then_some(())
    });
    eventually(
        Duration::from_secs(30),
        "the persistent member to go idle",
        || (p.status("crew", &idler.name) == "idle").then_some(()),
    );
    assert_eq!(p.status("crew", &worker.name), "running");

    let t0 = Instant::now();
    let d = p.json(&["disband", "crew"]);
    // Every live member, in the order they were added: the shell-driven lead too.
    assert_eq!(
        d["cancelled_members"],
        serde_json::json!(["lead", worker.name, idler.name]),
        "{d}"
    );
    let mut tasks: Vec<i64> = d["cancelled_tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    tasks.sort_unstable();
    assert_eq!(tasks, [1, 2], "{d}");

    eventually(
        Duration::from_secs(3),
        "the running member's processes to be gone",
        || procs.iter().all(|&pid| !alive(pid)).then_some(()),
    );
    eprintln!("disband → member processes gone: {:?}", t0.elapsed());
    for m in [&worker.name, &idler.name] {
        assert_eq!(p.status("crew", m), "cancelled", "{m}");
    }
    for id in ["1", "2"] {
        let t = p.json(&["task", "show", "crew", id]);
        assert_eq!(t["status"], "cancelled", "{t}");
    }
    let team = p.json(&["show", "crew"])["team"].clone();
    assert_eq!(team["status"], "disbanded", "{team}");

    // The runner's executors all ended (the idle one was woken, not left waiting out its
    // idle timeout), so it quits once it has been idle for IDLE_EXIT_SECS.
    let status = wait_timeout(&mut runner.child, Duration::from_secs(IDLE_EXIT_SECS * 4))
        .unwrap_or_else(|| {
            panic!(
                "the runner did not idle-exit after the disband: an executor is still waiting\n{}",
                runner.log_text()
            )
        });
    assert_eq!(status.code(), Some(0), "{}", runner.log_text());

    // The executors left the member rows as the disband wrote them.
    for m in [&worker.name, &idler.name] {
        let row = p.member("crew", m);
        assert_eq!(row["status"], "cancelled", "{row}");
    }
    let inbox = p.peek("crew", "lead");
    assert!(of_kind(&inbox, "failure").is_empty(), "{inbox:#?}");
}
