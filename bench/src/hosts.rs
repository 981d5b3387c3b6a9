//! Several hosts, one PostgreSQL (issue 19): runners on simulated hosts (Linux namespaces,
//! `team_testkit::host`: a hostname and PID namespace each, the network shared), each a real
//! `team runner` process.
//!
//! - **scaling**: `--members` command members of `--work-ms` each (`sleep`), `max_agents =
//!   --max-agents` per runner, with 1, 2, … `--hosts` hosts. The runners are serving before
//!   the members are added (one transaction); **wall** = the last member's end − the
//!   insert's commit (the claim delay included). Ideal: ceil(members / (hosts × max_agents)) ×
//!   work.
//! - **wake**: one idle persistent command member on host-a; a message sent from this process
//!   (another hostname: another host for the runner) through the store; **latency** = the
//!   start of the member's next turn (its script stamps `date +%s%N` first thing, so the start
//!   of `bash` is included) − the send's return (after its commit).
//! - **recovery**: `--hosts` hosts (at least 2) run `--members` members of `--work-ms` each,
//!   with one retry; the last host is killed (SIGKILL to its namespace's first process) while
//!   its members run. **detected** = its `runner.lost` event − the kill; **recovered** = the
//!   last end of the members it held − the kill (their retry ran `--work-ms` again). The
//!   breakdown: **retried** (the last `member.retried` − the kill), **restarted** (the last
//!   start of a retried attempt − the kill: running again elsewhere), **slot wait** (the
//!   longest start − end of backoff: a retried member waits for a free slot when every slot
//!   of the surviving hosts is busy), and when the first slot of a surviving host freed after
//!   the loss.
//!
//! Must run as root (namespaces). PostgreSQL only.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use team_core::{AgentName, MemberStatus, MessageKind};
use team_store::{NewMember, Outgoing, Recipient, Store};
use team_testkit::host::Host;

use crate::common::{Db, Project, create_team, summarize, wall_us};

/// Settings of [`run`].
#[derive(Debug, Clone, clap::Args)]
pub struct HostsArgs {
    /// A postgres:// URL (a fresh schema is created and dropped for each measurement).
    #[arg(long)]
    pub db: String,
    /// The `team` binary the runners run.
    #[arg(long)]
    pub team_bin: PathBuf,
    /// What to measure: `scaling`, `wake` or `recovery`.
    #[arg(long, default_value = "scaling")]
    pub mode: String,
    /// Hosts (scaling: 1 up to this many; recovery: this many, the last one killed).
    #[arg(long, default_value_t = 3)]
    pub hosts: usize,
    /// Members (scaling, recovery).
    #[arg(long, default_value_t = 60)]
    pub members: usize,
    /// Work of each member, ms.
    #[arg(long, default_value_t = 1000)]
    pub work_ms: u64,
    /// `--max-agents` of each runner.
    #[arg(long, default_value_t = 10)]
    pub max_agents: usize,
    /// Heartbeat period of the runners, ms (`TEAM_HEARTBEAT_MS`).
    #[arg(long, default_value_t = 500)]
    pub heartbeat_ms: u64,
    /// Messages sent (wake).
    #[arg(long, default_value_t = 50)]
    pub samples: usize,
}

/// One measurement's world: a project, its database schema, its store, and the hosts with
/// their runners (killed with the hosts on drop).
struct World {
    project: Project,
    db: Db,
    store: Store,
    team: team_core::Team,
    hosts: Vec<Host>,
    runners: Vec<Child>,
}

impl Drop for World {
    fn drop(&mut self) {
        for h in &mut self.hosts {
            h.kill();
        }
        for r in &mut self.runners {
            let _ = r.kill();
            let _ = r.wait();
        }
    }
}

