//! Retries (issue 18): a member whose attempt ends with a retryable cause goes back to
//! `pending` with its next attempt while its policy (stored at spawn) has one left, its
//! `in_progress` tasks go back to the board, the claim waits out its backoff, the lead hears
//! nothing until the last attempt fails; on both engines.
#![allow(missing_docs)]

mod common;

use std::time::Duration;

use common::{Backend, TestDb};
use rstest::rstest;
use team_core::retry::{RetryCause, RetryPolicy};
use team_core::{AgentName, MemberStatus, MessageKind, TaskStatus, TeamName};
use team_store::{
    MemberSpec, NewMember, NewRunner, NewTask, NewTeam, Progress, Retried, Store, StoreError,
};

fn setup(s: &Store, max_attempts: u32, backoff_ms: u64) -> (team_core::Team, String) {
    let t = s
        .create_team(&NewTeam {
            name: TeamName::new("retry").unwrap(),
            lead_agent: AgentName::new("lead").unwrap(),
            workflow: None,
            project_root: "/proj".into(),
            owner: None,
        })
        .unwrap()
        .0;
    let m = s
        .add_member_with_spec(
            &t.id,
            &NewMember {
                agent: AgentName::new("worker").unwrap(),
                prompt: Some("go".into()),
                persistent: false,
                timeout_secs: None,
                status: MemberStatus::Pending,
                runner_id: None,
            },
            &MemberSpec {
                retry: RetryPolicy {
                    max_attempts,
                    backoff_ms,
                },
                ..MemberSpec::default()
            },
        )
        .unwrap();
    assert_eq!((m.attempt, m.max_attempts), (1, i64::from(max_attempts)));
    (t, m.name)
}

fn runner(s: &Store) -> String {
    s.register_runner_with(&NewRunner {
        pid: 1,
        host: "h".into(),
        max_agents: 4,
        heartbeat_ms: 2000,
        env_fingerprint: None,
        version: None,
    })
    .unwrap()
    .id
}

fn claim(s: &Store, rid: &str, team: &str) -> Vec<team_core::Member> {
    s.claim_pending_members_for(rid, Some(team), None, 8)
        .unwrap()
}

fn lead_inbox(s: &Store, team: &str) -> Vec<team_core::Message> {
    s.take_inbox(team, "lead", true).unwrap()
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn a_lost_attempt_is_retried_until_the_last_one_fails(#[case] backend: Backend) {
    let Some(db) = &TestDb::on(backend) else {
        return;
    };
    let s = db.store();
    let (t, name) = setup(&s, 3, 300);
    let rid = runner(&s);
    assert_eq!(claim(&s, &rid, &t.id).len(), 1);
    let task = s
        .add_task(
            &t.id,
            &NewTask {
                title: "t".into(),
                ..Default::default()
            },
        )
        .unwrap();
    s.claim_task(&t.id, &name, Some(task.id)).unwrap();

    // Attempt 1 is lost: back to pending as attempt 2, the task back on the board.
    let r = s
        .retry_member(
            &t.id,
            &name,
            RetryCause::RunnerLost,
            "runner lost",
            &Progress::default(),
            None,
        )
        .unwrap();
    let Retried::Retried {
        member,
        tasks_released,
    } = r
    else {
        panic!("expected a retry, got {r:?}")
    };
    assert_eq!(member.status, MemberStatus::Pending);
    assert_eq!((member.attempt, member.max_attempts), (2, 3));
    assert_eq!(member.runner_id, None);
    assert_eq!(tasks_released, vec![task.id]);
    let task_now = s.get_task(&t.id, task.id).unwrap();
    assert_eq!(task_now.status, TaskStatus::Pending);
    assert_eq!(task_now.assignee, None);
    assert!(lead_inbox(&s, &t.id).is_empty(), "no notice on a retry");
    let events = s.list_events(Some(&t.id), 0, 1000).unwrap();
    let retried: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "member.retried")
        .collect();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].payload["attempt"], 2);
    assert_eq!(retried[0].payload["max_attempts"], 3);
    assert_eq!(retried[0].payload["cause"], "runner_lost");

    // The backoff delays the claim.
    assert!(
        claim(&s, &rid, &t.id).is_empty(),
        "claimed before its backoff"
    );
    std::thread::sleep(Duration::from_millis(350));
    let again = claim(&s, &rid, &t.id);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempt, 2);

    // A pending member cannot be retried; attempt 2 fails transiently → attempt 3.
    let r = s
        .retry_member(
            &t.id,
            &name,
            RetryCause::Transient,
            "HTTP 503",
            &Progress::default(),
            None,
        )
        .unwrap();
    assert_eq!(r.member().attempt, 3);
    assert!(matches!(
        s.retry_member(
            &t.id,
            &name,
            RetryCause::Transient,
            "x",
            &Progress::default(),
            None
        ),
        Err(StoreError::Illegal(_))
    ));
    std::thread::sleep(Duration::from_millis(650));
    assert_eq!(claim(&s, &rid, &t.id).len(), 1);

    // The last attempt fails: a failure like any other, with its notice.
    let r = s
        .retry_member(
            &t.id,
            &name,
            RetryCause::RunnerLost,
            "runner lost",
            &Progress::default(),
            None,
        )
        .unwrap();
    let Retried::Failed(f) = r else {
        panic!("expected the failure, got {r:?}")
    };
    assert_eq!(f.member.status, MemberStatus::Failed);
    assert_eq!(f.member.attempt, 3);
    let inbox = lead_inbox(&s, &t.id);
    assert!(
        inbox.iter().any(|m| m.kind == MessageKind::Failure
            && m.body == format!("[AGENT FAILURE] {name}: runner lost")),
        "{inbox:?}"
    );
    // Terminal: never retried.
    assert!(matches!(
        s.retry_member(
            &t.id,
            &name,
            RetryCause::RunnerLost,
            "x",
            &Progress::default(),
            None
        ),
        Err(StoreError::Illegal(_))
    ));
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn without_a_policy_a_lost_attempt_fails(#[case] backend: Backend) {
    let Some(db) = &TestDb::on(backend) else {
        return;
    };
    let s = db.store();
    let (t, name) = setup(&s, 1, 0);
    let rid = runner(&s);
    claim(&s, &rid, &t.id);
    let r = s
        .retry_member(
            &t.id,
            &name,
            RetryCause::RunnerLost,
            "runner lost",
            &Progress::default(),
            None,
        )
        .unwrap();
    assert!(matches!(r, Retried::Failed(_)), "{r:?}");
    assert_eq!(
        s.get_member(&t.id, &name).unwrap().status,
        MemberStatus::Failed
    );
}
