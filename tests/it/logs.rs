//! `team logs`: the append-only event log of a team.

use serde_json::json;

use crate::support::*;

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn logs_record_every_state_change_in_order(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    let id = p.create_team("demo");
    p.create_team("other");
    p.add_member("demo", "w");
    p.add_task("demo", "do it", &[]);
    p.ok(&["task", "claim", "demo", "--as", "w"]);
    p.ok(&["task", "done", "demo", "1", "--result", "done well"]);
    p.ok(&["send", "demo", "--from", "lead", "--to", "w", "thanks"]);
    p.ok(&["inbox", "demo", "w"]);
    p.ok(&["member", "done", "demo", "w", "--result", "bye"]);
    p.add_member("other", "x");

    let v = p.json(&["logs", "demo"]);
    let events = v.as_array().expect("logs --json is an array");
    assert_eq!(
        strings(&v, "kind"),
        [
            "team.created",
            "member.added",
            "task.added",
            "task.claimed",
            "task.completed",
            "message.sent",
            "message.leased",
            "message.delivered",
            "member.completed",
            "message.sent",
            "message.sent",
        ]
    );
    for e in events {
        assert_eq!(
            keys(e),
            [
                "created_at_ms",
                "id",
                "kind",
                "member",
                "payload",
                "team_id"
            ]
        );
        assert_eq!(e["team_id"], id.as_str(), "only this team's events: {e}");
        assert!(e["payload"].is_object(), "{e}");
    }
    let ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
    assert_eq!(events[0]["member"], "lead");
    assert_eq!(events[0]["payload"]["name"], "demo");
    assert_eq!(events[1]["member"], "w");
    assert_eq!(events[1]["payload"]["agent"], "w");
    assert_eq!(events[3]["member"], "w");
    // A claim from a shell holds for the default lease (600 s).
    assert_eq!(
        events[3]["payload"],
        json!({"task": 1, "lease_ms": 600_000})
    );
    assert_eq!(events[4]["payload"]["result"], "done well");
    assert_eq!(events[5]["payload"]["to"], json!(["w"]));
    assert_eq!(events[5]["payload"]["body"], "thanks");
    assert_eq!(events[6]["payload"]["ids"], json!([1]));
    assert_eq!(events[8]["payload"]["result"], "bye");
    assert_eq!(events[9]["member"], "w");
    assert_eq!(events[10]["member"], "team");

    // Human output: one line per event, with who and what.
    let text = p.ok(&["logs", "demo"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), events.len(), "{text}");
    let first: Vec<&str> = lines[0].split_whitespace().collect();
    assert!(first[0].ends_with('Z'), "{}", lines[0]);
    assert_eq!(&first[1..3], ["lead", "team.created"]);
    let claimed: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(
        &claimed[1..],
        ["w", "task.claimed", r#"{"lease_ms":600000,"task":1}"#]
    );
    let added: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(&added[1..3], ["-", "task.added"]);

    // A disband is logged with its cascade.
    p.ok(&["disband", "other"]);
    let v = p.json(&["logs", "other"]);
    assert_eq!(
        strings(&v, "kind"),
        [
            "team.created",
            "member.added",
            "message.sent",
            "team.disbanded"
        ]
    );
    let d = v
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "team.disbanded")
        .unwrap();
    assert_eq!(d["payload"]["cancelled_members"], json!(["lead", "x"]));

    p.fails(&["logs", "ghost"], 3);
}

/// `--member`, `--kind` (a prefix), `--since` (a duration or a time in ms), `--tail N`, alone,
/// together, with `--json` and with `--follow`.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn logs_filters(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.create_team("demo");
    p.add_member("demo", "w");
    p.add_member("demo", "x");
    p.add_task("demo", "do it", &[]);
    p.ok(&["task", "claim", "demo", "--as", "w"]);
    p.ok(&["task", "done", "demo", "1", "--result", "ok"]);
    p.ok(&["send", "demo", "--from", "x", "--to", "w", "hi"]);
    p.ok(&["member", "done", "demo", "x", "--result", "bye"]);
    let all = p.json(&["logs", "demo"]);
    let all = all.as_array().unwrap().clone();
    assert!(all.len() >= 8, "{all:?}");

    let v = p.json(&["logs", "demo", "--member", "w"]);
    assert_eq!(
        strings(&v, "kind"),
        ["member.added", "task.claimed", "task.completed"],
        "{v:#}"
    );
    assert!(v.as_array().unwrap().iter().all(|e| e["member"] == "w"));

    let v = p.json(&["logs", "demo", "--kind", "member."]);
    assert_eq!(
        strings(&v, "kind"),
        ["member.added", "member.added", "member.completed"]
    );
    let v = p.json(&["logs", "demo", "--kind", "member.", "--member", "x"]);
    assert_eq!(strings(&v, "kind"), ["member.added", "member.completed"]);

    // --tail N: the last N, in order.
    let v = p.json(&["logs", "demo", "--tail", "2"]);
    assert_eq!(v.as_array().unwrap().as_slice(), &all[all.len() - 2..]);
    let v = p.json(&["logs", "demo", "--kind", "task.", "--tail", "1"]);
    assert_eq!(strings(&v, "kind"), ["task.completed"]);
    let text = p.ok(&["logs", "demo", "--tail", "3"]);
    assert_eq!(text.lines().count(), 3, "{text}");

    // --since: a duration before now keeps everything just written; a time in ms after the
    // last event keeps nothing; one at an event keeps it and what follows.
    let v = p.json(&["logs", "demo", "--since", "10m"]);
    assert_eq!(v.as_array().unwrap().len(), all.len());
    let last_ms = all.last().unwrap()["created_at_ms"].as_i64().unwrap();
    let v = p.json(&["logs", "demo", "--since", &(last_ms + 1).to_string()]);
    assert_eq!(v, json!([]));
    let v = p.json(&["logs", "demo", "--since", &last_ms.to_string()]);
    assert!(!v.as_array().unwrap().is_empty());
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|e| e["created_at_ms"].as_i64().unwrap() >= last_ms)
    );

    // Bad input: a clear error, exit 2; a member that is not in the team, exit 3.
    let err = p.fails(&["logs", "demo", "--since", "yesterday"], 2);
    assert!(err.contains("--since takes a duration"), "{err}");
    let err = p.fails(&["logs", "demo", "--member", "ghost"], 3);
    assert!(err.contains("ghost"), "{err}");

    // --follow with filters: the last matching event there is, then each new matching one,
    // until the team ends.
    let mut child = p
        .std_cmd()
        .args([
            "--json", "logs", "demo", "--follow", "--member", "w", "--tail", "1",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start team logs --follow");
    // Its first line (the --tail) is printed before anything new happens.
    use std::io::BufRead;
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    let first: serde_json::Value = serde_json::from_str(&first).expect("a JSON line");
    assert_eq!(first["kind"], "task.completed", "{first}");
    p.add_task("demo", "again", &[]);
    p.ok(&[
        "send",
        "demo",
        "--from",
        "lead",
        "--to",
        "w",
        "not in w's log",
    ]);
    p.ok(&["task", "claim", "demo", "--as", "w"]);
    p.ok(&["disband", "demo"]);
    let rest: Vec<serde_json::Value> = reader
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).expect("one JSON event per line"))
        .collect();
    assert!(child.wait().unwrap().success());
    let kinds: Vec<&str> = rest.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds.first(),
        Some(&"task.claimed"),
        "the new one: {rest:?}"
    );
    assert!(rest.iter().all(|e| e["member"] == "w"), "{rest:?}");
}
