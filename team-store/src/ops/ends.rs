//! A member's end: the guarded move to its terminal state, the cascade on its tasks, the notice
//! to its lead and `[ALL MEMBERS DONE]`, as `team_core::cascade::member_end` plans them; one end
//! or a batch of them (`finish_members`). Part of the store's operations (see `ops/mod.rs`).

use diesel::prelude::*;
use serde_json::json;
use team_core::retry::{self, RetryCause};
use team_core::{LEAD_ALIAS, MemberStatus, MessageKind, Role, TaskStatus, TeamStatus, cascade};

use super::Conn;
use super::events::{event, excerpt};
use super::members::{fence_attempt, guarded, illegal_member, member_row, progress_of};
use super::messages::deliver;
use super::teams::team_by_id;
use crate::SYSTEM_SENDER;
use crate::dialect::{Dialect, EndEvent, EndRow, WrittenMember, member_write};
use crate::error::{Result, StoreError};
use crate::now_ms;
use crate::prepared::Bind;
use crate::rows::*;
use crate::schema::{members, messages, tasks};
use crate::types::*;

/// Ends a member: the guarded move to its terminal state, the task cascade, the notice to the
/// lead and, when it was the last live member, `[ALL MEMBERS DONE]`; one transaction.
pub(crate) fn finish_member(
    c: &mut Conn,
    team_id: &str,
    name: &str,
    outcome: &Outcome,
    progress: &Progress,
    attempt: Option<i64>,
) -> Result<Finished> {
    // The progress commits even when the member had already ended (the refusal writes
    // nothing); any other error rolls both back. The team row is locked before the member
    // row is written, the order of every other member change (the other order deadlocked
    // against concurrent ends on PostgreSQL). The end of a superseded attempt writes
    // nothing at all (its progress is not the member's any more).
    c.write_tx(|c| {
        c.lock_team(team_id)?;
        let team = team_by_id(c, team_id)?;
        let m = member_row(c, &team, name)?;
        if let Err(e) = fence_attempt(&team, &m, attempt, "end") {
            return Ok(Err(e));
        }
        progress_of(c, team_id, &m.name, m.id, progress)?;
        match finish_member_in(c, &team, m, outcome, None) {
            Err(StoreError::Illegal(e)) => Ok(Err(StoreError::Illegal(e))),
            other => other.map(Ok),
        }
    })?
}

/// Ends several members in one write transaction. The ends run in the order of their team
/// ids (the order of the team row locks on PostgreSQL, so two batches never wait on each other
/// in a cycle); the results come back in the order of `ends`.
///
/// The ends of one team go together ([`finish_batch`], in a savepoint): the team row locked
/// and read once, the members in one query, the lead once, `[ALL MEMBERS DONE]` looked for
/// once after the last; on PostgreSQL the writes of the whole batch are one statement
/// (`Dialect::end_members_in_one_statement`: a savepoint and ~12 round trips per member were
/// what held a 1000-member fan-out's ends back, issue 19). A batch that meets anything but
/// plain ends (a refusal, a superseded attempt, a lead, a missing or repeated member) or
/// fails is rolled back and its ends run one by one, each as [`finish_member`] in a savepoint
/// of its own: one refused or failed end rolls back only itself, with the same errors as
/// ever.
pub(crate) fn finish_members(c: &mut Conn, ends: &[MemberEnd]) -> Result<Vec<Result<Finished>>> {
    let mut order: Vec<usize> = (0..ends.len()).collect();
    order.sort_by(|a, b| ends[*a].team_id.cmp(&ends[*b].team_id));
    c.write_tx(|c| {
        let mut out: Vec<Option<Result<Finished>>> = ends.iter().map(|_| None).collect();
        for group in order.chunk_by(|a, b| ends[*a].team_id == ends[*b].team_id) {
            if group.len() > 1 {
                match c.write_tx(|c| finish_batch(c, ends, group)) {
                    Ok(done) => {
                        for (i, f) in group.iter().zip(done) {
                            out[*i] = Some(Ok(f));
                        }
                        continue;
                    }
                    // A hand-off (`one_by_one`) or a real failure: the ends below say which,
                    // each with its own error; the batch's reason is kept in the log.
                    Err(e) => tracing::debug!(
                        team = %ends[group[0]].team_id,
                        ends = group.len(),
                        error = %e,
                        "member ends written one by one"
                    ),
                }
            }
            for &i in group {
                let e = &ends[i];
                out[i] = Some(finish_member(
                    c,
                    &e.team_id,
                    &e.name,
                    &e.outcome,
                    &e.progress,
                    e.attempt,
                ));
            }
        }
        Ok(out.into_iter().flatten().collect())
    })
}

