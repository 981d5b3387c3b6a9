//! End-to-end tests of the runner through the `team` binary (issue: the runner).
#![allow(missing_docs)]

mod support;

mod agent_files;
mod cancel;
mod concurrency;
mod errors;
mod notices;
mod reconcile;
mod wakeup;
