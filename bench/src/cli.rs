//! `team send` and `team inbox` process times: in a project with a team and one member, a
//! `team send TEAM --from lead --to MEMBER BODY` then a `team inbox TEAM MEMBER` (which takes
//! that message under a lease and acknowledges it), `--runs` times, each timed from spawn to
//! exit. With `--team-bin-b`, a second binary runs each command right after the first, on
//! the same database, so two builds are compared on an alternating (A, B, A, B, …) schedule:
//! a loaded machine then slows both alike.

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
    let command = |bin: &Path, args: &[&str]| {
        let mut cmd = project.team(bin);
        if db.backend() == "postgres" {
            cmd.args(["--db", db.url()]);
        }
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    };
    let timed = |bin: &Path, args: &[&str]| -> Result<(f64, String)> {
        let cmd = &mut command(bin, args);
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
    let mut send_ms = vec![Vec::new(); bins.len()];
    let mut inbox_ms = vec![Vec::new(); bins.len()];
    for round in 0..args.runs + 3 {
        for (i, bin) in bins.iter().enumerate() {
            let body = format!("message {round} {i}");
            let (s, _) = timed(
                bin,
                &["send", "cli", &body, "--from", "lead", "--to", &member],
            )?;
            let (r, out) = timed(bin, &["inbox", "cli", &member])?;
            if !out.contains(&body) {
                bail!("`team inbox` did not print the message just sent ({body}): {out}");
            }
            if round >= 3 {
                send_ms[i].push(s);
                inbox_ms[i].push(r);
            }
        }
    }
    let per_bin: Vec<Value> = bins
        .iter()
        .enumerate()
        .map(|(i, bin)| {
            json!({
                "team_bin": bin.display().to_string(),
                "send_ms": summarize(&send_ms[i]),
                "inbox_ms": summarize(&inbox_ms[i]),
            })
        })
        .collect();
    Ok(json!({
        "benchmark": "cli_ops",
        "backend": db.backend(),
        "runs": args.runs,
        "send_ms": summarize(&send_ms[0]),
        "inbox_ms": summarize(&inbox_ms[0]),
        "binaries": per_bin,
    }))
}