/// Why [`finish_batch`] left its ends to the one-by-one path (never seen by a caller).
fn one_by_one(why: &str) -> StoreError {
    StoreError::Failed(format!("member ends left to one-by-one: {why}"))
}

/// The ends `group` (indexes into `ends`, all of one team) as one batch, inside the caller's
/// savepoint: every end must be plain (its member found once, not the lead, its attempt
/// current, its move legal), else an error (the caller rolls back and ends them one by one).
/// Each end writes what [`finish_member`] writes; the results in the order of `group`.
fn finish_batch(c: &mut Conn, ends: &[MemberEnd], group: &[usize]) -> Result<Vec<Finished>> {
    let team_id = ends[group[0]].team_id.as_str();
    c.lock_team(team_id)?;
    let team = team_by_id(c, team_id)?;
    let names: Vec<&str> = group.iter().map(|i| ends[*i].name.as_str()).collect();
    if names.contains(&LEAD_ALIAS) {
        return Err(one_by_one("the lead"));
    }
    let mut rows: std::collections::HashMap<String, MemberRow> = members::table
        .filter(members::team_id.eq(team_id))
        .filter(members::name.eq_any(&names))
        .select(MemberRow::as_select())
        .load(c)?
        .into_iter()
        .map(|m| (m.name.clone(), m))
        .collect();
    if rows.len() != names.len() {
        return Err(one_by_one("a member missing or ending twice"));
    }
    let lead = member_row(c, &team, LEAD_ALIAS)?;
    let mut planned = Vec::with_capacity(group.len());
    let mut task_froms: Vec<String> = Vec::new();
    for &i in group {
        let e = &ends[i];
        let m = rows
            .remove(&e.name)
            .ok_or_else(|| one_by_one("a member ending twice"))?;
        fence_attempt(&team, &m, e.attempt, "end").map_err(|_| one_by_one("a fenced end"))?;
        let role = m.role.parse::<Role>().map_err(StoreError::Corrupt)?;
        if role != Role::Member {
            return Err(one_by_one("a lead"));
        }
        let from = m.status()?;
        let plan = cascade::member_end(&m.name, role, from, &e.outcome)
            .map_err(|_| one_by_one("a refused move"))?;
        if let Some(t) = &plan.tasks
            && !task_froms.iter().any(|f| f == t.from.as_str())
        {
            task_froms.push(t.from.as_str().to_owned());
        }
        planned.push((e, m, plan, from));
    }
    // The task cascade is left to the one-by-one statements of the engines' shared path.
    let tasks_held = !task_froms.is_empty() && {
        let held: i64 = tasks::table
            .filter(tasks::team_id.eq(team_id))
            .filter(tasks::assignee.eq_any(&names))
            .filter(tasks::status.eq_any(&task_froms))
            .count()
            .get_result(c)?;
        held > 0
    };
    let now = now_ms();
    let one = if tasks_held {
        None
    } else {
        let batch: Vec<EndRow> = planned
            .iter()
            .enumerate()
            .map(|(ord, (e, m, plan, from))| end_row(ord, e, m, *from, plan, &lead.name, now))
            .collect();
        c.end_members_in_one_statement(team_id, &lead.name, &batch, now)?
    };
    let mut done: Vec<Finished> = match one {
        Some(written) => {
            if written.len() != planned.len() {
                return Err(one_by_one("a member changed under the batch"));
            }
            let mut by_id: std::collections::HashMap<i64, MemberRow> =
                written.into_iter().map(|m| (m.id, m)).collect();
            planned
                .iter()
                .map(|(_, m, _, _)| {
                    let row = by_id
                        .remove(&m.id)
                        .ok_or_else(|| one_by_one("a member changed under the batch"))?;
                    Ok(Finished {
                        member: row.into_entity()?,
                        tasks_changed: Vec::new(),
                        all_done: false,
                        notified: Some(lead.name.clone()),
                    })
                })
                .collect::<Result<_>>()?
        }
        None => {
            let mut done = Vec::with_capacity(planned.len());
            for (e, m, _, _) in planned {
                progress_of(c, team_id, &m.name, m.id, &e.progress)?;
                done.push(finish_member_in(c, &team, m, &e.outcome, Some(&lead))?);
            }
            done
        }
    };
    if let Some(last) = done.last_mut() {
        last.all_done = all_members_done(c, &team, &lead.name)?;
    }
    Ok(done)
}

