//! Integration tests of the providers module.
#![allow(missing_docs)]

mod common;
mod quirks;
mod registry_cassette;
mod resilience;
mod wire;
