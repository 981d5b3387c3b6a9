//! Members: add (named in the insert's transaction), read, the live steps (sleep, wake), a
//! persistent member's end of turn, the runner's progress, and the row helpers the other
//! entities use (`member_row`, fencing). A member's end is `ends.rs`. Part of the store's
//! operations (see `ops/mod.rs`).

use diesel::prelude::*;
use serde_json::json;
use team_core::{
    IllegalTransition, LEAD_ALIAS, Member, MemberEvent, MemberStatus, Message, MessageKind, Role,
    Team, TeamStatus, delivery, names,
};

use super::Conn;
use super::events::event;
use super::messages::deliver;
use super::teams::{active_team, get_team, team_by_id};
use crate::dialect::{NewMemberRow, Dialect, WrittenMember, member_write};
use crate::error::{Refusal, Result, StoreError};
use crate::now_ms;
use crate::prepared::{Bind, Prepared};
use crate::rows::*;
use crate::schema::{members, teams};
use crate::types::*;

pub(super) fn member_row(c: &mut Conn, team: &TeamRow, name: &str) -> Result<MemberRow> {
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
pub(super) fn live_recipient(c: &mut Conn, team: &TeamRow, name: &str) -> Result<MemberRow> {
    let r = member_row(c, team, name)?;
    let status = r.status()?;
    if status.is_terminal() {
        return Err(Refusal::RecipientEnded {
            member: r.name,
            team: team.name.clone(),
            status,
        }
        .into());
    }
    Ok(r)
}

/// Refuses a write made as member `m` once it has ended, or made by its attempt `acting`
/// (when the writer names one) after the member moved on to another attempt (fencing,
/// `team_core::delivery::may_act`).
pub(super) fn fence(
    team: &TeamRow,
    m: &MemberRow,
    acting: Option<i64>,
    action: &str,
) -> Result<()> {
    delivery::may_act(m.status()?, current_attempt(m), acting, &m.name, &team.name, action)
        .map_err(|e| Refusal::from(e).into())
}

/// The attempt member row `m` is on.
fn current_attempt(m: &MemberRow) -> i64 {
    m.attempt
}

/// Refuses a write a runner makes for member `m` as its attempt `acting` once the member has
/// moved on to another attempt (its runner was found lost and it was retried): only the
/// attempt check of [`fence`]; a write of the current attempt goes on to its own guards.
pub(super) fn fence_attempt(
    team: &TeamRow,
    m: &MemberRow,
    acting: Option<i64>,
    action: &str,
) -> Result<()> {
    match acting {
        Some(a) if a != m.attempt => fence(team, m, Some(a), action),
        _ => Ok(()),
    }
}

/// Checks, inside the caller's transaction, that `actor` (when given) may still act.
pub(super) fn fence_actor(c: &mut Conn, actor: Option<&Actor<'_>>, action: &str) -> Result<()> {
    let Some(a) = actor else { return Ok(()) };
    let team = team_by_id(c, a.team_id)?;
    let m = member_row(c, &team, a.member)?;
    fence(&team, &m, a.attempt, action)
}

/// The row of a guarded update of a member row read earlier in the same transaction: it
/// changes under the transaction only in a race lost to another writer, reported as not found
/// (as a guarded `UPDATE … RETURNING` that matched nothing always was).
pub(super) fn guarded(row: Option<MemberRow>) -> Result<MemberRow> {
    row.ok_or_else(|| diesel::result::Error::NotFound.into())
}

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

pub(crate) fn add_members_with(
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
    c.write_tx(|c| {
        c.lock_team(team_id)?;
        let team = active_team(c, team_id, "new members")?;
        let mut names = names::NameAllocator::new(
            members::table
                .filter(members::team_id.eq(team_id))
                .select(members::name)
                .load::<String>(c)?,
        );
        let now = now_ms();
        let named: Vec<_> = news.iter().map(|n| (names.allocate(&n.agent), n)).collect();
        // Every member and its event in one statement where the engine has one.
        let rows: Vec<NewMemberRow<'_>> = named
            .iter()
            .enumerate()
            .map(|(ord, (name, new))| NewMemberRow {
                ord,
                name: name.as_str(),
                agent: new.agent.as_str(),
                status: new.status.as_str(),
                prompt: new.prompt.as_deref(),
                persistent: new.persistent,
                timeout_secs: new.timeout_secs,
                runner_id: new.runner_id.as_deref(),
                started_at_ms: (new.status == MemberStatus::Running).then_some(now),
                payload: added_payload(new, &team.name),
            })
            .collect();
        if let Some(rows) = c.add_members_in_one_statement(team_id, &rows, spec, now)? {
            if rows.len() != news.len() {
                return Err(StoreError::Invalid(format!(
                    "{} of {} members were added",
                    rows.len(),
                    news.len()
                )));
            }
            return rows.into_iter().map(MemberRow::into_entity).collect();
        }
        let mut out = Vec::with_capacity(news.len());
        for (name, new) in named {
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
                 agent_def, agent_source, env_fingerprint, max_attempts, retry_backoff_ms, on_ask) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    Bind::BigInt(i64::from(spec.retry.max_attempts.max(1))),
                    Bind::BigInt(i64::try_from(spec.retry.backoff_ms).unwrap_or(i64::MAX)),
                    Bind::NullableText(spec.on_ask.clone()),
                ],
                WrittenMember::Named {
                    team_id,
                    name: name.as_str(),
                }
            )?
            .ok_or_else(|| StoreError::Invalid(format!("member {name} was not added")))?;
            Prepared::<AddedEvent>::new(
                "INSERT INTO events (team_id, member, kind, payload, created_at_ms) \
                 VALUES (?, ?, 'member.added', ?, ?)",
                vec![
                    Bind::Text(team_id.to_owned()),
                    Bind::Text(name.as_str().to_owned()),
                    Bind::Text(added_payload(new, &team.name)),
                    Bind::BigInt(now_ms()),
                ],
            )
            .execute(c)?;
            out.push(row.into_entity()?);
        }
        Ok(out)
    })
}

