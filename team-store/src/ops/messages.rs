//! Messages: deliveries (one row per recipient; a broadcast stores its body once), sends
//! (fenced, size-checked, idempotent per key), inbox takes (exactly once; leased for the CLI)
//! and reads. Part of the store's operations (see `ops/mod.rs`).

use std::collections::BTreeMap;

use diesel::prelude::*;
use serde_json::json;
use team_core::{MemberEvent, MemberStatus, Message, MessageKind, delivery};

use super::Conn;
use super::events::{event, excerpt};
use super::members::{fence, fence_attempt, live_recipient, member_row, member_step_in};
use super::teams::{active_team, team_by_id};
use crate::dialect::{Dialect, OneSend, Take};
use crate::error::{Result, StoreError};
use crate::prepared::{Bind, Prepared};
use crate::rows::*;
use crate::schema::{members, messages};
use crate::types::*;
use crate::{SYSTEM_SENDER, new_id, now_ms};

/// Inserts one delivery per recipient and wakes cross-process waiters.
pub(super) fn deliver(
    c: &mut Conn,
    team_id: &str,
    from: &str,
    recipients: &[String],
    kind: MessageKind,
    body: &str,
    broadcast: bool,
) -> Result<Vec<Message>> {
    deliver_keyed(c, team_id, from, recipients, kind, body, broadcast, None, false)
}

/// [`deliver`] with the sender's de-duplication key (`team send --key`), stored on every
/// delivery. A broadcast stores its body once: the first delivery holds it, the others point
/// at that row (`body_of`) with an empty `body`. With `interrupt` (`team send --interrupt`)
/// every delivery is marked so that a recipient in a model call has that call cancelled and
/// asked again with the message ([`pending_interrupt`]).
#[allow(clippy::too_many_arguments)]
pub(super) fn deliver_keyed(
    c: &mut Conn,
    team_id: &str,
    from: &str,
    recipients: &[String],
    kind: MessageKind,
    body: &str,
    broadcast: bool,
    send_key: Option<&str>,
    interrupt: bool,
) -> Result<Vec<Message>> {
    let now = now_ms();
    let mut out: Vec<Message> = Vec::with_capacity(recipients.len());
    for recipient in recipients {
        let body_of = out.first().map(|m| m.id);
        // Prepared once per connection: Diesel never caches an insert.
        struct Deliver;
        let m: MessageRow = Prepared::<Deliver>::new(
            "INSERT INTO messages (team_id, sender, recipient, kind, body, broadcast, \
             created_at_ms, body_of, send_key, interrupt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             RETURNING *",
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
                Bind::Bool(interrupt),
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
            "interrupt": interrupt,
        }),
    )?;
    c.notify_inbox(team_id)?;
    Ok(out)
}

