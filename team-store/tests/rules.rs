//! The rules of `team-core` as the store carries them out (issue 16): refusals keep the
//! rule's typed error, a member's end follows `cascade::member_end`'s plan, a disband asked by
//! a member follows `manage::may_disband`, and runner liveness is `runner::runner_lost`.
#![allow(missing_docs)]

mod common;

use common::{Backend, TestDb};
use rstest::rstest;
use team_core::{AgentName, MemberStatus, MessageKind, TaskEvent, TaskStatus, TeamName};
use team_store::{
    Actor, NewMember, NewRunner, NewTask, NewTeam, Outcome, Outgoing, Recipient, Refusal, Store,
    StoreError,
};

fn team(s: &Store, name: &str, lead_agent: &str) -> team_core::Team {
    s.create_team(&NewTeam {
        name: TeamName::new(name).unwrap(),
        lead_agent: AgentName::new(lead_agent).unwrap(),
        workflow: None,
        project_root: "/proj".into(),
        owner: None,
    })
    .unwrap()
    .0
}

fn member(s: &Store, team_id: &str, agent: &str) -> team_core::Member {
    s.add_member(
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

fn as_member<'a>(t: &'a team_core::Team, member: &'a str) -> Actor<'a> {
    Actor {
        team_id: &t.id,
        member,
        attempt: None,
    }
}

fn refusal(r: Result<impl std::fmt::Debug, StoreError>) -> Refusal {
    match r {
        Err(StoreError::Illegal(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn refusals_keep_the_rules_typed_error(#[case] backend: Backend) {
    let Some(db) = &TestDb::on(backend) else {
        return;
    };
    let s = db.store();
    let t = team(&s, "docs", "lead");
    let m = member(&s, &t.id, "reviewer");
    let task = s
        .add_task(
            &t.id,
            &NewTask {
                title: "x".into(),
                ..Default::default()
            },
        )
        .unwrap();
    s.claim_task(&t.id, &m.name, Some(task.id)).unwrap();
    s.update_task(&t.id, task.id, TaskEvent::Complete, Some("ok"))
        .unwrap();

    // A lifecycle move: the IllegalTransition itself, and the text as before.
    let r = refusal(s.claim_task(&t.id, &m.name, Some(task.id)));
    let tr = r.transition().expect("a transition");
    assert_eq!(
        (tr.entity, tr.from, tr.event),
        ("task", "completed", "claim")
    );
    assert_eq!(
        r.to_string(),
        format!(
            "task {} in team docs is completed (assignee reviewer); it cannot be claimed",
            task.id
        )
    );
    let r = refusal(s.update_task(&t.id, task.id, TaskEvent::Fail, None));
    assert_eq!(r.transition().map(|t| t.event), Some("fail"));

    s.finish_member(&t.id, &m.name, &Outcome::Completed("done".into()))
        .unwrap();
    let r = refusal(s.finish_member(&t.id, &m.name, &Outcome::Failed("late".into())));
    assert_eq!(r.transition().map(|t| t.entity), Some("member"));
    assert_eq!(
        r.to_string(),
        "member reviewer in team docs is completed; it cannot be failed"
    );

    // Not lifecycle moves: the other rules' errors.
    let r = refusal(s.send_message(
        &t.id,
        &Outgoing {
            from: "lead",
            to: Recipient::Member("reviewer".into()),
            kind: MessageKind::Text,
            body: "hi",
        },
    ));
    assert!(matches!(r, Refusal::RecipientEnded { .. }), "{r:?}");
    assert_eq!(
        r.to_string(),
        "member reviewer in team docs is completed; it cannot receive messages"
    );
    let r = refusal(s.send_message(
        &t.id,
        &Outgoing {
            from: "reviewer",
            to: Recipient::Member("lead".into()),
            kind: MessageKind::Text,
            body: "hi",
        },
    ));
    assert!(matches!(r, Refusal::Fenced(_)), "{r:?}");

    s.disband_team(&t.id, "done").unwrap();
    let r = refusal(s.disband_team(&t.id, "again"));
    assert_eq!(r.transition().map(|t| t.entity), Some("team"));
    assert_eq!(
        r.to_string(),
        "team docs is disbanded; it cannot be disbanded"
    );
    let r = refusal(s.add_member(
        &t.id,
        &NewMember {
            agent: AgentName::new("late").unwrap(),
            prompt: None,
            persistent: false,
            timeout_secs: None,
            status: MemberStatus::Pending,
            runner_id: None,
        },
    ));
    assert!(matches!(r, Refusal::TeamEnded { .. }), "{r:?}");
    assert_eq!(
        r.to_string(),
        "team docs is disbanded; it cannot take new members"
    );
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn a_cancelled_member_releases_its_tasks_and_tells_the_lead(#[case] backend: Backend) {
    let Some(db) = &TestDb::on(backend) else {
        return;
    };
    let s = db.store();
    let t = team(&s, "docs", "lead");
    let m = member(&s, &t.id, "reviewer");
    let task = s
        .add_task(
            &t.id,
            &NewTask {
                title: "x".into(),
                ..Default::default()
            },
        )
        .unwrap();
    s.claim_task(&t.id, &m.name, Some(task.id)).unwrap();
    let f = s
        .finish_member(&t.id, &m.name, &Outcome::Cancelled("stop".into()))
        .unwrap();
    assert_eq!(f.tasks_changed, vec![(task.id, TaskStatus::Pending)]);
    let back = s.get_task(&t.id, task.id).unwrap();
    assert_eq!((back.status, back.assignee), (TaskStatus::Pending, None));
    let inbox = s.take_inbox(&t.id, "lead", false).unwrap();
    let bodies: Vec<(&str, MessageKind)> =
        inbox.iter().map(|m| (m.body.as_str(), m.kind)).collect();
    assert_eq!(
        bodies,
        vec![
            ("[AGENT CANCELLED] reviewer: stop", MessageKind::System),
            (
                "[ALL MEMBERS DONE] 0 completed, 1 cancelled",
                MessageKind::System
            ),
        ]
    );
    assert!(f.all_done);
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn who_may_disband_a_team(#[case] backend: Backend) {
    let Some(db) = &TestDb::on(backend) else {
        return;
    };
    let s = db.store();
    let docs = team(&s, "docs", "planner");
    let worker = member(&s, &docs.id, "worker");

    // A member of the team that is not its lead: refused, nothing changes.
    let r = refusal(s.disband_team_as(&docs.id, "x", &as_member(&docs, "worker")));
    assert!(matches!(r, Refusal::NotManager(_)), "{r:?}");
    assert_eq!(r.to_string(), "only the lead can disband team docs");
    assert_eq!(
        s.get_member(&docs.id, &worker.name).unwrap().status,
        MemberStatus::Running
    );

    // The lead of another team, running another agent: refused.
    let other = team(&s, "other", "reviewer");
    let r = refusal(s.disband_team_as(&docs.id, "x", &as_member(&other, "lead")));
    assert_eq!(r.to_string(), "team docs is not led by your agent reviewer");

    // The lead of another team running the agent that leads this one: allowed.
    let sibling = team(&s, "sibling", "planner");
    let d = s
        .disband_team_as(&docs.id, "by a sibling", &as_member(&sibling, "lead"))
        .unwrap();
    assert_eq!(
        d.cancelled_members,
        vec!["lead".to_owned(), worker.name.clone()]
    );

    // Its own lead: allowed.
    let d = s
        .disband_team_as(&other.id, "done", &as_member(&other, "lead"))
        .unwrap();
    assert_eq!(d.team.status, team_core::TeamStatus::Disbanded);
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn runner_liveness_is_the_core_rule(#[case] backend: Backend) {
    let Some(db) = &TestDb::on(backend) else {
        return;
    };
    let s = db.store();
    let r = s
        .register_runner_with(&NewRunner {
            pid: 1,
            host: "h".into(),
            max_agents: 1,
            heartbeat_ms: 100,
            env_fingerprint: None,
            version: None,
        })
        .unwrap();
    let beat = r.heartbeat_at_ms;
    assert!(!r.is_lost(true, "h", beat + 300));
    assert!(r.is_lost(true, "h", beat + 301));
    assert!(r.is_lost(false, "h", beat));
    assert!(!r.is_lost(false, "elsewhere", beat));
    s.stop_runner(&r.id).unwrap();
    let stopped = s.list_runners(true).unwrap();
    assert!(stopped.iter().all(|r| !r.is_lost(false, "h", i64::MAX)));
}
