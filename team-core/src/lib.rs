//! `team-core`: the pure domain of `team`.
//!
//! What lives here: ids and names ([`names`]), the entities a team is made of ([`entity`]), the
//! lifecycle state machines as transition functions ([`lifecycle`]), member-name disambiguation
//! ([`names::disambiguate`]), the agent-memory cap ([`memory`]) and the cascade rules that say what
//! a disband or a member failure does to the rest of a team ([`cascade`]), and who may still act as a
//! member, leases and the message size limit ([`delivery`]), what a member's end does
//! ([`cascade::member_end`]), when a runner is lost ([`runner::runner_lost`]) and who may take a
//! team down ([`manage::may_disband`]), and when a member's attempt is retried
//! ([`retry::plan_retry`]), and what `team resume` takes up again ([`resume`]), and what a team's budget allows
//! ([`budget`]: its 80 %/100 % levels, whether a member's reservation fits).
//!
//! What does not: IO of any kind, clocks, randomness, async runtimes, databases, argument parsing.
//! The store (`team-store`) calls these functions inside its transactions and mirrors each
//! transition in an SQL guard (`UPDATE … WHERE status = <from>`), so the rules are stated once.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod budget;
pub mod cascade;
pub mod delivery;
pub mod entity;
pub mod lifecycle;
pub mod manage;
pub mod memory;
pub mod names;
pub mod resume;
pub mod retry;
pub mod runner;

pub use entity::{
    Approval, ApprovalKind, Event, Member, MemoryEntry, Message, MessageKind, Role, Task, Team,
};
pub use lifecycle::{
    ApprovalEvent, ApprovalStatus, IllegalTransition, MemberEvent, MemberStatus, TaskEvent,
    TaskStatus, TeamEvent, TeamStatus,
};
pub use names::{AgentName, InvalidName, MemberName, TeamName};

/// The name every command accepts for a team's lead, whatever the lead's own member name is
/// (`team inbox demo lead`).
pub const LEAD_ALIAS: &str = "lead";

/// The recipient written for a broadcast in `team send --all` and the `send_message` tool.
pub const ALL_ALIAS: &str = "all";
