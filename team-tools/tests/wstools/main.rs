//! Integration tests of the wstools module.
#![allow(missing_docs)]

mod bash;
mod common;
mod permission;
mod sandbox;
mod tools;
