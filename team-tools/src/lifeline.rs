//! Agent processes die with their runner.
//!
//! A command agent (and a `bash` tool call of an LLM member) runs in a process group of its
//! own, so that a cancel or a timeout kills everything it started. If the runner itself is
//! killed (`kill -9`, the OOM killer, a crash) nobody sends that signal, and the agent would
//! go on acting for a member the next reconciliation marks `failed` (issue 14: "fencing").
//! Two measures close that:
//!
//! 1. [`die_with_runner`]: the agent's first process asks the kernel for `SIGKILL` when its
//!    parent dies (`PR_SET_PDEATHSIG`), and checks, after asking, that its parent is still the
//!    runner (a runner that died between the fork and the request would otherwise be missed);
//!    if not, it does not start. The signal follows the *thread* that forked the child, and
//!    the runner spawns agents from its tokio worker threads (or the main thread), which live
//!    as long as the runtime, so it fires when the runner process dies.
//! 2. The rest of the group (a `sleep` the agent's shell was waiting for, a background job)
//!    is killed by the reconciliation that notices the lost runner ([`crate::reconcile`]:
//!    the processes whose environment names the lost member, `TEAM_ID` and `TEAM_MEMBER`,
//!    and their process groups, on the runner's host), at the next heartbeat of a live
//!    runner or the next look of `team wait` / `team watch`.

use nix::sys::signal::Signal;

/// Makes the first process of `cmd` receive `SIGKILL` when this process dies, and refuses to
/// start it (the spawn fails with an error) when this process is already gone by the time the
/// child runs.
pub fn die_with_runner(cmd: &mut tokio::process::Command) {
    let runner = nix::unistd::getpid();
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed: `prctl` and `getppid` are plain system calls that
    // neither allocate nor take locks; the error path builds an `io::Error` from an errno
    // code (no allocation).
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
                .map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
            if nix::unistd::getppid() != runner {
                return Err(std::io::Error::from_raw_os_error(
                    nix::errno::Errno::ESRCH as i32,
                ));
            }
            Ok(())
        });
    }
}
