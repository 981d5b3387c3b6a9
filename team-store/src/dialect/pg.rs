//! PostgreSQL: READ COMMITTED transactions; writes that read first lock the team row
//! (`SELECT … FOR UPDATE`), claims pick their row with `FOR UPDATE SKIP LOCKED`, and a sent
//! message is announced on the `team_inbox` channel (`NOTIFY`) for waiters in other processes.

use diesel::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool};
use diesel::sql_types::{Nullable, Text};
use team_core::{Message, Task};

use super::{Dialect, OneSend, Take, WrittenMember};
use crate::error::{Result, StoreError};
use crate::prepared::{Bind, Prepared};
use crate::rows::{MemberRow, MessageRow, TaskRow};

/// The fencing rule of `team_core::delivery::may_act` in SQL, over the member row `$m`: only
/// a live member (`pending`, `running`, `idle`: `MemberStatus::is_live`) may act; a unit test
/// checks the list against team-core. Every one-statement write made as a member puts it in
/// its `WHERE` (a further condition, e.g. the claim's attempt, goes here too).
macro_rules! may_act {
    ($m:literal) => {
        concat!($m, ".status IN ('pending', 'running', 'idle', 'waiting')")
    };
}

/// The live statuses as [`may_act!`] lists them (for the test against team-core).
#[cfg(test)]
const MAY_ACT: &str = may_act!("m");

/// The one-statement send (see `send_in_one_statement`) with `$recipients`, the condition
/// on the recipient row `r` (joined with the sender `go`). Binds, in order: team, from,
/// the sender's attempt twice (fencing: `NULL` when the send names none), team (active), team, key (the key check), team (recipients), [the recipient's name],
/// team, kind, body, broadcast, now, key, interrupt (the insert), team, payload head,
/// payload middle, now (the event), team (the notification).
macro_rules! send_sql {
    ($recipients:literal) => {
        concat!(
            "WITH go AS ( \
                SELECT s.name FROM members s \
                WHERE s.team_id = ? AND s.name = ? AND (s.name <> 'lead' OR s.role = 'lead') \
                  AND ",
            may_act!("s"),
            " AND (CAST(? AS bigint) IS NULL OR s.attempt = ?) \
                  AND EXISTS (SELECT 1 FROM teams tm WHERE tm.id = ? AND tm.status = 'active') \
                  AND NOT EXISTS (SELECT 1 FROM messages k WHERE k.team_id = ? \
                      AND k.sender = s.name AND k.send_key = ?)), \
             ids AS MATERIALIZED ( \
                SELECT nextval('messages_id_seq') AS id, r.name FROM ( \
                    SELECT r.id, r.name FROM members r, go \
                    WHERE r.team_id = ? AND ",
            $recipients,
            " AND ",
            may_act!("r"),
            " \
                    ORDER BY r.id) r), \
             ins AS ( \
                INSERT INTO messages (id, team_id, sender, recipient, kind, body, broadcast, \
                    created_at_ms, body_of, send_key, interrupt) \
                SELECT ids.id, ?, go.name, ids.name, ?, \
                    CASE WHEN ids.id = f.id THEN ? ELSE '' END, ?, ?, \
                    CASE WHEN ids.id = f.id THEN NULL ELSE f.id END, ?, ? \
                FROM ids, go, (SELECT min(id) AS id FROM ids) f \
                RETURNING *), \
             ev AS ( \
                INSERT INTO events (team_id, member, kind, payload, created_at_ms) \
                SELECT ?, min(ins.sender), 'message.sent', \
                    ? || string_agg(ins.id::text, ',' ORDER BY ins.id) || ? \
                      || string_agg(to_json(ins.recipient)::text, ',' ORDER BY ins.id) || ']}', ? \
                FROM ins HAVING count(*) > 0), \
             n AS MATERIALIZED ( \
                SELECT pg_notify('team_inbox', ?)::text AS x FROM (SELECT 1 FROM ins LIMIT 1) one) \
             SELECT ins.* FROM ins, n ORDER BY ins.id"
        )
    };
}

