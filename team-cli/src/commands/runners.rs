//! `team runners` and `team runner stop`: the runners serving this database, and a clean stop
//! of one of them.
//!
//! Whether a runner is alive or lost is the one rule of `team_core::runner::runner_lost`
//! (through `team_runner::reconcile::is_lost`). A stop is always recorded in the database
//! (`Store::request_runner_stop`: a runner reads it at its next heartbeat and stops itself);
//! a runner of this host is also sent SIGTERM, which stops it at once the same way (it stops
//! claiming, cancels the members it runs, their leads are told, and marks itself stopped).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use team_core::MemberStatus;
use team_runner::reconcile::{is_lost, pid_alive, this_host};
use team_store::{Runner, now_ms};

use crate::cli::{RunnerStopArgs, RunnersArgs};
use crate::doc::{RunnerDoc, RunnerMemberDoc, RunnerState, RunnerStopDoc};
use crate::error::{CommandError, Kind, Result};
use crate::output::duration;
use crate::project::Ctx;

/// How often `team runner stop` looks whether the runners it asked have stopped.
const STOP_POLL: Duration = Duration::from_millis(50);

/// The state of runner `r` seen from `host` at `now` (ms since the epoch).
fn state(r: &Runner, host: &str, now: i64) -> RunnerState {
    if r.stopped_at_ms.is_some() {
        RunnerState::Stopped
    } else if is_lost(r, host, now) {
        RunnerState::Lost
    } else {
        RunnerState::Alive
    }
}

/// The documents of `runners`, with the members each holds (team names read once each).
fn docs(ctx: &Ctx, runners: Vec<Runner>) -> Result<Vec<RunnerDoc>> {
    let host = this_host();
    let now = now_ms();
    let mut team_names: HashMap<String, String> = HashMap::new();
    let mut out = Vec::with_capacity(runners.len());
    for r in runners {
        let state = state(&r, &host, now);
        // A stopped runner holds nothing.
        let held = if state == RunnerState::Stopped {
            Vec::new()
        } else {
            ctx.store.members_of_runner(&r.id)?
        };
        let mut members = Vec::with_capacity(held.len());
        for m in held {
            let team = match team_names.get(&m.team_id) {
                Some(n) => n.clone(),
                None => {
                    let n = ctx
                        .store
                        .resolve_team(&m.team_id)
                        .map(|t| t.name)
                        .unwrap_or_else(|_| m.team_id.clone());
                    team_names.insert(m.team_id.clone(), n.clone());
                    n
                }
            };
            members.push(RunnerMemberDoc {
                team,
                name: m.name,
                status: m.status,
            });
        }
        let slots_used = members
            .iter()
            .filter(|m| m.status == MemberStatus::Running)
            .count();
        out.push(RunnerDoc {
            id: r.id,
            host: r.host,
            pid: r.pid,
            version: r.version,
            state,
            slots_used: i64::try_from(slots_used).unwrap_or(i64::MAX),
            max_agents: r.max_agents,
            heartbeat_ms: r.heartbeat_ms,
            heartbeat_at_ms: r.heartbeat_at_ms,
            heartbeat_age_ms: now.saturating_sub(r.heartbeat_at_ms).max(0),
            started_at_ms: r.started_at_ms,
            stopped_at_ms: r.stopped_at_ms,
            stop_requested_at_ms: r.stop_requested_at_ms,
            members,
        });
    }
    Ok(out)
}

/// The human table of `runners`.
fn table(ctx: &Ctx, runners: &[RunnerDoc]) -> String {
    let rows = runners
        .iter()
        .map(|r| {
            let state = match (r.state, r.stop_requested_at_ms) {
                (RunnerState::Alive, Some(_)) => "alive (stopping)".to_owned(),
                (s, _) => s.as_str().to_owned(),
            };
            let members = r
                .members
                .iter()
                .map(|m| format!("{}/{}", m.team, m.name))
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                r.id.clone(),
                r.host.clone(),
                r.pid.to_string(),
                r.version.clone().unwrap_or_else(|| "-".into()),
                state,
                format!("{}/{}", r.slots_used, r.max_agents),
                format!("{} ago", duration(r.heartbeat_age_ms)),
                if members.is_empty() {
                    "-".into()
                } else {
                    members
                },
            ]
        })
        .collect();
    ctx.out.table(
        &[
            "id",
            "host",
            "pid",
            "version",
            "state",
            "slots",
            "heartbeat",
            "members",
        ],
        rows,
    )
}

/// `team runners`.
pub fn list(ctx: &Ctx, a: &RunnersArgs) -> Result<()> {
    let runners = docs(ctx, ctx.store.list_runners(a.all)?)?;
    if ctx.out.json {
        return ctx.out.json(&runners);
    }
    if runners.is_empty() {
        println!(
            "{}",
            if a.all {
                "no runner has served this database"
            } else {
                "no runner is running"
            }
        );
        if !a.all {
            ctx.out
                .note("`team runners --all` lists stopped runners too");
        }
        return Ok(());
    }
    println!("{}", table(ctx, &runners));
    Ok(())
}

