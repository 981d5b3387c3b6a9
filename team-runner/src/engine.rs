//! The engine of one runner process.
//!
//! Tasks (all on one tokio runtime; state is owned, tasks talk through tokens and `Notify`):
//! - the **dispatcher** ([`Engine::serve`]): takes a slot of the `max_agents` semaphore, then
//!   claims the oldest pending member (an atomic claim in the store, so runners sharing a
//!   database never take the same member) and starts its executor; with nothing pending it
//!   waits for an in-process wake-up or the next queue poll;
//! - one **executor** per member (`member.rs`): runs its turns, holds a slot only while
//!   `running`, waits idle for messages, ends it in the store;
//! - the **poller**: every [`EngineOptions::poll`] (10 ms) one index lookup reads the highest
//!   message id; when it moved (or [`EngineOptions::full_poll`] passed) one query lists the
//!   members this runner holds; a member missing from it was ended elsewhere (`team disband`
//!   from another shell) and is cancelled; a member with unread messages is woken;
//! - the **heartbeat**: refreshes the runner row so other processes know it is alive.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use team_core::{Member, Message, MessageKind};
use team_store::{Finished, HeldMember, MemberEnd, Outgoing, Recipient, Runner, Store, StoreError};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::RunnerError;
use crate::blocking::db;
use crate::runtime::AgentRuntime;

/// The most pending members the dispatcher claims in one transaction. A burst of up to this
/// many starts together: with smaller batches the members of the first batches took the
/// executor while the next claim waited (a 200-member fan-out's members went `running` over
/// ~16 ms instead of ~3, BENCHMARKS.md § 9).
const MAX_CLAIM_BATCH: usize = 256;

/// The most member ends the finisher writes in one transaction.
const MAX_END_BATCH: usize = 256;

/// Settings of an engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Members running at once (`[team] max_agents`, default 10). Idle members hold no slot.
    pub max_agents: usize,
    /// How long an idle persistent member waits for a message before it completes
    /// (`[team] member_timeout_secs`, default 300 s).
    pub member_timeout: Duration,
    /// Heartbeat period (default 2 s). A runner whose heartbeat is older than three periods,
    /// or whose pid is dead on this host, is lost (see `reconcile`).
    pub heartbeat: Duration,
    /// Poll period for messages sent by other processes (default 10 ms): one cheap look at
    /// the highest message id; the members this runner holds are listed only when it moved.
    pub poll: Duration,
    /// Longest time between two full looks at the members this runner holds, to notice ends
    /// decided elsewhere that send no message (default 500 ms).
    pub full_poll: Duration,
    /// Poll period of the queue of pending members when nothing was queued in-process
    /// (default 100 ms).
    pub queue_poll: Duration,
    /// Stop serving after this long with nothing pending, running or idle (detached runners);
    /// `None` serves until stopped.
    pub idle_exit: Option<Duration>,
    /// The project root: the working directory of command agents, the key of agent memory.
    pub project_root: PathBuf,
    /// The database URL given to command agents as `TEAM_DATABASE_URL` (absolute path or
    /// URL).
    pub db_url: String,
    /// Serve only the pending members of this team (a foreground run); `None` serves all.
    pub team: Option<String>,
    /// The fingerprint of the environment this runner gives its agents
    /// ([`crate::fingerprint`]): registered with the runner; the dispatcher claims only
    /// members spawned with no fingerprint or with this one. `None` claims only the former.
    pub env_fingerprint: Option<String>,
}

impl EngineOptions {
    /// Defaults for a project: 10 slots, 300 s idle timeout, 2 s heartbeat, 10 ms message poll,
    /// 500 ms full poll, 100 ms queue poll.
    pub fn new(project_root: PathBuf, db_url: String) -> Self {
        Self {
            max_agents: 10,
            member_timeout: Duration::from_secs(300),
            heartbeat: Duration::from_secs(2),
            poll: Duration::from_millis(10),
            full_poll: Duration::from_millis(500),
            queue_poll: Duration::from_millis(100),
            idle_exit: None,
            project_root,
            db_url,
            team: None,
            env_fingerprint: None,
        }
    }
}

/// Why [`Engine::serve`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The shutdown token was cancelled (Ctrl-C, SIGTERM, the caller).
    Shutdown,
    /// Nothing was pending, running or idle for [`EngineOptions::idle_exit`].
    Idle,
}

