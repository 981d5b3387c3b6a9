//! The engine of one runner process.
//!
//! Tasks (all on one tokio runtime; each piece of state has one owner, tasks talk through
//! channels, tokens and `Notify`):
//! - the **claim loop** ([`Engine::serve`]): takes a slot of the `max_agents` semaphore, then
//!   claims the oldest pending members (an atomic claim in the store, so runners sharing a
//!   database never take the same member, up to [`MAX_CLAIM_BATCH`] in one transaction) and
//!   starts their executors; with nothing pending it waits for an in-process wake-up
//!   ([`Event::Queued`], or members its own reconcile retried), a `team_queue` notification
//!   from another process (PostgreSQL, see [`listen`]) or the next queue poll;
//! - the **dispatcher** ([`crate::dispatcher`]): the one owner of the per-member state (cancel
//!   tokens, wake-ups, inbox watchers); executors and workflows tell it what happened through
//!   [`Event`]s (`Started`, `Ended`, `Sent`, `Queued`, ...) on the channel of their
//!   [`Context`];
//! - one **executor** per member ([`crate::member`]): runs its turns, holds a slot only while
//!   `running`, waits idle for messages, ends it through the **finisher**
//!   ([`crate::finisher`]: the ends that arrive together in one transaction);
//! - the **poller**: every [`EngineOptions::poll`] (10 ms) one index lookup reads the highest
//!   message id; when it moved (or [`EngineOptions::full_poll`] passed) one query lists the
//!   members this runner holds, which it hands to the dispatcher ([`Event::Polled`]): a member
//!   missing from it was ended elsewhere (`team disband` from another shell) and is
//!   cancelled; a member with unread messages is woken;
//! - the **heartbeat**: refreshes the runner row so other processes know it is alive, and
//!   stops the engine when `team runner stop` asked so through the database.
//!
//! Imports run one way: `workflow` → `engine` → `member` → `turn` → `llm` → `context`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use team_core::{Member, Message, MessageKind};
use team_store::{Beat, Recipient, Runner, Store, StoreError};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::RunnerError;
use crate::blocking::db;
use crate::context::{Context, Event, TeamView};
use crate::dispatcher::Dispatcher;
use crate::runtime::AgentRuntime;

pub use crate::options::EngineOptions;

/// The most pending members the dispatcher claims in one transaction. A burst of up to this
/// many starts together: with smaller batches the members of the first batches took the
/// executor while the next claim waited (a 200-member fan-out's members went `running` over
/// ~16 ms instead of ~3, BENCHMARKS.md § 9).
const MAX_CLAIM_BATCH: usize = 256;

/// How [`Engine::run_foreground`] ended.
#[derive(Debug, Clone)]
pub enum Foreground {
    /// The member ended (as it is now in the store).
    Ended(Box<Member>),
    /// The caller cancelled the run: the member (and, when the caller owns the team, the
    /// team) was cancelled and the engine stopped.
    Cancelled,
}

/// Why [`Engine::serve`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The shutdown token was cancelled (Ctrl-C, SIGTERM, the caller, a stop requested
    /// through the database).
    Shutdown,
    /// Nothing was pending, running or idle for [`EngineOptions::idle_exit`].
    Idle,
}

/// The [`TeamView`] of each team among `members`, in one hop to the store. A team whose view
/// cannot be read is left out: its sessions read their own.
async fn team_views(ctx: &Context, members: &[Member]) -> HashMap<String, Arc<TeamView>> {
    let mut teams: Vec<String> = members.iter().map(|m| m.team_id.clone()).collect();
    teams.sort_unstable();
    teams.dedup();
    db(&ctx.store, move |s| {
        Ok(teams
            .into_iter()
            .filter_map(|t| {
                let view = TeamView::read(s, &t).ok()?;
                Some((t, Arc::new(view)))
            })
            .collect())
    })
    .await
    .unwrap_or_default()
}