/// Messages from rows: a broadcast delivery that points at another row (`body_of`) gets that
/// row's body (one query for all of them, only when there are any).
pub(super) fn resolve_bodies(c: &mut Conn, rows: Vec<MessageRow>) -> Result<Vec<Message>> {
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

/// Sends a message. The sender must still be able to act (fencing: a member that has ended
/// cannot send), the body must fit `max_bytes`. With `key`, a send that was already stored
/// with the same key by the same sender is not stored again: its deliveries are returned.
/// With `interrupt`, the deliveries interrupt their recipients' model calls in flight (see
/// [`deliver_keyed`]).
pub(crate) fn send_message(
    c: &mut Conn,
    team_id: &str,
    msg: &Outgoing<'_>,
    key: Option<&str>,
    interrupt: bool,
    max_bytes: usize,
    attempt: Option<i64>,
) -> Result<Vec<Message>> {
    delivery::check_message_size(msg.body, max_bytes)
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    // A member's send in one statement where the engine has one; a system message, every
    // refusal (with its reason) and a key already used go through the transaction.
    if !(msg.from == SYSTEM_SENDER && msg.kind == MessageKind::System)
        && let Some(sent) = c.send_in_one_statement(&OneSend {
            team_id,
            from: msg.from,
            to: match &msg.to {
                Recipient::Member(name) => Some(name),
                Recipient::All => None,
            },
            kind: msg.kind,
            body: msg.body,
            key,
            interrupt,
            now: now_ms(),
            attempt,
        })?
    {
        return Ok(sent);
    }
    c.write_tx(|c| {
        let team = active_team(c, team_id, "new messages")?;
        let sender = if msg.from == SYSTEM_SENDER && msg.kind == MessageKind::System {
            SYSTEM_SENDER.to_owned()
        } else {
            let m = member_row(c, &team, msg.from)?;
            fence(&team, &m, attempt, "send messages")?;
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
            interrupt,
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
    } else if let Some(msgs) =
        c.take_in_one_statement(team_id, member, Take::Deliver(None), now_ms())?
    {
        Ok(msgs)
    } else {
        // One transaction for the delivery marks and their event (and, on SQLite, through
        // the process's write lock rather than the busy handler's sleeps).
        c.write_tx(take)
    }
}

/// Takes the unread messages of kind `text` of a member (written by a member or a person:
/// `team send`, the `send_message` tool), oldest first, marking them delivered in the same
/// statement: what a running LLM member is given mid-turn. Results, notices and system
/// messages stay unread (for `wait_for_messages` or the next turn).
pub(crate) fn take_text(c: &mut Conn, team_id: &str, member: &str) -> Result<Vec<Message>> {
    let text = Take::Deliver(Some(MessageKind::Text));
    if let Some(msgs) = c.take_in_one_statement(team_id, member, text, now_ms())? {
        return Ok(msgs);
    }
    c.write_tx(|c| {
        let team = team_by_id(c, team_id)?;
        let m = member_row(c, &team, member)?;
        struct TakeText;
        let now = now_ms();
        let rows: Vec<MessageRow> = Prepared::<TakeText>::new(
            "UPDATE messages SET delivered_at_ms = ?, lease_until_ms = NULL \
             WHERE team_id = ? AND recipient = ? AND delivered_at_ms IS NULL AND kind = ? \
               AND (lease_until_ms IS NULL OR lease_until_ms <= ?) RETURNING *",
            vec![
                Bind::BigInt(now),
                Bind::Text(team_id.to_owned()),
                Bind::Text(m.name.clone()),
                Bind::Text(MessageKind::Text.as_str().to_owned()),
                Bind::BigInt(now),
            ],
        )
        .load(c)?;
        delivered(c, team_id, &m.name, rows)
    })
}

/// Takes an idle member's unread messages and, when there are any, wakes it (`idle →
/// running`), in one transaction: the in-process wake-up path in one write instead of two.
/// Empty (and the member left idle) when nothing is unread.
pub(crate) fn take_inbox_and_wake(
    c: &mut Conn,
    team_id: &str,
    member: &str,
    attempt: Option<i64>,
) -> Result<Vec<Message>> {
    c.write_tx(|c| {
        let team = team_by_id(c, team_id)?;
        let m = member_row(c, &team, member)?;
        fence_attempt(&team, &m, attempt, "take its messages")?;
        let msgs = take_inbox_in(c, team_id, &m, false)?;
        if !msgs.is_empty() {
            member_step_in(c, &team, m, MemberEvent::Wake)?;
        }
        Ok(msgs)
    })
}

/// The unread messages of member `m` of team `team_id`, marked delivered unless `peek`,
/// inside the caller's transaction.
pub(super) fn take_inbox_in(
    c: &mut Conn,
    team_id: &str,
    m: &MemberRow,
    peek: bool,
) -> Result<Vec<Message>> {
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
    if peek {
        rows.sort_by_key(|r| r.id);
        return resolve_bodies(c, rows);
    }
    delivered(c, team_id, &m.name, rows)
}

/// Messages just taken by `member`, oldest first, with their bodies; the take is recorded as
/// one `message.delivered` event naming their ids (none when nothing was taken).
fn delivered(
    c: &mut Conn,
    team_id: &str,
    member: &str,
    mut rows: Vec<MessageRow>,
) -> Result<Vec<Message>> {
    rows.sort_by_key(|r| r.id);
    if !rows.is_empty() {
        event(
            c,
            Some(team_id),
            Some(member),
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
    let token = new_id();
    let lease = Take::Lease {
        token: &token,
        lease_ms,
    };
    if let Some(msgs) = c.take_in_one_statement(team_id, member, lease, now_ms())? {
        return Ok((token, msgs));
    }
    c.write_tx(|c| {
        let team = team_by_id(c, team_id)?;
        let m = member_row(c, &team, member)?;
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
    if let Some(ids) = c.ack_in_one_statement(team_id, member, token, now_ms())? {
        return Ok(ids);
    }
    c.write_tx(|c| {
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

pub(crate) fn inbox_after_from(
    c: &mut Conn,
    team_id: &str,
    member: &str,
    after_id: i64,
    limit: i64,
    senders: &[String],
) -> Result<Vec<Message>> {
    let team = team_by_id(c, team_id)?;
    let m = member_row(c, &team, member)?;
    let rows: Vec<MessageRow> = messages::table
        .filter(messages::team_id.eq(team_id))
        .filter(messages::recipient.eq(&m.name))
        .filter(messages::id.gt(after_id))
        .filter(messages::sender.eq_any(senders))
        .order(messages::id)
        .limit(limit)
        .select(MessageRow::as_select())
        .load(c)?;
    resolve_bodies(c, rows)
}

/// True when member `member` of `team_id` has an unread message sent with `--interrupt`
/// (not leased by a CLI take): its runner cancels the member's model call in flight and asks
/// again with the message. Reads only.
pub(crate) fn pending_interrupt(c: &mut Conn, team_id: &str, member: &str) -> Result<bool> {
    let n: i64 = messages::table
        .filter(messages::team_id.eq(team_id))
        .filter(messages::recipient.eq(member))
        .filter(messages::delivered_at_ms.is_null())
        .filter(messages::interrupt.eq(true))
        .filter(messages::kind.eq(MessageKind::Text.as_str()))
        .filter(
            messages::lease_until_ms
                .is_null()
                .or(messages::lease_until_ms.le(now_ms())),
        )
        .count()
        .get_result(c)?;
    Ok(n > 0)
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

/// The highest message id (0 when there is none): a cheap change counter for pollers.
pub(crate) fn last_message_id(c: &mut Conn) -> Result<i64> {
    let max: Option<i64> = messages::table
        .select(diesel::dsl::max(messages::id))
        .get_result(c)?;
    Ok(max.unwrap_or(0))
}