/// What an LLM member's system prompt shows of its team (`llm::prompt::system_prompt`): the
/// team, its first [`crate::llm::prompt::MAX_LISTED_MEMBERS`] members and how many it has.
/// Read once for all the members the dispatcher starts together, not once per member (in a
/// 200-member fan-out the per-member reads were an eighth of the CPU, bench/findings.md § 1.2).
pub(crate) struct TeamView {
    pub team: team_core::Team,
    pub head: Vec<Member>,
    pub total: i64,
}

/// The [`TeamView`] of each team among `members`, in one hop to the store. A team whose view
/// cannot be read is left out: its sessions read their own.
async fn team_views(inner: &Inner, members: &[Member]) -> HashMap<String, Arc<TeamView>> {
    let mut teams: Vec<String> = members.iter().map(|m| m.team_id.clone()).collect();
    teams.sort_unstable();
    teams.dedup();
    db(&inner.store, move |s| {
        Ok(teams
            .into_iter()
            .filter_map(|t| {
                let (team, head, total) = s
                    .team_view(&t, crate::llm::prompt::MAX_LISTED_MEMBERS)
                    .ok()?;
                Some((t, Arc::new(TeamView { team, head, total })))
            })
            .collect())
    })
    .await
    .unwrap_or_default()
}

/// What the engine keeps per running member: how to cancel it and how to wake it.
pub(crate) struct Handle {
    pub team_id: String,
    pub name: String,
    pub cancel: CancellationToken,
    pub wake: Arc<Notify>,
    /// When the executor registered; the poller ignores handles newer than its query.
    pub since: tokio::time::Instant,
}

pub(crate) struct Inner {
    pub store: Store,
    pub opts: EngineOptions,
    pub runtime: AgentRuntime,
    pub runner: Runner,
    pub slots: Arc<Semaphore>,
    pub shutdown: CancellationToken,
    pub handles: Mutex<HashMap<i64, Handle>>,
    /// In-process waiters on an inbox that no executor owns (a workflow's lead collecting
    /// its members' answers): `(team id, member name, wake-up)`.
    pub watchers: Mutex<Vec<(String, String, Arc<Notify>)>>,
    /// The JSON shape a workflow asks of an LLM member's next answers (structured output),
    /// by (team id, member or agent name); set by the workflow before it asks, read by the
    /// member's session at each turn (see [`Inner::answer_format`]).
    pub answer_formats: Mutex<HashMap<(String, String), team_provider::AnswerFormat>>,
    pub queued: Notify,
    pub tracker: TaskTracker,
    /// Woken when another process delivered a message (PostgreSQL `LISTEN team_inbox`, see
    /// [`listen`]): the poller then looks at once instead of at its next tick.
    pub inbox: Notify,
    /// Member ends for the [`finisher`], which writes the ends that arrive together in one
    /// transaction.
    pub ends: mpsc::UnboundedSender<EndRequest>,
}

/// A member's end for the [`finisher`], and where its result goes.
pub(crate) struct EndRequest {
    pub end: MemberEnd,
    pub reply: oneshot::Sender<Result<Finished, EndFailure>>,
}

/// Why a member's end was not recorded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EndFailure {
    /// This end failed (a refusal, `Illegal`: the member had already ended; or a statement
    /// error, rolled back to its savepoint).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The whole batch failed (no connection, `BEGIN` or `COMMIT` refused): nothing was
    /// written; worth retrying.
    #[error("{0}")]
    Batch(String),
    /// The finisher is gone (the engine was dropped).
    #[error("the runner stopped before the end was recorded")]
    Gone,
}

impl Inner {
    /// Records a member's end through the [`finisher`] (batched with the ends that arrive
    /// meanwhile).
    pub(crate) async fn finish(&self, end: MemberEnd) -> Result<Finished, EndFailure> {
        let (reply, rx) = oneshot::channel();
        self.ends
            .send(EndRequest { end, reply })
            .map_err(|_| EndFailure::Gone)?;
        rx.await.unwrap_or(Err(EndFailure::Gone))
    }
}

