//! When a runner is lost: the one rule every process applies (a runner reconciling the others,
//! `team wait`, `team watch`, `team reconcile`, `team spawn` deciding whether a runner serves
//! the project).
//!
//! A runner is **lost** when
//! - it runs on this host and its pid is dead (a `kill -9`, a crash, a reboot), or
//! - its heartbeat is older than [`LOST_AFTER_PERIODS`] of its own heartbeat periods
//!   (a runner on another host, a frozen process, a recycled pid).
//!
//! A runner stopped cleanly is never lost (it holds nothing).

/// How many heartbeat periods without a heartbeat make a runner lost.
pub const LOST_AFTER_PERIODS: i64 = 3;

/// What the rule needs to know of a runner (a row of the `runners` table plus one look at
/// the process table, done by the caller: this crate does no IO).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunnerSighting<'a> {
    /// The host it registered from.
    pub host: &'a str,
    /// Whether its pid exists (and is not a zombie) on the caller's host; only read when
    /// `host` is the caller's host.
    pub pid_alive: bool,
    /// Its last heartbeat, ms since the epoch.
    pub heartbeat_at_ms: i64,
    /// Its heartbeat period in ms (recorded by the runner itself; values below 1 count as 1).
    pub heartbeat_ms: i64,
    /// Whether it stopped cleanly (`stopped_at_ms` set).
    pub stopped: bool,
}

/// True when `runner` is lost, seen from `my_host` at `now_ms` (see the module docs).
///
/// ```
/// use team_core::runner::{RunnerSighting, runner_lost};
/// let r = RunnerSighting { host: "a", pid_alive: false, heartbeat_at_ms: 1_000,
///     heartbeat_ms: 2_000, stopped: false };
/// assert!(runner_lost(&r, "a", 1_000)); // dead pid on this host
/// assert!(!runner_lost(&r, "b", 7_000)); // elsewhere, within three periods
/// assert!(runner_lost(&r, "b", 7_001)); // elsewhere, heartbeat too old
/// ```
pub fn runner_lost(runner: &RunnerSighting<'_>, my_host: &str, now_ms: i64) -> bool {
    if runner.stopped {
        return false;
    }
    if runner.host == my_host && !runner.pid_alive {
        return true;
    }
    let limit = LOST_AFTER_PERIODS.saturating_mul(runner.heartbeat_ms.max(1));
    now_ms.saturating_sub(runner.heartbeat_at_ms) > limit
}

/// The first time (ms since the epoch) at which a runner whose last heartbeat was at
/// `heartbeat_at_ms`, with a period of `heartbeat_ms`, is lost by its heartbeat's age (one ms
/// past [`LOST_AFTER_PERIODS`] periods, the rule of [`runner_lost`]). A surviving runner
/// schedules its next look at the others for the earliest of these, rather than waiting for
/// its own next heartbeat (up to one period more).
///
/// ```
/// use team_core::runner::{RunnerSighting, lost_at_ms, runner_lost};
/// assert_eq!(lost_at_ms(1_000, 2_000), 7_001);
/// let r = RunnerSighting { host: "a", pid_alive: true, heartbeat_at_ms: 1_000,
///     heartbeat_ms: 2_000, stopped: false };
/// assert!(!runner_lost(&r, "b", lost_at_ms(1_000, 2_000) - 1));
/// assert!(runner_lost(&r, "b", lost_at_ms(1_000, 2_000)));
/// ```
pub fn lost_at_ms(heartbeat_at_ms: i64, heartbeat_ms: i64) -> i64 {
    heartbeat_at_ms
        .saturating_add(LOST_AFTER_PERIODS.saturating_mul(heartbeat_ms.max(1)))
        .saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(host: &str, pid_alive: bool, beat: i64) -> RunnerSighting<'_> {
        RunnerSighting {
            host,
            pid_alive,
            heartbeat_at_ms: beat,
            heartbeat_ms: 100,
            stopped: false,
        }
    }

    #[test]
    fn dead_pid_on_this_host_is_lost_at_once() {
        assert!(runner_lost(&r("h", false, 1000), "h", 1000));
    }

    #[test]
    fn dead_pid_elsewhere_is_not_known() {
        assert!(!runner_lost(&r("other", false, 1000), "h", 1300));
    }

    #[test]
    fn stale_heartbeat_is_lost_anywhere() {
        assert!(runner_lost(&r("other", true, 1000), "h", 1301));
        assert!(runner_lost(&r("h", true, 1000), "h", 1301));
        assert!(!runner_lost(&r("h", true, 1000), "h", 1300));
    }

    #[test]
    fn lost_at_is_the_first_ms_the_rule_says_lost() {
        for (beat, period) in [(1000, 100), (0, 1), (5, 0), (-7, 3)] {
            let s = RunnerSighting {
                heartbeat_ms: period,
                ..r("other", true, beat)
            };
            let at = lost_at_ms(beat, period);
            assert!(!runner_lost(&s, "h", at - 1), "{beat} {period}");
            assert!(runner_lost(&s, "h", at), "{beat} {period}");
        }
        assert_eq!(lost_at_ms(i64::MAX, i64::MAX), i64::MAX);
    }

    #[test]
    fn stopped_is_never_lost() {
        let s = RunnerSighting {
            stopped: true,
            ..r("h", false, 0)
        };
        assert!(!runner_lost(&s, "h", i64::MAX));
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let s = RunnerSighting {
            heartbeat_ms: i64::MAX,
            ..r("x", true, i64::MIN)
        };
        assert!(!runner_lost(&s, "h", i64::MAX));
        let s = RunnerSighting {
            heartbeat_ms: 0,
            ..r("x", true, 0)
        };
        assert!(runner_lost(&s, "h", 4));
    }
}
