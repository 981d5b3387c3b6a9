//! Shared pieces of the benchmarks: the database to run on (a SQLite file or a fresh
//! PostgreSQL schema), a project on disk (`.team/` with a config and agent files), the
//! `team` binary as a child process, and percentiles.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use serde::Serialize;
use team_agent::config::Config;
use team_agent::discover_with_builtins;
use team_core::{AgentName, MemberStatus, Team, TeamName};
use team_provider::CassetteMode;
use team_runner::AgentRuntime;
use team_store::{NewTeam, Store};
use team_tools::permission::{PromptGate, RunFlags, RunPermissions};

/// Where a benchmark keeps its state: the project's SQLite file, or a schema of its own in a
/// PostgreSQL database (created here, dropped on drop).
pub struct Db {
    url: String,
    pg: Option<(String, String)>,
}

impl Db {
    /// `spec` is `sqlite` (the file `.team/team.db` under `root`) or a `postgres://` URL (a
    /// fresh schema `bench_<pid>_<n>` is created in that database and used through
    /// `search_path`).
    ///
    /// # Errors
    /// The PostgreSQL server cannot be reached or the schema cannot be created.
    pub fn new(spec: &str, root: &Path) -> Result<Db> {
        if spec == "sqlite" {
            let path = root.join(".team").join("team.db");
            return Ok(Db {
                url: path.to_string_lossy().into_owned(),
                pg: None,
            });
        }
        if !(spec.starts_with("postgres://") || spec.starts_with("postgresql://")) {
            bail!("--db takes `sqlite` or a postgres:// URL, not `{spec}`");
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let schema = format!("bench_{}_{}", std::process::id(), nanos % 1_000_000);
        let mut c = PgConnection::establish(spec)
            .with_context(|| format!("cannot connect to {}", team_store::redact_url(spec)))?;
        c.batch_execute(&format!("CREATE SCHEMA {schema}"))
            .with_context(|| format!("cannot create schema {schema}"))?;
        let sep = if spec.contains('?') { '&' } else { '?' };
        Ok(Db {
            url: format!("{spec}{sep}options=-csearch_path%3D{schema}"),
            pg: Some((spec.to_owned(), schema)),
        })
    }

    /// The URL or path to give `Store::open` and `team --db`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        if self.pg.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some((base, schema)) = &self.pg
            && let Ok(mut c) = PgConnection::establish(base)
        {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}

/// A project in a temp directory: `.team/agents`, `.team/workflows`, and a user config
/// directory of its own (`TEAM_CONFIG_HOME`) so the user's configuration never leaks in.
pub struct Project {
    _dir: tempfile::TempDir,
    /// The project root (holds `.team/`).
    pub root: PathBuf,
    /// The directory given to children as `TEAM_CONFIG_HOME`.
    pub config_home: PathBuf,
}

impl Project {
    /// Creates the directories (no database yet).
    ///
    /// # Errors
    /// The temp directory cannot be created.
    pub fn new() -> Result<Project> {
        let dir = tempfile::Builder::new().prefix("team-bench-").tempdir()?;
        let root = dir.path().canonicalize()?;
        for sub in [".team/agents", ".team/workflows", "user-config"] {
            std::fs::create_dir_all(root.join(sub))?;
        }
        Ok(Project {
            config_home: root.join("user-config"),
            root,
            _dir: dir,
        })
    }

    /// Writes `.team/agents/NAME.md` with front matter lines `front` and instructions `body`.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn agent(&self, name: &str, front: &str, body: &str) -> Result<()> {
        let path = self.root.join(".team/agents").join(format!("{name}.md"));
        std::fs::write(path, format!("---\n{front}\n---\n{body}\n"))?;
        Ok(())
    }

    /// Writes `.team/config.toml`: `[team]` lines `team_toml`, and a `mock` OpenAI-compatible
    /// provider at `base_url` (no key, fast retries, `max_concurrent_requests` as given).
    /// Returns the text written.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn config(&self, base_url: &str, team_toml: &str, max_requests: usize) -> Result<String> {
        let text = format!(
            "[team]\n{team_toml}\n\n[providers.mock]\nkind = \"openai\"\nbase_url = \"{base_url}\"\n\
             api_key_env = \"\"\nmax_concurrent_requests = {max_requests}\nretry_base_ms = 10\n\
             retry_max_ms = 50\nmax_retries = 2\nrequest_timeout_secs = 60\n"
        );
        std::fs::write(self.root.join(".team/config.toml"), &text)?;
        Ok(text)
    }