/// The one-statement take (see `take_in_one_statement`): `$set` the columns set on the
/// taken rows, `$filter` a further condition on them, `$event` the event's kind and
/// payload expression over the taken rows `id`. Binds, in order: team, member, [`$set`'s],
/// team, [`$filter`'s], now (lease visibility), team, [`$event`'s], now (the event).
macro_rules! take_sql {
    ($set:literal, $filter:literal, $event:literal) => {
        concat!(
            "WITH m AS (SELECT name FROM members WHERE team_id = ? AND name = ? \
                 AND (name <> 'lead' OR role = 'lead')), \
             u AS (UPDATE messages SET ",
            $set,
            " WHERE team_id = ? AND recipient = (SELECT name FROM m) \
                   AND delivered_at_ms IS NULL ",
            $filter,
            " AND (lease_until_ms IS NULL OR lease_until_ms <= ?) RETURNING *), \
             e AS (INSERT INTO events (team_id, member, kind, payload, created_at_ms) \
                 SELECT ?, (SELECT name FROM m), ",
            $event,
            ", ? FROM u HAVING count(*) > 0) \
             SELECT m.name AS member, u.id, u.team_id, u.sender, u.recipient, u.kind, u.body, \
                 u.broadcast, u.created_at_ms, u.delivered_at_ms, u.body_of, b.body AS of_body \
             FROM m LEFT JOIN u ON true LEFT JOIN messages b ON b.id = u.body_of \
             ORDER BY u.id"
        )
    };
}

/// A row of a one-statement take: the member's name, then the taken message (all `NULL`
/// when nothing was taken) and, for a broadcast delivery that points at another row, that
/// row's body.
#[derive(diesel::QueryableByName)]
struct TakenRow {
    #[diesel(sql_type = Text)]
    #[allow(
        dead_code,
        reason = "read so that a found member with nothing unread is a row"
    )]
    member: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    team_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    sender: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    recipient: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    kind: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    body: Option<String>,
    #[diesel(sql_type = Nullable<Bool>)]
    broadcast: Option<bool>,
    #[diesel(sql_type = Nullable<BigInt>)]
    created_at_ms: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    delivered_at_ms: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    body_of: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    of_body: Option<String>,
}

impl TakenRow {
    /// The taken message with its body (`None`: the row only says the member exists).
    fn into_message(self) -> Result<Option<Message>> {
        let Some(id) = self.id else { return Ok(None) };
        let missing = |what: &str| StoreError::Corrupt(format!("message {id} has no {what}"));
        let body = match self.body_of {
            Some(of) => self.of_body.ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "message {id} points at message {of} for its body, which does not exist"
                ))
            })?,
            None => self.body.ok_or_else(|| missing("body"))?,
        };
        MessageRow {
            id,
            team_id: self.team_id.ok_or_else(|| missing("team"))?,
            sender: self.sender.ok_or_else(|| missing("sender"))?,
            recipient: self.recipient.ok_or_else(|| missing("recipient"))?,
            kind: self.kind.ok_or_else(|| missing("kind"))?,
            body,
            broadcast: self.broadcast.unwrap_or(false),
            created_at_ms: self.created_at_ms.ok_or_else(|| missing("time"))?,
            delivered_at_ms: self.delivered_at_ms,
            body_of: self.body_of,
        }
        .into_entity()
        .map(Some)
    }
}

/// A row of the one-statement acknowledgement: the member, and an acknowledged id (`NULL`
/// when none was).
#[derive(diesel::QueryableByName)]
struct AckedRow {
    #[diesel(sql_type = Text)]
    #[allow(
        dead_code,
        reason = "read so that a found member with nothing acknowledged is a row"
    )]
    member: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    id: Option<i64>,
}

