//! Message wake-up latency: a message is sent to an idle persistent LLM member; how long until
//! that member runs again (its next model request reaches the scripted server)?
//!
//! - [`local`]: in one process. Pairs of persistent LLM members (`ping`, `pong`, one pair per
//!   team) play ping-pong with the `send_message` tool, which wakes an in-process recipient at
//!   once (`wake_recipients`). Every request is timestamped by the in-process server; for
//!   message `n` (sent by X to Y):
//!   - **latency** = Y's first request of its new turn − X's request right after its
//!     `send_message` tool returned. Both are one HTTP hop after an event, so the hop cancels:
//!     what is left is the wake-up path (notify, inbox take, slot, idle → running) minus the
//!     one event append X does before its request.
//!   - **upper bound** = Y's first request − the moment X's model reply asking for the send
//!     left the server: adds X's HTTP reply, its parse and the `send_message` transaction.
//!
//!   The reply that asks for a send is held for a short delay (`--gap-ms`), so the recipient
//!   has finished its previous turn and is idle when the message lands (otherwise we would
//!   time the end of its turn, not a wake-up).
//! - [`send`]: `team send` from another process. One idle persistent LLM member in this
//!   process's engine; the `team` binary sends it a message at a random moment (uniform in
//!   `[0, --jitter-ms)` after it went idle, so the poller's phase is sampled fairly).
//!   **latency** = the member's next request reaching the server − the message's
//!   `created_at_ms` (the sender's commit, ms resolution, so up to 1 ms too high); also
//!   reported from the exit of the `team send` process (a lower bound).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use team_core::{AgentName, MemberStatus, MessageKind};
use team_runner::{Engine, EngineOptions};
use team_store::{NewMember, Outgoing, Recipient, Store};
use team_testkit::{Matcher, Reply, Rule, Script, ScriptRequest, ScriptedServer};

use crate::common::{Db, Jitter, Project, create_team, summarize, wait_status, wall_us};

/// Settings of [`local`].
#[derive(Debug, Clone, clap::Args)]
pub struct LocalArgs {
    /// `sqlite` or a postgres:// URL (a fresh schema is created and dropped).
    #[arg(long, default_value = "sqlite")]
    pub db: String,
    /// Pairs of members, one after the other, each in its own team.
    #[arg(long, default_value_t = 4)]
    pub pairs: usize,
    /// Messages per pair (samples = pairs × rounds).
    #[arg(long, default_value_t = 50)]
    pub rounds: usize,
    /// Delay of the model reply that asks for a send, in ms (lets the recipient go idle).
    #[arg(long, default_value_t = 20)]
    pub gap_ms: u64,
}

/// Settings of [`send`].
#[derive(Debug, Clone, clap::Args)]
pub struct SendArgs {
    /// `sqlite` or a postgres:// URL (a fresh schema is created and dropped).
    #[arg(long, default_value = "sqlite")]
    pub db: String,
    /// The `team` binary that sends.
    #[arg(long)]
    pub team_bin: PathBuf,
    /// Messages sent.
    #[arg(long, default_value_t = 100)]
    pub samples: usize,
    /// Random wait before each send, uniform in [0, jitter-ms).
    #[arg(long, default_value_t = 100)]
    pub jitter_ms: u64,
}

const PING: &str = "ping";
const PONG: &str = "pong";

fn member(agent: &str, prompt: &str) -> Result<NewMember> {
    Ok(NewMember {
        agent: AgentName::new(agent)?,
        prompt: Some(prompt.to_owned()),
        persistent: true,
        timeout_secs: None,
        status: MemberStatus::Pending,
        runner_id: None,
    })
}

