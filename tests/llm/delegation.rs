//! Delegation limits (issue 18), on both engines: an agent's `task_budget` caps how many
//! members it may start with `task`; `[team] lead_tools = "team"` makes an LLM lead
//! coordination-only (offered the team tools alone), while its members keep their tools.

use team_testkit::{Reply, ScriptRequest, ScriptedServer};

use crate::support::{
    Backend, Project, Wire, dump, events_of, from_agent, requests_of, tool_texts,
};

fn script() -> team_testkit::Script {
    team_testkit::Script::from_fn(|req: &ScriptRequest| {
        if !from_agent(req, "boss") {
            return Reply::text("worked");
        }
        match req.turn {
            1 => Reply::tool_call(
                "task",
                r#"{"agent":"worker","prompt":"one","background":false}"#,
            ),
            2 => Reply::tool_call(
                "task",
                r#"{"agent":"worker","prompt":"two","background":false}"#,
            ),
            3 => Reply::tool_call("read_file", r#"{"path":"README"}"#),
            _ => Reply::text("boss done"),
        }
    })
}

#[rstest::rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_task_budget_and_a_coordination_only_lead(#[case] backend: Backend) {
    let server = ScriptedServer::start(script()).await.expect("server");
    let Some(p) = Project::on(
        backend,
        Wire::OpenAi,
        &server.base_url(),
        "lead_tools = \"team\"",
    )
    .await
    else {
        return;
    };
    std::fs::write(p.path("README"), "hello").expect("README");
    p.agent("boss", "model: mock/m\ntask_budget: 1", "You delegate.");
    p.agent("worker", "model: mock/m", "You work.");
    let out = p
        .team(&["create", "crew", "--lead", "boss", "--prompt", "go"])
        .await;
    assert!(out.status.success(), "create: {}", dump(&out));

    let reqs = requests_of(&server.requests(), "lead");
    assert_eq!(reqs.len(), 4, "{reqs:#?}");
    // Coordination-only: the team tools alone.
    assert!(
        reqs[0].tools.iter().any(|t| t == "task"),
        "{:?}",
        reqs[0].tools
    );
    for t in ["read_file", "bash", "write_file"] {
        assert!(
            !reqs[0].tools.iter().any(|x| x == t),
            "{t}: {:?}",
            reqs[0].tools
        );
    }
    let results = tool_texts(&reqs[3]);
    assert!(
        results[0].contains("worked"),
        "the first member ran: {results:#?}"
    );
    assert!(
        results[1].contains("task_budget") && results[1].contains("task denied"),
        "{results:#?}"
    );
    assert!(results[2].contains("coordinates only"), "{results:#?}");
    // The member it started keeps its workspace tools.
    let worker = requests_of(&server.requests(), "worker");
    assert!(
        worker[0].tools.iter().any(|t| t == "read_file"),
        "{:?}",
        worker[0].tools
    );

    let members = p.members("crew").await;
    assert_eq!(members.len(), 2, "the lead and one worker: {members:#?}");
    let events = p.events("crew").await;
    let denied = events_of(&events, "tool.denied", None);
    assert!(
        denied
            .iter()
            .any(|e| e["payload"]["source"]["kind"] == "task_budget"
                && e["payload"]["source"]["limit"] == 1),
        "{denied:#?}"
    );
}
