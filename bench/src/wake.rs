//! Message wake-up latency: a message is sent to an idle persistent LLM member; how long until
//! that member runs again (its next model request reaches the scripted server)?
//!
//! Both benchmarks share one set-up ([`Echo`]): an engine in this process runs one persistent
//! LLM member, `echo`, whose model is an in-process scripted server that timestamps each
//! request carrying `probe k.` as it arrives. Before each probe the member is seen idle (its
//! turn ended and was recorded) and a random wait follows, so the probe lands at an arbitrary
//! moment of its idleness (and of the poller's cycle).
//!
//! - [`local`]: the sender is in the same process: [`Engine::send_message`], the path the
//!   `send_message` tool and the workflows' lead use (the store's send transaction on the
//!   blocking pool, then the in-process wake). **latency** = arrival − the instant before the
//!   call (the send's transaction included: an upper bound of "send → runs"); also reported
//!   from the call's return, after the commit (a lower bound).
//! - [`send`]: `team send` from another process, which only writes the message; the runner
//!   notices it through its poller (and, on PostgreSQL, `LISTEN`). **latency** = arrival −
//!   the message's `created_at_ms` (stamped in the sender's transaction before its commit, ms
//!   resolution, so up to 1 ms too high); also reported from the exit of the `team send`
//!   process (a lower bound).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use team_core::{AgentName, MemberStatus, Message, MessageKind, Team};
use team_runner::{Engine, EngineOptions, StopReason};
use team_store::{NewMember, Recipient, Store};
use team_testkit::{Reply, Script, ScriptedServer};
use tokio::task::JoinHandle;

use crate::common::{Db, Jitter, Project, create_team, summarize, wait_status, wall_us};

/// Settings of [`local`].
#[derive(Debug, Clone, clap::Args)]
pub struct LocalArgs {
    /// `sqlite` or a postgres:// URL (a fresh schema is created and dropped).
    #[arg(long, default_value = "sqlite")]
    pub db: String,
    /// Messages sent.
    #[arg(long, default_value_t = 200)]
    pub samples: usize,
    /// Random wait before each send, uniform in [0, jitter-ms), after the member went idle.
    #[arg(long, default_value_t = 20)]
    pub jitter_ms: u64,
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
    /// Random wait before each send, uniform in [0, jitter-ms), after the member went idle.
    #[arg(long, default_value_t = 100)]
    pub jitter_ms: u64,
}

/// The member that is woken.
const ECHO: &str = "echo";

