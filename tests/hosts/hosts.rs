//! What the multi-host tests share: runners started inside a simulated host, `team` run
//! inside one, the runners' rows by host, and the agent processes of a project seen from
//! outside every host.

use std::process::{Child, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
pub use team_testkit::host::{Host, Proxy};

use crate::support::{Project, eventually, stderr, stdout};

/// A `team runner` started inside a host; the host's death (or the runner's own exit) ends
/// it. Its output goes to `<root>/<host>.log`.
pub struct HostRunner {
    /// `nsenter`, waiting for the runner (its exit status is the runner's).
    pub child: Child,
    /// The host's name.
    pub host: String,
    /// Where its stdout and stderr go.
    pub log: std::path::PathBuf,
}

impl HostRunner {
    /// Its output so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for HostRunner {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Starts `team runner ARGS` inside `host` (on the project's database, or on `db_url` when
/// given: a proxy's), and waits until it serves.
#[track_caller]
pub fn start_runner(p: &Project, host: &Host, args: &[&str], db_url: Option<&str>) -> HostRunner {
    start_runner_with(p, host, args, db_url, &[])
}

/// [`start_runner`] with the variables `env` (`NAME`, value) set for the runner.
#[track_caller]
pub fn start_runner_with(
    p: &Project,
    host: &Host,
    args: &[&str],
    db_url: Option<&str>,
    env: &[(&str, &str)],
) -> HostRunner {
    let log = p.path(&format!("{}.log", host.name()));
    let out = std::fs::File::create(&log).expect("runner log");
    let mut cmd = p.cmd();
    cmd.arg("runner").args(args);
    if let Some(url) = db_url {
        cmd.env("TEAM_DATABASE_URL", url);
    }
    cmd.envs(env.iter().copied());
    let child = host
        .wrap(&cmd)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log handle"))
        .stderr(out)
        .spawn()
        .expect("start team runner in a host");
    let mut r = HostRunner {
        child,
        host: host.name().to_owned(),
        log,
    };
    eventually(Duration::from_secs(60), "the runner to serve", || {
        if let Ok(Some(s)) = r.child.try_wait() {
            panic!(
                "team runner on {} exited early ({s}):\n{}",
                r.host,
                r.log_text()
            );
        }
        r.log_text().contains(" serving ").then_some(())
    });
    r
}

/// Runs `team ARGS` inside `host` to its end (at most 60 s).
#[track_caller]
pub fn run_in(p: &Project, host: &Host, args: &[&str]) -> Output {
    let mut cmd = p.cmd();
    cmd.args(args);
    let mut c = assert_cmd::Command::from_std(host.wrap(&cmd));
    c.timeout(Duration::from_secs(60));
    c.output().expect("run team in a host")
}

/// `team --json runners --all`.
#[track_caller]
pub fn runners(p: &Project) -> Vec<Value> {
    p.json(&["runners", "--all"])
        .as_array()
        .expect("runners --json is an array")
        .clone()
}

/// The runner rows registered from `host`.
#[track_caller]
pub fn runners_on(p: &Project, host: &str) -> Vec<Value> {
    runners(p)
        .into_iter()
        .filter(|r| r["host"] == host)
        .collect()
}

/// Pids (as this test sees them) of the live processes whose environment has every one of
/// `vars` (`NAME=value`): agent processes are told apart by `TEAM_PROJECT_ROOT`,
/// `TEAM_MEMBER` and `TEAM_MEMBER_ATTEMPT`, whatever host they run on.
pub fn processes_with(vars: &[String]) -> Vec<i32> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                let have: Vec<&[u8]> = env.split(|b| *b == 0).collect();
                vars.iter().all(|v| have.contains(&v.as_bytes()))
            }) && crate::support::alive(*pid)
        })
        .collect()
}

/// Asserts that `out` succeeded.
#[track_caller]
pub fn assert_ok(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "`{what}` failed: {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
}

/// Percentile `q` (0..=1) of `xs` (sorted here).
pub fn percentile(xs: &mut [i64], q: f64) -> i64 {
    xs.sort_unstable();
    if xs.is_empty() {
        return 0;
    }
    let i = ((xs.len() - 1) as f64 * q).round() as usize;
    xs[i]
}
