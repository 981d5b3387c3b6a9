//! Issue 20, "a background runner that outlives the shell that started it is visible":
//! `team runners` lists the runners serving the database (alive or lost by the one rule;
//! `--all`: stopped ones too), and `team runner stop` ends one cleanly, by SIGTERM on this
//! host or by a stop request its next heartbeat reads (`--no-signal`, the way of a runner on
//! another host), waiting for it (exit 124 after `--timeout`, 3 for an unknown id).

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

/// An agent that sleeps until it is cancelled.
const SLEEPER: &str = "---\ndescription: sleeps\ncommand: [\"sleep\", \"300\"]\n---\nSleeps.\n";

/// True when process `pid` exists and is not a zombie.
fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'))
    })
}

/// Kills a runner this test started (and did not stop) when the test ends.
struct KillOnDrop(i64);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if alive(self.0) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &self.0.to_string()])
                .status();
        }
    }
}

/// Polls `f` every 50 ms until it returns `Some`, or panics with `what` after `within`.
#[track_caller]
fn eventually<T>(within: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < within, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Validates `doc` against `docs/schemas/NAME.json`.
#[track_caller]
fn assert_schema(name: &str, doc: &Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../docs/schemas/{name}.json"));
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("schema file")).unwrap();
    let v = jsonschema::validator_for(&schema).expect("a valid schema");
    let errors: Vec<String> = v.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{name}: {errors:?}\n{doc:#}");
}

/// The runner of `team runners --json` with process `pid`, if listed.
fn listed(p: &Project, args: &[&str], pid: i64) -> Option<Value> {
    let mut all = vec!["runners"];
    all.extend_from_slice(args);
    p.json(&all)
        .as_array()
        .expect("an array")
        .iter()
        .find(|r| r["pid"] == pid)
        .cloned()
}

/// Starts `team runner` as a child with a heartbeat of `heartbeat_ms`, logging to
/// `<root>/NAME.log`; returns it and its id once it is registered.
fn start_runner(p: &Project, name: &str, heartbeat_ms: u64) -> (Child, KillOnDrop, String) {
    let log = std::fs::File::create(p.path(&format!("{name}.log"))).expect("log file");
    let child = p
        .std_cmd()
        .env("TEAM_HEARTBEAT_MS", heartbeat_ms.to_string())
        .arg("runner")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start team runner");
    let pid = i64::from(child.id());
    let guard = KillOnDrop(pid);
    let r = eventually(Duration::from_secs(30), "the runner to register", || {
        listed(p, &[], pid)
    });
    let id = r["id"].as_str().expect("id").to_owned();
    (child, guard, id)
}

/// Waits for `child` to exit (at most `within`); returns its exit code.
fn exit_code(child: &mut Child, within: Duration) -> Option<i32> {
    let status = eventually(within, "the runner to exit", || child.try_wait().unwrap());
    status.code()
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn a_background_runner_is_listed_and_runner_stop_ends_it(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    std::fs::write(p.path(".team/agents/sleeper.md"), SLEEPER).unwrap();
    p.create_team("crew");
    let o = p.run(&[
        "spawn",
        "crew",
        "sleeper",
        "--prompt",
        "zzz",
        "--background",
    ]);
    assert_ok(&["spawn"], &o);
    let member = stdout(&o).trim().to_owned();
    let pid: i64 = stderr(&o)
        .split("started a runner in the background (pid ")
        .nth(1)
        .and_then(|rest| rest.split(')').next()?.parse().ok())
        .unwrap_or_else(|| panic!("spawn started a runner: {}", stderr(&o)));
    let _guard = KillOnDrop(pid);

    // Listed, holding the member once it claimed it.
    let r = eventually(
        Duration::from_secs(30),
        "the runner to hold the member",
        || listed(p, &[], pid).filter(|r| r["slots_used"] == 1),
    );
    let doc = p.json(&["runners"]);
    assert_schema("runners", &doc);
    let host = gethostname();
    assert_eq!(r["host"], host.as_str(), "{r}");
    assert_eq!(r["state"], "alive", "{r}");
    assert_eq!(r["version"], env!("CARGO_PKG_VERSION"), "{r}");
    assert_eq!(r["stop_requested_at_ms"], Value::Null, "{r}");
    assert!(r["max_agents"].as_i64().unwrap() >= 1, "{r}");
    assert!(r["heartbeat_age_ms"].as_i64().unwrap() >= 0, "{r}");
    assert_eq!(
        r["members"],
        serde_json::json!([{"team": "crew", "name": member, "status": "running"}]),
        "{r}"
    );
    let id = r["id"].as_str().unwrap().to_owned();
    let human = p.ok(&["runners"]);
    assert!(human.contains(&id), "{human}");
    assert!(human.contains(&format!("crew/{member}")), "{human}");
    assert!(human.contains("alive"), "{human}");

    // An unknown id: exit 3, naming `team runners`.
    let err = p.fails(&["runner", "stop", "nope"], 3);
    assert!(err.contains("no runner nope"), "{err}");
    assert!(err.contains("team runners"), "{err}");

    // The only runner alive is the default; SIGTERM on this host; the command returns once
    // it has stopped and its process is gone.
    let stopped = p.json(&["runner", "stop"]);
    assert_schema("runner-stop", &stopped);
    assert_eq!(stopped["runners"][0]["id"], id.as_str(), "{stopped}");
    assert_eq!(stopped["runners"][0]["state"], "stopped", "{stopped}");
    assert!(!alive(pid), "the runner's process is gone");
    // Its member was cancelled by the stop (its lead is told), not lost.
    let m = p.json(&["show", "crew"])["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == member.as_str())
        .cloned()
        .unwrap();
    assert_eq!(m["status"], "cancelled", "{m}");

    // Listed only with --all, as stopped.
    assert!(
        listed(p, &[], pid).is_none(),
        "a stopped runner is not listed"
    );
    let r = listed(p, &["--all"], pid).expect("listed with --all");
    assert_eq!(r["state"], "stopped", "{r}");
    assert!(r["stopped_at_ms"].is_i64(), "{r}");
    assert_eq!(r["members"], serde_json::json!([]), "{r}");
    let none = p.ok(&["runners"]);
    assert!(none.contains("no runner is running"), "{none}");
    // Stopping it again is no error.
    p.ok(&["runner", "stop", &id]);
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn a_stop_requested_through_the_database_is_honoured_at_the_next_heartbeat(
    #[case] backend: Backend,
) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    let (mut child, _guard, id) = start_runner(p, "runner", 200);

    // No signal: the runner learns of the stop from the database, as a runner on another
    // host would, and stops itself.
    let doc = p.json(&["runner", "stop", &id, "--no-signal"]);
    assert_schema("runner-stop", &doc);
    let r = &doc["runners"][0];
    assert_eq!(r["state"], "stopped", "{doc}");
    assert!(r["stop_requested_at_ms"].is_i64(), "{doc}");
    // It returned from its serving loop (exit 0); SIGTERM would have made it exit 130.
    assert_eq!(exit_code(&mut child, Duration::from_secs(10)), Some(0));
    let log = std::fs::read_to_string(p.path("runner.log")).unwrap();
    assert!(log.contains("a stop was requested"), "{log}");
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn runner_stop_gives_up_after_its_timeout_and_a_signal_stops_at_once(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    // A heartbeat a minute apart: a stop request waits for the next one.
    let (mut child, _guard, id) = start_runner(p, "slow", 60_000);
    let err = p.fails_json(
        &["runner", "stop", &id, "--no-signal", "--timeout", "0.5"],
        124,
    );
    assert!(err.contains(&id), "{err}");
    let r = listed(p, &[], i64::from(child.id())).expect("still listed");
    assert_eq!(r["state"], "alive", "{r}");
    assert!(r["stop_requested_at_ms"].is_i64(), "{r}");
    assert!(p.ok(&["runners"]).contains("alive (stopping)"));

    // On this host, a signal stops it at once.
    let start = Instant::now();
    p.ok(&["runner", "stop", &id]);
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(exit_code(&mut child, Duration::from_secs(5)), Some(130));
    assert!(listed(p, &[], i64::from(child.id())).is_none());
}

/// This host's name, as runners register it.
fn gethostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .expect("host name")
}
