//! Issue 19: several hosts, one PostgreSQL. Hosts are simulated on this machine by Linux
//! namespaces the tests make (`team_testkit::host`: a hostname and a PID namespace of their
//! own, the network shared so PostgreSQL on 127.0.0.1 is reachable); a host is killed by
//! killing its namespace's first process, and cut off by a loopback proxy between it and the
//! database. PostgreSQL only (several hosts need a server); the tests skip with a note where
//! namespaces cannot be made, and fail in CI.
#![allow(missing_docs)]

#[allow(dead_code, unused_imports)]
#[path = "../runner/support.rs"]
mod support;

mod hosts;
mod multi;
