//! The documents of `team runners` and `team runner stop`: the runners serving a database.

use schemars::JsonSchema;
use serde::Serialize;

use super::member_status;

/// What a runner is now. `alive` and `lost` are decided by the one rule
/// (`team_core::runner::runner_lost`, applied with a look at this host's process table by
/// `team_runner::reconcile::is_lost`): lost when its pid is dead on this host or its
/// heartbeat is older than three of its own periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunnerState {
    /// Serving: its process lives (this host) or its heartbeat is fresh (another host).
    Alive,
    /// Gone without stopping (killed, crashed, frozen): the next reconciliation fails the
    /// members it held with `runner lost`.
    Lost,
    /// Stopped cleanly (`stopped_at_ms` set); only listed with `--all`.
    Stopped,
}

impl RunnerState {
    /// The wire name (`alive`, `lost`, `stopped`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunnerState::Alive => "alive",
            RunnerState::Lost => "lost",
            RunnerState::Stopped => "stopped",
        }
    }
}

/// A member a runner holds (running, or idle between turns).
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "RunnerMember")]
pub struct RunnerMemberDoc {
    /// Its team's name.
    pub team: String,
    /// Its name in the team.
    pub name: String,
    /// `running` or `idle`.
    #[schemars(schema_with = "member_status")]
    pub status: team_core::MemberStatus,
}

/// One runner of `team runners --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Runner")]
pub struct RunnerDoc {
    /// Its id (what `team runner stop` takes).
    pub id: String,
    /// The host it registered from.
    pub host: String,
    /// Its process id on `host`.
    pub pid: i64,
    /// The version of `team` it runs; `null` for a runner of a version that did not say.
    pub version: Option<String>,
    /// `alive`, `lost` or `stopped`.
    pub state: RunnerState,
    /// Members it runs now (each holds one of its `max_agents` slots while it runs).
    pub slots_used: i64,
    /// Members it runs at once at most.
    pub max_agents: i64,
    /// Its heartbeat period, in ms (it is lost after three periods without one).
    pub heartbeat_ms: i64,
    /// Its last heartbeat, in ms since the epoch.
    pub heartbeat_at_ms: i64,
    /// How long ago its last heartbeat was, in ms.
    pub heartbeat_age_ms: i64,
    /// Started, in ms since the epoch.
    pub started_at_ms: i64,
    /// Stopped cleanly, in ms since the epoch.
    pub stopped_at_ms: Option<i64>,
    /// When `team runner stop` asked it to stop through the database, in ms since the epoch.
    pub stop_requested_at_ms: Option<i64>,
    /// The members it holds (running or idle), by team.
    pub members: Vec<RunnerMemberDoc>,
}

/// `team runner stop --json`: the runners it stopped (or found stopped), as they are now.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "RunnerStop")]
pub struct RunnerStopDoc {
    /// The runners asked to stop, after their stop.
    pub runners: Vec<RunnerDoc>,
}
