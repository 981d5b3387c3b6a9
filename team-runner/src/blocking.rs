//! Calling the synchronous store from tokio: every store call goes through [`db`], which runs
//! it on the blocking pool (as vaultwarden's `run_blocking`), so no executor thread ever waits
//! on SQLite or PostgreSQL.

use team_store::Store;

/// Runs `f` with the store on tokio's blocking pool. A panic inside `f` is re-raised here.
pub(crate) async fn db<T, F>(store: &Store, f: F) -> team_store::Result<T>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> team_store::Result<T> + Send + 'static,
{
    let s = store.clone();
    match tokio::task::spawn_blocking(move || f(&s)).await {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