/// Writes member ends in batches: it takes every end waiting (up to [`MAX_END_BATCH`]) and
/// writes them in one transaction ([`Store::finish_members`]: one commit, a savepoint each).
/// While a batch is written the next one gathers, so the batch size follows the load: one end
/// alone is written at once, two hundred members that answered together cost a handful of
/// commits instead of two hundred (a member's end was 38 % of the CPU of a 200-member
/// fan-out, most of it the commit and its WAL write, bench/findings.md § 7). SQLite writes one
/// batch at a time (it has one writer); PostgreSQL up to `parallel` at once.
///
/// It holds the store, not the engine, so it outlives the engine's shutdown (the members
/// cancelled by a stop still record their end) and ends when the engine is dropped.
async fn finisher(store: Store, mut rx: mpsc::UnboundedReceiver<EndRequest>, parallel: usize) {
    let gate = Arc::new(Semaphore::new(parallel.max(1)));
    let mut batch = Vec::new();
    loop {
        let Ok(permit) = gate.clone().acquire_owned().await else {
            return;
        };
        if rx.recv_many(&mut batch, MAX_END_BATCH).await == 0 {
            return;
        }
        let (ends, replies): (Vec<MemberEnd>, Vec<_>) =
            batch.drain(..).map(|r| (r.end, r.reply)).unzip();
        let store = store.clone();
        tokio::spawn(async move {
            match db(&store, move |s| s.finish_members(&ends)).await {
                Ok(results) => {
                    for (result, reply) in results.into_iter().zip(replies) {
                        let _ = reply.send(result.map_err(EndFailure::Store));
                    }
                }
                Err(e) => {
                    let why = e.to_string();
                    for reply in replies {
                        let _ = reply.send(Err(EndFailure::Batch(why.clone())));
                    }
                }
            }
            drop(permit);
        });
    }
}

