//! Hooks (issue 18): the `[hooks]` commands of `config.toml` run on a member's events, with
//! Claude Code's `TaskCompleted` / `TeammateIdle` semantics. A hook is `sh -c COMMAND` in the
//! project root with the event as one JSON object on stdin (`{"hook", "team_id", "member",
//! …the event's fields}`) and `TEAM_HOOK`, `TEAM_ID`, `TEAM_MEMBER`, `TEAM_LEAD`,
//! `TEAM_PROJECT_ROOT`, `TEAM_DATABASE_URL` in its environment (the runner's environment
//! besides), in its own process group, killed after `[hooks] timeout_secs`. Exit 2 blocks
//! (what that means is the caller's: see [`HookEvent`]); any other exit, a signal, a timeout
//! or a command that cannot start is logged and ignored. Every run is a `hook.ran` event
//! (`hook`, `exit_code`, `blocked`, `timed_out`, `duration_ms`, an excerpt of `stderr`).

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use team_agent::config::HookEvent;

use crate::blocking::db;
use crate::context::Context;

/// The exit code with which a hook blocks what it ran on.
pub const BLOCK_EXIT: i32 = 2;

/// Most bytes of a hook's stderr kept (feedback and the event's excerpt).
const STDERR_MAX: usize = 16 * 1024;

/// How one hook run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookRun {
    /// Its exit code (`None`: killed by a signal, timed out, or did not start).
    pub exit_code: Option<i32>,
    /// It exited with [`BLOCK_EXIT`].
    pub blocked: bool,
    /// Its stderr (at most 16 KiB), trimmed: the feedback of a block.
    pub stderr: String,
    /// It ran past the timeout and was killed.
    pub timed_out: bool,
}

/// Runs the hook of `event` for `member` of `team_id`, if one is configured, and records it
/// as a `hook.ran` event. `fields` are the event's own fields (an object). `None` when no
/// hook is set for the event.
pub(crate) async fn run(
    ctx: &Arc<Context>,
    event: HookEvent,
    team_id: &str,
    member: &str,
    fields: Value,
) -> Option<HookRun> {
    let command = ctx.runtime.hooks.command(event)?.to_owned();
    let timeout = Duration::from_secs(ctx.runtime.hooks.timeout_secs.max(1));
    let mut input = json!({"hook": event.as_str(), "team_id": team_id, "member": member});
    if let (Some(obj), Value::Object(extra)) = (input.as_object_mut(), fields) {
        obj.extend(extra);
    }
    let started = Instant::now();
    let ran = spawn_and_wait(ctx, &command, event, team_id, member, &input, timeout).await;
    let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let excerpt: String = ran.stderr.chars().take(300).collect();
    let payload = json!({
        "hook": event.as_str(),
        "exit_code": ran.exit_code,
        "blocked": ran.blocked,
        "timed_out": ran.timed_out,
        "duration_ms": ms,
        "stderr": excerpt,
    });
    if !ran.blocked && ran.exit_code != Some(0) {
        tracing::warn!(hook = event.as_str(), %member, exit = ?ran.exit_code, "hook failed (ignored): {excerpt}");
    }
    let (team, name) = (team_id.to_owned(), member.to_owned());
    let _ = db(&ctx.store, move |s| {
        s.append_event(Some(&team), Some(&name), "hook.ran", payload)
    })
    .await;
    Some(ran)
}

async fn spawn_and_wait(
    ctx: &Context,
    command: &str,
    event: HookEvent,
    team_id: &str,
    member: &str,
    input: &Value,
    timeout: Duration,
) -> HookRun {
    let failed = |e: String| HookRun {
        exit_code: None,
        blocked: false,
        stderr: e,
        timed_out: false,
    };
    // A hook acts for the member but is not one of its attempts: no TEAM_MEMBER_ATTEMPT, so
    // a `team send` it runs is not fenced to an attempt.
    let mut env = crate::turn::team_env(ctx, team_id, member, 0);
    env.remove("TEAM_MEMBER_ATTEMPT");
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(&ctx.opts.project_root)
        .envs(env)
        .env("TEAM_HOOK", event.as_str())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return failed(format!("cannot start the hook: {e}")),
    };
    let mut stdin = child.stdin.take();
    let mut stderr = child.stderr.take();
    let body = input.to_string();
    let work = async {
        if let Some(mut w) = stdin.take() {
            // A hook that does not read its stdin is fine.
            let _ = w.write_all(body.as_bytes()).await;
            let _ = w.shutdown().await;
        }
        let mut err = Vec::new();
        if let Some(r) = stderr.as_mut() {
            let _ = r.take(STDERR_MAX as u64).read_to_end(&mut err).await;
            // The rest is dropped, not left to block the hook on a full pipe.
            let _ = tokio::io::copy(r, &mut tokio::io::sink()).await;
        }
        let status = child.wait().await;
        (status, err)
    };
    match tokio::time::timeout(timeout, work).await {
        Ok((Ok(status), err)) => {
            let code = status.code();
            HookRun {
                exit_code: code,
                blocked: code == Some(BLOCK_EXIT),
                stderr: String::from_utf8_lossy(&err).trim().to_owned(),
                timed_out: false,
            }
        }
        Ok((Err(e), _)) => failed(format!("cannot wait for the hook: {e}")),
        Err(_) => {
            if let Some(pid) = child_pid(&child) {
                // The whole process group: `sh -c` and what it started.
                let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
            }
            HookRun {
                exit_code: None,
                blocked: false,
                stderr: format!(
                    "the hook ran longer than {}s and was killed",
                    timeout.as_secs()
                ),
                timed_out: true,
            }
        }
    }
}

fn child_pid(child: &tokio::process::Child) -> Option<nix::unistd::Pid> {
    child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(nix::unistd::Pid::from_raw)
}