/// The [`EndRow`] of end `e` of member `m` (read under the team lock, in status `from`) as
/// `plan` says, its notice to `lead`.
fn end_row(
    ord: usize,
    e: &MemberEnd,
    m: &MemberRow,
    from: MemberStatus,
    plan: &cascade::EndPlan,
    lead: &str,
    now: i64,
) -> EndRow {
    let to = plan.to;
    let busy = if from == MemberStatus::Running {
        now - m.updated_at_ms
    } else {
        0
    };
    let (result, error) = (e.outcome.result(), e.outcome.error());
    let text = |v: &serde_json::Value| serde_json::to_string(v).unwrap_or_else(|_| "null".into());
    let mut events: Vec<EndEvent> = e
        .progress
        .events
        .iter()
        .map(|(kind, payload)| (kind.clone(), text(payload)))
        .chain(std::iter::once((
            format!("member.{to}"),
            text(&json!({"from": from, "result": result.map(|r| excerpt(r, 500)), "error": error})),
        )))
        .enumerate()
        .map(|(seq, (kind, payload))| EndEvent {
            seq: seq as i64,
            kind,
            payload,
        })
        .collect();
    events.shrink_to_fit();
    let (kind, body) = plan
        .notice
        .as_ref()
        .map(|n| (n.kind, n.body.clone()))
        .unwrap_or((MessageKind::System, String::new()));
    // The `message.sent` payload `deliver` writes, around the notice's id (not known yet).
    const MARK: i64 = -7_319_004_781;
    let sent = text(&json!({
        "ids": [MARK],
        "to": [lead],
        "kind": kind.as_str(),
        "broadcast": false,
        "body": excerpt(&body, 200),
        "interrupt": false,
    }));
    // Split at the whole `"ids":[MARK]` member, not at the number alone: the body excerpt is
    // a member's text and may hold the number, but not this (its quotes would be escaped).
    let ids = format!("\"ids\":[{MARK}]");
    let (head, tail) = sent
        .split_once(&ids)
        .map(|(h, t)| (format!("{h}\"ids\":["), format!("]{t}")))
        .unwrap_or_default();
    EndRow {
        ord: ord as i64,
        id: m.id,
        name: m.name.clone(),
        from_status: from.as_str().to_owned(),
        to_status: to.as_str().to_owned(),
        result: result.map(str::to_owned),
        error: error.map(str::to_owned),
        busy_ms: m.busy_ms + busy,
        turns: e.progress.turns,
        tokens_in: e.progress.tokens_in,
        tokens_out: e.progress.tokens_out,
        set_pid: e.progress.pid.is_some(),
        pid: e.progress.pid.flatten(),
        kind: kind.as_str().to_owned(),
        body,
        sent_head: head,
        sent_tail: tail,
        events,
    }
}

