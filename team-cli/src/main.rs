//! `team`: run teams of AI agents from a shell, a script or CI.
//!
//! This binary is thin: it parses arguments ([`cli`]), opens the project's store
//! ([`project`]), calls `team-store` and `team-runner`, and renders the result for a person or
//! as JSON ([`output`], documents in [`doc`]). Every rule lives in the library crates. Every
//! error is a [`error::CommandError`], whose kind is one of the published exit codes in
//! [`error::exit`].

mod cli;
mod commands;
mod complete;
mod doc;
mod error;
mod output;
mod project;
mod relay;

use std::io::Write;

use clap::{CommandFactory, Parser};
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};
use crate::error::CommandError;
use crate::output::Out;
use crate::relay::client::{Early, Outcome};

fn init_tracing(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        (_, 2) => "debug",
        _ => "trace",
    };
    let filter = std::env::var("TEAM_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Log lines go above a live display rather than into it (`team run`, `team watch`),
        // coloured by the same rules as the rest of stderr.
        .with_writer(output::LogWriter)
        .with_ansi(output::colors(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// Whether `command` opens the store through [`project::open_with`] in [`run`] (its last
/// arm): the commands whose PostgreSQL connection is started early ([`preconnect`];
/// [`NO_STORE`] names the others).
fn opens_store(command: &Command) -> bool {
    !matches!(
        command,
        Command::Init
            | Command::Run(_)
            | Command::Resume(_)
            | Command::Doctor
            | Command::Config(_)
            | Command::Workflows(cli::WorkflowsCmd::List)
            | Command::Completions(_)
    )
}

/// The store settings of `command`: a command that runs each statement once and exits
/// (`team send`, `team inbox` without `--wait`) sends them unnamed
/// (`OpenOptions::prepare_statements`: one round trip each instead of two on PostgreSQL).
fn open_options(command: &Command) -> team_store::OpenOptions {
    let one_shot = match command {
        Command::Send(_) => true,
        Command::Inbox(a) => !a.wait,
        _ => false,
    };
    team_store::OpenOptions {
        prepare_statements: !one_shot,
        ..team_store::OpenOptions::default()
    }
}

/// Subcommands that do not open the store through [`project::open_with`] (see
/// [`opens_store`]), by name: no early connection for them.
const NO_STORE: &[&str] = &[
    "init",
    "run",
    "resume",
    "doctor",
    "config",
    "workflows",
    "completions",
    "help",
];

/// The PostgreSQL URL a command will open, guessed from the raw arguments `args` (without
/// the program name) and `env_url` (`TEAM_DATABASE_URL`) before clap parses them: the value
/// of the last `--db URL` / `--db=URL` before any `--`, else `env_url`; `None` when the
/// first word that is not a global option names a command that opens no store, or asks for
/// help or the version. A guess: [`project::open_with`] takes the connection only for the
/// URL and command clap then parsed, and drops it otherwise.
fn early_url(args: &[std::ffi::OsString], env_url: Option<String>) -> Option<String> {
    let mut db = None;
    let mut command = None;
    let mut args = args.iter().map(|a| a.to_str());
    while let Some(arg) = args.next() {
        let arg = arg?;
        match arg {
            "--" => break,
            "-h" | "--help" | "-V" | "--version" => return None,
            "--db" => db = Some(args.next()??.to_owned()),
            _ if arg.starts_with("--db=") => db = Some(arg["--db=".len()..].to_owned()),
            _ if command.is_none() && !arg.starts_with('-') => command = Some(arg),
            _ => {}
        }
    }
    if NO_STORE.contains(&command?) {
        return None;
    }
    db.or(env_url)
}

/// Starts the PostgreSQL connection of a command that will open the store named by `--db` /
/// `TEAM_DATABASE_URL` on a thread of its own before the arguments are even parsed (see
/// [`early_url`]), so that the server's start of a session (a process forked, authenticated,
/// set up: ~3 ms on loopback) runs while this process parses its arguments (~0.5 ms for this
/// command line), sets up its logging and finds its project. `None` for SQLite or no URL.
fn preconnect() -> Option<team_store::Preconnect> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let url = early_url(&args, std::env::var("TEAM_DATABASE_URL").ok())?;
    team_store::Preconnect::start(&url)
}

/// Runs a `team send` or `team inbox` (without `--wait`) through the runner's relay
/// `relay` when [`relay::client::early`] connected to one: `Done` with the command's result,
/// or `Fallback` (logged at debug level, with why) when the command must open the database
/// itself, with a body already read from stdin.
fn try_relay(cli: &Cli, out: Out, relay: Early) -> Outcome {
    let relayed = matches!(&cli.command, Command::Send(_))
        || matches!(&cli.command, Command::Inbox(a) if !a.wait);
    let conn = match relay {
        Early::Connected(conn) if relayed => conn,
        Early::Connected(_) => return Outcome::Fallback("not a relayed command".into(), None),
        Early::Not(why) => return Outcome::Fallback(why, None),
    };
    let db = cli.db.as_deref();
    let (url, root) = match project::locate(db) {
        Ok(l) => l,
        Err(e) => return Outcome::Fallback(e.message, None),
    };
    match &cli.command {
        Command::Send(a) => relay::client::send(conn, &url, &root, a, out),
        Command::Inbox(a) => relay::client::inbox(conn, &url, a, out, || {
            project::open_with(db, out, &open_options(&cli.command), None)
        }),
        _ => Outcome::Fallback("not a relayed command".into(), None),
    }
}

fn run(cli: Cli, early: Option<team_store::Preconnect>, relay: Early) -> Result<(), CommandError> {
    let out = Out::new(cli.json, cli.quiet);
    let db = cli.db.as_deref();
    match &cli.command {
        Command::Init => commands::team::init(db, out),
        Command::Run(a) => commands::workflow::run(db, out, a),
        Command::Resume(a) => commands::workflow::resume(db, out, &a.team),
        Command::Doctor => commands::doctor::doctor(db, out),
        Command::Config(cli::ConfigCmd::Show) => commands::config::show(out),
        // Bundled workflows are there outside a project too.
        Command::Workflows(cli::WorkflowsCmd::List) => commands::workflow::list(out),
        Command::Completions(a) => {
            let shell = match a.shell {
                cli::Shell::Bash => clap_complete::Shell::Bash,
                cli::Shell::Zsh => clap_complete::Shell::Zsh,
                cli::Shell::Fish => clap_complete::Shell::Fish,
                cli::Shell::Powershell => clap_complete::Shell::PowerShell,
                cli::Shell::Elvish => clap_complete::Shell::Elvish,
            };
            clap_complete::generate(shell, &mut Cli::command(), "team", &mut std::io::stdout());
            Ok(())
        }
        cmd => {
            let mut read_body = None;
            if matches!(cmd, Command::Send(_) | Command::Inbox(_)) {
                match try_relay(&cli, out, relay) {
                    Outcome::Done(result) => return result,
                    Outcome::Fallback(why, body) => {
                        tracing::debug!("relay: not used ({why}); opening the database");
                        read_body = body;
                    }
                }
            }
            let ctx = project::open_with(db, out, &open_options(cmd), early)?;
            match cmd {
                Command::Create(a) => commands::team::create(&ctx, a),
                Command::List(a) => commands::team::list(&ctx, a),
                Command::Show(a) => commands::team::show(&ctx, &a.team),
                Command::Disband(a) => commands::team::disband(&ctx, a),
                Command::Member(c) => commands::member::run(&ctx, c),
                Command::Task(c) => commands::task::run(&ctx, c),
                Command::Send(a) => commands::message::send(&ctx, a, read_body),
                Command::Inbox(a) => commands::message::inbox(&ctx, a),
                Command::Memory(c) => commands::memory::run(&ctx, c),
                Command::Logs(a) => commands::logs::run(&ctx, a),
                Command::Spawn(a) => commands::run::spawn(&ctx, a),
                Command::Runner(a) => match &a.command {
                    Some(cli::RunnerCmd::Stop(s)) => commands::runners::stop(&ctx, s),
                    None => commands::run::runner(&ctx, a),
                },
                Command::Runners(a) => commands::runners::list(&ctx, a),
                Command::Wait(a) => commands::run::wait(&ctx, a),
                Command::Watch(a) => commands::watch::run(&ctx, &a.team),
                Command::Top(a) => commands::top::run(&ctx, a),
                Command::Reconcile => commands::run::reconcile(&ctx),
                Command::Mcp(a) => commands::mcp::run(ctx, a),
                Command::Approvals(a) => commands::approvals::list(&ctx, a),
                Command::Approve(a) => commands::approvals::approve(&ctx, a),
                Command::Deny(a) => commands::approvals::deny(&ctx, a),
                Command::Agents(cli::AgentsCmd::List) => commands::agents::list(&ctx),
                Command::Agents(cli::AgentsCmd::Check) => commands::agents::check(&ctx),
                Command::Agents(cli::AgentsCmd::Show { name }) => {
                    commands::agents::show(&ctx, name)
                }
                Command::Report(a) => commands::workflow::report(&ctx, a),
                Command::Workflows(cli::WorkflowsCmd::Show { name }) => {
                    commands::workflow::show(&ctx, name)
                }
                Command::Init
                | Command::Completions(_)
                | Command::Run(_)
                | Command::Resume(_)
                | Command::Doctor
                | Command::Config(_)
                | Command::Workflows(cli::WorkflowsCmd::List) => {
                    unreachable!("handled above")
                }
            }
        }
    }
}

/// Restores the default SIGPIPE action so `team list | head` ends quietly instead of failing
/// on a write to a closed pipe (Rust ignores SIGPIPE by default). Only for commands that run
/// no child processes: a runner must keep SIGPIPE ignored, or a member that closes its stdin
/// early would kill it.
#[allow(unsafe_code)]
fn default_sigpipe() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: called once at start-up, before any other thread exists; SIG_DFL installs no
    // handler code.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// Most glibc malloc arenas the process uses (see [`limit_malloc_arenas`]).
const MALLOC_ARENAS: i32 = 2;

/// Caps glibc's malloc arenas at [`MALLOC_ARENAS`], unless the environment already sets a
/// cap (`MALLOC_ARENA_MAX`, or `arena_max` in `GLIBC_TUNABLES`: that one is kept).
///
/// glibc gives each thread that contends for an arena one of its own, up to 8 per core, and
/// memory freed into an arena stays there: a runner's two tokio workers and up to
/// the blocking threads of `commands::run::runtime_threads` each kept a few hundred KB, which made a 200-member
/// fan-out's peak RSS ~3 MB (10 %) larger than two arenas do (bench/findings.md, fourth
/// session of 2026-12-07). One arena saved another 0.7 MB at N = 200 but cost a 1000-member
/// fan-out ~15 % more CPU (system time: threads waiting on the one arena's lock); two keep
/// the CPU of sixteen. Allocations are small and short, and each thread's cache (tcache)
/// serves most of them without taking an arena's lock.
/// Called first in `main`, before any thread exists.
#[allow(unsafe_code)]
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let set = std::env::var_os("MALLOC_ARENA_MAX").is_some()
            || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("arena_max"));
        if !set {
            // SAFETY: `mallopt` takes two integers and changes a setting of the allocator;
            // no other thread runs yet.
            unsafe {
                libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS);
            }
        }
    }
}