/// One runner: registered in the database, serving its project's members.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl Engine {
    /// Registers a runner for this process, reconciles runners that died, and starts the
    /// heartbeat and the poller. Call [`Engine::serve`] to take pending members, or
    /// [`Engine::run_member`] to run one member in the foreground.
    ///
    /// # Errors
    /// A store error registering the runner.
    pub async fn start(
        store: Store,
        runtime: AgentRuntime,
        opts: EngineOptions,
    ) -> Result<Engine, RunnerError> {
        let store = store.with_max_message_bytes(runtime.max_message_bytes);
        let max = opts.max_agents.max(1);
        let new = team_store::NewRunner {
            pid: i64::from(std::process::id()),
            host: crate::reconcile::this_host(),
            max_agents: i64::try_from(max).unwrap_or(i64::MAX),
            heartbeat_ms: i64::try_from(opts.heartbeat.as_millis())
                .unwrap_or(i64::MAX)
                .max(1),
            env_fingerprint: opts.env_fingerprint.clone(),
        };
        let runner = db(&store, move |s| s.register_runner_with(&new)).await?;
        let me = runner.id.clone();
        let hb = opts.heartbeat;
        let report = db(&store, move |s| crate::reconcile(s, Some(&me), hb)).await?;
        if !report.is_empty() {
            tracing::warn!(
                runners = ?report.runners_lost,
                members = ?report.members_failed,
                teams = ?report.teams_failed,
                "reconciled what crashed runners left behind"
            );
        }
        let (ends, ends_rx) = mpsc::unbounded_channel();
        let parallel = match store.backend() {
            team_store::Backend::Sqlite => 1,
            team_store::Backend::Postgres => 4,
        };
        tokio::spawn(finisher(store.clone(), ends_rx, parallel));
        let inner = Arc::new(Inner {
            ends,
            slots: Arc::new(Semaphore::new(max)),
            store,
            opts,
            runtime,
            runner,
            shutdown: CancellationToken::new(),
            handles: Mutex::new(HashMap::new()),
            watchers: Mutex::new(Vec::new()),
            answer_formats: Mutex::new(HashMap::new()),
            queued: Notify::new(),
            tracker: TaskTracker::new(),
            inbox: Notify::new(),
        });
        tokio::spawn(heartbeat(inner.clone()));
        tokio::spawn(poller(inner.clone()));
        if inner.store.backend() == team_store::Backend::Postgres {
            let weak = Arc::downgrade(&inner);
            if let Err(e) = std::thread::Builder::new()
                .name("team-listen".into())
                .spawn(move || listen(weak))
            {
                tracing::warn!("cannot start the message listener ({e}); polling only");
            }
        }
        Ok(Engine { inner })
    }

    /// This runner's id (on the members it holds, and in `team list --runners`).
    pub fn runner_id(&self) -> &str {
        &self.inner.runner.id
    }

    /// The token that stops the engine: cancelling it cancels every member it runs.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    /// Wakes the dispatcher at once (a member was queued by this process).
    pub fn notify_queued(&self) {
        self.inner.queued.notify_one();
    }

    /// Serves the queue of pending members until shutdown or, with
    /// [`EngineOptions::idle_exit`], until nothing has been live for that long.
    pub async fn serve(&self) -> StopReason {
        let inner = &self.inner;
        let mut quiet_since = tokio::time::Instant::now();
        loop {
            let permit = tokio::select! {
                p = inner.slots.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => return StopReason::Shutdown,
                },
                _ = inner.shutdown.cancelled() => return StopReason::Shutdown,
            };
            // Every free slot, so that a burst of pending members is claimed in one
            // transaction rather than one by one.
            let mut permits = vec![permit];
            while permits.len() < MAX_CLAIM_BATCH {
                match inner.slots.clone().try_acquire_owned() {
                    Ok(p) => permits.push(p),
                    Err(_) => break,
                }
            }
            let rid = inner.runner.id.clone();
            let team = inner.opts.team.clone();
            let env = inner.opts.env_fingerprint.clone();
            let limit = permits.len();
            match db(&inner.store, move |s| {
                let members =
                    s.claim_pending_members_for(&rid, team.as_deref(), env.as_deref(), limit)?;
                let ids: Vec<i64> = members.iter().map(|m| m.id).collect();
                // What each was spawned with; on an error the runner's own catalog serves.
                let specs = if ids.is_empty() {
                    HashMap::new()
                } else {
                    s.member_specs(&ids).unwrap_or_default()
                };
                Ok((members, specs))
            })
            .await
            {
                Ok((members, mut specs)) if !members.is_empty() => {
                    let views = team_views(inner, &members).await;
                    for member in members {
                        let spec = specs.remove(&member.id);
                        tracing::info!(team = %member.team_id, member = %member.name, agent = %member.agent, "member started");
                        let i = inner.clone();
                        let permit = permits.pop();
                        let view = views.get(&member.team_id).cloned();
                        inner
                            .tracker
                            .spawn(crate::member::run(i, member, permit, view, spec));
                    }
                    drop(permits); // slots left over go back
                    quiet_since = tokio::time::Instant::now();
                    continue;
                }
                Ok(_) => drop(permits),
                Err(e) => {
                    drop(permits);
                    tracing::error!("cannot claim a pending member: {e}");
                }
            }
            if let Some(limit) = inner.opts.idle_exit {
                let busy = !inner.tracker.is_empty() || self.live_members().await > 0;
                if busy {
                    quiet_since = tokio::time::Instant::now();
                } else if quiet_since.elapsed() >= limit {
                    return StopReason::Idle;
                }
            }
            tokio::select! {
                _ = inner.queued.notified() => {}
                _ = tokio::time::sleep(inner.opts.queue_poll) => {}
                _ = inner.shutdown.cancelled() => return StopReason::Shutdown,
            }
        }
    }

    async fn live_members(&self) -> i64 {
        // On error, assume there is work: a detached runner must not quit on a hiccup.
        db(&self.inner.store, |s| s.count_runner_work())
            .await
            .unwrap_or(1)
    }

    /// Runs one member that this runner already holds (added as `running` with this runner's
    /// id) to its end, waiting for a slot first. Returns the member as it ended.
    ///
    /// # Errors
    /// A store error reading the member back.
    pub async fn run_member(&self, member: Member) -> Result<Member, RunnerError> {
        let permit = tokio::select! {
            p = self.inner.slots.clone().acquire_owned() => p.ok(),
            _ = self.inner.shutdown.cancelled() => None,
        };
        let (team, name) = (member.team_id.clone(), member.name.clone());
        crate::member::run(self.inner.clone(), member, permit, None, None).await;
        Ok(db(&self.inner.store, move |s| s.get_member(&team, &name)).await?)
    }

    /// Sends a message in team `team_id` from member `from` (`lead` for the lead) to `to`, and
    /// wakes at once the recipients this engine runs (an idle member starts its next turn; one
    /// blocked in `wait_for_messages` returns). Members of other runners notice it through
    /// their poller. The `send_message` tool and the workflows' lead send through the same
    /// path. Returns the deliveries (one per recipient).
    ///
    /// # Errors
    /// [`RunnerError::Store`]: `NotFound` for an unknown team, sender or recipient, `Illegal`
    /// when the team is not active or the recipient has ended, `Conflict` for a broadcast
    /// with no live member to receive it.
    pub async fn send_message(
        &self,
        team_id: &str,
        from: &str,
        to: Recipient,
        kind: MessageKind,
        body: &str,
    ) -> Result<Vec<Message>, RunnerError> {
        Ok(self
            .inner
            .send_message(
                team_id.to_owned(),
                from.to_owned(),
                to,
                kind,
                body.to_owned(),
            )
            .await?)
    }

    /// Stops: cancels every member this engine runs (their leads are told), waits for their
    /// executors to end, and marks the runner stopped.
    pub async fn stop(&self) {
        self.inner.shutdown.cancel();
        self.inner.tracker.close();
        self.inner.tracker.wait().await;
        let rid = self.inner.runner.id.clone();
        if let Err(e) = db(&self.inner.store, move |s| s.stop_runner(&rid)).await {
            tracing::warn!("cannot mark runner stopped: {e}");
        }
    }
}