    /// The runtime members need, from the config text and the agent files on disk: what
    /// `team runner` builds, without a terminal prompt gate.
    ///
    /// # Errors
    /// An invalid config or agent file.
    pub fn runtime(&self, config_text: &str) -> Result<(Config, AgentRuntime)> {
        let config = Config::from_toml_str(config_text, &self.root.join(".team/config.toml"))?;
        let catalog = discover_with_builtins(&self.root)?;
        let permissions = Arc::new(RunPermissions::new(
            RunFlags {
                allow: Vec::new(),
                yes: false,
                ..RunFlags::default()
            },
            PromptGate::new(None),
        ));
        let runtime = AgentRuntime::from_config(catalog, &config, permissions, CassetteMode::Off)?;
        Ok((config, runtime))
    }

    /// A `team` command run in the project root with a clean environment: the project's
    /// `TEAM_CONFIG_HOME`, `CI=true`, no colour, no inherited `TEAM_*` settings. A relative
    /// `team_bin` is taken from the current directory, not the project's.
    pub fn team(&self, team_bin: &Path) -> Command {
        let bin = std::path::absolute(team_bin).unwrap_or_else(|_| team_bin.to_path_buf());
        let mut cmd = Command::new(bin);
        cmd.current_dir(&self.root)
            .stdin(Stdio::null())
            .env("TEAM_CONFIG_HOME", &self.config_home)
            .env("CI", "true")
            .env("NO_COLOR", "1");
        for var in team_testkit::process::SCRUBBED_ENV {
            cmd.env_remove(var);
        }
        cmd
    }
}

/// Creates an active team whose lead is the calling script (nothing runs it).
///
/// # Errors
/// A store error.
pub fn create_team(store: &Store, name: &str, root: &Path) -> Result<Team> {
    let (team, _) = store.create_team(&NewTeam {
        name: TeamName::new(name)?,
        lead_agent: AgentName::new("lead")?,
        workflow: None,
        project_root: root.to_string_lossy().into_owned(),
        owner: None,
    })?;
    Ok(team)
}

/// Polls until member `name` of `team_id` has status `want` (every `every`), or fails after
/// `timeout`.
///
/// # Errors
/// A store error, or the timeout.
pub async fn wait_status(
    store: &Store,
    team_id: &str,
    name: &str,
    want: MemberStatus,
    every: Duration,
    timeout: Duration,
) -> Result<()> {
    let until = tokio::time::Instant::now() + timeout;
    loop {
        let (s, t, n) = (store.clone(), team_id.to_owned(), name.to_owned());
        let m = tokio::task::spawn_blocking(move || s.get_member(&t, &n)).await??;
        if m.status == want {
            return Ok(());
        }
        if m.status.is_terminal() {
            bail!(
                "member {name} ended as {} ({}) while waiting for {want}",
                m.status,
                m.error.unwrap_or_default()
            );
        }
        if tokio::time::Instant::now() >= until {
            bail!(
                "member {name} still {} after {timeout:?} (waiting for {want})",
                m.status
            );
        }
        tokio::time::sleep(every).await;
    }
}

/// Percentiles of a sample, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Samples.
    pub n: usize,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// Nearest-rank percentile `p` (0..=1) of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Summarises a sample (NaN fields when empty).
pub fn summarize(values: &[f64]) -> Summary {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let mean = if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    };
    Summary {
        n: v.len(),
        p50: percentile(&v, 0.5),
        p90: percentile(&v, 0.9),
        p99: percentile(&v, 0.99),
        min: v.first().copied().unwrap_or(f64::NAN),
        max: v.last().copied().unwrap_or(f64::NAN),
        mean,
    }
}

/// Microseconds since the Unix epoch (wall clock, comparable across processes).
pub fn wall_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// A small deterministic pseudo-random sequence (xorshift64*), for jittered gaps.
pub struct Jitter(u64);

impl Jitter {
    /// Seeded sequence (a zero seed is replaced).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// Uniform in `[0, max)`.
    pub fn below(&mut self, max: Duration) -> Duration {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let frac = (x >> 11) as f64 / (1u64 << 53) as f64;
        max.mul_f64(frac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
        assert_eq!(percentile(&[3.0], 0.5), 3.0);
        let s = summarize(&[5.0, 1.0, 3.0]);
        assert_eq!((s.n, s.p50, s.min, s.max), (3, 3.0, 1.0, 5.0));
    }

    #[test]
    fn jitter_stays_in_range() {
        let mut j = Jitter::new(7);
        for _ in 0..1000 {
            assert!(j.below(Duration::from_millis(100)) < Duration::from_millis(100));
        }
    }
}
