//! Task claims per second: `--procs` processes (this binary, `claim-worker`) claim from one
//! board through `Store::claim_task(team, member, None)` (the operation behind `team task
//! claim`), or with `--count K` (K > 1) through `Store::claim_tasks(team, member, K, None,
//! None)` (`team task claim --count K`: up to K tasks per call), until it is empty. Each process opens its own store first and says `ready`; all
//! start on one `go`. Throughput = tasks / (last claim end − first claim start, across the
//! processes' wall clocks). Every task must be claimed exactly once: the union of the ids the
//! workers report is checked against the board, and the board must hold no pending task.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use team_core::{AgentName, MemberStatus, TaskStatus};
use team_store::{NewMember, NewTask, Store, StoreError};

use crate::common::{Db, create_team, wall_us};

/// Settings of [`run`].
#[derive(Debug, Clone, clap::Args)]
pub struct ClaimArgs {
    /// `sqlite` or a postgres:// URL (a fresh schema is created and dropped).
    #[arg(long, default_value = "sqlite")]
    pub db: String,
    /// Claiming processes.
    #[arg(long, default_value_t = 8)]
    pub procs: usize,
    /// Tasks on the board.
    #[arg(long, default_value_t = 4000)]
    pub tasks: usize,
    /// Tasks per claim call: 1 calls `Store::claim_task`, K > 1 `Store::claim_tasks` (K).
    #[arg(long, default_value_t = 1)]
    pub count: usize,
}

/// Settings of a worker process.
#[derive(Debug, Clone, clap::Args)]
pub struct WorkerArgs {
    /// The database URL or path.
    #[arg(long)]
    pub db: String,
    /// The team id.
    #[arg(long)]
    pub team: String,
    /// The member that claims.
    #[arg(long)]
    pub member: String,
    /// Tasks per claim call (see [`ClaimArgs::count`]).
    #[arg(long, default_value_t = 1)]
    pub count: usize,
}

/// What a worker reports on stdout (one JSON line).
#[derive(Debug, Serialize, Deserialize)]
pub struct WorkerReport {
    /// Task ids it claimed, in order.
    pub ids: Vec<i64>,
    /// Wall clock (µs) before its first claim.
    pub start_us: i64,
    /// Wall clock (µs) after its last claim (the one that found the board empty).
    pub end_us: i64,
    /// Claim calls that claimed something.
    #[serde(default)]
    pub calls: usize,
    /// Claims that failed with anything but "board empty".
    pub errors: usize,
    /// The first such error.
    pub first_error: Option<String>,
}

/// A worker: open, say ready, wait for `go` on stdin, claim until the board is empty, report.
///
/// # Errors
/// The store cannot be opened or stdin/stdout fail.
pub fn worker(args: &WorkerArgs) -> Result<()> {
    let store = Store::open(&args.db)?;
    // Warm the pool's connection and check the member exists before the clock starts.
    store.get_member(&args.team, &args.member)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let mut report = WorkerReport {
        ids: Vec::new(),
        start_us: wall_us(),
        end_us: 0,
        calls: 0,
        errors: 0,
        first_error: None,
    };
    loop {
        let claimed = if args.count <= 1 {
            store
                .claim_task(&args.team, &args.member, None)
                .map(|t| vec![t])
        } else {
            store.claim_tasks(&args.team, &args.member, args.count, None, None)
        };
        match claimed {
            Ok(ts) => {
                report.calls += 1;
                report.ids.extend(ts.iter().map(|t| t.id));
            }
            Err(StoreError::Empty(_)) => break,
            Err(e) => {
                report.errors += 1;
                report.first_error.get_or_insert_with(|| e.to_string());
                if report.errors > 1000 {
                    break;
                }
            }
        }
    }
    report.end_us = wall_us();
    writeln!(out, "{}", serde_json::to_string(&report)?)?;
    out.flush()?;
    Ok(())
}

