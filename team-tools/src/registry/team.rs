//! The team tools' arguments (names as in the opencode team design): `task`, `send_message`,
//! `wait_for_messages`, `read_inbox`, `team_task`, `agent_memory`, `team_members`, `team_create`,
//! `team_delete`. Their effects are the runner's (they act on a live team); this module only
//! says what a call looks like. Field doc comments are the descriptions the model reads.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{ToolArgs, ToolInfo, ToolKind, parse};
use crate::error::ToolError;

/// Longest `wait_for_messages` wait, in seconds.
pub const MAX_WAIT_SECS: u64 = 600;
/// `wait_for_messages`'s wait when the call gives none, in seconds.
const DEFAULT_WAIT_SECS: f64 = 60.0;

fn yes() -> bool {
    true
}

/// Arguments of `task`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskArgs {
    /// agent name
    pub agent: String,
    /// What the new member is asked to do.
    pub prompt: String,
    /// Return at once (true, the default) or wait for the member's result (false).
    #[serde(default = "yes")]
    pub background: bool,
    /// Keep the member alive between turns, waiting for messages (default false).
    #[serde(default)]
    pub persistent: bool,
    /// a team you lead (default: your team)
    #[serde(default)]
    pub team: Option<String>,
}

impl ToolArgs for TaskArgs {
    const NAME: &'static str = "task";
    const KIND: ToolKind = ToolKind::Team;
    const DESCRIPTION: &'static str = "Start a new member of the team running `agent` with \
        `prompt`. background=true (default) returns the member's name at once; its result \
        arrives later in your inbox as `[AGENT COMPLETED] name: …`. background=false waits and \
        returns its result. persistent=true keeps it alive between turns, waiting for messages.";
}

/// Arguments of `send_message`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessageArgs {
    /// A member's exact name, "lead", or "all".
    pub to: String,
    /// The message.
    pub body: String,
}

impl ToolArgs for SendMessageArgs {
    const NAME: &'static str = "send_message";
    const KIND: ToolKind = ToolKind::Team;
    const DESCRIPTION: &'static str = "Send a message to a member (its exact name), to \
        \"lead\", or to \"all\" (every live member but you).";
}

/// Arguments of `wait_for_messages`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitForMessagesArgs {
    /// seconds, at most 600 (default 60)
    #[serde(default)]
    pub timeout_s: Option<f64>,
}

impl WaitForMessagesArgs {
    /// How long to wait, in seconds: `timeout_s` (default 60) within 0 ..= [`MAX_WAIT_SECS`].
    pub fn timeout_secs(&self) -> f64 {
        let secs = self.timeout_s.unwrap_or(DEFAULT_WAIT_SECS);
        if secs.is_nan() {
            return 0.0;
        }
        secs.clamp(0.0, MAX_WAIT_SECS as f64)
    }
}

impl ToolArgs for WaitForMessagesArgs {
    const NAME: &'static str = "wait_for_messages";
    const KIND: ToolKind = ToolKind::Team;
    const DESCRIPTION: &'static str = "Wait until your inbox has messages (or timeout_s \
        passes) and return them, oldest first. Each message is delivered once.";
}

/// Arguments of `read_inbox`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadInboxArgs {
    /// Leave the messages unread (default false: they are taken, and delivered once).
    #[serde(default)]
    pub peek: bool,
}

impl ToolArgs for ReadInboxArgs {
    const NAME: &'static str = "read_inbox";
    const KIND: ToolKind = ToolKind::Team;
    const DESCRIPTION: &'static str = "Return the messages in your inbox now, oldest first, \
        without waiting (none: an empty list). They are taken (delivered once) unless \
        peek=true.";
}

/// What a `team_task` call does to the team's task board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TeamTaskAction {
    /// List the tasks.
    List,
    /// Add a task (`title`, `description`?, `blocked_by`?).
    Add,
    /// Claim a task (`id`, or the oldest claimable).
    Claim,
    /// Complete a task you hold (`id`, `result`?).
    Complete,
    /// Fail a task you hold (`id`, `result`?).
    Fail,
    /// Give a task back to the board (`id`).
    Release,
}

impl TeamTaskAction {
    /// The action as written in a call, e.g. `add`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::List => "list",
            Self::Add => "add",
            Self::Claim => "claim",
            Self::Complete => "complete",
            Self::Fail => "fail",
            Self::Release => "release",
        }
    }
}

