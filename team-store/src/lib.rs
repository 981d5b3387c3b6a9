//! `team-store`: the `team` domain in a real database, through Diesel.
//!
//! One API ([`Store`]) over two engines: SQLite (bundled, the embedded default: a file under
//! `.team/`) and PostgreSQL (for teams that outgrow one machine). The schema lives in
//! `migrations/sqlite` and `migrations/postgres` at the workspace root; both are embedded in the
//! binary and applied when a store is opened.
//!
//! Every operation is one transaction. State changes are guarded updates
//! (`UPDATE … WHERE status = <from> RETURNING *`) that mirror the transition functions of
//! `team-core`, so racing writers (other threads, other processes, other machines) never both
//! win. Every state change also appends a row to the `events` table (`team logs`).
//!
//! What this crate does not do: run agents, wait, or talk to anything but the database. It is
//! synchronous (no tokio); the runner calls it from blocking tasks; it decides no rule of its
//! own (lifecycles, a member's end, fencing, who may disband, runner liveness are `team-core`'s).
//!
//! Where things are: the public API is this file (one documented one-line method per
//! operation, hence its ~750 lines, mostly docs); the operations, by entity, in `ops/`; what
//! differs between SQLite and PostgreSQL, in `dialect/` (the `Dialect` trait); opening and
//! migrating in `open.rs`; rows and their conversion to `team-core` entities in `rows.rs`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod dialect;
mod error;
mod info;
mod listen;
mod open;
mod ops;
mod prepared;
mod rows;
mod schema;
mod types;

use std::time::{SystemTime, UNIX_EPOCH};

use diesel::SqliteConnection;
use diesel::r2d2::{ConnectionManager, Pool as R2Pool};
use team_core::{
    Event, Member, MemberEvent, MemoryEntry, Message, Task, TaskEvent, TaskStatus, Team, TeamEvent,
};

pub use error::{ErrorKind, Refusal, Result, StoreError};
pub use info::DatabaseInfo;
pub use listen::{Heard, InboxListener, LISTEN_STEP};
pub use open::{Backend, OpenOptions, Preconnect, redact_url};
pub use types::*;

/// The sender name of messages written by `team` itself (disband notices, summaries).
pub const SYSTEM_SENDER: &str = "team";

/// Most sender names one [`Store::inbox_after_from`] takes: each is a bound parameter on
/// SQLite (whose limit is 32 766 per statement).
pub const MAX_SENDERS: usize = 10_000;

/// Milliseconds since the Unix epoch, the unit of every `*_at_ms` column.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A fresh id: 8 characters from `a-z0-9` (36^8 ≈ 2.8e12 values), short enough to type.
pub(crate) fn new_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..8)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(R2Pool<ConnectionManager<SqliteConnection>>),
    Pg(R2Pool<open::PgManager>),
}

/// A handle on a `team` database. Cheap to clone (the connection pool is shared); safe to use
/// from many threads.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    target: String,
    /// The PostgreSQL URL as given (it may hold a password: never printed), for connections
    /// outside the pool ([`Store::listen_inbox`]); `None` on SQLite.
    pg_url: Option<std::sync::Arc<str>>,
    /// SQLite: the thread that checkpoints the WAL off the commit path; it ends when the
    /// last clone of the store is dropped. `None` on PostgreSQL.
    _checkpointer: Option<std::sync::Arc<open::Checkpointer>>,
    /// The largest message body [`Store::send_message`] accepts, in bytes
    /// (`max_message_bytes`; default `team_core::delivery::DEFAULT_MAX_MESSAGE_BYTES`).
    max_message_bytes: usize,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("target", &self.target)
            .finish()
    }
}

/// Runs one operation of `ops/` (`run!(self, tasks::add_task(…))`: the entity's file, then the
/// operation) on a pooled connection of whichever engine is open.
macro_rules! run {
    ($self:ident, $entity:ident :: $op:ident($($arg:expr),* $(,)?)) => {
        match &$self.pool {
            Pool::Sqlite(p) => ops::sqlite::$entity::$op(&mut *p.get()?, $($arg),*),
            Pool::Pg(p) => ops::pg::$entity::$op(&mut *p.get()?, $($arg),*),
        }
    };
}