/// The engine's own part: the member context it hands its executors, and what only the
/// engine's tasks (claim loop, poller, heartbeat, listener) use.
pub(crate) struct Inner {
    pub ctx: Arc<Context>,
    pub runner: Runner,
    pub tracker: TaskTracker,
    /// Woken by the dispatcher on [`Event::Queued`], by the listener when another process
    /// made members pending ([`listen`]), and by the heartbeat for the members its reconcile
    /// retried: the claim loop looks at once.
    pub queued: Arc<Notify>,
    /// Woken by the dispatcher when another process delivered a message to a team held here
    /// (PostgreSQL `LISTEN team_inbox`, see [`listen`]): the poller looks at once.
    pub inbox: Arc<Notify>,
    /// How many members this runner runs now (kept by the dispatcher).
    pub held: Arc<AtomicUsize>,
    /// Set when the heartbeat learnt that another process marked this runner stopped (found
    /// lost): the engine then stops everything it runs ([`Engine::marked_lost`]).
    pub marked_lost: AtomicBool,
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
            version: Some(env!("CARGO_PKG_VERSION").to_owned()),
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
        tokio::spawn(crate::finisher::finisher(store.clone(), ends_rx, parallel));
        let (events, events_rx) = mpsc::unbounded_channel();
        let (queued, inbox, held) = (
            Arc::new(Notify::new()),
            Arc::new(Notify::new()),
            Arc::new(AtomicUsize::new(0)),
        );
        tokio::spawn(Dispatcher::new(queued.clone(), inbox.clone(), held.clone()).run(events_rx));
        let inner = Arc::new(Inner {
            ctx: Arc::new(Context::new(store, opts, runtime, events, ends)),
            runner,
            tracker: TaskTracker::new(),
            queued,
            inbox,
            held,
            marked_lost: AtomicBool::new(false),
        });
        tokio::spawn(heartbeat(inner.clone()));
        tokio::spawn(poller(inner.clone()));
        if inner.ctx.store.backend() == team_store::Backend::Postgres {
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

    /// This runner's id (on the members it holds, and in `team runners`).
    pub fn runner_id(&self) -> &str {
        &self.inner.runner.id
    }

    /// True when this runner stopped because another process had marked it stopped: it was
    /// found lost (its heartbeat older than three periods, e.g. while this host was cut off
    /// from the database), and the members it held were retried or failed elsewhere. Its own
    /// members were cancelled and their processes killed (their writes were refused anyway:
    /// `team_core::delivery::may_act`); the caller should exit (or start a new engine).
    pub fn marked_lost(&self) -> bool {
        self.inner.marked_lost.load(Ordering::SeqCst)
    }

    /// The token that stops the engine: cancelling it cancels every member it runs.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.inner.ctx.shutdown.clone()
    }

    /// The context this engine hands its members (and its workflows).
    pub(crate) fn context(&self) -> &Arc<Context> {
        &self.inner.ctx
    }

    /// Wakes the dispatcher at once (a member was queued by this process).
    pub fn notify_queued(&self) {
        self.inner.ctx.queued();
    }

