//! The axum server and its handle.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::TestkitError;
use crate::request::{Protocol, ScriptRequest};
use crate::script::{NoMatch, Reply, Responder, Script};
use crate::wire;

struct Shared {
    script: Script,
    rule_uses: Mutex<Vec<usize>>,
    latency_ms: AtomicU64,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    count: AtomicUsize,
    seq: AtomicU64,
    /// Shared with the handler that answers each, so no request's JSON is copied (under a
    /// 200-request burst the copies were most of this server's CPU, which the orchestrator
    /// measured against it has to share).
    /// Empty when the script does not record ([`Script::with_record`]).
    requests: Mutex<Vec<Arc<ScriptRequest>>>,
    /// When each request arrived (since `started`), recorded or not.
    arrivals: Mutex<Vec<Duration>>,
    started: Instant,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in a responder closure must not wedge the server: take the data anyway.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Decrements the in-flight counter even when the client drops the connection mid-request.
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> Self {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
        Self(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running scripted LLM server on 127.0.0.1. Stops on [`ScriptedServer::stop`] or when dropped.
pub struct ScriptedServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ScriptedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedServer")
            .field("addr", &self.addr)
            .field("requests", &self.request_count())
            .finish()
    }
}

impl ScriptedServer {
    /// Binds 127.0.0.1 on a free port and serves `script` in a background tokio task.
    ///
    /// Errors: [`TestkitError::Bind`] when the socket cannot be bound.
    pub async fn start(script: impl Into<Script>) -> Result<Self, TestkitError> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), script).await
    }

    /// Like [`ScriptedServer::start`] on a given address (port 0 = any free port).
    ///
    /// Errors: [`TestkitError::Bind`] when the socket cannot be bound.
    pub async fn start_on(
        addr: SocketAddr,
        script: impl Into<Script>,
    ) -> Result<Self, TestkitError> {
        let script = script.into();
        let rules = match &script.responder {
            Responder::Rules(r) => r.len(),
            Responder::Func(_) => 0,
        };
        let shared = Arc::new(Shared {
            latency_ms: AtomicU64::new(script.latency_ms),
            script,
            rule_uses: Mutex::new(vec![0; rules]),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            count: AtomicUsize::new(0),
            seq: AtomicU64::new(0),
            requests: Mutex::new(Vec::new()),
            arrivals: Mutex::new(Vec::new()),
            started: Instant::now(),
        });
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| TestkitError::Bind(addr.to_string(), e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| TestkitError::Bind(addr.to_string(), e.to_string()))?;
        let app = Router::new()
            .route("/v1/chat/completions", post(openai))
            .route("/chat/completions", post(openai))
            .route("/v1/messages", post(anthropic))
            .route("/messages", post(anthropic))
            .route("/v1/responses", post(responses))
            .route("/responses", post(responses))
            // What `team doctor` asks to see whether a provider is reachable.
            .route("/v1/models", get(models))
            .route("/models", get(models))
            .fallback(|uri: Uri| async move {
                let body = format!(
                    r#"{{"error":{{"message":"scripted-llm: no route for {}; use POST /v1/chat/completions or /v1/messages"}}}}"#,
                    uri.path()
                );
                (StatusCode::NOT_FOUND, body)
            })
            .with_state(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                eprintln!("scripted-llm: server error: {e}");
            }
        });
        Ok(Self {
            addr,
            shared,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// Bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// OpenAI-compatible base URL: `http://127.0.0.1:PORT/v1` (POST `{base}/chat/completions`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Anthropic base URL: `http://127.0.0.1:PORT` (POST `{base}/v1/messages`).
    pub fn anthropic_base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in arrival order; empty when the script does not
    /// record them ([`Script::with_record`]).
    pub fn requests(&self) -> Vec<ScriptRequest> {
        lock(&self.shared.requests)
            .iter()
            .map(|r| ScriptRequest::clone(r))
            .collect()
    }

    /// When each request received so far arrived (its handler was entered, the body read),
    /// as time since the server started, in arrival order; kept whether or not the script
    /// records the requests.
    pub fn arrivals(&self) -> Vec<Duration> {
        lock(&self.shared.arrivals).clone()
    }

    /// Number of requests received so far.
    pub fn request_count(&self) -> usize {
        self.shared.count.load(Ordering::SeqCst)
    }

    /// Requests being served right now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// Highest number of requests served at the same time since start.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Changes the per-request latency (ms) for requests arriving from now on.
    pub fn set_latency_ms(&self, ms: u64) {
        self.shared.latency_ms.store(ms, Ordering::SeqCst);
    }

    /// Stops accepting connections and waits (up to 5 s) for open ones to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// `GET /models`: a fixed list of one model, `scripted` (the server answers any model name).
async fn models() -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        r#"{"object":"list","data":[{"id":"scripted","object":"model","owned_by":"team-testkit"}]}"#,
    )
        .into_response()
}