impl Inner {
    /// Sends a message (on the blocking pool) and wakes its recipients in this process; see
    /// [`Engine::send_message`].
    pub(crate) async fn send_message(
        &self,
        team_id: String,
        from: String,
        to: Recipient,
        kind: MessageKind,
        body: String,
    ) -> team_store::Result<Vec<Message>> {
        let sent = db(&self.store, move |s| {
            s.send_message(
                &team_id,
                &Outgoing {
                    from: &from,
                    to,
                    kind,
                    body: &body,
                },
            )
        })
        .await?;
        self.wake_recipients(&sent);
        Ok(sent)
    }

    /// Wakes the members of this runner that just got messages (the in-process fast path;
    /// other processes' members notice through their poller).
    pub(crate) fn wake_recipients(&self, sent: &[team_core::Message]) {
        for m in sent {
            self.wake_member(&m.team_id, &m.recipient);
        }
    }

    /// Wakes member `name` of team `team_id` if this runner runs it (idle, or blocked in
    /// `wait_for_messages`); a no-op otherwise (another process notices through its poller).
    pub(crate) fn wake_member(&self, team_id: &str, name: &str) {
        let handles = self.handles.lock().unwrap_or_else(|p| p.into_inner());
        for h in handles.values() {
            if h.team_id == team_id && h.name == name {
                h.wake.notify_one();
            }
        }
        drop(handles);
        let watchers = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        for (team, member, wake) in watchers.iter() {
            if team == team_id && member == name {
                wake.notify_one();
            }
        }
    }

    /// Registers an in-process waiter on the inbox of `name` in `team_id`; it is woken by
    /// [`Inner::wake_member`] until the returned guard is dropped.
    /// Asks the member (or every member of the agent) `name` of `team_id` to answer in
    /// `format` from its next turn on; `None` = free text again.
    pub(crate) fn set_answer_format(
        &self,
        team_id: &str,
        name: &str,
        format: Option<team_provider::AnswerFormat>,
    ) {
        let mut formats = self
            .answer_formats
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let key = (team_id.to_owned(), name.to_owned());
        match format {
            Some(f) => {
                formats.insert(key, f);
            }
            None => {
                formats.remove(&key);
            }
        }
    }

    /// The shape asked of member `member` (of agent `agent`) of `team_id`: the member's own,
    /// else its agent's, else none.
    pub(crate) fn answer_format(
        &self,
        team_id: &str,
        member: &str,
        agent: &str,
    ) -> Option<team_provider::AnswerFormat> {
        let formats = self
            .answer_formats
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if formats.is_empty() {
            return None;
        }
        formats
            .get(&(team_id.to_owned(), member.to_owned()))
            .or_else(|| formats.get(&(team_id.to_owned(), agent.to_owned())))
            .cloned()
    }

    pub(crate) fn watch(self: &Arc<Self>, team_id: &str, name: &str) -> Watch {
        let wake = Arc::new(Notify::new());
        self.watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((team_id.to_owned(), name.to_owned(), wake.clone()));
        Watch {
            inner: self.clone(),
            wake,
        }
    }
}

/// A registered inbox waiter (see [`Inner::watch`]); unregisters itself when dropped.
pub(crate) struct Watch {
    inner: Arc<Inner>,
    /// Notified when a message for the watched member is sent in this process.
    pub wake: Arc<Notify>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.inner
            .watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(_, _, w)| !Arc::ptr_eq(w, &self.wake));
    }
}

