// The store's operations, written once and compiled twice: `include!`d by `backend::sqlite` and
// `backend::pg`, each of which defines `Conn` (its concrete connection type) and the few
// backend-specific helpers (`write_tx`, `lock_team`, `lock_memory`, `pick_claimable_task`,
// `pick_pending_members`, `write_member`, `notify_inbox`). Every write that reads first runs in
// `write_tx` (SQLite: BEGIN IMMEDIATE; PostgreSQL: a transaction with row locks), and every state
// change is a guarded `UPDATE … WHERE status = <from>` whose row comes back with `RETURNING *`
// (or, for a member's hot writes on SQLite, `member_write!`: read back by key in the same
// transaction), so no check-then-act race exists.

use std::collections::{BTreeMap, HashSet};

use diesel::prelude::*;
use serde_json::json;
use team_core::{
    LEAD_ALIAS, Member, MemberEvent, MemberStatus, Message, MessageKind, Role, Task, TaskEvent,
    TaskStatus, Team, TeamEvent, TeamStatus, cascade, delivery, memory, names,
};

use crate::error::{Result, StoreError};
use crate::rows::*;
use crate::schema::{events, members, memories, messages, runners, task_deps, tasks, teams};
use crate::types::*;
use crate::{SYSTEM_SENDER, new_id, now_ms};

// ---------------------------------------------------------------- helpers

fn event(
    c: &mut Conn,
    team_id: Option<&str>,
    member: Option<&str>,
    kind: &str,
    payload: serde_json::Value,
) -> Result<()> {
    // Prepared, not `insert_into`: Diesel never caches an insert statement, and events are
    // the most frequent write (several per member).
    struct Key;
    Prepared::<Key>::new(
        "INSERT INTO events (team_id, member, kind, payload, created_at_ms) \
         VALUES (?, ?, ?, ?, ?)",
        vec![
            Bind::NullableText(team_id.map(str::to_owned)),
            Bind::NullableText(member.map(str::to_owned)),
            Bind::Text(kind.to_owned()),
            // `serde_json::to_string`, not `Value`'s `Display`, which goes through the
            // formatter a piece at a time (a third of an event's cost).
            Bind::Text(serde_json::to_string(&payload).unwrap_or_else(|_| "null".into())),
            Bind::BigInt(now_ms()),
        ],
    )
    .execute(c)?;
    Ok(())
}

/// The ids a backend's `pick_pending_members` statement `sql` selects; its binds are the team
/// filter (twice: `? IS NULL OR m.team_id = ?`), the runner's environment fingerprint
/// (`m.env_fingerprint IS NULL OR m.env_fingerprint = ?`) and the limit.
fn pending_member_ids<K: 'static>(
    c: &mut Conn,
    sql: &'static str,
    team: Option<&str>,
    env: Option<&str>,
    limit: i64,
) -> Result<Vec<i64>> {
    let team = team.map(str::to_owned);
    Ok(Prepared::<K>::new(
        sql,
        vec![
            Bind::NullableText(team.clone()),
            Bind::NullableText(team),
            Bind::NullableText(env.map(str::to_owned)),
            Bind::BigInt(limit),
        ],
    )
    .load::<IdRow>(c)?
    .into_iter()
    .map(|r| r.id)
    .collect())
}

/// The row of a guarded update of a member row read earlier in the same transaction: it
/// changes under the transaction only in a race lost to another writer, reported as not found
/// (as a guarded `UPDATE … RETURNING` that matched nothing always was).
fn guarded(row: Option<MemberRow>) -> Result<MemberRow> {
    row.ok_or_else(|| diesel::result::Error::NotFound.into())
}

fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

// Lookups by a unique key use `get_result`, not `first`: `first` adds `LIMIT ?`, and SQLite
// plans with the bound limit, so rebinding it marks Diesel's cached statement expired and
// every call compiled the SQL again (17 % of the CPU of a 200-member fan-out).

fn team_by_id(c: &mut Conn, id: &str) -> Result<TeamRow> {
    teams::table
        .find(id)
        .select(TeamRow::as_select())
        .get_result(c)
        .optional()?
        .ok_or_else(|| StoreError::not_found_hint(format!("team {id}"), "see `team list --all`"))
}

/// A team by reference: the active team of that name, else the team with that id, else the
/// newest team of that name.
///
/// The teams of that name are read in one statement and the active one is picked here: a
/// bound `status = ?` would let SQLite plan with the partial index `teams_active_name`
/// (`WHERE status = 'active'`), which makes it recompile the cached statement on every call
/// (bench/findings.md § 1.3).
pub(crate) fn resolve_team(c: &mut Conn, reference: &str) -> Result<Team> {
    let mut named: Vec<TeamRow> = teams::table
        .filter(teams::name.eq(reference))
        .order((teams::created_at_ms.desc(), teams::id.desc()))
        .select(TeamRow::as_select())
        .load(c)?;
    if let Some(i) = named
        .iter()
        .position(|t| t.status == TeamStatus::Active.as_str())
    {
        return named.swap_remove(i).into_entity();
    }
    if let Some(t) = teams::table
        .find(reference)
        .select(TeamRow::as_select())
        .get_result(c)
        .optional()?
    {
        return t.into_entity();
    }
    match named.into_iter().next() {
        Some(t) => t.into_entity(),
        None => Err(StoreError::not_found_hint(
            format!("team {reference}"),
            "see `team list --all` for the teams in this database",
        )),
    }
}

/// A team by id.
pub(crate) fn get_team(c: &mut Conn, id: &str) -> Result<Team> {
    team_by_id(c, id)?.into_entity()
}

/// The team, which must be active to take `what` (e.g. `new members`).
fn active_team(c: &mut Conn, team_id: &str, what: &str) -> Result<TeamRow> {
    let t = team_by_id(c, team_id)?;
    if t.status != TeamStatus::Active.as_str() {
        return Err(StoreError::Illegal(format!(
            "team {} is {}; it cannot take {what}",
            t.name, t.status
        )));
    }
    Ok(t)
}

fn member_row(c: &mut Conn, team: &TeamRow, name: &str) -> Result<MemberRow> {
    let q = members::table
        .filter(members::team_id.eq(&team.id))
        .select(MemberRow::as_select());
    let found = if name == LEAD_ALIAS {
        q.filter(members::role.eq(Role::Lead.as_str()))
            .get_result(c)
            .optional()?
    } else {
        q.filter(members::name.eq(name)).get_result(c).optional()?
    };
    found.ok_or_else(|| {
        StoreError::not_found_hint(
            format!("member {name} in team {}", team.name),
            format!("see `team member list {}`", team.name),
        )
    })
}

/// Member `name` of `team` as the recipient of a message: it must not have ended.
fn live_recipient(c: &mut Conn, team: &TeamRow, name: &str) -> Result<MemberRow> {
    let r = member_row(c, team, name)?;
    if r.status()?.is_terminal() {
        return Err(StoreError::Illegal(format!(
            "member {} in team {} is {}; it cannot receive messages",
            r.name, team.name, r.status
        )));
    }
    Ok(r)
}

/// Refuses a write made as member `m` once it has ended (fencing, `team_core::delivery`).
fn fence(team: &TeamRow, m: &MemberRow, action: &str) -> Result<()> {
    delivery::may_act(m.status()?, &m.name, &team.name, action)
        .map_err(|e| StoreError::Illegal(e.to_string()))
}

/// Checks, inside the caller's transaction, that `actor` (when given) may still act.
fn fence_actor(c: &mut Conn, actor: Option<&Actor<'_>>, action: &str) -> Result<()> {
    let Some(a) = actor else { return Ok(()) };
    let team = team_by_id(c, a.team_id)?;
    let m = member_row(c, &team, a.member)?;
    fence(&team, &m, action)
}

/// Gives back the abandoned tasks of a team: every `in_progress` task whose claim lease ran
/// out goes back to `pending` (without assignee), with a `task.released` event saying so.
/// Inside the caller's write transaction; returns their ids.
fn return_abandoned_tasks(c: &mut Conn, team_id: &str, now: i64) -> Result<Vec<i64>> {
    let expired: Vec<(i64, Option<String>)> = tasks::table
        .filter(tasks::team_id.eq(team_id))
        .filter(tasks::lease_until_ms.le(now))
        .filter(tasks::status.eq(TaskStatus::InProgress.as_str()))
        .select((tasks::id, tasks::assignee))
        .load(c)?;
    let mut back = Vec::with_capacity(expired.len());
    for (id, assignee) in expired {
        let n = diesel::update(
            tasks::table
                .find((team_id, id))
                .filter(tasks::status.eq(TaskStatus::InProgress.as_str()))
                .filter(tasks::lease_until_ms.le(now)),
        )
        .set((
            tasks::status.eq(TaskStatus::Pending.as_str()),
            tasks::assignee.eq(None::<String>),
            tasks::lease_until_ms.eq(None::<i64>),
            tasks::updated_at_ms.eq(now),
        ))
        .execute(c)?;
        if n == 1 {
            event(
                c,
                Some(team_id),
                assignee.as_deref(),
                "task.released",
                json!({"task": id, "from": TaskStatus::InProgress, "reason": "claim lease expired"}),
            )?;
            back.push(id);
        }
    }
    Ok(back)
}

/// Whether a team has an `in_progress` task whose claim lease ran out (one index read).
fn has_abandoned_tasks(c: &mut Conn, team_id: &str, now: i64) -> Result<bool> {
    Ok(diesel::select(diesel::dsl::exists(
        tasks::table
            .filter(tasks::team_id.eq(team_id))
            .filter(tasks::lease_until_ms.le(now))
            .filter(tasks::status.eq(TaskStatus::InProgress.as_str())),
    ))
    .get_result(c)?)
}

