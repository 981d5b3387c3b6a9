//! End-to-end tests of the runner through the `team` binary (issue: the runner).
#![allow(missing_docs)]

mod support;

mod concurrency;