/// Arguments of `team_task`: one action and the fields it uses (others are ignored).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamTaskArgs {
    /// list | add | claim | complete | fail | release
    pub action: TeamTaskAction,
    /// The task's id (claim, complete, fail, release).
    #[serde(default)]
    pub id: Option<i64>,
    /// The new task's title (add).
    #[serde(default)]
    pub title: Option<String>,
    /// The new task's description (add).
    #[serde(default)]
    pub description: Option<String>,
    /// Ids of the tasks the new task waits for (add).
    #[serde(default)]
    pub blocked_by: Vec<i64>,
    /// The outcome (complete, fail).
    #[serde(default)]
    pub result: Option<String>,
}

/// How `team_task` moves a task it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskMove {
    /// `complete`.
    Complete,
    /// `fail`.
    Fail,
    /// `release`: back to pending.
    Release,
}

/// A `team_task` call with the fields its action needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamTaskOp {
    /// List the board.
    List,
    /// Add a task.
    Add {
        /// Its title.
        title: String,
        /// Its description.
        description: Option<String>,
        /// The tasks it waits for.
        blocked_by: Vec<i64>,
    },
    /// Claim task `id`, or the oldest claimable one.
    Claim {
        /// The task, if named.
        id: Option<i64>,
    },
    /// Complete, fail or release task `id`.
    Move {
        /// The task.
        id: i64,
        /// Which move.
        to: TaskMove,
        /// The outcome, if given.
        result: Option<String>,
    },
}

impl TeamTaskArgs {
    /// The operation, or the field its action misses ("team_task add needs `title`").
    fn op(self) -> Result<TeamTaskOp, String> {
        let action = self.action;
        let id = || {
            self.id
                .ok_or_else(|| format!("team_task {} needs `id`", action.as_str()))
        };
        let to = match action {
            TeamTaskAction::List => return Ok(TeamTaskOp::List),
            TeamTaskAction::Claim => return Ok(TeamTaskOp::Claim { id: self.id }),
            TeamTaskAction::Add => {
                let title = self
                    .title
                    .clone()
                    .ok_or("team_task add needs `title`".to_owned())?;
                return Ok(TeamTaskOp::Add {
                    title,
                    description: self.description.clone(),
                    blocked_by: self.blocked_by.clone(),
                });
            }
            TeamTaskAction::Complete => TaskMove::Complete,
            TeamTaskAction::Fail => TaskMove::Fail,
            TeamTaskAction::Release => TaskMove::Release,
        };
        Ok(TeamTaskOp::Move {
            id: id()?,
            to,
            result: self.result.clone(),
        })
    }
}

impl ToolArgs for TeamTaskArgs {
    const NAME: &'static str = "team_task";
    const KIND: ToolKind = ToolKind::Team;
    const DESCRIPTION: &'static str = "The team's shared task board. action: list | add \
        (title, description?, blocked_by?) | claim (id? — default the oldest claimable) | \
        complete (id, result?) | fail (id, result?) | release (id).";

    fn check(&self) -> Result<(), String> {
        self.clone().op().map(|_| ())
    }
}

/// What an `agent_memory` call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MemoryAction {
    /// Read the memory.
    Read,
    /// Replace it with `content`.
    Write,
    /// Add `content` at its end.
    Append,
    /// Empty it.
    Clear,
}

impl MemoryAction {
    /// The action as written in a call, e.g. `append`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Append => "append",
            Self::Clear => "clear",
        }
    }
}

/// Arguments of `agent_memory`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentMemoryArgs {
    /// read | write | append | clear
    pub action: MemoryAction,
    /// The text to write or append.
    #[serde(default)]
    pub content: Option<String>,
}

/// An `agent_memory` call with the fields its action needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemoryOp {
    /// Read the memory.
    Read,
    /// Replace it.
    Write(String),
    /// Add to its end.
    Append(String),
    /// Empty it.
    Clear,
}

impl AgentMemoryArgs {
    /// The operation, or the field its action misses ("agent_memory write needs `content`").
    fn op(self) -> Result<MemoryOp, String> {
        let action = self.action;
        let content = || {
            self.content
                .clone()
                .ok_or_else(|| format!("agent_memory {} needs `content`", action.as_str()))
        };
        Ok(match action {
            MemoryAction::Read => MemoryOp::Read,
            MemoryAction::Write => MemoryOp::Write(content()?),
            MemoryAction::Append => MemoryOp::Append(content()?),
            MemoryAction::Clear => MemoryOp::Clear,
        })
    }
}

