//! The task board: add, read (giving back abandoned claims first), claim (one statement where
//! the engine has one, else a transaction that says why nothing was claimed), and the other
//! moves (complete, fail, release, cancel). Part of the store's operations (see `ops/mod.rs`).

use std::collections::{BTreeMap, HashSet};

use diesel::prelude::*;
use serde_json::json;
use team_core::{Task, TaskEvent, TaskStatus};

use super::Conn;
use super::events::{event, excerpt};
use super::members::{fence, fence_actor, member_row};
use super::teams::{active_team, team_by_id};
use crate::dialect::Dialect;
use crate::error::{Refusal, Result, StoreError};
use crate::now_ms;
use crate::prepared::{Bind, Prepared};
use crate::rows::*;
use crate::schema::{task_deps, tasks, teams};
use crate::types::*;

/// Gives back the abandoned tasks of a team: every `in_progress` task whose claim lease ran
/// out goes back to `pending` (without assignee), with a `task.released` event saying so.
/// Inside the caller's write transaction; returns their ids.
pub(super) fn return_abandoned_tasks(c: &mut Conn, team_id: &str, now: i64) -> Result<Vec<i64>> {
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
        let _ = c.write_tx(|c| return_abandoned_tasks(c, team_id, now));
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

pub(super) fn task_entity(c: &mut Conn, row: TaskRow) -> Result<Task> {
    let blockers = blockers_of(c, &row.team_id, &[row.id])?
        .remove(&row.id)
        .unwrap_or_default();
    row.into_entity(blockers)
}

pub(super) fn task_row(c: &mut Conn, team: &TeamRow, id: i64) -> Result<TaskRow> {
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

pub(crate) fn add_task(c: &mut Conn, team_id: &str, new: &NewTask) -> Result<Task> {
    let title = new.title.trim();
    if title.is_empty() {
        return Err(StoreError::Invalid(
            "a task needs a title: an empty one was given".into(),
        ));
    }
    c.write_tx(|c| {
        c.lock_team(team_id)?;
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
    attempt: Option<i64>,
) -> Result<Task> {
    // The common case (the next task) in one statement where the backend has one; everything else, and every refusal with its reason, goes through the transaction
    // (which also gives back abandoned tasks, so a board whose only claimable tasks were
    // abandoned is served there).
    // A claim that names its attempt is fenced by it (`members.attempt`) in either path.
    if id.is_none()
        && let Some(t) = c.claim_next_in_one_statement(team_id, member, now_ms(), lease, attempt)?
    {
        return Ok(t);
    }
    c.write_tx(|c| {
        let team = active_team(c, team_id, "task claims")?;
        let m = member_row(c, &team, member)?;
        fence(&team, &m, attempt, "claim tasks")?;
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
                    return Err(Refusal::Transition {
                        subject: format!("task {id} in team {}", team.name),
                        note: by,
                        transition: e,
                    }
                    .into());
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
            None => match pick_claimable_tasks(c, team_id, &m.name, 1)?.first() {
                Some(id) => *id,
                None => return Err(nothing_claimable(c, &team)?),
            },
        };
        let row = claim_row(c, &team, &m.name, target, now, lease, lease_until)?;
        task_entity(c, row)
    })
}

/// The most tasks one [`claim_tasks`] takes (`team task claim --count`).
pub(crate) const MAX_CLAIM_COUNT: usize = 1000;

/// Claims up to `count` (1 to [`MAX_CLAIM_COUNT`]) of the oldest claimable tasks for
/// `member` in one write: the rules of [`claim_task`] without an id (the team active, the
/// member live and of attempt `attempt` when given, abandoned claims given back first,
/// blockers completed, reservations kept), one `task.claimed` event per task. Fewer than
/// `count` when fewer are claimable (others' claims in flight are skipped); tasks in id
/// order. `count` 1 is [`claim_task`].
pub(crate) fn claim_tasks(
    c: &mut Conn,
    team_id: &str,
    member: &str,
    count: usize,
    lease: Option<i64>,
    attempt: Option<i64>,
) -> Result<Vec<Task>> {
    if count == 0 || count > MAX_CLAIM_COUNT {
        return Err(StoreError::Invalid(format!(
            "cannot claim {count} tasks at once in team {team_id}: the count must be 1 to {MAX_CLAIM_COUNT}"
        )));
    }
    if count == 1 {
        return claim_task(c, team_id, member, None, lease, attempt).map(|t| vec![t]);
    }
    let limit = i64::try_from(count).unwrap_or(1);
    let got = c.claim_many_in_one_statement(team_id, member, now_ms(), lease, attempt, limit)?;
    if !got.is_empty() {
        return Ok(got);
    }
    c.write_tx(|c| {
        let team = active_team(c, team_id, "task claims")?;
        let m = member_row(c, &team, member)?;
        fence(&team, &m, attempt, "claim tasks")?;
        let now = now_ms();
        return_abandoned_tasks(c, team_id, now)?;
        let lease_until = lease.map(|ms| now.saturating_add(ms));
        let ids = pick_claimable_tasks(c, team_id, &m.name, limit)?;
        if ids.is_empty() {
            return Err(nothing_claimable(c, &team)?);
        }
        let mut rows = Vec::with_capacity(ids.len());
        for id in &ids {
            rows.push(claim_row(c, &team, &m.name, *id, now, lease, lease_until)?);
        }
        let mut blockers = blockers_of(c, team_id, &ids)?;
        rows.into_iter()
            .map(|r| {
                let b = blockers.remove(&r.id).unwrap_or_default();
                r.into_entity(b)
            })
            .collect()
    })
}

/// Why nothing is claimable in `team` ([`StoreError::Empty`], with a hint).
fn nothing_claimable(c: &mut Conn, team: &TeamRow) -> Result<StoreError> {
    let pending: i64 = tasks::table
        .filter(tasks::team_id.eq(&team.id))
        .filter(tasks::status.eq(TaskStatus::Pending.as_str()))
        .count()
        .get_result(c)?;
    let hint = if pending == 0 {
        format!(
            "the board has no pending task; add one with `team task add {}`",
            team.name
        )
    } else {
        format!("{pending} pending task(s) are blocked or reserved for other members")
    };
    Ok(StoreError::Empty(format!(
        "no claimable task in team {}: {hint}",
        team.name
    )))
}

/// Moves task `target` (still pending) to `in_progress` for `member` with its lease and
/// writes its `task.claimed` event; inside the caller's write transaction.
fn claim_row(
    c: &mut Conn,
    team: &TeamRow,
    member: &str,
    target: i64,
    now: i64,
    lease: Option<i64>,
    lease_until: Option<i64>,
) -> Result<TaskRow> {
    let row: Option<TaskRow> = diesel::update(
        tasks::table
            .find((&team.id, target))
            .filter(tasks::status.eq(TaskStatus::Pending.as_str())),
    )
    .set((
        tasks::status.eq(TaskStatus::InProgress.as_str()),
        tasks::assignee.eq(Some(member)),
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
        Some(&team.id),
        Some(member),
        "task.claimed",
        match lease {
            Some(ms) => json!({"task": target, "lease_ms": ms}),
            None => json!({"task": target}),
        },
    )?;
    Ok(row)
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
    c.write_tx(|c| {
        fence_actor(c, actor, &format!("{} tasks", ev.as_str()))?;
        let team = team_by_id(c, team_id)?;
        let t = task_row(c, &team, id)?;
        let from = t.status()?;
        let to = from.transition(ev).map_err(|e| {
            StoreError::from(Refusal::transition_of(
                format!("task {id} in team {}", team.name),
                e,
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

/// The ids of the oldest (up to `limit`) tasks `member` may claim in team `team_id`, in id
/// order (the engine's [`Dialect::PICK_CLAIMABLE_TASK`] for one, else
/// [`Dialect::PICK_CLAIMABLE_TASKS`]: on PostgreSQL the rows are locked, rows others hold are
/// skipped).
fn pick_claimable_tasks(
    c: &mut Conn,
    team_id: &str,
    member: &str,
    limit: i64,
) -> Result<Vec<i64>> {
    struct One;
    struct Many;
    let (t, m) = (Bind::Text(team_id.into()), Bind::Text(member.into()));
    let rows: Vec<IdRow> = if limit == 1 {
        Prepared::<One>::new(Conn::PICK_CLAIMABLE_TASK, vec![t, m]).load(c)?
    } else {
        Prepared::<Many>::new(Conn::PICK_CLAIMABLE_TASKS, vec![t, m, Bind::BigInt(limit)])
            .load(c)?
    };
    Ok(rows.into_iter().map(|r| r.id).collect())
}