/// Before a read of the board: gives back abandoned tasks when there are any (a write only
/// then). A database that cannot be written (read-only `.team/`) still reads: the failed
/// write is skipped and the tasks are shown as they are stored.
fn reap_before_read(c: &mut Conn, team_id: &str) -> Result<()> {
    let now = now_ms();
    if has_abandoned_tasks(c, team_id, now)? {
        let _ = write_tx(c, |c| return_abandoned_tasks(c, team_id, now));
    }
    Ok(())
}

fn blockers_of(c: &mut Conn, team_id: &str, ids: &[i64]) -> Result<BTreeMap<i64, Vec<i64>>> {
    let mut map: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    if ids.is_empty() {
        return Ok(map);
    }
    let rows: Vec<(i64, i64)> = task_deps::table
        .filter(task_deps::team_id.eq(team_id))
        .filter(task_deps::task_id.eq_any(ids))
        .select((task_deps::task_id, task_deps::blocker_id))
        .order((task_deps::task_id, task_deps::blocker_id))
        .load(c)?;
    for (task, blocker) in rows {
        map.entry(task).or_default().push(blocker);
    }
    Ok(map)
}

fn task_entity(c: &mut Conn, row: TaskRow) -> Result<Task> {
    let blockers = blockers_of(c, &row.team_id, &[row.id])?
        .remove(&row.id)
        .unwrap_or_default();
    row.into_entity(blockers)
}

fn task_row(c: &mut Conn, team: &TeamRow, id: i64) -> Result<TaskRow> {
    tasks::table
        .find((&team.id, id))
        .select(TaskRow::as_select())
        .get_result(c)
        .optional()?
        .ok_or_else(|| {
            StoreError::not_found_hint(
                format!("task {id} in team {}", team.name),
                format!("see `team task list {}`", team.name),
            )
        })
}

/// Inserts one delivery per recipient and wakes cross-process waiters.
fn deliver(
    c: &mut Conn,
    team_id: &str,
    from: &str,
    recipients: &[String],
    kind: MessageKind,
    body: &str,
    broadcast: bool,
) -> Result<Vec<Message>> {
    deliver_keyed(c, team_id, from, recipients, kind, body, broadcast, None)
}

/// [`deliver`] with the sender's de-duplication key (`team send --key`), stored on every
/// delivery. A broadcast stores its body once: the first delivery holds it, the others point
/// at that row (`body_of`) with an empty `body`.
#[allow(clippy::too_many_arguments)]
fn deliver_keyed(
    c: &mut Conn,
    team_id: &str,
    from: &str,
    recipients: &[String],
    kind: MessageKind,
    body: &str,
    broadcast: bool,
    send_key: Option<&str>,
) -> Result<Vec<Message>> {
    let now = now_ms();
    let mut out: Vec<Message> = Vec::with_capacity(recipients.len());
    for recipient in recipients {
        let body_of = out.first().map(|m| m.id);
        // Prepared once per connection: Diesel never caches an insert.
        struct Deliver;
        let m: MessageRow = Prepared::<Deliver>::new(
            "INSERT INTO messages (team_id, sender, recipient, kind, body, broadcast, \
             created_at_ms, body_of, send_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
            vec![
                Bind::Text(team_id.to_owned()),
                Bind::Text(from.to_owned()),
                Bind::Text(recipient.clone()),
                Bind::Text(kind.as_str().to_owned()),
                Bind::Text(if body_of.is_some() {
                    String::new()
                } else {
                    body.to_owned()
                }),
                Bind::Bool(broadcast),
                Bind::BigInt(now),
                Bind::NullableBigInt(body_of),
                Bind::NullableText(send_key.map(str::to_owned)),
            ],
        )
        .get_result(c)?;
        let mut m = m.into_entity()?;
        if body_of.is_some() {
            m.body = body.to_owned();
        }
        out.push(m);
    }
    event(
        c,
        Some(team_id),
        Some(from),
        "message.sent",
        json!({
            "ids": out.iter().map(|m| m.id).collect::<Vec<_>>(),
            "to": recipients,
            "kind": kind.as_str(),
            "broadcast": broadcast,
            "body": excerpt(body, 200),
        }),
    )?;
    notify_inbox(c, team_id)?;
    Ok(out)
}

/// Messages from rows: a broadcast delivery that points at another row (`body_of`) gets that
/// row's body (one query for all of them, only when there are any).
fn resolve_bodies(c: &mut Conn, rows: Vec<MessageRow>) -> Result<Vec<Message>> {
    let wanted: Vec<i64> = rows.iter().filter_map(|r| r.body_of).collect();
    let bodies: BTreeMap<i64, String> = if wanted.is_empty() {
        BTreeMap::new()
    } else {
        messages::table
            .filter(messages::id.eq_any(&wanted))
            .select((messages::id, messages::body))
            .load::<(i64, String)>(c)?
            .into_iter()
            .collect()
    };
    rows.into_iter()
        .map(|mut r| {
            if let Some(of) = r.body_of {
                r.body = bodies.get(&of).cloned().ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "message {} points at message {of} for its body, which does not exist",
                        r.id
                    ))
                })?;
            }
            r.into_entity()
        })
        .collect()
}

// ---------------------------------------------------------------- teams

pub(crate) fn create_team(c: &mut Conn, new: &NewTeam) -> Result<(Team, Member)> {
    write_tx(c, |c| {
        let taken = teams::table
            .filter(teams::name.eq(new.name.as_str()))
            .filter(teams::status.eq(TeamStatus::Active.as_str()))
            .select(teams::id)
            .first::<String>(c)
            .optional()?;
        if let Some(id) = taken {
            return Err(StoreError::Conflict(format!(
                "an active team named {} already exists (id {id}); pick another name or \
                 `team disband {}` first",
                new.name, new.name
            )));
        }
        let now = now_ms();
        let row = TeamRow {
            id: new_id(),
            name: new.name.to_string(),
            status: TeamStatus::Active.as_str().to_owned(),
            lead_agent: new.lead_agent.to_string(),
            workflow: new.workflow.clone(),
            project_root: new.project_root.clone(),
            runner_id: None,
            owner_pid: new.owner.as_ref().map(|o| o.0),
            owner_host: new.owner.as_ref().map(|o| o.1.clone()),
            created_at_ms: now,
            updated_at_ms: now,
            ended_at_ms: None,
            reason: None,
            next_task_id: 1,
        };
        // The partial unique index is the last word when two processes race on one name
        // (PostgreSQL, READ COMMITTED): the loser gets the same conflict as the check above.
        diesel::insert_into(teams::table)
            .values(&row)
            .execute(c)
            .map_err(|e| match e {
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                ) => StoreError::Conflict(format!(
                    "an active team named {} already exists; pick another name or `team disband {}` first",
                    new.name, new.name
                )),
                e => e.into(),
            })?;
        let lead: MemberRow = diesel::insert_into(members::table)
            .values(NewMemberRow {
                team_id: &row.id,
                name: LEAD_ALIAS,
                agent: new.lead_agent.as_str(),
                role: Role::Lead.as_str(),
                status: MemberStatus::Running.as_str(),
                prompt: None,
                persistent: true,
                timeout_secs: None,
                runner_id: None,
                created_at_ms: now,
                started_at_ms: Some(now),
                updated_at_ms: now,
            })
            .returning(MemberRow::as_returning())
            .get_result(c)?;
        event(
            c,
            Some(&row.id),
            Some(LEAD_ALIAS),
            "team.created",
            json!({"name": row.name, "lead_agent": row.lead_agent, "workflow": row.workflow}),
        )?;
        Ok((row.into_entity()?, lead.into_entity()?))
    })
}

pub(crate) fn list_teams(c: &mut Conn, filter: &TeamFilter) -> Result<Vec<TeamSummary>> {
    let mut q = teams::table.select(TeamRow::as_select()).into_boxed();
    if let Some(s) = filter.status {
        q = q.filter(teams::status.eq(s.as_str()));
    } else if !filter.all {
        q = q.filter(teams::status.eq(TeamStatus::Active.as_str()));
    }
    let rows: Vec<TeamRow> = q.order((teams::created_at_ms, teams::id)).load(c)?;
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let member_counts: Vec<(String, String, i64)> = members::table
        .filter(members::team_id.eq_any(&ids))
        .group_by((members::team_id, members::status))
        .select((members::team_id, members::status, diesel::dsl::count_star()))
        .load(c)?;
    let task_counts: Vec<(String, String, i64)> = tasks::table
        .filter(tasks::team_id.eq_any(&ids))
        .group_by((tasks::team_id, tasks::status))
        .select((tasks::team_id, tasks::status, diesel::dsl::count_star()))
        .load(c)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let (mut members_live, mut members_total, mut tasks_open, mut tasks_total) = (0, 0, 0, 0);
        for (_, status, n) in member_counts.iter().filter(|m| m.0 == row.id) {
            members_total += n;
            if status.parse::<MemberStatus>().is_ok_and(|s| s.is_live()) {
                members_live += n;
            }
        }
        for (_, status, n) in task_counts.iter().filter(|t| t.0 == row.id) {
            tasks_total += n;
            if status.parse::<TaskStatus>().is_ok_and(|s| !s.is_terminal()) {
                tasks_open += n;
            }
        }
        out.push(TeamSummary {
            team: row.into_entity()?,
            members_live,
            members_total,
            tasks_open,
            tasks_total,
        });
    }
    Ok(out)
}

