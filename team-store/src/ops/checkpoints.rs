//! Checkpoints of LLM members' conversations: the latest one per member, written after every
//! model call and tool result, read when a retried or resumed member starts again. Part of the
//! store's operations (see `ops/mod.rs`).

use diesel::prelude::*;

use super::Conn;
use crate::error::Result;
use crate::now_ms;
use crate::schema::checkpoints;
use crate::types::{Checkpoint, NewCheckpoint};

/// Writes `cp` as its member's latest checkpoint (an upsert; `seq` counts the writes); with
/// `cp.attempt`, refused (`Illegal`, fencing) once the member moved on to another attempt.
pub(crate) fn save_checkpoint(c: &mut Conn, cp: &NewCheckpoint<'_>) -> Result<()> {
    if cp.attempt.is_some() {
        let team = super::teams::team_by_id(c, cp.team_id)?;
        let m: crate::rows::MemberRow = crate::schema::members::table
            .find(cp.member_id)
            .select(crate::rows::MemberRow::as_select())
            .first(c)?;
        super::members::fence_attempt(&team, &m, cp.attempt, "write its checkpoint")?;
    }
    let now = now_ms();
    diesel::insert_into(checkpoints::table)
        .values((
            checkpoints::member_id.eq(cp.member_id),
            checkpoints::team_id.eq(cp.team_id),
            checkpoints::seq.eq(1i64),
            checkpoints::calls.eq(cp.calls),
            checkpoints::turn_done.eq(cp.turn_done),
            checkpoints::messages.eq(cp.messages),
            checkpoints::at_ms.eq(now),
        ))
        .on_conflict(checkpoints::member_id)
        .do_update()
        .set((
            checkpoints::seq.eq(checkpoints::seq + 1i64),
            checkpoints::calls.eq(cp.calls),
            checkpoints::turn_done.eq(cp.turn_done),
            checkpoints::messages.eq(cp.messages),
            checkpoints::at_ms.eq(now),
        ))
        .execute(c)?;
    Ok(())
}

/// The latest checkpoint of member `member_id`, if it wrote one.
pub(crate) fn checkpoint(c: &mut Conn, member_id: i64) -> Result<Option<Checkpoint>> {
    type Row = (i64, i64, i64, bool, String, i64);
    let row: Option<Row> = checkpoints::table
        .find(member_id)
        .select((
            checkpoints::member_id,
            checkpoints::seq,
            checkpoints::calls,
            checkpoints::turn_done,
            checkpoints::messages,
            checkpoints::at_ms,
        ))
        .get_result(c)
        .optional()?;
    Ok(row.map(
        |(member_id, seq, calls, turn_done, messages, at_ms)| Checkpoint {
            member_id,
            seq,
            calls,
            turn_done,
            messages,
            at_ms,
        },
    ))
}
