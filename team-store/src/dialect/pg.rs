//! PostgreSQL: READ COMMITTED transactions; writes that read first lock the team row
//! (`SELECT … FOR UPDATE`), claims pick their row with `FOR UPDATE SKIP LOCKED`, and a sent
//! message is announced on the `team_inbox` channel (`NOTIFY`) for waiters in other processes.

use diesel::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use team_core::Task;

use super::{Dialect, WrittenMember};
use crate::error::{Result, StoreError};
use crate::prepared::{Bind, Prepared};
use crate::rows::{MemberRow, TaskRow};

/// A claimed task as the one-statement claim returns it: the row and its blockers as
/// comma-separated ids (NULL when it has none).
#[derive(diesel::QueryableByName)]
struct ClaimedRow {
    #[diesel(embed)]
    task: TaskRow,
    #[diesel(sql_type = Nullable<Text>)]
    blocked_by: Option<String>,
}

impl Dialect for PgConnection {
    fn write_tx<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.transaction(f)
    }

    fn lock_team(&mut self, team_id: &str) -> Result<()> {
        crate::schema::teams::table
            .find(team_id)
            .select(crate::schema::teams::id)
            .for_update()
            .first::<String>(self)
            .optional()?;
        Ok(())
    }

    fn lock_memory(&mut self, agent: &str, root: &str) -> Result<()> {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1 || chr(1) || $2))::text")
            .bind::<Text, _>(agent)
            .bind::<Text, _>(root)
            .execute(self)?;
        Ok(())
    }

    fn notify_inbox(&mut self, team_id: &str) -> Result<()> {
        diesel::sql_query("SELECT pg_notify('team_inbox', $1)::text")
            .bind::<Text, _>(team_id)
            .execute(self)?;
        Ok(())
    }

    /// Runs `returning` (the write with `RETURNING *`): one round trip; `None` when it
    /// changed no row.
    fn write_member<K: 'static>(
        &mut self,
        _plain: &'static str,
        returning: &'static str,
        binds: Vec<Bind>,
        _which: WrittenMember<'_>,
    ) -> Result<Option<MemberRow>> {
        Ok(Prepared::<K>::new(returning, binds)
            .get_result(self)
            .optional()?)
    }

    /// Claims the oldest claimable task of `team_id` for `member` in one statement (one
    /// round trip, its own transaction): the team must be active and the member live, the
    /// task pending, unreserved or reserved for `member`, with every blocker completed; the
    /// row is picked `FOR UPDATE SKIP LOCKED`, updated to `in_progress`, and the
    /// `task.claimed` event is written by the same statement. `Ok(None)` when nothing was
    /// claimed, for whatever reason: `claim_task`'s transaction then finds the task or
    /// says why not. The `(team_id, member)` conditions are those of `claim_task`; the
    /// event payload is the same JSON text (`{"task":ID}`).
    ///
    /// Measured (BENCHMARKS.md, claims): the transaction path is ~9 round trips per claim.
    /// The update takes the picked id as a scalar subquery: joined `FROM pick`, the planner
    /// scanned every pending task of the board for each claim (O(N²) over a board).
    fn claim_next_in_one_statement(
        &mut self,
        team_id: &str,
        member: &str,
        now: i64,
    ) -> Result<Option<Task>> {
        struct Key;
        let (t, m) = (|| Bind::Text(team_id.into()), || Bind::Text(member.into()));
        let row = Prepared::<Key>::new(
            "WITH pick AS ( \
                SELECT t.id FROM tasks t \
                WHERE t.team_id = ? AND t.status = 'pending' \
                  AND (t.assignee IS NULL OR t.assignee = ?) \
                  AND EXISTS (SELECT 1 FROM teams tm WHERE tm.id = ? AND tm.status = 'active') \
                  AND EXISTS (SELECT 1 FROM members m WHERE m.team_id = ? AND m.name = ? \
                      AND m.status IN ('pending', 'running', 'idle', 'waiting')) \
                  AND NOT EXISTS (SELECT 1 FROM task_deps d JOIN tasks b \
                      ON b.team_id = d.team_id AND b.id = d.blocker_id \
                      WHERE d.team_id = t.team_id AND d.task_id = t.id AND b.status <> 'completed') \
                ORDER BY t.id LIMIT 1 FOR UPDATE OF t SKIP LOCKED), \
             u AS ( \
                UPDATE tasks SET status = 'in_progress', assignee = ?, updated_at_ms = ?, \
                    lease_until_ms = NULL \
                WHERE tasks.team_id = ? AND tasks.id = (SELECT id FROM pick) \
                  AND tasks.status = 'pending' \
                RETURNING tasks.*), \
             e AS ( \
                INSERT INTO events (team_id, member, kind, payload, created_at_ms) \
                SELECT u.team_id, ?, 'task.claimed', '{\"task\":' || u.id || '}', ? FROM u) \
             SELECT u.*, (SELECT string_agg(d.blocker_id::text, ',' ORDER BY d.blocker_id) \
                 FROM task_deps d WHERE d.team_id = u.team_id AND d.task_id = u.id) AS blocked_by \
             FROM u",
            vec![
                t(),
                m(),
                t(),
                t(),
                m(),
                m(),
                Bind::BigInt(now),
                t(),
                m(),
                Bind::BigInt(now),
            ],
        )
        .get_result::<ClaimedRow>(self)
        .optional()?;
        let Some(row) = row else { return Ok(None) };
        let blockers = row
            .blocked_by
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<i64>().map_err(|_| {
                    StoreError::Corrupt(format!("task blocker id `{s}` is not a number"))
                })
            })
            .collect::<Result<Vec<i64>>>()?;
        Ok(Some(row.task.into_entity(blockers)?))
    }

    const PICK_CLAIMABLE_TASK: &'static str = "SELECT t.id AS id FROM tasks t \
         WHERE t.team_id = ? AND t.status = 'pending' \
           AND (t.assignee IS NULL OR t.assignee = ?) \
           AND NOT EXISTS (SELECT 1 FROM task_deps d JOIN tasks b \
               ON b.team_id = d.team_id AND b.id = d.blocker_id \
               WHERE d.team_id = t.team_id AND d.task_id = t.id AND b.status <> 'completed') \
         ORDER BY t.id LIMIT 1 FOR UPDATE OF t SKIP LOCKED";

    /// Rows other transactions hold are skipped (locked for this transaction).
    const PICK_PENDING_MEMBERS: &'static str = "SELECT m.id AS id FROM members m \
         JOIN teams t ON t.id = m.team_id \
         WHERE m.status = 'pending' AND t.status = 'active' \
           AND (CAST(? AS text) IS NULL OR m.team_id = ?) \
           AND (m.env_fingerprint IS NULL OR m.env_fingerprint = CAST(? AS text)) \
           AND (m.not_before_ms IS NULL OR m.not_before_ms <= ?) \
         ORDER BY m.id LIMIT ? FOR UPDATE OF m SKIP LOCKED";
}