/// The number `n` of the last `ping n.` in `text`.
fn ping_number(text: &str) -> Option<u64> {
    let at = text.rfind("ping ")?;
    let rest = &text[at + 5..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if rest[digits.len()..].starts_with('.') {
        digits.parse().ok()
    } else {
        None
    }
}

/// The rules of the ping-pong: pair `p` plays messages `start(p)..=start(p)+rounds`.
fn ping_pong_script(args: &LocalArgs) -> Script {
    let mut rules = vec![
        // The request after a send_message tool call: end the turn.
        Rule::when(
            Matcher::last_message_contains("delivered_to"),
            Reply::text("sent"),
        ),
        Rule::when(Matcher::last_message_contains("init"), Reply::text("ready")),
    ];
    for p in 0..args.pairs {
        let start = start_of(p, args.rounds);
        for n in start..start + args.rounds as u64 {
            // `ping start.` goes to PING; replies alternate.
            let to = if (n - start).is_multiple_of(2) {
                PONG
            } else {
                PING
            };
            let body = json!({"to": to, "body": format!("ping {}.", n + 1)}).to_string();
            rules.push(
                Rule::when(
                    Matcher::last_message_contains(format!("ping {n}.")),
                    Reply::tool_call("send_message", body),
                )
                .delay_ms(args.gap_ms),
            );
        }
        let last = start + args.rounds as u64;
        rules.push(Rule::when(
            Matcher::last_message_contains(format!("ping {last}.")),
            Reply::text("done"),
        ));
    }
    Script::rules(rules)
}

/// First message number of pair `p`.
fn start_of(p: usize, rounds: usize) -> u64 {
    (p * (rounds + 10)) as u64 + 1
}

/// Timestamps (since the server started) by message number, from the recorded requests.
#[derive(Default)]
struct Times {
    /// First request of the turn woken by message n.
    woken: BTreeMap<u64, Duration>,
    /// The sender's request right after its send_message(n) returned.
    after_send: BTreeMap<u64, Duration>,
}

fn times(reqs: &[ScriptRequest]) -> Times {
    let mut t = Times::default();
    for r in reqs {
        let Some(last) = r.messages.last() else {
            continue;
        };
        if last.role == "tool" {
            let asked = r
                .messages
                .iter()
                .rev()
                .find(|m| m.role == "user")
                .and_then(|m| ping_number(&m.text));
            if let Some(n) = asked {
                t.after_send.insert(n + 1, r.received_after);
            }
        } else if last.role == "user"
            && let Some(n) = ping_number(&last.text)
        {
            t.woken.insert(n, r.received_after);
        }
    }
    t
}

/// In-process wake-up latency (see the module docs).
///
/// # Errors
/// Setup failures, a member that fails, or a pair that does not finish within a minute.
pub async fn local(args: &LocalArgs) -> Result<Value> {
    let project = Project::new()?;
    let db = Db::new(&args.db, &project.root)?;
    let server = ScriptedServer::start(ping_pong_script(args)).await?;
    let config = project.config(
        &server.base_url(),
        "max_agents = 16\nmember_timeout_secs = 3600",
        64,
    )?;
    for a in [PING, PONG] {
        project.agent(a, "model: mock/bench", "You answer in one word.")?;
    }
    let store = Store::open(db.url())?;
    let (_, runtime) = project.runtime(&config)?;
    let mut opts = EngineOptions::new(project.root.clone(), db.url().to_owned());
    opts.max_agents = 16;
    opts.member_timeout = Duration::from_secs(3600);
    let engine = Engine::start(store.clone(), runtime, opts).await?;
    let serving = {
        let e = engine.clone();
        tokio::spawn(async move { e.serve().await })
    };
    let started = Instant::now();
    for p in 0..args.pairs {
        let team = create_team(&store, &format!("wake-{p}"), &project.root)?;
        for a in [PING, PONG] {
            store.add_member(&team.id, &member(a, "init")?)?;
        }
        engine.notify_queued();
        for a in [PING, PONG] {
            wait_status(
                &store,
                &team.id,
                a,
                MemberStatus::Idle,
                Duration::from_millis(5),
                Duration::from_secs(30),
            )
            .await?;
        }
        let start = start_of(p, args.rounds);
        let last = start + args.rounds as u64;
        store.send_message(
            &team.id,
            &Outgoing {
                from: team_core::LEAD_ALIAS,
                to: Recipient::Member(PING.into()),
                kind: MessageKind::Text,
                body: &format!("ping {start}."),
            },
        )?;
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let done = server.requests().iter().any(|r| {
                r.messages
                    .last()
                    .is_some_and(|m| m.role == "user" && ping_number(&m.text) == Some(last))
            });
            if done {
                break;
            }
            if Instant::now() > until {
                let members = store.list_members(&team.id)?;
                bail!(
                    "pair {p} did not finish its {} rounds within 60 s; members: {:?}",
                    args.rounds,
                    members
                        .iter()
                        .map(|m| (m.name.clone(), m.status, m.error.clone()))
                        .collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // End the pair so the next one runs alone.
        store.end_team(
            &team.id,
            team_core::TeamEvent::Complete,
            "benchmark pair done",
        )?;
    }
    let elapsed = started.elapsed();
    engine.shutdown_token().cancel();
    engine.stop().await;
    let _ = serving.await;
    let reqs = server.requests();
    server.stop().await;

    let t = times(&reqs);
    let gap = Duration::from_millis(args.gap_ms);
    let mut latency = Vec::new();
    let mut upper = Vec::new();
    for (n, woke) in &t.woken {
        let Some(after) = t.after_send.get(n) else {
            continue; // the kick-off from the lead (through the poller): not a sample
        };
        latency.push(ms_between(*after, *woke));
        if let Some(asked) = t.woken.get(&(n - 1)) {
            upper.push(ms_between(*asked + gap, *woke));
        }
    }
    if latency.len() < args.pairs * args.rounds / 2 {
        bail!(
            "only {} samples out of {} messages: the ping-pong did not run as scripted",
            latency.len(),
            args.pairs * args.rounds
        );
    }
    Ok(json!({
        "benchmark": "wake_local",
        "backend": db.backend(),
        "pairs": args.pairs,
        "rounds": args.rounds,
        "gap_ms": args.gap_ms,
        "requests": reqs.len(),
        "elapsed_s": elapsed.as_secs_f64(),
        "latency_ms": summarize(&latency),
        "upper_bound_ms": summarize(&upper),
    }))
}

/// `b - a` in ms (negative when b is earlier).
fn ms_between(a: Duration, b: Duration) -> f64 {
    b.as_secs_f64() * 1e3 - a.as_secs_f64() * 1e3
}

/// `b - a` in ms, negative when `b` came first.
fn signed_ms(a: Instant, b: Instant) -> f64 {
    b.saturating_duration_since(a).as_secs_f64() * 1e3
        - a.saturating_duration_since(b).as_secs_f64() * 1e3
}

/// The number `k` of `probe k.` in `text`.
fn probe_number(text: &str) -> Option<u64> {
    let at = text.rfind("probe ")?;
    let digits: String = text[at + 6..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// `team send` from another process (see the module docs).
///
/// # Errors
/// Setup failures, a failing `team send`, or a probe that never wakes the member.
pub async fn send(args: &SendArgs) -> Result<Value> {
    let project = Project::new()?;
    let db = Db::new(&args.db, &project.root)?;
    // Arrival of each probe at the server: (monotonic, wall µs).
    let arrivals: Arc<Mutex<HashMap<u64, (Instant, i64)>>> = Arc::default();
    let seen = arrivals.clone();
    let server = ScriptedServer::start(Script::from_fn(move |req| {
        match probe_number(req.last_user_or_tool_text()) {
            Some(k) => {
                seen.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(k, (Instant::now(), wall_us()));
                Reply::text("ok")
            }
            None => Reply::text("ready"),
        }
    }))
    .await?;
    let config = project.config(
        &server.base_url(),
        "max_agents = 4\nmember_timeout_secs = 3600",
        16,
    )?;
    project.agent("echo", "model: mock/bench", "You answer in one word.")?;
    let store = Store::open(db.url())?;
    let (_, runtime) = project.runtime(&config)?;
    let mut opts = EngineOptions::new(project.root.clone(), db.url().to_owned());
    opts.max_agents = 4;
    opts.member_timeout = Duration::from_secs(3600);
    let engine = Engine::start(store.clone(), runtime, opts).await?;
    let serving = {
        let e = engine.clone();
        tokio::spawn(async move { e.serve().await })
    };
    let team = create_team(&store, "wake-send", &project.root)?;
    store.add_member(&team.id, &member("echo", "init")?)?;
    engine.notify_queued();

    let mut jitter = Jitter::new(0x5eed ^ u64::from(std::process::id()));
    let mut from_exit = Vec::new();
    let mut send_process = Vec::new();
    for k in 1..=args.samples as u64 {
        wait_status(
            &store,
            &team.id,
            "echo",
            MemberStatus::Idle,
            Duration::from_millis(2),
            Duration::from_secs(30),
        )
        .await?;
        tokio::time::sleep(jitter.below(Duration::from_millis(args.jitter_ms))).await;
        let mut cmd = project.team(&args.team_bin);
        cmd.args(["--db", db.url(), "send", &team.name, "--from", "lead"])
            .args(["--to", "echo", &format!("probe {k}.")])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let spawned = Instant::now();
        let out = tokio::process::Command::from(cmd)
            .output()
            .await
            .context("run team send")?;
        let exited = Instant::now();
        if !out.status.success() {
            bail!(
                "team send failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        send_process.push(signed_ms(spawned, exited));
        let until = Instant::now() + Duration::from_secs(10);
        let arrived = loop {
            if let Some(a) = arrivals.lock().unwrap_or_else(|e| e.into_inner()).get(&k) {
                break a.0;
            }
            if Instant::now() > until {
                bail!("probe {k} did not wake the member within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        from_exit.push(signed_ms(exited, arrived));
    }
    // Wait for the last turn to end before stopping.
    wait_status(
        &store,
        &team.id,
        "echo",
        MemberStatus::Idle,
        Duration::from_millis(5),
        Duration::from_secs(30),
    )
    .await?;
    let messages = store.list_messages(&team.id)?;
    engine.shutdown_token().cancel();
    engine.stop().await;
    let _ = serving.await;
    server.stop().await;

    let arrivals = arrivals.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut from_commit = Vec::new();
    for m in messages.iter().filter(|m| m.recipient == "echo") {
        if let Some(k) = probe_number(&m.body)
            && let Some((_, wall)) = arrivals.get(&k)
        {
            from_commit.push(*wall as f64 / 1e3 - m.created_at_ms as f64);
        }
    }
    Ok(json!({
        "benchmark": "wake_send",
        "backend": db.backend(),
        "samples": args.samples,
        "jitter_ms": args.jitter_ms,
        "latency_ms": summarize(&from_commit),
        "from_exit_ms": summarize(&from_exit),
        "team_send_process_ms": summarize(&send_process),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_parsed_exactly() {
        assert_eq!(
            ping_number("[message from pong (text)]\nping 12.\n"),
            Some(12)
        );
        assert_eq!(ping_number("ping 12"), None);
        assert_eq!(ping_number("nothing"), None);
        assert_eq!(
            probe_number("[message from lead (text)]\nprobe 7.\n"),
            Some(7)
        );
    }

    #[test]
    fn a_rule_matches_its_own_number_only() {
        // `ping 1.` must not match the text of `ping 11.`.
        assert!(!"ping 11.".contains("ping 1."));
        assert_eq!(start_of(0, 50), 1);
        assert_eq!(start_of(1, 50), 61);
    }
}
