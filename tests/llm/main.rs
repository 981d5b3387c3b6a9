//! End-to-end tests of LLM agents through the `team` binary, against a scripted LLM server.
#![allow(missing_docs)]

mod support;

mod anthropic;
mod approvals;
mod budgets;
mod delegation;
mod failures;
mod fanout;
mod hooks;
mod models;
mod permissions;
mod runtimes;
mod secrets;
mod security;
mod steering;
mod tools;
