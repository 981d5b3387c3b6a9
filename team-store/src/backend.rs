//! The two backends: each module compiles `ops_body.rs` against its own connection type and
//! supplies the few statements that differ (transaction start, row locks, SKIP LOCKED, NOTIFY,
//! how a written member row is read back).

/// A member `INSERT`, or an `UPDATE` of at most one member row, whose row is then wanted:
/// `member_write!(c, Key, "SQL", binds, which)` runs `write_member::<Key>` with the statement
/// as given and with ` RETURNING *` appended; each backend runs the form that is cheaper for
/// it (see the two `write_member`s).
macro_rules! member_write {
    ($c:expr, $key:ty, $sql:literal, $binds:expr, $which:expr) => {
        write_member::<$key>($c, $sql, concat!($sql, " RETURNING *"), $binds, $which)
    };
}

/// Which member row a [`member_write!`] wrote.
pub(crate) enum WrittenMember<'a> {
    /// The row with this id (an update by id).
    Id(i64),
    /// The row of this name in this team (an insert).
    Named { team_id: &'a str, name: &'a str },
}

/// SQLite: write transactions are `BEGIN IMMEDIATE`, so a read-then-write never has to upgrade
/// its lock (no SQLITE_BUSY mid-transaction); one writer at a time makes row locks unneeded.
pub(crate) mod sqlite {
    use crate::prepared::{Bind, Prepared};

    pub(crate) type Conn = diesel::SqliteConnection;

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

    fn write_tx<T>(c: &mut Conn, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        let outermost = DEPTH.with(|d| d.get() == 0);
        let _lock = outermost.then(|| WRITE_LOCK.lock().unwrap_or_else(|p| p.into_inner()));
        DEPTH.with(|d| d.set(d.get() + 1));
        let _depth = Depth;
        // Inside a transaction of this connection (a batch, `finish_members`): a savepoint.
        use diesel::connection::{Connection, TransactionManager};
        let nested = <Conn as Connection>::TransactionManager::transaction_manager_status_mut(c)
            .transaction_depth()?
            .is_some();
        // When a statement fails in a way that makes SQLite undo the transaction itself (a
        // full disk, an I/O error), Diesel's own rollback then fails ("cannot rollback - no
        // transaction is active") and that error replaces the cause: keep the cause's text.
        let mut cause: Option<String> = None;
        let wrapped = |c: &mut Conn| f(c).inspect_err(|e| cause = Some(e.to_string()));
        let r = if nested {
            c.transaction(wrapped)
        } else {
            c.immediate_transaction(wrapped)
        };
        r.map_err(|e| match cause {
            Some(text) if e.to_string().contains("cannot rollback") => {
                crate::error::classify(&text).unwrap_or(StoreError::Failed(text))
            }
            _ => e,
        })
    }

    fn lock_team(_c: &mut Conn, _team_id: &str) -> Result<()> {
        Ok(())
    }

    /// Runs `plain` (the write without `RETURNING`), then reads the row it wrote; `None` when
    /// it changed no row. On SQLite `RETURNING` runs as a trigger, which makes the statement
    /// keep a journal of every page it touches (a 4 KB copy each): the write and a read of
    /// the row by key cost ~30 % less (bench/findings.md § 9).
    fn write_member<K: 'static>(
        c: &mut Conn,
        plain: &'static str,
        _returning: &'static str,
        binds: Vec<Bind>,
        which: super::WrittenMember<'_>,
    ) -> Result<Option<MemberRow>> {
        if Prepared::<K>::new(plain, binds).execute(c)? == 0 {
            return Ok(None);
        }
        let q = members::table.select(MemberRow::as_select());
        Ok(Some(match which {
            super::WrittenMember::Id(id) => q.filter(members::id.eq(id)).get_result(c)?,
            super::WrittenMember::Named { team_id, name } => q
                .filter(members::team_id.eq(team_id))
                .filter(members::name.eq(name))
                .get_result(c)?,
        }))
    }

    fn lock_memory(_c: &mut Conn, _agent: &str, _root: &str) -> Result<()> {
        Ok(())
    }

    fn notify_inbox(_c: &mut Conn, _team_id: &str) -> Result<()> {
        Ok(())
    }

    fn pick_claimable_task(c: &mut Conn, team_id: &str, member: &str) -> Result<Option<i64>> {
        struct Key;
        Ok(Prepared::<Key>::new(
            "SELECT t.id AS id FROM tasks t \
             WHERE t.team_id = ? AND t.status = 'pending' \
               AND (t.assignee IS NULL OR t.assignee = ?) \
               AND NOT EXISTS (SELECT 1 FROM task_deps d JOIN tasks b \
                   ON b.team_id = d.team_id AND b.id = d.blocker_id \
                   WHERE d.team_id = t.team_id AND d.task_id = t.id AND b.status <> 'completed') \
             ORDER BY t.id LIMIT 1",
            vec![Bind::Text(team_id.into()), Bind::Text(member.into())],
        )
        .get_result::<IdRow>(c)
        .optional()?
        .map(|r| r.id))
    }

    /// No one-statement claim on SQLite: SQLite has no data-modifying CTEs, and its statements
    /// cost no round trips, so [`claim_task`]'s transaction is the whole path.
    fn claim_next_in_one_statement(
        _c: &mut Conn,
        _team_id: &str,
        _member: &str,
        _now: i64,
    ) -> Result<Option<Task>> {
        Ok(None)
    }

    /// Up to `limit` pending members of active teams (of `team`, when given), oldest first:
    /// one query for a whole claim batch. A bound `LIMIT` makes SQLite compile the statement
    /// again on each call; once per batch that is cheap, once per member it was not.
    fn pick_pending_members(
        c: &mut Conn,
        team: Option<&str>,
        env: Option<&str>,
        limit: i64,
    ) -> Result<Vec<i64>> {
        struct Key;
        pending_member_ids::<Key>(
            c,
            "SELECT m.id AS id FROM members m JOIN teams t ON t.id = m.team_id \
             WHERE m.status = 'pending' AND t.status = 'active' \
               AND (? IS NULL OR m.team_id = ?) \
               AND (m.env_fingerprint IS NULL OR m.env_fingerprint = ?) ORDER BY m.id LIMIT ?",
            team,
            env,
            limit,
        )
    }

    include!("ops_body.rs");
}

