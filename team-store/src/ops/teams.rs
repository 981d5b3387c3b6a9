//! Teams: create, find, list, and end (disband, complete, fail) with the cascade on their
//! members and tasks. Part of the store's operations (see `ops/mod.rs`).

use diesel::prelude::*;
use serde_json::json;
use team_core::{
    LEAD_ALIAS, Member, MemberEvent, MemberStatus, MessageKind, Role, TaskEvent, TaskStatus, Team,
    TeamEvent, TeamStatus, cascade, manage,
};

use super::Conn;
use super::events::event;
use super::members::member_row;
use super::messages::deliver;
use crate::dialect::Dialect;
use crate::error::{Refusal, Result, StoreError};
use crate::rows::*;
use crate::schema::{members, tasks, teams};
use crate::types::*;
use crate::{SYSTEM_SENDER, new_id, now_ms};

pub(super) fn team_by_id(c: &mut Conn, id: &str) -> Result<TeamRow> {
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
pub(super) fn active_team(c: &mut Conn, team_id: &str, what: &str) -> Result<TeamRow> {
    let t = team_by_id(c, team_id)?;
    if t.status != TeamStatus::Active.as_str() {
        return Err(Refusal::TeamEnded {
            status: t.status.parse().map_err(StoreError::Corrupt)?,
            team: t.name,
            what: what.to_owned(),
        }
        .into());
    }
    Ok(t)
}

pub(crate) fn create_team(c: &mut Conn, new: &NewTeam) -> Result<(Team, Member)> {
    c.write_tx(|c| {
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
            max_tokens: None,
            max_usd: None,
            budget_team_id: None,
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
/// cancelled and told so, every open task is cancelled. With `by` (a member disbanding
/// through its tools), `team_core::manage::may_disband` decides first whether it may.
/// Refuses a disband of `team` by member `by` that `team_core::manage::may_disband` does not
/// allow (reads the member, inside the caller's transaction).
fn may_disband(c: &mut Conn, team: &TeamRow, by: &Actor<'_>) -> Result<()> {
    let home = if by.team_id == team.id {
        None
    } else {
        Some(team_by_id(c, by.team_id)?)
    };
    let m = member_row(c, home.as_ref().unwrap_or(team), by.member)?;
    // A superseded attempt of the member disbands nothing (fencing).
    super::members::fence_attempt(home.as_ref().unwrap_or(team), &m, by.attempt, "disband teams")?;
    let manager = manage::Manager::Member {
        team_id: by.team_id,
        role: m.role.parse().map_err(StoreError::Corrupt)?,
        agent: &m.agent,
    };
    let target = manage::ManagedTeam {
        id: &team.id,
        name: &team.name,
        lead_agent: &team.lead_agent,
    };
    manage::may_disband(&manager, &target).map_err(|e| Refusal::from(e).into())
}

pub(crate) fn end_team(
    c: &mut Conn,
    team_id: &str,
    ev: TeamEvent,
    reason: &str,
    by: Option<&Actor<'_>>,
) -> Result<Disbanded> {
    c.write_tx(|c| {
        c.lock_team(team_id)?;
        let team = team_by_id(c, team_id)?;
        if let Some(a) = by {
            may_disband(c, &team, a)?;
        }
        let from = team
            .status
            .parse::<TeamStatus>()
            .map_err(StoreError::Corrupt)?;
        let to = from.transition(ev).map_err(|e| {
            StoreError::from(Refusal::transition_of(format!("team {}", team.name), e))
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

/// Lets an active team's foreground owner go (`owner_pid`, `owner_host` cleared), with a
/// `team.released` event saying `why`: reconciliation no longer fails the team when that
/// process ends (a run that stopped for input, to be resumed).
pub(crate) fn release_team_owner(c: &mut Conn, team_id: &str, why: &str) -> Result<Team> {
    c.write_tx(|c| {
        active_team(c, team_id, "an owner change")?;
        let row = diesel::update(teams::table.find(team_id))
            .set((
                teams::owner_pid.eq(None::<i64>),
                teams::owner_host.eq(None::<String>),
                teams::updated_at_ms.eq(now_ms()),
            ))
            .returning(TeamRow::as_returning())
            .get_result(c)?;
        event(
            c,
            Some(team_id),
            None,
            "team.released",
            json!({"reason": why}),
        )?;
        row.into_entity()
    })
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

/// Takes team `team_id` up again after an interruption (see `Store::resume_team` and
/// `team_core::resume`), in one transaction.
pub(crate) fn resume_team(
    c: &mut Conn,
    team_id: &str,
    owner: Option<(i64, String)>,
) -> Result<Resumed> {
    use crate::schema::messages;
    use team_core::resume;
    c.write_tx(|c| {
        c.lock_team(team_id)?;
        let team = team_by_id(c, team_id)?;
        let from = team
            .status
            .parse::<TeamStatus>()
            .map_err(StoreError::Corrupt)?;
        resume::may_resume_team(from, team.reason.as_deref()).map_err(|why| {
            StoreError::from(Refusal::NotResumable {
                team: team.name.clone(),
                why,
            })
        })?;
        let now = now_ms();
        if from != TeamStatus::Active {
            let to = from.transition(TeamEvent::Resume).map_err(|e| {
                StoreError::from(Refusal::transition_of(format!("team {}", team.name), e))
            })?;
            // Another active team may have taken the name meanwhile.
            let taken: i64 = teams::table
                .filter(teams::name.eq(&team.name))
                .filter(teams::status.eq(TeamStatus::Active.as_str()))
                .count()
                .get_result(c)?;
            if taken > 0 {
                return Err(StoreError::Conflict(format!(
                    "an active team named {} exists; disband it first to resume team {} ({})",
                    team.name, team.name, team.id
                )));
            }
            diesel::update(
                teams::table
                    .find(team_id)
                    .filter(teams::status.eq(from.as_str())),
            )
            .set((
                teams::status.eq(to.as_str()),
                teams::updated_at_ms.eq(now),
                teams::ended_at_ms.eq(None::<i64>),
                teams::reason.eq(None::<String>),
            ))
            .execute(c)?;
        }
        if let Some((pid, host)) = &owner {
            diesel::update(teams::table.find(team_id))
                .set((
                    teams::owner_pid.eq(Some(*pid)),
                    teams::owner_host.eq(Some(host.as_str())),
                ))
                .execute(c)?;
        }
        let reason = team.reason.as_deref();
        let rows: Vec<MemberRow> = members::table
            .filter(members::team_id.eq(team_id))
            .order(members::id)
            .select(MemberRow::as_select())
            .load(c)?;
        let lead_name = rows
            .iter()
            .find(|m| m.role == Role::Lead.as_str())
            .map(|m| m.name.clone())
            .unwrap_or_else(|| LEAD_ALIAS.to_owned());
        let mut resumed = Vec::new();
        let mut kept = Vec::new();
        let mut withdrawn: Vec<String> = Vec::new();
        for m in &rows {
            let status = m.status()?;
            let role = m.role.parse::<Role>().map_err(StoreError::Corrupt)?;
            if status.is_live() {
                continue;
            }
            if !resume::member_resumable(role, status, m.error.as_deref(), reason) {
                kept.push(m.name.clone());
                continue;
            }
            let to = status.transition(MemberEvent::Resume).map_err(|e| {
                StoreError::from(Refusal::transition_of(
                    format!("member {} in team {}", m.name, team.name),
                    e,
                ))
            })?;
            // The lead is driven by the resuming process: straight on to running.
            let to = if role == Role::Lead {
                to.transition(MemberEvent::Start).map_err(|e| {
                    StoreError::from(Refusal::transition_of(
                        format!("member {} in team {}", m.name, team.name),
                        e,
                    ))
                })?
            } else {
                to
            };
            let attempt = if role == Role::Lead {
                m.attempt
            } else {
                m.attempt + 1
            };
            diesel::update(
                members::table
                    .find(m.id)
                    .filter(members::status.eq(status.as_str())),
            )
            .set((
                members::status.eq(to.as_str()),
                members::attempt.eq(attempt),
                members::max_attempts.eq(m.max_attempts.max(attempt)),
                members::not_before_ms.eq(None::<i64>),
                members::runner_id.eq(None::<String>),
                members::pid.eq(None::<i64>),
                members::error.eq(None::<String>),
                members::ended_at_ms.eq(None::<i64>),
                members::updated_at_ms.eq(now),
            ))
            .execute(c)?;
            if let Some(e) = m.error.as_deref() {
                withdrawn.push(cascade::failure_notice(&m.name, e));
                withdrawn.push(cascade::cancelled_notice(&m.name, e));
            }
            event(
                c,
                Some(team_id),
                Some(&m.name),
                "member.resumed",
                json!({"from": status, "to": to, "attempt": attempt, "error": m.error}),
            )?;
            if role == Role::Member {
                resumed.push(m.name.clone());
            }
        }
        // The interruption's notices: to the lead from the resumed members, the summary, and
        // the unread system notices of the team's end to the members.
        if !withdrawn.is_empty() {
            diesel::delete(
                messages::table
                    .filter(messages::team_id.eq(team_id))
                    .filter(messages::recipient.eq(&lead_name))
                    .filter(messages::sender.eq_any(&resumed))
                    .filter(messages::body.eq_any(&withdrawn))
                    .filter(messages::body_of.is_null())
                    .filter(messages::broadcast.eq(false)),
            )
            .execute(c)?;
            diesel::delete(
                messages::table
                    .filter(messages::team_id.eq(team_id))
                    .filter(messages::recipient.eq(&lead_name))
                    .filter(messages::sender.eq(SYSTEM_SENDER))
                    .filter(messages::body.like("[ALL MEMBERS DONE]%"))
                    .filter(messages::broadcast.eq(false)),
            )
            .execute(c)?;
        }
        let mut everyone = resumed.clone();
        everyone.push(lead_name.clone());
        diesel::update(
            messages::table
                .filter(messages::team_id.eq(team_id))
                .filter(messages::recipient.eq_any(&everyone))
                .filter(messages::sender.eq(SYSTEM_SENDER))
                .filter(messages::kind.eq(MessageKind::System.as_str()))
                .filter(messages::delivered_at_ms.is_null()),
        )
        .set(messages::delivered_at_ms.eq(Some(now)))
        .execute(c)?;
        // The tasks the team's end cancelled (named by its `team.{failed,disbanded}` event).
        let mut reopened = Vec::new();
        if from != TeamStatus::Active {
            let ended: Option<String> = crate::schema::events::table
                .filter(crate::schema::events::team_id.eq(team_id))
                .filter(crate::schema::events::kind.eq(format!("team.{from}")))
                .order(crate::schema::events::id.desc())
                .select(crate::schema::events::payload)
                .first(c)
                .optional()?;
            let ids: Vec<i64> = ended
                .and_then(|p| serde_json::from_str::<serde_json::Value>(&p).ok())
                .and_then(|v| {
                    v["cancelled_tasks"]
                        .as_array()
                        .map(|a| a.iter().filter_map(serde_json::Value::as_i64).collect())
                })
                .unwrap_or_default();
            if !ids.is_empty() {
                let to = TaskStatus::Cancelled
                    .transition(TaskEvent::Reopen)
                    .map_err(|e| StoreError::Invalid(e.to_string()))?;
                reopened = diesel::update(
                    tasks::table
                        .filter(tasks::team_id.eq(team_id))
                        .filter(tasks::id.eq_any(&ids))
                        .filter(tasks::status.eq(TaskStatus::Cancelled.as_str())),
                )
                .set((
                    tasks::status.eq(to.as_str()),
                    tasks::assignee.eq(None::<String>),
                    tasks::updated_at_ms.eq(now),
                ))
                .returning(tasks::id)
                .get_results(c)?;
                reopened.sort_unstable();
            }
        }
        event(
            c,
            Some(team_id),
            None,
            "team.resumed",
            json!({"from": from, "reason": team.reason, "members": resumed, "tasks": reopened, "kept": kept}),
        )?;
        Ok(Resumed {
            team: team_by_id(c, team_id)?.into_entity()?,
            members: resumed,
            tasks: reopened,
            kept,
        })
    })
}

/// Sets (or, with neither cap, clears) a team's budget on its row, with a `budget.set` event.
pub(crate) fn set_team_budget(
    c: &mut Conn,
    team_id: &str,
    budget: &team_core::budget::TeamBudget,
) -> Result<()> {
    c.write_tx(|c| {
        let team = team_by_id(c, team_id)?;
        let max_tokens = budget.max_tokens.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        diesel::update(teams::table.find(&team.id))
            .set((
                teams::max_tokens.eq(max_tokens),
                teams::max_usd.eq(budget.max_usd),
                teams::updated_at_ms.eq(now_ms()),
            ))
            .execute(c)?;
        event(
            c,
            Some(&team.id),
            None,
            "budget.set",
            json!({"max_tokens": budget.max_tokens, "max_usd": budget.max_usd}),
        )
    })
}

/// A team's budget, from its row or, for a team that shares another's, from that team's
/// (no cap: [`team_core::budget::TeamBudget::default`]).
pub(crate) fn team_budget(c: &mut Conn, team_id: &str) -> Result<team_core::budget::TeamBudget> {
    let mut team = team_by_id(c, team_id)?;
    if let Some(root) = team.budget_team_id.clone() {
        team = team_by_id(c, &root)?;
    }
    Ok(team_core::budget::TeamBudget {
        max_tokens: team.max_tokens.map(|n| u64::try_from(n).unwrap_or(0)),
        max_usd: team.max_usd,
    })
}

/// Makes team `team_id` share the budget of team `with` (the team a `team_create` caller is
/// in): its spend counts in that budget. Nothing when `with` has no budget and shares none.
pub(crate) fn share_budget(c: &mut Conn, team_id: &str, with: &str) -> Result<()> {
    c.write_tx(|c| {
        let with = team_by_id(c, with)?;
        let root = match with.budget_team_id {
            Some(root) => root,
            None if with.max_tokens.is_some() || with.max_usd.is_some() => with.id,
            None => return Ok(()),
        };
        let team = team_by_id(c, team_id)?;
        diesel::update(teams::table.find(&team.id))
            .set(teams::budget_team_id.eq(Some(root.as_str())))
            .execute(c)?;
        event(
            c,
            Some(&team.id),
            None,
            "budget.shared",
            json!({"budget_team_id": root}),
        )
    })
}

/// The teams whose spend counts in team `team_id`'s budget: the team that holds it first,
/// then every team that shares it.
pub(crate) fn budget_teams(c: &mut Conn, team_id: &str) -> Result<Vec<String>> {
    let team = team_by_id(c, team_id)?;
    let root = team.budget_team_id.unwrap_or(team.id);
    let mut ids = vec![root.clone()];
    let shared: Vec<String> = teams::table
        .filter(teams::budget_team_id.eq(root.as_str()))
        .order(teams::created_at_ms)
        .select(teams::id)
        .load(c)?;
    ids.extend(shared);
    Ok(ids)
}