fn main() {
    limit_malloc_arenas();
    let code = real_main();
    // Leave without the C library's exit handlers. By now every store was dropped (SQLite
    // files closed, idle PostgreSQL connections finished) and output is flushed below; what
    // the handlers would add is OpenSSL's teardown, which races with a connection r2d2 may
    // still be establishing on its own thread for libpq, and that race can crash the process
    // (exit status 139) after it did its work.
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: `_exit` takes no pointer and never returns; it is `unsafe` only as FFI.
    #[allow(unsafe_code)]
    unsafe {
        libc::_exit(i32::from(code))
    }
}

/// The command's exit status (see `error::exit`).
fn real_main() -> u8 {
    // `COMPLETE=bash team` prints the shell's registration; the shell then calls
    // `COMPLETE=bash team -- WORDS…` on Tab, answered here (see `complete`) before any parsing.
    // Answered like any other command: through `main`'s flush and `_exit`.
    let cwd = std::env::current_dir().ok();
    match clap_complete::CompleteEnv::with_factory(Cli::command)
        .try_complete(std::env::args_os(), cwd.as_deref())
    {
        Ok(true) => return error::exit::OK as u8,
        Ok(false) => {}
        Err(e) => {
            let _ = e.print();
            return error::exit::USAGE as u8;
        }
    }
    // A `team send` / `team inbox` first tries a runner's relay on this host (a failed
    // `connect`: a few µs); connected, it needs no early PostgreSQL connection.
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let relay = relay::client::early(&args, std::env::var("TEAM_DATABASE_URL").ok());
    let early = match relay {
        Early::Connected(_) => None,
        Early::Not(_) => preconnect(),
    };
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind as K;
            // `args_os`: an argument that is not UTF-8 (`team show $'t\xff'`) must give
            // clap's usage error, not a panic in `std::env::args`.
            let wants_json = std::env::args_os().any(|a| a == "--json");
            if wants_json
                && !matches!(
                    e.kind(),
                    K::DisplayHelp
                        | K::DisplayVersion
                        | K::DisplayHelpOnMissingArgumentOrSubcommand
                )
            {
                let rendered = e.render().to_string();
                let lines = rendered.lines().map(str::trim).filter(|l| {
                    !l.is_empty()
                        && !l.starts_with("Usage:")
                        && !l.starts_with("For more information")
                });
                let (tips, said): (Vec<&str>, Vec<&str>) =
                    lines.partition(|l| l.starts_with("tip: "));
                let message = said
                    .iter()
                    .map(|l| l.trim_start_matches("error: "))
                    .collect::<Vec<_>>()
                    .join(" ");
                let mut err = CommandError::usage(message);
                for t in tips {
                    err = err.hint(t.trim_start_matches("tip: "));
                }
                report_error(&err, true);
                return error::exit::USAGE as u8;
            }
            e.exit();
        }
    };
    if !matches!(
        cli.command,
        Command::Spawn(_)
            | Command::Runner(_)
            | Command::Run(_)
            | Command::Resume(_)
            | Command::Create(_)
            | Command::Mcp(_)
    ) {
        default_sigpipe();
    }
    // `team top` owns the screen: a log line on stderr would tear it (it shows read errors
    // itself).
    init_tracing(
        cli.verbose,
        cli.quiet || matches!(cli.command, Command::Top(_)),
    );
    let json = cli.json;
    // A connection started for a command that opens no store is dropped unused.
    let early = early.filter(|_| opens_store(&cli.command));
    match run(cli, early, relay) {
        Ok(()) => error::exit::OK as u8,
        Err(err) => {
            report_error(&err, json);
            err.kind.code() as u8
        }
    }
}

