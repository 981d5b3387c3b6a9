//! Reconciliation: what a crashed runner or a killed foreground process left behind.
//!
//! On every runner start and with `team reconcile`:
//! - a runner is **lost** when its pid is dead on this host, or, on another host, when its
//!   heartbeat is older than three periods; each running or idle member it held becomes
//!   `failed` with the error `runner lost` (the lead gets `[AGENT FAILURE] name: runner lost`
//!   and the member's tasks cascade), and the runner is marked stopped;
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
use team_store::{Outcome, Store, StoreError, now_ms};

/// The error a member of a lost runner ends with.
pub const RUNNER_LOST: &str = "runner lost";

/// What a reconciliation changed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReconcileReport {
    /// Ids of runners found lost.
    pub runners_lost: Vec<String>,
    /// `team/member` of each member failed with `runner lost`.
    pub members_failed: Vec<String>,
    /// Names of teams failed because their owner process is gone.
    pub teams_failed: Vec<String>,
}

impl ReconcileReport {
    /// True when nothing was changed.
    pub fn is_empty(&self) -> bool {
        self.runners_lost.is_empty()
            && self.members_failed.is_empty()
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

/// Reconciles the database; `me` is the calling runner (never reconciled), `heartbeat` the
/// heartbeat period of runners.
///
/// # Errors
/// A store error; what was done before it stays done (each step is its own transaction).
pub fn reconcile(
    store: &Store,
    me: Option<&str>,
    heartbeat: Duration,
) -> Result<ReconcileReport, StoreError> {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let now = now_ms();
    let stale_ms = 3 * heartbeat.as_millis() as i64;
    let mut report = ReconcileReport::default();
    for r in store.list_runners(false)? {
        if Some(r.id.as_str()) == me {
            continue;
        }
        let lost = if r.host == host {
            !pid_alive(r.pid)
        } else {
            now - r.heartbeat_at_ms > stale_ms
        };
        if !lost {
            continue;
        }
        for m in store.members_of_runner(&r.id)? {
            match store.finish_member(&m.team_id, &m.name, &Outcome::Failed(RUNNER_LOST.into())) {
                Ok(_) => report
                    .members_failed
                    .push(format!("{}/{}", m.team_id, m.name)),
                Err(StoreError::Illegal(_)) => {}
                Err(e) => return Err(e),
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
        let reason = format!("owner process {pid} is gone");
        match store.end_team(&t.id, TeamEvent::Fail, &reason) {
            Ok(_) => report.teams_failed.push(t.name),
            Err(StoreError::Illegal(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}