    /// Serves the queue of pending members until shutdown or, with
    /// [`EngineOptions::idle_exit`], until nothing has been live for that long.
    pub async fn serve(&self) -> StopReason {
        let inner = &self.inner;
        let ctx = &inner.ctx;
        let mut quiet_since = tokio::time::Instant::now();
        // Since when every look at the database's work has failed (see below).
        let mut failing_since: Option<tokio::time::Instant> = None;
        loop {
            let permit = tokio::select! {
                p = ctx.slots.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => return StopReason::Shutdown,
                },
                _ = ctx.shutdown.cancelled() => return StopReason::Shutdown,
            };
            // Every free slot, so that a burst of pending members is claimed in one
            // transaction rather than one by one.
            let mut permits = vec![permit];
            while permits.len() < MAX_CLAIM_BATCH {
                match ctx.slots.clone().try_acquire_owned() {
                    Ok(p) => permits.push(p),
                    Err(_) => break,
                }
            }
            let rid = inner.runner.id.clone();
            let team = ctx.opts.team.clone();
            let env = ctx.opts.env_fingerprint.clone();
            let limit = permits.len();
            match db(&ctx.store, move |s| {
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
                    let views = team_views(ctx, &members).await;
                    for member in members {
                        let spec = specs.remove(&member.id);
                        tracing::info!(team = %member.team_id, member = %member.name, agent = %member.agent, "member started");
                        let c = ctx.clone();
                        let permit = permits.pop();
                        let view = views.get(&member.team_id).cloned();
                        inner
                            .tracker
                            .spawn(crate::member::run(c, member, permit, view, spec));
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
            if let Some(limit) = ctx.opts.idle_exit {
                let busy = !inner.tracker.is_empty() || {
                    match self.live_members().await {
                        Ok(n) => {
                            failing_since = None;
                            n > 0
                        }
                        // A hiccup is not idleness: a detached runner must not quit on one.
                        // But a database that has failed every look for the whole idle
                        // period (dropped, deleted, unreachable) with nothing running here
                        // counts as idle, or the runner would spin on errors for ever.
                        Err(e) => {
                            let since = *failing_since.get_or_insert_with(|| {
                                tracing::warn!("cannot count the runner's work: {e}");
                                tokio::time::Instant::now()
                            });
                            since.elapsed() < limit
                        }
                    }
                };
                if busy {
                    quiet_since = tokio::time::Instant::now();
                } else if quiet_since.elapsed() >= limit {
                    return StopReason::Idle;
                }
            }
            tokio::select! {
                _ = inner.queued.notified() => {}
                _ = tokio::time::sleep(ctx.opts.queue_poll) => {}
                _ = ctx.shutdown.cancelled() => return StopReason::Shutdown,
            }
        }
    }

    async fn live_members(&self) -> Result<i64, StoreError> {
        db(&self.inner.ctx.store, |s| s.count_runner_work()).await
    }

    /// Runs one member that this runner already holds (added as `running` with this runner's
    /// id) to its end, waiting for a slot first; when its attempt is retried, until the end of
    /// its last attempt (run by the claim loop, which must be served beside). Returns the
    /// member as it ended.
    ///
    /// # Errors
    /// A store error reading the member back.
    pub async fn run_member(&self, member: Member) -> Result<Member, RunnerError> {
        let permit = tokio::select! {
            p = self.inner.ctx.slots.clone().acquire_owned() => p.ok(),
            _ = self.inner.ctx.shutdown.cancelled() => None,
        };
        let (team, name) = (member.team_id.clone(), member.name.clone());
        crate::member::run(self.inner.ctx.clone(), member, permit, None, None).await;
        loop {
            let (t, n) = (team.clone(), name.clone());
            let m = db(&self.inner.ctx.store, move |s| s.get_member(&t, &n)).await?;
            // A retried attempt (`team_core::retry`) is queued again: the claim loop serving
            // beside this runs it; its end is the member's.
            if m.status.is_terminal() || self.inner.ctx.shutdown.is_cancelled() {
                return Ok(m);
            }
            tokio::time::sleep(self.inner.ctx.opts.queue_poll).await;
        }
    }

    /// Runs `member` (held by this engine) in the foreground while the engine also serves
    /// the pending members of its team, until it ends or `cancel` resolves (to the reason,
    /// e.g. the signal's name). On a cancel it takes down what this process owns: with
    /// `owns_team` (the caller created the team) team `team_id` is disbanded (`{reason} on a
    /// foreground run`); otherwise only its member and the members this engine took are
    /// cancelled (the engine stops), and members other processes run go on.
    ///
    /// # Errors
    /// A store error reading the member back.
    pub async fn run_foreground(
        &self,
        team_id: &str,
        member: Member,
        owns_team: bool,
        cancel: impl std::future::Future<Output = String>,
    ) -> Result<Foreground, RunnerError> {
        let run = self.run_member(member);
        tokio::pin!(run);
        let serve = self.serve();
        tokio::pin!(serve);
        tokio::pin!(cancel);
        loop {
            tokio::select! {
                r = &mut run => return Ok(Foreground::Ended(Box::new(r?))),
                _ = &mut serve, if !self.shutdown_token().is_cancelled() => {}
                why = &mut cancel => {
                    if owns_team {
                        // It created the team: a cancel takes the team down with it.
                        let (team, why) = (team_id.to_owned(), format!("{why} on a foreground run"));
                        let _ = db(&self.inner.ctx.store, move |s| s.disband_team(&team, &why)).await;
                    } else {
                        tracing::warn!("{why}: cancelling the member(s) this process runs");
                    }
                    self.stop().await;
                    let _ = run.await;
                    return Ok(Foreground::Cancelled);
                }
            }
        }
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
            .ctx
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
        self.inner.ctx.shutdown.cancel();
        self.inner.tracker.close();
        self.inner.tracker.wait().await;
        let rid = self.inner.runner.id.clone();
        if let Err(e) = db(&self.inner.ctx.store, move |s| s.stop_runner(&rid)).await {
            tracing::warn!("cannot mark runner stopped: {e}");
        }
    }
}

/// Refreshes this runner's heartbeat every period (and stops the engine when the heartbeat
/// reads a stop request: `Store::request_runner_stop`) and reconciles the runners that are
/// lost (issue 14: a dead runner is noticed without anyone running `team reconcile`): a dead
/// pid on this host at once; a heartbeat older than three periods only once this runner's own
/// heartbeats have gone through for three periods in a row, so a database outage that stopped
/// every runner's heartbeat does not make them reconcile each other when it ends. It looks
/// after each of its heartbeats and, between them, when the oldest heartbeat of another runner
/// turns three periods old (`ReconcileReport::next_check_at_ms`): a dead host is found lost
/// at three of its periods, not up to one period of this runner's later (issue 19). Members it
/// retried wake its own claim loop when their backoff ends (other runners hear of them through
/// `LISTEN team_queue` on PostgreSQL).
async fn heartbeat(inner: Arc<Inner>) {
    let period = inner.ctx.opts.heartbeat;
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut healthy_since: Option<tokio::time::Instant> = None;
    // When to look at the other runners before the next tick (a wall-clock ms, as heartbeats
    // are stored); `None`: at the next tick.
    let mut check_at: Option<i64> = None;
    loop {
        let check = async {
            match check_at {
                // Not sooner than 10 ms apart: a look that could not settle a runner (a
                // database error) must not spin.
                Some(at) => {
                    let wait = (at - team_store::now_ms()).max(10);
                    tokio::time::sleep(Duration::from_millis(wait.unsigned_abs())).await;
                }
                None => std::future::pending().await,
            }
        };
        let ticked = tokio::select! {
            _ = tick.tick() => true,
            _ = check => false,
            _ = inner.ctx.shutdown.cancelled() => return,
        };
        check_at = None;
        let rid = inner.runner.id.clone();
        // A look between ticks writes no heartbeat.
        let beat = match ticked {
            true => Some(db(&inner.ctx.store, move |s| s.heartbeat_runner(&rid)).await),
            false => None,
        };
        match beat {
            None => {}
            Some(Err(e)) => {
                tracing::warn!("heartbeat failed: {e}");
                healthy_since = None;
                continue;
            }
            // `team runner stop` asked through the database (a runner it cannot signal): stop
            // as on SIGTERM. The shutdown token ends `serve` and cancels every member here;
            // the owner of the engine then calls `Engine::stop`, which marks it stopped.
            Some(Ok(Beat::StopRequested)) => {
                tracing::warn!("a stop was requested (`team runner stop`): stopping this runner");
                inner.ctx.shutdown.cancel();
                return;
            }
            // Another runner found this one lost (its heartbeat was older than three periods:
            // this host was cut off from the database, or the process was frozen) and retried
            // or failed its members elsewhere. Whatever still runs here for them is a
            // superseded attempt: stop it all (the processes are killed; their writes would be
            // refused anyway) and let the owner exit.
            Some(Ok(Beat::MarkedLost)) => {
                tracing::error!(
                    runner = %inner.runner.id,
                    "this runner was marked lost by another process (no heartbeat for three periods); \
                     its members were retried or failed elsewhere: stopping the members it still runs"
                );
                inner.marked_lost.store(true, Ordering::SeqCst);
                inner.ctx.shutdown.cancel();
                return;
            }
            Some(Ok(Beat::Alive)) => {}
        }
        let Some(since) = healthy_since.or_else(|| ticked.then(tokio::time::Instant::now)) else {
            continue;
        };
        healthy_since = Some(since);
        let stale_too =
            since.elapsed() >= period.saturating_mul(team_core::runner::LOST_AFTER_PERIODS as u32);
        let me = inner.runner.id.clone();
        match db(&inner.ctx.store, move |s| {
            crate::reconcile::reconcile_runners(s, Some(&me), stale_too)
        })
        .await
        {
            Ok(report) => {
                if !report.is_empty() {
                    tracing::warn!(
                        runners = ?report.runners_lost,
                        members = ?report.members_failed,
                        teams = ?report.teams_failed,
                        "reconciled what lost runners left behind"
                    );
                }
                if let Some(at) = report.claimable_at_ms {
                    wake_queue_at(&inner, at);
                }
                // Only a look that may judge by heartbeats is worth scheduling.
                if stale_too {
                    check_at = report.next_check_at_ms;
                }
            }
            Err(e) => tracing::warn!("reconciling lost runners failed: {e}"),
        }
    }
}

/// Wakes the claim loop of `inner` at `at_ms` (ms since the epoch; at once when it passed):
/// members this process made pending become claimable then (a retried member's backoff).
fn wake_queue_at(inner: &Arc<Inner>, at_ms: i64) {
    let wait = at_ms - team_store::now_ms();
    if wait <= 0 {
        inner.queued.notify_one();
        return;
    }
    let queued = inner.queued.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(wait.unsigned_abs())).await;
        queued.notify_one();
    });
}