/// PostgreSQL: READ COMMITTED transactions; writes that read first lock the team row
/// (`SELECT … FOR UPDATE`), claims pick their row with `FOR UPDATE SKIP LOCKED`, and a sent
/// message is announced on the `team_inbox` channel (`NOTIFY`) for waiters in other processes.
pub(crate) mod pg {
    use crate::prepared::{Bind, Prepared};
    use diesel::sql_types::{Nullable, Text};

    pub(crate) type Conn = diesel::PgConnection;

    fn write_tx<T>(c: &mut Conn, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        c.transaction(f)
    }

    fn lock_team(c: &mut Conn, team_id: &str) -> Result<()> {
        crate::schema::teams::table
            .find(team_id)
            .select(crate::schema::teams::id)
            .for_update()
            .first::<String>(c)
            .optional()?;
        Ok(())
    }

    /// Runs `returning` (the write with `RETURNING *`): one round trip; `None` when it
    /// changed no row.
    fn write_member<K: 'static>(
        c: &mut Conn,
        _plain: &'static str,
        returning: &'static str,
        binds: Vec<Bind>,
        _which: super::WrittenMember<'_>,
    ) -> Result<Option<MemberRow>> {
        Ok(Prepared::<K>::new(returning, binds)
            .get_result(c)
            .optional()?)
    }

    fn lock_memory(c: &mut Conn, agent: &str, root: &str) -> Result<()> {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1 || chr(1) || $2))::text")
            .bind::<Text, _>(agent)
            .bind::<Text, _>(root)
            .execute(c)?;
        Ok(())
    }

    fn notify_inbox(c: &mut Conn, team_id: &str) -> Result<()> {
        diesel::sql_query("SELECT pg_notify('team_inbox', $1)::text")
            .bind::<Text, _>(team_id)
            .execute(c)?;
        Ok(())
    }

    fn pick_claimable_task(c: &mut Conn, team_id: &str, member: &str) -> Result<Option<i64>> {
        struct Key;
        Ok(Prepared::<Key>::new(
            "SELECT t.id AS id FROM tasks t \
             WHERE t.team_id = ? AND t.status = 'pending' \
               AND (t.assignee IS NULL OR t.assignee = ?) \
               AND NOT EXISTS (SELECT 1 FROM task_deps d JOIN tasks b \
                   ON b.team_id = d.team_id AND b.id = d.blocker_id \
                   WHERE d.team_id = t.team_id AND d.task_id = t.id AND b.status <> 'completed') \
             ORDER BY t.id LIMIT 1 FOR UPDATE OF t SKIP LOCKED",
            vec![Bind::Text(team_id.into()), Bind::Text(member.into())],
        )
        .get_result::<IdRow>(c)
        .optional()?
        .map(|r| r.id))
    }

    /// A claimed task as the one-statement claim returns it: the row and its blockers as
    /// comma-separated ids (NULL when it has none).
    #[derive(diesel::QueryableByName)]
    struct ClaimedRow {
        #[diesel(embed)]
        task: TaskRow,
        #[diesel(sql_type = Nullable<Text>)]
        blocked_by: Option<String>,
    }

    /// Claims the oldest claimable task of `team_id` for `member` in one statement (one
    /// round trip, its own transaction): the team must be active and the member live, the
    /// task pending, unreserved or reserved for `member`, with every blocker completed; the
    /// row is picked `FOR UPDATE SKIP LOCKED`, updated to `in_progress`, and the
    /// `task.claimed` event is written by the same statement. `Ok(None)` when nothing was
    /// claimed, for whatever reason: [`claim_task`]'s transaction then finds the task or
    /// says why not. The `(team_id, member)` conditions are those of `claim_task`; the
    /// event payload is the same JSON text (`{"task":ID}`).
    ///
    /// Measured (BENCHMARKS.md, claims): the transaction path is ~9 round trips per claim.
    /// The update takes the picked id as a scalar subquery: joined `FROM pick`, the planner
    /// scanned every pending task of the board for each claim (O(N²) over a board).
    fn claim_next_in_one_statement(
        c: &mut Conn,
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
                      AND m.status IN ('pending', 'running', 'idle')) \
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
        .get_result::<ClaimedRow>(c)
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

    /// Up to `limit` pending members of active teams (of `team`, when given), oldest first,
    /// locked for this transaction; rows other transactions hold are skipped.
    fn pick_pending_members(
        c: &mut Conn,
        team: Option<&str>,
        env: Option<&str>,
        limit: i64,
    ) -> Result<Vec<i64>> {
        struct Key;
        pending_member_ids::<Key>(
            c,
            "SELECT m.id AS id FROM members m JOIN teams t ON t.id = m.team_id \
             WHERE m.status = 'pending' AND t.status = 'active' \
               AND (CAST(? AS text) IS NULL OR m.team_id = ?) \
               AND (m.env_fingerprint IS NULL OR m.env_fingerprint = CAST(? AS text)) \
             ORDER BY m.id LIMIT ? FOR UPDATE OF m SKIP LOCKED",
            team,
            env,
            limit,
        )
    }

    include!("ops_body.rs");
}