/// Ends an active team (disband, complete or fail) in one transaction: every live member is
/// cancelled and told so, every open task is cancelled.
pub(crate) fn end_team(
    c: &mut Conn,
    team_id: &str,
    ev: TeamEvent,
    reason: &str,
) -> Result<Disbanded> {
    write_tx(c, |c| {
        lock_team(c, team_id)?;
        let team = team_by_id(c, team_id)?;
        let from = team
            .status
            .parse::<TeamStatus>()
            .map_err(StoreError::Corrupt)?;
        let to = from.transition(ev).map_err(|e| {
            StoreError::Illegal(format!(
                "team {} is {}; it cannot be {}",
                team.name, team.status, e.verb
            ))
        })?;
        let now = now_ms();
        let updated: TeamRow = diesel::update(
            teams::table
                .find(team_id)
                .filter(teams::status.eq(from.as_str())),
        )
        .set((
            teams::status.eq(to.as_str()),
            teams::updated_at_ms.eq(now),
            teams::ended_at_ms.eq(Some(now)),
            teams::reason.eq(Some(reason)),
        ))
        .returning(TeamRow::as_returning())
        .get_result(c)?;

        let live: Vec<MemberRow> = members::table
            .filter(members::team_id.eq(team_id))
            .filter(
                members::status.eq_any(
                    MemberStatus::sources(MemberEvent::Cancel)
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>(),
                ),
            )
            .select(MemberRow::as_select())
            .order(members::id)
            .load(c)?;
        let mut cancelled_members = Vec::with_capacity(live.len());
        for m in &live {
            let status = m.status()?;
            let Some(next) = cascade::disband_member(status) else {
                continue;
            };
            let busy = if status == MemberStatus::Running {
                now - m.updated_at_ms
            } else {
                0
            };
            diesel::update(
                members::table
                    .find(m.id)
                    .filter(members::status.eq(status.as_str())),
            )
            .set((
                members::status.eq(next.as_str()),
                members::error.eq(Some(reason)),
                members::updated_at_ms.eq(now),
                members::ended_at_ms.eq(Some(now)),
                members::busy_ms.eq(m.busy_ms + busy),
            ))
            .execute(c)?;
            cancelled_members.push(m.name.clone());
        }
        let open: Vec<&str> = TaskStatus::sources(TaskEvent::Cancel)
            .iter()
            .map(|s| s.as_str())
            .collect();
        let mut cancelled_tasks: Vec<i64> = diesel::update(
            tasks::table
                .filter(tasks::team_id.eq(team_id))
                .filter(tasks::status.eq_any(open)),
        )
        .set((
            tasks::status.eq(TaskStatus::Cancelled.as_str()),
            tasks::updated_at_ms.eq(now),
        ))
        .returning(tasks::id)
        .get_results(c)?;
        cancelled_tasks.sort_unstable();

        if !cancelled_members.is_empty() {
            let body = format!(
                "[TEAM {}] team {} was {}: {reason}",
                to.as_str().to_uppercase(),
                team.name,
                to
            );
            deliver(
                c,
                team_id,
                SYSTEM_SENDER,
                &cancelled_members,
                MessageKind::System,
                &body,
                true,
            )?;
        }
        event(
            c,
            Some(team_id),
            None,
            &format!("team.{to}"),
            json!({
                "reason": reason,
                "cancelled_members": cancelled_members,
                "cancelled_tasks": cancelled_tasks,
            }),
        )?;
        Ok(Disbanded {
            team: updated.into_entity()?,
            cancelled_members,
            cancelled_tasks,
        })
    })
}

// ---------------------------------------------------------------- members

pub(crate) fn add_member(c: &mut Conn, team_id: &str, new: &NewMember) -> Result<Member> {
    let mut added = add_members(c, team_id, std::slice::from_ref(new))?;
    Ok(added.remove(0))
}

/// Adds members in one transaction (one name lookup, one insert each).
pub(crate) fn add_members(c: &mut Conn, team_id: &str, news: &[NewMember]) -> Result<Vec<Member>> {
    add_members_with(c, team_id, news, &MemberSpec::default())
}

/// Adds a member with what it was spawned with (its agent definition, its environment's
/// fingerprint), in one statement: a runner never sees it without them.
pub(crate) fn add_member_with_spec(
    c: &mut Conn,
    team_id: &str,
    new: &NewMember,
    spec: &MemberSpec,
) -> Result<Member> {
    let mut added = add_members_with(c, team_id, std::slice::from_ref(new), spec)?;
    Ok(added.remove(0))
}

fn add_members_with(
    c: &mut Conn,
    team_id: &str,
    news: &[NewMember],
    spec: &MemberSpec,
) -> Result<Vec<Member>> {
    for new in news {
        if !matches!(new.status, MemberStatus::Pending | MemberStatus::Running) {
            return Err(StoreError::Invalid(format!(
                "a new member starts pending or running, not {}",
                new.status
            )));
        }
    }
    write_tx(c, |c| {
        lock_team(c, team_id)?;
        let team = active_team(c, team_id, "new members")?;
        let mut names = names::NameAllocator::new(
            members::table
                .filter(members::team_id.eq(team_id))
                .select(members::name)
                .load::<String>(c)?,
        );
        let now = now_ms();
        let mut out = Vec::with_capacity(news.len());
        for new in news {
            let name = names.allocate(&new.agent);
            let running = new.status == MemberStatus::Running;
            // Prepared once per connection: Diesel never caches an insert (compiling it was
            // ~15 % of adding a member; the statement journal of `RETURNING` was more, see
            // `member_write!`; BENCHMARKS.md § 9).
            struct AddMember;
            let row = member_write!(
                c,
                AddMember,
                "INSERT INTO members (team_id, name, agent, role, status, prompt, persistent, \
                 timeout_secs, runner_id, created_at_ms, started_at_ms, updated_at_ms, \
                 agent_def, agent_source, env_fingerprint) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                vec![
                    Bind::Text(team_id.to_owned()),
                    Bind::Text(name.as_str().to_owned()),
                    Bind::Text(new.agent.as_str().to_owned()),
                    Bind::Text(Role::Member.as_str().to_owned()),
                    Bind::Text(new.status.as_str().to_owned()),
                    Bind::NullableText(new.prompt.clone()),
                    Bind::Bool(new.persistent),
                    Bind::NullableBigInt(new.timeout_secs),
                    Bind::NullableText(new.runner_id.clone()),
                    Bind::BigInt(now),
                    Bind::NullableBigInt(running.then_some(now)),
                    Bind::BigInt(now),
                    Bind::NullableText(spec.agent_def.clone()),
                    Bind::NullableText(spec.agent_source.clone()),
                    Bind::NullableText(spec.env_fingerprint.clone()),
                ],
                super::WrittenMember::Named {
                    team_id,
                    name: name.as_str(),
                }
            )?
            .ok_or_else(|| StoreError::Invalid(format!("member {name} was not added")))?;
            event(
                c,
                Some(team_id),
                Some(name.as_str()),
                "member.added",
                json!({"agent": new.agent.as_str(), "status": new.status, "persistent": new.persistent, "team": team.name}),
            )?;
            out.push(row.into_entity()?);
        }
        Ok(out)
    })
}

/// The first `limit` members of a team (the lead first).
pub(crate) fn list_members_head(
    c: &mut Conn,
    team_id: &str,
    limit: i64,
) -> Result<(Vec<Member>, i64)> {
    let total: i64 = members::table
        .filter(members::team_id.eq(team_id))
        .count()
        .get_result(c)?;
    // The first `limit` rows of an unlimited, cached statement: a bound `LIMIT ?` makes
    // SQLite compile the statement again on every call (see the note above `team_by_id`).
    let rows = members::table
        .filter(members::team_id.eq(team_id))
        .order(members::id)
        .select(MemberRow::as_select())
        .load_iter::<MemberRow, diesel::connection::DefaultLoadingMode>(c)?
        .take(usize::try_from(limit).unwrap_or(0))
        .map(|r| r.map_err(StoreError::from).and_then(MemberRow::into_entity))
        .collect::<Result<Vec<_>>>()?;
    Ok((rows, total))
}

pub(crate) fn team_view(
    c: &mut Conn,
    team_id: &str,
    limit: i64,
) -> Result<(Team, Vec<Member>, i64)> {
    let team = get_team(c, team_id)?;
    let (head, total) = list_members_head(c, team_id, limit)?;
    Ok((team, head, total))
}

pub(crate) fn get_member(c: &mut Conn, team_id: &str, name: &str) -> Result<Member> {
    let team = team_by_id(c, team_id)?;
    member_row(c, &team, name)?.into_entity()
}

pub(crate) fn list_members(c: &mut Conn, team_id: &str) -> Result<Vec<Member>> {
    members::table
        .filter(members::team_id.eq(team_id))
        .order(members::id)
        .select(MemberRow::as_select())
        .load(c)?
        .into_iter()
        .map(MemberRow::into_entity)
        .collect()
}

fn illegal_member(team: &TeamRow, m: &MemberRow, verb: &str) -> StoreError {
    StoreError::Illegal(format!(
        "member {} in team {} is {}; it cannot be {verb}",
        m.name, team.name, m.status
    ))
}

/// Moves a member between live states (`sleep`: running → idle, `wake`: idle → running).
pub(crate) fn member_step(
    c: &mut Conn,
    team_id: &str,
    name: &str,
    ev: MemberEvent,
) -> Result<Member> {
    if !matches!(ev, MemberEvent::Sleep | MemberEvent::Wake) {
        return Err(StoreError::Invalid(format!(
            "member event {ev} is not a step between live states"
        )));
    }
    write_tx(c, |c| {
        let team = team_by_id(c, team_id)?;
        let m = member_row(c, &team, name)?;
        member_step_in(c, &team, m, ev)
    })
}

