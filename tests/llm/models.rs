//! Model resolution as users expect (issue 15): a member whose agent says `model: inherit`
//! (or nothing) runs on the model of the team's lead agent; `model: sonnet` goes through the
//! `[models]` alias table of the config.

use team_testkit::{Reply, Script, ScriptedServer};

use crate::support::{Project, Wire, call, calls, dump, from_agent, from_member};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inherit_takes_the_leads_model_and_aliases_go_through_models() {
    let script = Script::from_fn(|req| {
        if from_member(req, "lead") {
            if req.turn == 1 {
                return calls(vec![
                    call(
                        "task",
                        r#"{"agent":"heir","prompt":"a","background":false}"#,
                    ),
                    call(
                        "task",
                        r#"{"agent":"aliased","prompt":"b","background":false}"#,
                    ),
                ]);
            }
            return Reply::text("both answered");
        }
        Reply::text(format!("answered on {}", req.model))
    });
    let server = ScriptedServer::start(script).await.expect("server");
    let p = Project::new(
        Wire::OpenAi,
        &server.base_url(),
        "max_agents = 4\n\n[models]\nsonnet = \"mock/sonnet-like\"",
    )
    .await;
    p.agent("boss", "model: mock/lead-model", "You coordinate.");
    p.agent("heir", "model: inherit", "You answer.");
    p.agent("aliased", "model: sonnet", "You answer.");
    let out = p
        .team(&["create", "models", "--lead", "boss", "--prompt", "ask both"])
        .await;
    assert!(out.status.success(), "{}", dump(&out));
    let reqs = server.requests();
    let model_of = |agent: &str| {
        reqs.iter()
            .filter(|r| from_agent(r, agent))
            .map(|r| r.model.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(model_of("heir"), ["lead-model"], "{}", dump(&out));
    assert_eq!(model_of("aliased"), ["sonnet-like"], "{}", dump(&out));
}