/// Listens for messages other processes deliver and for members they make pending
/// (PostgreSQL only: `LISTEN team_inbox`, `LISTEN team_queue`) and wakes the poller or the
/// claim loop (a retried member's at the end of its backoff), on a thread of its own (the
/// wait blocks). Ends with the runner, when the engine is dropped, or on a connection error:
/// the poller's and the queue poll's periods still bound the wake-up then.
fn listen(inner: std::sync::Weak<Inner>) {
    let Some(store) = inner.upgrade().map(|i| i.ctx.store.clone()) else {
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
    // The ends of backoffs heard of and not yet reached (ms since the epoch).
    let mut queue_at = std::collections::BTreeSet::<i64>::new();
    loop {
        let step = queue_at
            .first()
            .map_or(100, |at| (at - team_store::now_ms()).clamp(0, 100));
        let got = listener.wait(Duration::from_millis(step.unsigned_abs()));
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if inner.ctx.shutdown.is_cancelled() {
            return;
        }
        match got {
            Ok(heard) => {
                queue_at.extend(heard.queued_at_ms);
                // Only for teams this runner holds members of (the channel is database-wide).
                if !heard.inbox.is_empty() {
                    inner.ctx.tell(Event::Inbox { teams: heard.inbox });
                }
            }
            Err(e) => {
                tracing::warn!("listening for messages failed ({e}); polling only");
                return;
            }
        }
        let now = team_store::now_ms();
        if queue_at.first().is_some_and(|at| *at <= now) {
            queue_at.retain(|at| *at > now);
            inner.queued.notify_one();
        }
    }
}

/// One poller per runner, not one per member: a single query per period.
async fn poller(inner: Arc<Inner>) {
    let mut tick = tokio::time::interval(inner.ctx.opts.poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen_message = -1_i64;
    let mut last_full = tokio::time::Instant::now();
    loop {
        let told = tokio::select! {
            _ = tick.tick() => false,
            _ = inner.inbox.notified() => true,
            _ = inner.ctx.shutdown.cancelled() => return,
        };
        if inner.held.load(Ordering::Relaxed) == 0 {
            continue;
        }
        let asked = tokio::time::Instant::now();
        // Messages are what other processes mostly do to our members (sends, disband and
        // reconcile notices); a full look is due only when one was sent (the listener told
        // us, or the last message id moved), or now and then.
        if !told {
            let last = match db(&inner.ctx.store, |s| s.last_message_id()).await {
                Ok(id) => id,
                Err(e) => {
                    tracing::warn!("poll failed: {e}");
                    continue;
                }
            };
            if last == seen_message && asked.duration_since(last_full) < inner.ctx.opts.full_poll {
                continue;
            }
            seen_message = last;
        }
        last_full = asked;
        let rid = inner.runner.id.clone();
        let held = match db(&inner.ctx.store, move |s| s.held_members(&rid)).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!("poll failed: {e}");
                continue;
            }
        };
        inner.ctx.tell(Event::Polled { held, asked });
    }
}
