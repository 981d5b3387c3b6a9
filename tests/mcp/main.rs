//! `team mcp` end to end: an MCP client (rmcp's, in process; the Python SDK's, as a foreign
//! implementation) driving the real `team` binary over stdio and streamable HTTP, on both
//! engines.
#![allow(missing_docs)]
#![allow(deprecated)] // `resources/subscribe` and logging: legacy in rmcp, what `team mcp` serves.

mod support;

mod foreign;
mod http;
mod notices;
mod tools;
