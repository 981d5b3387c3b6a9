//! End-to-end tests of `team run` workflows (spec-review) against a scripted LLM server.
#![allow(missing_docs)]

mod support;

mod answers;
mod cancel;
mod doctor;
mod failures;
mod gate;
mod live;
mod options;
mod replay;
mod reports;
mod resume;
mod resume_kinds;
mod self_review;
mod spec_review;