/// Prepared once per connection: the `member.added` event of the one-by-one path.
struct AddedEvent;

/// The payload of a new member's `member.added` event (JSON text, as `event` writes it).
fn added_payload(new: &NewMember, team: &str) -> String {
    let v = json!({"agent": new.agent.as_str(), "status": new.status, "persistent": new.persistent, "team": team});
    serde_json::to_string(&v).unwrap_or_else(|_| "null".into())
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

pub(crate) fn members_named(c: &mut Conn, team_id: &str, names: &[String]) -> Result<Vec<Member>> {
    let mut out = Vec::with_capacity(names.len());
    // At most 500 names per query: SQLite binds each one (its limit is 32 766 variables).
    for chunk in names.chunks(500) {
        let rows: Vec<MemberRow> = members::table
            .filter(members::team_id.eq(team_id))
            .filter(members::name.eq_any(chunk))
            .select(MemberRow::as_select())
            .load(c)?;
        for r in rows {
            out.push(r.into_entity()?);
        }
    }
    out.sort_by_key(|m| m.id);
    Ok(out)
}

/// The refusal of lifecycle move `e` of member `m` of `team`.
pub(super) fn illegal_member(team: &TeamRow, m: &MemberRow, e: IllegalTransition) -> StoreError {
    Refusal::transition_of(format!("member {} in team {}", m.name, team.name), e).into()
}

/// Moves a member between live states (`sleep`: running → idle, `wake`: idle → running,
/// `park`: running → waiting, `continue`: waiting → running).
pub(crate) fn member_step(
    c: &mut Conn,
    team_id: &str,
    name: &str,
    ev: MemberEvent,
) -> Result<Member> {
    if !matches!(
        ev,
        MemberEvent::Sleep | MemberEvent::Wake | MemberEvent::Park | MemberEvent::Continue
    ) {
        return Err(StoreError::Invalid(format!(
            "member event {ev} is not a step between live states"
        )));
    }
    c.write_tx(|c| {
        let team = team_by_id(c, team_id)?;
        let m = member_row(c, &team, name)?;
        member_step_in(c, &team, m, ev)
    })
}

/// [`member_step`] inside the caller's transaction, which has read `team` and the member `m`.
pub(super) fn member_step_in(
    c: &mut Conn,
    team: &TeamRow,
    m: MemberRow,
    ev: MemberEvent,
) -> Result<Member> {
    {
        let team_id = team.id.as_str();
        let from = m.status()?;
        let to = from
            .transition(ev)
            .map_err(|e| illegal_member(team, &m, e))?;
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
            WrittenMember::Id(m.id)
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
    end: &EndOfTurn<'_>,
) -> Result<Vec<Message>> {
    let EndOfTurn {
        result,
        checkpoint,
        attempt,
    } = *end;
    c.write_tx(|c| {
        let team = active_team(c, team_id, "new messages")?;
        let m = member_row(c, &team, member)?;
        fence_attempt(&team, &m, attempt, "end its turn")?;
        progress_of(c, team_id, &m.name, member_id, progress)?;
        if let Some(cp) = checkpoint {
            super::checkpoints::save_checkpoint(c, cp)?;
        }
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

/// Writes a runner's progress of a member in one transaction (see [`progress_of`]).
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
    c.write_tx(|c| progress_of(c, team_id, member, member_id, progress))
}

/// Appends `progress`'s events for `member` and applies its pid and counters to the row
/// `member_id`, inside the caller's transaction.
pub(super) fn progress_of(
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

/// What each of the members `ids` was spawned with; members with no spec are left out.
pub(crate) fn member_specs(
    c: &mut Conn,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, MemberSpec>> {
    let mut out = std::collections::HashMap::new();
    for chunk in ids.chunks(500) {
        type SpecRow = (
            i64,
            Option<String>,
            Option<String>,
            Option<String>,
            i64,
            i64,
            Option<String>,
        );
        let rows: Vec<SpecRow> = members::table
            .filter(members::id.eq_any(chunk))
            .filter(
                members::agent_def
                    .is_not_null()
                    .or(members::env_fingerprint.is_not_null())
                    .or(members::on_ask.is_not_null()),
            )
            .select((
                members::id,
                members::agent_def,
                members::agent_source,
                members::env_fingerprint,
                members::max_attempts,
                members::retry_backoff_ms,
                members::on_ask,
            ))
            .load(c)?;
        for (id, agent_def, agent_source, env_fingerprint, max_attempts, backoff, on_ask) in rows {
            out.insert(
                id,
                MemberSpec {
                    agent_def,
                    agent_source,
                    env_fingerprint,
                    retry: team_core::retry::RetryPolicy {
                        max_attempts: u32::try_from(max_attempts).unwrap_or(1).max(1),
                        backoff_ms: u64::try_from(backoff).unwrap_or(0),
                    },
                    on_ask,
                },
            );
        }
    }
    Ok(out)
}

pub(crate) fn count_members_by_status(c: &mut Conn) -> Result<Vec<(String, i64)>> {
    Ok(members::table
        .inner_join(teams::table)
        .filter(teams::status.eq(TeamStatus::Active.as_str()))
        .group_by(members::status)
        .select((members::status, diesel::dsl::count_star()))
        .load(c)?)
}

/// Puts a running member under a runner (a foreground run that created it first).
pub(crate) fn hold_member(c: &mut Conn, member_id: i64, runner_id: &str) -> Result<()> {
    diesel::update(members::table.find(member_id))
        .set(members::runner_id.eq(Some(runner_id)))
        .execute(c)?;
    Ok(())
}