/// The runners `team runner stop` is asked to stop: the one named, every alive one
/// (`--all`), or the only alive one.
fn targets(ctx: &Ctx, a: &RunnerStopArgs) -> Result<Vec<Runner>> {
    let host = this_host();
    let now = now_ms();
    let all = ctx.store.list_runners(true)?;
    if let Some(id) = &a.id {
        return match all.into_iter().find(|r| &r.id == id) {
            Some(r) => Ok(vec![r]),
            None => Err(CommandError::new(Kind::NotFound, format!("no runner {id}"))
                .hint("`team runners` lists the runners (`--all`: stopped ones too)")),
        };
    }
    let alive: Vec<Runner> = all
        .into_iter()
        .filter(|r| state(r, &host, now) == RunnerState::Alive)
        .collect();
    if a.all || alive.len() <= 1 {
        return Ok(alive);
    }
    let ids: Vec<&str> = alive.iter().map(|r| r.id.as_str()).collect();
    Err(CommandError::usage(format!(
        "{} runners are alive ({}): name one, or pass --all",
        alive.len(),
        ids.join(", ")
    ))
    .hint("`team runners` lists them with their hosts and members"))
}

/// `team runner stop`.
pub fn stop(ctx: &Ctx, a: &RunnerStopArgs) -> Result<()> {
    let host = this_host();
    let mut asked = Vec::new();
    for r in targets(ctx, a)? {
        match state(&r, &host, now_ms()) {
            RunnerState::Stopped => {
                ctx.out.note(format!("runner {} was already stopped", r.id));
            }
            RunnerState::Lost => {
                ctx.out.note(format!(
                    "runner {} is lost (pid {} on {}), not running: nothing to stop; \
                     `team reconcile` fails the members it held",
                    r.id, r.pid, r.host
                ));
            }
            RunnerState::Alive => {
                ctx.store.request_runner_stop(&r.id)?;
                let signalled = r.host == host && !a.no_signal && {
                    match i32::try_from(r.pid) {
                        Ok(pid) => match kill(Pid::from_raw(pid), Signal::SIGTERM) {
                            Ok(()) => true,
                            // Gone meanwhile: the wait below sees it.
                            Err(nix::errno::Errno::ESRCH) => false,
                            Err(e) => {
                                ctx.out.note(format!(
                                    "cannot signal runner {} (pid {}): {e}; it stops at its \
                                     next heartbeat",
                                    r.id, r.pid
                                ));
                                false
                            }
                        },
                        Err(_) => false,
                    }
                };
                ctx.out.note(if signalled {
                    format!("runner {} (pid {}): sent SIGTERM", r.id, r.pid)
                } else {
                    format!(
                        "runner {} (pid {} on {}): stop requested; it stops at its next \
                         heartbeat (every {})",
                        r.id,
                        r.pid,
                        r.host,
                        duration(r.heartbeat_ms)
                    )
                });
            }
        }
        asked.push(r.id);
    }
    if asked.is_empty() {
        ctx.out.note("no runner is running: nothing to stop");
    }
    let stopped = wait_stopped(ctx, &asked, a.timeout)?;
    let runners = docs(ctx, stopped)?;
    if ctx.out.json {
        return ctx.out.json(&RunnerStopDoc { runners });
    }
    for r in &runners {
        println!("runner {} {}", r.id, r.state.as_str());
    }
    Ok(())
}

/// Waits until every runner of `ids` is stopped or lost, and its process is gone when it ran
/// on this host; returns their rows. A timeout error (exit 124) after `timeout`.
fn wait_stopped(ctx: &Ctx, ids: &[String], timeout: Duration) -> Result<Vec<Runner>> {
    let host = this_host();
    let until = Instant::now() + timeout;
    loop {
        let rows: Vec<Runner> = ctx
            .store
            .list_runners(true)?
            .into_iter()
            .filter(|r| ids.contains(&r.id))
            .collect();
        let now = now_ms();
        let live: Vec<&Runner> = rows
            .iter()
            .filter(|r| {
                state(r, &host, now) == RunnerState::Alive
                    || (r.host == host && pid_alive(r.pid) && r.stopped_at_ms.is_some())
            })
            .collect();
        if live.is_empty() {
            return Ok(rows);
        }
        if Instant::now() >= until {
            let which: Vec<String> = live
                .iter()
                .map(|r| format!("{} (pid {} on {})", r.id, r.pid, r.host))
                .collect();
            return Err(CommandError::new(
                Kind::Timeout,
                format!(
                    "not stopped after {}: {}",
                    duration(i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX)),
                    which.join(", ")
                ),
            )
            .hint("the stop stays requested; `team runners` shows whether it has stopped since")
            .hint("a background runner logs to .team/runner.log; `kill -9 PID` ends it at once, then `team reconcile` fails what it held"));
        }
        std::thread::sleep(STOP_POLL);
    }
}