/// Refreshes this runner's heartbeat every period and, after each, reconciles the runners
/// that are lost (issue 14: a dead runner is noticed without anyone running
/// `team reconcile`): a dead pid on this host at once; a heartbeat older than three periods
/// only once this runner's own heartbeats have gone through for three periods in a row, so a
/// database outage that stopped every runner's heartbeat does not make them reconcile each
/// other when it ends.
async fn heartbeat(inner: Arc<Inner>) {
    let period = inner.opts.heartbeat;
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut healthy_since: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = inner.shutdown.cancelled() => return,
        }
        let rid = inner.runner.id.clone();
        if let Err(e) = db(&inner.store, move |s| s.heartbeat_runner(&rid)).await {
            tracing::warn!("heartbeat failed: {e}");
            healthy_since = None;
            continue;
        }
        let since = *healthy_since.get_or_insert_with(tokio::time::Instant::now);
        let stale_too =
            since.elapsed() >= period.saturating_mul(team_core::runner::LOST_AFTER_PERIODS as u32);
        let me = inner.runner.id.clone();
        match db(&inner.store, move |s| {
            crate::reconcile::reconcile_runners(s, Some(&me), stale_too)
        })
        .await
        {
            Ok(report) if !report.is_empty() => {
                tracing::warn!(
                    runners = ?report.runners_lost,
                    members = ?report.members_failed,
                    teams = ?report.teams_failed,
                    "reconciled what lost runners left behind"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("reconciling lost runners failed: {e}"),
        }
    }
}

/// Listens for messages other processes deliver (PostgreSQL only) and wakes the poller, on
/// a thread of its own (the wait blocks). Ends with the runner, when the engine is dropped,
/// or on a connection error: the poller's period still bounds the wake-up then.
fn listen(inner: std::sync::Weak<Inner>) {
    let Some(store) = inner.upgrade().map(|i| i.store.clone()) else {
        return;
    };
    let mut listener = match store.listen_inbox() {
        Ok(Some(l)) => l,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!("cannot listen for messages ({e}); polling only");
            return;
        }
    };
    drop(store);
    loop {
        let got = listener.wait(Duration::from_millis(100));
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if inner.shutdown.is_cancelled() {
            return;
        }
        match got {
            // Only for teams this runner holds members of (the channel is database-wide).
            Ok(teams) if !teams.is_empty() => {
                let ours = inner
                    .handles
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .values()
                    .any(|h| teams.contains(&h.team_id));
                if ours {
                    inner.inbox.notify_one();
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!("listening for messages failed ({e}); polling only");
                return;
            }
        }
    }
}

/// One poller per runner, not one per member: a single query per period.
async fn poller(inner: Arc<Inner>) {
    let mut tick = tokio::time::interval(inner.opts.poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen_message = -1_i64;
    let mut last_full = tokio::time::Instant::now();
    loop {
        let told = tokio::select! {
            _ = tick.tick() => false,
            _ = inner.inbox.notified() => true,
            _ = inner.shutdown.cancelled() => return,
        };
        if inner
            .handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
        {
            continue;
        }
        let asked = tokio::time::Instant::now();
        // Messages are what other processes mostly do to our members (sends, disband and
        // reconcile notices); a full look is due only when one was sent (the listener told
        // us, or the last message id moved), or now and then.
        if !told {
            let last = match db(&inner.store, |s| s.last_message_id()).await {
                Ok(id) => id,
                Err(e) => {
                    tracing::warn!("poll failed: {e}");
                    continue;
                }
            };
            if last == seen_message && asked.duration_since(last_full) < inner.opts.full_poll {
                continue;
            }
            seen_message = last;
        }
        last_full = asked;
        let rid = inner.runner.id.clone();
        let held = match db(&inner.store, move |s| s.held_members(&rid)).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!("poll failed: {e}");
                continue;
            }
        };
        let held: HashMap<i64, &HeldMember> = held.iter().map(|m| (m.id, m)).collect();
        let handles = inner.handles.lock().unwrap_or_else(|p| p.into_inner());
        for (id, h) in handles.iter() {
            match held.get(id) {
                // Ended by another process (disband, `team member fail`, reconcile).
                None if h.since < asked => h.cancel.cancel(),
                None => {}
                // Idle, or running and blocked in `wait_for_messages`: a spare wake-up of a
                // member that is not waiting only makes its next wait look once more.
                Some(m) if m.unread > 0 => h.wake.notify_one(),
                Some(_) => {}
            }
        }
    }
}