impl Store {
    /// Which engine this store runs on.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Pg(_) => Backend::Postgres,
        }
    }

    /// This store with another message size limit (`max_message_bytes`, in bytes): a larger
    /// message is refused with [`StoreError::Invalid`].
    pub fn with_max_message_bytes(mut self, bytes: usize) -> Store {
        self.max_message_bytes = bytes;
        self
    }

    /// The message size limit in bytes (see [`Store::with_max_message_bytes`]).
    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }

    /// The database location with any password removed (safe to print).
    pub fn target(&self) -> &str {
        &self.target
    }

    // ------------------------------------------------------------ teams

    /// Creates an active team and its lead member (named `lead`, status `running`).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when an active team already has that name.
    pub fn create_team(&self, new: &NewTeam) -> Result<(Team, Member)> {
        run!(self, teams::create_team(new))
    }

    /// Finds a team by reference: the active team of that name, else the team with that id,
    /// else the newest team of that name.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when nothing matches.
    pub fn resolve_team(&self, reference: &str) -> Result<Team> {
        run!(self, teams::resolve_team(reference))
    }

    /// Sets a team's budget (issue 18: `team create --max-tokens N --max-cost USD`) on its
    /// row, with a `budget.set` event; a budget with neither cap clears it. The rule that
    /// reads it is `team_core::budget`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown team id; a database error.
    pub fn set_team_budget(
        &self,
        team_id: &str,
        budget: &team_core::budget::TeamBudget,
    ) -> Result<()> {
        run!(self, teams::set_team_budget(team_id, budget))
    }

    /// A team's budget, from its row (neither cap when none was set).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown team id; a database error.
    pub fn team_budget(&self, team_id: &str) -> Result<team_core::budget::TeamBudget> {
        run!(self, teams::team_budget(team_id))
    }

    /// Makes team `team_id` share the budget of team `with` (issue 18: a team a member makes
    /// with the `team_create` tool shares its creator's team's budget, so nested members count
    /// in it), with a `budget.shared` event. Nothing when `with` has no budget.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown team id; a database error.
    pub fn share_budget(&self, team_id: &str, with: &str) -> Result<()> {
        run!(self, teams::share_budget(team_id, with))
    }

    /// The teams whose spend counts in team `team_id`'s budget: the team holding the budget
    /// first, then the teams sharing it (a team with a budget of its own: itself alone).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown team id; a database error.
    pub fn budget_teams(&self, team_id: &str) -> Result<Vec<String>> {
        run!(self, teams::budget_teams(team_id))
    }

    /// Teams with member and task counts, oldest first.
    pub fn list_teams(&self, filter: &TeamFilter) -> Result<Vec<TeamSummary>> {
        run!(self, teams::list_teams(filter))
    }

    /// Disbands an active team in one transaction: the team becomes `disbanded`, every live
    /// member `cancelled` (and gets a `system` message saying so, which wakes it), every open
    /// task `cancelled`.
    ///
    /// # Errors
    /// [`StoreError::Illegal`] when the team is already terminal.
    pub fn disband_team(&self, team_id: &str, reason: &str) -> Result<Disbanded> {
        run!(
            self,
            teams::end_team(team_id, TeamEvent::Disband, reason, None)
        )
    }

    /// [`Store::disband_team`] asked by a member through its tools (the `team_delete` tool):
    /// in the same transaction, `team_core::manage::may_disband` decides whether `by` may (its
    /// own team only as its lead; another team only if led by its agent).
    ///
    /// # Errors
    /// [`StoreError::Illegal`] ([`Refusal::NotManager`]) when `by` may not, or when the team is
    /// already terminal; [`StoreError::NotFound`] for an unknown team or member.
    pub fn disband_team_as(
        &self,
        team_id: &str,
        reason: &str,
        by: &Actor<'_>,
    ) -> Result<Disbanded> {
        run!(
            self,
            teams::end_team(team_id, TeamEvent::Disband, reason, Some(by))
        )
    }

    /// Ends an active team as `completed` or `failed` (a workflow's end), with the same
    /// cascade as [`Store::disband_team`] on whatever is still live.
    ///
    /// # Errors
    /// [`StoreError::Illegal`] when the team is already terminal.
    pub fn end_team(&self, team_id: &str, event: TeamEvent, reason: &str) -> Result<Disbanded> {
        run!(self, teams::end_team(team_id, event, reason, None))
    }

    // ------------------------------------------------------------ members

    /// Adds a member to an active team under a fresh disambiguated name (`reviewer-2`); the
    /// name choice and the insert are one transaction, so concurrent adds never collide.
    ///
    /// # Errors
    /// [`StoreError::Illegal`] when the team is not active.
    pub fn add_member(&self, team_id: &str, new: &NewMember) -> Result<Member> {
        run!(self, members::add_member(team_id, new))
    }

    /// Adds several members in one transaction (a workflow's fan-out); names as in
    /// [`Store::add_member`], in order.
    ///
    /// # Errors
    /// As [`Store::add_member`]; nothing is added on error.
    pub fn add_members(&self, team_id: &str, news: &[NewMember]) -> Result<Vec<Member>> {
        run!(self, members::add_members(team_id, news))
    }

    /// [`Store::add_members`] where every member is spawned with `spec` (one agent's
    /// definition and retry policy).
    ///
    /// # Errors
    /// As [`Store::add_member`]; nothing is added on error.
    pub fn add_members_with_spec(
        &self,
        team_id: &str,
        news: &[NewMember],
        spec: &MemberSpec,
    ) -> Result<Vec<Member>> {
        run!(self, members::add_members_with(team_id, news, spec))
    }

    /// The first `limit` members of a team in creation order (the lead first), and how many
    /// it has in all (for prompts that must stay short in large teams).
    pub fn list_members_head(&self, team_id: &str, limit: i64) -> Result<(Vec<Member>, i64)> {
        run!(self, members::list_members_head(team_id, limit))
    }

    /// A team by id with the first `limit` of its members in creation order and how many it
    /// has in all: what an agent's system prompt shows of its team, read once for every member
    /// a runner starts together (one connection, two reads).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when no team has that id.
    pub fn team_view(&self, team_id: &str, limit: i64) -> Result<(Team, Vec<Member>, i64)> {
        run!(self, members::team_view(team_id, limit))
    }

    /// A member by name; `lead` names the lead.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    pub fn get_member(&self, team_id: &str, name: &str) -> Result<Member> {
        run!(self, members::get_member(team_id, name))
    }

    /// The team's members in creation order (the lead first).
    pub fn list_members(&self, team_id: &str) -> Result<Vec<Member>> {
        run!(self, members::list_members(team_id))
    }

    /// The members of a team named in `names` (`lead` names the lead), in creation order;
    /// names with no member are left out. Reads only those rows: a live view that needs the
    /// rows of the few members that just ended does not read a 1000-member team each time.
    pub fn members_named(&self, team_id: &str, names: &[String]) -> Result<Vec<Member>> {
        run!(self, members::members_named(team_id, names))
    }

    /// Moves a member between live states: [`MemberEvent::Sleep`] (running → idle),
    /// [`MemberEvent::Wake`] (idle → running), [`MemberEvent::Park`] (running → waiting) or
    /// [`MemberEvent::Continue`] (waiting → running).
    ///
    /// # Errors
    /// [`StoreError::Illegal`] for a move the member lifecycle does not allow.
    pub fn member_step(&self, team_id: &str, name: &str, event: MemberEvent) -> Result<Member> {
        run!(self, members::member_step(team_id, name, event))
    }

    /// Lets active team `team_id`'s foreground owner go (its pid and host cleared), with a
    /// `team.released` event saying `why`: reconciliation no longer fails the team when that
    /// process ends. What `team run --on-ask park` does when it stops for input.
    ///
    /// # Errors
    /// [`StoreError::Illegal`] when the team ended; [`StoreError::NotFound`] when unknown.
    pub fn release_team_owner(&self, team_id: &str, why: &str) -> Result<Team> {
        run!(self, teams::release_team_owner(team_id, why))
    }

    /// Asks a human to approve `new` (a tool call or a plan) for member `member`, in one
    /// transaction (issue 18). Returns, in order of precedence: the member's earlier request
    /// for the same call once decided (what a member resumed after its runner died finds); for
    /// a tool call, an `always` approval of the tool in the team; else the pending request
    /// (the earlier one or a new row, with an `approval.requested` event), the member parked
    /// (`running → waiting`). The caller acts on the returned row's `status`.
    ///
    /// # Errors
    /// [`StoreError::Illegal`] when the team ended or the member is not running (or waiting);
    /// [`StoreError::NotFound`] for an unknown team or member.
    pub fn ask_approval(
        &self,
        team_id: &str,
        member: &str,
        new: &NewApproval,
    ) -> Result<team_core::Approval> {
        run!(self, approvals::ask_approval(team_id, member, new))
    }

    /// Approval request `id`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is none.
    pub fn approval(&self, id: i64) -> Result<team_core::Approval> {
        run!(self, approvals::get_approval(id))
    }

    /// The approval requests of team `team_id` (of every team when `None`), oldest first;
    /// only the undecided ones with `pending_only`.
    pub fn list_approvals(
        &self,
        team_id: Option<&str>,
        pending_only: bool,
    ) -> Result<Vec<team_core::Approval>> {
        run!(self, approvals::list_approvals(team_id, pending_only))
    }

    /// Decides approval request `id` as `decided_by` (`user` from the CLI): approve (with
    /// `always`, every later call of the tool in the team is allowed) or deny with a reason,
    /// with an `approval.approved` / `approval.denied` event. The waiting member sees it at
    /// its next look (a live runner's, or on `team resume`).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown id; [`StoreError::Illegal`] when it was
    /// already decided or its team ended.
    pub fn decide_approval(
        &self,
        id: i64,
        decision: &ApprovalDecision,
        decided_by: &str,
    ) -> Result<team_core::Approval> {
        run!(self, approvals::decide_approval(id, decision, decided_by))
    }

    /// Fails member `name` with `error` unless it already answered its lead (an unread
    /// `result` or `completion` message from it to the lead), in one transaction; `None` when
    /// it answered or had already ended. A workflow that stops waiting (token budget spent)
    /// uses it so that no answer that reached the lead is reported as missing.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown team or member.
    pub fn fail_member_unless_answered(
        &self,
        team_id: &str,
        name: &str,
        error: &str,
    ) -> Result<Option<Finished>> {
        run!(
            self,
            ends::fail_member_unless_answered(team_id, name, error)
        )
    }

    /// Ends a member (completed, failed, cancelled or timed out) in one transaction: the
    /// guarded status change, its in-progress tasks (failed on failure or timeout, released on
    /// cancellation), the notice to the lead (`[AGENT COMPLETED] name: …` /
    /// `[AGENT FAILURE] name: …`), and `[ALL MEMBERS DONE] …` when it was the last live member.
    ///
    /// # Errors
    /// [`StoreError::Illegal`] when the member is already terminal (terminal states never
    /// change).
    pub fn finish_member(&self, team_id: &str, name: &str, outcome: &Outcome) -> Result<Finished> {
        run!(
            self,
            ends::finish_member(team_id, name, outcome, &Progress::default(), None)
        )
    }

    /// Ends an attempt of member `name` of team `team_id` that failed with a retryable
    /// `cause` (`error` says what happened): it goes back to `pending` for its next attempt
    /// when its retry policy has one left (`team_core::retry::plan_retry`: `member.retried`
    /// event, its `in_progress` tasks released, no notice to the lead), else it fails as
    /// [`Store::finish_member`] fails it. `progress` is written either way. One transaction.
    ///
    /// With `attempt` (the attempt the caller saw: a runner's claim, a reconcile's read), it
    /// is refused, writing nothing, once the member moved on to another attempt.
    ///
    /// # Errors
    /// [`StoreError::Illegal`] when the member is `pending` or terminal, or on another
    /// attempt than `attempt`; not found.
    pub fn retry_member(
        &self,
        team_id: &str,
        name: &str,
        cause: team_core::retry::RetryCause,
        error: &str,
        progress: &Progress,
        attempt: Option<i64>,
    ) -> Result<Retried> {
        run!(
            self,
            ends::retry_member(team_id, name, cause, error, progress, attempt)
        )
    }

    /// [`Store::finish_member`] that first writes the runner's last `progress` of the member
    /// (counters, pid, events) in the same transaction. The progress is kept even when the
    /// member had already ended (e.g. a disband won the race): then the error is returned
    /// after it was written.
    ///
    /// # Errors
    /// As [`Store::finish_member`].
    pub fn finish_member_with(
        &self,
        team_id: &str,
        name: &str,
        outcome: &Outcome,
        progress: &Progress,
    ) -> Result<Finished> {
        run!(
            self,
            ends::finish_member(team_id, name, outcome, progress, None)
        )
    }

    /// Ends several members at once: one write transaction (one commit) for all of them, each
    /// end in a savepoint of its own, so one refused end (already ended: `Illegal`) or one
    /// failed statement undoes only itself. Each result is what [`Store::finish_member_with`]
    /// would have returned for that end, in the order of `ends`. A runner ends the members
    /// that finished together this way (bench/findings.md § 7).
    ///
    /// # Errors
    /// The outer `Err` when the transaction itself failed (no connection, `BEGIN` or `COMMIT`
    /// refused): then nothing was written.
    pub fn finish_members(&self, ends: &[MemberEnd]) -> Result<Vec<Result<Finished>>> {
        run!(self, ends::finish_members(ends))
    }

    /// Claims up to `limit` pending members at once (oldest first, one transaction): what
    /// [`Store::claim_pending_member`] does, for a runner with several free slots. Empty when
    /// nothing is pending.
    pub fn claim_pending_members(
        &self,
        runner_id: &str,
        team: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Member>> {
        run!(self, runners::claim_pending_members(runner_id, team, limit))
    }

    /// [`Store::claim_pending_members`] for a runner whose environment has fingerprint `env`
    /// (see [`MemberSpec::env_fingerprint`]): it claims only members spawned with no
    /// fingerprint or with this one (`None`: only members with none).
    pub fn claim_pending_members_for(
        &self,
        runner_id: &str,
        team: Option<&str>,
        env: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Member>> {
        run!(
            self,
            runners::claim_pending_members_for(runner_id, team, env, limit)
        )
    }

    /// Adds a member with what it was spawned with ([`MemberSpec`]: its agent definition and
    /// its environment's fingerprint), like [`Store::add_member`] otherwise.
    ///
    /// # Errors
    /// As [`Store::add_member`].
    pub fn add_member_with_spec(
        &self,
        team_id: &str,
        new: &NewMember,
        spec: &MemberSpec,
    ) -> Result<Member> {
        run!(self, members::add_member_with_spec(team_id, new, spec))
    }

    /// What each of the members `ids` was spawned with ([`MemberSpec`]); members spawned
    /// without one are not in the map.
    pub fn member_specs(&self, ids: &[i64]) -> Result<std::collections::HashMap<i64, MemberSpec>> {
        run!(self, members::member_specs(ids))
    }

    /// Registers a runner with its heartbeat period and environment fingerprint
    /// ([`NewRunner`]); [`Store::register_runner`] is this with a 2 s period and no
    /// fingerprint.
    pub fn register_runner_with(&self, new: &NewRunner) -> Result<Runner> {
        run!(self, runners::register_runner_with(new))
    }

    /// Takes the oldest pending member (FIFO across the database's active teams, or of team
    /// `team` only) for a runner: pending → running. Two runners never take the same member.
    pub fn claim_pending_member(
        &self,
        runner_id: &str,
        team: Option<&str>,
    ) -> Result<Option<Member>> {
        run!(self, runners::claim_pending_member(runner_id, team))
    }

    /// Ends a persistent member's turn in one transaction: writes its `progress`, sends
    /// `result` to the lead as a `result` message (not for the lead itself, nor when `None`)
    /// and moves the member running → idle. Returns the deliveries (to wake the lead).
    ///
    /// # Errors
    /// [`StoreError::Illegal`] when the team is no longer active, the lead has ended or the
    /// member is not running (it was ended elsewhere), or with `attempt` (the runner's claim)
    /// when the member moved on to another attempt: nothing is written then;
    /// [`StoreError::NotFound`] for an unknown team or member.
    pub fn end_turn(
        &self,
        team_id: &str,
        member: &str,
        member_id: i64,
        progress: &Progress,
        result: Option<&str>,
        attempt: Option<i64>,
    ) -> Result<Vec<Message>> {
        run!(
            self,
            members::end_turn(
                team_id,
                member,
                member_id,
                progress,
                &types::EndOfTurn {
                    result,
                    checkpoint: None,
                    attempt,
                }
            )
        )
    }

    /// [`Store::end_turn`] that also writes the member's conversation `checkpoint` (its turn
    /// done) in the same transaction: a resumed member whose checkpoint ends a turn knows its
    /// result was sent. With `checkpoint.attempt`, refused once the member moved on to another
    /// attempt.
    ///
    /// # Errors
    /// As [`Store::end_turn`].
    pub fn end_turn_checkpointed(
        &self,
        team_id: &str,
        member: &str,
        member_id: i64,
        progress: &Progress,
        result: Option<&str>,
        checkpoint: &NewCheckpoint<'_>,
    ) -> Result<Vec<Message>> {
        run!(
            self,
            members::end_turn(
                team_id,
                member,
                member_id,
                progress,
                &types::EndOfTurn {
                    result,
                    checkpoint: Some(checkpoint),
                    attempt: checkpoint.attempt,
                }
            )
        )
    }

    /// Writes `cp` as its member's latest conversation checkpoint (`checkpoints`).
    ///
    /// # Errors
    /// A database error; an unknown member (foreign key).
    pub fn save_checkpoint(&self, cp: &NewCheckpoint<'_>) -> Result<()> {
        run!(self, checkpoints::save_checkpoint(cp))
    }

    /// The latest conversation checkpoint of member `member_id`, if it wrote one.
    ///
    /// # Errors
    /// A database error.
    pub fn checkpoint(&self, member_id: i64) -> Result<Option<Checkpoint>> {
        run!(self, checkpoints::checkpoint(member_id))
    }

    /// Takes up team `team_id` again after an interruption (`team resume`; the rules are
    /// `team_core::resume`): the team back to `active` (a no-op when it is), owned by `owner`
    /// (pid, host) when given; each member an interruption ended back to `pending` with its
    /// next attempt (the lead to `running`); the tasks the team's end cancelled back to
    /// `pending`; the interruption's notices withdrawn. One transaction, with a `team.resumed`
    /// event.
    ///
    /// # Errors
    /// [`StoreError::Illegal`] when the team is not resumable (completed, or ended by its
    /// lead's failure or a user); not found.
    pub fn resume_team(&self, team_id: &str, owner: Option<(i64, String)>) -> Result<Resumed> {
        run!(self, teams::resume_team(team_id, owner))
    }

    /// Writes a runner's `progress` of member `member` (id `member_id`) of team `team_id` in
    /// one transaction: its events, pid and counters. Does not change its status.
    pub fn record_progress(
        &self,
        team_id: &str,
        member: &str,
        member_id: i64,
        progress: &Progress,
    ) -> Result<()> {
        run!(
            self,
            members::record_progress(team_id, member, member_id, progress)
        )
    }

    /// Puts a member under a runner (a foreground run that created the member before its
    /// runner existed), so the runner's poller watches it.
    pub fn hold_member(&self, member_id: i64, runner_id: &str) -> Result<()> {
        run!(self, members::hold_member(member_id, runner_id))
    }

    /// The running and idle members a runner holds.
    pub fn members_of_runner(&self, runner_id: &str) -> Result<Vec<Member>> {
        run!(self, runners::members_of_runner(runner_id))
    }

    /// Member counts by status (wire name) over the active teams.
    pub fn count_members_by_status(&self) -> Result<Vec<(String, i64)>> {
        run!(self, members::count_members_by_status())
    }

    /// Pending members, and running or idle members held by a runner, in active teams: what
    /// keeps a detached runner alive.
    pub fn count_runner_work(&self) -> Result<i64> {
        run!(self, runners::count_runner_work())
    }

    /// Active teams that have a foreground owner process.
    pub fn owned_teams(&self) -> Result<Vec<Team>> {
        run!(self, teams::teams_owned_by())
    }

    // ------------------------------------------------------------ tasks

    /// Adds a pending task with the next id of the team (1, 2, …).
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for an empty title; [`StoreError::NotFound`] for a blocker or
    /// assignee that does not exist; [`StoreError::Illegal`] when the team is not active.
    pub fn add_task(&self, team_id: &str, new: &NewTask) -> Result<Task> {
        run!(self, tasks::add_task(team_id, new))
    }

    /// The team's tasks by id, optionally of one status.
    pub fn list_tasks(&self, team_id: &str, status: Option<TaskStatus>) -> Result<Vec<Task>> {
        run!(self, tasks::list_tasks(team_id, status))
    }

    /// One task.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    pub fn get_task(&self, team_id: &str, id: i64) -> Result<Task> {
        run!(self, tasks::get_task(team_id, id))
    }

    /// Claims a task for `member` atomically: task `id`, or with `None` the oldest claimable
    /// one (pending, its blockers completed, not reserved for another member). Exactly one of
    /// racing claimants wins.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when nothing is claimable; [`StoreError::Illegal`] /
    /// [`StoreError::Conflict`] when task `id` is not pending, is blocked, reserved, or was
    /// taken first.
    pub fn claim_task(&self, team_id: &str, member: &str, id: Option<i64>) -> Result<Task> {
        run!(self, tasks::claim_task(team_id, member, id, None, None))
    }

    /// [`Store::claim_task`] with a claim lease of `lease_ms` milliseconds (`None`: none):
    /// unless the task is completed, failed or released before then, it goes back to
    /// `pending` once the lease has run out, at the next claim or read of the board
    /// (`team task claim --lease SECS`; a killed claimant's task is so not stuck). The claim
    /// and its lease are one write. Abandoned tasks are given back by every claim.
    ///
    /// # Errors
    /// As [`Store::claim_task`]; [`StoreError::Illegal`] when the member has ended.
    pub fn claim_task_leased(
        &self,
        team_id: &str,
        member: &str,
        id: Option<i64>,
        lease_ms: Option<i64>,
    ) -> Result<Task> {
        run!(self, tasks::claim_task(team_id, member, id, lease_ms, None))
    }

    /// [`Store::claim_task_leased`] made by attempt `attempt` of `member` (a runner for the
    /// member it claimed, or the member's own process: `TEAM_MEMBER_ATTEMPT`): refused once
    /// the member has moved on to another attempt (fencing, `team_core::delivery::may_act`).
    ///
    /// # Errors
    /// As [`Store::claim_task_leased`].
    pub fn claim_task_as(
        &self,
        team_id: &str,
        member: &str,
        id: Option<i64>,
        lease_ms: Option<i64>,
        attempt: Option<i64>,
    ) -> Result<Task> {
        run!(
            self,
            tasks::claim_task(team_id, member, id, lease_ms, attempt)
        )
    }

    /// Claims up to `count` of the oldest claimable tasks for `member` at once (`team task
    /// claim --count K`): the rules of [`Store::claim_task_as`] without an id (the team
    /// active, the member live and, when `attempt` is given, of that attempt; abandoned
    /// claims given back first; blockers completed; tasks reserved for others left), each
    /// task with its own `task.claimed` event and lease (`lease_ms`, `None`: none), all in one
    /// write (on PostgreSQL one statement and one commit: what lets 8 claimers pass the
    /// ~5,000 commits/s a disk's flushes allow, see bench/findings.md). Fewer than `count`
    /// when fewer are claimable; tasks in id order; `count` 1 is [`Store::claim_task_as`].
    ///
    /// # Errors
    /// [`StoreError::Invalid`] when `count` is 0 or above 1000; [`StoreError::Empty`] when
    /// nothing is claimable; [`StoreError::Illegal`] when the member has ended or moved on to
    /// another attempt.
    pub fn claim_tasks(
        &self,
        team_id: &str,
        member: &str,
        count: usize,
        lease_ms: Option<i64>,
        attempt: Option<i64>,
    ) -> Result<Vec<Task>> {
        run!(
            self,
            tasks::claim_tasks(team_id, member, count, lease_ms, attempt)
        )
    }

    /// Completes, fails, releases or cancels a task, keeping `result` as its outcome text.
    ///
    /// # Errors
    /// [`StoreError::Illegal`] for a move the task lifecycle does not allow.
    pub fn update_task(
        &self,
        team_id: &str,
        id: i64,
        event: TaskEvent,
        result: Option<&str>,
    ) -> Result<Task> {
        run!(self, tasks::update_task(team_id, id, event, result, None))
    }

    /// [`Store::update_task`] made as member `actor`: refused once that member has ended
    /// (fencing), in the same transaction.
    ///
    /// # Errors
    /// As [`Store::update_task`]; [`StoreError::Illegal`] when `actor` has ended.
    pub fn update_task_as(
        &self,
        team_id: &str,
        id: i64,
        event: TaskEvent,
        result: Option<&str>,
        actor: Option<&Actor<'_>>,
    ) -> Result<Task> {
        run!(self, tasks::update_task(team_id, id, event, result, actor))
    }

    // ------------------------------------------------------------ messages

    /// Sends a message: one delivery for a member, one per live member but the sender for a
    /// broadcast. Returns the deliveries.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown sender or recipient; [`StoreError::Illegal`]
    /// when the team is not active or the recipient is terminal.
    /// A sender that has ended cannot send (fencing: [`StoreError::Illegal`]); a body larger
    /// than [`Store::max_message_bytes`] is [`StoreError::Invalid`].
    pub fn send_message(&self, team_id: &str, msg: &Outgoing<'_>) -> Result<Vec<Message>> {
        run!(
            self,
            messages::send_message(team_id, msg, None, false, self.max_message_bytes, None)
        )
    }

    /// [`Store::send_message`] with a de-duplication key chosen by the sender (`team send
    /// --key K`): when the sender already sent a message with this key, nothing new is stored
    /// and the earlier deliveries are returned. A sender that does not know whether its send
    /// was stored (it was killed) so sends again safely.
    ///
    /// # Errors
    /// As [`Store::send_message`].
    pub fn send_message_keyed(
        &self,
        team_id: &str,
        msg: &Outgoing<'_>,
        key: &str,
    ) -> Result<Vec<Message>> {
        self.send_message_with(team_id, msg, Some(key), false)
    }

    /// [`Store::send_message`] with an optional de-duplication `key` (as
    /// [`Store::send_message_keyed`]) and, with `interrupt` (`team send --interrupt`), marked
    /// to interrupt: a recipient LLM member in a model call has that call cancelled by its
    /// runner and asked again with the message (see [`Store::pending_interrupt`]); without,
    /// the message reaches a running LLM member before its next model call.
    ///
    /// # Errors
    /// As [`Store::send_message`].
    pub fn send_message_with(
        &self,
        team_id: &str,
        msg: &Outgoing<'_>,
        key: Option<&str>,
        interrupt: bool,
    ) -> Result<Vec<Message>> {
        self.send_message_as(team_id, msg, key, interrupt, None)
    }

    /// [`Store::send_message_with`] made by attempt `attempt` of the sending member (a
    /// runner for the member it claimed, or the member's own process: `TEAM_MEMBER_ATTEMPT`):
    /// refused once the member has moved on to another attempt (fencing,
    /// `team_core::delivery::may_act`). `None` checks the sender's state only.
    ///
    /// # Errors
    /// As [`Store::send_message`].
    pub fn send_message_as(
        &self,
        team_id: &str,
        msg: &Outgoing<'_>,
        key: Option<&str>,
        interrupt: bool,
        attempt: Option<i64>,
    ) -> Result<Vec<Message>> {
        let send = || {
            run!(
                self,
                messages::send_message(
                    team_id,
                    msg,
                    key,
                    interrupt,
                    self.max_message_bytes,
                    attempt
                )
            )
        };
        match send() {
            // Two sends with one key at once (a `team send --key` retried while the killed
            // first attempt's transaction was still open on a PostgreSQL server): both looked
            // for the key before either committed, and the second insert hit the unique index.
            // The first has committed now, so asking again returns its deliveries.
            Err(StoreError::Database(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ))) if key.is_some() => send(),
            r => r,
        }
    }

    /// True when member `member` of `team_id` has an unread message sent to interrupt it
    /// ([`Store::send_message_with`]), not held by a `team inbox` lease. Reads only; what a
    /// runner asks when a member in a model call is woken.
    pub fn pending_interrupt(&self, team_id: &str, member: &str) -> Result<bool> {
        run!(self, messages::pending_interrupt(team_id, member))
    }

    /// Takes a member's unread messages, oldest first, marking them delivered in the same
    /// statement (each message is delivered exactly once, across processes). With `peek`,
    /// reads without marking.
    pub fn take_inbox(&self, team_id: &str, member: &str, peek: bool) -> Result<Vec<Message>> {
        run!(self, messages::take_inbox(team_id, member, peek))
    }

    /// Takes a member's unread messages of kind `text` (`team send`, the `send_message`
    /// tool), oldest first, marking them delivered in the same statement (exactly once):
    /// what a running LLM member is given before its next model call. Other kinds (results,
    /// completion and failure notices, system messages) stay unread.
    pub fn take_text(&self, team_id: &str, member: &str) -> Result<Vec<Message>> {
        run!(self, messages::take_text(team_id, member))
    }

    /// Takes an idle member's unread messages and wakes it (`idle → running`) in one
    /// transaction; empty, with the member left idle, when nothing is unread. What a runner
    /// does when an idle member it holds is woken and a slot is free.
    ///
    /// # Errors
    /// [`StoreError::Illegal`] when there are messages but the member is not idle (e.g. it
    /// ended meanwhile), or with `attempt` (the runner's claim) when the member moved on to
    /// another attempt; nothing is taken then.
    pub fn take_inbox_and_wake(
        &self,
        team_id: &str,
        member: &str,
        attempt: Option<i64>,
    ) -> Result<Vec<Message>> {
        run!(
            self,
            messages::take_inbox_and_wake(team_id, member, attempt)
        )
    }

    /// Takes a member's visible unread messages under a delivery lease of `lease_ms`
    /// milliseconds (what `team inbox` does): they are hidden from other takes until the take
    /// is acknowledged with [`Store::ack_inbox`] (then they are delivered) or the lease runs
    /// out (then they are visible, and taken, again). Each message is so delivered at least
    /// once, with its stable id for de-duplication, even when the taker is killed.
    pub fn lease_inbox(&self, team_id: &str, member: &str, lease_ms: i64) -> Result<Leased> {
        let (lease, messages) = run!(self, messages::lease_inbox(team_id, member, lease_ms))?;
        Ok(Leased { lease, messages })
    }

    /// Acknowledges a take of [`Store::lease_inbox`]: its messages are marked delivered.
    /// Returns their ids.
    pub fn ack_inbox(&self, team_id: &str, member: &str, lease: &str) -> Result<Vec<i64>> {
        run!(self, messages::ack_inbox(team_id, member, lease))
    }

    /// The messages to `member` with an id above `after_id` (delivered or not), oldest first,
    /// at most `limit`: a cursor the consumer keeps (`team inbox --after ID`). Reads only.
    pub fn inbox_after(
        &self,
        team_id: &str,
        member: &str,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<Message>> {
        run!(
            self,
            messages::inbox_after(team_id, member, after_id, limit)
        )
    }

    /// [`Store::inbox_after`], only the messages sent by one of `senders` (member names; at
    /// most [`MAX_SENDERS`] of them, else [`StoreError::Invalid`]). A workflow's lead waiting
    /// for the answers of the members still working reads only theirs, not again the
    /// answers it already has (a 1000-member fan-out's lead read its whole inbox at every
    /// wake).
    pub fn inbox_after_from(
        &self,
        team_id: &str,
        member: &str,
        after_id: i64,
        limit: i64,
        senders: &[String],
    ) -> Result<Vec<Message>> {
        if senders.len() > MAX_SENDERS {
            return Err(StoreError::Invalid(format!(
                "at most {MAX_SENDERS} senders per inbox read, not {}; read the inbox without a sender filter",
                senders.len()
            )));
        }
        run!(
            self,
            messages::inbox_after_from(team_id, member, after_id, limit, senders)
        )
    }

    /// How many unread messages a member has (not counting those a `team inbox` take holds
    /// under its lease).
    pub fn unread_count(&self, team_id: &str, member: &str) -> Result<i64> {
        run!(self, messages::unread_count(team_id, member))
    }

    /// Every delivery of a team, oldest first.
    pub fn list_messages(&self, team_id: &str) -> Result<Vec<Message>> {
        run!(self, messages::list_messages(team_id))
    }

    // ------------------------------------------------------------ memory

    /// An agent's memory in a project, if any.
    pub fn memory_get(&self, agent: &str, project_root: &str) -> Result<Option<MemoryEntry>> {
        run!(self, memory::memory_get(agent, project_root))
    }

    /// Replaces an agent's memory, keeping the newest 100 KiB (cut on a UTF-8 boundary).
    pub fn memory_set(&self, agent: &str, project_root: &str, text: &str) -> Result<MemoryWrite> {
        run!(self, memory::memory_set(agent, project_root, text, None))
    }

    /// [`Store::memory_set`], [`Store::memory_append`] or (with `text` `None`)
    /// [`Store::memory_clear`] made as member `actor` (a `team memory` command inside a
    /// member): refused with [`StoreError::Illegal`] once that member has ended (fencing), in
    /// the write's own transaction. The result of a clear has `cut_bytes` 0 and the entry
    /// emptied.
    ///
    /// # Errors
    /// [`StoreError::Illegal`] when `actor` has ended; [`StoreError::NotFound`] when it does
    /// not exist.
    pub fn memory_write_as(
        &self,
        actor: &Actor<'_>,
        agent: &str,
        project_root: &str,
        write: MemoryOp<'_>,
    ) -> Result<Option<MemoryWrite>> {
        let a = Some(actor);
        Ok(match write {
            MemoryOp::Set(text) => Some(run!(
                self,
                memory::memory_set(agent, project_root, text, a)
            )?),
            MemoryOp::Append(text) => Some(run!(
                self,
                memory::memory_append(agent, project_root, text, a)
            )?),
            MemoryOp::Clear => {
                run!(self, memory::memory_clear(agent, project_root, a))?.then(|| MemoryWrite {
                    entry: MemoryEntry {
                        agent: agent.to_owned(),
                        project_root: project_root.to_owned(),
                        content: String::new(),
                        updated_at_ms: now_ms(),
                    },
                    cut_bytes: 0,
                })
            }
        })
    }

    /// Appends to an agent's memory (a newline between), keeping the newest 100 KiB.
    pub fn memory_append(
        &self,
        agent: &str,
        project_root: &str,
        text: &str,
    ) -> Result<MemoryWrite> {
        run!(self, memory::memory_append(agent, project_root, text, None))
    }

    /// Deletes an agent's memory; true if there was one.
    pub fn memory_clear(&self, agent: &str, project_root: &str) -> Result<bool> {
        run!(self, memory::memory_clear(agent, project_root, None))
    }

    // ------------------------------------------------------------ events

    /// Events after id `after_id` (0 for all), oldest first, at most `limit`; of one team or
    /// of the whole database.
    pub fn list_events(
        &self,
        team_id: Option<&str>,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<Event>> {
        run!(self, events::list_events(team_id, after_id, limit))
    }

    /// Appends an event that no store operation records itself (e.g. a provider call's usage).
    pub fn append_event(
        &self,
        team_id: Option<&str>,
        member: Option<&str>,
        kind: &str,
        payload: serde_json::Value,
    ) -> Result<()> {
        run!(self, events::append_event(team_id, member, kind, payload))
    }

    // ------------------------------------------------------------ runners

    /// Registers a runner process; its id goes on the members it claims.
    pub fn register_runner(&self, pid: i64, host: &str, max_agents: i64) -> Result<Runner> {
        run!(self, runners::register_runner(pid, host, max_agents))
    }

    /// Refreshes a runner's heartbeat (not once it is stopped) and says what the runner must
    /// do: [`Beat::Alive`] go on; [`Beat::StopRequested`] a stop was asked of it
    /// ([`Store::request_runner_stop`]); [`Beat::MarkedLost`] another process marked it
    /// stopped (found lost, e.g. after it was cut off from the database for three heartbeat
    /// periods: its members were retried or failed elsewhere). The runner stops itself on
    /// either of the last two.
    pub fn heartbeat_runner(&self, runner_id: &str) -> Result<Beat> {
        run!(self, runners::heartbeat_runner(runner_id))
    }

    /// Asks runner `runner_id` to stop, through the database (`team runner stop` for a runner
    /// it cannot signal, e.g. on another host): sets its `stop_requested_at_ms` (the first
    /// request counts; nothing for a stopped runner) and appends a `runner.stop_requested`
    /// event. The runner sees it at its next heartbeat and stops as on SIGTERM. Returns the
    /// runner's row as it is now.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown id; a database error.
    pub fn request_runner_stop(&self, runner_id: &str) -> Result<Runner> {
        run!(self, runners::request_runner_stop(runner_id))
    }

    /// Marks a runner stopped (a clean exit).
    pub fn stop_runner(&self, runner_id: &str) -> Result<()> {
        run!(self, runners::stop_runner(runner_id))
    }

    /// The highest message id, 0 when there is none. Ids only grow, so a change means a
    /// message was sent: one index lookup, cheap enough to ask every few milliseconds.
    pub fn last_message_id(&self) -> Result<i64> {
        run!(self, messages::last_message_id())
    }

    /// The running and idle members a runner holds, with unread counts: one cheap query
    /// pair for the runner's poller.
    pub fn held_members(&self, runner_id: &str) -> Result<Vec<HeldMember>> {
        run!(self, runners::held_members(runner_id))
    }

    /// Registered runners, oldest first; stopped ones only with `include_stopped`.
    pub fn list_runners(&self, include_stopped: bool) -> Result<Vec<Runner>> {
        run!(self, runners::list_runners(include_stopped))
    }
}