/// Prints `err` on stderr: `error: MESSAGE` and a `hint: …` line per hint (the words
/// coloured when stderr takes colour), or with `--json` one [`doc::ErrorDoc`] line. Nothing
/// when the command already said what happened ([`CommandError::is_reported`]).
fn report_error(err: &CommandError, json: bool) {
    if err.is_reported() {
        return;
    }
    let mut text = String::new();
    if json {
        text = serde_json::to_string(&doc::ErrorDoc::from(err)).unwrap_or_default();
        text.push('\n');
    } else {
        let color = output::colors(&std::io::stderr());
        let paint = |word: &str, c: anstyle::AnsiColor| {
            if color {
                let style = anstyle::Style::new().bold().fg_color(Some(c.into()));
                format!("{style}{word}{style:#}")
            } else {
                word.to_owned()
            }
        };
        text.push_str(&format!(
            "{} {}\n",
            paint("error:", anstyle::AnsiColor::Red),
            err.message
        ));
        for h in &err.hints {
            text.push_str(&format!(
                "{} {h}\n",
                paint("hint:", anstyle::AnsiColor::Cyan)
            ));
        }
    }
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, early_url, opens_store};

    /// The guess of [`early_url`] agrees with clap's parse: the URL clap takes for `--db`
    /// (or the environment's) and no URL for a command that opens no store.
    #[test]
    fn the_early_url_is_the_url_clap_parses() {
        let env = || Some("postgres://env/db".to_owned());
        for (line, env_url, want) in [
            (
                "send t hi --from lead --to w --db postgres://a/b",
                None,
                Some("postgres://a/b"),
            ),
            (
                "--db=postgres://a/b inbox t w",
                env(),
                Some("postgres://a/b"),
            ),
            ("--json -v inbox t w", env(), Some("postgres://env/db")),
            ("send t hi --from lead --to w", None, None),
            (
                "task list t --db postgres://a/b",
                None,
                Some("postgres://a/b"),
            ),
            ("run wf --db postgres://a/b", None, None),
            ("init", env(), None),
            ("doctor --db postgres://a/b", None, None),
            ("completions bash", env(), None),
            ("config show", env(), None),
            ("workflows list", env(), None),
        ] {
            let args: Vec<std::ffi::OsString> =
                line.split(' ').map(std::ffi::OsString::from).collect();
            assert_eq!(early_url(&args, env_url.clone()).as_deref(), want, "{line}");
            let cli = Cli::try_parse_from(std::iter::once("team").chain(line.split(' ')))
                .unwrap_or_else(|e| panic!("{line}: {e}"));
            let parsed = cli.db.or(env_url);
            if let Some(url) = want {
                assert!(opens_store(&cli.command), "{line}");
                assert_eq!(parsed.as_deref(), Some(url), "{line}");
            } else if parsed.is_some() {
                assert!(!opens_store(&cli.command), "{line}");
            }
        }
        // Help and the version connect to nothing; nor does anything after `--`.
        for line in ["--help", "send -h", "-V", "send t -- --db postgres://a/b"] {
            let args: Vec<std::ffi::OsString> =
                line.split(' ').map(std::ffi::OsString::from).collect();
            assert_eq!(early_url(&args, None), None, "{line}");
        }
    }
}
