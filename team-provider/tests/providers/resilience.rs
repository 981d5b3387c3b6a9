//! Retries, Retry-After, the shared rate-limit gate, timeouts and connection errors.

use crate::common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use team_provider::{OpenAiProvider, Provider, ProviderError, ProviderKind, ProviderRegistry};
use team_testkit::{Matcher, Reply, Rule, Script, ScriptedServer};

#[tokio::test]
async fn retry_after_429_then_success_waits_at_least_retry_after() {
    let server = ScriptedServer::start(Script::rules(vec![Rule::always(Reply::first_then(
        Reply::error_retry_after(429, r#"{"error":{"message":"slow down"}}"#, "1"),
        1,
        Reply::text("finally"),
    ))]))
    .await
    .expect("server");
    let p = openai(&server.base_url());
    let start = Instant::now();
    let r = p
        .chat(&ctx("ana", 1), &request("m", "hi"))
        .await
        .expect("retried to success");
    let waited = start.elapsed();
    assert_eq!(r.content.as_deref(), Some("finally"));
    assert_eq!(r.attempts, 2);
    assert_eq!(server.request_count(), 2);
    assert!(
        waited >= Duration::from_secs(1),
        "waited only {waited:?} despite Retry-After: 1"
    );
    assert!(
        r.latency >= Duration::from_secs(1),
        "latency covers the whole call"
    );
}

#[tokio::test]
async fn retry_after_http_date_is_honoured() {
    let server = ScriptedServer::start(Script::from_fn({
        let first = std::sync::atomic::AtomicBool::new(true);
        move |_| {
            if first.swap(false, std::sync::atomic::Ordering::SeqCst) {
                // HTTP dates have 1 s resolution: 3 s ahead is at least 2 s of wait.
                let at = std::time::SystemTime::now() + Duration::from_secs(3);
                Reply::error_retry_after(503, "busy", httpdate::fmt_http_date(at))
            } else {
                Reply::text("ok")
            }
        }
    }))
    .await
    .expect("server");
    let start = Instant::now();
    let r = openai(&server.base_url())
        .chat(&ctx("ana", 1), &request("m", "hi"))
        .await
        .expect("ok");
    assert_eq!(r.attempts, 2);
    assert!(
        start.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn server_error_forever_fails_after_max_retries_with_clear_error() {
    let body = format!("upstream exploded: {}", "x".repeat(2000));
    let server = ScriptedServer::start(Script::rules(vec![Rule::always(Reply::error(500, body))]))
        .await
        .expect("server");
    let p = openai(&server.base_url()); // max_retries = 3
    let (result, facts) =
        team_provider::chat_with_facts(&p, &ctx("bo", 4), &request("m", "hi")).await;
    let err = result.expect_err("500 forever");
    match &err {
        ProviderError::Http {
            provider,
            member,
            status,
            attempts,
            body_excerpt,
        } => {
            assert_eq!(
                (provider.as_str(), member.as_str(), *status, *attempts),
                ("scripted", "bo", 500, 4)
            );
            assert!(body_excerpt.starts_with("upstream exploded"));
            assert!(body_excerpt.chars().count() <= 501, "excerpt is capped");
        }
        other => panic!("unexpected error {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("scripted")
            && msg.contains("500")
            && msg.contains("bo")
            && msg.contains("upstream exploded"),
        "{msg}"
    );
    assert!(msg.len() < 1000, "message stays short: {}", msg.len());
    assert_eq!(server.request_count(), 4, "1 attempt + max_retries");
    assert_eq!(
        (facts.status.as_str(), facts.http_status, facts.attempts),
        ("http", Some(500), 4)
    );
}

#[tokio::test]
async fn gate_caps_requests_in_flight_across_members() {
    let server = ScriptedServer::start(
        Script::rules(vec![Rule::always(Reply::text("ok"))]).with_latency_ms(150),
    )
    .await
    .expect("server");
    let configs = BTreeMap::from([("local".to_string(), config(None, &server.base_url(), "", 3))]);
    let registry = Arc::new(ProviderRegistry::with_env(&configs, env(&[])).expect("registry"));
    let mut tasks = Vec::new();
    for i in 0..10 {
        let registry = registry.clone();
        tasks.push(tokio::spawn(async move {
            let (p, model) = registry.resolve("local/some-model").expect("resolve");
            p.chat(&ctx(&format!("member-{i}"), 1), &request(&model, "hi"))
                .await
        }));
    }
    for t in tasks {
        t.await.expect("join").expect("call");
    }
    assert_eq!(server.request_count(), 10);
    let max = server.max_in_flight();
    assert!(
        max <= 3,
        "max in flight {max} exceeds max_concurrent_requests = 3"
    );
    assert!(
        max >= 2,
        "10 concurrent calls should overlap (max in flight {max})"
    );
}

#[tokio::test]
async fn retry_after_429_pauses_every_caller_of_the_provider() {
    let server = ScriptedServer::start(Script::rules(vec![Rule::always(Reply::first_then(
        Reply::error_retry_after(429, r#"{"error":{"message":"rate limited"}}"#, "1"),
        1,
        Reply::text("ok"),
    ))]))
    .await
    .expect("server");
    let p: Arc<OpenAiProvider> = Arc::new(openai(&server.base_url()));
    let first = {
        let p = p.clone();
        tokio::spawn(async move { p.chat(&ctx("first", 1), &request("m", "hi")).await })
    };
    // Let the first call receive its 429 (the scripted server answers at once), then start others.
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.request_count() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut others = Vec::new();
    for i in 0..4 {
        let p = p.clone();
        others.push(tokio::spawn(async move {
            p.chat(&ctx(&format!("other-{i}"), 1), &request("m", "hi"))
                .await
        }));
    }
    first
        .await
        .expect("join")
        .expect("first call retried to success");
    for o in others {
        let r = o.await.expect("join").expect("other call");
        assert_eq!(
            r.attempts, 1,
            "the others waited instead of hitting the 429"
        );
    }
    let reqs = server.requests();
    assert_eq!(reqs.len(), 6);
    let t429 = reqs[0].received_after;
    for r in &reqs[1..] {
        let gap = r.received_after.saturating_sub(t429);
        assert!(
            gap >= Duration::from_millis(950),
            "a request went out {gap:?} after the 429, inside the Retry-After pause"
        );
    }
}

#[tokio::test]
async fn timeouts_and_connection_errors_are_retried_then_reported() {
    // A request that takes longer than request_timeout_secs.
    let server = ScriptedServer::start(Script::rules(vec![
        Rule::always(Reply::text("late")).delay_ms(3000),
    ]))
    .await
    .expect("server");
    let mut s = fast("slow", ProviderKind::OpenAi, &server.base_url());
    s.request_timeout_secs = 1;
    s.max_retries = 1;
    let p = OpenAiProvider::new(s, None).expect("provider");
    let err = p
        .chat(&ctx("cy", 2), &request("m", "hi"))
        .await
        .expect_err("timeout");
    assert!(
        matches!(
            err,
            ProviderError::Transport {
                timed_out: true,
                attempts: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("slow") && err.to_string().contains("cy"),
        "{err}"
    );

    // Nothing listens on this port any more.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut s = fast(
        "gone",
        ProviderKind::OpenAi,
        &format!("http://127.0.0.1:{port}/v1"),
    );
    s.max_retries = 2;
    let p = OpenAiProvider::new(s, None).expect("provider");
    let err = p
        .chat(&ctx("cy", 3), &request("m", "hi"))
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err,
            ProviderError::Transport {
                timed_out: false,
                attempts: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
}

#[tokio::test]
async fn retry_after_longer_than_limit_fails_at_once() {
    let server = ScriptedServer::start(Script::rules(vec![Rule::when(
        Matcher::default(),
        Reply::error_retry_after(429, "quota", "86400"),
    )]))
    .await
    .expect("server");
    let mut s = fast("limited", ProviderKind::OpenAi, &server.base_url());
    s.max_retry_after_secs = 60;
    let p = OpenAiProvider::new(s, None).expect("provider");
    let start = Instant::now();
    let err = p
        .chat(&ctx("dee", 1), &request("m", "hi"))
        .await
        .expect_err("too long");
    assert!(start.elapsed() < Duration::from_secs(30));
    assert!(
        matches!(
            err,
            ProviderError::RateLimited {
                retry_after_secs: 86400,
                limit_secs: 60,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("max_retry_after_secs"));
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn a_redirect_is_reported_with_its_target_not_followed() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A server that moved: every request gets a 307 to another address.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}/v1", listener.local_addr().expect("addr"));
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let mut buf = vec![0u8; 64 * 1024];
            let _ = sock.read(&mut buf).await;
            let _ = sock
                .write_all(
                    b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:1/elsewhere\r\n\
                      Content-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
        }
    });
    // `request` offers a tool: its body goes out in pieces.
    let err = openai(&base)
        .chat(&ctx("mo", 1), &request("m", "hi"))
        .await
        .expect_err("307");
    match &err {
        ProviderError::Http {
            status,
            attempts,
            body_excerpt,
            ..
        } => {
            assert_eq!((*status, *attempts), (307, 1), "not retried");
            assert!(
                body_excerpt.contains("redirected to http://127.0.0.1:1/elsewhere")
                    && body_excerpt.contains("base_url"),
                "{body_excerpt}"
            );
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert_eq!(
        served.load(Ordering::SeqCst),
        1,
        "the redirect is not followed"
    );
}
