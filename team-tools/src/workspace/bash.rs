//! The `bash` tool: `bash -c COMMAND` in the project root, in its own process group.
//!
//! Lifecycle rules:
//! - The command runs with `process_group(0)`, so it and everything it starts share one group.
//! - On timeout the whole group gets SIGKILL (`killpg`) and the call fails with
//!   [`ToolError::Timeout`] carrying the output so far.
//! - When the caller drops the future (the member is cancelled), a guard kills the group too,
//!   and `kill_on_drop` covers the shell itself.
//! - When the shell exits by itself, background jobs it started (`server &`) are left running;
//!   if they still hold stdout/stderr, output is collected for at most [`PIPE_GRACE`] more and
//!   the result says so.
//! - stdin is `/dev/null`; variables whose names match one of the hidden-environment patterns
//!   (default `*_API_KEY`) are removed from the command's environment so provider keys do not
//!   leak into tool output.
//! - With a sandbox (see `sandbox`), the shell enters the Landlock domain between fork and
//!   exec, so it and everything it starts stay in it; `TMPDIR` is the call's private
//!   temporary directory.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::task::JoinHandle;

use crate::error::ToolError;
use crate::permission::wildcard_match;

/// Bytes of stdout, and separately of stderr, that `bash` returns: the last 50 KiB of each.
pub const BASH_STREAM_CAP_BYTES: usize = 50 * 1024;
/// How long output is still collected after the shell exited while background processes keep
/// its pipes open.
pub const PIPE_GRACE: Duration = Duration::from_secs(2);
/// Default patterns of environment variable names hidden from `bash` (`*` and `?` wildcards).
pub const DEFAULT_HIDDEN_ENV: &[&str] = &["*_API_KEY"];

/// Kills a process group with SIGKILL when dropped, unless disarmed.
struct GroupKill {
    pgid: Option<Pid>,
}

impl GroupKill {
    fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // ESRCH (group already gone) is fine.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The last `cap` bytes of a stream plus how many bytes before them were dropped.
#[derive(Default)]
struct Tail {
    buf: Vec<u8>,
    dropped: u64,
}

impl Tail {
    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() > 2 * BASH_STREAM_CAP_BYTES {
            self.trim();
        }
    }

    fn trim(&mut self) {
        if self.buf.len() > BASH_STREAM_CAP_BYTES {
            let excess = self.buf.len() - BASH_STREAM_CAP_BYTES;
            self.buf.drain(..excess);
            self.dropped += excess as u64;
        }
    }

    fn render(&mut self) -> String {
        self.trim();
        if self.buf.is_empty() && self.dropped == 0 {
            return "(empty)\n".to_string();
        }
        let mut text = String::new();
        if self.dropped > 0 {
            text.push_str(&format!(
                "[first {} bytes cut; showing the last {} KiB]\n",
                self.dropped,
                BASH_STREAM_CAP_BYTES / 1024
            ));
        }
        text.push_str(&String::from_utf8_lossy(&self.buf));
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text
    }
}

fn spawn_reader<R: AsyncRead + Unpin + Send + 'static>(
    stream: Option<R>,
    tail: Arc<Mutex<Tail>>,
) -> Option<JoinHandle<()>> {
    let mut stream = stream?;
    Some(tokio::spawn(async move {
        let mut chunk = vec![0u8; 8192];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Ok(mut tail) = tail.lock() {
                        tail.push(&chunk[..n]);
                    }
                }
            }
        }
    }))
}

/// Waits up to [`PIPE_GRACE`] for the readers to reach end of file; false if they did not.
async fn drain_readers(readers: &mut [AbortOnDrop]) -> bool {
    let all = async {
        for reader in readers.iter_mut() {
            let _ = (&mut reader.0).await;
        }
    };
    tokio::time::timeout(PIPE_GRACE, all).await.is_ok()
}

fn render(status: &str, out: &Mutex<Tail>, err: &Mutex<Tail>, note: Option<&str>) -> String {
    let stdout = out.lock().map(|mut t| t.render()).unwrap_or_default();
    let stderr = err.lock().map(|mut t| t.render()).unwrap_or_default();
    let mut text = format!("{status}\nstdout:\n{stdout}stderr:\n{stderr}");
    if let Some(note) = note {
        text.push_str(note);
        text.push('\n');
    }
    text
}

