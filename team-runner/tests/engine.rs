//! `Engine::send_message`: the in-process send wakes an idle member at once, without the
//! poller; bad recipients are refused with the store's error and nothing is written.
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use team_agent::config::Config;
use team_agent::discover_with_builtins;
use team_core::{AgentName, MemberStatus, MessageKind, TeamName};
use team_provider::CassetteMode;
use team_runner::{AgentRuntime, Engine, EngineOptions, RunnerError};
use team_store::{ErrorKind, NewMember, NewTeam, Recipient, Store};
use team_testkit::{Reply, Script, ScriptedServer};
use team_tools::permission::{PromptGate, RunFlags, RunPermissions};

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_message_wakes_an_idle_member_in_process() {
    let server = ScriptedServer::start(Script::from_fn(|req| {
        if req.last_user_or_tool_text().contains("probe") {
            Reply::text("got the probe")
        } else {
            Reply::text("ready")
        }
    }))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::create_dir_all(root.join(".team/agents")).unwrap();
    std::fs::write(
        root.join(".team/agents/echo.md"),
        "---\nmodel: mock/m\n---\nYou answer in one line.\n",
    )
    .unwrap();
    let config_text = format!(
        "[providers.mock]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key_env = \"\"\n",
        server.base_url()
    );
    let config = Config::from_toml_str(&config_text, &root.join(".team/config.toml")).unwrap();
    let permissions = Arc::new(RunPermissions::new(
        RunFlags {
            allow: Vec::new(),
            yes: false,
            ..RunFlags::default()
        },
        PromptGate::new(None),
    ));
    let runtime = AgentRuntime::from_config(
        discover_with_builtins(&root).unwrap(),
        &config,
        permissions,
        CassetteMode::Off,
    )
    .unwrap();
    let db_url = root.join("team.db").to_string_lossy().into_owned();
    let store = Store::open(&db_url).unwrap();
    let mut opts = EngineOptions::new(root.clone(), db_url);
    // The poller would notice the message only after a minute: a quick wake-up is the
    // in-process one.
    opts.poll = Duration::from_secs(60);
    opts.full_poll = Duration::from_secs(60);
    let engine = Engine::start(store.clone(), runtime, opts).await.unwrap();
    let serving = {
        let e = engine.clone();
        tokio::spawn(async move { e.serve().await })
    };
    let (team, _) = store
        .create_team(&NewTeam {
            name: TeamName::new("wake").unwrap(),
            lead_agent: AgentName::new("lead").unwrap(),
            workflow: None,
            project_root: root.to_string_lossy().into_owned(),
            owner: None,
        })
        .unwrap();
    store
        .add_member(
            &team.id,
            &NewMember {
                agent: AgentName::new("echo").unwrap(),
                prompt: Some("start".into()),
                persistent: true,
                timeout_secs: None,
                status: MemberStatus::Pending,
                runner_id: None,
            },
        )
        .unwrap();
    engine.notify_queued();
    wait_for("echo to go idle", || {
        store.get_member(&team.id, "echo").unwrap().status == MemberStatus::Idle
    })
    .await;
    assert_eq!(server.request_count(), 1);

    let sent = engine
        .send_message(
            &team.id,
            "lead",
            Recipient::Member("echo".into()),
            MessageKind::Text,
            "probe 1",
        )
        .await
        .unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].sender.as_str(), sent[0].recipient.as_str()),
        ("lead", "echo")
    );
    wait_for("echo's turn on the probe", || server.request_count() == 2).await;
    assert!(
        server.requests()[1]
            .last_user_or_tool_text()
            .contains("probe 1"),
        "the woken turn got the message"
    );
    wait_for("echo's answer to reach the lead", || {
        store
            .list_messages(&team.id)
            .unwrap()
            .iter()
            .any(|m| m.recipient == "lead" && m.body.contains("got the probe"))
    })
    .await;

    // Unknown and ended recipients: the store's errors, nothing written.
    let before = store.list_messages(&team.id).unwrap().len();
    let err = engine
        .send_message(
            &team.id,
            "lead",
            Recipient::Member("nobody".into()),
            MessageKind::Text,
            "hello?",
        )
        .await
        .unwrap_err();
    match &err {
        RunnerError::Store(e) => assert_eq!(e.kind(), ErrorKind::NotFound, "{e}"),
        other => panic!("expected a store error, got {other}"),
    }
    assert!(err.to_string().contains("nobody"), "{err}");
    assert_eq!(store.list_messages(&team.id).unwrap().len(), before);

    engine.shutdown_token().cancel();
    engine.stop().await;
    let _ = serving.await;
    server.stop().await;
}
