//! Fencing with attempt numbers (issue 19): once a member moved on to another attempt (its
//! runner was found lost and it was retried), every write made as its earlier attempt is
//! refused: a send, a task claim or move, a memory write, its end, its end of turn, an inbox
//! take that wakes it, a retry, a conversation checkpoint. The current attempt's writes go through. On both engines.
#![allow(missing_docs)]

mod common;

use common::{Backend, TestDb};
use rstest::rstest;
use team_core::retry::{RetryCause, RetryPolicy};
use team_core::{AgentName, MemberStatus, MessageKind, TaskEvent, TeamName};
use team_store::{
    Actor, MemberEnd, MemberSpec, MemoryOp, NewCheckpoint, NewMember, NewRunner, NewTask, NewTeam,
    Outcome, Outgoing, Progress, Recipient, Refusal, StoreError,
};

/// True when `e` is the refusal of a superseded attempt (not any other refusal).
fn superseded<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    match r {
        Err(StoreError::Illegal(Refusal::Fenced(f))) => matches!(
            f.reason,
            team_core::delivery::FenceReason::Superseded {
                acting: 1,
                current: 2
            }
        ),
        other => panic!("expected the refusal of attempt 1, got {other:?}"),
    }
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn a_superseded_attempt_can_write_nothing_as_its_member(#[case] backend: Backend) {
    let Some(db) = &TestDb::on(backend) else {
        return;
    };
    let s = db.store();
    let (t, _) = s
        .create_team(&NewTeam {
            name: TeamName::new("fence").unwrap(),
            lead_agent: AgentName::new("lead").unwrap(),
            workflow: None,
            project_root: "/proj".into(),
            owner: None,
        })
        .unwrap();
    let m = s
        .add_member_with_spec(
            &t.id,
            &NewMember {
                agent: AgentName::new("worker").unwrap(),
                prompt: Some("go".into()),
                persistent: true,
                timeout_secs: None,
                status: MemberStatus::Pending,
                runner_id: None,
            },
            &MemberSpec {
                retry: RetryPolicy {
                    max_attempts: 3,
                    backoff_ms: 0,
                },
                ..MemberSpec::default()
            },
        )
        .unwrap();
    let runner = |host: &str| {
        s.register_runner_with(&NewRunner {
            pid: 1,
            host: host.into(),
            max_agents: 4,
            heartbeat_ms: 2000,
            env_fingerprint: None,
            version: None,
        })
        .unwrap()
        .id
    };
    let (a, b) = (runner("host-a"), runner("host-b"));
    let claimed = s.claim_pending_members(&a, Some(&t.id), 4).unwrap();
    assert_eq!(claimed[0].attempt, 1);
    for title in ["one", "two"] {
        s.add_task(
            &t.id,
            &NewTask {
                title: title.into(),
                ..Default::default()
            },
        )
        .unwrap();
    }
    let one = s
        .claim_task_as(&t.id, &m.name, None, None, Some(1))
        .unwrap();

    // host-a is found lost: the member goes back to pending as attempt 2, host-b takes it.
    s.retry_member(
        &t.id,
        &m.name,
        RetryCause::RunnerLost,
        "runner lost",
        &Progress::default(),
        Some(1),
    )
    .unwrap();
    let again = s.claim_pending_members(&b, Some(&t.id), 4).unwrap();
    assert_eq!(again[0].attempt, 2);

    // Attempt 1 (host-a, back from its partition) writes nothing.
    let msg = Outgoing {
        from: &m.name,
        to: Recipient::Member("lead".into()),
        kind: MessageKind::Text,
        body: "late",
    };
    assert!(superseded(s.send_message_as(
        &t.id,
        &msg,
        None,
        false,
        Some(1)
    )));
    assert!(superseded(s.claim_task_as(
        &t.id,
        &m.name,
        None,
        None,
        Some(1)
    )));
    let old = Actor {
        team_id: &t.id,
        member: &m.name,
        attempt: Some(1),
    };
    assert!(superseded(s.update_task_as(
        &t.id,
        one.id,
        TaskEvent::Complete,
        Some("done twice?"),
        Some(&old)
    )));
    assert!(superseded(s.memory_write_as(
        &old,
        "worker",
        "/proj",
        MemoryOp::Set("stale")
    )));
    assert!(superseded(s.end_turn(
        &t.id,
        &m.name,
        m.id,
        &Progress::default(),
        Some("stale result"),
        Some(1)
    )));
    assert!(superseded(s.take_inbox_and_wake(&t.id, &m.name, Some(1))));
    assert!(superseded(s.save_checkpoint(&NewCheckpoint {
        team_id: &t.id,
        member_id: m.id,
        calls: 3,
        turn_done: false,
        messages: "[]",
        attempt: Some(1),
    })));
    assert!(superseded(s.retry_member(
        &t.id,
        &m.name,
        RetryCause::RunnerLost,
        "runner lost",
        &Progress::default(),
        Some(1)
    )));
    let ends = s
        .finish_members(&[MemberEnd {
            team_id: t.id.clone(),
            name: m.name.clone(),
            outcome: Outcome::Cancelled("runner stopped".into()),
            progress: Progress {
                turns: 7,
                ..Progress::default()
            },
            attempt: Some(1),
        }])
        .unwrap();
    assert!(superseded(ends.into_iter().next().unwrap()));

    // Nothing of it landed; attempt 2 goes on.
    let now = s.get_member(&t.id, &m.name).unwrap();
    assert_eq!(
        (now.status, now.attempt, now.turns),
        (MemberStatus::Running, 2, 0)
    );
    assert!(s.take_inbox(&t.id, "lead", true).unwrap().is_empty());
    assert!(s.memory_get("worker", "/proj").unwrap().is_none());
    assert!(s.checkpoint(m.id).unwrap().is_none());
    s.send_message_as(&t.id, &msg, None, false, Some(2))
        .unwrap();
    let ends = s
        .finish_members(&[MemberEnd {
            team_id: t.id.clone(),
            name: m.name.clone(),
            outcome: Outcome::Completed("ok".into()),
            progress: Progress::default(),
            attempt: Some(2),
        }])
        .unwrap();
    assert_eq!(
        ends[0].as_ref().unwrap().member.status,
        MemberStatus::Completed
    );
}