/// [`member_step`] inside the caller's transaction, which has read `team` and the member `m`.
fn member_step_in(c: &mut Conn, team: &TeamRow, m: MemberRow, ev: MemberEvent) -> Result<Member> {
    {
        let team_id = team.id.as_str();
        let from = m.status()?;
        let to = from
            .transition(ev)
            .map_err(|e| illegal_member(team, &m, e.verb))?;
        let now = now_ms();
        let busy = if from == MemberStatus::Running {
            now - m.updated_at_ms
        } else {
            0
        };
        // Prepared once per connection (Diesel never caches an update): a step is on the
        // path of every wake-up and every persistent member's turn.
        struct Step;
        let row = member_write!(
            c,
            Step,
            "UPDATE members SET status = ?, updated_at_ms = ?, busy_ms = ? \
             WHERE id = ? AND status = ?",
            vec![
                Bind::Text(to.as_str().to_owned()),
                Bind::BigInt(now),
                Bind::BigInt(m.busy_ms + busy),
                Bind::BigInt(m.id),
                Bind::Text(from.as_str().to_owned()),
            ],
            super::WrittenMember::Id(m.id)
        )
        .and_then(guarded)?;
        event(
            c,
            Some(team_id),
            Some(&m.name),
            &format!("member.{to}"),
            json!({"from": from}),
        )?;
        row.into_entity()
    }
}

/// Ends a member: the guarded move to its terminal state, the task cascade, the notice to the
/// lead and, when it was the last live member, `[ALL MEMBERS DONE]`; one transaction.
pub(crate) fn finish_member(
    c: &mut Conn,
    team_id: &str,
    name: &str,
    outcome: &Outcome,
    progress: &Progress,
) -> Result<Finished> {
    // The progress commits even when the member had already ended (the refusal writes
    // nothing); any other error rolls both back. The team row is locked before the member
    // row is written, the order of every other member change (the other order deadlocked
    // against concurrent ends on PostgreSQL).
    write_tx(c, |c| {
        lock_team(c, team_id)?;
        let team = team_by_id(c, team_id)?;
        let m = member_row(c, &team, name)?;
        progress_of(c, team_id, &m.name, m.id, progress)?;
        match finish_member_in(c, &team, m, outcome) {
            Err(StoreError::Illegal(e)) => Ok(Err(StoreError::Illegal(e))),
            other => other.map(Ok),
        }
    })?
}

/// Ends several members in one write transaction, each as [`finish_member`] in a savepoint of
/// its own: one refused or failed end rolls back only itself. The ends run in the order of
/// their team ids (the order of the team row locks on PostgreSQL, so two batches never wait on
/// each other in a cycle); the results come back in the order of `ends`.
pub(crate) fn finish_members(c: &mut Conn, ends: &[MemberEnd]) -> Result<Vec<Result<Finished>>> {
    let mut order: Vec<usize> = (0..ends.len()).collect();
    order.sort_by(|a, b| ends[*a].team_id.cmp(&ends[*b].team_id));
    write_tx(c, |c| {
        let mut out: Vec<Option<Result<Finished>>> = ends.iter().map(|_| None).collect();
        for i in order {
            let e = &ends[i];
            out[i] = Some(finish_member(c, &e.team_id, &e.name, &e.outcome, &e.progress));
        }
        Ok(out.into_iter().flatten().collect())
    })
}

/// Fails member `name` with `error` unless it has already answered: a `result` or
/// `completion` message from it to the lead that the lead has not read yet. One transaction,
/// so an answer is either seen here or sent after the member ended. `None` when it answered
/// (the member is left as it is).
pub(crate) fn fail_member_unless_answered(
    c: &mut Conn,
    team_id: &str,
    name: &str,
    error: &str,
) -> Result<Option<Finished>> {
    write_tx(c, |c| {
        lock_team(c, team_id)?;
        let team = team_by_id(c, team_id)?;
        let lead = member_row(c, &team, LEAD_ALIAS)?;
        let m = member_row(c, &team, name)?;
        let answered: i64 = messages::table
            .filter(messages::team_id.eq(team_id))
            .filter(messages::sender.eq(&m.name))
            .filter(messages::recipient.eq(&lead.name))
            .filter(messages::delivered_at_ms.is_null())
            .filter(messages::kind.eq_any([
                MessageKind::Result.as_str(),
                MessageKind::Completion.as_str(),
            ]))
            .count()
            .get_result(c)?;
        if answered > 0 || m.status()?.is_terminal() {
            return Ok(None);
        }
        finish_member_in(c, &team, m, &Outcome::Failed(error.to_owned())).map(Some)
    })
}

/// The body of [`finish_member`], inside the caller's write transaction, which has locked
/// the team row and read `team` and the member `m`.
fn finish_member_in(
    c: &mut Conn,
    team: &TeamRow,
    m: MemberRow,
    outcome: &Outcome,
) -> Result<Finished> {
    {
        let team_id = team.id.as_str();
        let from = m.status()?;
        let ev = match outcome {
            Outcome::Completed(_) => MemberEvent::Complete,
            Outcome::Failed(_) => MemberEvent::Fail,
            Outcome::Cancelled(_) => MemberEvent::Cancel,
            Outcome::TimedOut(_) => MemberEvent::TimeOut,
        };
        let to = from
            .transition(ev)
            .map_err(|e| illegal_member(team, &m, e.verb))?;
        let now = now_ms();
        let busy = if from == MemberStatus::Running {
            now - m.updated_at_ms
        } else {
            0
        };
        let (result, error) = match outcome {
            Outcome::Completed(r) => (Some(r.as_str()), None),
            Outcome::Failed(e) | Outcome::Cancelled(e) | Outcome::TimedOut(e) => {
                (None, Some(e.as_str()))
            }
        };
        // Prepared once per connection: Diesel never caches an update.
        struct End;
        let row = member_write!(
            c,
            End,
            "UPDATE members SET status = ?, result = ?, error = ?, updated_at_ms = ?, \
             ended_at_ms = ?, busy_ms = ? WHERE id = ? AND status = ?",
            vec![
                Bind::Text(to.as_str().to_owned()),
                Bind::NullableText(result.map(str::to_owned)),
                Bind::NullableText(error.map(str::to_owned)),
                Bind::BigInt(now),
                Bind::BigInt(now),
                Bind::BigInt(m.busy_ms + busy),
                Bind::BigInt(m.id),
                Bind::Text(from.as_str().to_owned()),
            ],
            super::WrittenMember::Id(m.id)
        )
        .and_then(guarded)?;

        // The cascade on the member's in-progress tasks.
        let held = tasks::table
            .filter(tasks::team_id.eq(team_id))
            .filter(tasks::assignee.eq(&m.name))
            .filter(tasks::status.eq(TaskStatus::InProgress.as_str()));
        let mut tasks_changed = Vec::new();
        match to {
            MemberStatus::Failed | MemberStatus::TimedOut => {
                let why = format!("assignee {} {}: {}", m.name, to, error.unwrap_or(""));
                let ids: Vec<i64> = diesel::update(held)
                    .set((
                        tasks::status.eq(TaskStatus::Failed.as_str()),
                        tasks::result.eq(Some(why.as_str())),
                        tasks::updated_at_ms.eq(now),
                    ))
                    .returning(tasks::id)
                    .get_results(c)?;
                tasks_changed.extend(ids.into_iter().map(|id| (id, TaskStatus::Failed)));
            }
            MemberStatus::Cancelled => {
                let ids: Vec<i64> = diesel::update(held)
                    .set((
                        tasks::status.eq(TaskStatus::Pending.as_str()),
                        tasks::assignee.eq(None::<String>),
                        tasks::updated_at_ms.eq(now),
                    ))
                    .returning(tasks::id)
                    .get_results(c)?;
                tasks_changed.extend(ids.into_iter().map(|id| (id, TaskStatus::Pending)));
            }
            _ => {}
        }
        tasks_changed.sort_unstable();
        for (id, status) in &tasks_changed {
            event(
                c,
                Some(team_id),
                Some(&m.name),
                &format!(
                    "task.{}",
                    if *status == TaskStatus::Failed {
                        "failed"
                    } else {
                        "released"
                    }
                ),
                json!({"task": id, "cause": format!("member {}", to)}),
            )?;
        }
        event(
            c,
            Some(team_id),
            Some(&m.name),
            &format!("member.{to}"),
            json!({"from": from, "result": result.map(|r| excerpt(r, 500)), "error": error}),
        )?;

        // Notices to the lead, under the member's own name.
        let mut all_done = false;
        let mut notified = None;
        let is_member = m.role == Role::Member.as_str();
        if is_member {
            let (kind, body) = match outcome {
                Outcome::Completed(r) => (
                    MessageKind::Completion,
                    cascade::completion_notice(&m.name, r),
                ),
                Outcome::Failed(e) => (MessageKind::Failure, cascade::failure_notice(&m.name, e)),
                Outcome::TimedOut(e) => (
                    MessageKind::Failure,
                    cascade::failure_notice(&m.name, &format!("timed out: {e}")),
                ),
                Outcome::Cancelled(e) => (
                    MessageKind::System,
                    format!("[AGENT CANCELLED] {}: {e}", m.name),
                ),
            };
            let lead = member_row(c, team, LEAD_ALIAS)?;
            notified = Some(lead.name.clone());
            deliver(
                c,
                team_id,
                &m.name,
                std::slice::from_ref(&lead.name),
                kind,
                &body,
                false,
            )?;
            // One look for a live member (not a load of every status on every end, which
            // made a team of N members cost O(N²)); the statuses are read only for the summary.
            // An `or` chain, not `eq_any`: Diesel caches the statement (index `members_live`).
            let any_live = team.status == TeamStatus::Active.as_str()
                && diesel::select(diesel::dsl::exists(
                    members::table
                        .filter(members::team_id.eq(team_id))
                        .filter(members::role.eq(Role::Member.as_str()))
                        .filter(
                            members::status
                                .eq(MemberStatus::Pending.as_str())
                                .or(members::status.eq(MemberStatus::Running.as_str()))
                                .or(members::status.eq(MemberStatus::Idle.as_str())),
                        ),
                ))
                .get_result::<bool>(c)?;
            if team.status == TeamStatus::Active.as_str() && !any_live {
                let others: Vec<String> = members::table
                    .filter(members::team_id.eq(team_id))
                    .filter(members::role.eq(Role::Member.as_str()))
                    .select(members::status)
                    .load(c)?;
                let statuses: Vec<MemberStatus> =
                    others.iter().filter_map(|s| s.parse().ok()).collect();
                if statuses.iter().all(|s| s.is_terminal()) {
                    all_done = true;
                    let body = cascade::all_done_notice(statuses);
                    deliver(
                        c,
                        team_id,
                        SYSTEM_SENDER,
                        &[lead.name],
                        MessageKind::System,
                        &body,
                        false,
                    )?;
                }
            }
        }
        Ok(Finished {
            member: row.into_entity()?,
            tasks_changed,
            all_done,
            notified,
        })
    }
}

