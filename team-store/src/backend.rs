//! The two backends: each module compiles `ops_body.rs` against its own connection type and
//! supplies the few statements that differ (transaction start, row locks, SKIP LOCKED, NOTIFY).

/// SQLite: write transactions are `BEGIN IMMEDIATE`, so a read-then-write never has to upgrade
/// its lock (no SQLITE_BUSY mid-transaction); one writer at a time makes row locks unneeded.
pub(crate) mod sqlite {
    use diesel::sql_types::{Nullable, Text};

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
        c.immediate_transaction(f)
    }

    fn lock_team(_c: &mut Conn, _team_id: &str) -> Result<()> {
        Ok(())
    }

    fn lock_memory(_c: &mut Conn, _agent: &str, _root: &str) -> Result<()> {
        Ok(())
    }

    fn notify_inbox(_c: &mut Conn, _team_id: &str) -> Result<()> {
        Ok(())
    }

    fn pick_claimable_task(c: &mut Conn, team_id: &str, member: &str) -> Result<Option<i64>> {
        Ok(diesel::sql_query(
            "SELECT t.id AS id FROM tasks t \
             WHERE t.team_id = ? AND t.status = 'pending' \
               AND (t.assignee IS NULL OR t.assignee = ?) \
               AND NOT EXISTS (SELECT 1 FROM task_deps d JOIN tasks b \
                   ON b.team_id = d.team_id AND b.id = d.blocker_id \
                   WHERE d.team_id = t.team_id AND d.task_id = t.id AND b.status <> 'completed') \
             ORDER BY t.id LIMIT 1",
        )
        .bind::<Text, _>(team_id)
        .bind::<Text, _>(member)
        .get_result::<IdRow>(c)
        .optional()?
        .map(|r| r.id))
    }

    fn pick_pending_member(c: &mut Conn, team: Option<&str>) -> Result<Option<i64>> {
        Ok(diesel::sql_query(
            "SELECT m.id AS id FROM members m JOIN teams t ON t.id = m.team_id \
             WHERE m.status = 'pending' AND t.status = 'active' \
               AND (? IS NULL OR m.team_id = ?) ORDER BY m.id LIMIT 1",
        )
        .bind::<Nullable<Text>, _>(team)
        .bind::<Nullable<Text>, _>(team)
        .get_result::<IdRow>(c)
        .optional()?
        .map(|r| r.id))
    }

    include!("ops_body.rs");
}

/// PostgreSQL: READ COMMITTED transactions; writes that read first lock the team row
/// (`SELECT … FOR UPDATE`), claims pick their row with `FOR UPDATE SKIP LOCKED`, and a sent
/// message is announced on the `team_inbox` channel (`NOTIFY`) for waiters in other processes.
pub(crate) mod pg {
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
        Ok(diesel::sql_query(
            "SELECT t.id AS id FROM tasks t \
             WHERE t.team_id = $1 AND t.status = 'pending' \
               AND (t.assignee IS NULL OR t.assignee = $2) \
               AND NOT EXISTS (SELECT 1 FROM task_deps d JOIN tasks b \
                   ON b.team_id = d.team_id AND b.id = d.blocker_id \
                   WHERE d.team_id = t.team_id AND d.task_id = t.id AND b.status <> 'completed') \
             ORDER BY t.id LIMIT 1 FOR UPDATE OF t SKIP LOCKED",
        )
        .bind::<Text, _>(team_id)
        .bind::<Text, _>(member)
        .get_result::<IdRow>(c)
        .optional()?
        .map(|r| r.id))
    }

    fn pick_pending_member(c: &mut Conn, team: Option<&str>) -> Result<Option<i64>> {
        Ok(diesel::sql_query(
            "SELECT m.id AS id FROM members m JOIN teams t ON t.id = m.team_id \
             WHERE m.status = 'pending' AND t.status = 'active' \
               AND ($1::text IS NULL OR m.team_id = $1) \
             ORDER BY m.id LIMIT 1 FOR UPDATE OF m SKIP LOCKED",
        )
        .bind::<Nullable<Text>, _>(team)
        .get_result::<IdRow>(c)
        .optional()?
        .map(|r| r.id))
    }

    include!("ops_body.rs");
}
