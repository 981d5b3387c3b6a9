//! What differs between SQLite and PostgreSQL, listed in one place: the [`Dialect`] trait.
//!
//! The store's operations (`ops/`) are written once and compiled per connection type
//! (`diesel::SqliteConnection`, `diesel::PgConnection`); everything in them that is not the
//! same SQL on both engines goes through a hook of this trait, implemented in
//! [`sqlite`] and [`pg`]:
//!
//! | hook | SQLite | PostgreSQL |
//! |---|---|---|
//! | [`Dialect::write_tx`] | `BEGIN IMMEDIATE`, behind a process-wide write lock; keeps the cause of a failed rollback | a `READ COMMITTED` transaction |
//! | [`Dialect::lock_team`] | nothing (one writer at a time) | `SELECT … FOR UPDATE` of the team row |
//! | [`Dialect::lock_memory`] | nothing | `pg_advisory_xact_lock` on (agent, root) |
//! | [`Dialect::notify_inbox`] | nothing (pollers look at `max(messages.id)`) | `pg_notify('team_inbox', team_id)` |
//! | [`Dialect::write_member`] | the write, then a read of the row by key | the write with `RETURNING *` (one round trip) |
//! | [`Dialect::claim_next_in_one_statement`] | none (`Ok(None)`: the transaction path claims) | one prepared statement: pick, update (with its lease), event, blockers |
//! | [`Dialect::claim_many_in_one_statement`] | none (empty: the transaction path claims) | one prepared statement: pick up to K, updates, an event each, blockers |
//! | [`Dialect::claim_members_in_one_statement`] | none (`Ok(None)`) | one prepared statement: pick, updates, team held, events |
//! | [`Dialect::add_members_in_one_statement`] | none (`Ok(None)`: an insert each) | one prepared statement: every member (`json_to_recordset`) and its event |
//! | [`Dialect::end_members_in_one_statement`] | none (`Ok(None)`: a member's end at a time) | one prepared statement: the members' moves, counters, events, notices, `pg_notify` |
//! | [`Dialect::send_in_one_statement`] | none (`Ok(None)`) | one prepared statement: fencing, key, recipients, deliveries, event, `pg_notify` |
//! | [`Dialect::take_in_one_statement`] | none (`Ok(None)`) | one prepared statement: the take (or lease), its event, the broadcast bodies |
//! | [`Dialect::ack_in_one_statement`] | none (`Ok(None)`) | one prepared statement: the acknowledgement and its event |
//! | [`Dialect::PICK_CLAIMABLE_TASK`] | `… LIMIT 1` | `… LIMIT 1 FOR UPDATE OF t SKIP LOCKED` |
//! | [`Dialect::PICK_CLAIMABLE_TASKS`] | `… LIMIT ?` | `… LIMIT ? FOR UPDATE OF t SKIP LOCKED` |
//! | [`Dialect::PICK_PENDING_MEMBERS`] | `? IS NULL` | `CAST(? AS text) IS NULL`, `FOR UPDATE OF m SKIP LOCKED` |
//!
//! (Diesel's `MultiConnection` was not used because its shared backend lacks `RETURNING` and
//! `ON CONFLICT`, which the guarded updates and memory upserts need.)

pub(crate) mod pg;
pub(crate) mod sqlite;

use crate::error::Result;
use crate::prepared::Bind;
use crate::rows::MemberRow;
use team_core::{Message, MessageKind, Task};

/// The per-engine hooks of the store's operations (see the module docs for the table).
pub(crate) trait Dialect: diesel::Connection + Sized {
    /// Runs `f` in a write transaction; inside another transaction of this connection (a
    /// batch, `finish_members`), in a savepoint.
    fn write_tx<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T>;

    /// Locks the team row `team_id` for the rest of the transaction, before a write that reads
    /// the team first (every member change locks the team before the member row).
    fn lock_team(&mut self, team_id: &str) -> Result<()>;

    /// Serialises read-modify-writes of one memory (`agent`, `root`) for the rest of the
    /// transaction (an append reads the old text).
    fn lock_memory(&mut self, agent: &str, root: &str) -> Result<()>;

    /// Tells waiters in other processes that team `team_id` has new messages (at commit).
    fn notify_inbox(&mut self, team_id: &str) -> Result<()>;

