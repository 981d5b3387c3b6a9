//! One module per command group: parse (in `cli`), call the store, render (in `output`).

pub mod agents;
pub mod approvals;
pub mod config;
pub mod doctor;
pub mod live;
pub mod logs;
pub mod mcp;
pub mod member;
pub mod memory;
pub mod message;
pub mod reports;
pub mod run;
pub mod runners;
pub mod task;
pub mod team;
pub mod top;
pub mod watch;
pub mod workflow;
