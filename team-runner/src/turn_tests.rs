//! The lead's turn and a member's are one implementation: what a workflow's lead records and
//! sees is what a member records and sees (the lead's synthesis once had its own copy, whose
//! `provider.call` events lacked `call` and whose command environment lacked
//! `TEAM_PROJECT_ROOT`).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use team_core::{AgentName, MemberStatus, TeamName};
use team_provider::CassetteMode;
use team_store::{NewMember, NewTeam, Store};
use team_testkit::{Reply, Script, ScriptedServer};
use team_tools::permission::{PromptGate, RunFlags, RunPermissions};

use super::lead_turn;
use crate::{AgentRuntime, Engine, EngineOptions};

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    store: Store,
    engine: Engine,
    team_id: String,
}

/// A project with `agents` (name, file text), an engine serving it, and a team led by
/// `lead`; models are answered by `server`.
async fn fixture(agents: &[(&str, String)], lead: &str, server: &ScriptedServer) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::create_dir_all(root.join(".team/agents")).unwrap();
    for (name, text) in agents {
        std::fs::write(root.join(format!(".team/agents/{name}.md")), text).unwrap();
    }
    let config_text = format!(
        "[providers.mock]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key_env = \"\"\n",
        server.base_url()
    );
    let config =
        team_agent::config::Config::from_toml_str(&config_text, &root.join(".team/config.toml"))
            .unwrap();
    let permissions = Arc::new(RunPermissions::new(
        RunFlags {
            allow: Vec::new(),
            yes: false,
            ..RunFlags::default()
        },
        PromptGate::new(None),
    ));
    let runtime = AgentRuntime::from_config(
        team_agent::discover_with_builtins(&root).unwrap(),
        &config,
        permissions,
        CassetteMode::Off,
    )
    .unwrap();
    let db_url = root.join("team.db").to_string_lossy().into_owned();
    let store = Store::open(&db_url).unwrap();
    let engine = Engine::start(
        store.clone(),
        runtime,
        EngineOptions::new(root.clone(), db_url),
    )
    .await
    .unwrap();
    let (team, _) = store
        .create_team(&NewTeam {
            name: TeamName::new("turns").unwrap(),
            lead_agent: AgentName::new(lead).unwrap(),
            workflow: None,
            project_root: root.to_string_lossy().into_owned(),
            owner: None,
        })
        .unwrap();
    Fixture {
        _dir: dir,
        root,
        store,
        engine,
        team_id: team.id,
    }
}

/// Adds a one-turn member of `agent`, serves it to its end and returns its result.
async fn member_result(f: &Fixture, agent: &str) -> String {
    let m = f
        .store
        .add_member(
            &f.team_id,
            &NewMember {
                agent: AgentName::new(agent).unwrap(),
                prompt: Some("go".into()),
                persistent: false,
                timeout_secs: None,
                status: MemberStatus::Pending,
                runner_id: None,
            },
        )
        .unwrap();
    let serving = {
        let e = f.engine.clone();
        tokio::spawn(async move { e.serve().await })
    };
    f.engine.notify_queued();
    let until = Instant::now() + Duration::from_secs(20);
    let ended = loop {
        let now = f.store.get_member(&f.team_id, &m.name).unwrap();
        if now.status.is_terminal() {
            break now;
        }
        assert!(Instant::now() < until, "the member did not end");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    serving.abort();
    assert_eq!(ended.status, MemberStatus::Completed, "{:?}", ended.error);
    ended.result.unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leads_turn_records_its_model_call_as_a_members_turn_does() {
    let server = ScriptedServer::start(Script::from_fn(|_| Reply::text("done")))
        .await
        .unwrap();
    let llm = "---\nmodel: mock/m\n---\nYou answer in one line.\n".to_owned();
    let f = fixture(&[("chief", llm.clone()), ("echo", llm)], "chief", &server).await;
    assert_eq!(member_result(&f, "echo").await, "done");
    let answer = lead_turn(f.engine.context(), &f.team_id, "chief", "sum up", 3, None).await;
    assert_eq!(answer.as_deref(), Ok("done"));

    let events = f.store.list_events(Some(&f.team_id), 0, i64::MAX).unwrap();
    let keys = |who: &str| -> Vec<BTreeSet<String>> {
        events
            .iter()
            .filter(|e| e.kind == "provider.call" && e.member.as_deref() == Some(who))
            .map(|e| e.payload.as_object().unwrap().keys().cloned().collect())
            .collect()
    };
    let (lead, member) = (keys(team_core::LEAD_ALIAS), keys("echo"));
    assert_eq!(lead.len(), 1, "one call of the lead");
    assert_eq!(member.len(), 1, "one call of the member");
    assert_eq!(lead[0], member[0], "the same record for the same thing");
    let call = events
        .iter()
        .find(|e| e.kind == "provider.call" && e.member.as_deref() == Some("lead"))
        .map(|e| e.payload["call"].clone());
    assert_eq!(
        call,
        Some(serde_json::json!(3)),
        "the call number asked for"
    );
    let lead = f.store.get_member(&f.team_id, "lead").unwrap();
    assert_eq!(lead.turns, 1);
    let asked = server.requests();
    assert!(!asked[0].tools.is_empty(), "a member is offered its tools");
    assert!(
        asked[1].tools.is_empty(),
        "a lead answering a request is offered none"
    );
    assert_eq!(
        asked[1].system, "You answer in one line.",
        "its instructions only"
    );
    f.engine.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_lead_gets_the_environment_a_command_member_gets() {
    let server = ScriptedServer::start(Script::from_fn(|_| Reply::text("unused")))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("env.sh");
    std::fs::write(
        &script,
        "printf '%s|%s|%s|%s|%s' \"$TEAM_PROJECT_ROOT\" \"$TEAM_ID\" \"$TEAM_MEMBER\" \"$TEAM_LEAD\" \"${TEAM_DATABASE_URL:+db}\"\n",
    )
    .unwrap();
    let agent = format!(
        "---\ncommand: [sh, {}]\n---\nPrint the environment.\n",
        script.display()
    );
    let f = fixture(&[("envy", agent)], "envy", &server).await;
    let root = f.root.to_string_lossy().into_owned();
    let member = member_result(&f, "envy").await;
    assert_eq!(member, format!("{root}|{}|envy|lead|db", f.team_id));
    let lead = lead_turn(f.engine.context(), &f.team_id, "envy", "sum up", 1, None)
        .await
        .unwrap();
    assert_eq!(lead, format!("{root}|{}|lead|lead|db", f.team_id));
    f.engine.stop().await;
    server.stop().await;
}