impl ToolArgs for AgentMemoryArgs {
    const NAME: &'static str = "agent_memory";
    const KIND: ToolKind = ToolKind::Team;
    const DESCRIPTION: &'static str = "Your memory in this project, kept across runs (100 KiB, \
        the newest kept). action: read | write (content) | append (content) | clear.";

    fn check(&self) -> Result<(), String> {
        self.clone().op().map(|_| ())
    }
}

/// Arguments of `team_members`: none.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamMembersArgs {}

impl ToolArgs for TeamMembersArgs {
    const NAME: &'static str = "team_members";
    const KIND: ToolKind = ToolKind::Team;
    const DESCRIPTION: &'static str =
        "List the team's members: exact name, agent, role and status.";
}

/// Arguments of `team_create`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamCreateArgs {
    /// The new team's name.
    pub name: String,
}

impl ToolArgs for TeamCreateArgs {
    const NAME: &'static str = "team_create";
    const KIND: ToolKind = ToolKind::Team;
    const DESCRIPTION: &'static str = "Create a new team that you lead (its members are \
        started with `task` and `team`).";
}

/// Arguments of `team_delete`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamDeleteArgs {
    /// The team to disband (default: your own team).
    #[serde(default)]
    pub team: Option<String>,
}

impl ToolArgs for TeamDeleteArgs {
    const NAME: &'static str = "team_delete";
    const KIND: ToolKind = ToolKind::Team;
    const DESCRIPTION: &'static str = "Disband a team you lead (default: your own team): every \
        live member and open task is cancelled.";
}

/// A parsed call of a team tool.
#[derive(Debug, Clone, PartialEq)]
pub enum TeamCall {
    /// `task`.
    Task(TaskArgs),
    /// `send_message`.
    SendMessage(SendMessageArgs),
    /// `wait_for_messages`.
    WaitForMessages(WaitForMessagesArgs),
    /// `read_inbox`.
    ReadInbox(ReadInboxArgs),
    /// `team_task`.
    TeamTask(TeamTaskOp),
    /// `agent_memory`.
    AgentMemory(MemoryOp),
    /// `team_members`.
    TeamMembers,
    /// `team_create`.
    TeamCreate(TeamCreateArgs),
    /// `team_delete`.
    TeamDelete(TeamDeleteArgs),
}

impl TeamCall {
    /// Parses a call of team tool `name`; `None` when `name` is not a team tool.
    ///
    /// Errors: [`ToolError::InvalidArgs`] (see [`super::parse`]), also when an action misses a
    /// field it needs.
    pub fn parse(name: &str, args_json: &str) -> Option<Result<TeamCall, ToolError>> {
        Some(match name {
            TaskArgs::NAME => parse(args_json).map(Self::Task),
            SendMessageArgs::NAME => parse(args_json).map(Self::SendMessage),
            WaitForMessagesArgs::NAME => parse(args_json).map(Self::WaitForMessages),
            ReadInboxArgs::NAME => parse(args_json).map(Self::ReadInbox),
            TeamTaskArgs::NAME => parse::<TeamTaskArgs>(args_json).and_then(|a| {
                a.op()
                    .map(Self::TeamTask)
                    .map_err(|d| ToolInfo::of::<TeamTaskArgs>().invalid(d))
            }),
            AgentMemoryArgs::NAME => parse::<AgentMemoryArgs>(args_json).and_then(|a| {
                a.op()
                    .map(Self::AgentMemory)
                    .map_err(|d| ToolInfo::of::<AgentMemoryArgs>().invalid(d))
            }),
            TeamMembersArgs::NAME => parse::<TeamMembersArgs>(args_json).map(|_| Self::TeamMembers),
            TeamCreateArgs::NAME => parse(args_json).map(Self::TeamCreate),
            TeamDeleteArgs::NAME => parse(args_json).map(Self::TeamDelete),
            _ => return None,
        })
    }

    /// The tool's name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Task(_) => TaskArgs::NAME,
            Self::SendMessage(_) => SendMessageArgs::NAME,
            Self::WaitForMessages(_) => WaitForMessagesArgs::NAME,
            Self::ReadInbox(_) => ReadInboxArgs::NAME,
            Self::TeamTask(_) => TeamTaskArgs::NAME,
            Self::AgentMemory(_) => AgentMemoryArgs::NAME,
            Self::TeamMembers => TeamMembersArgs::NAME,
            Self::TeamCreate(_) => TeamCreateArgs::NAME,
            Self::TeamDelete(_) => TeamDeleteArgs::NAME,
        }
    }
}