/// The one-statement claim (see `claim_next_in_one_statement`) of up to `$limit` tasks
/// (a literal, or `CAST(? AS bigint)` bound after the abandoned-claim check's `now`); the
/// update takes the rows the pick locked by `$target` (its `WHERE`, which binds the team).
/// Binds, in order: team, member, team (active), team, member, attempt twice (fencing),
/// team, now (the abandoned-claim check), [the limit], member, now, lease end (the update),
/// team (the target), member, lease JSON, now (the events, one per task in id order). Rows
/// come in id order.
macro_rules! claim_sql {
    ($limit:literal, $target:literal) => {
        concat!("WITH pick AS ( \
                SELECT t.id, t.ctid FROM tasks t \
                WHERE t.team_id = ? AND t.status = 'pending' \
                  AND (t.assignee IS NULL OR t.assignee = ?) \
                  AND EXISTS (SELECT 1 FROM teams tm WHERE tm.id = ? AND tm.status = 'active') \
                  AND EXISTS (SELECT 1 FROM members m WHERE m.team_id = ? AND m.name = ? \
                      AND (m.name <> 'lead' OR m.role = 'lead') AND ",
                may_act!("m"),
                " AND (CAST(? AS bigint) IS NULL OR m.attempt = ?)) \
                  AND NOT EXISTS (SELECT 1 FROM tasks a WHERE a.team_id = ? \
                      AND a.lease_until_ms IS NOT NULL AND a.lease_until_ms <= ? \
                      AND a.status || '' = 'in_progress') \
                  AND NOT EXISTS (SELECT 1 FROM task_deps d JOIN tasks b \
                      ON b.team_id = d.team_id AND b.id = d.blocker_id \
                      WHERE d.team_id = t.team_id AND d.task_id = t.id AND b.status <> 'completed') \
                ORDER BY t.id LIMIT ", $limit, " FOR UPDATE OF t SKIP LOCKED), \
             u AS ( \
                UPDATE tasks SET status = 'in_progress', assignee = ?, updated_at_ms = ?, \
                    lease_until_ms = ? \
                WHERE ", $target, " \
                RETURNING tasks.*), \
             e AS ( \
                INSERT INTO events (team_id, member, kind, payload, created_at_ms) \
                SELECT u.team_id, ?, 'task.claimed', '{' || ? || '\"task\":' || u.id || '}', ? \
                FROM u ORDER BY u.id) \
             SELECT u.*, (SELECT string_agg(d.blocker_id::text, ',' ORDER BY d.blocker_id) \
                 FROM task_deps d WHERE d.team_id = u.team_id AND d.task_id = u.id) AS blocked_by \
             FROM u ORDER BY u.id"
        )
    };
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

impl ClaimedRow {
    /// The task, its blockers parsed from the comma-separated ids.
    fn into_task(self) -> Result<Task> {
        let blockers = self
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
        self.task.into_entity(blockers)
    }
}

/// The binds of [`claim_sql!`] in its placeholders' order, for a claim of one task
/// (`limit` `None`: the pick's `LIMIT 1` is written in the text) or of up to `limit`: the
/// claim's conditions (team, member, attempt fencing, abandoned claims at `now`), the update
/// (assignee, time, lease end `now + lease_ms`) and the `task.claimed` event's payload.
fn claim_binds(
    team_id: &str,
    member: &str,
    now: i64,
    lease_ms: Option<i64>,
    attempt: Option<i64>,
    limit: Option<i64>,
) -> Vec<Bind> {
    let (t, m) = (|| Bind::Text(team_id.into()), || Bind::Text(member.into()));
    let lease_json = lease_ms.map_or(String::new(), |ms| format!("\"lease_ms\":{ms},"));
    let mut binds = vec![
        t(),
        m(),
        t(),
        t(),
        m(),
        Bind::NullableBigInt(attempt),
        Bind::NullableBigInt(attempt),
        t(),
        Bind::BigInt(now),
    ];
    binds.extend(limit.map(Bind::BigInt));
    binds.extend([
        m(),
        Bind::BigInt(now),
        Bind::NullableBigInt(lease_ms.map(|ms| now.saturating_add(ms))),
        t(),
        m(),
        Bind::Text(lease_json),
        Bind::BigInt(now),
    ]);
    binds
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
    /// round trip, its own transaction): the team must be active and the member live (the
    /// fencing rule, `may_act!`), the task pending, unreserved or reserved for `member`, with
    /// every blocker completed, and the team must have no abandoned claim (those the
    /// transaction path gives back first); the row is picked `FOR UPDATE SKIP LOCKED`,
    /// updated to `in_progress` with its lease (`lease_ms`), and the `task.claimed` event is
    /// written by the same statement. `Ok(None)` when nothing was claimed, for whatever
    /// reason: `claim_task`'s transaction then finds the task or says why not. The
    /// `(team_id, member)` conditions are those of `claim_task`; the event payload is the same
    /// JSON text (`{"lease_ms":MS,"task":ID}`, `{"task":ID}`).
    ///
    /// The abandoned-claim check reads the partial index `tasks_leased` (`status || ''` keeps
    /// the planner off `tasks_board`, whose `in_progress` range grows with every claim: with
    /// it, 8 processes claimed ~40 % fewer tasks per second than before the check).
    ///
    /// Measured (BENCHMARKS.md, claims): the transaction path is ~9 round trips per claim.
    /// The update takes the picked id as a scalar subquery: joined `FROM pick`, the planner
    /// scanned every pending task of the board for each claim (O(N²) over a board).
    fn claim_next_in_one_statement(
        &mut self,
        team_id: &str,
        member: &str,
        now: i64,
        lease_ms: Option<i64>,
        attempt: Option<i64>,
    ) -> Result<Option<Task>> {
        struct Key;
        let row = Prepared::<Key>::new(
            claim_sql!(
                "1",
                "tasks.team_id = ? AND tasks.id = (SELECT id FROM pick) \
                 AND tasks.status = 'pending'"
            ),
            claim_binds(team_id, member, now, lease_ms, attempt, None),
        )
        .get_result::<ClaimedRow>(self)
        .optional()?;
        row.map(ClaimedRow::into_task).transpose()
    }

    /// [`Self::claim_next_in_one_statement`] for up to `limit` tasks (oldest first, rows
    /// other claimants hold are skipped): the same conditions, one update and one
    /// `task.claimed` event per task, one statement and one commit for all of them. Empty
    /// when nothing was claimed.
    ///
    /// The update finds the picked rows by `ctid` (a TID scan, whatever the statistics),
    /// checked again by team, id and status (written `|| ''` so that no index on them
    /// competes): with `id = ANY (…)` alone, a board never analyzed (a fresh one) was updated
    /// through `tasks_board` with the ids as a filter, reading every pending task per claim,
    /// and joined `FROM pick`, the generic plan of a bound `LIMIT` (10 % of the board)
    /// hash-joined a sequential scan of the table. A picked row changed by another
    /// transaction since the statement's snapshot is not updated (its new version is not
    /// visible to it): that claim returns one task fewer and the row stays pending.
    fn claim_many_in_one_statement(
        &mut self,
        team_id: &str,
        member: &str,
        now: i64,
        lease_ms: Option<i64>,
        attempt: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Task>> {
        struct Key;
        Prepared::<Key>::new(
            claim_sql!(
                "CAST(? AS bigint)",
                "tasks.ctid = ANY (ARRAY(SELECT ctid FROM pick)) AND tasks.team_id || '' = ? \
                 AND tasks.id = ANY (ARRAY(SELECT id FROM pick)) AND tasks.status || '' = 'pending'"
            ),
            claim_binds(team_id, member, now, lease_ms, attempt, Some(limit)),
        )
        .load::<ClaimedRow>(self)?
        .into_iter()
        .map(ClaimedRow::into_task)
        .collect()
    }

    /// One statement for a batch of member ends (one round trip instead of ~12 per member):
    /// the rows come as one JSON array (`json_to_recordset`); each member's guarded move (its
    /// id, team and the status the caller read) with its counters, `RETURNING *`; for each
    /// member moved, its notice to `lead` (ids drawn in batch order), then its events in
    /// batch order (its last turn's, `member.<status>`, `message.sent` with the notice's id);
    /// `pg_notify` once. A member not moved gets nothing (the caller sees fewer rows and
    /// rolls back).
    fn end_members_in_one_statement(
        &mut self,
        team_id: &str,
        lead: &str,
        rows: &[super::EndRow],
        now: i64,
    ) -> Result<Option<Vec<MemberRow>>> {
        struct Key;
        let json = serde_json::to_string(rows)
            .map_err(|e| StoreError::Invalid(format!("cannot encode member ends: {e}")))?;
        let t = || Bind::Text(team_id.to_owned());
        let written: Vec<MemberRow> = Prepared::<Key>::new(
            "WITH r AS ( \
                SELECT * FROM json_to_recordset(CAST(? AS json)) \
                  AS r(ord bigint, id bigint, name text, from_status text, to_status text, \
                       result text, error text, busy_ms bigint, turns bigint, tokens_in bigint, \
                       tokens_out bigint, set_pid boolean, pid bigint, kind text, body text, \
                       sent_head text, sent_tail text, events json)), \
             u AS ( \
                UPDATE members m SET status = r.to_status, result = r.result, error = r.error, \
                    updated_at_ms = ?, ended_at_ms = ?, busy_ms = r.busy_ms, \
                    turns = m.turns + r.turns, tokens_in = m.tokens_in + r.tokens_in, \
                    tokens_out = m.tokens_out + r.tokens_out, \
                    pid = CASE WHEN r.set_pid THEN r.pid ELSE m.pid END \
                FROM r WHERE m.id = r.id AND m.team_id = ? AND m.status = r.from_status \
                RETURNING m.*), \
             ids AS MATERIALIZED ( \
                SELECT nextval('messages_id_seq') AS id, o.ord FROM ( \
                    SELECT r.ord FROM r JOIN u ON u.id = r.id ORDER BY r.ord) o), \
             ins AS ( \
                INSERT INTO messages (id, team_id, sender, recipient, kind, body, broadcast, \
                    created_at_ms, body_of, send_key, interrupt) \
                SELECT ids.id, ?, r.name, ?, r.kind, r.body, false, ?, NULL, NULL, false \
                FROM ids JOIN r ON r.ord = ids.ord ORDER BY ids.id), \
             ev AS ( \
                INSERT INTO events (team_id, member, kind, payload, created_at_ms) \
                SELECT ?, x.name, x.kind, x.payload, ? FROM ( \
                    SELECT r.ord, e.seq, r.name, e.kind, e.payload \
                    FROM r JOIN u ON u.id = r.id, \
                        json_to_recordset(r.events) AS e(seq bigint, kind text, payload text) \
                    UNION ALL \
                    SELECT r.ord, 1000000, r.name, 'message.sent', \
                        r.sent_head || ids.id::text || r.sent_tail \
                    FROM r JOIN ids ON ids.ord = r.ord) x \
                ORDER BY x.ord, x.seq), \
             n AS MATERIALIZED ( \
                SELECT pg_notify('team_inbox', ?)::text AS x FROM (SELECT 1 FROM ids LIMIT 1) one) \
             SELECT u.* FROM u LEFT JOIN n ON true ORDER BY u.id",
            vec![
                Bind::Text(json),
                Bind::BigInt(now),
                Bind::BigInt(now),
                t(),
                t(),
                Bind::Text(lead.to_owned()),
                Bind::BigInt(now),
                t(),
                Bind::BigInt(now),
                t(),
            ],
        )
        .load(self)?;
        Ok(Some(written))
    }

    /// One statement for the whole list (a round trip instead of two per member): the rows
    /// come as one JSON array (`json_to_recordset`), are inserted in order (ids ascending),
    /// and each gets its `member.added` event.
    fn add_members_in_one_statement(
        &mut self,
        team_id: &str,
        rows: &[super::NewMemberRow<'_>],
        spec: &crate::types::MemberSpec,
        now: i64,
    ) -> Result<Option<Vec<MemberRow>>> {
        struct Key;
        let json = serde_json::to_string(rows)
            .map_err(|e| StoreError::Invalid(format!("cannot encode new members: {e}")))?;
        let t = || Bind::Text(team_id.to_owned());
        let rows: Vec<MemberRow> = Prepared::<Key>::new(
            "WITH n AS ( \
                SELECT * FROM json_to_recordset(CAST(? AS json)) \
                  AS n(ord bigint, name text, agent text, status text, prompt text, \
                       persistent boolean, timeout_secs bigint, runner_id text, \
                       started_at_ms bigint, payload text)), \
             ins AS ( \
                INSERT INTO members (team_id, name, agent, role, status, prompt, persistent, \
                    timeout_secs, runner_id, created_at_ms, started_at_ms, updated_at_ms, \
                    agent_def, agent_source, env_fingerprint, max_attempts, retry_backoff_ms, \
                    on_ask) \
                SELECT ?, n.name, n.agent, 'member', n.status, n.prompt, n.persistent, \
                    n.timeout_secs, n.runner_id, ?, n.started_at_ms, ?, ?, ?, ?, ?, ?, ? \
                FROM n ORDER BY n.ord RETURNING *), \
             e AS ( \
                INSERT INTO events (team_id, member, kind, payload, created_at_ms) \
                SELECT ?, ins.name, 'member.added', n.payload, ? \
                FROM ins JOIN n ON n.name = ins.name ORDER BY ins.id) \
             SELECT * FROM ins ORDER BY id",
            vec![
                Bind::Text(json),
                t(),
                Bind::BigInt(now),
                Bind::BigInt(now),
                Bind::NullableText(spec.agent_def.clone()),
                Bind::NullableText(spec.agent_source.clone()),
                Bind::NullableText(spec.env_fingerprint.clone()),
                Bind::BigInt(i64::from(spec.retry.max_attempts.max(1))),
                Bind::BigInt(i64::try_from(spec.retry.backoff_ms).unwrap_or(i64::MAX)),
                Bind::NullableText(spec.on_ask.clone()),
                t(),
                Bind::BigInt(now),
            ],
        )
        .load(self)?;
        Ok(Some(rows))
    }

    /// One statement (one round trip for a whole batch, its own transaction): the pick of
    /// [`Dialect::PICK_PENDING_MEMBERS`] (rows other runners hold are skipped), the guarded
    /// updates pending → running, the teams marked held by the runner, and one
    /// `member.running` event per member with the payload `claim_id` writes.
    fn claim_members_in_one_statement(
        &mut self,
        runner_id: &str,
        team: Option<&str>,
        env: Option<&str>,
        limit: i64,
        now: i64,
    ) -> Result<Option<Vec<MemberRow>>> {
        struct Key;
        let team = || Bind::NullableText(team.map(str::to_owned));
        let runner = || Bind::Text(runner_id.to_owned());
        let payload = format!(
            "{{\"from\":\"pending\",\"runner\":{}}}",
            serde_json::to_string(runner_id).unwrap_or_else(|_| "\"\"".into())
        );
        let rows: Vec<MemberRow> = Prepared::<Key>::new(
            "WITH pick AS ( \
                SELECT m.id FROM members m JOIN teams t ON t.id = m.team_id \
                WHERE m.status = 'pending' AND t.status = 'active' \
                  AND (CAST(? AS text) IS NULL OR m.team_id = ?) \
                  AND (m.env_fingerprint IS NULL OR m.env_fingerprint = CAST(? AS text)) \
                  AND (m.not_before_ms IS NULL OR m.not_before_ms <= ?) \
                  AND EXISTS (SELECT 1 FROM runners r WHERE r.id = ? AND r.stopped_at_ms IS NULL) \
                ORDER BY m.id LIMIT ? FOR UPDATE OF m SKIP LOCKED), \
             u AS ( \
                UPDATE members SET status = 'running', runner_id = ?, started_at_ms = ?, \
                    updated_at_ms = ? \
                WHERE id = ANY(ARRAY(SELECT id FROM pick)) AND status = 'pending' RETURNING *), \
             h AS ( \
                UPDATE teams SET runner_id = ? WHERE id = ANY(ARRAY(SELECT DISTINCT team_id FROM u))), \
             e AS ( \
                INSERT INTO events (team_id, member, kind, payload, created_at_ms) \
                SELECT team_id, name, 'member.running', ?, ? FROM u ORDER BY id) \
             SELECT * FROM u ORDER BY id",
            vec![
                team(),
                team(),
                Bind::NullableText(env.map(str::to_owned)),
                Bind::BigInt(now),
                runner(),
                Bind::BigInt(limit),
                runner(),
                Bind::BigInt(now),
                Bind::BigInt(now),
                runner(),
                Bind::Text(payload),
                Bind::BigInt(now),
            ],
        )
        .load(self)?;
        Ok(Some(rows))
    }

    /// One statement (one round trip, its own transaction): the sender must be a live member
    /// (`may_act!`) of an active team and must not have used the key; the recipients are the
    /// named live member or every live member but the sender, oldest first; their ids are
    /// drawn in that order, the first delivery holds the body and the others point at it
    /// (`body_of`); the `message.sent` event has the payload `deliver_keyed` writes; the
    /// notification goes out at commit. A send by `team` itself (a system message) is left
    /// to the transaction path.
    fn send_in_one_statement(&mut self, send: &OneSend<'_>) -> Result<Option<Vec<Message>>> {
        let t = || Bind::Text(send.team_id.to_owned());
        let from = || Bind::Text(send.from.to_owned());
        let now = || Bind::BigInt(send.now);
        // The event's payload around the ids and the recipients, as `serde_json` writes
        // `deliver_keyed`'s (keys sorted, no spaces).
        let json = |v: &str| serde_json::to_string(v).unwrap_or_else(|_| "\"\"".into());
        let head = format!(
            "{{\"body\":{},\"broadcast\":{},\"ids\":[",
            json(&crate::ops::pg::events::excerpt(send.body, 200)),
            send.to.is_none()
        );
        let middle = format!(
            "],\"interrupt\":{},\"kind\":{},\"to\":[",
            send.interrupt,
            json(send.kind.as_str())
        );
        let mut binds = vec![
            t(),
            from(),
            Bind::NullableBigInt(send.attempt),
            Bind::NullableBigInt(send.attempt),
            t(),
            t(),
            Bind::NullableText(send.key.map(str::to_owned)),
            t(),
        ];
        if let Some(to) = send.to {
            binds.push(Bind::Text(to.to_owned()));
        }
        binds.extend([
            t(),
            Bind::Text(send.kind.as_str().to_owned()),
            Bind::Text(send.body.to_owned()),
            Bind::Bool(send.to.is_none()),
            now(),
            Bind::NullableText(send.key.map(str::to_owned)),
            Bind::Bool(send.interrupt),
            t(),
            Bind::Text(head),
            Bind::Text(middle),
            now(),
            t(),
        ]);
        let rows: Vec<MessageRow> = if send.to.is_some() {
            struct ToMember;
            Prepared::<ToMember>::new(
                send_sql!("r.name = ? AND (r.name <> 'lead' OR r.role = 'lead')"),
                binds,
            )
            .load(self)?
        } else {
            struct ToAll;
            Prepared::<ToAll>::new(send_sql!("r.name <> go.name"), binds).load(self)?
        };
        if rows.is_empty() {
            return Ok(None);
        }
        let out = rows
            .into_iter()
            .map(|mut r| {
                if r.body_of.is_some() {
                    send.body.clone_into(&mut r.body);
                }
                r.into_entity()
            })
            .collect::<Result<Vec<Message>>>()?;
        Ok(Some(out))
    }

    /// One statement: the member (by name; `lead` is the lead), the guarded update of its
    /// visible unread messages (those a `team inbox` lease holds are skipped), the
    /// `message.delivered` (or `message.leased`) event naming their ids, and the bodies of
    /// broadcast deliveries. The member's row comes back even when nothing was unread, so an
    /// empty take costs no second look.
    fn take_in_one_statement(
        &mut self,
        team_id: &str,
        member: &str,
        take: Take<'_>,
        now: i64,
    ) -> Result<Option<Vec<Message>>> {
        let t = || Bind::Text(team_id.to_owned());
        let rows: Vec<TakenRow> = match take {
            Take::Deliver(kind) => {
                struct Deliver;
                let kind = || Bind::NullableText(kind.map(|k| k.as_str().to_owned()));
                Prepared::<Deliver>::new(
                    take_sql!(
                        "delivered_at_ms = ?, lease_until_ms = NULL",
                        "AND (CAST(? AS text) IS NULL OR kind = ?)",
                        "'message.delivered', '{\"ids\":[' || string_agg(id::text, ',' ORDER BY id) || ']}'"
                    ),
                    vec![
                        t(),
                        Bind::Text(member.to_owned()),
                        Bind::BigInt(now),
                        t(),
                        kind(),
                        kind(),
                        Bind::BigInt(now),
                        t(),
                        Bind::BigInt(now),
                    ],
                )
                .load(self)?
            }
            Take::Lease { token, lease_ms } => {
                struct Lease;
                Prepared::<Lease>::new(
                    take_sql!(
                        "lease = ?, lease_until_ms = ?",
                        "",
                        "'message.leased', '{\"ids\":[' || string_agg(id::text, ',' ORDER BY id) || '],\"lease_ms\":' || ? || '}'"
                    ),
                    vec![
                        t(),
                        Bind::Text(member.to_owned()),
                        Bind::Text(token.to_owned()),
                        Bind::BigInt(now.saturating_add(lease_ms)),
                        t(),
                        Bind::BigInt(now),
                        t(),
                        Bind::Text(lease_ms.to_string()),
                        Bind::BigInt(now),
                    ],
                )
                .load(self)?
            }
        };
        if rows.is_empty() {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            if let Some(m) = r.into_message()? {
                out.push(m);
            }
        }
        Ok(Some(out))
    }

    /// One statement: the member, the messages still under the lease `token` marked
    /// delivered, and their `message.delivered` event.
    fn ack_in_one_statement(
        &mut self,
        team_id: &str,
        member: &str,
        token: &str,
        now: i64,
    ) -> Result<Option<Vec<i64>>> {
        struct Ack;
        let t = || Bind::Text(team_id.to_owned());
        let rows: Vec<AckedRow> = Prepared::<Ack>::new(
            "WITH m AS (SELECT name FROM members WHERE team_id = ? AND name = ? \
                 AND (name <> 'lead' OR role = 'lead')), \
             u AS (UPDATE messages SET delivered_at_ms = ?, lease_until_ms = NULL \
                 WHERE team_id = ? AND recipient = (SELECT name FROM m) AND lease = ? \
                   AND delivered_at_ms IS NULL RETURNING id), \
             e AS (INSERT INTO events (team_id, member, kind, payload, created_at_ms) \
                 SELECT ?, (SELECT name FROM m), 'message.delivered', \
                   '{\"ids\":[' || string_agg(id::text, ',' ORDER BY id) || ']}', ? \
                 FROM u HAVING count(*) > 0) \
             SELECT m.name AS member, u.id FROM m LEFT JOIN u ON true ORDER BY u.id",
            vec![
                t(),
                Bind::Text(member.to_owned()),
                Bind::BigInt(now),
                t(),
                Bind::Text(token.to_owned()),
                t(),
                Bind::BigInt(now),
            ],
        )
        .load(self)?;
        if rows.is_empty() {
            return Ok(None);
        }
        Ok(Some(rows.into_iter().filter_map(|r| r.id).collect()))
    }

    const PICK_CLAIMABLE_TASK: &'static str = "SELECT t.id AS id FROM tasks t \
         WHERE t.team_id = ? AND t.status = 'pending' \
           AND (t.assignee IS NULL OR t.assignee = ?) \
           AND NOT EXISTS (SELECT 1 FROM task_deps d JOIN tasks b \
               ON b.team_id = d.team_id AND b.id = d.blocker_id \
               WHERE d.team_id = t.team_id AND d.task_id = t.id AND b.status <> 'completed') \
         ORDER BY t.id LIMIT 1 FOR UPDATE OF t SKIP LOCKED";

    /// Rows other transactions hold are skipped (locked for this transaction).
    const PICK_CLAIMABLE_TASKS: &'static str = "SELECT t.id AS id FROM tasks t \
         WHERE t.team_id = ? AND t.status = 'pending' \
           AND (t.assignee IS NULL OR t.assignee = ?) \
           AND NOT EXISTS (SELECT 1 FROM task_deps d JOIN tasks b \
               ON b.team_id = d.team_id AND b.id = d.blocker_id \
               WHERE d.team_id = t.team_id AND d.task_id = t.id AND b.status <> 'completed') \
         ORDER BY t.id LIMIT ? FOR UPDATE OF t SKIP LOCKED";

    /// Rows other transactions hold are skipped (locked for this transaction).
    const PICK_PENDING_MEMBERS: &'static str = "SELECT m.id AS id FROM members m \
         JOIN teams t ON t.id = m.team_id \
         WHERE m.status = 'pending' AND t.status = 'active' \
           AND (CAST(? AS text) IS NULL OR m.team_id = ?) \
           AND (m.env_fingerprint IS NULL OR m.env_fingerprint = CAST(? AS text)) \
           AND (m.not_before_ms IS NULL OR m.not_before_ms <= ?) \
         ORDER BY m.id LIMIT ? FOR UPDATE OF m SKIP LOCKED";
}

#[cfg(test)]
mod tests {
    use team_core::MemberStatus;

    /// [`super::MAY_ACT`] lists exactly the statuses `team_core::delivery::may_act` lets act.
    #[test]
    fn may_act_in_sql_is_team_cores_rule() {
        let live: Vec<String> = MemberStatus::ALL
            .iter()
            .filter(|s| team_core::delivery::may_act(**s, 1, None, "m", "t", "act").is_ok())
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        assert_eq!(super::MAY_ACT, format!("m.status IN ({})", live.join(", ")));
    }
}
