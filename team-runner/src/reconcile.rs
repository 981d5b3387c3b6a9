//! Reconciliation: what a crashed runner or a killed foreground process left behind.
//!
//! On every runner start, on every heartbeat of every live runner and when the oldest other
//! runner's heartbeat turns three of its periods old ([`ReconcileReport::next_check_at_ms`]),
//! in `team wait`, `team watch` and `team run` when they see a lost runner, and with
//! `team reconcile`:
//! - a runner is **lost** by [`team_core::runner::runner_lost`]: its pid is dead on this host,
//!   or its heartbeat is older than three of its own periods; each running or idle member it
//!   held goes back to `pending` for its next attempt when its agent's retry policy has one
//!   left (`team_core::retry`: `member.retried`, its tasks released, no notice), else becomes
//!   `failed` with the error `runner lost` (the lead gets
//!   `[AGENT FAILURE] name: runner lost` and the member's tasks cascade), what is left of the
//!   member's process group is killed when the runner's process is gone from this host (see
//!   [`team_tools::lifeline`]), and the runner is marked stopped;
//! - an active team whose foreground owner (`team run`, foreground `team spawn`) is gone from
//!   this host becomes `failed`, which cancels what is still live and tells every member.
//!
//! Nothing else is touched: pending members stay queued, members driven from a shell stay.

use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use serde::Serialize;
use team_core::TeamEvent;
use team_core::retry::RetryCause;
use team_store::{Progress, Retried, Runner, Store, StoreError, now_ms};

/// The error a member of a lost runner ends with.
pub const RUNNER_LOST: &str = team_core::resume::RUNNER_LOST;

/// What a reconciliation changed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReconcileReport {
    /// Ids of runners found lost.
    pub runners_lost: Vec<String>,
    /// `team/member` of each member failed with `runner lost`.
    pub members_failed: Vec<String>,
    /// `team/member` of each member of a lost runner that went back to `pending` for its
    /// next attempt (its agent's `retries:`).
    pub members_retried: Vec<String>,
    /// Names of teams failed because their owner process is gone.
    pub teams_failed: Vec<String>,
    /// The earliest time (ms since the epoch) at which one of the live runners judged here
    /// becomes lost if it writes no heartbeat before ([`team_core::runner::lost_at_ms`]): when
    /// a surviving runner looks again (see the engine's heartbeat). `None` when no other
    /// runner is live.
    #[serde(skip)]
    pub next_check_at_ms: Option<i64>,
    /// The earliest time (ms since the epoch) at which a member retried here may be claimed
    /// (the end of its backoff): when the caller's own claim loop should look at the queue.
    /// `None` when none was retried.
    #[serde(skip)]
    pub claimable_at_ms: Option<i64>,
}

impl ReconcileReport {
    /// True when nothing was changed.
    pub fn is_empty(&self) -> bool {
        self.runners_lost.is_empty()
            && self.members_failed.is_empty()
            && self.members_retried.is_empty()
            && self.teams_failed.is_empty()
    }
}

/// True when a process with this pid exists on this host (a permission error still means it
/// exists).
pub fn pid_alive(pid: i64) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    match kill(Pid::from_raw(pid), None) {
        Ok(()) | Err(Errno::EPERM) => {
            // A zombie is dead for our purposes.
            !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                s.rsplit(')')
                    .next()
                    .is_some_and(|rest| rest.trim_start().starts_with('Z'))
            })
        }
        Err(_) => false,
    }
}

/// True when runner `r` is lost, seen from this process now (the rule is
/// [`team_core::runner::runner_lost`]; this adds the look at the process table).
pub fn is_lost(r: &Runner, host: &str, now_ms: i64) -> bool {
    r.is_lost(r.host != host || pid_alive(r.pid), host, now_ms)
}

/// This host's name, as runners register it.
pub fn this_host() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// True when a runner that is not stopped is lost (one cheap read): the test `team wait` and
/// `team watch` make before they reconcile.
///
/// # Errors
/// A store error.
pub fn any_runner_lost(store: &Store) -> Result<bool, StoreError> {
    let host = this_host();
    let now = now_ms();
    Ok(store
        .list_runners(false)?
        .iter()
        .any(|r| is_lost(r, &host, now)))
}

