//! `team send` and `team inbox`: direct and broadcast messages, peek, consume, wait.

use std::thread;
use std::time::Duration;

use serde_json::json;

use crate::support::*;

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn send_from_argument_and_stdin_and_read_the_inbox(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.create_team("demo");
    p.add_member("demo", "a");

    let out = p.run(&["send", "demo", "--from", "lead", "--to", "a", "hello a"]);
    assert_ok(&["send"], &out);
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), "sent to a\n");
    let out = p.run_stdin(
        &["send", "demo", "--from", "a", "--to", "lead"],
        "line one\nline two\n",
    );
    assert_ok(&["send"], &out);
    assert_eq!(stderr(&out), "sent to lead\n");

    // --peek reads without consuming, as often as asked.
    let peeked = p.peek("demo", "lead");
    assert_eq!(peeked, p.peek("demo", "lead"));
    assert_eq!(peeked.len(), 1);
    let m = &peeked[0];
    assert_eq!(
        keys(m),
        [
            "body",
            "broadcast",
            "created_at_ms",
            "delivered_at_ms",
            "id",
            "kind",
            "recipient",
            "sender",
            "team_id"
        ]
    );
    assert_eq!(m["body"], "line one\nline two\n");
    assert_eq!(m["sender"], "a");
    assert_eq!(m["recipient"], "lead");
    assert_eq!(m["kind"], "text");
    assert_eq!(m["broadcast"], false);
    assert_eq!(m["delivered_at_ms"], json!(null));

    // Human inbox: a header per message, then the body; it consumes.
    let text = p.ok(&["inbox", "demo", "lead"]);
    let id = m["id"].as_i64().unwrap();
    let (head, body) = text.split_once('\n').unwrap();
    assert!(
        head.starts_with(&format!("--- #{id} from a (text) at ")),
        "{text}"
    );
    assert!(head.ends_with('Z'), "{head}");
    assert_eq!(body, "line one\nline two\n");
    let out = p.run(&["inbox", "demo", "lead"]);
    assert_ok(&["inbox"], &out);
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), "no unread messages for lead in team demo\n");
    assert_eq!(p.json(&["inbox", "demo", "lead"]), json!([]));

    // --json consumes. It prints the messages before acknowledging them (a kill before the
    // output is out loses nothing), so `delivered_at_ms` is still null in what it prints.
    let got = p.json(&["inbox", "demo", "a"]);
    assert_eq!(strings(&got, "body"), ["hello a"]);
    assert!(got[0]["delivered_at_ms"].is_null(), "{got}");
    assert_eq!(p.json(&["inbox", "demo", "a"]), json!([]));

    // Messages come out oldest first.
    for i in 1..=3 {
        p.ok(&[
            "send",
            "demo",
            "--from",
            "lead",
            "--to",
            "a",
            &format!("m{i}"),
        ]);
    }
    assert_eq!(
        strings(&p.json(&["inbox", "demo", "a"]), "body"),
        ["m1", "m2", "m3"]
    );

    // Bad input.
    let err = p.fails(&["send", "demo", "--from", "ghost", "--to", "a", "x"], 3);
    assert!(err.contains("member ghost in team demo not found"), "{err}");
    p.fails(&["send", "demo", "--from", "lead", "--to", "ghost", "x"], 3);
    p.fails(&["send", "ghost", "--from", "lead", "--to", "a", "x"], 3);
    p.fails(&["send", "demo", "--from", "lead", "x"], 2);
    p.fails(
        &["send", "demo", "--from", "lead", "--to", "a", "--all", "x"],
        2,
    );
    p.fails(&["send", "demo", "--to", "a", "x"], 2);
    p.fails(&["inbox", "demo", "ghost"], 3);
    p.fails(&["inbox", "ghost", "lead"], 3);
    p.ok(&["member", "done", "demo", "a"]);
    let err = p.fails(&["send", "demo", "--from", "lead", "--to", "a", "x"], 4);
    assert_eq!(
        err,
        "error: member a in team demo is completed; it cannot receive messages\n"
    );
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn broadcast_reaches_every_live_member_but_the_sender(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.create_team("demo");
    for agent in ["a", "b", "c"] {
        p.add_member("demo", agent);
    }
    p.ok(&["member", "done", "demo", "c"]);
    p.ok(&["inbox", "demo", "lead"]);

    let out = p.run(&["send", "demo", "--from", "a", "--all", "to everyone"]);
    assert_ok(&["send", "--all"], &out);
    assert_eq!(stderr(&out), "sent to lead, b\n");
    let v = p.json(&["send", "demo", "--from", "lead", "--all", "second"]);
    assert_eq!(strings(&v, "recipient"), ["a", "b"]);
    assert!(
        v.as_array().unwrap().iter().all(|m| m["broadcast"] == true),
        "{v}"
    );

    let lead = p.json(&["inbox", "demo", "lead"]);
    assert_eq!(strings(&lead, "body"), ["to everyone"]);
    assert_eq!(lead[0]["broadcast"], true);
    assert_eq!(
        strings(&p.json(&["inbox", "demo", "a"]), "body"),
        ["second"]
    );
    assert_eq!(
        strings(&p.json(&["inbox", "demo", "b"]), "body"),
        ["to everyone", "second"]
    );
    assert_eq!(p.json(&["inbox", "demo", "c"]), json!([]));

    // Nobody else live: a conflict, nothing sent.
    p.ok(&["member", "done", "demo", "a"]);
    p.ok(&["member", "done", "demo", "b"]);
    let err = p.fails(&["send", "demo", "--from", "lead", "--all", "anyone?"], 4);
    assert!(
        err.contains("no live member other than lead in team demo"),
        "{err}"
    );
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn inbox_wait_returns_when_another_process_sends(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.create_team("demo");
    p.add_member("demo", "a");
    let sender = {
        let mut c = p.std_cmd();
        c.args(["send", "demo", "--from", "a", "--to", "lead", "wake up"]);
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(300));
            c.output().expect("run team send")
        })
    };
    // A generous timeout: it only bounds the test if the wake-up never comes.
    let out = p.run(&[
        "--json",
        "inbox",
        "demo",
        "lead",
        "--wait",
        "--timeout",
        "60",
    ]);
    let sent = sender.join().unwrap();
    assert_ok(&["send"], &sent);
    assert_ok(&["inbox", "--wait"], &out);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(strings(&v, "body"), ["wake up"]);
    assert_eq!(p.json(&["inbox", "demo", "lead", "--peek"]), json!([]));

    // With a message already there, --wait returns at once; --peek --wait does not consume.
    p.ok(&[
        "send",
        "demo",
        "--from",
        "a",
        "--to",
        "lead",
        "already here",
    ]);
    let v = p.json(&["inbox", "demo", "lead", "--peek", "--wait"]);
    assert_eq!(strings(&v, "body"), ["already here"]);
    let v = p.json(&["inbox", "demo", "lead", "--wait"]);
    assert_eq!(strings(&v, "body"), ["already here"]);
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn inbox_wait_times_out_with_exit_124(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.create_team("demo");
    let err = p.fails(
        &["inbox", "demo", "lead", "--wait", "--timeout", "0.3"],
        124,
    );
    assert_eq!(
        err,
        "error: no message for member lead in team demo within 0.3s\n"
    );
    let msg = p.fails_json(
        &["inbox", "demo", "lead", "--wait", "--timeout", "0.3"],
        124,
    );
    assert_eq!(msg, "no message for member lead in team demo within 0.3s");
    // --timeout needs --wait, and a number of seconds.
    p.fails(&["inbox", "demo", "lead", "--timeout", "1"], 2);
    p.fails(&["inbox", "demo", "lead", "--wait", "--timeout", "soon"], 2);
    let err = p.fails(&["inbox", "demo", "lead", "--wait", "--timeout", "NaN"], 2);
    assert!(
        err.contains("--timeout must be a number of seconds"),
        "{err}"
    );
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn concurrent_inbox_readers_get_each_message_exactly_once(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.create_team("demo");
    p.add_member("demo", "a");
    const N: usize = 60;
    for i in 0..N {
        p.ok(&[
            "send",
            "demo",
            "--from",
            "a",
            "--to",
            "lead",
            &format!("m{i}"),
        ]);
    }
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let mut base = p.std_cmd();
            base.args(["--json", "inbox", "demo", "lead"]);
            thread::spawn(move || {
                let mut got = Vec::new();
                loop {
                    let o = base.output().expect("run team inbox");
                    assert!(o.status.success(), "inbox failed: {}", stderr(&o));
                    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
                    let batch = strings(&v, "body");
                    if batch.is_empty() {
                        return got;
                    }
                    got.extend(batch);
                }
            })
        })
        .collect();
    let mut all: Vec<String> = readers
        .into_iter()
        .flat_map(|r| r.join().unwrap())
        .collect();
    all.sort();
    let mut expected: Vec<String> = (0..N).map(|i| format!("m{i}")).collect();
    expected.sort();
    assert_eq!(all, expected);
}
