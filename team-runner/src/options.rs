//! The settings of an engine ([`EngineOptions`]): a leaf of the crate, read by the engine,
//! its members and the workflows alike.

use std::path::PathBuf;
use std::time::Duration;

/// Settings of an engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Members running at once (`[team] max_agents`, default 10). Idle members hold no slot.
    pub max_agents: usize,
    /// How long an idle persistent member waits for a message before it completes
    /// (`[team] member_timeout_secs`, default 300 s).
    pub member_timeout: Duration,
    /// Heartbeat period (default 2 s). A runner whose heartbeat is older than three periods,
    /// or whose pid is dead on this host, is lost (see `reconcile`).
    pub heartbeat: Duration,
    /// Poll period for messages sent by other processes (default 10 ms): one cheap look at
    /// the highest message id; the members this runner holds are listed only when it moved.
    pub poll: Duration,
    /// Longest time between two full looks at the members this runner holds, to notice ends
    /// decided elsewhere that send no message (default 500 ms).
    pub full_poll: Duration,
    /// Poll period of the queue of pending members when nothing was queued in-process
    /// (default 100 ms).
    pub queue_poll: Duration,
    /// Stop serving after this long with nothing pending, running or idle (detached runners);
    /// `None` serves until stopped.
    pub idle_exit: Option<Duration>,
    /// The project root: the working directory of command agents, the key of agent memory.
    pub project_root: PathBuf,
    /// The database URL given to command agents as `TEAM_DATABASE_URL` (absolute path or
    /// URL).
    pub db_url: String,
    /// Serve only the pending members of this team (a foreground run); `None` serves all.
    pub team: Option<String>,
    /// The fingerprint of the environment this runner gives its agents
    /// ([`crate::fingerprint`]): registered with the runner; the dispatcher claims only
    /// members spawned with no fingerprint or with this one. `None` claims only the former.
    pub env_fingerprint: Option<String>,
    /// The Unix socket of the local relay serving this database in this process (`team
    /// runner`, `team run`: team-cli's `relay`), given to command agents as
    /// `TEAM_RUNNER_SOCKET` so their `team send` / `team inbox` go through it instead of
    /// opening the database. `None`: the variable is not set.
    pub runner_socket: Option<PathBuf>,
}

impl EngineOptions {
    /// Defaults for a project: 10 slots, 300 s idle timeout, 2 s heartbeat, 10 ms message poll,
    /// 500 ms full poll, 100 ms queue poll.
    pub fn new(project_root: PathBuf, db_url: String) -> Self {
        Self {
            max_agents: 10,
            member_timeout: Duration::from_secs(300),
            heartbeat: Duration::from_secs(2),
            poll: Duration::from_millis(10),
            full_poll: Duration::from_millis(500),
            queue_poll: Duration::from_millis(100),
            idle_exit: None,
            project_root,
            db_url,
            team: None,
            env_fingerprint: None,
            runner_socket: None,
        }
    }
}