/// Ends an attempt of member `name` that failed with a retryable `cause` (`error` says what
/// happened): when `team_core::retry::plan_retry` gives it another attempt, the guarded move
/// running | idle → pending with `attempt + 1`, `not_before_ms` (its backoff), no runner, its
/// `in_progress` tasks released, and a `member.retried` event (no notice to the lead);
/// otherwise the failure as [`finish_member`] writes it. One transaction; `progress` is
/// written either way.
pub(crate) fn retry_member(
    c: &mut Conn,
    team_id: &str,
    name: &str,
    cause: RetryCause,
    error: &str,
    progress: &Progress,
    attempt: Option<i64>,
) -> Result<Retried> {
    c.write_tx(|c| {
        c.lock_team(team_id)?;
        let team = team_by_id(c, team_id)?;
        let m = member_row(c, &team, name)?;
        // A superseded attempt (or a reconcile that read an older attempt) retries nothing.
        fence_attempt(&team, &m, attempt, "be retried")?;
        progress_of(c, team_id, &m.name, m.id, progress)?;
        let from = m.status()?;
        let now = now_ms();
        let plan = retry::plan_retry(
            from,
            m.attempt,
            m.max_attempts,
            m.retry_backoff_ms,
            cause,
            now,
        )
        .map_err(|e| illegal_member(&team, &m, e));
        let plan = match plan {
            Ok(Some(p)) if team.status == TeamStatus::Active.as_str() => p,
            // No attempt left (or the team ended): the failure, as without a policy.
            Ok(_) => {
                return finish_member_in(c, &team, m, &Outcome::Failed(error.to_owned()), None)
                    .map(Retried::Failed);
            }
            Err(e) => return Err(e),
        };
        let busy = if from == MemberStatus::Running {
            now - m.updated_at_ms
        } else {
            0
        };
        struct Retry;
        let row = member_write!(
            c,
            Retry,
            "UPDATE members SET status = ?, attempt = ?, not_before_ms = ?, runner_id = NULL, \
             pid = NULL, error = ?, updated_at_ms = ?, busy_ms = ? WHERE id = ? AND status = ?",
            vec![
                Bind::Text(plan.to.as_str().to_owned()),
                Bind::BigInt(plan.attempt),
                Bind::NullableBigInt(Some(plan.not_before_ms)),
                Bind::NullableText(Some(error.to_owned())),
                Bind::BigInt(now),
                Bind::BigInt(m.busy_ms + busy),
                Bind::BigInt(m.id),
                Bind::Text(from.as_str().to_owned()),
            ],
            WrittenMember::Id(m.id)
        )
        .and_then(guarded)?;
        let t = &plan.tasks;
        let mut released: Vec<i64> = diesel::update(
            tasks::table
                .filter(tasks::team_id.eq(team_id))
                .filter(tasks::assignee.eq(&m.name))
                .filter(tasks::status.eq(t.from.as_str())),
        )
        .set((
            tasks::status.eq(t.to.as_str()),
            tasks::assignee.eq(None::<String>),
            tasks::updated_at_ms.eq(now),
        ))
        .returning(tasks::id)
        .get_results(c)?;
        released.sort_unstable();
        for id in &released {
            event(
                c,
                Some(team_id),
                Some(&m.name),
                "task.released",
                json!({"task": id, "cause": format!("member {} retried", m.name)}),
            )?;
        }
        event(
            c,
            Some(team_id),
            Some(&m.name),
            "member.retried",
            json!({
                "from": from,
                "attempt": plan.attempt,
                "max_attempts": plan.max_attempts,
                "cause": cause.as_str(),
                "error": error,
                "delay_ms": plan.delay_ms,
                "not_before_ms": plan.not_before_ms,
                "text": format!("{} ({error})", retry::attempt_text(plan.attempt, plan.max_attempts)),
            }),
        )?;
        Ok(Retried::Retried {
            member: row.into_entity()?,
            tasks_released: released,
            not_before_ms: plan.not_before_ms,
        })
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
    c.write_tx(|c| {
        c.lock_team(team_id)?;
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
        finish_member_in(c, &team, m, &Outcome::Failed(error.to_owned()), None).map(Some)
    })
}

/// Sends `[ALL MEMBERS DONE]` (`cascade::all_members_done`) to `lead` when it is due: team
/// `team` active with no live member left. One look for a live member first (not a load of
/// every status on every end, which made a team of N members cost O(N²)); the statuses are
/// read only for the summary. An `or` chain, not `eq_any`: Diesel caches the statement
/// (index `members_live`). True when it was sent.
fn all_members_done(c: &mut Conn, team: &TeamRow, lead: &str) -> Result<bool> {
    let team_id = team.id.as_str();
    let active = team.status == TeamStatus::Active.as_str();
    if !active {
        return Ok(false);
    }
    let any_live = diesel::select(diesel::dsl::exists(
        members::table
            .filter(members::team_id.eq(team_id))
            .filter(members::role.eq(Role::Member.as_str()))
            .filter(
                members::status
                    .eq(MemberStatus::Pending.as_str())
                    .or(members::status.eq(MemberStatus::Running.as_str()))
                    .or(members::status.eq(MemberStatus::Idle.as_str()))
                    .or(members::status.eq(MemberStatus::Waiting.as_str())),
            ),
    ))
    .get_result::<bool>(c)?;
    if any_live {
        return Ok(false);
    }
    let others: Vec<String> = members::table
        .filter(members::team_id.eq(team_id))
        .filter(members::role.eq(Role::Member.as_str()))
        .select(members::status)
        .load(c)?;
    let statuses = others.iter().filter_map(|s| s.parse::<MemberStatus>().ok());
    let Some(body) = cascade::all_members_done(TeamStatus::Active, statuses) else {
        return Ok(false);
    };
    deliver(
        c,
        team_id,
        SYSTEM_SENDER,
        &[lead.to_owned()],
        MessageKind::System,
        &body,
        false,
    )?;
    Ok(true)
}

/// The body of [`finish_member`], inside the caller's write transaction, which has locked
/// the team row and read `team` and the member `m`: asks `team-core` for the plan of the end
/// ([`cascade::member_end`]) and carries it out, each move behind its SQL guard.
///
/// `batch_lead`: the lead, read by the caller, which ends several members and looks for
/// `[ALL MEMBERS DONE]` once after the last ([`all_members_done`]); `None`: one end, which
/// reads the lead and looks itself.
fn finish_member_in(
    c: &mut Conn,
    team: &TeamRow,
    m: MemberRow,
    outcome: &Outcome,
    batch_lead: Option<&MemberRow>,
) -> Result<Finished> {
    let team_id = team.id.as_str();
    let from = m.status()?;
    let role = m.role.parse::<Role>().map_err(StoreError::Corrupt)?;
    let plan = cascade::member_end(&m.name, role, from, outcome)
        .map_err(|e| illegal_member(team, &m, e))?;
    let to = plan.to;
    let now = now_ms();
    let busy = if from == MemberStatus::Running {
        now - m.updated_at_ms
    } else {
        0
    };
    let (result, error) = (outcome.result(), outcome.error());
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
        WrittenMember::Id(m.id)
    )
    .and_then(guarded)?;

    // The cascade on the member's tasks, as planned (its `in_progress` tasks: failed on a
    // failure or timeout, released on a cancellation).
    let mut tasks_changed = Vec::new();
    if let Some(t) = &plan.tasks {
        let held = tasks::table
            .filter(tasks::team_id.eq(team_id))
            .filter(tasks::assignee.eq(&m.name))
            .filter(tasks::status.eq(t.from.as_str()));
        let ids: Vec<i64> = if t.clears_assignee() {
            diesel::update(held)
                .set((
                    tasks::status.eq(t.to.as_str()),
                    tasks::assignee.eq(None::<String>),
                    tasks::updated_at_ms.eq(now),
                ))
                .returning(tasks::id)
                .get_results(c)?
        } else {
            diesel::update(held)
                .set((
                    tasks::status.eq(t.to.as_str()),
                    tasks::result.eq(t.result.as_deref()),
                    tasks::updated_at_ms.eq(now),
                ))
                .returning(tasks::id)
                .get_results(c)?
        };
        tasks_changed.extend(ids.into_iter().map(|id| (id, t.to)));
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

    // The notice to the lead, under the member's own name (none for the lead itself).
    let mut all_done = false;
    let mut notified = None;
    if let Some(notice) = &plan.notice {
        let lead = match batch_lead {
            Some(l) => l.name.clone(),
            None => member_row(c, team, LEAD_ALIAS)?.name,
        };
        notified = Some(lead.clone());
        deliver(
            c,
            team_id,
            &m.name,
            std::slice::from_ref(&lead),
            notice.kind,
            &notice.body,
            false,
        )?;
        if batch_lead.is_none() {
            all_done = all_members_done(c, team, &lead)?;
        }
    }
    Ok(Finished {
        member: row.into_entity()?,
        tasks_changed,
        all_done,
        notified,
    })
}