fn spawn_worker(exe: &Path, db: &str, team: &str, member: &str, count: usize) -> Result<Child> {
    Command::new(exe)
        .args([
            "claim-worker",
            "--db",
            db,
            "--team",
            team,
            "--member",
            member,
            "--count",
            &count.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("spawn a claim worker")
}

/// The benchmark (see the module docs).
///
/// # Errors
/// Setup failures, a worker that fails, or a task claimed twice or never.
pub fn run(args: &ClaimArgs) -> Result<Value> {
    let dir = tempfile::Builder::new().prefix("team-bench-").tempdir()?;
    let root = dir.path().canonicalize()?;
    std::fs::create_dir_all(root.join(".team"))?;
    let db = Db::new(&args.db, &root)?;
    let store = Store::open(db.url())?;
    let team = create_team(&store, "claims", &root)?;
    let mut members = Vec::new();
    for _ in 0..args.procs {
        let m = store.add_member(
            &team.id,
            &NewMember {
                agent: AgentName::new("claimer")?,
                prompt: None,
                persistent: false,
                timeout_secs: None,
                status: MemberStatus::Running,
                runner_id: None,
            },
        )?;
        members.push(m.name);
    }
    let filled = Instant::now();
    for i in 1..=args.tasks {
        store.add_task(
            &team.id,
            &NewTask {
                title: format!("task {i}"),
                ..NewTask::default()
            },
        )?;
    }
    let fill_s = filled.elapsed().as_secs_f64();

    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    for m in &members {
        children.push(spawn_worker(&exe, db.url(), &team.id, m, args.count)?);
    }
    let mut readers = Vec::new();
    for c in &mut children {
        let mut r = BufReader::new(c.stdout.take().context("worker stdout")?);
        let mut line = String::new();
        r.read_line(&mut line)?;
        if line.trim() != "ready" {
            bail!("a claim worker did not start: `{}`", line.trim());
        }
        readers.push(r);
    }
    for c in &mut children {
        let stdin = c.stdin.as_mut().context("worker stdin")?;
        stdin.write_all(b"go\n")?;
        stdin.flush()?;
    }
    let mut reports = Vec::new();
    for (c, mut r) in children.iter_mut().zip(readers) {
        let mut line = String::new();
        r.read_line(&mut line)?;
        let status = c.wait()?;
        if !status.success() {
            bail!("a claim worker exited with {status}");
        }
        let rep: WorkerReport = serde_json::from_str(line.trim())
            .with_context(|| format!("bad worker report `{}`", line.trim()))?;
        reports.push(rep);
    }

    let mut seen = BTreeSet::new();
    let mut twice = Vec::new();
    for rep in &reports {
        for id in &rep.ids {
            if !seen.insert(*id) {
                twice.push(*id);
            }
        }
    }
    let claimed: usize = reports.iter().map(|r| r.ids.len()).sum();
    let in_progress = store
        .list_tasks(&team.id, Some(TaskStatus::InProgress))?
        .len();
    let pending = store.list_tasks(&team.id, Some(TaskStatus::Pending))?.len();
    let each_once = twice.is_empty() && claimed == args.tasks && in_progress == args.tasks;
    let start = reports.iter().map(|r| r.start_us).min().unwrap_or(0);
    let end = reports.iter().map(|r| r.end_us).max().unwrap_or(0);
    let secs = (end - start) as f64 / 1e6;
    let errors: usize = reports.iter().map(|r| r.errors).sum();
    Ok(json!({
        "benchmark": "claims",
        "backend": db.backend(),
        "procs": args.procs,
        "tasks": args.tasks,
        "count": args.count,
        "calls": reports.iter().map(|r| r.calls).sum::<usize>(),
        "claimed": claimed,
        "claimed_twice": twice.len(),
        "in_progress_after": in_progress,
        "pending_after": pending,
        "each_once": each_once,
        "errors": errors,
        "first_error": reports.iter().find_map(|r| r.first_error.clone()),
        "per_process": reports.iter().map(|r| r.ids.len()).collect::<Vec<_>>(),
        "seconds": secs,
        "claims_per_s": claimed as f64 / secs.max(1e-9),
        "fill_seconds": fill_s,
    }))
}
