//! `scripted-llm`: a scripted OpenAI/Anthropic-compatible LLM server for benchmarks and scripts.
//!
//! `scripted-llm --port 0 --latency-ms 200 [--cpu-us 300] [--script FILE.json]` prints `listening http://127.0.0.1:PORT`
//! (one line, flushed), serves until SIGTERM or ctrl-c, then prints `{"requests": N, "max_in_flight": M}`.
#![forbid(unsafe_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use team_testkit::{NoMatch, Script, ScriptedServer};

/// Scripted LLM server speaking the OpenAI Chat Completions and Anthropic Messages wire formats.
#[derive(Parser, Debug)]
#[command(name = "scripted-llm", version)]
struct Args {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Delay before each reply, in ms (overrides the script file's latency_ms when given).
    #[arg(long)]
    latency_ms: Option<u64>,
    /// JSON script: a list of rules, or {"latency_ms", "on_no_match", "rules"}. Default: echo every request.
    #[arg(long)]
    script: Option<PathBuf>,
    /// Answer HTTP 400 when no rule matches instead of echoing.
    #[arg(long)]
    strict: bool,
    /// CPU each request costs before it is answered, in µs of CPU time (a server in an
    /// interpreted framework such as Python's aiohttp). With it the server runs on one
    /// thread, as such a server does: requests queue behind each other's CPU.
    #[arg(long, default_value_t = 0)]
    cpu_us: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = if args.cpu_us > 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    match runtime {
        Ok(rt) => rt.block_on(serve(args)),
        Err(e) => {
            eprintln!("scripted-llm: cannot start the async runtime: {e}");
            ExitCode::from(1)
        }
    }
}

async fn serve(args: Args) -> ExitCode {
    let mut script = match &args.script {
        Some(path) => match Script::from_file(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("scripted-llm: {e}");
                return ExitCode::from(2);
            }
        },
        None => Script::default(),
    };
    if let Some(ms) = args.latency_ms {
        script = script.with_latency_ms(ms);
    }
    if args.strict {
        script = script.with_no_match(NoMatch::Error400);
    }
    // This binary never reads the requests back (only when they arrived): keeping 1,000
    // bodies cost the server CPU the bench measures its client against.
    script = script.with_cpu_us(args.cpu_us).with_record(false);
    let started_unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let server =
        match ScriptedServer::start_on(SocketAddr::from(([127, 0, 0, 1], args.port)), script).await
        {
            Ok(s) => s,
            Err(e) => {
                eprintln!("scripted-llm: {e}");
                return ExitCode::from(1);
            }
        };
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening http://{}", server.addr());
        let _ = out.flush();
    }
    wait_for_signal().await;
    // When requests arrived, in ms since the Unix epoch (the clock of the events table), so a
    // run's timeline can be lined up with the server's: first, median and last arrival.
    let mut arrivals: Vec<u128> = server
        .arrivals()
        .iter()
        .map(|d| started_unix_ms + d.as_millis())
        .collect();
    arrivals.sort_unstable();
    let at = |q: usize| arrivals.get(q).copied();
    let summary = serde_json::json!({
        "requests": server.request_count(),
        "max_in_flight": server.max_in_flight(),
        "arrivals_unix_ms": [at(0), at(arrivals.len() / 2), arrivals.last().copied()],
        // The deciles (0 %, 10 %, …, 100 %): how fast the requests reached the server.
        "arrival_deciles_unix_ms": (0..=10)
            .map(|q| at((arrivals.len().saturating_sub(1)) * q / 10))
            .collect::<Vec<_>>(),
    });
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{summary}");
        let _ = out.flush();
    }
    server.stop().await;
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
