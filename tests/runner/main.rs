//! End-to-end tests of the runner through the `team` binary (issue: the runner).
#![allow(missing_docs)]

mod support;

mod agent_files;
mod cancel;
mod concurrency;
mod edges;
mod errors;
mod lost;
mod notices;
mod reconcile;
mod retries;
mod wakeup;
