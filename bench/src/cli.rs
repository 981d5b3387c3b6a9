//! `team send` and `team inbox` process times: in a project with a team and one member, a
//! `team send TEAM --from lead --to MEMBER BODY` then a `team inbox TEAM MEMBER` (which takes
//! that message under a lease and acknowledges it), `--runs` times, each timed from spawn to
//! exit. With `--team-bin-b`, a second binary runs each command right after the first, on
//! the same database, so two builds are compared on an alternating (A, B, A, B, …) schedule:
//! a loaded machine then slows both alike.
//!
//! A `team runner` of the first binary serves the database on this host meanwhile (issue 19:
//! its local relay runs the commands with its pooled connections; the same on both engines,
//! so the comparison is fair): `send_ms` / `inbox_ms` are the commands as run (through the
//! relay when the binary has one), `direct_send_ms` / `direct_inbox_ms` the same commands
//! right after with `TEAM_RELAY=0` (opening the database themselves, as without a runner).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Result, bail};
use serde_json::{Value, json};
use team_core::{AgentName, MemberStatus};
use team_store::{NewMember, Store};

use crate::common::{Db, Project, create_team, summarize};

/// Settings of [`run`].
#[derive(Debug, Clone, clap::Args)]
pub struct CliArgs {
    /// The `team` binary.
    #[arg(long)]
    pub team_bin: PathBuf,
    /// A second `team` binary to compare with (alternating with the first).
    #[arg(long)]
    pub team_bin_b: Option<PathBuf>,
    /// `sqlite` or a postgres:// URL (a fresh schema is created and dropped).
    #[arg(long, default_value = "sqlite")]
    pub db: String,
    /// Timed send + inbox pairs per binary (after 3 untimed ones).
    #[arg(long, default_value_t = 50)]
    pub runs: usize,
}

/// The benchmark (see the module docs).
///
/// # Errors
/// Setup failures, a failing command, or an inbox that did not get the message just sent.
pub fn run(args: &CliArgs) -> Result<Value> {
    let project = Project::new()?;
    let db = Db::new(&args.db, &project.root)?;
    let member = {
        let store = Store::open(db.url())?;
        let team = create_team(&store, "cli", &project.root)?;
        store
            .add_member(
                &team.id,
                &NewMember {
                    agent: AgentName::new("worker")?,
                    prompt: None,
                    persistent: true,
                    timeout_secs: None,
                    status: MemberStatus::Running,
                    runner_id: None,
                },
            )?
            .name
    };
    let run_dir = project.root.join("run");
    std::fs::create_dir_all(&run_dir)?;
    let command = |bin: &Path, args: &[&str], relay: bool| {
        let mut cmd = project.team(bin);
        cmd.env("XDG_RUNTIME_DIR", &run_dir);
        if !relay {
            cmd.env("TEAM_RELAY", "0");
        }
        if db.backend() == "postgres" {
            cmd.args(["--db", db.url()]);
        }
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    };
    let _runner = Runner::start(command(&args.team_bin, &["runner"], true), &run_dir)?;
    let timed = |bin: &Path, args: &[&str], relay: bool| -> Result<(f64, String)> {
        let cmd = &mut command(bin, args, relay);
        let t = Instant::now();
        let out = cmd.output()?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if !out.status.success() {
            bail!(
                "`team {}` exited with {}: {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok((ms, String::from_utf8_lossy(&out.stdout).into_owned()))
    };
    let bins: Vec<&Path> = std::iter::once(args.team_bin.as_path())
        .chain(args.team_bin_b.as_deref())
        .collect();
    // [relayed, direct] per binary.
    let mut send_ms = vec![[Vec::new(), Vec::new()]; bins.len()];
    let mut inbox_ms = vec![[Vec::new(), Vec::new()]; bins.len()];
    for round in 0..args.runs + 3 {
        for (i, bin) in bins.iter().enumerate() {
            for (way, relay) in [(0, true), (1, false)] {
                let body = format!("message {round} {i} {way}");
                let (s, _) = timed(
                    bin,
                    &["send", "cli", &body, "--from", "lead", "--to", &member],
                    relay,
                )?;
                let (r, out) = timed(bin, &["inbox", "cli", &member], relay)?;
                if !out.contains(&body) {
                    bail!("`team inbox` did not print the message just sent ({body}): {out}");
                }
                if round >= 3 {
                    send_ms[i][way].push(s);
                    inbox_ms[i][way].push(r);
                }
            }
        }
    }
    let per_bin: Vec<Value> = bins
        .iter()
        .enumerate()
        .map(|(i, bin)| {
            json!({
                "team_bin": bin.display().to_string(),
                "send_ms": summarize(&send_ms[i][0]),
                "inbox_ms": summarize(&inbox_ms[i][0]),
                "direct_send_ms": summarize(&send_ms[i][1]),
                "direct_inbox_ms": summarize(&inbox_ms[i][1]),
            })
        })
        .collect();
    Ok(json!({
        "benchmark": "cli_ops",
        "backend": db.backend(),
        "runs": args.runs,
        "send_ms": summarize(&send_ms[0][0]),
        "inbox_ms": summarize(&inbox_ms[0][0]),
        "direct_send_ms": summarize(&send_ms[0][1]),
        "direct_inbox_ms": summarize(&inbox_ms[0][1]),
        "binaries": per_bin,
    }))
}

/// The `team runner` serving the benchmark's database, killed when dropped.
struct Runner(std::process::Child);

impl Runner {
    /// Starts `cmd` (`team runner`) and waits (at most 30 s) for a relay socket in
    /// `run_dir/team` (a binary without a relay has none: it goes on after those 30 s).
    fn start(mut cmd: std::process::Command, run_dir: &Path) -> Result<Runner> {
        let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
        let mut runner = Runner(child);
        let t = Instant::now();
        while t.elapsed() < std::time::Duration::from_secs(30) {
            let sock = std::fs::read_dir(run_dir.join("team")).is_ok_and(|d| {
                d.filter_map(Result::ok)
                    .any(|e| e.path().extension().is_some_and(|x| x == "sock"))
            });
            if sock {
                return Ok(runner);
            }
            if let Some(status) = runner.0.try_wait()? {
                bail!("`team runner` exited with {status}");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Ok(runner)
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