    /// Runs a member `INSERT`, or an `UPDATE` of at most one member row, and returns the row
    /// it wrote (`None` when it changed none). `plain` is the statement, `returning` the same
    /// with ` RETURNING *`; `which` says how to find the row again; `K` keys the prepared
    /// statement. Use through [`member_write!`].
    fn write_member<K: 'static>(
        &mut self,
        plain: &'static str,
        returning: &'static str,
        binds: Vec<Bind>,
        which: WrittenMember<'_>,
    ) -> Result<Option<MemberRow>>;

    /// Claims the oldest claimable task of `team_id` for `member` in one statement where the
    /// engine has one; `Ok(None)` when it claimed nothing (or has no such statement): the
    /// transaction path then claims or says why not.
    /// `lease_ms` is the claim's lease (`None`: none); `attempt`, when given, must be the
    /// member's current attempt (fencing). A team with abandoned claims (an
    /// `in_progress` task whose lease ran out) is left to the transaction path, which gives
    /// them back first.
    fn claim_next_in_one_statement(
        &mut self,
        team_id: &str,
        member: &str,
        now: i64,
        lease_ms: Option<i64>,
        attempt: Option<i64>,
    ) -> Result<Option<Task>>;

    /// [`Dialect::claim_next_in_one_statement`] for up to `limit` (≥ 1) tasks, oldest first,
    /// each with its own `task.claimed` event, in one statement where the engine has one;
    /// empty when it claimed nothing (or has no such statement): the transaction path then
    /// claims or says why not.
    fn claim_many_in_one_statement(
        &mut self,
        team_id: &str,
        member: &str,
        now: i64,
        lease_ms: Option<i64>,
        attempt: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Task>>;

    /// Claims up to `limit` pending members for runner `runner_id` in one statement where the
    /// engine has one (what `claim_pending_members_for`'s transaction does: the same pick,
    /// each member pending → running under the runner, its team marked held, a
    /// `member.running` event each), oldest first: a retried member only once its backoff
    /// passed (`not_before_ms <= now`), and nothing for a runner marked stopped (found lost).
    /// `Ok(None)`: no such statement.
    fn claim_members_in_one_statement(
        &mut self,
        runner_id: &str,
        team: Option<&str>,
        env: Option<&str>,
        limit: i64,
        now: i64,
    ) -> Result<Option<Vec<MemberRow>>>;

    /// Inserts the members `rows` (names already chosen) of team `team_id` with their
    /// `member.added` events in one statement where the engine has one, inside the caller's
    /// transaction; the rows in order. `spec` is what each was spawned with. `Ok(None)`: no
    /// such statement (the caller inserts them one by one).
    fn add_members_in_one_statement(
        &mut self,
        team_id: &str,
        rows: &[NewMemberRow<'_>],
        spec: &crate::types::MemberSpec,
        now: i64,
    ) -> Result<Option<Vec<MemberRow>>>;

    /// Writes the ends `rows` of members of team `team_id` (planned and checked by the caller,
    /// under the team lock, inside its transaction) in one statement where the engine has
    /// one: each member's guarded move to its terminal state with its counters, its events,
    /// its notice to `lead` with the `message.sent` event, and the wake-up of waiters. The
    /// rows written (fewer than `rows` when a member was no longer in the status read: the
    /// caller then rolls back). `Ok(None)`: no such statement (the caller writes them one by
    /// one).
    fn end_members_in_one_statement(
        &mut self,
        team_id: &str,
        lead: &str,
        rows: &[EndRow],
        now: i64,
    ) -> Result<Option<Vec<MemberRow>>>;

    /// Stores a send in one statement where the engine has one: checks the sender (live in
    /// an active team: `team_core::delivery::may_act`) and its key, picks the recipients,
    /// inserts the deliveries (the body once), the `message.sent` event, and wakes waiters.
    /// `Ok(None)` when it stored nothing, for whatever reason (a refusal, a key already used,
    /// no such statement): the transaction path then stores it or says why not.
    fn send_in_one_statement(&mut self, send: &OneSend<'_>) -> Result<Option<Vec<Message>>>;

    /// Takes (marks delivered, or leases) the unread messages of `member` of `team_id` in
    /// one statement where the engine has one, with their event and the bodies of broadcast
    /// deliveries; oldest first. `Ok(None)` when the member was not found (or there is no
    /// such statement): the transaction path then takes or says why not.
    fn take_in_one_statement(
        &mut self,
        team_id: &str,
        member: &str,
        take: Take<'_>,
        now: i64,
    ) -> Result<Option<Vec<Message>>>;

    /// Acknowledges the lease `token` of `member` in one statement where the engine has one
    /// (the messages still under it marked delivered, one `message.delivered` event); their
    /// ids, ascending. `Ok(None)` as for [`Dialect::take_in_one_statement`].
    fn ack_in_one_statement(
        &mut self,
        team_id: &str,
        member: &str,
        token: &str,
        now: i64,
    ) -> Result<Option<Vec<i64>>>;

    /// The id of the oldest claimable task (`id` column) of a team (bind 1) for a member
    /// (bind 2): pending, unreserved or reserved for the member, every blocker completed.
    const PICK_CLAIMABLE_TASK: &'static str;

    /// [`Dialect::PICK_CLAIMABLE_TASK`] for up to `limit` tasks (bind 3), oldest first.
    const PICK_CLAIMABLE_TASKS: &'static str;

    /// The ids (`id` column) of up to `limit` pending members of active teams, oldest first.
    /// Binds: the team filter twice (`? IS NULL OR m.team_id = ?`), the runner's environment
    /// fingerprint, now (ms: a retried member waits out `not_before_ms`), the limit.
    const PICK_PENDING_MEMBERS: &'static str;
}

/// A send for [`Dialect::send_in_one_statement`]: the sender (a member name or `lead`),
/// one recipient (`Some`, a name or `lead`) or every live member but the sender (`None`).
pub(crate) struct OneSend<'a> {
    pub team_id: &'a str,
    pub from: &'a str,
    pub to: Option<&'a str>,
    pub kind: MessageKind,
    pub body: &'a str,
    pub key: Option<&'a str>,
    pub interrupt: bool,
    pub now: i64,
    /// The sender's attempt (fencing, `members.attempt`); `None`: the send names none.
    pub attempt: Option<i64>,
}

/// A member to insert with [`Dialect::add_members_in_one_statement`]: its columns, and the
/// payload of its `member.added` event (JSON text).
#[derive(Debug, serde::Serialize)]
pub(crate) struct NewMemberRow<'a> {
    /// Its place in the list (the insert keeps the order).
    pub ord: usize,
    pub name: &'a str,
    pub agent: &'a str,
    pub status: &'a str,
    pub prompt: Option<&'a str>,
    pub persistent: bool,
    pub timeout_secs: Option<i64>,
    pub runner_id: Option<&'a str>,
    pub started_at_ms: Option<i64>,
    pub payload: String,
}

