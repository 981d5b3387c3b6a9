//! Nothing lost, nothing stuck (issue 14), from a shell: `team inbox` under a delivery lease
//! and its `--after` cursor, claim leases, fencing of an ended member's writes, the defaults a
//! member's process takes from `TEAM_ID` / `TEAM_MEMBER`, send keys and the size limit.

use std::thread;
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|m| m["id"].as_i64().expect("id"))
        .collect()
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn inbox_cursor_reads_without_consuming_and_lease_hides_until_acknowledged(
    #[case] backend: Backend,
) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.create_team("demo");
    p.add_member("demo", "a");
    for body in ["one", "two", "three"] {
        p.ok(&["send", "demo", "--from", "lead", "--to", "a", body]);
    }
    let all = p.json(&["inbox", "demo", "a", "--after", "0"]);
    assert_eq!(strings(&all, "body"), ["one", "two", "three"]);
    let first = ids(&all)[0];
    // The cursor: everything above the id given, as often as asked, consuming nothing.
    let rest = p.json(&["inbox", "demo", "a", "--after", &first.to_string()]);
    assert_eq!(strings(&rest, "body"), ["two", "three"]);
    assert_eq!(p.peek("demo", "a").len(), 3);
    // A take acknowledges what it printed: gone from the inbox, still on the cursor.
    let took = p.json(&["inbox", "demo", "a"]);
    assert_eq!(ids(&took), ids(&all));
    assert!(p.peek("demo", "a").is_empty());
    let again = p.json(&["inbox", "demo", "a", "--after", "0"]);
    assert_eq!(ids(&again), ids(&all));
    assert!(again[0]["delivered_at_ms"].is_i64(), "{again}");
    let kinds = strings(&p.json(&["logs", "demo"]), "kind");
    let leased = kinds.iter().position(|k| k == "message.leased").unwrap();
    assert_eq!(kinds[leased + 1], "message.delivered", "{kinds:?}");
    // Bad leases are usage errors.
    for bad in ["-1", "NaN", "1e300", "0"] {
        let err = p.fails(&["inbox", "demo", "a", &format!("--lease={bad}")], 2);
        assert!(err.contains("--lease must be"), "{bad}: {err}");
    }
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn a_claim_lease_gives_an_abandoned_task_back(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.create_team("demo");
    p.add_member("demo", "w");
    p.add_member("demo", "v");
    let id = p.add_task("demo", "do it", &[]);
    let t = p.json(&["task", "claim", "demo", "--as", "w", "--lease", "1"]);
    assert_eq!(
        (t["id"].as_i64(), t["status"].as_str()),
        (Some(id), Some("in_progress"))
    );
    // Within the lease nobody else gets it.
    p.fails(&["task", "claim", "demo", "--as", "v"], 3);
    thread::sleep(Duration::from_millis(1100));
    // Past it, a read of the board shows it pending again, and another member claims it.
    assert_eq!(p.task_status("demo", id), "pending");
    let events = p.json(&["logs", "demo"]);
    let released: Vec<&Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "task.released")
        .collect();
    assert_eq!(released.len(), 1, "{events}");
    assert_eq!(released[0]["payload"]["reason"], "claim lease expired");
    let t = p.json(&["task", "claim", "demo", "--as", "v", "--lease", "0"]);
    assert_eq!(t["assignee"], "v");
    // --lease 0 is no lease: it stays claimed.
    thread::sleep(Duration::from_millis(300));
    assert_eq!(p.task_status("demo", id), "in_progress");
    p.ok(&["task", "done", "demo", &id.to_string(), "--as", "v"]);
    assert_eq!(p.task_status("demo", id), "completed");
    // A shell claim without --lease gets the default lease (600 s) in its event.
    let id2 = p.add_task("demo", "again", &[]);
    p.ok(&["task", "claim", "demo", "--as", "w", &id2.to_string()]);
    let events = p.json(&["logs", "demo"]);
    let last = events
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["kind"] == "task.claimed")
        .unwrap();
    assert_eq!(last["payload"]["lease_ms"], 600_000, "{last}");
    let err = p.fails(&["task", "claim", "demo", "--as", "w", "--lease=-3"], 2);
    assert!(err.contains("--lease must be"), "{err}");
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn an_ended_member_cannot_act(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    let team = p.create_team("demo");
    p.add_member("demo", "w");
    let id = p.add_task("demo", "t", &[]).to_string();
    p.ok(&["task", "claim", "demo", "--as", "w", &id]);
    p.ok(&["member", "fail", "demo", "w", "--error", "runner lost"]);
    let refused = |args: &[&str]| {
        let err = p.fails(args, 4);
        assert!(
            err.contains("member w in team demo is failed; it can no longer"),
            "{args:?}: {err}"
        );
    };
    refused(&["send", "demo", "--from", "w", "--to", "lead", "late result"]);
    refused(&["send", "demo", "--from", "w", "--all", "late"]);
    let id2 = p.add_task("demo", "t2", &[]).to_string();
    refused(&["task", "claim", "demo", "--as", "w", &id2]);
    refused(&["task", "done", "demo", &id2, "--as", "w"]);
    refused(&["task", "fail", "demo", &id2, "--as", "w"]);
    // Inside the member's process (what an orphaned agent would run), the same.
    let inside = |args: &[&str]| {
        p.team()
            .env("TEAM_ID", &team)
            .env("TEAM_MEMBER", "w")
            .args(args)
            .output()
            .unwrap()
    };
    for args in [
        &["send", "--to", "lead", "late"][..],
        &["task", "claim"][..],
        &["task", "done", &id2][..],
        &["memory", "set", "w", "notes"][..],
        &["memory", "append", "w", "notes"][..],
        &["memory", "clear", "w"][..],
    ] {
        let o = inside(args);
        assert_code(args, &o, 4);
        assert!(
            stderr(&o).contains("it can no longer"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    // Nothing of it reached the lead (only the failure notice did).
    let lead = p.peek("demo", "lead");
    assert!(
        lead.iter()
            .all(|m| !m["body"].as_str().unwrap().contains("late")),
        "{lead:?}"
    );
    assert!(
        lead[0]["body"]
            .as_str()
            .unwrap()
            .contains("[AGENT FAILURE]"),
        "{lead:?}"
    );
    assert!(p.ok(&["memory", "show", "w"]).is_empty());
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn inside_a_member_team_and_member_come_from_the_environment(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    let team = p.create_team("demo");
    p.add_member("demo", "w");
    let id = p.add_task("demo", "t", &[]);
    let inside = |args: &[&str]| {
        let o = p
            .team()
            .env("TEAM_ID", &team)
            .env("TEAM_MEMBER", "w")
            .args(args)
            .output()
            .unwrap();
        assert_ok(args, &o);
        stdout(&o)
    };
    inside(&["send", "--to", "lead", "hello lead"]);
    assert_eq!(
        strings(&p.json(&["inbox", "demo", "lead"]), "body"),
        ["hello lead"]
    );
    p.ok(&["send", "demo", "--from", "lead", "--to", "w", "hi w"]);
    assert!(inside(&["inbox"]).contains("hi w"));
    assert_eq!(inside(&["task", "claim"]).trim(), format!("{id}\tt"));
    inside(&["task", "done", &id.to_string(), "--result", "ok"]);
    assert_eq!(p.task_status("demo", id), "completed");
    // Outside a member, a missing team is a usage error that says what to do.
    let err = p.fails(&["inbox"], 2);
    assert!(err.contains("TEAM_ID"), "{err}");
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn a_send_key_stores_a_retried_send_once_and_large_messages_are_refused(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.create_team("demo");
    p.add_member("demo", "a");
    let args = [
        "send", "demo", "--from", "lead", "--to", "a", "--key", "k1", "once",
    ];
    let first = p.json(&args);
    let again = p.json(&args);
    assert_eq!(ids(&first), ids(&again));
    assert_eq!(p.peek("demo", "a").len(), 1);
    // Another sender may use the same key.
    p.ok(&[
        "send", "demo", "--from", "a", "--to", "lead", "--key", "k1", "mine",
    ]);
    assert_eq!(p.peek("demo", "lead").len(), 1);

    // max_message_bytes: 1 MiB.
    let big = "x".repeat(1024 * 1024 + 1);
    let o = p.run_stdin(&["send", "demo", "--from", "lead", "--to", "a"], big);
    assert_code(&["send"], &o, 2);
    assert!(stderr(&o).contains("max_message_bytes"), "{}", stderr(&o));
    let fits = "y".repeat(1024 * 1024);
    p.ok_stdin(&["send", "demo", "--from", "lead", "--all"], fits.clone());
    // A broadcast reaches each with the whole body.
    assert_eq!(
        p.peek("demo", "a")[1]["body"].as_str().unwrap().len(),
        fits.len()
    );
    assert_eq!(p.peek("demo", "lead").len(), 1);
}

/// `[team] max_message_bytes` in the project's config sets the limit `team send` enforces.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn the_message_size_limit_comes_from_the_config(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.create_team("demo");
    p.add_member("demo", "a");
    let config = p.root().join(".team").join("config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "[team]\nmax_message_bytes = 16\n").unwrap();
    let o = p.run_stdin(
        &["send", "demo", "--from", "lead", "--to", "a"],
        "x".repeat(17),
    );
    assert_code(&["send"], &o, 2);
    assert!(stderr(&o).contains("max_message_bytes"), "{}", stderr(&o));
    p.ok_stdin(
        &["send", "demo", "--from", "lead", "--to", "a"],
        "y".repeat(16),
    );
    assert_eq!(p.peek("demo", "a").len(), 1);
}