/// Kills what is left of the agent processes of member `name` of team `team_id`, whose runner
/// died on this host: the first process died with the runner (see [`team_tools::lifeline`]), but
/// a background job or the program it was waiting for may live on. They are found by the
/// environment every agent process inherits (`TEAM_ID`, `TEAM_MEMBER`), not by a recorded
/// pid (the runner may have died before it recorded one, and a recycled pid is never hit);
/// each one's process group gets SIGKILL.
fn kill_leftovers(team_id: &str, name: &str) {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    let want_team = format!("TEAM_ID={team_id}");
    let want_member = format!("TEAM_MEMBER={name}");
    let own_group = nix::unistd::getpgrp().as_raw();
    let mut groups = std::collections::BTreeSet::new();
    for e in procs.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let ours = std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
            let vars: Vec<&[u8]> = env.split(|b| *b == 0).collect();
            vars.contains(&want_team.as_bytes()) && vars.contains(&want_member.as_bytes())
        });
        if !ours {
            continue;
        }
        // The process group is the third field after the command name (in parentheses).
        let group = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|st| {
                st.rsplit(')')
                    .next()
                    .and_then(|rest| rest.split_whitespace().nth(2))
                    .and_then(|g| g.parse::<i32>().ok())
            });
        match group {
            Some(g) if g > 1 && g != own_group => {
                groups.insert(g);
            }
            // Not in a group of its own: only the process itself.
            _ => {
                let _ = kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
    for g in groups {
        let _ = nix::sys::signal::killpg(Pid::from_raw(g), nix::sys::signal::Signal::SIGKILL);
    }
}

/// Reconciles the database; `me` is the calling runner (never reconciled). `_heartbeat` is
/// kept for callers; each runner is judged by its own recorded period.
///
/// # Errors
/// A store error; what was done before it stays done (each step is its own transaction).
pub fn reconcile(
    store: &Store,
    me: Option<&str>,
    _heartbeat: Duration,
) -> Result<ReconcileReport, StoreError> {
    reconcile_runners(store, me, true)
}

/// [`reconcile`], with `stale_too = false` to judge runners by a dead pid only (a runner
/// whose own database connection was not steadily up for three periods cannot trust that
/// another runner's old heartbeat means more than the same outage).
///
/// # Errors
/// As [`reconcile`].
pub fn reconcile_runners(
    store: &Store,
    me: Option<&str>,
    stale_too: bool,
) -> Result<ReconcileReport, StoreError> {
    let host = this_host();
    let now = now_ms();
    let mut report = ReconcileReport::default();
    for r in store.list_runners(false)? {
        if Some(r.id.as_str()) == me {
            continue;
        }
        let lost = if stale_too {
            is_lost(&r, &host, now)
        } else {
            r.host == host && !pid_alive(r.pid)
        };
        if !lost {
            let at = team_core::runner::lost_at_ms(r.heartbeat_at_ms, r.heartbeat_ms);
            report.next_check_at_ms = Some(report.next_check_at_ms.map_or(at, |n| n.min(at)));
            continue;
        }
        // Only a runner whose process is gone leaves agents without a parent; a live runner
        // with an old heartbeat (frozen, or its database slow) cancels its own agents when
        // its poller sees their members ended.
        let dead = r.host == host && !pid_alive(r.pid);
        for m in store.members_of_runner(&r.id)? {
            match store.retry_member(
                &m.team_id,
                &m.name,
                RetryCause::RunnerLost,
                RUNNER_LOST,
                &Progress::default(),
                // The attempt read here: another process that reconciled it first moved it on.
                Some(m.attempt),
            ) {
                Ok(Retried::Retried { not_before_ms, .. }) => {
                    report.claimable_at_ms = Some(
                        report
                            .claimable_at_ms
                            .map_or(not_before_ms, |c| c.min(not_before_ms)),
                    );
                    report
                        .members_retried
                        .push(format!("{}/{}", m.team_id, m.name));
                }
                Ok(Retried::Failed(_)) => report
                    .members_failed
                    .push(format!("{}/{}", m.team_id, m.name)),
                Err(StoreError::Illegal(_)) => {}
                Err(e) => return Err(e),
            }
            if dead {
                kill_leftovers(&m.team_id, &m.name);
            }
        }
        store.append_event(
            None,
            None,
            "runner.lost",
            serde_json::json!({"runner": r.id, "pid": r.pid, "host": r.host}),
        )?;
        store.stop_runner(&r.id)?;
        report.runners_lost.push(r.id);
    }
    for t in store.owned_teams()? {
        let (Some(pid), Some(owner_host)) = (t.owner_pid, t.owner_host.as_deref()) else {
            continue;
        };
        if owner_host != host || pid_alive(pid) || i64::from(std::process::id()) == pid {
            continue;
        }
        let reason = team_core::resume::owner_lost(pid);
        match store.end_team(&t.id, TeamEvent::Fail, &reason) {
            Ok(_) => report.teams_failed.push(t.name),
            Err(StoreError::Illegal(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}
