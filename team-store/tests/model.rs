//! A model-based test of the store: seeded random sequences of operations (task adds, claims
//! with and without id, task moves, member ends, sends, inbox takes, leased takes with and
//! without acknowledgement), each run on one of three stores (three connection pools, i.e.
//! several connections), checked step by step against a reference model built on team-core's
//! transition tables (`TaskStatus::transition`, `MemberStatus::transition`,
//! `delivery::may_act`), on both engines. `TEAM_MODEL_CASES` (default 6) sets the number of
//! sequences; each has 80 operations.
#![allow(missing_docs)]

mod common;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng};
use std::collections::BTreeMap;

use common::{Backend, TestDb};
use rstest::rstest;
use team_core::{
    AgentName, MemberEvent, MemberStatus, MessageKind, TaskEvent, TaskStatus, TeamName, delivery,
};
use team_store::{ErrorKind, NewMember, NewTask, NewTeam, Outcome, Outgoing, Recipient, Store};

#[derive(Default)]
struct Model {
    /// Member name -> status (the lead is not in it: it is only a recipient of notices).
    members: BTreeMap<String, MemberStatus>,
    /// Task id -> (status, assignee).
    tasks: BTreeMap<i64, (TaskStatus, Option<String>)>,
    /// Member -> unread message bodies, oldest first (leased ones are hidden: removed).
    unread: BTreeMap<String, Vec<String>>,
}

const WORKERS: [&str; 3] = ["w1", "w2", "w3"];