impl World {
    /// A project on a fresh schema with agent `name` (`front` matter, `sh -c script`).
    fn new(args: &HostsArgs, name: &str, front: &str, script: &str) -> Result<World> {
        let project = Project::new()?;
        let db = Db::new(&args.db, &project.root)?;
        let argv = serde_json::to_string(&["sh", "-c", script])?;
        project.agent(name, &format!("{front}\ncommand: {argv}"), "A bench agent.")?;
        std::fs::write(
            project.root.join(".team/config.toml"),
            format!("[team]\nmax_agents = {}\n", args.max_agents),
        )?;
        let store = Store::open(db.url())?;
        let team = create_team(&store, "hosts", &project.root)?;
        Ok(World {
            project,
            db,
            store,
            team,
            hosts: Vec::new(),
            runners: Vec::new(),
        })
    }

    /// Starts `count` hosts, a runner on each, and waits until every runner is registered.
    fn start_runners(&mut self, args: &HostsArgs, count: usize) -> Result<()> {
        for i in 0..count {
            let name = format!("host-{}", (b'a' + i as u8) as char);
            let host = Host::start(&name)?;
            let mut cmd = self.project.team(&args.team_bin);
            cmd.args(["--db", self.db.url(), "runner", "--max-agents"])
                .arg(args.max_agents.to_string())
                .env("TEAM_HEARTBEAT_MS", args.heartbeat_ms.to_string());
            let log = std::fs::File::create(self.project.root.join(format!("{name}.log")))?;
            let child = host
                .wrap(&cmd)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .context("start a runner in a host")?;
            self.hosts.push(host);
            self.runners.push(child);
        }
        let until = Instant::now() + Duration::from_secs(60);
        while self.store.list_runners(false)?.len() < count {
            if Instant::now() > until {
                bail!("the runners did not register within 60 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Adds `n` pending members of `agent` in one transaction; returns the time after the
    /// commit (µs since the epoch).
    fn add(&self, agent: &str, n: usize, persistent: bool) -> Result<i64> {
        let news: Vec<NewMember> = (0..n)
            .map(|i| NewMember {
                agent: AgentName::new(agent).expect("a valid agent name"),
                prompt: Some(format!("job {i}")),
                persistent,
                timeout_secs: None,
                status: MemberStatus::Pending,
                runner_id: None,
            })
            .collect();
        self.store.add_members(&self.team.id, &news)?;
        Ok(wall_us())
    }

    /// Waits until no member but the lead is live; returns them.
    fn wait_all_ended(&self, timeout: Duration) -> Result<Vec<team_core::Member>> {
        let until = Instant::now() + timeout;
        loop {
            let ms: Vec<_> = self
                .store
                .list_members(&self.team.id)?
                .into_iter()
                .filter(|m| m.role == team_core::Role::Member)
                .collect();
            if ms.iter().all(|m| m.status.is_terminal()) {
                return Ok(ms);
            }
            if Instant::now() > until {
                bail!("members still live after {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Runs the benchmark of `args.mode`.
///
/// # Errors
/// Namespaces cannot be made (not root), the database cannot be reached, a member fails.
pub fn run(args: &HostsArgs) -> Result<Value> {
    match args.mode.as_str() {
        "scaling" => scaling(args),
        "wake" => wake(args),
        "recovery" => recovery(args),
        m => bail!("--mode takes scaling, wake or recovery, not {m}"),
    }
}

fn scaling(args: &HostsArgs) -> Result<Value> {
    let mut rows = Vec::new();
    for hosts in 1..=args.hosts {
        let script = format!("sleep {}", args.work_ms as f64 / 1000.0);
        let mut w = World::new(args, "work", "description: work", &script)?;
        w.start_runners(args, hosts)?;
        let t0 = w.add("work", args.members, false)?;
        let ms = w.wait_all_ended(Duration::from_secs(600))?;
        if let Some(m) = ms.iter().find(|m| m.status != MemberStatus::Completed) {
            bail!("member {} ended {}: {:?}", m.name, m.status, m.error);
        }
        let last = ms.iter().filter_map(|m| m.ended_at_ms).max().unwrap_or(0);
        let wall_ms = last as f64 - t0 as f64 / 1e3;
        let slots = hosts * args.max_agents;
        let waves = args.members.div_ceil(slots);
        let ideal_ms = waves as f64 * args.work_ms as f64;
        let mut per_host = std::collections::BTreeMap::<String, usize>::new();
        let runners = w.store.list_runners(true)?;
        for m in &ms {
            let host = runners
                .iter()
                .find(|r| Some(&r.id) == m.runner_id.as_ref())
                .map(|r| r.host.clone())
                .unwrap_or_default();
            *per_host.entry(host).or_default() += 1;
        }
        rows.push(json!({
            "hosts": hosts,
            "wall_ms": wall_ms.round(),
            "ideal_ms": ideal_ms,
            "over_ideal": (wall_ms / ideal_ms * 1000.0).round() / 1000.0,
            "members_per_host": per_host,
        }));
    }
    Ok(json!({
        "benchmark": "hosts_scaling",
        "backend": "postgres",
        "members": args.members,
        "work_ms": args.work_ms,
        "max_agents": args.max_agents,
        "rows": rows,
    }))
}

fn wake(args: &HostsArgs) -> Result<Value> {
    let script = r#"date +%s%N >> "$TEAM_PROJECT_ROOT/turns.log"; cat > /dev/null"#;
    let mut w = World::new(args, "echo", "description: echo", script)?;
    w.start_runners(args, 1)?;
    w.add("echo", 1, true)?;
    let turns = w.project.root.join("turns.log");
    let count = || -> Vec<i64> {
        std::fs::read_to_string(&turns)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    };
    let idle = |w: &World| -> Result<()> {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let m = w.store.list_members(&w.team.id)?;
            if m.iter().any(|m| m.status == MemberStatus::Idle) {
                return Ok(());
            }
            if Instant::now() > until {
                bail!("the member did not go idle");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    let name = w
        .store
        .list_members(&w.team.id)?
        .into_iter()
        .find(|m| m.role == team_core::Role::Member)
        .context("the member")?
        .name;
    let mut latency = Vec::new();
    let mut jitter = crate::common::Jitter::new(19);
    for k in 1..=args.samples {
        idle(&w)?;
        std::thread::sleep(jitter.below(Duration::from_millis(20)));
        let before = count().len();
        w.store.send_message(
            &w.team.id,
            &Outgoing {
                from: "lead",
                to: Recipient::Member(name.clone()),
                kind: MessageKind::Text,
                body: &format!("probe {k}"),
            },
        )?;
        let sent = wall_us();
        let until = Instant::now() + Duration::from_secs(10);
        let started = loop {
            if let Some(ns) = count().get(before) {
                break *ns;
            }
            if Instant::now() > until {
                bail!("probe {k} did not wake the member");
            }
            std::thread::sleep(Duration::from_micros(500));
        };
        latency.push(started as f64 / 1e6 - sent as f64 / 1e3);
    }
    Ok(json!({
        "benchmark": "hosts_wake",
        "backend": "postgres",
        "samples": args.samples,
        "latency_ms": summarize(&latency),
    }))
}

fn recovery(args: &HostsArgs) -> Result<Value> {
    if args.hosts < 2 {
        bail!("recovery needs --hosts 2 or more");
    }
    let script = format!(
        "sleep {}; echo \"$TEAM_MEMBER $(hostname)\" >> \"$TEAM_PROJECT_ROOT/ends.log\"",
        args.work_ms as f64 / 1000.0
    );
    let mut w = World::new(
        args,
        "work",
        "description: work\nretries: 1\nbackoff: 10ms",
        &script,
    )?;
    w.start_runners(args, args.hosts)?;
    // Members spawned one by one with their agent file (`retries:` is stored at spawn).
    for i in 0..args.members {
        let mut cmd = w.project.team(&args.team_bin);
        let out = cmd
            .args(["--db", w.db.url(), "spawn", "hosts", "work", "--background"])
            .args(["--prompt", &format!("job {i}")])
            .output()?;
        if !out.status.success() {
            bail!(
                "team spawn failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    // Kill the last host once it runs members.
    let victim = w
        .store
        .list_runners(false)?
        .into_iter()
        .find(|r| Some(r.host.as_str()) == w.hosts.last().map(|h| h.name()));
    let victim = victim.context("the last host's runner")?;
    let until = Instant::now() + Duration::from_secs(60);
    let held = loop {
        let held = w.store.members_of_runner(&victim.id)?;
        if !held.is_empty() {
            break held;
        }
        if Instant::now() > until {
            bail!("the last host ran nothing");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    std::thread::sleep(Duration::from_millis(args.work_ms / 3));
    let held = {
        let now = w.store.members_of_runner(&victim.id)?;
        if now.is_empty() { held } else { now }
    };
    let killed = wall_us();
    if let Some(h) = w.hosts.last_mut() {
        h.kill();
    }
    let ms = w.wait_all_ended(Duration::from_secs(600))?;
    let events = w.store.list_events(None, 0, 1_000_000)?;
    let lost_at = events
        .iter()
        .find(|e| e.kind == "runner.lost")
        .map(|e| e.created_at_ms);
    let last_end = ms
        .iter()
        .filter(|m| held.iter().any(|h| h.id == m.id))
        .filter_map(|m| m.ended_at_ms)
        .max();
    // Where the time after the loss went, per member the killed host held: its retry
    // (`member.retried`, with the end of its backoff) and the start of its next attempt (the
    // first `member.running` after it); the wait for a slot is that start − the later of the
    // two (a surviving host whose slots are all busy runs it when one of its members ends).
    let (mut retried_last, mut restarted_last, mut slot_wait_max) = (None, None, None::<i64>);
    for h in &held {
        let mine = |e: &&team_core::Event| {
            e.team_id.as_deref() == Some(w.team.id.as_str()) && e.member.as_ref() == Some(&h.name)
        };
        let Some(retried) = events
            .iter()
            .filter(mine)
            .find(|e| e.kind == "member.retried")
        else {
            continue;
        };
        let claimable = retried.payload["not_before_ms"]
            .as_i64()
            .unwrap_or(retried.created_at_ms)
            .max(retried.created_at_ms);
        retried_last = retried_last.max(Some(retried.created_at_ms));
        if let Some(started) = events
            .iter()
            .filter(mine)
            .find(|e| e.kind == "member.running" && e.id > retried.id)
        {
            restarted_last = restarted_last.max(Some(started.created_at_ms));
            slot_wait_max = slot_wait_max.max(Some(started.created_at_ms - claimable));
        }
    }
    // The first end of a surviving host's member after the loss: when a slot freed there.
    let first_free_after_lost = lost_at.and_then(|lost| {
        ms.iter()
            .filter(|m| !held.iter().any(|h| h.id == m.id))
            .filter_map(|m| m.ended_at_ms)
            .filter(|t| *t >= lost)
            .min()
    });
    let failed: Vec<_> = ms
        .iter()
        .filter(|m| m.status != MemberStatus::Completed)
        .map(|m| format!("{} {} {:?}", m.name, m.status, m.error))
        .collect();
    let killed_ms = killed as f64 / 1e3;
    Ok(json!({
        "benchmark": "hosts_recovery",
        "backend": "postgres",
        "hosts": args.hosts,
        "members": args.members,
        "max_agents": args.max_agents,
        "work_ms": args.work_ms,
        "heartbeat_ms": args.heartbeat_ms,
        "held_by_killed_host": held.len(),
        "detected_ms": lost_at.map(|t| (t as f64 - killed_ms).round()),
        "recovered_ms": last_end.map(|t| (t as f64 - killed_ms).round()),
        "retried_ms": retried_last.map(|t| (t as f64 - killed_ms).round()),
        "restarted_ms": restarted_last.map(|t| (t as f64 - killed_ms).round()),
        "slot_wait_ms": slot_wait_max,
        "first_slot_free_after_lost_ms": first_free_after_lost.map(|t| (t as f64 - killed_ms).round()),
        "goal_ms": 3 * args.heartbeat_ms + 1000 + args.work_ms,
        "not_completed": failed,
    }))
}