async fn openai(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(shared, Protocol::OpenAi, uri, headers, body).await
}

async fn anthropic(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(shared, Protocol::Anthropic, uri, headers, body).await
}

async fn responses(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(shared, Protocol::Responses, uri, headers, body).await
}

async fn handle(
    shared: Arc<Shared>,
    protocol: Protocol,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received_at = Instant::now();
    // A CPU-hungry server spends this before its handler counts the request in flight (an
    // interpreted framework parses and routes it first).
    burn_cpu(Duration::from_micros(shared.script.cpu_us));
    let _guard = InFlight::enter(&shared);
    shared.count.fetch_add(1, Ordering::SeqCst);
    let seq = shared.seq.fetch_add(1, Ordering::SeqCst) + 1;
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let (req, valid_json) = ScriptRequest::from_body(
        protocol,
        uri.path().to_string(),
        headers,
        body,
        received_at,
        received_at.saturating_duration_since(shared.started),
    );
    let req = Arc::new(req);
    lock(&shared.arrivals).push(req.received_after);
    if shared.script.record {
        lock(&shared.requests).push(req.clone());
    }

    let chosen = choose(&shared, &req);
    let delay = chosen
        .as_ref()
        .and_then(|(_, d)| *d)
        .unwrap_or_else(|| shared.latency_ms.load(Ordering::SeqCst));
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if !valid_json {
        let msg = r#"{"error":{"message":"scripted-llm: request body is not valid JSON","type":"invalid_request_error"}}"#;
        return (StatusCode::BAD_REQUEST, msg).into_response();
    }
    let quirks = &shared.script.quirks;
    if let Some(refusal) = quirks.refuse(&req) {
        return refusal;
    }
    match chosen {
        Some((reply, _)) => wire::render(&req, &quirks.shape(&req, reply), seq),
        None => match shared.script.on_no_match {
            NoMatch::Echo => wire::render(&req, &quirks.shape(&req, Reply::Echo), seq),
            NoMatch::Error400 => wire::no_match(&req),
        },
    }
}

/// Spends `cost` of this thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`, so time the thread
/// is not scheduled does not count) in a busy loop; nothing for zero.
fn burn_cpu(cost: Duration) {
    use nix::time::{ClockId, clock_gettime};
    if cost.is_zero() {
        return;
    }
    let cpu = || {
        clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
            .ok()
            .map(Duration::from)
    };
    let Some(start) = cpu() else { return };
    let mut x = 1u64;
    while cpu().is_some_and(|now| now.saturating_sub(start) < cost) {
        for _ in 0..256 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        }
        std::hint::black_box(x);
    }
}

/// Picks the reply (sequences resolved) and the rule's delay, or None when no rule matches.
fn choose(shared: &Shared, req: &ScriptRequest) -> Option<(Reply, Option<u64>)> {
    match &shared.script.responder {
        Responder::Func(f) => {
            let reply = f(req);
            Some((reply.resolve(0).clone(), None))
        }
        Responder::Rules(rules) => {
            let mut uses = lock(&shared.rule_uses);
            for (i, rule) in rules.iter().enumerate() {
                if rule.times.is_some_and(|t| uses[i] >= t) || !rule.when.matches(req) {
                    continue;
                }
                let n = uses[i];
                uses[i] += 1;
                return Some((rule.reply.resolve(n).clone(), rule.delay_ms));
            }
            None
        }
    }
}
