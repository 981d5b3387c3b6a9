//! The per-provider rate-limit gate, shared by every member that uses the provider.
//!
//! - A semaphore caps HTTP requests in flight at `max_concurrent_requests` (a permit is held for one
//!   attempt only, never across a backoff sleep).
//! - A 429 with `Retry-After` sets a shared `paused_until` instant: no new attempt of this provider
//!   starts before it, whoever the caller is.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// Concurrency cap plus shared pause for one provider.
#[derive(Debug)]
pub struct RateGate {
    permits: Semaphore,
    max: usize,
    paused_until: Mutex<Option<Instant>>,
}

impl RateGate {
    /// A gate letting `max_in_flight` requests (at least 1) run at once.
    pub fn new(max_in_flight: usize) -> Self {
        let max = max_in_flight.max(1);
        Self {
            permits: Semaphore::new(max),
            max,
            paused_until: Mutex::new(None),
        }
    }

    /// Configured cap.
    pub fn max_in_flight(&self) -> usize {
        self.max
    }

    /// Requests running now through this gate.
    pub fn in_flight(&self) -> usize {
        self.max - self.permits.available_permits()
    }

    /// Remaining pause, if the provider is paused now.
    pub fn paused_for(&self) -> Option<Duration> {
        let until = (*self.lock())?;
        let now = Instant::now();
        (until > now).then(|| until - now)
    }

    /// Pauses all new requests for `wait` from now (a longer pause already set is kept).
    pub fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut guard = self.lock();
        if guard.is_none_or(|cur| cur < until) {
            *guard = Some(until);
        }
    }

    /// Waits until the provider is not paused and a slot is free; the permit frees the slot on drop.
    pub async fn acquire(&self) -> SemaphorePermit<'_> {
        loop {
            while let Some(wait) = self.paused_for() {
                tokio::time::sleep(wait).await;
            }
            // The semaphore is never closed, so acquire cannot fail; treat failure as "try again".
            let Ok(permit) = self.permits.acquire().await else {
                tokio::task::yield_now().await;
                continue;
            };
            // A pause may have been set while we queued for the permit.
            if self.paused_for().is_none() {
                return permit;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.paused_until.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn caps_and_pauses() {
        let gate = RateGate::new(2);
        let a = gate.acquire().await;
        let _b = gate.acquire().await;
        assert_eq!(gate.in_flight(), 2);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), gate.acquire())
                .await
                .is_err()
        );
        drop(a);
        let _c = tokio::time::timeout(Duration::from_secs(5), gate.acquire())
            .await
            .expect("slot freed");

        let gate = RateGate::new(1);
        gate.pause_for(Duration::from_millis(200));
        gate.pause_for(Duration::from_millis(10)); // shorter pause does not shorten it
        let start = std::time::Instant::now();
        let _p = gate.acquire().await;
        assert!(start.elapsed() >= Duration::from_millis(150));
        assert!(gate.paused_for().is_none());
    }
}
