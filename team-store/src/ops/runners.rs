//! Runners and what they hold: register, heartbeat, stop, list; the claim of pending members
//! (one pick for a batch); the poller's view of held members. Whether a runner is lost is not
//! decided here but by `team_core::runner::runner_lost` (`Runner::sighting`). Part of the
//! store's operations (see `ops/mod.rs`).

use std::collections::HashSet;

use diesel::prelude::*;
use serde_json::json;
use team_core::{Member, MemberStatus, TeamStatus};

use super::Conn;
use super::events::event;
use crate::dialect::{Dialect, WrittenMember, member_write};
use crate::error::{Result, StoreError};
use crate::prepared::{Bind, Prepared};
use crate::rows::*;
use crate::schema::{members, messages, runners, teams};
use crate::types::*;
use crate::{new_id, now_ms};

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
            version: None,
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
        version: new.version.clone(),
        stop_requested_at_ms: None,
    };
    diesel::insert_into(runners::table)
        .values(&row)
        .execute(c)?;
    event(
        c,
        None,
        None,
        "runner.started",
        json!({"runner": row.id, "pid": new.pid, "host": new.host, "max_agents": new.max_agents, "version": new.version}),
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
        version: r.version,
        stop_requested_at_ms: r.stop_requested_at_ms,
    }
}

/// Refreshes the heartbeat of `runner_id` unless it is stopped, and says what the runner
/// must do ([`Beat`]): go on, stop because a stop was asked of it ([`request_runner_stop`]),
/// or stop because it was marked stopped by another process (found lost: its heartbeat was
/// older than three periods, e.g. while it was cut off from the database). Two statements,
/// no transaction: a request that lands between them is seen at the next heartbeat.
pub(crate) fn heartbeat_runner(c: &mut Conn, runner_id: &str) -> Result<Beat> {
    diesel::update(runners::table.find(runner_id))
        .filter(runners::stopped_at_ms.is_null())
        .set(runners::heartbeat_at_ms.eq(now_ms()))
        .execute(c)?;
    let row: Option<(Option<i64>, Option<i64>)> = runners::table
        .find(runner_id)
        .select((runners::stop_requested_at_ms, runners::stopped_at_ms))
        .first(c)
        .optional()?;
    Ok(match row {
        // Stopped by someone else (a runner reconciling it), or its row is gone.
        Some((_, Some(_))) | None => Beat::MarkedLost,
        Some((Some(_), None)) => Beat::StopRequested,
        Some((None, None)) => Beat::Alive,
    })
}

/// Asks runner `runner_id` to stop (it does at its next heartbeat): sets
/// `stop_requested_at_ms` unless it is stopped or already asked, with a
/// `runner.stop_requested` event. Returns the runner as it is now.
pub(crate) fn request_runner_stop(c: &mut Conn, runner_id: &str) -> Result<Runner> {
    c.write_tx(|c| {
        let changed = diesel::update(runners::table.find(runner_id))
            .filter(runners::stopped_at_ms.is_null())
            .filter(runners::stop_requested_at_ms.is_null())
            .set(runners::stop_requested_at_ms.eq(Some(now_ms())))
            .execute(c)?;
        if changed > 0 {
            event(
                c,
                None,
                None,
                "runner.stop_requested",
                json!({"runner": runner_id}),
            )?;
        }
        runners::table
            .find(runner_id)
            .select(RunnerRow::as_select())
            .first(c)
            .optional()?
            .map(runner_entity)
            .ok_or_else(|| StoreError::NotFound {
                what: format!("runner {runner_id}"),
                hint: String::new(),
            })
    })
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
    let want = i64::try_from(limit).unwrap_or(i64::MAX);
    // One statement for the whole batch where the engine has one (PostgreSQL: a round trip
    // for 256 members instead of two per member).
    if let Some(rows) = c.claim_members_in_one_statement(runner_id, team, env, want, now_ms())? {
        return rows.into_iter().map(MemberRow::into_entity).collect();
    }
    c.write_tx(|c| {
        let mut claimed = Vec::new();
        let mut teams = HashSet::new();
        // One pick for the batch (a pick per member was a quarter of a claim's CPU,
        // BENCHMARKS.md § 9); a member taken meanwhile is skipped by the guarded update.
        for id in pick_pending_members(c, team, env, want)? {
            if let Some(m) = claim_id(c, runner_id, id, &mut teams)? {
                claimed.push(m);
            }
        }
        Ok(claimed)
    })
}

/// Claims the member `id` if it is still pending (pending → running), inside the caller's
/// write transaction; `None` when it is not pending any more, or when runner `runner_id` is
/// stopped (another process found it lost). `teams_held` lists the teams
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
         updated_at_ms = ? WHERE id = ? AND status = 'pending' \
         AND EXISTS (SELECT 1 FROM runners WHERE id = ? AND stopped_at_ms IS NULL)",
        vec![
            Bind::Text(runner_id.to_owned()),
            Bind::BigInt(now),
            Bind::BigInt(now),
            Bind::BigInt(id),
            // A runner marked stopped (found lost while cut off, issue 19) claims nothing
            // more, even before its heartbeat tells it.
            Bind::Text(runner_id.to_owned()),
        ],
        WrittenMember::Id(id)
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

/// Up to `limit` pending members of active teams (of `team`, when given; only those spawned
/// with no environment fingerprint or with `env`; not a retried member before its backoff
/// passed, `members.not_before_ms`), oldest first: one query for a whole claim
/// batch (the engine's [`Dialect::PICK_PENDING_MEMBERS`]; on PostgreSQL the rows are locked
/// for this transaction and rows others hold are skipped).
fn pick_pending_members(
    c: &mut Conn,
    team: Option<&str>,
    env: Option<&str>,
    limit: i64,
) -> Result<Vec<i64>> {
    struct Key;
    let team = team.map(str::to_owned);
    Ok(Prepared::<Key>::new(
        Conn::PICK_PENDING_MEMBERS,
        vec![
            Bind::NullableText(team.clone()),
            Bind::NullableText(team),
            Bind::NullableText(env.map(str::to_owned)),
            Bind::BigInt(now_ms()),
            Bind::BigInt(limit),
        ],
    )
    .load::<IdRow>(c)?
    .into_iter()
    .map(|r| r.id)
    .collect())
}

pub(crate) fn members_of_runner(c: &mut Conn, runner_id: &str) -> Result<Vec<Member>> {
    members::table
        .filter(members::runner_id.eq(runner_id))
        .filter(
            members::status.eq_any([
                MemberStatus::Running.as_str(),
                MemberStatus::Idle.as_str(),
                MemberStatus::Waiting.as_str(),
            ]),
        )
        .order(members::id)
        .select(MemberRow::as_select())
        .load(c)?
        .into_iter()
        .map(MemberRow::into_entity)
        .collect()
}

/// The running, idle and waiting members of a runner with their unread counts (the poller's
/// view).
pub(crate) fn held_members(c: &mut Conn, runner_id: &str) -> Result<Vec<HeldMember>> {
    let rows: Vec<(i64, String, String, String)> = members::table
        .filter(members::runner_id.eq(runner_id))
        .filter(
            members::status.eq_any([
                MemberStatus::Running.as_str(),
                MemberStatus::Idle.as_str(),
                MemberStatus::Waiting.as_str(),
            ]),
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
                        .eq_any([
                            MemberStatus::Running.as_str(),
                            MemberStatus::Idle.as_str(),
                            MemberStatus::Waiting.as_str(),
                        ]),
                )),
        )
        .count()
        .get_result(c)?)
}
