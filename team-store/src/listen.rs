//! Cross-process notifications on PostgreSQL: `LISTEN team_inbox` and `LISTEN team_queue`.
//!
//! - `team_inbox`: every delivery already runs `pg_notify('team_inbox', team_id)` in its
//!   transaction (see `Dialect::notify_inbox` on PostgreSQL), so a runner that listens learns
//!   of a `team send` from another process at its commit, instead of at its next poll
//!   (bench/findings.md § 4).
//! - `team_queue`: a trigger on `members` (migration `2026-12-09-000401_queue_notify`) runs
//!   `pg_notify('team_queue', NOT_BEFORE_MS)` when a statement adds pending members (payload
//!   `0`) or moves a member back to `pending` (a retry: the payload is its `not_before_ms`, the
//!   end of its backoff, or `0`), so a runner with free slots claims a member another process
//!   (or host) queued at the commit, instead of at its next queue poll (100 ms).

use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};

use crate::error::{Result, StoreError};
use crate::{Pool, Store};

/// How often [`InboxListener::wait`] reads the connection for notifications: diesel offers
/// no blocking wait on a connection's socket, and reading it without data is one
/// non-blocking `recv`.
pub const LISTEN_STEP: Duration = Duration::from_millis(1);

/// The channel of deliveries (payload: the team id).
const INBOX: &str = "team_inbox";
/// The channel of members made pending (payload: the earliest claim time, ms since the epoch;
/// `0` for at once).
const QUEUE: &str = "team_queue";

/// What one [`InboxListener::wait`] heard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Heard {
    /// Ids of the teams that got a message (in arrival order; a team may repeat).
    pub inbox: Vec<String>,
    /// One entry per notice of members made pending: the earliest time they may be claimed,
    /// ms since the epoch (`0`: at once; a retried member's backoff ends later).
    pub queued_at_ms: Vec<i64>,
}

impl Heard {
    /// True when nothing was heard.
    pub fn is_empty(&self) -> bool {
        self.inbox.is_empty() && self.queued_at_ms.is_empty()
    }
}

/// A connection of its own (outside the pool) that listens on the `team_inbox` and
/// `team_queue` channels.
pub struct InboxListener {
    conn: PgConnection,
}

impl std::fmt::Debug for InboxListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboxListener").finish_non_exhaustive()
    }
}

impl InboxListener {
    /// Waits up to `timeout` for notifications and returns what arrived ([`Heard`]: the ids
    /// of the teams that got a message, and whether members were made pending; all that
    /// arrived are consumed; empty when the time ran out). The channels are database-wide:
    /// deliveries and queued members of every team in the database are heard, whatever the
    /// schema or project. Blocks the calling thread: run it on a thread of its own.
    ///
    /// # Errors
    /// [`StoreError::Database`] when the connection broke (listen again on a new one).
    pub fn wait(&mut self, timeout: Duration) -> Result<Heard> {
        let until = Instant::now() + timeout;
        loop {
            let mut heard = Heard::default();
            for n in self.conn.notifications_iter() {
                let n = n?;
                if n.channel == QUEUE {
                    // A payload that does not parse (none is written so) counts as "now".
                    heard
                        .queued_at_ms
                        .push(n.payload.trim().parse::<i64>().unwrap_or(0));
                } else if n.channel == INBOX {
                    heard.inbox.push(n.payload);
                }
            }
            if !heard.is_empty() {
                return Ok(heard);
            }
            let now = Instant::now();
            if now >= until {
                return Ok(heard);
            }
            std::thread::sleep(LISTEN_STEP.min(until - now));
        }
    }
}

impl Store {
    /// A listener for new messages and newly pending members from any process, on
    /// PostgreSQL; `None` on SQLite, which has no notifications (runners poll its message ids
    /// and the queue).
    ///
    /// # Errors
    /// [`StoreError::Open`] when no connection can be made; [`StoreError::Database`] when
    /// `LISTEN` fails.
    pub fn listen_inbox(&self) -> Result<Option<InboxListener>> {
        match (&self.pool, &self.pg_url) {
            (Pool::Pg(_), Some(url)) => {
                let mut conn = PgConnection::establish(url).map_err(|e| StoreError::Open {
                    target: self.target.clone(),
                    message: format!("cannot open a connection to listen for messages: {e}"),
                })?;
                diesel::sql_query(format!("LISTEN {INBOX}")).execute(&mut conn)?;
                diesel::sql_query(format!("LISTEN {QUEUE}")).execute(&mut conn)?;
                Ok(Some(InboxListener { conn }))
            }
            _ => Ok(None),
        }
    }
}
