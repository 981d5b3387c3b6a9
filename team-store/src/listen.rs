//! Cross-process message notifications on PostgreSQL: `LISTEN team_inbox`.
//!
//! Every delivery already runs `pg_notify('team_inbox', team_id)` in its transaction (see
//! `Dialect::notify_inbox` on PostgreSQL), so a runner that listens learns of a `team send` from another
//! process at its commit, instead of at its next poll (bench/findings.md § 4).

use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};

use crate::error::{Result, StoreError};
use crate::{Pool, Store};

/// How often [`InboxListener::wait`] reads the connection for notifications: diesel offers
/// no blocking wait on a connection's socket, and reading it without data is one
/// non-blocking `recv`.
pub const LISTEN_STEP: Duration = Duration::from_millis(1);

/// A connection of its own (outside the pool) that listens on the `team_inbox` channel.
pub struct InboxListener {
    conn: PgConnection,
}

impl std::fmt::Debug for InboxListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboxListener").finish_non_exhaustive()
    }
}

impl InboxListener {
    /// Waits up to `timeout` for notifications and returns the ids of the teams that got a
    /// message (all that arrived are consumed; empty when the time ran out). The channel is
    /// database-wide: deliveries of every team in the database are heard, whatever the
    /// schema or project. Blocks the calling thread: run it on a thread of its own.
    ///
    /// # Errors
    /// [`StoreError::Database`] when the connection broke (listen again on a new one).
    pub fn wait(&mut self, timeout: Duration) -> Result<Vec<String>> {
        let until = Instant::now() + timeout;
        loop {
            let mut teams = Vec::new();
            for n in self.conn.notifications_iter() {
                teams.push(n?.payload);
            }
            if !teams.is_empty() {
                return Ok(teams);
            }
            let now = Instant::now();
            if now >= until {
                return Ok(teams);
            }
            std::thread::sleep(LISTEN_STEP.min(until - now));
        }
    }
}

impl Store {
    /// A listener for new messages from any process, on PostgreSQL; `None` on SQLite, which
    /// has no notifications (runners poll its message ids).
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
                diesel::sql_query("LISTEN team_inbox").execute(&mut conn)?;
                Ok(Some(InboxListener { conn }))
            }
            _ => Ok(None),
        }
    }
}
