//! End-to-end tests of `team run` workflows (spec-review) against a scripted LLM server.
#![allow(missing_docs)]
mod self_review;
