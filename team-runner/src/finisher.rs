//! The finisher: member ends written in batches, one transaction for the ends that arrive
//! together. A leaf of the crate: it holds the store, not the engine; members reach it through
//! their [`crate::context::Context`].

use std::sync::Arc;

use team_store::{Finished, MemberEnd, Store, StoreError};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::blocking::db;

/// The most member ends the finisher writes in one transaction.
const MAX_END_BATCH: usize = 256;

/// A member's end for the [`finisher`], and where its result goes.
pub(crate) struct EndRequest {
    pub end: MemberEnd,
    pub reply: oneshot::Sender<Result<Finished, EndFailure>>,
}

/// Why a member's end was not recorded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EndFailure {
    /// This end failed (a refusal, `Illegal`: the member had already ended; or a statement
    /// error, rolled back to its savepoint).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The whole batch failed (no connection, `BEGIN` or `COMMIT` refused): nothing was
    /// written; worth retrying.
    #[error("{0}")]
    Batch(String),
    /// The finisher is gone (the engine was dropped).
    #[error("the runner stopped before the end was recorded")]
    Gone,
}

/// Writes member ends in batches: it takes every end waiting (up to [`MAX_END_BATCH`]) and
/// writes them in one transaction ([`Store::finish_members`]: one commit, a savepoint each).
/// While a batch is written the next one gathers, so the batch size follows the load: one end
/// alone is written at once, two hundred members that answered together cost a handful of
/// commits instead of two hundred (a member's end was 38 % of the CPU of a 200-member
/// fan-out, most of it the commit and its WAL write, bench/findings.md § 7). SQLite writes one
/// batch at a time (it has one writer); PostgreSQL up to `parallel` at once.
///
/// It holds the store, not the engine, so it outlives the engine's shutdown (the members
/// cancelled by a stop still record their end) and ends when the engine is dropped.
pub(crate) async fn finisher(
    store: Store,
    mut rx: mpsc::UnboundedReceiver<EndRequest>,
    parallel: usize,
) {
    let gate = Arc::new(Semaphore::new(parallel.max(1)));
    let mut batch = Vec::new();
    loop {
        let Ok(permit) = gate.clone().acquire_owned().await else {
            return;
        };
        if rx.recv_many(&mut batch, MAX_END_BATCH).await == 0 {
            return;
        }
        let (ends, replies): (Vec<MemberEnd>, Vec<_>) =
            batch.drain(..).map(|r| (r.end, r.reply)).unzip();
        let store = store.clone();
        tokio::spawn(async move {
            match db(&store, move |s| s.finish_members(&ends)).await {
                Ok(results) => {
                    for (result, reply) in results.into_iter().zip(replies) {
                        let _ = reply.send(result.map_err(EndFailure::Store));
                    }
                }
                Err(e) => {
                    let why = e.to_string();
                    for reply in replies {
                        let _ = reply.send(Err(EndFailure::Batch(why.clone())));
                    }
                }
            }
            drop(permit);
        });
    }
}
