//! Cold start: `team list` on a database with `--teams` teams (each with a few members and
//! tasks), run `--runs` times as a fresh process; each run is timed from spawn to exit.
//! SQLite runs use the project's default database (`.team/team.db`, found from the working
//! directory, as a user would); PostgreSQL runs pass `--db URL`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Result, bail};
use serde_json::{Value, json};
use team_core::{AgentName, MemberStatus};
use team_store::{NewMember, NewTask, Store};

use crate::common::{Db, Project, create_team, summarize};

/// Settings of [`run`].
#[derive(Debug, Clone, clap::Args)]
pub struct ColdArgs {
    /// The `team` binary.
    #[arg(long)]
    pub team_bin: PathBuf,
    /// `sqlite` or a postgres:// URL (a fresh schema is created and dropped).
    #[arg(long, default_value = "sqlite")]
    pub db: String,
    /// Teams in the database.
    #[arg(long, default_value_t = 100)]
    pub teams: usize,
    /// Timed runs (after 3 untimed ones).
    #[arg(long, default_value_t = 30)]
    pub runs: usize,
}

/// The benchmark (see the module docs).
///
/// # Errors
/// Setup failures or a failing `team list`.
pub fn run(args: &ColdArgs) -> Result<Value> {
    let project = Project::new()?;
    let db = Db::new(&args.db, &project.root)?;
    {
        let store = Store::open(db.url())?;
        for i in 0..args.teams {
            let team = create_team(&store, &format!("team-{i:03}"), &project.root)?;
            for _ in 0..2 {
                store.add_member(
                    &team.id,
                    &NewMember {
                        agent: AgentName::new("worker")?,
                        prompt: None,
                        persistent: false,
                        timeout_secs: None,
                        status: MemberStatus::Running,
                        runner_id: None,
                    },
                )?;
            }
            for t in 0..3 {
                store.add_task(
                    &team.id,
                    &NewTask {
                        title: format!("task {t}"),
                        ..NewTask::default()
                    },
                )?;
            }
        }
    }
    let list = || {
        let mut cmd = project.team(&args.team_bin);
        if db.backend() == "postgres" {
            cmd.args(["--db", db.url()]);
        }
        cmd.arg("list")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    };
    // Check once that it lists every team.
    let out = list().output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || text.lines().count() < args.teams {
        bail!(
            "team list failed or listed too few teams: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for _ in 0..3 {
        list().stdout(Stdio::null()).status()?;
    }
    let mut ms = Vec::new();
    for _ in 0..args.runs {
        let mut cmd = list();
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let t = Instant::now();
        let status = cmd.status()?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        if !status.success() {
            bail!("team list exited with {status}");
        }
    }
    Ok(json!({
        "benchmark": "cold_start",
        "backend": db.backend(),
        "teams": args.teams,
        "runs": args.runs,
        "ms": summarize(&ms),
        "samples_ms": ms,
    }))
}