fn run_case(db: &TestDb, seed: u64) {
    let stores: Vec<Store> = (0..3).map(|_| db.store()).collect();
    let mut rng = StdRng::seed_from_u64(seed);
    let team = stores[0]
        .create_team(&NewTeam {
            name: TeamName::new(format!("m{seed}")).unwrap(),
            lead_agent: AgentName::new("lead").unwrap(),
            workflow: None,
            project_root: "/proj".into(),
            owner: None,
        })
        .unwrap()
        .0;
    let mut model = Model::default();
    for w in WORKERS {
        stores[0]
            .add_member(
                &team.id,
                &NewMember {
                    agent: AgentName::new(w).unwrap(),
                    prompt: None,
                    persistent: false,
                    timeout_secs: None,
                    status: MemberStatus::Running,
                    runner_id: None,
                },
            )
            .unwrap();
        model.members.insert(w.to_owned(), MemberStatus::Running);
        model.unread.insert(w.to_owned(), Vec::new());
    }
    let mut next_task = 1;
    for step in 0..80 {
        let s = &stores[rng.random_range(0..stores.len())];
        let who = WORKERS[rng.random_range(0..WORKERS.len())].to_owned();
        let status = model.members[&who];
        let ctx = format!("seed {seed} step {step}");
        match rng.random_range(0..9) {
            0 | 1 => {
                let t = s
                    .add_task(
                        &team.id,
                        &NewTask {
                            title: format!("t{next_task}"),
                            ..NewTask::default()
                        },
                    )
                    .unwrap();
                assert_eq!(t.id, next_task, "{ctx}");
                model.tasks.insert(t.id, (TaskStatus::Pending, None));
                next_task += 1;
            }
            2 => {
                // A claim, of a given task or of the next one.
                let id = (rng.random_range(0..2) == 0 && next_task > 1)
                    .then(|| 1 + rng.random_range(0..next_task as usize - 1) as i64);
                let got = s.claim_task(&team.id, &who, id);
                let may =
                    delivery::may_act(status, 1, None, &who, &team.name, "claim tasks").is_ok();
                let expect = match id {
                    Some(id) => may
                        .then(|| model.tasks[&id].0.transition(TaskEvent::Claim).ok())
                        .flatten()
                        .map(|_| id),
                    None => may
                        .then(|| {
                            model
                                .tasks
                                .iter()
                                .find(|(_, (st, _))| *st == TaskStatus::Pending)
                                .map(|(id, _)| *id)
                        })
                        .flatten(),
                };
                match (expect, got) {
                    (Some(id), Ok(t)) => {
                        assert_eq!(t.id, id, "{ctx}");
                        model
                            .tasks
                            .insert(id, (TaskStatus::InProgress, Some(who.clone())));
                    }
                    (None, Err(e)) => {
                        assert!(
                            matches!(e.kind(), ErrorKind::Conflict | ErrorKind::NotFound),
                            "{ctx}: {e}"
                        );
                    }
                    (e, g) => {
                        panic!("{ctx}: claim {id:?} by {who} ({status}): model {e:?}, store {g:?}")
                    }
                }
            }
            3 => {
                if next_task == 1 {
                    continue;
                }
                let id = 1 + rng.random_range(0..next_task as usize - 1) as i64;
                let ev = [
                    TaskEvent::Complete,
                    TaskEvent::Fail,
                    TaskEvent::Release,
                    TaskEvent::Cancel,
                ][rng.random_range(0..4)];
                let got = s.update_task(&team.id, id, ev, None);
                let (from, assignee) = model.tasks[&id].clone();
                match (from.transition(ev), got) {
                    (Ok(to), Ok(t)) => {
                        assert_eq!(t.status, to, "{ctx}");
                        let a = if to == TaskStatus::Pending {
                            None
                        } else {
                            assignee
                        };
                        assert_eq!(t.assignee, a, "{ctx}");
                        model.tasks.insert(id, (to, a));
                    }
                    (Err(_), Err(e)) => assert_eq!(e.kind(), ErrorKind::Conflict, "{ctx}: {e}"),
                    (m, g) => {
                        panic!("{ctx}: {ev:?} task {id} from {from}: model {m:?}, store {g:?}")
                    }
                }
            }
            4 => {
                let (outcome, ev) = [
                    (Outcome::Completed("ok".into()), MemberEvent::Complete),
                    (Outcome::Failed("boom".into()), MemberEvent::Fail),
                    (Outcome::Cancelled("stop".into()), MemberEvent::Cancel),
                ][rng.random_range(0..3)]
                .clone();
                if rng.random_range(0..3) != 0 {
                    continue; // ends are rarer than the rest
                }
                let got = s.finish_member(&team.id, &who, &outcome);
                match (status.transition(ev), got) {
                    (Ok(to), Ok(f)) => {
                        assert_eq!(f.member.status, to, "{ctx}");
                        model.members.insert(who.clone(), to);
                        for (st, a) in model.tasks.values_mut() {
                            if *st == TaskStatus::InProgress && a.as_deref() == Some(&who) {
                                match to {
                                    MemberStatus::Failed => *st = TaskStatus::Failed,
                                    MemberStatus::Cancelled => {
                                        *st = TaskStatus::Pending;
                                        *a = None;
                                    }
                                    _ => {}
                                }
                            }
                        }
                    }
                    (Err(_), Err(e)) => assert_eq!(e.kind(), ErrorKind::Conflict, "{ctx}: {e}"),
                    (m, g) => panic!("{ctx}: end {who} ({status}): model {m:?}, store {g:?}"),
                }
            }
            5 | 6 => {
                let to = WORKERS[rng.random_range(0..WORKERS.len())].to_owned();
                let body = format!("{step} from {who}");
                let got = s.send_message(
                    &team.id,
                    &Outgoing {
                        from: &who,
                        to: Recipient::Member(to.clone()),
                        kind: MessageKind::Text,
                        body: &body,
                    },
                );
                let ok = delivery::may_act(status, 1, None, &who, &team.name, "send").is_ok()
                    && model.members[&to].is_live();
                match (ok, got) {
                    (true, Ok(sent)) => {
                        assert_eq!(sent.len(), 1, "{ctx}");
                        model.unread.get_mut(&to).unwrap().push(body);
                    }
                    (false, Err(e)) => assert_eq!(e.kind(), ErrorKind::Conflict, "{ctx}: {e}"),
                    (m, g) => {
                        panic!("{ctx}: send {who} ({status}) -> {to}: model {m}, store {g:?}")
                    }
                }
            }
            7 => {
                let got: Vec<String> = s
                    .take_inbox(&team.id, &who, false)
                    .unwrap()
                    .into_iter()
                    .map(|m| m.body)
                    .collect();
                let want = std::mem::take(model.unread.get_mut(&who).unwrap());
                assert_eq!(got, want, "{ctx}: take of {who}");
            }
            _ => {
                // A CLI take: leased for a minute; acknowledged or not, it is hidden from
                // every other take for the rest of the case.
                let l = s.lease_inbox(&team.id, &who, 60_000).unwrap();
                let got: Vec<String> = l.messages.iter().map(|m| m.body.clone()).collect();
                let want = std::mem::take(model.unread.get_mut(&who).unwrap());
                assert_eq!(got, want, "{ctx}: leased take of {who}");
                if rng.random_range(0..2) == 0 {
                    let acked = s.ack_inbox(&team.id, &who, &l.lease).unwrap();
                    let ids: Vec<i64> = l.messages.iter().map(|m| m.id).collect();
                    assert_eq!(acked, ids, "{ctx}");
                }
            }
        }
        // The board and the members match the model after every step.
        let board: BTreeMap<i64, (TaskStatus, Option<String>)> = s
            .list_tasks(&team.id, None)
            .unwrap()
            .into_iter()
            .map(|t| (t.id, (t.status, t.assignee)))
            .collect();
        assert_eq!(board, model.tasks, "{ctx}");
        for m in s.list_members(&team.id).unwrap() {
            if let Some(st) = model.members.get(&m.name) {
                assert_eq!(m.status, *st, "{ctx}: member {}", m.name);
            }
        }
    }
}

fn cases() -> u64 {
    std::env::var("TEAM_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6)
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn random_operations_match_the_model(#[case] backend: Backend) {
    let Some(db) = &TestDb::on(backend) else {
        return;
    };
    for seed in 0..cases() {
        run_case(db, seed);
    }
}
