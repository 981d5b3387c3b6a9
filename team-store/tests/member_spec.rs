//! Issue 14, the store side of "each member runs what was spawned": a member's spec (agent
//! definition, environment fingerprint) is stored with it, and a runner claims only members
//! whose fingerprint is its own or none; a runner records its heartbeat period.
#![allow(missing_docs)]

mod common;

use common::{Backend, TestDb};
use rstest::rstest;
use team_core::{AgentName, MemberStatus, TeamName};
use team_store::{MemberSpec, NewMember, NewRunner, NewTeam};

fn pending(agent: &str) -> NewMember {
    NewMember {
        agent: AgentName::new(agent).unwrap(),
        prompt: Some("p".into()),
        persistent: false,
        timeout_secs: None,
        status: MemberStatus::Pending,
        runner_id: None,
    }
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn claims_follow_the_environment_fingerprint(#[case] backend: Backend) {
    let Some(db) = &TestDb::on(backend) else {
        return;
    };
    let s = db.store();
    let (team, _) = s
        .create_team(&NewTeam {
            name: TeamName::new("crew").unwrap(),
            lead_agent: AgentName::new("lead").unwrap(),
            workflow: None,
            project_root: "/proj".into(),
            owner: None,
        })
        .unwrap();
    let spec = |fp: &str| MemberSpec {
        agent_def: Some(format!("---\ncommand: [echo, {fp}]\n---\n")),
        agent_source: Some("team:/proj/.team/agents/a.md".into()),
        env_fingerprint: Some(fp.into()),
    };
    let a = s
        .add_member_with_spec(&team.id, &pending("a"), &spec("v1:a"))
        .unwrap();
    let b = s
        .add_member_with_spec(&team.id, &pending("b"), &spec("v1:b"))
        .unwrap();
    let plain = s.add_member(&team.id, &pending("plain")).unwrap();

    let runner = s
        .register_runner_with(&NewRunner {
            pid: 1,
            host: "h".into(),
            max_agents: 10,
            heartbeat_ms: 250,
            env_fingerprint: Some("v1:b".into()),
        })
        .unwrap();
    assert_eq!(runner.heartbeat_ms, 250);
    assert_eq!(
        s.list_runners(false).unwrap()[0].env_fingerprint.as_deref(),
        Some("v1:b")
    );

    // Runner "b" takes b and the member with no fingerprint, never a.
    let mut got: Vec<String> = s
        .claim_pending_members_for(&runner.id, None, Some("v1:b"), 10)
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    got.sort();
    assert_eq!(got, ["b", "plain"]);
    // A runner with no fingerprint takes only members with none: nothing is left.
    assert!(
        s.claim_pending_members(&runner.id, None, 10)
            .unwrap()
            .is_empty()
    );
    let claimed = s
        .claim_pending_members_for(&runner.id, None, Some("v1:a"), 10)
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].name, "a");

    let specs = s.member_specs(&[a.id, b.id, plain.id]).unwrap();
    assert_eq!(specs.len(), 2, "a member spawned without a spec has none");
    assert_eq!(specs[&a.id], spec("v1:a"));
    assert_eq!(specs[&b.id], spec("v1:b"));
}
