//! End-to-end tests of the `team` binary: every command, `--json` shapes, exit codes, bad
//! input, and contention between real processes, on SQLite and (with
//! `TEAM_TEST_DATABASE_URL`) PostgreSQL.
#![allow(missing_docs)]

mod support;

mod completions;
mod contention;
mod delivery;
mod errors;
mod faults;
mod logs;
mod members;
mod memory;
mod messages;
mod relay;
mod runners;
mod tasks;
mod teams;
mod top;
