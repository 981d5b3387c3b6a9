//! `team-bench`: the in-process parts of the `team` benchmarks (issue 6), driven by
//! `bench/run.sh`, which also runs the fan-out under `/usr/bin/time -v` and renders
//! BENCHMARKS.md with `team-bench report`.
//!
//! Every measuring subcommand prints one JSON object on stdout.
//!
//! | subcommand | measures |
//! |---|---|
//! | `wake-local` | send → waiting member runs, in one process (`Engine::send_message`: the send, then the in-process wake) |
//! | `wake-send` | same, `team send` from another process (SQLite or PostgreSQL) |
//! | `claims` | task claims per second, N processes on one board, each task claimed once |
//! | `idle-rss` | RSS of one `team runner` holding N idle persistent members |
//! | `cold-start` | `team list` on a database with N teams, spawn to exit |
//! | `hosts` | runners on simulated hosts: scaling with hosts, cross-host wake-up, recovery after a host kill (PostgreSQL, root) |
//! | `report` | renders BENCHMARKS.md from the results directory |

mod claims;
mod cli;
mod cold;
mod common;
mod hosts;
mod idle;
mod report;
mod wake;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Benchmarks of the `team` orchestrator.
#[derive(Debug, Parser)]
#[command(name = "team-bench", version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Wake-up latency in one process (Engine::send_message → idle recipient runs).
    WakeLocal(wake::LocalArgs),
    /// Wake-up latency of `team send` from another process.
    WakeSend(wake::SendArgs),
    /// Task claims per second with several processes on one board.
    Claims(claims::ClaimArgs),
    /// One claiming process (started by `claims`).
    #[command(hide = true)]
    ClaimWorker(claims::WorkerArgs),
    /// RSS of one runner holding many idle persistent members.
    IdleRss(idle::IdleArgs),
    /// `team list` cold start on a database with many teams.
    ColdStart(cold::ColdArgs),
    /// Runners on simulated hosts (Linux namespaces; root, PostgreSQL): scaling, wake-up,
    /// recovery.
    Hosts(hosts::HostsArgs),
    /// `team send` and `team inbox` process times (optionally two binaries, alternating).
    CliOps(cli::CliArgs),
    /// Renders BENCHMARKS.md from a results directory.
    Report(report::ReportArgs),
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    // Like the `team` binary: two worker threads.
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn print(v: serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.cmd {
        Cmd::WakeLocal(a) => runtime()
            .and_then(|rt| rt.block_on(wake::local(a)))
            .and_then(print),
        Cmd::WakeSend(a) => runtime()
            .and_then(|rt| rt.block_on(wake::send(a)))
            .and_then(print),
        Cmd::Claims(a) => claims::run(a).and_then(print),
        Cmd::ClaimWorker(a) => claims::worker(a),
        Cmd::Hosts(a) => hosts::run(a).and_then(print),
        Cmd::IdleRss(a) => runtime()
            .and_then(|rt| rt.block_on(idle::run(a)))
            .and_then(print),
        Cmd::ColdStart(a) => cold::run(a).and_then(print),
        Cmd::CliOps(a) => cli::run(a).and_then(print),
        Cmd::Report(a) => report::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("team-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
