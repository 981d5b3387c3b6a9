//! Inputs and outputs of store operations (the entities themselves live in `team-core`).

use serde::Serialize;
use team_core::{
    AgentName, Member, MemberStatus, MemoryEntry, Message, MessageKind, Task, TaskStatus, Team,
    TeamName, TeamStatus,
};

/// A team to create with [`crate::Store::create_team`]; its lead member (`lead`) is created in
/// the same transaction.
#[derive(Debug, Clone)]
pub struct NewTeam {
    /// Unique among active teams.
    pub name: TeamName,
    /// The agent the lead runs as; `lead` when the lead is a person or a script.
    pub lead_agent: AgentName,
    /// The workflow that creates the team, if any.
    pub workflow: Option<String>,
    /// The project root (agents and memory are per project).
    pub project_root: String,
    /// The foreground process owning the team, as (pid, host): reconciliation fails the team
    /// when it is gone. `None` for teams created from a shell that outlive the command.
    pub owner: Option<(i64, String)>,
}

/// A member to add with [`crate::Store::add_member`].
#[derive(Debug, Clone)]
pub struct NewMember {
    /// The agent it runs; its name is this agent's, disambiguated (`reviewer-2`).
    pub agent: AgentName,
    /// The prompt of its first turn (for members a runner runs).
    pub prompt: Option<String>,
    /// Go `idle` after each turn and wait for messages, instead of completing.
    pub persistent: bool,
    /// Hard timeout in seconds.
    pub timeout_secs: Option<i64>,
    /// `pending` to queue it for a runner (`team spawn --background`), or `running` for a
    /// member that a person or script drives itself (`team member add`) or that the calling
    /// process runs at once (foreground `team spawn`).
    pub status: MemberStatus,
    /// The runner that holds it from the start (foreground runs); `None` otherwise.
    pub runner_id: Option<String>,
}

/// A member a runner holds, as its poller sees it: enough to notice an outside cancel (the
/// member is no longer listed) and an outside message (`unread` grew).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldMember {
    /// Member id.
    pub id: i64,
    /// Its status (`running` or `idle`).
    pub status: MemberStatus,
    /// Unread messages in its inbox.
    pub unread: i64,
}

/// A task to add with [`crate::Store::add_task`].
#[derive(Debug, Clone, Default)]
pub struct NewTask {
    /// One line; must not be empty.
    pub title: String,
    /// More detail.
    pub description: Option<String>,
    /// Ids of tasks of the same team that must complete first; each must exist.
    pub blocked_by: Vec<i64>,
    /// A member to reserve the task for: only it may claim it. Must be a member of the team.
    pub assignee: Option<String>,
}

/// Who a message goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// One member, by name (`lead` names the lead).
    Member(String),
    /// Every live member of the team except the sender: one delivery each.
    All,
}

/// A message to send with [`crate::Store::send_message`].
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// The sending member's name (`lead` for the lead); `team` for system messages, which
    /// need no member.
    pub from: &'a str,
    /// The recipient.
    pub to: Recipient,
    /// What the message is.
    pub kind: MessageKind,
    /// The text.
    pub body: &'a str,
}

/// A filter for [`crate::Store::list_teams`].
#[derive(Debug, Clone, Default)]
pub struct TeamFilter {
    /// Include terminal teams (default: active only).
    pub all: bool,
    /// Only teams in this state (implies `all` for terminal states).
    pub status: Option<TeamStatus>,
}

/// A team with counts of its members and tasks, for `team list`.
#[derive(Debug, Clone, Serialize)]
pub struct TeamSummary {
    /// The team.
    #[serde(flatten)]
    pub team: Team,
    /// Members in a live state (pending, running, idle), the lead included.
    pub members_live: i64,
    /// All members, the lead included.
    pub members_total: i64,
    /// Tasks not yet terminal.
    pub tasks_open: i64,
    /// All tasks.
    pub tasks_total: i64,
}

/// What a disband did.
#[derive(Debug, Clone, Serialize)]
pub struct Disbanded {
    /// The team, now `disbanded`.
    pub team: Team,
    /// Names of the members moved to `cancelled`.
    pub cancelled_members: Vec<String>,
    /// Ids of the tasks moved to `cancelled`.
    pub cancelled_tasks: Vec<i64>,
}

