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
        ..
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

/// `team resume`: a team whose owner died (failed) is taken up again: the members its end
/// cancelled and those lost with their runner are queued again (next attempt), the tasks its
/// end cancelled reopen, completed members and tasks are kept, the interruption's notices to
/// the lead are withdrawn; a completed team and a team a user disbanded are not resumable.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn an_interrupted_team_is_resumed_and_a_finished_one_is_not(#[case] backend: Backend) {
    use team_core::TeamEvent;
    use team_store::{Outcome, Refusal};
    let Some(db) = &TestDb::on(backend) else {
        return;
    };
    let s = db.store();
    let (t, lost) = setup(&s, 1, 0);
    let rid = runner(&s);
    claim(&s, &rid, &t.id);
    let add = |agent: &str| {
        s.add_member(
            &t.id,
            &NewMember {
                agent: AgentName::new(agent).unwrap(),
                prompt: Some("go".into()),
                persistent: true,
                timeout_secs: None,
                status: MemberStatus::Pending,
                runner_id: None,
            },
        )
        .unwrap()
        .name
    };
    let (done, idle) = (add("done"), add("idle"));
    claim(&s, &rid, &t.id);
    s.finish_member(&t.id, &done, &Outcome::Completed("ok".into()))
        .unwrap();
    let finished = s
        .add_task(
            &t.id,
            &NewTask {
                title: "finished".into(),
                ..Default::default()
            },
        )
        .unwrap();
    s.claim_task(&t.id, &idle, Some(finished.id)).unwrap();
    s.update_task(
        &t.id,
        finished.id,
        team_core::TaskEvent::Complete,
        Some("ok"),
    )
    .unwrap();
    let open = s
        .add_task(
            &t.id,
            &NewTask {
                title: "open".into(),
                ..Default::default()
            },
        )
        .unwrap();
    s.claim_task(&t.id, &idle, Some(open.id)).unwrap();
    // The interruption: the runner is lost, then the owner.
    s.retry_member(
        &t.id,
        &lost,
        RetryCause::RunnerLost,
        "runner lost",
        &Progress::default(),
        None,
    )
    .unwrap();
    let why = team_core::resume::owner_lost(4242);
    s.end_team(&t.id, TeamEvent::Fail, &why).unwrap();
    assert!(
        lead_inbox(&s, &t.id)
            .iter()
            .any(|m| m.body.contains("runner lost"))
    );

    let r = s.resume_team(&t.id, Some((7, "h".into()))).unwrap();
    assert_eq!(r.team.status, team_core::TeamStatus::Active);
    assert_eq!(r.team.owner_pid, Some(7));
    let mut resumed = r.members.clone();
    resumed.sort();
    let mut want = vec![lost.clone(), idle.clone()];
    want.sort();
    assert_eq!(resumed, want);
    assert_eq!(r.kept, vec![done.clone()]);
    assert_eq!(r.tasks, vec![open.id]);
    for name in [&lost, &idle] {
        let m = s.get_member(&t.id, name).unwrap();
        assert_eq!((m.status, m.attempt), (MemberStatus::Pending, 2), "{m:?}");
        assert_eq!(m.error, None);
    }
    assert_eq!(
        s.get_member(&t.id, "lead").unwrap().status,
        MemberStatus::Running
    );
    assert_eq!(
        s.get_member(&t.id, &done).unwrap().status,
        MemberStatus::Completed
    );
    assert_eq!(
        s.get_task(&t.id, open.id).unwrap().status,
        TaskStatus::Pending
    );
    assert_eq!(
        s.get_task(&t.id, finished.id).unwrap().status,
        TaskStatus::Completed
    );
    let inbox = lead_inbox(&s, &t.id);
    assert!(
        inbox.iter().all(|m| !m.body.contains("runner lost")),
        "the interruption's notice is withdrawn: {inbox:?}"
    );
    assert!(
        s.take_inbox(&t.id, &idle, true).unwrap().is_empty(),
        "no [TEAM FAILED] notice left unread"
    );
    // Resuming an active team again changes nothing.
    let again = s.resume_team(&t.id, None).unwrap();
    assert!(again.members.is_empty(), "{again:?}");

    // A completed team, and a team a user disbanded, are not resumable.
    s.end_team(&t.id, TeamEvent::Complete, "done").unwrap();
    let r = s.resume_team(&t.id, None);
    assert!(
        matches!(r, Err(StoreError::Illegal(Refusal::NotResumable { .. }))),
        "{r:?}"
    );
    let t2 = s
        .create_team(&NewTeam {
            name: TeamName::new("other").unwrap(),
            lead_agent: AgentName::new("lead").unwrap(),
            workflow: None,
            project_root: "/proj".into(),
            owner: None,
        })
        .unwrap()
        .0;
    s.disband_team(&t2.id, "disbanded by user").unwrap();
    let r = s.resume_team(&t2.id, None);
    let Err(e) = r else {
        panic!("resumed a disbanded team")
    };
    assert!(e.to_string().contains("not an interruption"), "{e}");
}

// Issue 19: members made pending by another process (another host, in production) wake the
// runners that listen, at the commit, instead of at their next queue poll: a member added
// pending (claimable at once: `0`) and a member retried (claimable at the end of its backoff,
// the `not_before_ms` the retry wrote). SQLite has no listener.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn members_made_pending_elsewhere_are_heard_on_postgres(#[case] backend: Backend) {
    let Some(db) = &TestDb::on(backend) else {
        return;
    };
    let s = db.store();
    let Some(mut listener) = s.listen_inbox().unwrap() else {
        assert_eq!(s.backend(), team_store::Backend::Sqlite);
        return;
    };
    // The channel is database-wide: other tests' members may be heard too, so look for the
    // value this test expects among what arrives.
    let heard = |listener: &mut team_store::InboxListener, want: i64| {
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < until {
            if listener
                .wait(Duration::from_millis(50))
                .unwrap()
                .queued_at_ms
                .contains(&want)
            {
                return true;
            }
        }
        false
    };
    let other = Store::open(db.url()).unwrap();
    let (t, name) = setup(&other, 2, 60_000);
    assert!(heard(&mut listener, 0), "the added member was not heard");
    let rid = runner(&other);
    assert_eq!(claim(&other, &rid, &t.id).len(), 1);
    let r = other
        .retry_member(
            &t.id,
            &name,
            RetryCause::RunnerLost,
            "runner lost",
            &Progress::default(),
            None,
        )
        .unwrap();
    let Retried::Retried { not_before_ms, .. } = r else {
        panic!("expected a retry, got {r:?}")
    };
    assert!(
        not_before_ms > team_store::now_ms() + 50_000,
        "{not_before_ms}"
    );
    assert!(
        heard(&mut listener, not_before_ms),
        "the retried member was not heard with the end of its backoff"
    );
}
