//! `team logs`: the append-only event log of a team.

use serde_json::json;

use crate::support::*;

fn logs_record_every_state_change_in_order(p: &Project) {
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
both_backends!(logs_record_every_state_change_in_order);