/// Bookkeeping a runner gathered for one member since its last write: written with the
/// member's next write ([`crate::Store::record_progress`], or its end with
/// [`crate::Store::finish_member_with`]) in the same transaction instead of one each. A
/// one-call LLM member so needs two write transactions after its claim instead of four
/// (bench/findings.md § 1.4).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// `Some(Some(pid))` records the member's process id, `Some(None)` clears it, `None`
    /// leaves it.
    pub pid: Option<Option<i64>>,
    /// Turns to add to the member's `turns` counter.
    pub turns: i64,
    /// Prompt tokens to add to the member's `tokens_in`.
    pub tokens_in: i64,
    /// Completion tokens to add to the member's `tokens_out`.
    pub tokens_out: i64,
    /// Events to append for the member, oldest first: kind (dotted, e.g. `provider.call`)
    /// and JSON payload.
    pub events: Vec<(String, serde_json::Value)>,
}

impl Progress {
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.pid.is_none()
            && self.turns == 0
            && self.tokens_in == 0
            && self.tokens_out == 0
            && self.events.is_empty()
    }

    /// Adds `other` to this: counters summed, its events after ours, its pid (if set) wins.
    pub fn absorb(&mut self, other: Progress) {
        if other.pid.is_some() {
            self.pid = other.pid;
        }
        self.turns += other.turns;
        self.tokens_in += other.tokens_in;
        self.tokens_out += other.tokens_out;
        self.events.extend(other.events);
    }
}

/// How a member's turn or life ended, for [`crate::Store::finish_member`] (defined in
/// `team-core`, whose `cascade::member_end` plans what an end does).
pub use team_core::cascade::Outcome;

/// One member's end, for [`crate::Store::finish_members`].
#[derive(Debug, Clone)]
pub struct MemberEnd {
    /// The member's team id.
    pub team_id: String,
    /// The member's name (`lead` names the lead).
    pub name: String,
    /// How it ended.
    pub outcome: Outcome,
    /// What its last turn left unwritten; written even when the end is refused (not when
    /// the attempt was superseded).
    pub progress: Progress,
    /// The attempt that ends (a runner: the attempt it claimed): refused, writing nothing,
    /// once the member moved on to another (`team_core::delivery::may_act`). `None` ends
    /// whatever attempt it is on.
    pub attempt: Option<i64>,
}

/// What finishing a member did.
#[derive(Debug, Clone, Serialize)]
pub struct Finished {
    /// The member, now terminal.
    pub member: Member,
    /// Tasks the member held that moved to `failed` (on failure or timeout) or back to
    /// `pending` (on cancellation).
    pub tasks_changed: Vec<(i64, TaskStatus)>,
    /// True when this was the last of the lead's members and `[ALL MEMBERS DONE]` was sent.
    pub all_done: bool,
    /// The name of the lead the notices went to (`None` for the lead itself, which sends none):
    /// the runner wakes it, so a lead blocked waiting for messages sees the notice at once.
    /// Not part of the JSON shape of `team member done|fail --json`.
    #[serde(skip)]
    pub notified: Option<String>,
}

/// The result of a memory write: the stored entry and how many bytes of the oldest content
/// were cut to keep it under the 100 KiB cap.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryWrite {
    /// The stored memory.
    pub entry: MemoryEntry,
    /// Bytes cut from the oldest content (0 when it fit).
    pub cut_bytes: usize,
}

/// A task claim and the task it produced.
pub type Claimed = Task;

/// A runner process registered in the database.
#[derive(Debug, Clone, Serialize)]
pub struct Runner {
    /// Random id.
    pub id: String,
    /// Its pid on `host`.
    pub pid: i64,
    /// Host name.
    pub host: String,
    /// Its concurrency limit.
    pub max_agents: i64,
    /// Start time, ms since the epoch.
    pub started_at_ms: i64,
    /// Last heartbeat, ms since the epoch.
    pub heartbeat_at_ms: i64,
    /// When it stopped cleanly, if it did.
    pub stopped_at_ms: Option<i64>,
    /// Its heartbeat period in ms (the unit of `team_core::runner::runner_lost`).
    pub heartbeat_ms: i64,
    /// The keyed hash of the environment it runs agents with (see [`MemberSpec`]); `None`
    /// for a runner that did not give one.
    pub env_fingerprint: Option<String>,
    /// The version of `team` it runs (`0.4.0`); `None` for a runner that did not say (one
    /// registered before the column existed).
    pub version: Option<String>,
    /// When a stop was asked of it through the database ([`crate::Store::request_runner_stop`]),
    /// ms since the epoch: it stops itself at its next heartbeat.
    pub stop_requested_at_ms: Option<i64>,
}