/// The number `k` of `probe k.` in `text`.
fn probe_number(text: &str) -> Option<u64> {
    let at = text.rfind("probe ")?;
    let digits: String = text[at + 6..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// `b - a` in ms, negative when `b` came first.
fn signed_ms(a: Instant, b: Instant) -> f64 {
    b.saturating_duration_since(a).as_secs_f64() * 1e3
        - a.saturating_duration_since(b).as_secs_f64() * 1e3
}

/// When each probe reached the server: (monotonic, wall µs), by probe number.
type Arrivals = Arc<Mutex<HashMap<u64, (Instant, i64)>>>;

/// The shared set-up: a project, its database, the scripted server, and an engine running
/// the idle persistent member [`ECHO`] in team `wake`.
struct Echo {
    project: Project,
    db: Db,
    server: ScriptedServer,
    arrivals: Arrivals,
    store: Store,
    engine: Engine,
    serving: JoinHandle<StopReason>,
    team: Team,
    jitter: Jitter,
}

impl Echo {
    async fn start(db: &str) -> Result<Echo> {
        let project = Project::new()?;
        let db = Db::new(db, &project.root)?;
        let arrivals: Arrivals = Arc::default();
        let seen = arrivals.clone();
        let server = ScriptedServer::start(Script::from_fn(move |req| {
            match probe_number(req.last_user_or_tool_text()) {
                Some(k) => {
                    // The instant the request reached the server, before it was parsed: a
                    // long conversation takes the scripted server a while to parse, which
                    // is not the member's wake-up.
                    let since = req.received_at.elapsed().as_micros() as i64;
                    seen.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(k, (req.received_at, wall_us() - since));
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
        project.agent(ECHO, "model: mock/bench", "You answer in one word.")?;
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
        let team = create_team(&store, "wake", &project.root)?;
        store.add_member(
            &team.id,
            &NewMember {
                agent: AgentName::new(ECHO)?,
                prompt: Some("init".to_owned()),
                persistent: true,
                timeout_secs: None,
                status: MemberStatus::Pending,
                runner_id: None,
            },
        )?;
        engine.notify_queued();
        Ok(Echo {
            project,
            db,
            server,
            arrivals,
            store,
            engine,
            serving,
            team,
            jitter: Jitter::new(0x5eed ^ u64::from(std::process::id())),
        })
    }

    /// Waits until the member is idle, then a random time below `jitter`.
    async fn settle(&mut self, jitter: Duration) -> Result<()> {
        wait_status(
            &self.store,
            &self.team.id,
            ECHO,
            MemberStatus::Idle,
            Duration::from_millis(2),
            Duration::from_secs(30),
        )
        .await?;
        tokio::time::sleep(self.jitter.below(jitter)).await;
        Ok(())
    }

    /// When probe `k` reached the server (monotonic); fails after 10 s.
    async fn arrival(&self, k: u64) -> Result<Instant> {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(a) = self
                .arrivals
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&k)
            {
                return Ok(a.0);
            }
            if Instant::now() > until {
                bail!("probe {k} did not wake the member within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Waits for the last turn to end, stops everything, and returns the messages sent to
    /// the member and the probes' arrivals.
    async fn finish(
        mut self,
    ) -> Result<(Vec<Message>, HashMap<u64, (Instant, i64)>, &'static str)> {
        self.settle(Duration::ZERO).await?;
        let messages = self.store.list_messages(&self.team.id)?;
        self.engine.shutdown_token().cancel();
        self.engine.stop().await;
        let _ = self.serving.await;
        self.server.stop().await;
        let arrivals = self
            .arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let to_echo = messages
            .into_iter()
            .filter(|m| m.recipient == ECHO)
            .collect();
        Ok((to_echo, arrivals, self.db.backend()))
    }
}

/// In-process wake-up latency (see the module docs).
///
/// # Errors
/// Setup failures, a failing send, or a probe that never wakes the member.
pub async fn local(args: &LocalArgs) -> Result<Value> {
    let mut echo = Echo::start(&args.db).await?;
    let mut from_call = Vec::new();
    let mut from_return = Vec::new();
    let mut send_call = Vec::new();
    for k in 1..=args.samples as u64 {
        echo.settle(Duration::from_millis(args.jitter_ms)).await?;
        let called = Instant::now();
        let sent = echo
            .engine
            .send_message(
                &echo.team.id,
                team_core::LEAD_ALIAS,
                Recipient::Member(ECHO.to_owned()),
                MessageKind::Text,
                &format!("probe {k}."),
            )
            .await
            .with_context(|| format!("send probe {k}"))?;
        let returned = Instant::now();
        if sent.len() != 1 {
            bail!("probe {k} made {} deliveries, expected 1", sent.len());
        }
        let arrived = echo.arrival(k).await?;
        from_call.push(signed_ms(called, arrived));
        from_return.push(signed_ms(returned, arrived));
        send_call.push(signed_ms(called, returned));
    }
    let (_, _, backend) = echo.finish().await?;
    Ok(json!({
        "benchmark": "wake_local",
        "backend": backend,
        "samples": args.samples,
        "jitter_ms": args.jitter_ms,
        "latency_ms": summarize(&from_call),
        "from_return_ms": summarize(&from_return),
        "send_call_ms": summarize(&send_call),
    }))
}

/// `team send` from another process (see the module docs).
///
/// # Errors
/// Setup failures, a failing `team send`, or a probe that never wakes the member.
pub async fn send(args: &SendArgs) -> Result<Value> {
    let mut echo = Echo::start(&args.db).await?;
    let mut from_exit = Vec::new();
    let mut send_process = Vec::new();
    for k in 1..=args.samples as u64 {
        echo.settle(Duration::from_millis(args.jitter_ms)).await?;
        let mut cmd = echo.project.team(&args.team_bin);
        cmd.args([
            "--db",
            echo.db.url(),
            "send",
            &echo.team.name,
            "--from",
            "lead",
        ])
        .args(["--to", ECHO, &format!("probe {k}.")])
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
        let arrived = echo.arrival(k).await?;
        from_exit.push(signed_ms(exited, arrived));
    }
    let (messages, arrivals, backend) = echo.finish().await?;
    let mut from_commit = Vec::new();
    for m in &messages {
        if let Some(k) = probe_number(&m.body)
            && let Some((_, wall)) = arrivals.get(&k)
        {
            from_commit.push(*wall as f64 / 1e3 - m.created_at_ms as f64);
        }
    }
    Ok(json!({
        "benchmark": "wake_send",
        "backend": backend,
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
    fn probe_numbers_are_parsed_exactly() {
        assert_eq!(
            probe_number("[message from lead (text)]\nprobe 7.\n"),
            Some(7)
        );
        assert_eq!(probe_number("probe 12."), Some(12));
        assert_eq!(probe_number("nothing"), None);
    }
}
