//! Test support for the runner tests: a project in a temp directory (SQLite `.team/team.db`, or
//! a fresh schema in the PostgreSQL server named by `TEAM_TEST_DATABASE_URL`: team-testkit's
//! [`team_testkit::Project`]), shell-script agents written into it, and guards that never let a
//! runner or an agent process outlive its test. A test that runs on both engines is an
//! `rstest` with the cases `sqlite` and `postgres` of [`Backend`] (see `tests/it/support.rs`).
//!
//! Every agent script starts with a prelude that appends `MEMBER PID` to `<root>/pids.log`; when
//! a [`Project`] is dropped, every process group listed there that still runs *in this project*
//! (checked through `/proc/PID/environ`) is killed. Runners started by a test are held by
//! [`Proc`] (a child) or [`ForeignPid`] (a detached runner), which stop them on drop.

use std::ops::Deref;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use rstest::rstest;
use serde_json::Value;
pub use team_testkit::Backend;
use team_testkit::process::{assert_success, parse_json};
pub use team_testkit::process::{stderr, stdout};

/// Longest any single short `team` call may take before the test fails instead of hanging.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The `team` binary built by cargo for this test run.
pub fn bin() -> PathBuf {
    team_testkit::project::team_bin()
}

/// Wall-clock time in ms since the epoch (the unit of `*_at_ms` fields).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// Sends `signal` (a name such as `INT`, `TERM`, `KILL`) to `target` (a pid, or `-PGID` for a
/// process group) with `kill(1)`; errors (no such process) are ignored.
pub fn signal(target: &str, signal: &str) {
    let _ = Command::new("kill")
        .args(["-s", signal, "--", target])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// True when process `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and may hold spaces.
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Polls `f` every 20 ms until it returns `Some`, or panics with `what` after `timeout`.
#[track_caller]
pub fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits up to `timeout` for `child` to exit.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if start.elapsed() >= timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A long-lived child process (a foreground `team runner`) that is stopped when dropped:
/// SIGTERM, then SIGKILL after 5 s.
pub struct Proc {
    /// The child.
    pub child: Child,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

impl Proc {
    /// Its pid.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Its output so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        signal(&self.pid().to_string(), "TERM");
        if wait_timeout(&mut self.child, Duration::from_secs(5)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A process this test started but is not the parent of (a detached runner); stopped when
/// dropped: SIGTERM, then SIGKILL after 5 s.
pub struct ForeignPid(pub i32);

impl Drop for ForeignPid {
    fn drop(&mut self) {
        if !alive(self.0) {
            return;
        }
        signal(&self.0.to_string(), "TERM");
        let start = Instant::now();
        while alive(self.0) && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        signal(&self.0.to_string(), "KILL");
    }
}

/// A project directory with `team init` done: team-testkit's [`team_testkit::Project`] (root,
/// backend, commands with a clean environment) with the calls below. Dropping it kills the
/// agent processes that are still running in it (see the module docs), then removes the
/// directory (and the schema).
pub struct Project {
    inner: team_testkit::Project,
    /// `TEAM_HEARTBEAT_MS` for every `team` this project runs (see [`Project::heartbeat_ms`]).
    heartbeat_ms: std::cell::Cell<Option<u64>>,
}

impl Deref for Project {
    type Target = team_testkit::Project;

    fn deref(&self) -> &team_testkit::Project {
        &self.inner
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        self.kill_agents();
    }
}

impl Project {
    /// A project on SQLite.
    pub fn sqlite() -> Project {
        Self::with(team_testkit::Project::sqlite())
    }

    /// A project on `backend`, or `None` when it is PostgreSQL and the PostgreSQL variants are
    /// skipped.
    pub fn on(backend: Backend) -> Option<Project> {
        team_testkit::Project::on(backend).map(Self::with)
    }

    fn with(inner: team_testkit::Project) -> Project {
        Project {
            inner,
            heartbeat_ms: std::cell::Cell::new(None),
        }
    }

    /// A file under the root as text; empty when it does not exist.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_default()
    }

    /// The non-empty lines of a file under the root.
    pub fn lines(&self, rel: &str) -> Vec<String> {
        self.read(rel)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Gives every runner this project starts from now on (and every other `team` call) a
    /// heartbeat period of `ms` (`TEAM_HEARTBEAT_MS`), so that a lost runner is noticed within
    /// three such periods.
    pub fn heartbeat_ms(&self, ms: u64) {
        self.heartbeat_ms.set(Some(ms));
    }

    /// Writes `.team/config.toml`.
    pub fn config(&self, toml: &str) {
        std::fs::write(self.path(".team/config.toml"), toml).expect("write config");
    }

    /// Writes agent `name` (`.team/agents/NAME.md`) running `bash SCRIPT`, where the script
    /// file holds a prelude (sets `TEAM_BIN` to the absolute path of `team`, `ROOT` to the
    /// project root, and logs `MEMBER PID` to `pids.log`) followed by `body`.
    pub fn agent(&self, name: &str, body: &str) {
        let scripts = self.path("scripts");
        std::fs::create_dir_all(&scripts).expect("mkdir scripts");
        let script = scripts.join(format!("{name}.sh"));
        let text = format!(
            "set -u\nTEAM_BIN={bin}\nROOT=\"$TEAM_PROJECT_ROOT\"\necho \"$TEAM_MEMBER $$\" >> \"$ROOT/pids.log\"\n{body}\n",
            bin = sh_quote(&bin().to_string_lossy()),
        );
        std::fs::write(&script, text).expect("write agent script");
        let argv = serde_json::to_string(&["bash", &script.to_string_lossy()]).unwrap();
        self.agent_file(
            name,
            &format!("---\ndescription: test agent {name}\ncommand: {argv}\n---\nA test agent.\n"),
        );
    }

    /// Writes `.team/agents/NAME.md` verbatim.
    pub fn agent_file(&self, name: &str, text: &str) {
        std::fs::write(self.path(&format!(".team/agents/{name}.md")), text)
            .expect("write agent file");
    }

    /// `team` in the project directory with a clean environment (team-testkit's
    /// [`team_testkit::Project::std_command`]: the project's database, an empty user config
    /// directory, no log filter, no colour) and the heartbeat set by [`Project::heartbeat_ms`].
    pub fn cmd(&self) -> Command {
        let mut c = self.std_command();
        if let Some(ms) = self.heartbeat_ms.get() {
            c.env("TEAM_HEARTBEAT_MS", ms.to_string());
        }
        c
    }

    /// Runs `team ARGS` to its end (at most [`CALL_TIMEOUT`]) and returns its output.
    #[track_caller]
    pub fn run(&self, args: &[&str]) -> Output {
        let mut c = assert_cmd::Command::from_std(self.cmd());
        c.timeout(CALL_TIMEOUT);
        c.args(args).output().expect("run team")
    }

    /// Runs `team ARGS`, asserts exit 0, returns stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_success(&format!("team {}", args.join(" ")), &o);
        stdout(&o)
    }

    /// Runs `team --json ARGS`, asserts exit 0, parses stdout.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        parse_json(&format!("team {}", all.join(" ")), &out)
    }

    /// The members of `team` (lead included), from `team show --json`.
    #[track_caller]
    pub fn members(&self, team: &str) -> Vec<Value> {
        self.json(&["show", team])["members"]
            .as_array()
            .expect("show --json has members")
            .clone()
    }

    /// Member `name` of `team`, from `team show --json`.
    #[track_caller]
    pub fn member(&self, team: &str, name: &str) -> Value {
        self.members(team)
            .into_iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("no member {name} in team {team}"))
    }

    /// The status of member `name` of `team`.
    #[track_caller]
    pub fn status(&self, team: &str, name: &str) -> String {
        self.member(team, name)["status"]
            .as_str()
            .expect("status is a string")
            .to_owned()
    }

    /// The unread messages of `member` of `team`, peeked (not consumed).
    #[track_caller]
    pub fn peek(&self, team: &str, member: &str) -> Vec<Value> {
        self.json(&["inbox", team, member, "--peek"])
            .as_array()
            .expect("inbox --json is an array")
            .clone()
    }

    /// `team spawn TEAM AGENT --prompt PROMPT --background [EXTRA]`; returns the member name
    /// and the pid of the detached runner it started, if it started one.
    #[track_caller]
    pub fn spawn_bg(&self, team: &str, agent: &str, prompt: &str, extra: &[&str]) -> Spawned {
        let mut args = vec!["spawn", team, agent, "--prompt", prompt, "--background"];
        args.extend_from_slice(extra);
        let o = self.run(&args);
        assert!(
            o.status.success(),
            "`team {}` failed with {:?}\nstderr: {}",
            args.join(" "),
            o.status.code(),
            stderr(&o)
        );
        let name = stdout(&o).trim().to_owned();
        assert!(
            !name.is_empty(),
            "spawn --background prints the member name"
        );
        Spawned {
            name,
            runner_pid: started_runner_pid(&stderr(&o)),
        }
    }

    /// Starts `team runner ARGS` as a child (output to `<root>/NAME.log`) and waits until it
    /// is registered and serving.
    #[track_caller]
    pub fn start_runner(&self, name: &str, args: &[&str]) -> Proc {
        let log = self.path(&format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("runner log");
        let child = self
            .cmd()
            .arg("runner")
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start team runner");
        let mut proc = Proc { child, log };
        eventually(Duration::from_secs(30), "the runner to serve", || {
            if let Ok(Some(s)) = proc.child.try_wait() {
                panic!("team runner exited early ({s}):\n{}", proc.log_text());
            }
            proc.log_text().contains(" serving ").then_some(())
        });
        proc
    }

    /// Kills every agent process group of this project still alive (see the module docs).
    pub fn kill_agents(&self) {
        let root = format!("TEAM_PROJECT_ROOT={}", self.root().display());
        for line in self.lines("pids.log") {
            let Some(pid) = line
                .split_whitespace()
                .last()
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            if !alive(pid) {
                continue;
            }
            let ours = std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|kv| kv == root.as_bytes()));
            if ours {
                signal(&format!("-{pid}"), "KILL");
                signal(&pid.to_string(), "KILL");
            }
        }
    }
}

/// What `team spawn --background` did.
pub struct Spawned {
    /// The member's name.
    pub name: String,
    /// The pid of the detached runner it started, if any (its note on stderr).
    pub runner_pid: Option<i32>,
}

/// The pid in `started a runner in the background (pid N)`, if stderr has that note.
pub fn started_runner_pid(stderr: &str) -> Option<i32> {
    let rest = stderr
        .split("started a runner in the background (pid ")
        .nth(1)?;
    rest.split(')').next()?.trim().parse().ok()
}

/// `s` quoted for the shell.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Messages of `kind` in an inbox.
pub fn of_kind<'a>(msgs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    msgs.iter().filter(|m| m["kind"] == kind).collect()
}

/// The body of a message.
pub fn body_of(m: &Value) -> &str {
    m["body"].as_str().expect("body is a string")
}

/// The pids recorded for `member` in `pids.log`-style lines (`MEMBER PID`).
pub fn pids_of(lines: &[String], member: &str) -> Vec<i32> {
    lines
        .iter()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            (it.next() == Some(member)).then(|| it.next()?.parse().ok())?
        })
        .collect()
}
