//! `Store::claim_tasks` (`team task claim --count K`): up to K tasks in one write, with the
//! rules of a single claim, on SQLite (a transaction) and PostgreSQL (one statement).
#![allow(missing_docs)]

mod common;

use std::collections::HashSet;
use std::thread;
use std::time::Duration;

use common::{Backend, TestDb};
use rstest::rstest;
use team_core::{AgentName, MemberStatus, TaskEvent, TaskStatus, TeamName};
use team_store::{ErrorKind, NewMember, NewTask, NewTeam, Outcome, Store, StoreError};

fn team(store: &Store, name: &str) -> team_core::Team {
    store
        .create_team(&NewTeam {
            name: TeamName::new(name).unwrap(),
            lead_agent: AgentName::new("lead").unwrap(),
            workflow: None,
            project_root: "/proj".into(),
            owner: None,
        })
        .unwrap()
        .0
}

fn member(store: &Store, team_id: &str, agent: &str) -> team_core::Member {
    store
        .add_member(
            team_id,
            &NewMember {
                agent: AgentName::new(agent).unwrap(),
                prompt: None,
                persistent: false,
                timeout_secs: None,
                status: MemberStatus::Running,
                runner_id: None,
            },
        )
        .unwrap()
}

fn task(store: &Store, team_id: &str, title: &str, blocked_by: Vec<i64>) -> team_core::Task {
    store
        .add_task(
            team_id,
            &NewTask {
                title: title.into(),
                blocked_by,
                ..Default::default()
            },
        )
        .unwrap()
}

fn ids(tasks: &[team_core::Task]) -> Vec<i64> {
    tasks.iter().map(|t| t.id).collect()
}

/// The `task.claimed` events of a team: (member, payload), in order.
fn claimed_events(s: &Store, team_id: &str) -> Vec<(Option<String>, serde_json::Value)> {
    s.list_events(Some(team_id), 0, 10_000)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "task.claimed")
        .map(|e| (e.member, e.payload))
        .collect()
}

