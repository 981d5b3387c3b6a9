//! The store's operations, one file per entity, written once and compiled per engine.
//!
//! Each file is a module of [`sqlite`] and, again, of [`pg`] (the two load the same files,
//! `#[path = "."]`), each of which defines `Conn` (its concrete connection type); everything
//! that differs between the engines goes through the hooks of [`crate::dialect::Dialect`],
//! implemented by `Conn`. (A generic `fn op<C: Dialect>` would need a Diesel trait bound per
//! query; two compilations of plain code read better.) The modules reach each other through
//! `super::<entity>`.
//!
//! Every write that reads first runs in `Dialect::write_tx` (SQLite: `BEGIN IMMEDIATE`;
//! PostgreSQL: a transaction with row locks), and every state change is a guarded
//! `UPDATE … WHERE status = <from>` whose row comes back with `RETURNING *` (or, for a
//! member's hot writes, `member_write!`: read back by key in the same transaction on SQLite),
//! so no check-then-act race exists. The rules come from `team-core` (transition tables,
//! `cascade::member_end`, `delivery::may_act`, `manage::may_disband`); the files here only
//! read, write and carry the rules' plans out.
//!
//! | file | entity |
//! |---|---|
//! | `checkpoints.rs` | LLM members' conversation checkpoints (latest per member) |
//! | `events.rs` | the `events` log: the append every change makes, `team logs` |
//! | `teams.rs` | teams: create, find, list, end (disband, complete, fail) with its cascade |
//! | `members.rs` | members: add, read, live steps (sleep, wake), a turn's end and progress |
//! | `ends.rs` | a member's end: [`team_core::cascade::member_end`]'s plan carried out |
//! | `tasks.rs` | the task board: add, read, claim (with leases), move |
//! | `messages.rs` | messages: send, inbox takes (leased or not), reads |
//! | `memory.rs` | per-agent memory (capped) |
//! | `approvals.rs` | approval requests: ask (parking the member), list, decide |
//! | `runners.rs` | runners and what they hold: register, heartbeat, claim pending members |

/// The entity modules of one engine, from the files beside this one.
macro_rules! entities {
    () => {
        pub(crate) mod approvals;
        pub(crate) mod checkpoints;
        pub(crate) mod ends;
        pub(crate) mod events;
        pub(crate) mod members;
        pub(crate) mod memory;
        pub(crate) mod messages;
        pub(crate) mod runners;
        pub(crate) mod tasks;
        pub(crate) mod teams;
    };
}

/// The operations on SQLite.
#[path = "."]
#[allow(
    clippy::duplicate_mod,
    reason = "compiled once per engine: see the module docs"
)]
pub(crate) mod sqlite {
    /// The connection these operations run on.
    pub(crate) type Conn = diesel::SqliteConnection;
    entities!();
}

/// The operations on PostgreSQL.
#[path = "."]
#[allow(
    clippy::duplicate_mod,
    reason = "compiled once per engine: see the module docs"
)]
pub(crate) mod pg {
    /// The connection these operations run on.
    pub(crate) type Conn = diesel::PgConnection;
    entities!();
}
