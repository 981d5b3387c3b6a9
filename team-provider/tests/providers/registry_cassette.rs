//! Registry resolution and config, record/replay cassettes, and API key secrecy.

use crate::common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::*;
use team_provider::{
    ApiKey, Cassette, CassetteMode, CassetteWriter, ChatMessage, ChatResponse, OpenAiProvider,
    Provider, ProviderConfig, ProviderError, ProviderKind, ProviderRegistry, RecordingProvider,
    ReplayProvider,
};
use team_testkit::{Matcher, Reply, Rule, Script, ScriptedServer};

#[test]
fn registry_resolves_model_strings_and_explains_failures() {
    let toml_text = r#"
        [providers.openrouter]
        max_concurrent_requests = 2

        [providers.local]
        base_url = "http://127.0.0.1:1234/v1/"
        api_key_env = ""

        [providers.claude-proxy]
        base_url = "https://proxy.example.invalid/anthropic.com"
        api_key_env = "PROXY_KEY"

        [providers.anthropic]
        base_url = "http://127.0.0.1:9/"
    "#;
    #[derive(serde::Deserialize)]
    struct File {
        providers: BTreeMap<String, ProviderConfig>,
    }
    let file: File = toml::from_str(toml_text).expect("toml");
    let registry = ProviderRegistry::with_env(
        &file.providers,
        env(&[
            ("OPENROUTER_API_KEY", "or-key"),
            ("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1"),
            ("ANTHROPIC_API_KEY", "a-key"),
        ]),
    )
    .expect("registry");

    let s = registry.settings("openrouter").expect("openrouter");
    assert_eq!(
        (s.max_concurrent_requests, s.base_url.as_str()),
        (2, "https://openrouter.ai/api/v1")
    );
    assert_eq!(s.api_key_env.as_deref(), Some("OPENROUTER_API_KEY"));
    let s = registry.settings("local").expect("local");
    assert_eq!(
        (s.kind, s.base_url.as_str(), s.api_key_env.as_ref()),
        (ProviderKind::OpenAi, "http://127.0.0.1:1234/v1", None)
    );
    assert_eq!(
        registry.settings("claude-proxy").expect("proxy").kind,
        ProviderKind::Anthropic
    );
    let s = registry.settings("anthropic").expect("anthropic");
    assert_eq!(
        (s.kind, s.base_url.as_str()),
        (ProviderKind::Anthropic, "http://127.0.0.1:9")
    );
    assert_eq!(
        registry.settings("openai").expect("openai").base_url,
        "http://127.0.0.1:8080/v1"
    );
    assert_eq!(
        registry.settings("ollama").expect("ollama").api_key_env,
        None
    );

    let (p, model) = registry
        .resolve("openrouter/meta-llama/llama-3")
        .expect("resolve");
    assert_eq!(
        (p.name(), model.as_str()),
        ("openrouter", "meta-llama/llama-3")
    );
    let (again, _) = registry.resolve("openrouter/other").expect("resolve");
    assert!(Arc::ptr_eq(&p, &again), "one shared instance per provider");
    assert!(registry.resolve("ollama/llama3.2").is_ok(), "no key needed");
    assert!(registry.resolve("anthropic/claude").is_ok());

    let err = registry.resolve("mystery/model").err().expect("unknown");
    let msg = err.to_string();
    assert!(matches!(err, ProviderError::UnknownProvider { .. }));
    assert!(
        msg.contains("mystery")
            && msg.contains("ollama, openai")
            && msg.contains("[providers.mystery]")
            && msg.contains(".team/config.toml"),
        "{msg}"
    );

    let err = registry.resolve("openai/gpt").err().expect("no key");
    assert_eq!(
        err,
        ProviderError::MissingApiKey {
            provider: "openai".into(),
            env_var: "OPENAI_API_KEY".into()
        }
    );
    assert!(err.to_string().contains("OPENAI_API_KEY"));
    assert!(
        registry
            .resolve("claude-proxy/x")
            .err()
            .expect("no key")
            .to_string()
            .contains("PROXY_KEY")
    );

    for bad in ["", "gpt-4o", "/gpt", "openai/", "  "] {
        let err = registry.resolve(bad).err().expect("bad model");
        assert!(
            matches!(err, ProviderError::BadModel { .. }),
            "{bad:?}: {err:?}"
        );
        assert!(err.to_string().contains("provider/model"));
    }

    let bad: Result<File, _> =
        toml::from_str("[providers.x]\nbase_url = \"http://h\"\nmax_concurent = 3\n");
    assert!(bad.is_err(), "unknown fields are rejected");
    let no_url = BTreeMap::from([("custom".to_string(), ProviderConfig::default())]);
    let err = ProviderRegistry::with_env(&no_url, env(&[])).expect_err("no base_url");
    assert!(
        err.to_string().contains("base_url") && err.to_string().contains("[providers.custom]"),
        "{err}"
    );
    let zero = BTreeMap::from([(
        "z".to_string(),
        ProviderConfig {
            base_url: Some("http://h".into()),
            max_concurrent_requests: Some(0),
            ..Default::default()
        },
    )]);
    assert!(
        ProviderRegistry::with_env(&zero, env(&[]))
            .expect_err("zero")
            .to_string()
            .contains("max_concurrent_requests")
    );
    let ftp = BTreeMap::from([(
        "f".to_string(),
        ProviderConfig {
            base_url: Some("ftp://h".into()),
            ..Default::default()
        },
    )]);
    assert!(ProviderRegistry::with_env(&ftp, env(&[])).is_err());
}

