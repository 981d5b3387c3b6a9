//! The `events` log: the row every state change appends (`team logs`), and its reads. Part of
//! the store's operations (see `ops/mod.rs`: compiled once per engine, `Conn` from the parent).

use diesel::prelude::*;

use super::Conn;
use crate::error::Result;
use crate::now_ms;
use crate::prepared::{Bind, Prepared};
use crate::rows::EventRow;
use crate::schema::events;

pub(super) fn event(
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

/// The first `max` characters of `text`, with `…` when it was cut.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

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