// The oldest claimable tasks, in id order, blocked and reserved ones left, one event each;
// then "nothing claimable" with its reason, and counts out of range refused.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn batch_claims_take_the_oldest_claimable_tasks(#[case] backend: Backend) {
    let Some(db) = &TestDb::on(backend) else {
        return;
    };
    let s = db.store();
    let t = team(&s, "b");
    let w = member(&s, &t.id, "w");
    let o = member(&s, &t.id, "o");
    let a = task(&s, &t.id, "a", vec![]);
    let b = task(&s, &t.id, "b", vec![]);
    let blocked = task(&s, &t.id, "c", vec![a.id]);
    let reserved = s
        .add_task(
            &t.id,
            &NewTask {
                title: "for o".into(),
                assignee: Some(o.name.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    let d = task(&s, &t.id, "d", vec![]);
    let e = task(&s, &t.id, "e", vec![]);

    // Fewer asked than claimable: the oldest.
    let got = s.claim_tasks(&t.id, &w.name, 2, None, None).unwrap();
    assert_eq!(ids(&got), [a.id, b.id]);
    for g in &got {
        assert_eq!(
            (g.status, g.assignee.as_deref()),
            (TaskStatus::InProgress, Some(w.name.as_str()))
        );
        assert_eq!(&s.get_task(&t.id, g.id).unwrap(), g);
    }
    // More asked than claimable: all that are, the blocked and the reserved task left.
    let got = s.claim_tasks(&t.id, &w.name, 10, None, None).unwrap();
    assert_eq!(ids(&got), [d.id, e.id]);
    assert_eq!(
        s.get_task(&t.id, blocked.id).unwrap().status,
        TaskStatus::Pending
    );
    assert_eq!(
        s.get_task(&t.id, reserved.id).unwrap().status,
        TaskStatus::Pending
    );
    let events = claimed_events(&s, &t.id);
    assert_eq!(
        events,
        [a.id, b.id, d.id, e.id]
            .iter()
            .map(|id| (Some(w.name.clone()), serde_json::json!({ "task": id })))
            .collect::<Vec<_>>()
    );
    // Nothing claimable: the same error as a single claim, with its reason.
    let err = s.claim_tasks(&t.id, &w.name, 5, None, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        err.to_string(),
        s.claim_task(&t.id, &w.name, None).unwrap_err().to_string()
    );
    // The reserved task goes to its member; the blocked one with its blockers once free.
    s.update_task(&t.id, a.id, TaskEvent::Complete, None)
        .unwrap();
    let got = s.claim_tasks(&t.id, &o.name, 5, None, None).unwrap();
    assert_eq!(ids(&got), [blocked.id, reserved.id]);
    assert_eq!(got[0].blocked_by, [a.id]);
    assert!(got[1].blocked_by.is_empty());
    // Counts out of range.
    for n in [0, 1001] {
        let err = s.claim_tasks(&t.id, &w.name, n, None, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    }
}

// Leases, abandoned claims given back first, and the fencing of a single claim.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn batch_claims_keep_leases_and_fencing(#[case] backend: Backend) {
    let Some(db) = &TestDb::on(backend) else {
        return;
    };
    let s = db.store();
    let t = team(&s, "l");
    let w = member(&s, &t.id, "w");
    let v = member(&s, &t.id, "v");
    let a = task(&s, &t.id, "a", vec![]);
    let b = task(&s, &t.id, "b", vec![]);
    let c = task(&s, &t.id, "c", vec![]);
    let got = s.claim_tasks(&t.id, &w.name, 2, Some(100), None).unwrap();
    assert_eq!(ids(&got), [a.id, b.id]);
    let events = claimed_events(&s, &t.id);
    assert_eq!(
        events[0].1,
        serde_json::json!({"task": a.id, "lease_ms": 100})
    );
    // Past the lease, the abandoned claims come back first and are claimed again.
    thread::sleep(Duration::from_millis(150));
    let got = s.claim_tasks(&t.id, &v.name, 3, None, None).unwrap();
    assert_eq!(ids(&got), [a.id, b.id, c.id]);
    assert!(got.iter().all(|g| g.assignee.as_deref() == Some("v")));
    let released = s
        .list_events(Some(&t.id), 0, 1000)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "task.released")
        .count();
    assert_eq!(released, 2);

    // An attempt that is not the member's current one claims nothing.
    task(&s, &t.id, "d", vec![]);
    let err = s.claim_tasks(&t.id, &w.name, 2, None, Some(7)).unwrap_err();
    assert!(matches!(err, StoreError::Illegal(_)), "{err}");
    // Nor does a member that ended, nor anyone in a disbanded team.
    s.finish_member(&t.id, &w.name, &Outcome::Completed("done".into()))
        .unwrap();
    let err = s.claim_tasks(&t.id, &w.name, 2, None, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "member w in team l is completed; it can no longer claim tasks"
    );
    s.disband_team(&t.id, "test").unwrap();
    let err = s.claim_tasks(&t.id, &v.name, 2, None, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
}

// Batches of several sizes and single claims racing on one board: every task once.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn concurrent_batch_claims_take_each_task_once(#[case] backend: Backend) {
    let Some(db) = &TestDb::on(backend) else {
        return;
    };
    let s = db.store();
    let t = team(&s, "race");
    for i in 0..300 {
        task(&s, &t.id, &format!("t{i}"), vec![]);
    }
    let workers: Vec<(String, usize)> = [1, 3, 7, 16, 5]
        .into_iter()
        .map(|n| (member(&s, &t.id, "w").name, n))
        .collect();
    let handles: Vec<_> = workers
        .into_iter()
        .map(|(name, n)| {
            let url = db.url().to_owned();
            let tid = t.id.clone();
            thread::spawn(move || {
                let s = Store::open(&url).unwrap();
                let mut got = Vec::new();
                loop {
                    match s.claim_tasks(&tid, &name, n, None, None) {
                        Ok(tasks) => {
                            assert!(!tasks.is_empty() && tasks.len() <= n);
                            assert!(tasks.iter().all(|t| t.assignee.as_deref() == Some(&name)));
                            got.extend(ids(&tasks));
                        }
                        Err(e) if e.kind() == ErrorKind::NotFound => break,
                        Err(e) => panic!("claim failed: {e}"),
                    }
                }
                got
            })
        })
        .collect();
    let all: Vec<i64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 300);
    assert_eq!(unique.len(), 300);
    assert_eq!(
        s.list_tasks(&t.id, Some(TaskStatus::InProgress))
            .unwrap()
            .len(),
        300
    );
    // One event per task, each task once.
    let events: HashSet<_> = claimed_events(&s, &t.id)
        .into_iter()
        .map(|(_, p)| p["task"].as_i64().unwrap())
        .collect();
    assert_eq!(events.len(), 300);
    assert_eq!(claimed_events(&s, &t.id).len(), 300);
}