fn same_reply(a: &ChatResponse, b: &ChatResponse) {
    assert_eq!(a.content, b.content);
    assert_eq!(a.tool_calls, b.tool_calls);
    assert_eq!(a.usage, b.usage);
    assert_eq!(a.finish_reason, b.finish_reason);
    assert_eq!(a.attempts, b.attempts);
}

#[tokio::test]
async fn record_then_replay_gives_identical_responses_without_the_server() {
    let server = ScriptedServer::start(Script::rules(vec![
        Rule::when(
            Matcher::model("broken"),
            Reply::error(400, r#"{"error":{"message":"no such model"}}"#),
        ),
        Rule::when(
            Matcher::turn(1),
            Reply::tool_call("read_file", r#"{"path":"x"}"#),
        ),
        Rule::always(Reply::Echo),
    ]))
    .await
    .expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("run.jsonl");
    let writer = Arc::new(CassetteWriter::create(&path).expect("writer"));
    let recorder = Arc::new(RecordingProvider::new(
        Arc::new(openai(&server.base_url())),
        writer,
    ));

    // Four members in parallel, two turns each.
    let mut tasks = Vec::new();
    for m in ["ana", "bo", "cy", "dee"] {
        let recorder = recorder.clone();
        tasks.push(tokio::spawn(async move {
            let mut req = request("gpt-test", &format!("task for {m}"));
            let r1 = recorder.chat(&ctx(m, 1), &req).await.expect("turn 1");
            req.messages.push(ChatMessage::from_response(&r1));
            req.messages.push(ChatMessage::tool_result(
                &r1.tool_calls[0],
                format!("content for {m}"),
                false,
            ));
            let r2 = recorder.chat(&ctx(m, 2), &req).await.expect("turn 2");
            (m, req, r1, r2)
        }));
    }
    let mut recorded = Vec::new();
    for t in tasks {
        recorded.push(t.await.expect("join"));
    }
    let err = recorder
        .chat(&ctx("eve", 1), &request("broken", "x"))
        .await
        .expect_err("400");
    server.stop().await;

    let text = std::fs::read_to_string(&path).expect("cassette");
    assert_eq!(text.lines().count(), 9);
    assert!(!text.contains(KEY));
    assert!(!text.contains("latency"));

    // Replay in another order, through a registry in replay mode with no API key in the environment.
    let cassette = Arc::new(Cassette::load(&path).expect("load").strict(true));
    let configs = BTreeMap::from([(
        "scripted".to_string(),
        config(None, "http://127.0.0.1:9/v1", "SCRIPTED_KEY", 2),
    )]);
    let registry = ProviderRegistry::with_env(&configs, env(&[]))
        .expect("registry")
        .with_cassette(CassetteMode::Replay(cassette.clone()));
    let (replay, model) = registry
        .resolve("scripted/gpt-test")
        .expect("replay provider needs no key");
    assert_eq!(model, "gpt-test");
    for (m, req, r1, r2) in recorded.iter().rev() {
        let mut first = request("gpt-test", &format!("task for {m}"));
        first.model = model.clone();
        same_reply(
            &replay.chat(&ctx(m, 2), req).await.expect("replay turn 2"),
            r2,
        );
        same_reply(
            &replay
                .chat(&ctx(m, 1), &first)
                .await
                .expect("replay turn 1"),
            r1,
        );
        assert_eq!(
            r2.content.as_deref(),
            Some(format!("echo: content for {m}").as_str())
        );
    }
    let (broken, _) = registry.resolve("scripted/broken").expect("resolve");
    assert_eq!(
        broken
            .chat(&ctx("eve", 1), &request("broken", "x"))
            .await
            .expect_err("replayed error"),
        err
    );
    assert_eq!(cassette.remaining(), 0);

    // Each exchange is served once; a repeat is a clear miss.
    let again = replay
        .chat(&ctx("ana", 1), &request("gpt-test", "task for ana"))
        .await
        .expect_err("served already");
    assert!(again.to_string().contains("already served"), "{again}");
}

#[tokio::test]
async fn replay_miss_names_member_turn_and_cassette() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("empty.jsonl");
    std::fs::write(&path, "\n").expect("write");
    let replay = ReplayProvider::new("openai", Arc::new(Cassette::load(&path).expect("load")));
    let err = replay
        .chat(&ctx("zed", 7), &request("m", "x"))
        .await
        .expect_err("miss");
    let msg = err.to_string();
    assert!(matches!(err, ProviderError::CassetteMiss { turn: 7, .. }));
    assert!(
        msg.contains("zed") && msg.contains("turn 7") && msg.contains("empty.jsonl"),
        "{msg}"
    );

    std::fs::write(&path, "{not json}\n").expect("write");
    let err = Cassette::load(&path).expect_err("bad line");
    assert!(err.to_string().contains("line 1"), "{err}");
    assert!(Cassette::load(dir.path().join("missing.jsonl")).is_err());
}

#[tokio::test]
async fn api_key_never_appears_in_errors_or_debug_output() {
    // The server echoes the key it received into error bodies, as some real APIs do.
    let server = ScriptedServer::start(Script::from_fn(|req| {
        let seen = req
            .header("authorization")
            .or(req.header("x-api-key"))
            .unwrap_or("")
            .to_string();
        match req.model.as_str() {
            "m401" => Reply::error(
                401,
                format!(r#"{{"error":{{"message":"Incorrect API key provided: {seen}"}}}}"#),
            ),
            "m500" => Reply::error(500, format!("internal error for {seen}")),
            _ => Reply::error(200, format!("not json {seen}")),
        }
    }))
    .await
    .expect("server");
    let mut outputs = Vec::new();
    let oa = openai(&server.base_url());
    let an = anthropic(&server.anthropic_base_url());
    for model in ["m401", "m500", "garbage"] {
        for p in [&oa as &dyn Provider, &an as &dyn Provider] {
            let err = p
                .chat(&ctx("ana", 1), &request(model, "x"))
                .await
                .expect_err("error");
            outputs.push(err.to_string());
            outputs.push(format!("{err:?}"));
            outputs.push(serde_json::to_string(&err).expect("json"));
        }
    }
    let reqs = server.requests();
    assert!(
        reqs.iter().all(
            |r| r.header("authorization").is_some_and(|v| v.contains(KEY))
                || r.header("x-api-key") == Some(KEY)
        ),
        "the key was sent"
    );
    assert!(
        outputs.iter().any(|o| o.contains("[redacted]")),
        "echoed keys are scrubbed, not just absent"
    );

    // Transport error, Debug of providers, settings, registry and the key itself.
    let gone = OpenAiProvider::new(
        fast("gone", ProviderKind::OpenAi, "http://127.0.0.1:9/v1"),
        ApiKey::new(KEY),
    )
    .expect("provider");
    outputs.push(
        gone.chat(&ctx("ana", 1), &request("m", "x"))
            .await
            .expect_err("refused")
            .to_string(),
    );
    outputs.push(format!("{oa:?}"));
    outputs.push(format!("{an:?}"));
    outputs.push(format!("{:?}", ApiKey::new(KEY)));
    let configs = BTreeMap::from([(
        "s".to_string(),
        config(None, &server.base_url(), "S_KEY", 2),
    )]);
    let registry =
        ProviderRegistry::with_env(&configs, env(&[("S_KEY", KEY), ("OPENAI_API_KEY", "")]))
            .expect("registry");
    let (p, _) = registry.resolve("s/m").expect("resolve");
    outputs.push(
        p.chat(&ctx("ana", 1), &request("m401", "x"))
            .await
            .expect_err("401")
            .to_string(),
    );
    outputs.push(format!("{registry:?}"));
    outputs.push(
        registry
            .resolve("openai/gpt")
            .err()
            .expect("empty key is missing")
            .to_string(),
    );

    for o in &outputs {
        assert!(!o.contains(KEY), "key leaked in: {o}");
        assert!(!o.contains("TOPSECRET"), "part of the key leaked in: {o}");
    }
}