/// One end of a batch as `Dialect::end_members_in_one_statement` writes it: the member's
/// guarded move, its counters, its events (its last turn's, then `member.<status>`), the
/// notice to the lead and its `message.sent` event, whose payload is `sent_head`, the
/// notice's id, `sent_tail`.
#[derive(Debug, serde::Serialize)]
pub(crate) struct EndRow {
    /// The order in the batch (events and notices are written in it).
    pub ord: i64,
    pub id: i64,
    pub name: String,
    /// The status the member must still have.
    pub from_status: String,
    pub to_status: String,
    pub result: Option<String>,
    pub error: Option<String>,
    pub busy_ms: i64,
    pub turns: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
    /// Whether `pid` is written (`Progress::pid` given).
    pub set_pid: bool,
    pub pid: Option<i64>,
    /// The notice's kind and body.
    pub kind: String,
    pub body: String,
    pub sent_head: String,
    pub sent_tail: String,
    /// The member's events in order: `{"seq", "kind", "payload"}` (payload as JSON text).
    pub events: Vec<EndEvent>,
}

/// An event of an [`EndRow`].
#[derive(Debug, serde::Serialize)]
pub(crate) struct EndEvent {
    pub seq: i64,
    pub kind: String,
    pub payload: String,
}

/// What [`Dialect::take_in_one_statement`] does with the unread messages.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Take<'a> {
    /// Marks them delivered (`take_inbox`); only those of this kind with `Some`
    /// (`take_text`).
    Deliver(Option<MessageKind>),
    /// Leases them (`lease_inbox`): this token, for this many ms.
    Lease { token: &'a str, lease_ms: i64 },
}

/// Which member row a [`member_write!`] wrote.
pub(crate) enum WrittenMember<'a> {
    /// The row with this id (an update by id).
    Id(i64),
    /// The row of this name in this team (an insert).
    Named { team_id: &'a str, name: &'a str },
}

/// A member `INSERT`, or an `UPDATE` of at most one member row, whose row is then wanted:
/// `member_write!(c, Key, "SQL", binds, which)` runs [`Dialect::write_member`] with the
/// statement as given and with ` RETURNING *` appended; each engine runs the form that is
/// cheaper for it.
macro_rules! member_write {
    ($c:expr, $key:ty, $sql:literal, $binds:expr, $which:expr) => {
        $crate::dialect::Dialect::write_member::<$key>(
            $c,
            $sql,
            concat!($sql, " RETURNING *"),
            $binds,
            $which,
        )
    };
}
pub(crate) use member_write;