// ---------------------------------------------------------------- tasks

pub(crate) fn add_task(c: &mut Conn, team_id: &str, new: &NewTask) -> Result<Task> {
    let title = new.title.trim();
    if title.is_empty() {
        return Err(StoreError::Invalid(
            "a task needs a title: an empty one was given".into(),
        ));
    }
    write_tx(c, |c| {
        lock_team(c, team_id)?;
        let team = active_team(c, team_id, "new tasks")?;
        let mut blockers: Vec<i64> = new.blocked_by.clone();
        blockers.sort_unstable();
        blockers.dedup();
        if !blockers.is_empty() {
            let found: HashSet<i64> = tasks::table
                .filter(tasks::team_id.eq(team_id))
                .filter(tasks::id.eq_any(&blockers))
                .select(tasks::id)
                .load::<i64>(c)?
                .into_iter()
                .collect();
            if let Some(missing) = blockers.iter().find(|b| !found.contains(b)) {
                return Err(StoreError::not_found_hint(
                    format!("blocker task {missing} in team {}", team.name),
                    format!("see `team task list {}`", team.name),
                ));
            }
        }
        if let Some(a) = &new.assignee {
            member_row(c, &team, a)?;
        }
        let id = team.next_task_id;
        diesel::update(teams::table.find(team_id))
            .set(teams::next_task_id.eq(id + 1))
            .execute(c)?;
        let now = now_ms();
        let row = TaskRow {
            team_id: team_id.to_owned(),
            id,
            title: title.to_owned(),
            description: new.description.clone(),
            status: TaskStatus::Pending.as_str().to_owned(),
            assignee: new.assignee.clone(),
            result: None,
            created_at_ms: now,
            updated_at_ms: now,
        };
        diesel::insert_into(tasks::table).values(&row).execute(c)?;
        for b in &blockers {
            diesel::insert_into(task_deps::table)
                .values((
                    task_deps::team_id.eq(team_id),
                    task_deps::task_id.eq(id),
                    task_deps::blocker_id.eq(b),
                ))
                .execute(c)?;
        }
        event(
            c,
            Some(team_id),
            None,
            "task.added",
            json!({"task": id, "title": title, "blocked_by": blockers, "assignee": new.assignee}),
        )?;
        row.into_entity(blockers)
    })
}

pub(crate) fn list_tasks(
    c: &mut Conn,
    team_id: &str,
    status: Option<TaskStatus>,
) -> Result<Vec<Task>> {
    reap_before_read(c, team_id)?;
    let mut q = tasks::table
        .filter(tasks::team_id.eq(team_id))
        .select(TaskRow::as_select())
        .into_boxed();
    if let Some(s) = status {
        q = q.filter(tasks::status.eq(s.as_str()));
    }
    let rows: Vec<TaskRow> = q.order(tasks::id).load(c)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut blockers = blockers_of(c, team_id, &ids)?;
    rows.into_iter()
        .map(|r| {
            let b = blockers.remove(&r.id).unwrap_or_default();
            r.into_entity(b)
        })
        .collect()
}

pub(crate) fn get_task(c: &mut Conn, team_id: &str, id: i64) -> Result<Task> {
    reap_before_read(c, team_id)?;
    let team = team_by_id(c, team_id)?;
    let row = task_row(c, &team, id)?;
    task_entity(c, row)
}

fn unfinished_blockers(c: &mut Conn, team_id: &str, id: i64) -> Result<Vec<(i64, String)>> {
    let blockers: Vec<i64> = task_deps::table
        .filter(task_deps::team_id.eq(team_id))
        .filter(task_deps::task_id.eq(id))
        .select(task_deps::blocker_id)
        .load(c)?;
    if blockers.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, String)> = tasks::table
        .filter(tasks::team_id.eq(team_id))
        .filter(tasks::id.eq_any(&blockers))
        .filter(tasks::status.ne(TaskStatus::Completed.as_str()))
        .select((tasks::id, tasks::status))
        .order(tasks::id)
        .load(c)?;
    Ok(rows)
}

/// Claims a task for `member`: the given one, or the oldest claimable one. Exactly one
/// claimant wins; blockers must be completed; a task reserved for another member is refused.
///
/// With `lease` (ms), the claim holds until then: past it, the task goes back to `pending`
/// unless it was completed, failed or released ([`return_abandoned_tasks`], run by later
/// claims and reads of the board). Abandoned tasks are given back here first, in the same
/// transaction as the claim.
pub(crate) fn claim_task(
    c: &mut Conn,
    team_id: &str,
    member: &str,
    id: Option<i64>,
    lease: Option<i64>,
) -> Result<Task> {
    // The common case (next task, by name, no lease) in one statement where the backend has
    // one; everything else, and every refusal with its reason, goes through the transaction
    // (which also gives back abandoned tasks, so a board whose only claimable tasks were
    // abandoned is served there).
    if id.is_none()
        && lease.is_none()
        && member != LEAD_ALIAS
        && let Some(t) = claim_next_in_one_statement(c, team_id, member, now_ms())?
    {
        return Ok(t);
    }
    write_tx(c, |c| {
        let team = active_team(c, team_id, "task claims")?;
        let m = member_row(c, &team, member)?;
        fence(&team, &m, "claim tasks")?;
        let now = now_ms();
        return_abandoned_tasks(c, team_id, now)?;
        let lease_until = lease.map(|ms| now.saturating_add(ms));
        let target = match id {
            Some(id) => {
                let t = task_row(c, &team, id)?;
                let status = t.status()?;
                if let Err(e) = status.transition(TaskEvent::Claim) {
                    let by = t
                        .assignee
                        .as_deref()
                        .map(|a| format!(" (assignee {a})"))
                        .unwrap_or_default();
                    return Err(StoreError::Illegal(format!(
                        "task {id} in team {} is {}{by}; it cannot be {}",
                        team.name, t.status, e.verb
                    )));
                }
                if let Some(a) = t.assignee.as_deref().filter(|a| *a != m.name) {
                    return Err(StoreError::Conflict(format!(
                        "task {id} in team {} is reserved for member {a}; {} cannot claim it",
                        team.name, m.name
                    )));
                }
                let open = unfinished_blockers(c, team_id, id)?;
                if !open.is_empty() {
                    let list: Vec<String> = open
                        .iter()
                        .map(|(b, s)| format!("task {b} ({s})"))
                        .collect();
                    return Err(StoreError::Conflict(format!(
                        "task {id} in team {} is blocked by {}; it can be claimed once they are completed",
                        team.name,
                        list.join(", ")
                    )));
                }
                id
            }
            None => match pick_claimable_task(c, team_id, &m.name)? {
                Some(id) => id,
                None => {
                    let pending: i64 = tasks::table
                        .filter(tasks::team_id.eq(team_id))
                        .filter(tasks::status.eq(TaskStatus::Pending.as_str()))
                        .count()
                        .get_result(c)?;
                    let hint = if pending == 0 {
                        format!(
                            "the board has no pending task; add one with `team task add {}`",
                            team.name
                        )
                    } else {
                        format!(
                            "{pending} pending task(s) are blocked or reserved for other members"
                        )
                    };
                    return Err(StoreError::Empty(format!(
                        "no claimable task in team {}: {hint}",
                        team.name
                    )));
                }
            },
        };
        let row: Option<TaskRow> = diesel::update(
            tasks::table
                .find((team_id, target))
                .filter(tasks::status.eq(TaskStatus::Pending.as_str())),
        )
        .set((
            tasks::status.eq(TaskStatus::InProgress.as_str()),
            tasks::assignee.eq(Some(&m.name)),
            tasks::lease_until_ms.eq(lease_until),
            tasks::updated_at_ms.eq(now),
        ))
        .returning(TaskRow::as_returning())
        .get_result(c)
        .optional()?;
        let Some(row) = row else {
            return Err(StoreError::Conflict(format!(
                "task {target} in team {} was claimed by another member first",
                team.name
            )));
        };
        event(
            c,
            Some(team_id),
            Some(&m.name),
            "task.claimed",
            match lease {
                Some(ms) => json!({"task": target, "lease_ms": ms}),
                None => json!({"task": target}),
            },
        )?;
        task_entity(c, row)
    })
}

