//! Per-agent memory (one text per agent and project root, capped by `team_core::memory`):
//! read, set, append, clear; writes made as a member are fenced. Part of the store's
//! operations (see `ops/mod.rs`).

use diesel::prelude::*;
use serde_json::json;
use team_core::memory;

use super::Conn;
use super::events::event;
use super::members::fence_actor;
use crate::dialect::Dialect;
use crate::error::Result;
use crate::now_ms;
use crate::rows::*;
use crate::schema::memories;
use crate::types::*;

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
    c.write_tx(|c| {
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
    c.write_tx(|c| {
        fence_actor(c, actor, "write memory")?;
        c.lock_memory(agent, root)?;
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
    c.write_tx(|c| {
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
