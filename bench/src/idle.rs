//! Memory of idle persistent members: `--members` persistent members are queued in one team,
//! one `team runner` process (the real binary) runs each one turn (an LLM member makes one
//! model call against the in-process scripted server; a command member runs `cat`), after
//! which they sit `idle`, waiting for messages. Once all are idle and a few seconds have
//! passed, the runner's `VmRSS` / `VmHWM` / thread count are read from `/proc`, and its CPU
//! use while idle is measured over a window (what the poller costs with nobody working).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use team_core::{AgentName, MemberStatus};
use team_store::{NewMember, Store};
use team_testkit::{Reply, Rule, Script, ScriptedServer};

use crate::common::{Project, create_team};

/// Settings of [`run`].
#[derive(Debug, Clone, clap::Args)]
pub struct IdleArgs {
    /// The `team` binary (its `team runner` is measured).
    #[arg(long)]
    pub team_bin: PathBuf,
    /// Idle persistent members.
    #[arg(long, default_value_t = 1000)]
    pub members: usize,
    /// `llm` (one model call per member) or `command` (`cat` per turn).
    #[arg(long, default_value = "llm")]
    pub kind: String,
    /// The runner's `--max-agents` (members running their first turn at once).
    #[arg(long, default_value_t = 50)]
    pub max_agents: usize,
    /// Seconds over which idle CPU use is measured.
    #[arg(long, default_value_t = 5)]
    pub window_s: u64,
}

/// A field of `/proc/PID/status` in kB (`VmRSS`, `VmHWM`) or a count (`Threads`).
fn proc_status(pid: u32, field: &str) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix(field)
                .and_then(|r| r.strip_prefix(':'))
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
        })
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// utime + stime of a process, in clock ticks.
fn proc_cpu_ticks(pid: u32) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the `(comm)`, which may contain spaces.
    let after = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // after `)`: state(3) … utime is field 14, stime 15 (1-based over the whole line).
    let utime: u64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0);
    let stime: u64 = f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0);
    Ok(utime + stime)
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn count_idle(store: &Store, team_id: &str) -> Result<(usize, usize)> {
    let members = store.list_members(team_id)?;
    let idle = members
        .iter()
        .filter(|m| m.status == MemberStatus::Idle)
        .count();
    let ended = members.iter().filter(|m| m.status.is_terminal()).count();
    Ok((idle, ended))
}

/// The benchmark (see the module docs).
///
/// # Errors
/// Setup failures, a runner that dies, or members that do not all go idle within 5 minutes.
pub async fn run(args: &IdleArgs) -> Result<Value> {
    let project = Project::new()?;
    let server =
        ScriptedServer::start(Script::rules(vec![Rule::always(Reply::text("ok"))])).await?;
    let init = project
        .team(&args.team_bin)
        .arg("init")
        .stdout(Stdio::null())
        .status()?;
    if !init.success() {
        bail!("team init failed");
    }
    project.config(
        &server.base_url(),
        &format!(
            "max_agents = {}\nmember_timeout_secs = 3600",
            args.max_agents
        ),
        args.max_agents.max(1),
    )?;
    match args.kind.as_str() {
        "llm" => project.agent("idler", "model: mock/bench", "You answer in one word.")?,
        "command" => project.agent("idler", "command: [\"cat\"]", "Echo the input.")?,
        k => bail!("--kind takes llm or command, not `{k}`"),
    }
    let db_path = project.root.join(".team/team.db");
    let store = Store::open(&db_path.to_string_lossy())?;
    let team = create_team(&store, "idle", &project.root)?;
    let news: Vec<NewMember> = (0..args.members)
        .map(|_| {
            Ok(NewMember {
                agent: AgentName::new("idler")?,
                prompt: Some("hello".into()),
                persistent: true,
                timeout_secs: None,
                status: MemberStatus::Pending,
                runner_id: None,
            })
        })
        .collect::<Result<_>>()?;
    store.add_members(&team.id, &news)?;

    let log = std::fs::File::create(project.root.join(".team/runner.log"))?;
    let mut runner = project
        .team(&args.team_bin)
        .args(["runner", "--max-agents", &args.max_agents.to_string()])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("start team runner")?;
    let pid = runner.id();
    let started = Instant::now();
    let until = started + Duration::from_secs(300);
    loop {
        if let Some(status) = runner.try_wait()? {
            bail!("team runner exited with {status} before the members went idle");
        }
        let (idle, ended) = count_idle(&store, &team.id)?;
        if ended > 0 {
            bail!("{ended} member(s) ended instead of going idle (see the runner log)");
        }
        if idle == args.members {
            break;
        }
        if Instant::now() > until {
            bail!("only {idle} of {} members idle after 300 s", args.members);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let to_idle = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_kb = proc_status(pid, "VmRSS")?;
    let hwm_kb = proc_status(pid, "VmHWM")?;
    let threads = proc_status(pid, "Threads")?;
    let t0 = proc_cpu_ticks(pid)?;
    let w0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.window_s)).await;
    let t1 = proc_cpu_ticks(pid)?;
    let window = w0.elapsed().as_secs_f64();
    let cpu_idle_pct = (t1 - t0) as f64 / clock_ticks() / window * 100.0;
    let rss_after_kb = proc_status(pid, "VmRSS")?;

    // Stop the runner as Ctrl-C would: it cancels every member (and tells the lead).
    let stopping = Instant::now();
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGINT);
    let mut stop_s = None;
    for _ in 0..600 {
        if runner.try_wait()?.is_some() {
            stop_s = Some(stopping.elapsed().as_secs_f64());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if stop_s.is_none() {
        let _ = runner.kill();
        let _ = runner.wait();
    }
    let requests = server.request_count();
    server.stop().await;
    Ok(json!({
        "benchmark": "idle_rss",
        "kind": args.kind,
        "members": args.members,
        "max_agents": args.max_agents,
        "seconds_to_all_idle": to_idle.as_secs_f64(),
        "rss_mb": rss_kb as f64 / 1024.0,
        "rss_after_window_mb": rss_after_kb as f64 / 1024.0,
        "hwm_mb": hwm_kb as f64 / 1024.0,
        "threads": threads,
        "cpu_idle_pct": cpu_idle_pct,
        "cpu_window_s": window,
        "stop_seconds": stop_s,
        "model_requests": requests,
    }))
}
