//! Issue 14, the store side of "each member runs what was spawned": a member's spec (agent
//! definition, environment fingerprint) is stored with it, and a runner claims only members
//! whose fingerprint is its own or none; a runner records its heartbeat period.
#![allow(missing_docs)]

mod common;

use common::{Backend, TestDb};
use rstest::rstest;
use team_core::{AgentName, MemberStatus, TeamName};
use team_store::{Beat, MemberSpec, NewMember, NewRunner, NewTeam};

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
        on_ask: None,
        ..MemberSpec::default()
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
            version: None,
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

/// Issue 20: a runner records its version, and a stop asked of it through the database
/// (`team runner stop` for a runner on another host) is what its next heartbeat reads.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn a_stop_request_is_read_by_the_next_heartbeat(#[case] backend: Backend) {
    let Some(db) = &TestDb::on(backend) else {
        return;
    };
    let s = db.store();
    let r = s
        .register_runner_with(&NewRunner {
            pid: 1,
            host: "elsewhere".into(),
            max_agents: 2,
            heartbeat_ms: 250,
            env_fingerprint: None,
            version: Some("9.9.9".into()),
        })
        .unwrap();
    assert_eq!(r.version.as_deref(), Some("9.9.9"));
    assert_eq!(r.stop_requested_at_ms, None);
    assert_eq!(
        s.heartbeat_runner(&r.id).unwrap(),
        Beat::Alive,
        "nothing asked yet"
    );

    let asked = s.request_runner_stop(&r.id).unwrap();
    let at = asked.stop_requested_at_ms.expect("the request is recorded");
    assert_eq!(
        s.heartbeat_runner(&r.id).unwrap(),
        Beat::StopRequested,
        "the heartbeat reads it"
    );
    // A second request keeps the first time and writes no second event.
    std::thread::sleep(std::time::Duration::from_millis(2));
    assert_eq!(
        s.request_runner_stop(&r.id).unwrap().stop_requested_at_ms,
        Some(at)
    );
    let events: Vec<_> = s
        .list_events(None, 0, 1000)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "runner.stop_requested")
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");

    // The runner stops itself; it is listed with its version only among the stopped ones.
    s.stop_runner(&r.id).unwrap();
    assert!(s.list_runners(false).unwrap().is_empty());
    let all = s.list_runners(true).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].version.as_deref(), Some("9.9.9"));
    assert!(all[0].stopped_at_ms.is_some());

    let e = s.request_runner_stop("nope").unwrap_err();
    assert!(matches!(e, team_store::StoreError::NotFound { .. }), "{e}");
}

/// Issue 19: a runner marked stopped by another process (found lost while it was cut off
/// from the database) learns it at its next heartbeat, which no longer refreshes its row, so
/// it is not taken for alive again.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn a_runner_marked_lost_learns_it_at_its_next_heartbeat(#[case] backend: Backend) {
    let Some(db) = &TestDb::on(backend) else {
        return;
    };
    let s = db.store();
    let r = s
        .register_runner_with(&NewRunner {
            pid: 1,
            host: "elsewhere".into(),
            max_agents: 2,
            heartbeat_ms: 250,
            env_fingerprint: None,
            version: None,
        })
        .unwrap();
    assert_eq!(s.heartbeat_runner(&r.id).unwrap(), Beat::Alive);
    // Another runner reconciles it (as `team_runner::reconcile` does).
    s.stop_runner(&r.id).unwrap();
    // Before its heartbeat tells it, it claims nothing more.
    let (team, _) = s
        .create_team(&NewTeam {
            name: TeamName::new("crew").unwrap(),
            lead_agent: AgentName::new("lead").unwrap(),
            workflow: None,
            project_root: "/proj".into(),
            owner: None,
        })
        .unwrap();
    s.add_member(&team.id, &pending("a")).unwrap();
    assert!(s.claim_pending_members(&r.id, None, 10).unwrap().is_empty());
    let stopped_beat = s.list_runners(true).unwrap()[0].heartbeat_at_ms;
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(s.heartbeat_runner(&r.id).unwrap(), Beat::MarkedLost);
    let row = &s.list_runners(true).unwrap()[0];
    assert_eq!(
        row.heartbeat_at_ms, stopped_beat,
        "a stopped row is not refreshed"
    );
    assert!(s.list_runners(false).unwrap().is_empty());
    assert_eq!(s.heartbeat_runner("gone").unwrap(), Beat::MarkedLost);
}
