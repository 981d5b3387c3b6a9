//! Retries: when a member whose attempt ended badly goes back to the queue instead of failing.
//!
//! An agent file sets `retries: N` (default 0) and `backoff: 2s` (default
//! [`DEFAULT_BACKOFF_MS`]); a member is spawned with `max_attempts = N + 1` and the backoff on
//! its row (so a runner on another machine, or a reconciling process that never read the
//! agent file, applies the same policy). Its `attempt` counts from 1.
//!
//! The rule ([`plan_retry`]): a member that is `running` or `idle` and whose attempt ends with
//! a retryable cause ([`RetryCause`]: its runner was lost, or its model provider failed in a
//! way that may pass: a 408/429/5xx after the provider's own retries, a rate limit, a
//! connection failure or timeout) **and** that has attempts left takes the lifecycle move
//! `retry` (running | idle → pending) with `attempt + 1`; the claim waits until
//! `not_before_ms` (the backoff, doubling per attempt: `backoff × 2^(attempt−1)`, capped at
//! [`MAX_BACKOFF_MS`]). It writes a `member.retried` event (attempt k of n, the cause) and
//! sends the lead **no** notice: only the failure of the last attempt sends
//! `[AGENT FAILURE]`, as any failure does. A terminal member is never retried.
//!
//! Its tasks: the `in_progress` tasks it held go back to `pending` without an assignee (the
//! `release` move, as on a cancellation), so its next attempt, or any member, claims them again.
//! A task the lost attempt completed stays `completed` (terminal states never change), so no
//! task is completed twice.

use serde::{Deserialize, Serialize};

use crate::cascade::TaskCascade;
use crate::lifecycle::{IllegalTransition, MemberEvent, MemberStatus, TaskEvent, TaskStatus};

/// The backoff before a retried attempt when the agent file sets none: 1 s (doubled per
/// attempt).
pub const DEFAULT_BACKOFF_MS: u64 = 1_000;

/// The longest wait before one retried attempt: 1 hour, whatever the doubling says.
pub const MAX_BACKOFF_MS: u64 = 3_600_000;

/// The most retries an agent file may ask for (`retries:`).
pub const MAX_RETRIES: u32 = 100;

/// An agent's retry policy, as stored on each of its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts in all (the first one included): `retries + 1`, at least 1.
    pub max_attempts: u32,
    /// The wait before the second attempt, in ms; doubled for each later one.
    pub backoff_ms: u64,
}

impl Default for RetryPolicy {
    /// One attempt (no retry), [`DEFAULT_BACKOFF_MS`].
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 1,
            backoff_ms: DEFAULT_BACKOFF_MS,
        }
    }
}

impl RetryPolicy {
    /// The policy of an agent file's `retries: N` (capped at [`MAX_RETRIES`]) and `backoff`
    /// (ms; `None`: [`DEFAULT_BACKOFF_MS`]).
    pub fn new(retries: u32, backoff_ms: Option<u64>) -> Self {
        RetryPolicy {
            max_attempts: retries.min(MAX_RETRIES) + 1,
            backoff_ms: backoff_ms.unwrap_or(DEFAULT_BACKOFF_MS),
        }
    }
}

/// Why an attempt ended in a way that a new attempt may fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryCause {
    /// The runner that held the member was lost (`runner lost`, see [`crate::runner`]).
    RunnerLost,
    /// The model provider failed transiently (408, 429, 5xx, rate limit, connection).
    Transient,
}

impl RetryCause {
    /// The wire name (`runner_lost`, `transient`), as in the `member.retried` event.
    pub const fn as_str(self) -> &'static str {
        match self {
            RetryCause::RunnerLost => "runner_lost",
            RetryCause::Transient => "transient",
        }
    }
}

/// What a retry does, decided before the store writes any of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPlan {
    /// The member's next state: `pending`.
    pub to: MemberStatus,
    /// Its next attempt number (the failed one + 1).
    pub attempt: i64,
    /// Its attempts in all.
    pub max_attempts: i64,
    /// No runner claims it before this time, ms since the epoch.
    pub not_before_ms: i64,
    /// The backoff waited, ms.
    pub delay_ms: i64,
    /// What happens to its tasks (`in_progress` → `pending`, assignee cleared).
    pub tasks: TaskCascade,
}