/// Runs `command` with `bash -c` in `cwd`, killing its process group after `timeout`.
///
/// Returns `exit code: N` (or `killed by signal S`), then stdout and stderr, each cut to its
/// last [`BASH_STREAM_CAP_BYTES`]. A non-zero exit is a normal result, not an error.
///
/// Errors: [`ToolError::Failed`] when bash cannot be started, [`ToolError::Io`] when waiting
/// fails, [`ToolError::Timeout`] when the timeout passes.
pub(crate) async fn run_bash(
    cwd: &std::path::Path,
    command: &str,
    timeout: Duration,
    hidden_env: &[String],
    sandbox: Option<(landlock::RulesetCreated, &std::path::Path)>,
) -> Result<String, ToolError> {
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(command)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    crate::lifeline::die_with_runner(&mut cmd);
    for (name, _) in std::env::vars_os() {
        let name_text = name.to_string_lossy();
        if hidden_env.iter().any(|p| wildcard_match(p, &name_text)) {
            cmd.env_remove(&name);
        }
    }
    let sandboxed = sandbox.is_some();
    if let Some((ruleset, tmp)) = sandbox {
        cmd.env("TMPDIR", tmp);
        enter_in_child(&mut cmd, ruleset);
    }
    let mut child = cmd.spawn().map_err(|e| {
        if sandboxed && e.raw_os_error() == Some(nix::libc::EPERM) {
            ToolError::Failed(format!(
                "could not start `bash` in its sandbox ({e}): the Landlock domain could not be \
                 entered; the command was not run"
            ))
        } else {
            ToolError::Failed(format!(
                "could not start `bash`: {e}; is bash installed and on PATH?"
            ))
        }
    })?;
    let mut group = GroupKill {
        pgid: child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw),
    };
    tracing::debug!(pgid = ?group.pgid, timeout_secs = timeout.as_secs(), "bash tool started");

    let out = Arc::new(Mutex::new(Tail::default()));
    let err = Arc::new(Mutex::new(Tail::default()));
    let mut readers: Vec<AbortOnDrop> = [
        spawn_reader(child.stdout.take(), out.clone()),
        spawn_reader(child.stderr.take(), err.clone()),
    ]
    .into_iter()
    .flatten()
    .map(AbortOnDrop)
    .collect();

    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => {
            // Normal exit: leave background jobs alone.
            group.pgid = None;
            let drained = drain_readers(&mut readers).await;
            let status_line = match (
                status.code(),
                std::os::unix::process::ExitStatusExt::signal(&status),
            ) {
                (Some(code), _) => format!("exit code: {code}"),
                (None, Some(sig)) => format!("killed by signal {sig}"),
                (None, None) => "exit status unknown".to_string(),
            };
            let note = (!drained).then_some(
                "[the shell exited but background processes still hold its stdout/stderr; \
                 their later output is not shown — redirect it to a file]",
            );
            Ok(render(&status_line, &out, &err, note))
        }
        Ok(Err(e)) => Err(ToolError::io("wait for the bash command in", ".", e)),
        Err(_) => {
            group.kill();
            let _ = child.wait().await;
            drain_readers(&mut readers).await;
            tracing::debug!(
                timeout_secs = timeout.as_secs(),
                "bash tool timed out; group killed"
            );
            Err(ToolError::Timeout {
                secs: timeout.as_secs(),
                output: render("killed after timeout", &out, &err, None),
            })
        }
    }
}

/// Makes the child enter the Landlock domain of `ruleset` before it execs `bash`.
fn enter_in_child(cmd: &mut Command, ruleset: landlock::RulesetCreated) {
    let mut ruleset = Some(ruleset);
    let enter = move || -> std::io::Result<()> {
        let refused = || std::io::Error::from_raw_os_error(nix::libc::EPERM);
        let ruleset = ruleset.take().ok_or_else(refused)?;
        match ruleset.restrict_self() {
            Ok(status) if status.ruleset != landlock::RulesetStatus::NotEnforced => Ok(()),
            _ => Err(refused()),
        }
    };
    // The one unsafe block of the sandbox, with a local allow (the workspace denies
    // unsafe_code). Why it is sound: `pre_exec` runs the closure in the forked child before
    // exec, where only async-signal-safe work is allowed. The ruleset was built, and every
    // path opened, in the parent before the fork; the closure only takes it out of its
    // `Option` (a move, no allocation) and calls `restrict_self`: `prctl(PR_SET_NO_NEW_PRIVS)`,
    // `landlock_restrict_self(2)` and `close(2)` of the ruleset's descriptor, all
    // async-signal-safe; errors are built from raw errno values (no allocation, no lock).
    // A failure makes the spawn fail (fail closed): bash never runs unconfined. Re-executing
    // a small launcher instead would need a `team` binary next to every embedding program
    // (the library is used without it), so the child does it itself.
    #[allow(unsafe_code)]
    // SAFETY: see above: only async-signal-safe syscalls on data prepared before the fork.
    unsafe {
        cmd.pre_exec(enter);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_bytes_and_counts_the_rest() {
        let mut tail = Tail::default();
        let total = 3 * BASH_STREAM_CAP_BYTES + 10;
        for i in 0..total {
            tail.push(&[b'a' + (i % 26) as u8]);
        }
        let text = tail.render();
        assert!(text.starts_with(&format!(
            "[first {} bytes cut",
            total - BASH_STREAM_CAP_BYTES
        )));
        assert_eq!(tail.buf.len(), BASH_STREAM_CAP_BYTES);
        let last = b'a' + ((total - 1) % 26) as u8;
        assert_eq!(*tail.buf.last().unwrap_or(&0), last);
    }

    #[test]
    fn empty_stream_renders_as_empty() {
        assert_eq!(Tail::default().render(), "(empty)\n");
    }
}