/// Completes, fails, releases or cancels a task (claims go through [`claim_task`]).
pub(crate) fn update_task(
    c: &mut Conn,
    team_id: &str,
    id: i64,
    ev: TaskEvent,
    result: Option<&str>,
    actor: Option<&Actor<'_>>,
) -> Result<Task> {
    if ev == TaskEvent::Claim {
        return Err(StoreError::Invalid("claims go through claim_task".into()));
    }
    write_tx(c, |c| {
        fence_actor(c, actor, &format!("{} tasks", ev.as_str()))?;
        let team = team_by_id(c, team_id)?;
        let t = task_row(c, &team, id)?;
        let from = t.status()?;
        let to = from.transition(ev).map_err(|e| {
            StoreError::Illegal(format!(
                "task {id} in team {} is {}; it cannot be {}",
                team.name, t.status, e.verb
            ))
        })?;
        let assignee = if to == TaskStatus::Pending {
            None
        } else {
            t.assignee.clone()
        };
        let row: Option<TaskRow> = diesel::update(
            tasks::table
                .find((team_id, id))
                .filter(tasks::status.eq(from.as_str())),
        )
        .set((
            tasks::status.eq(to.as_str()),
            tasks::assignee.eq(assignee),
            tasks::result.eq(result.or(t.result.as_deref())),
            tasks::lease_until_ms.eq(None::<i64>),
            tasks::updated_at_ms.eq(now_ms()),
        ))
        .returning(TaskRow::as_returning())
        .get_result(c)
        .optional()?;
        let row = row.ok_or_else(|| {
            StoreError::Conflict(format!(
                "task {id} in team {} changed state while this update ran; look again with `team task show {} {id}`",
                team.name, team.name
            ))
        })?;
        event(
            c,
            Some(team_id),
            t.assignee.as_deref(),
            &format!(
                "task.{}",
                match to {
                    TaskStatus::Pending => "released".to_owned(),
                    s => s.to_string(),
                }
            ),
            json!({"task": id, "from": from, "result": result.map(|r| excerpt(r, 500))}),
        )?;
        task_entity(c, row)
    })
}

// ---------------------------------------------------------------- messages

/// Sends a message. The sender must still be able to act (fencing: a member that has ended
/// cannot send), the body must fit `max_bytes`. With `key`, a send that was already stored
/// with the same key by the same sender is not stored again: its deliveries are returned.
pub(crate) fn send_message(
    c: &mut Conn,
    team_id: &str,
    msg: &Outgoing<'_>,
    key: Option<&str>,
    max_bytes: usize,
) -> Result<Vec<Message>> {
    delivery::check_message_size(msg.body, max_bytes)
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    write_tx(c, |c| {
        let team = active_team(c, team_id, "new messages")?;
        let sender = if msg.from == SYSTEM_SENDER && msg.kind == MessageKind::System {
            SYSTEM_SENDER.to_owned()
        } else {
            let m = member_row(c, &team, msg.from)?;
            fence(&team, &m, "send messages")?;
            m.name
        };
        if let Some(k) = key {
            let rows: Vec<MessageRow> = messages::table
                .filter(messages::team_id.eq(team_id))
                .filter(messages::sender.eq(&sender))
                .filter(messages::send_key.eq(k))
                .order(messages::id)
                .select(MessageRow::as_select())
                .load(c)?;
            if !rows.is_empty() {
                return resolve_bodies(c, rows);
            }
        }
        let (recipients, broadcast) = match &msg.to {
            Recipient::Member(name) => (vec![live_recipient(c, &team, name)?.name], false),
            Recipient::All => {
                let live: Vec<String> = members::table
                    .filter(members::team_id.eq(team_id))
                    .filter(members::name.ne(&sender))
                    .filter(
                        members::status.eq_any(
                            MemberStatus::ALL
                                .iter()
                                .filter(|s| s.is_live())
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>(),
                        ),
                    )
                    .order(members::id)
                    .select(members::name)
                    .load(c)?;
                if live.is_empty() {
                    return Err(StoreError::Conflict(format!(
                        "no live member other than {sender} in team {} to receive a broadcast",
                        team.name
                    )));
                }
                (live, true)
            }
        };
        deliver_keyed(
            c,
            team_id,
            &sender,
            &recipients,
            msg.kind,
            msg.body,
            broadcast,
            key,
        )
    })
}

/// Takes (or, with `peek`, only reads) the unread messages of a member, oldest first. Taking
/// marks them delivered in the same statement, so each is delivered exactly once.
pub(crate) fn take_inbox(
    c: &mut Conn,
    team_id: &str,
    member: &str,
    peek: bool,
) -> Result<Vec<Message>> {
    let take = |c: &mut Conn| {
        let team = team_by_id(c, team_id)?;
        let m = member_row(c, &team, member)?;
        take_inbox_in(c, team_id, &m, peek)
    };
    if peek {
        take(c)
    } else {
        // One transaction for the delivery marks and their event (and, on SQLite, through
        // the process's write lock rather than the busy handler's sleeps).
        write_tx(c, take)
    }
}

/// Takes an idle member's unread messages and, when there are any, wakes it (`idle →
/// running`), in one transaction: the in-process wake-up path in one write instead of two.
/// Empty (and the member left idle) when nothing is unread.
pub(crate) fn take_inbox_and_wake(
    c: &mut Conn,
    team_id: &str,
    member: &str,
) -> Result<Vec<Message>> {
    write_tx(c, |c| {
        let team = team_by_id(c, team_id)?;
        let m = member_row(c, &team, member)?;
        let msgs = take_inbox_in(c, team_id, &m, false)?;
        if !msgs.is_empty() {
            member_step_in(c, &team, m, MemberEvent::Wake)?;
        }
        Ok(msgs)
    })
}

/// The unread messages of member `m` of team `team_id`, marked delivered unless `peek`,
/// inside the caller's transaction.
fn take_inbox_in(c: &mut Conn, team_id: &str, m: &MemberRow, peek: bool) -> Result<Vec<Message>> {
    let unread = messages::table
        .filter(messages::team_id.eq(team_id))
        .filter(messages::recipient.eq(&m.name))
        .filter(messages::delivered_at_ms.is_null());
    let mut rows: Vec<MessageRow> = if peek {
        unread
            .order(messages::id)
            .select(MessageRow::as_select())
            .load(c)?
    } else {
        // Prepared once per connection (Diesel never caches an update): the take is on the
        // path of every wake-up.
        struct Take;
        // A message leased by a CLI take (`team inbox`) stays with it until its lease ends.
        let now = now_ms();
        Prepared::<Take>::new(
            "UPDATE messages SET delivered_at_ms = ?, lease_until_ms = NULL \
             WHERE team_id = ? AND recipient = ? AND delivered_at_ms IS NULL \
               AND (lease_until_ms IS NULL OR lease_until_ms <= ?) RETURNING *",
            vec![
                Bind::BigInt(now),
                Bind::Text(team_id.to_owned()),
                Bind::Text(m.name.clone()),
                Bind::BigInt(now),
            ],
        )
        .load(c)?
    };
    rows.sort_by_key(|r| r.id);
    if !peek && !rows.is_empty() {
        event(
            c,
            Some(team_id),
            Some(&m.name),
            "message.delivered",
            json!({"ids": rows.iter().map(|r| r.id).collect::<Vec<_>>()}),
        )?;
    }
    resolve_bodies(c, rows)
}

/// Leases a member's visible unread messages for `lease_ms` (a CLI take, `team inbox`): they
/// are marked with a fresh lease token and hidden from other takes until the lease ends or
/// [`ack_inbox`] marks them delivered. Returns the token and the messages, oldest first. A
/// message whose earlier lease ran out unacknowledged is visible again (taken again here).
pub(crate) fn lease_inbox(
    c: &mut Conn,
    team_id: &str,
    member: &str,
    lease_ms: i64,
) -> Result<(String, Vec<Message>)> {
    write_tx(c, |c| {
        let team = team_by_id(c, team_id)?;
        let m = member_row(c, &team, member)?;
        let token = new_id();
        let now = now_ms();
        struct Lease;
        let mut rows: Vec<MessageRow> = Prepared::<Lease>::new(
            "UPDATE messages SET lease = ?, lease_until_ms = ? \
             WHERE team_id = ? AND recipient = ? AND delivered_at_ms IS NULL \
               AND (lease_until_ms IS NULL OR lease_until_ms <= ?) RETURNING *",
            vec![
                Bind::Text(token.clone()),
                Bind::BigInt(now.saturating_add(lease_ms)),
                Bind::Text(team_id.to_owned()),
                Bind::Text(m.name.clone()),
                Bind::BigInt(now),
            ],
        )
        .load(c)?;
        rows.sort_by_key(|r| r.id);
        if !rows.is_empty() {
            event(
                c,
                Some(team_id),
                Some(&m.name),
                "message.leased",
                json!({"ids": rows.iter().map(|r| r.id).collect::<Vec<_>>(), "lease_ms": lease_ms}),
            )?;
        }
        Ok((token, resolve_bodies(c, rows)?))
    })
}

/// Acknowledges the take with lease `token` of `member`: its messages still under that token
/// and not yet delivered are marked delivered. Returns their ids (a message whose lease ran
/// out and that another take leased since is not among them: that take acknowledges it).
pub(crate) fn ack_inbox(
    c: &mut Conn,
    team_id: &str,
    member: &str,
    token: &str,
) -> Result<Vec<i64>> {
    write_tx(c, |c| {
        let team = team_by_id(c, team_id)?;
        let m = member_row(c, &team, member)?;
        let mut ids: Vec<i64> = diesel::update(
            messages::table
                .filter(messages::team_id.eq(team_id))
                .filter(messages::recipient.eq(&m.name))
                .filter(messages::lease.eq(token))
                .filter(messages::delivered_at_ms.is_null()),
        )
        .set((
            messages::delivered_at_ms.eq(now_ms()),
            messages::lease_until_ms.eq(None::<i64>),
        ))
        .returning(messages::id)
        .get_results(c)?;
        ids.sort_unstable();
        if !ids.is_empty() {
            event(
                c,
                Some(team_id),
                Some(&m.name),
                "message.delivered",
                json!({"ids": ids}),
            )?;
        }
        Ok(ids)
    })
}