impl Runner {
    /// What `team_core::runner::runner_lost` needs of this runner, given `pid_alive`: whether
    /// its pid lives on the caller's host (a look at the process table, which this crate does
    /// not make; only read when the runner registered from the caller's host).
    pub fn sighting(&self, pid_alive: bool) -> team_core::runner::RunnerSighting<'_> {
        team_core::runner::RunnerSighting {
            host: &self.host,
            pid_alive,
            heartbeat_at_ms: self.heartbeat_at_ms,
            heartbeat_ms: self.heartbeat_ms,
            stopped: self.stopped_at_ms.is_some(),
        }
    }

    /// Whether this runner is lost, seen from `my_host` at `now_ms` (ms since the epoch), by
    /// the one rule `team_core::runner::runner_lost`; `pid_alive` as for [`Runner::sighting`].
    pub fn is_lost(&self, pid_alive: bool, my_host: &str, now_ms: i64) -> bool {
        team_core::runner::runner_lost(&self.sighting(pid_alive), my_host, now_ms)
    }
}

/// What a member was spawned with, stored with it so that a runner runs exactly that
/// (issue 14: a runner started before an agent file was added or edited, or from a shell with
/// another environment, must not run something else).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberSpec {
    /// The agent definition's text (Markdown with front matter) as the spawner read and
    /// validated it; `None`: the runner looks the agent up itself (built-in agents, members
    /// added by a runner's own tools or workflows).
    pub agent_def: Option<String>,
    /// Where the definition came from, `KIND:PATH` (`team:/p/.team/agents/x.md`).
    pub agent_source: Option<String>,
    /// A keyed hash of the spawner's provider environment (PATH, API keys, base URLs); a
    /// runner claims the member only when its own fingerprint is the same. Never the values.
    pub env_fingerprint: Option<String>,
    /// Its agent's retry policy (`retries`, `backoff`), stored as `members.max_attempts` and
    /// `members.retry_backoff_ms` (see `team_core::retry`); the default is one attempt.
    pub retry: team_core::retry::RetryPolicy,
    /// `team spawn --on-ask MODE` (`prompt`, `deny`, `park`): what an `ask` of this member's
    /// tool calls becomes; `None`: the runner's own setting.
    pub on_ask: Option<String>,
}

/// How a runner registers (see [`crate::Store::register_runner_with`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRunner {
    /// Its pid on `host`.
    pub pid: i64,
    /// Host name.
    pub host: String,
    /// Its concurrency limit.
    pub max_agents: i64,
    /// Its heartbeat period, ms.
    pub heartbeat_ms: i64,
    /// The fingerprint of its environment (see [`MemberSpec::env_fingerprint`]).
    pub env_fingerprint: Option<String>,
    /// The version of `team` it runs (see [`Runner::version`]).
    pub version: Option<String>,
}

/// The member a write is made as, when it is not implied by the operation (a task's
/// completion, a memory write): the store refuses the write once that member has ended
/// (fencing, `team_core::delivery::may_act`), in the write's own transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor<'a> {
    /// The member's team id.
    pub team_id: &'a str,
    /// The member's name (`lead` names the lead).
    pub member: &'a str,
    /// The attempt of the member the writer acts as (a runner: the attempt it claimed; a
    /// member's process: `TEAM_MEMBER_ATTEMPT`), refused once the member moved on to another
    /// (`team_core::delivery::may_act`); `None` (a person at a shell) checks its state only.
    pub attempt: Option<i64>,
}

/// Messages taken from an inbox under a delivery lease ([`crate::Store::lease_inbox`]): hidden
/// from other takes until `lease` is acknowledged ([`crate::Store::ack_inbox`]) or its time
/// runs out, after which they are visible (and taken) again.
#[derive(Debug, Clone)]
pub struct Leased {
    /// The lease token, to acknowledge the take with.
    pub lease: String,
    /// The messages, oldest first (empty when there was nothing to take).
    pub messages: Vec<Message>,
}

