//! Issue 18, the store side of approval gates: asking parks the member in the request's
//! transaction; the same call asked again (a member resumed after its runner died) finds its
//! request, pending or decided; a decision is made once; `always` allows later calls of the
//! tool in the team; `waiting` holds the member's tasks like `running`, and a disband cancels
//! it.
#![allow(missing_docs)]

mod common;

use common::{Backend, TestDb};
use rstest::rstest;
use team_core::{AgentName, ApprovalKind, ApprovalStatus, MemberEvent, MemberStatus, TeamName};
use team_store::{ApprovalDecision, NewApproval, NewMember, NewTeam, StoreError};

fn call(tool: &str, arguments: &str) -> NewApproval {
    NewApproval {
        kind: ApprovalKind::Tool,
        tool: tool.into(),
        arguments: arguments.into(),
        summary: format!("{tool} {arguments}"),
        why: format!("{tool} asks by default"),
    }
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn an_approval_parks_its_member_and_is_decided_once(#[case] backend: Backend) {
    let Some(db) = &TestDb::on(backend) else {
        return;
    };
    let s = db.store();
    let (team, _) = s
        .create_team(&NewTeam {
            name: TeamName::new("gates").unwrap(),
            lead_agent: AgentName::new("lead").unwrap(),
            workflow: None,
            project_root: "/proj".into(),
            owner: None,
        })
        .unwrap();
    let m = s
        .add_member(
            &team.id,
            &NewMember {
                agent: AgentName::new("shell").unwrap(),
                prompt: Some("p".into()),
                persistent: false,
                timeout_secs: None,
                status: MemberStatus::Running,
                runner_id: None,
            },
        )
        .unwrap();

    let asked = s
        .ask_approval(&team.id, &m.name, &call("bash", "ls"))
        .unwrap();
    assert_eq!(asked.status, ApprovalStatus::Pending);
    assert_eq!(
        s.get_member(&team.id, &m.name).unwrap().status,
        MemberStatus::Waiting
    );
    // Asked again (a resumed member): the same request, still pending.
    let again = s
        .ask_approval(&team.id, &m.name, &call("bash", "ls"))
        .unwrap();
    assert_eq!(again.id, asked.id);
    assert_eq!(s.list_approvals(Some(&team.id), true).unwrap().len(), 1);

    let denied = s
        .decide_approval(
            asked.id,
            &ApprovalDecision::Deny {
                reason: "no".into(),
            },
            "user",
        )
        .unwrap();
    assert_eq!(
        (
            denied.status,
            denied.reason.as_deref(),
            denied.decided_by.as_deref()
        ),
        (ApprovalStatus::Denied, Some("no"), Some("user"))
    );
    let twice = s.decide_approval(
        asked.id,
        &ApprovalDecision::Approve { always: false },
        "user",
    );
    assert!(matches!(twice, Err(StoreError::Illegal(_))), "{twice:?}");
    assert!(s.list_approvals(Some(&team.id), true).unwrap().is_empty());
    s.member_step(&team.id, &m.name, MemberEvent::Continue)
        .unwrap();

    // The decided call asked again is answered from its row, without parking.
    let decided = s
        .ask_approval(&team.id, &m.name, &call("bash", "ls"))
        .unwrap();
    assert_eq!(
        (decided.id, decided.status),
        (asked.id, ApprovalStatus::Denied)
    );
    assert_eq!(
        s.get_member(&team.id, &m.name).unwrap().status,
        MemberStatus::Running
    );

    // `always`: a later call of the tool with other arguments is allowed by that row.
    let other = s
        .ask_approval(&team.id, &m.name, &call("bash", "make"))
        .unwrap();
    s.decide_approval(
        other.id,
        &ApprovalDecision::Approve { always: true },
        "user",
    )
    .unwrap();
    s.member_step(&team.id, &m.name, MemberEvent::Continue)
        .unwrap();
    let later = s
        .ask_approval(&team.id, &m.name, &call("bash", "make test"))
        .unwrap();
    assert_eq!(
        (later.id, later.status),
        (other.id, ApprovalStatus::Approved)
    );
    assert_eq!(
        s.get_member(&team.id, &m.name).unwrap().status,
        MemberStatus::Running
    );
    // ... but not another tool.
    let write = s
        .ask_approval(&team.id, &m.name, &call("write_file", "{}"))
        .unwrap();
    assert_eq!(write.status, ApprovalStatus::Pending);

    // A disband cancels a waiting member; its request can no longer be decided.
    let gone = s.disband_team(&team.id, "done").unwrap();
    assert!(gone.cancelled_members.contains(&m.name), "{gone:?}");
    assert_eq!(
        s.get_member(&team.id, &m.name).unwrap().status,
        MemberStatus::Cancelled
    );
    let late = s.decide_approval(
        write.id,
        &ApprovalDecision::Approve { always: false },
        "user",
    );
    assert!(matches!(late, Err(StoreError::Illegal(_))), "{late:?}");
    let unknown = s.approval(999_999);
    assert!(
        matches!(unknown, Err(StoreError::NotFound { .. })),
        "{unknown:?}"
    );
}