/// Every message to `member` with an id above `after_id`, delivered or not, oldest first, at
/// most `limit`: a consumer-kept cursor (`team inbox --after ID`). Reads only.
pub(crate) fn inbox_after(
    c: &mut Conn,
    team_id: &str,
    member: &str,
    after_id: i64,
    limit: i64,
) -> Result<Vec<Message>> {
    let team = team_by_id(c, team_id)?;
    let m = member_row(c, &team, member)?;
    let rows: Vec<MessageRow> = messages::table
        .filter(messages::team_id.eq(team_id))
        .filter(messages::recipient.eq(&m.name))
        .filter(messages::id.gt(after_id))
        .order(messages::id)
        .limit(limit)
        .select(MessageRow::as_select())
        .load(c)?;
    resolve_bodies(c, rows)
}

pub(crate) fn unread_count(c: &mut Conn, team_id: &str, member: &str) -> Result<i64> {
    Ok(messages::table
        .filter(messages::team_id.eq(team_id))
        .filter(messages::recipient.eq(member))
        .filter(messages::delivered_at_ms.is_null())
        .filter(
            messages::lease_until_ms
                .is_null()
                .or(messages::lease_until_ms.le(now_ms())),
        )
        .count()
        .get_result(c)?)
}

pub(crate) fn list_messages(c: &mut Conn, team_id: &str) -> Result<Vec<Message>> {
    let rows = messages::table
        .filter(messages::team_id.eq(team_id))
        .order(messages::id)
        .select(MessageRow::as_select())
        .load(c)?;
    resolve_bodies(c, rows)
}

// ---------------------------------------------------------------- memory

fn memory_row(c: &mut Conn, agent: &str, root: &str) -> Result<Option<MemoryRow>> {
    Ok(memories::table
        .find((agent, root))
        .select(MemoryRow::as_select())
        .get_result(c)
        .optional()?)
}

pub(crate) fn memory_get(
    c: &mut Conn,
    agent: &str,
    root: &str,
) -> Result<Option<team_core::MemoryEntry>> {
    Ok(memory_row(c, agent, root)?.map(MemoryRow::into_entity))
}

fn memory_put(
    c: &mut Conn,
    agent: &str,
    root: &str,
    content: &str,
    cut: usize,
    op: &str,
) -> Result<MemoryWrite> {
    let row = MemoryRow {
        agent: agent.to_owned(),
        project_root: root.to_owned(),
        content: content.to_owned(),
        updated_at_ms: now_ms(),
    };
    diesel::insert_into(memories::table)
        .values(&row)
        .on_conflict((memories::agent, memories::project_root))
        .do_update()
        .set((
            memories::content.eq(&row.content),
            memories::updated_at_ms.eq(row.updated_at_ms),
        ))
        .execute(c)?;
    event(
        c,
        None,
        None,
        &format!("memory.{op}"),
        json!({"agent": agent, "project_root": root, "bytes": content.len(), "cut_bytes": cut}),
    )?;
    Ok(MemoryWrite {
        entry: row.into_entity(),
        cut_bytes: cut,
    })
}

pub(crate) fn memory_set(
    c: &mut Conn,
    agent: &str,
    root: &str,
    text: &str,
    actor: Option<&Actor<'_>>,
) -> Result<MemoryWrite> {
    let t = memory::truncate_to_newest(text, memory::MEMORY_CAP_BYTES);
    write_tx(c, |c| {
        fence_actor(c, actor, "write memory")?;
        memory_put(c, agent, root, t.kept, t.cut_bytes, "set")
    })
}

pub(crate) fn memory_append(
    c: &mut Conn,
    agent: &str,
    root: &str,
    text: &str,
    actor: Option<&Actor<'_>>,
) -> Result<MemoryWrite> {
    write_tx(c, |c| {
        fence_actor(c, actor, "write memory")?;
        lock_memory(c, agent, root)?;
        let existing = memory_row(c, agent, root)?
            .map(|r| r.content)
            .unwrap_or_default();
        let (next, cut) = memory::append(&existing, text, memory::MEMORY_CAP_BYTES);
        memory_put(c, agent, root, &next, cut, "append")
    })
}

pub(crate) fn memory_clear(
    c: &mut Conn,
    agent: &str,
    root: &str,
    actor: Option<&Actor<'_>>,
) -> Result<bool> {
    write_tx(c, |c| {
        fence_actor(c, actor, "write memory")?;
        let n = diesel::delete(memories::table.find((agent, root))).execute(c)?;
        if n > 0 {
            event(
                c,
                None,
                None,
                "memory.clear",
                json!({"agent": agent, "project_root": root}),
            )?;
        }
        Ok(n > 0)
    })
}

// ---------------------------------------------------------------- events

pub(crate) fn list_events(
    c: &mut Conn,
    team_id: Option<&str>,
    after_id: i64,
    limit: i64,
) -> Result<Vec<team_core::Event>> {
    let mut q = events::table
        .filter(events::id.gt(after_id))
        .select(EventRow::as_select())
        .into_boxed();
    if let Some(t) = team_id {
        q = q.filter(events::team_id.eq(t));
    }
    Ok(q.order(events::id)
        .limit(limit)
        .load(c)?
        .into_iter()
        .map(EventRow::into_entity)
        .collect())
}

pub(crate) fn append_event(
    c: &mut Conn,
    team_id: Option<&str>,
    member: Option<&str>,
    kind: &str,
    payload: serde_json::Value,
) -> Result<()> {
    event(c, team_id, member, kind, payload)
}

// ---------------------------------------------------------------- runners

pub(crate) fn register_runner(
    c: &mut Conn,
    pid: i64,
    host: &str,
    max_agents: i64,
) -> Result<Runner> {
    register_runner_with(
        c,
        &NewRunner {
            pid,
            host: host.to_owned(),
            max_agents,
            heartbeat_ms: 2000,
            env_fingerprint: None,
        },
    )
}

pub(crate) fn register_runner_with(c: &mut Conn, new: &NewRunner) -> Result<Runner> {
    let now = now_ms();
    let row = RunnerRow {
        id: new_id(),
        pid: new.pid,
        host: new.host.clone(),
        max_agents: new.max_agents,
        started_at_ms: now,
        heartbeat_at_ms: now,
        stopped_at_ms: None,
        heartbeat_ms: new.heartbeat_ms.max(1),
        env_fingerprint: new.env_fingerprint.clone(),
    };
    diesel::insert_into(runners::table)
        .values(&row)
        .execute(c)?;
    event(
        c,
        None,
        None,
        "runner.started",
        json!({"runner": row.id, "pid": new.pid, "host": new.host, "max_agents": new.max_agents}),
    )?;
    Ok(runner_entity(row))
}

fn runner_entity(r: RunnerRow) -> Runner {
    Runner {
        id: r.id,
        pid: r.pid,
        host: r.host,
        max_agents: r.max_agents,
        started_at_ms: r.started_at_ms,
        heartbeat_at_ms: r.heartbeat_at_ms,
        stopped_at_ms: r.stopped_at_ms,
        heartbeat_ms: r.heartbeat_ms,
        env_fingerprint: r.env_fingerprint,
    }
}

pub(crate) fn heartbeat_runner(c: &mut Conn, runner_id: &str) -> Result<()> {
    diesel::update(runners::table.find(runner_id))
        .set(runners::heartbeat_at_ms.eq(now_ms()))
        .execute(c)?;
    Ok(())
}

pub(crate) fn stop_runner(c: &mut Conn, runner_id: &str) -> Result<()> {
    let now = now_ms();
    // Guarded: stopping twice (a Ctrl-C path, then the normal one) records one stop.
    let changed = diesel::update(runners::table.find(runner_id))
        .filter(runners::stopped_at_ms.is_null())
        .set((
            runners::stopped_at_ms.eq(Some(now)),
            runners::heartbeat_at_ms.eq(now),
        ))
        .execute(c)?;
    if changed == 0 {
        return Ok(());
    }
    event(
        c,
        None,
        None,
        "runner.stopped",
        json!({"runner": runner_id}),
    )?;
    Ok(())
}

pub(crate) fn list_runners(c: &mut Conn, include_stopped: bool) -> Result<Vec<Runner>> {
    let mut q = runners::table.select(RunnerRow::as_select()).into_boxed();
    if !include_stopped {
        q = q.filter(runners::stopped_at_ms.is_null());
    }
    Ok(q.order(runners::started_at_ms)
        .load(c)?
        .into_iter()
        .map(runner_entity)
        .collect())
}

/// What each of the members `ids` was spawned with; members with no spec are left out.
pub(crate) fn member_specs(c: &mut Conn, ids: &[i64]) -> Result<std::collections::HashMap<i64, MemberSpec>> {
    let mut out = std::collections::HashMap::new();
    for chunk in ids.chunks(500) {
        type SpecRow = (i64, Option<String>, Option<String>, Option<String>);
        let rows: Vec<SpecRow> = members::table
            .filter(members::id.eq_any(chunk))
            .filter(
                members::agent_def
                    .is_not_null()
                    .or(members::env_fingerprint.is_not_null()),
            )
            .select((
                members::id,
                members::agent_def,
                members::agent_source,
                members::env_fingerprint,
            ))
            .load(c)?;
        for (id, agent_def, agent_source, env_fingerprint) in rows {
            out.insert(
                id,
                MemberSpec {
                    agent_def,
                    agent_source,
                    env_fingerprint,
                },
            );
        }
    }
    Ok(out)
}

/// Takes the oldest pending member of an active team (of `team`, when given) for `runner_id`
/// (pending → running).
pub(crate) fn claim_pending_member(
    c: &mut Conn,
    runner_id: &str,
    team: Option<&str>,
) -> Result<Option<Member>> {
    Ok(claim_pending_members(c, runner_id, team, 1)?.pop())
}