/// A memory write for [`crate::Store::memory_write_as`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryOp<'a> {
    /// Replace the memory with this text.
    Set(&'a str),
    /// Append this text.
    Append(&'a str),
    /// Delete the memory.
    Clear,
}

/// What a runner's heartbeat read back ([`crate::Store::heartbeat_runner`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    /// Go on serving.
    Alive,
    /// A stop was asked of it (`team runner stop`): stop as on SIGTERM.
    StopRequested,
    /// Another process marked it stopped: it was found lost (its heartbeat older than three
    /// periods, `team_core::runner::runner_lost`), and the members it held were retried or
    /// failed. It must stop everything it runs for them (their writes are fenced anyway) and
    /// exit or register anew.
    MarkedLost,
}

/// What [`crate::Store::retry_member`] did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Retried {
    /// The member went back to `pending` for its next attempt (`member.attempt`).
    Retried {
        /// The member, now `pending`.
        member: Member,
        /// Ids of the tasks it held that went back to `pending`.
        tasks_released: Vec<i64>,
        /// No runner claims it before this time (the end of its backoff), ms since the epoch:
        /// when a process that retried it should look at the queue again.
        not_before_ms: i64,
    },
    /// It had no attempt left: it failed (the lead was told, its tasks cascaded).
    Failed(Finished),
}

impl Retried {
    /// The member as it is now.
    pub fn member(&self) -> &Member {
        match self {
            Retried::Retried { member, .. } => member,
            Retried::Failed(f) => &f.member,
        }
    }
}

/// The latest checkpoint of an LLM member's conversation (`checkpoints`, one row per member):
/// what a retried or resumed member goes on from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The member's id.
    pub member_id: i64,
    /// How many checkpoints the member wrote (this one included).
    pub seq: i64,
    /// Model calls the member made so far (its next call is `calls + 1`: a cassette's turn).
    pub calls: i64,
    /// True when the conversation ends with the answer of a finished turn (written with a
    /// persistent member's end of turn: its result was sent); false mid-turn.
    pub turn_done: bool,
    /// The conversation (`team_provider::ChatMessage`s) as JSON.
    pub messages: String,
    /// When it was written, ms since the epoch.
    pub at_ms: i64,
}

/// A checkpoint to write ([`crate::Store::save_checkpoint`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewCheckpoint<'a> {
    /// The member's team id.
    pub team_id: &'a str,
    /// The member's id.
    pub member_id: i64,
    /// Model calls made so far.
    pub calls: i64,
    /// See [`Checkpoint::turn_done`].
    pub turn_done: bool,
    /// The conversation as JSON.
    pub messages: &'a str,
    /// The attempt whose conversation it is (the runner's claim): refused once the member
    /// moved on to another attempt, so a superseded session never overwrites the checkpoint
    /// of the attempt that replaced it. `None` writes it for any attempt.
    pub attempt: Option<i64>,
}

/// What [`crate::Store::resume_team`] took up again.
#[derive(Debug, Clone, Serialize)]
pub struct Resumed {
    /// The team, now `active`.
    pub team: Team,
    /// Names of the members queued again (`pending`, next attempt); the lead is not listed.
    pub members: Vec<String>,
    /// Ids of the tasks reopened (`pending`).
    pub tasks: Vec<i64>,
    /// Names of the members kept as they ended (completed, or failed on their own).
    pub kept: Vec<String>,
}

/// What ends a persistent member's turn besides its progress (`ops::members::end_turn`).
#[derive(Clone, Copy)]
pub(crate) struct EndOfTurn<'a> {
    /// The result sent to the lead.
    pub result: Option<&'a str>,
    /// The conversation checkpoint written with it.
    pub checkpoint: Option<&'a NewCheckpoint<'a>>,
    /// The attempt that ends its turn (fencing), when the caller names one.
    pub attempt: Option<i64>,
}

/// An approval request to record with [`crate::Store::ask_approval`]: a member's tool call (or
/// plan) that waits for a human.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApproval {
    /// A tool call or a plan.
    pub kind: team_core::ApprovalKind,
    /// The tool (`bash`); `plan` for a plan.
    pub tool: String,
    /// The call's arguments as the model sent them (JSON text), or the plan's text.
    pub arguments: String,
    /// A one-line summary shown to the human.
    pub summary: String,
    /// Why it needs approval (the rule that said `ask`).
    pub why: String,
}

/// A human's decision on an approval request ([`crate::Store::decide_approval`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalDecision {
    /// Allow the call; `always`: also every later call of the same tool in the team.
    Approve {
        /// Add an allow rule for the tool for the rest of the run (the team).
        always: bool,
    },
    /// Refuse the call; `reason` goes back to the model as the tool error.
    Deny {
        /// Why (required: the model reads it).
        reason: String,
    },
}
