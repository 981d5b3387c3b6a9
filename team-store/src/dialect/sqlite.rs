//! SQLite: write transactions are `BEGIN IMMEDIATE`, so a read-then-write never has to upgrade
//! its lock (no SQLITE_BUSY mid-transaction); one writer at a time makes row locks unneeded.

use diesel::SqliteConnection;
use diesel::prelude::*;
use team_core::{Message, Task};

use super::{Dialect, OneSend, Take, WrittenMember};
use crate::error::{Result, StoreError};
use crate::prepared::{Bind, Prepared};
use crate::rows::MemberRow;
use crate::schema::members;

/// Serialises this process's SQLite write transactions before they reach SQLite. Two
/// connections of one process that race for the write lock would otherwise meet SQLite's
/// busy handler, which sleeps 1, 2, 5, 10, … ms between tries: under a burst of writes
/// (hundreds of members ending at once) those sleeps, not the writes, set the pace. A
/// mutex hands the lock over at once; other processes still meet `busy_timeout`.
static WRITE_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

std::thread_local! {
    /// Write transactions this thread is inside (the lock is taken by the outermost).
    static DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Leaves one level of [`DEPTH`], also on unwinding.
struct Depth;

impl Drop for Depth {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

impl Dialect for SqliteConnection {
    fn write_tx<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let outermost = DEPTH.with(|d| d.get() == 0);
        let _lock = outermost.then(|| WRITE_LOCK.lock().unwrap_or_else(|p| p.into_inner()));
        DEPTH.with(|d| d.set(d.get() + 1));
        let _depth = Depth;
        // Inside a transaction of this connection (a batch, `finish_members`): a savepoint.
        use diesel::connection::TransactionManager;
        let nested = <Self as Connection>::TransactionManager::transaction_manager_status_mut(self)
            .transaction_depth()?
            .is_some();
        // When a statement fails in a way that makes SQLite undo the transaction itself (a
        // full disk, an I/O error), Diesel's own rollback then fails ("cannot rollback - no
        // transaction is active") and that error replaces the cause: keep the cause's text.
        let mut cause: Option<String> = None;
        let wrapped = |c: &mut Self| f(c).inspect_err(|e| cause = Some(e.to_string()));
        let r = if nested {
            self.transaction(wrapped)
        } else {
            self.immediate_transaction(wrapped)
        };
        r.map_err(|e| match cause {
            Some(text) if e.to_string().contains("cannot rollback") => {
                crate::error::classify(&text).unwrap_or(StoreError::Failed(text))
            }
            _ => e,
        })
    }

    fn lock_team(&mut self, _team_id: &str) -> Result<()> {
        Ok(())
    }

    fn lock_memory(&mut self, _agent: &str, _root: &str) -> Result<()> {
        Ok(())
    }

    fn notify_inbox(&mut self, _team_id: &str) -> Result<()> {
        Ok(())
    }

    /// Runs `plain` (the write without `RETURNING`), then reads the row it wrote; `None` when
    /// it changed no row. On SQLite `RETURNING` runs as a trigger, which makes the statement
    /// keep a journal of every page it touches (a 4 KB copy each): the write and a read of
    /// the row by key cost ~30 % less (bench/findings.md § 9).
    fn write_member<K: 'static>(
        &mut self,
        plain: &'static str,
        _returning: &'static str,
        binds: Vec<Bind>,
        which: WrittenMember<'_>,
    ) -> Result<Option<MemberRow>> {
        if Prepared::<K>::new(plain, binds).execute(self)? == 0 {
            return Ok(None);
        }
        let q = members::table.select(MemberRow::as_select());
        Ok(Some(match which {
            WrittenMember::Id(id) => q.filter(members::id.eq(id)).get_result(self)?,
            WrittenMember::Named { team_id, name } => q
                .filter(members::team_id.eq(team_id))
                .filter(members::name.eq(name))
                .get_result(self)?,
        }))
    }

    /// No one-statement claim on SQLite: SQLite has no data-modifying CTEs, and its statements
    /// cost no round trips, so `claim_task`'s transaction is the whole path.
    fn claim_next_in_one_statement(
        &mut self,
        _team_id: &str,
        _member: &str,
        _now: i64,
        _lease_ms: Option<i64>,
        _attempt: Option<i64>,
    ) -> Result<Option<Task>> {
        Ok(None)
    }

    /// None on SQLite (as [`Self::claim_next_in_one_statement`]): the transaction path claims.
    fn claim_many_in_one_statement(
        &mut self,
        _team_id: &str,
        _member: &str,
        _now: i64,
        _lease_ms: Option<i64>,
        _attempt: Option<i64>,
        _limit: i64,
    ) -> Result<Vec<Task>> {
        Ok(Vec::new())
    }

    /// None on SQLite: an insert each (no round trips to save).
    fn add_members_in_one_statement(
        &mut self,
        _team_id: &str,
        _rows: &[super::NewMemberRow<'_>],
        _spec: &crate::types::MemberSpec,
        _now: i64,
    ) -> Result<Option<Vec<MemberRow>>> {
        Ok(None)
    }

    /// None on SQLite: the transaction path claims.
    fn claim_members_in_one_statement(
        &mut self,
        _runner_id: &str,
        _team: Option<&str>,
        _env: Option<&str>,
        _limit: i64,
        _now: i64,
    ) -> Result<Option<Vec<MemberRow>>> {
        Ok(None)
    }

    /// None on SQLite (its statements cost no round trips): the transaction path sends.
    fn end_members_in_one_statement(
        &mut self,
        _team_id: &str,
        _lead: &str,
        _rows: &[super::EndRow],
        _now: i64,
    ) -> Result<Option<Vec<MemberRow>>> {
        Ok(None)
    }

    fn send_in_one_statement(&mut self, _send: &OneSend<'_>) -> Result<Option<Vec<Message>>> {
        Ok(None)
    }

    /// None on SQLite: the transaction path takes.
    fn take_in_one_statement(
        &mut self,
        _team_id: &str,
        _member: &str,
        _take: Take<'_>,
        _now: i64,
    ) -> Result<Option<Vec<Message>>> {
        Ok(None)
    }

    /// None on SQLite: the transaction path acknowledges.
    fn ack_in_one_statement(
        &mut self,
        _team_id: &str,
        _member: &str,
        _token: &str,
        _now: i64,
    ) -> Result<Option<Vec<i64>>> {
        Ok(None)
    }

    const PICK_CLAIMABLE_TASK: &'static str = "SELECT t.id AS id FROM tasks t \
         WHERE t.team_id = ? AND t.status = 'pending' \
           AND (t.assignee IS NULL OR t.assignee = ?) \
           AND NOT EXISTS (SELECT 1 FROM task_deps d JOIN tasks b \
               ON b.team_id = d.team_id AND b.id = d.blocker_id \
               WHERE d.team_id = t.team_id AND d.task_id = t.id AND b.status <> 'completed') \
         ORDER BY t.id LIMIT 1";

    /// A bound `LIMIT`: compiled again on each call, once per batch of claims.
    const PICK_CLAIMABLE_TASKS: &'static str = "SELECT t.id AS id FROM tasks t \
         WHERE t.team_id = ? AND t.status = 'pending' \
           AND (t.assignee IS NULL OR t.assignee = ?) \
           AND NOT EXISTS (SELECT 1 FROM task_deps d JOIN tasks b \
               ON b.team_id = d.team_id AND b.id = d.blocker_id \
               WHERE d.team_id = t.team_id AND d.task_id = t.id AND b.status <> 'completed') \
         ORDER BY t.id LIMIT ?";

    /// One query for a whole claim batch. A bound `LIMIT` makes SQLite compile the statement
    /// again on each call; once per batch that is cheap, once per member it was not.
    const PICK_PENDING_MEMBERS: &'static str = "SELECT m.id AS id FROM members m \
         JOIN teams t ON t.id = m.team_id \
         WHERE m.status = 'pending' AND t.status = 'active' \
           AND (? IS NULL OR m.team_id = ?) \
           AND (m.env_fingerprint IS NULL OR m.env_fingerprint = ?) \
           AND (m.not_before_ms IS NULL OR m.not_before_ms <= ?) ORDER BY m.id LIMIT ?";
}
