//! The two backends: each module compiles `ops_body.rs` against its own connection type and
//! supplies the few statements that differ (transaction start, row locks, SKIP LOCKED, NOTIFY).

/// SQLite: write transactions are `BEGIN IMMEDIATE`, so a read-then-write never has to upgrade
/// its lock (no SQLITE_BUSY mid-transaction); one writer at a time makes row locks unneeded.
pub(crate) mod sqlite {
    use diesel::sql_types::{Nullable, Text};

    pub(crate) type Conn = diesel::SqliteConnection;

    fn write_tx<T>(c: &mut Conn, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
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