/// Claims up to `limit` pending members at once, oldest first, in one transaction, for a
/// dispatcher with several free slots.
pub(crate) fn claim_pending_members(
    c: &mut Conn,
    runner_id: &str,
    team: Option<&str>,
    limit: usize,
) -> Result<Vec<Member>> {
    claim_pending_members_for(c, runner_id, team, None, limit)
}

/// [`claim_pending_members`] for a runner whose environment has fingerprint `env`: it takes
/// only members spawned with no fingerprint or with this one.
pub(crate) fn claim_pending_members_for(
    c: &mut Conn,
    runner_id: &str,
    team: Option<&str>,
    env: Option<&str>,
    limit: usize,
) -> Result<Vec<Member>> {
    write_tx(c, |c| {
        let mut claimed = Vec::new();
        let mut teams = HashSet::new();
        // One pick for the batch (a pick per member was a quarter of a claim's CPU,
        // BENCHMARKS.md § 9); a member taken meanwhile is skipped by the guarded update.
        let want = i64::try_from(limit).unwrap_or(i64::MAX);
        for id in pick_pending_members(c, team, env, want)? {
            if let Some(m) = claim_id(c, runner_id, id, &mut teams)? {
                claimed.push(m);
            }
        }
        Ok(claimed)
    })
}

/// Claims the member `id` if it is still pending (pending → running), inside the caller's
/// write transaction; `None` when it is not pending any more. `teams_held` lists the teams
/// this transaction already marked as held by the runner (marked once each). The updates are
/// prepared once per connection (Diesel never caches an `UPDATE`; compiling them was half of
/// a claim's CPU, bench/findings.md § 7).
fn claim_id(
    c: &mut Conn,
    runner_id: &str,
    id: i64,
    teams_held: &mut HashSet<String>,
) -> Result<Option<Member>> {
    let now = now_ms();
    struct Claim;
    let row = member_write!(
        c,
        Claim,
        "UPDATE members SET status = 'running', runner_id = ?, started_at_ms = ?, \
         updated_at_ms = ? WHERE id = ? AND status = 'pending'",
        vec![
            Bind::Text(runner_id.to_owned()),
            Bind::BigInt(now),
            Bind::BigInt(now),
            Bind::BigInt(id),
        ],
        super::WrittenMember::Id(id)
    )?;
    let Some(row) = row else { return Ok(None) };
    if !teams_held.contains(&row.team_id) {
        struct HoldTeam;
        Prepared::<HoldTeam>::new(
            "UPDATE teams SET runner_id = ? WHERE id = ?",
            vec![
                Bind::Text(runner_id.to_owned()),
                Bind::Text(row.team_id.clone()),
            ],
        )
        .execute(c)?;
        teams_held.insert(row.team_id.clone());
    }
    event(
        c,
        Some(&row.team_id),
        Some(&row.name),
        "member.running",
        json!({"from": "pending", "runner": runner_id}),
    )?;
    row.into_entity().map(Some)
}

/// Writes a runner's progress of a member in one transaction (see [`progress_of`]).
/// Ends a persistent member's turn in one transaction: its `progress`, its `result` sent to
/// the lead (a `result` message; none for the lead itself or when `result` is `None`), and
/// its move running → idle. One transaction, so the lead never reads the result of a member
/// that is still `running`: a lead that ends its members once they answered (the review)
/// would otherwise race the member's own move to idle.
pub(crate) fn end_turn(
    c: &mut Conn,
    team_id: &str,
    member: &str,
    member_id: i64,
    progress: &Progress,
    result: Option<&str>,
) -> Result<Vec<Message>> {
    write_tx(c, |c| {
        let team = active_team(c, team_id, "new messages")?;
        let m = member_row(c, &team, member)?;
        progress_of(c, team_id, &m.name, member_id, progress)?;
        let sent = match result {
            Some(body) if m.name != LEAD_ALIAS => {
                let lead = live_recipient(c, &team, LEAD_ALIAS)?;
                deliver(
                    c,
                    team_id,
                    &m.name,
                    &[lead.name],
                    MessageKind::Result,
                    body,
                    false,
                )?
            }
            _ => Vec::new(),
        };
        member_step_in(c, &team, m, MemberEvent::Sleep)?;
        Ok(sent)
    })
}

pub(crate) fn record_progress(
    c: &mut Conn,
    team_id: &str,
    member: &str,
    member_id: i64,
    progress: &Progress,
) -> Result<()> {
    if progress.is_empty() {
        return Ok(());
    }
    write_tx(c, |c| progress_of(c, team_id, member, member_id, progress))
}

/// Appends `progress`'s events for `member` and applies its pid and counters to the row
/// `member_id`, inside the caller's transaction.
fn progress_of(
    c: &mut Conn,
    team_id: &str,
    member: &str,
    member_id: i64,
    progress: &Progress,
) -> Result<()> {
    for (kind, payload) in &progress.events {
        event(c, Some(team_id), Some(member), kind, payload.clone())?;
    }
    // Prepared once per connection: Diesel never caches an update.
    if let Some(pid) = progress.pid {
        struct Pid;
        Prepared::<Pid>::new(
            "UPDATE members SET pid = ? WHERE id = ?",
            vec![Bind::NullableBigInt(pid), Bind::BigInt(member_id)],
        )
        .execute(c)?;
    }
    if progress.turns != 0 || progress.tokens_in != 0 || progress.tokens_out != 0 {
        struct Counters;
        Prepared::<Counters>::new(
            "UPDATE members SET turns = turns + ?, tokens_in = tokens_in + ?, \
             tokens_out = tokens_out + ? WHERE id = ?",
            vec![
                Bind::BigInt(progress.turns),
                Bind::BigInt(progress.tokens_in),
                Bind::BigInt(progress.tokens_out),
                Bind::BigInt(member_id),
            ],
        )
        .execute(c)?;
    }
    Ok(())
}

pub(crate) fn members_of_runner(c: &mut Conn, runner_id: &str) -> Result<Vec<Member>> {
    members::table
        .filter(members::runner_id.eq(runner_id))
        .filter(
            members::status.eq_any([MemberStatus::Running.as_str(), MemberStatus::Idle.as_str()]),
        )
        .order(members::id)
        .select(MemberRow::as_select())
        .load(c)?
        .into_iter()
        .map(MemberRow::into_entity)
        .collect()
}

pub(crate) fn count_members_by_status(c: &mut Conn) -> Result<Vec<(String, i64)>> {
    Ok(members::table
        .inner_join(teams::table)
        .filter(teams::status.eq(TeamStatus::Active.as_str()))
        .group_by(members::status)
        .select((members::status, diesel::dsl::count_star()))
        .load(c)?)
}

pub(crate) fn teams_owned_by(c: &mut Conn) -> Result<Vec<Team>> {
    teams::table
        .filter(teams::status.eq(TeamStatus::Active.as_str()))
        .filter(teams::owner_pid.is_not_null())
        .select(TeamRow::as_select())
        .load(c)?
        .into_iter()
        .map(TeamRow::into_entity)
        .collect()
}

/// The highest message id (0 when there is none): a cheap change counter for pollers.
pub(crate) fn last_message_id(c: &mut Conn) -> Result<i64> {
    let max: Option<i64> = messages::table
        .select(diesel::dsl::max(messages::id))
        .get_result(c)?;
    Ok(max.unwrap_or(0))
}

/// The running and idle members of a runner with their unread counts (the poller's view).
pub(crate) fn held_members(c: &mut Conn, runner_id: &str) -> Result<Vec<HeldMember>> {
    let rows: Vec<(i64, String, String, String)> = members::table
        .filter(members::runner_id.eq(runner_id))
        .filter(
            members::status.eq_any([MemberStatus::Running.as_str(), MemberStatus::Idle.as_str()]),
        )
        .select((
            members::id,
            members::team_id,
            members::name,
            members::status,
        ))
        .load(c)?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // Distinct: a runner's members are mostly of a few teams (one bind per team, not per member).
    let team_ids: Vec<&str> = rows
        .iter()
        .map(|r| r.1.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    // Messages leased by a CLI take (`team inbox`) are not the member's to take until the
    // lease ends: they do not wake it.
    let now = now_ms();
    let unread: Vec<(String, String, i64)> = messages::table
        .filter(messages::team_id.eq_any(&team_ids))
        .filter(messages::delivered_at_ms.is_null())
        .filter(
            messages::lease_until_ms
                .is_null()
                .or(messages::lease_until_ms.le(now)),
        )
        .group_by((messages::team_id, messages::recipient))
        .select((
            messages::team_id,
            messages::recipient,
            diesel::dsl::count_star(),
        ))
        .load(c)?;
    rows.into_iter()
        .map(|(id, team, name, status)| {
            Ok(HeldMember {
                id,
                status: status.parse().map_err(StoreError::Corrupt)?,
                unread: unread
                    .iter()
                    .find(|u| u.0 == team && u.1 == name)
                    .map_or(0, |u| u.2),
            })
        })
        .collect()
}

/// Work a runner could still have to do: pending members, and running or idle members held
/// by a runner, in active teams (a lead driven from a shell is not runner work).
pub(crate) fn count_runner_work(c: &mut Conn) -> Result<i64> {
    Ok(members::table
        .inner_join(teams::table)
        .filter(teams::status.eq(TeamStatus::Active.as_str()))
        .filter(
            members::status
                .eq(MemberStatus::Pending.as_str())
                .or(members::runner_id.is_not_null().and(
                    members::status
                        .eq_any([MemberStatus::Running.as_str(), MemberStatus::Idle.as_str()]),
                )),
        )
        .count()
        .get_result(c)?)
}

/// Puts a running member under a runner (a foreground run that created it first).
pub(crate) fn hold_member(c: &mut Conn, member_id: i64, runner_id: &str) -> Result<()> {
    diesel::update(members::table.find(member_id))
        .set(members::runner_id.eq(Some(runner_id)))
        .execute(c)?;
    Ok(())
}