/// The wait before attempt `next` (2 or more) with a first backoff of `backoff_ms`:
/// `backoff_ms × 2^(next − 2)`, at most [`MAX_BACKOFF_MS`]; 0 for a negative backoff.
pub fn backoff_delay_ms(backoff_ms: i64, next: i64) -> i64 {
    let base = backoff_ms.max(0);
    let doublings = u32::try_from((next - 2).clamp(0, 62)).unwrap_or(62);
    let cap = i64::try_from(MAX_BACKOFF_MS).unwrap_or(i64::MAX);
    base.checked_mul(1i64.checked_shl(doublings).unwrap_or(i64::MAX))
        .unwrap_or(i64::MAX)
        .min(cap)
}

/// Plans the retry of a member now in state `from`, at `attempt` of `max_attempts`, whose
/// attempt ended with `cause`; its backoff is `backoff_ms` and the time `now_ms`.
///
/// `Ok(None)` when it has no attempt left: the caller ends it as a failure, as without a
/// policy (the lead gets `[AGENT FAILURE]`).
///
/// # Errors
/// [`IllegalTransition`] when `from` cannot take `retry` (the member is `pending` or has
/// ended): nothing is to be written.
pub fn plan_retry(
    from: MemberStatus,
    attempt: i64,
    max_attempts: i64,
    backoff_ms: i64,
    _cause: RetryCause,
    now_ms: i64,
) -> Result<Option<RetryPlan>, IllegalTransition> {
    let to = from.transition(MemberEvent::Retry)?;
    if attempt >= max_attempts {
        return Ok(None);
    }
    let next = attempt.max(1) + 1;
    let delay_ms = backoff_delay_ms(backoff_ms, next);
    Ok(Some(RetryPlan {
        to,
        attempt: next,
        max_attempts,
        not_before_ms: now_ms.saturating_add(delay_ms),
        delay_ms,
        tasks: TaskCascade {
            from: TaskStatus::InProgress,
            event: TaskEvent::Release,
            to: TaskStatus::Pending,
            result: None,
        },
    }))
}

/// `attempt 2 of 3`, as `team show` prints it.
pub fn attempt_text(attempt: i64, max_attempts: i64) -> String {
    format!("attempt {attempt} of {max_attempts}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_live_members_with_attempts_left_are_retried() {
        for &from in MemberStatus::ALL {
            let plan = plan_retry(from, 1, 3, 1000, RetryCause::RunnerLost, 10_000);
            match from {
                MemberStatus::Running | MemberStatus::Idle | MemberStatus::Waiting => {
                    let p = plan.unwrap().unwrap();
                    assert_eq!(p.to, MemberStatus::Pending);
                    assert_eq!((p.attempt, p.max_attempts), (2, 3));
                    assert_eq!(p.not_before_ms, 11_000);
                    assert!(p.tasks.clears_assignee());
                }
                _ => assert!(plan.is_err(), "{from}"),
            }
        }
        assert_eq!(
            plan_retry(MemberStatus::Running, 3, 3, 1000, RetryCause::Transient, 0),
            Ok(None)
        );
        assert_eq!(
            plan_retry(MemberStatus::Idle, 1, 1, 1000, RetryCause::Transient, 0),
            Ok(None)
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_delay_ms(1000, 2), 1000);
        assert_eq!(backoff_delay_ms(1000, 3), 2000);
        assert_eq!(backoff_delay_ms(1000, 4), 4000);
        assert_eq!(backoff_delay_ms(0, 9), 0);
        assert_eq!(backoff_delay_ms(-5, 3), 0);
        assert_eq!(backoff_delay_ms(1000, i64::MAX), MAX_BACKOFF_MS as i64);
        assert_eq!(backoff_delay_ms(i64::MAX, 3), MAX_BACKOFF_MS as i64);
    }

    #[test]
    fn policy_from_an_agent_file() {
        assert_eq!(RetryPolicy::default().max_attempts, 1);
        assert_eq!(RetryPolicy::new(2, None).max_attempts, 3);
        assert_eq!(RetryPolicy::new(2, Some(50)).backoff_ms, 50);
        assert_eq!(
            RetryPolicy::new(u32::MAX, None).max_attempts,
            MAX_RETRIES + 1
        );
        assert_eq!(attempt_text(2, 3), "attempt 2 of 3");
    }
}
