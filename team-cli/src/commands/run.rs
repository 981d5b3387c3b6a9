//! `team spawn`, `team runner`, `team wait`, `team reconcile`: the runner from a shell.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use std::sync::Arc;
use team_core::{AgentName, Member, MemberStatus};

use team_agent::config::Config;
use team_agent::discover_with_builtins;
use team_core::TeamEvent;
use team_provider::CassetteMode;
use team_runner::{AgentRuntime, Engine, EngineOptions, Foreground, StopReason};
use team_store::{NewMember, now_ms};
use team_tools::permission::{OnAsk, PromptGate, RunFlags, RunPermissions};
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::{CreateArgs, RunFlagsArgs, RunnerArgs, SpawnArgs, WaitArgs};
use crate::doc::{MemberDoc, ReconcileDoc, RunnerStartedDoc, TeamDoc, WaitDoc, WaitMemberDoc};
use crate::error::{CommandError, Kind, Result, exit};
use crate::output::{duration, one_line};
use crate::project::{Ctx, TEAM_DIR, text_or_stdin};

/// Default heartbeat of runners (see `EngineOptions::heartbeat`).
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(2);

/// Environment variable setting the heartbeat period of the runners this process starts, in
/// ms (default 2000; 10 to 60000). A runner is lost after three of its periods without a
/// heartbeat; tests shorten it to see a lost runner reconciled quickly.
pub const ENV_HEARTBEAT_MS: &str = "TEAM_HEARTBEAT_MS";

/// The heartbeat period: [`ENV_HEARTBEAT_MS`] or [`HEARTBEAT`].
///
/// # Errors
/// A usage error when the variable is not a whole number of ms from 10 to 60000.
pub(crate) fn heartbeat() -> Result<Duration, CommandError> {
    match std::env::var(ENV_HEARTBEAT_MS) {
        Err(_) => Ok(HEARTBEAT),
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|ms| (10..=60_000).contains(ms))
            .map(Duration::from_millis)
            .ok_or_else(|| {
                CommandError::usage(format!(
                    "{ENV_HEARTBEAT_MS}=`{v}` is not a whole number of milliseconds from 10 to 60000"
                ))
            }),
    }
}

/// Environment variable setting how often the runners this process starts poll the queue of
/// pending members, in ms (default 100; 10 to 600000). On PostgreSQL members queued by
/// another process or host wake the runners at once (`LISTEN team_queue`): the poll is the
/// safety net; on SQLite it is how a runner sees what other processes queued.
pub const ENV_QUEUE_POLL_MS: &str = "TEAM_QUEUE_POLL_MS";

/// The queue poll period: [`ENV_QUEUE_POLL_MS`], or `default` (`EngineOptions::queue_poll`).
///
/// # Errors
/// A usage error when the variable is not a whole number of ms from 10 to 600000.
fn queue_poll(default: Duration) -> Result<Duration, CommandError> {
    match std::env::var(ENV_QUEUE_POLL_MS) {
        Err(_) => Ok(default),
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|ms| (10..=600_000).contains(ms))
            .map(Duration::from_millis)
            .ok_or_else(|| {
                CommandError::usage(format!(
                    "{ENV_QUEUE_POLL_MS}=`{v}` is not a whole number of milliseconds from 10 to 600000"
                ))
            }),
    }
}

/// A detached runner quits after this long with nothing to do, unless told otherwise.
const DETACHED_IDLE_EXIT: Duration = Duration::from_secs(30);

pub(crate) fn runtime_threads() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // Blocking work is store calls, which share a pool of 4 connections
        // (`team_store::OpenOptions`): more threads would only wait for a connection, and each
        // costs its stack and its malloc cache. With 16, a 200-member fan-out started all 16
        // (23 threads in all, most waiting on the pool; bench/findings.md, fourth session of
        // 2026-12-07); 8 leaves room for a DNS lookup, a file tool and a permission prompt
        // besides the store's 4.
        .max_blocking_threads(8)
        .enable_all()
        .build()?)
}

/// Starts this process's relay (`crate::relay::server::start`) for the database of `ctx`,
/// and gives its socket to the members `opts` starts (`TEAM_RUNNER_SOCKET`). Keep the relay
/// while the engine runs; dropped, it removes its socket. Must run inside a tokio runtime.
pub(crate) fn start_relay(
    ctx: &crate::project::Ctx,
    opts: &mut EngineOptions,
) -> Option<crate::relay::server::Relay> {
    let relay = crate::relay::server::start(&ctx.store, &ctx.db_url);
    opts.runner_socket = relay.as_ref().map(|r| r.path().to_owned());
    relay
}

/// Loads the project's configuration and agents, and the runtime members need (providers,
/// permissions from `flags`, the model override).
pub fn load_project(
    root: &Path,
    flags: &RunFlagsArgs,
    cassette: CassetteMode,
) -> Result<(Config, AgentRuntime), CommandError> {
    let config = Config::load(Some(root))?;
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    let catalog = discover_with_builtins(root)?;
    // A broken agent file stops only a spawn of its own agent; everything else goes on.
    for b in catalog.broken() {
        tracing::debug!("broken agent file: {}", b.error);
    }
    let on_ask = flags.on_ask.unwrap_or(config.team.on_ask);
    let permissions = Arc::new(RunPermissions::new(
        RunFlags {
            allow: flags.allow.clone(),
            yes: flags.yes,
            on_ask,
        },
        if on_ask == OnAsk::Prompt {
            PromptGate::terminal()
        } else {
            PromptGate::new(None)
        },
    ));
    // Every error here is the setup's (a provider table, a model string): bad input.
    let mut runtime =
        AgentRuntime::from_config(catalog, &config, permissions, cassette).map_err(|e| {
            CommandError::usage(e.to_string())
                .hint("`team doctor` checks the providers and what each agent runs on")
        })?;
    runtime.model_override = flags.model.clone();
    Ok((config, runtime))
}

pub(crate) fn engine_options(
    ctx: &Ctx,
    config: &Config,
    max_agents: Option<usize>,
) -> Result<EngineOptions, CommandError> {
    let mut opts = EngineOptions::new(ctx.project_root.clone(), ctx.db_url.clone());
    opts.max_agents = max_agents.unwrap_or(config.team.max_agents as usize).max(1);
    opts.member_timeout = config.member_timeout();
    opts.heartbeat = heartbeat()?;
    opts.queue_poll = queue_poll(opts.queue_poll)?;
    opts.env_fingerprint = Some(env_fingerprint(ctx));
    Ok(opts)
}

/// The fingerprint of this process's agent environment (see `team_runner::fingerprint`),
/// keyed with the database URL.
fn env_fingerprint(ctx: &Ctx) -> String {
    team_runner::fingerprint::env_fingerprint(&ctx.db_url)
}

/// Checks that `agent` can run before anything is written: it exists, parses, and names an
/// existing program or a configured provider.
pub(crate) fn check_agent(
    runtime: &AgentRuntime,
    ctx: &Ctx,
    agent: &str,
) -> Result<(), CommandError> {
    check_agent_in(runtime, ctx, agent, None)
}

/// [`check_agent`] for a member of a team whose lead agent is `lead_agent`: an agent without
/// a model of its own runs on the lead's.
pub(crate) fn check_agent_in(
    runtime: &AgentRuntime,
    ctx: &Ctx,
    agent: &str,
    lead_agent: Option<&str>,
) -> Result<(), CommandError> {
    match runtime.catalog.get(agent) {
        // Loaded, perhaps through Claude Code's `key: rest of line` reading: say so.
        Ok(def) => {
            for w in &def.warnings {
                ctx.out.note(format!("warning: {w}"));
            }
        }
        // The agent's own file is broken: bad input, with its file, line and cause.
        Err(e @ team_agent::AgentError::Broken { .. }) => return Err(e.into()),
        Err(e) => {
            return Err(CommandError::new(Kind::NotFound, e.to_string())
                .hint("`team agents list` lists the agents this project can run"));
        }
    }
    runtime
        .check_runnable_in(agent, &ctx.project_root, lead_agent)
        .map_err(CommandError::usage)
}

fn read_prompt(
    prompt: &Option<String>,
    file: &Option<String>,
) -> Result<Option<String>, CommandError> {
    Ok(match (prompt, file) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(f)) if f == "-" => Some(text_or_stdin(None, "prompt")?),
        (None, Some(f)) => {
            Some(std::fs::read_to_string(f).map_err(|e| {
                CommandError::usage(format!("cannot read the prompt file {f}: {e}"))
            })?)
        }
        (None, None) => None,
    })
}

/// Waits for the first SIGINT or SIGTERM.
pub(crate) async fn first_signal() -> &'static str {
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

/// After the first signal, a second one exits at once. The listeners are registered before
/// this returns (a signal that comes before a listener exists is not seen by it): a second
/// Ctrl-C right after the first, before a spawned task first ran, was lost.
pub(crate) fn exit_on_second_signal() {
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    tokio::spawn(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        let killed = team_runner::command::kill_all_now();
        eprintln!("second signal: killed {killed} agent process group(s); exiting now");
        std::process::exit(exit::CANCELLED);
    });
}

/// The error kind of a member's end: `None` when it completed.
fn end_kind(m: &Member) -> Option<Kind> {
    match m.status {
        MemberStatus::Completed => None,
        MemberStatus::TimedOut => Some(Kind::Timeout),
        // Its team's budget was used up (issue 18): exit 125, as a run's budget.
        MemberStatus::Cancelled
            if m.error.as_deref() == Some(team_runner::budget::BUDGET_SPENT) =>
        {
            Some(Kind::Budget)
        }
        MemberStatus::Cancelled => Some(Kind::Cancelled),
        _ => Some(Kind::Failure),
    }
}

/// Runs `member` in the foreground ([`Engine::run_foreground`]); on SIGINT/SIGTERM the
/// engine cancels what this process owns (with `owns_team`, the team) and this exits 130.
async fn run_foreground(
    engine: &Engine,
    team_id: &str,
    member: Member,
    owns_team: bool,
) -> Result<Member> {
    let cancel = async {
        let sig = first_signal().await;
        exit_on_second_signal();
        sig.to_owned()
    };
    match engine
        .run_foreground(team_id, member, owns_team, cancel)
        .await?
    {
        Foreground::Ended(m) => Ok(*m),
        Foreground::Cancelled => Err(CommandError::reported(Kind::Cancelled)),
    }
}

/// Prints a foreground member's end (its result, or with `--json` its [`MemberDoc`]); an
/// error of its end's kind (exit 1, 124 or 130) unless it completed.
fn report_end(ctx: &Ctx, team_name: &str, ended: &Member) -> Result<()> {
    if ctx.out.json {
        ctx.out.json(&MemberDoc::from(ended.clone()))?;
    } else if let Some(r) = &ended.result {
        print!("{r}");
        if !r.ends_with('\n') {
            println!();
        }
    }
    let Some(kind) = end_kind(ended) else {
        return Ok(());
    };
    Err(match &ended.error {
        Some(e) => CommandError::new(
            kind,
            format!(
                "member {} in team {team_name} {}: {e}",
                ended.name, ended.status
            ),
        )
        .hint(format!(
            "`team logs {team_name} --member {}` shows what it did",
            ended.name
        )),
        None => CommandError::reported(kind),
    })
}

/// `team spawn`.
pub fn spawn(ctx: &Ctx, a: &SpawnArgs) -> Result<()> {
    let agent = AgentName::new(&a.agent).map_err(|e| CommandError::usage(e.to_string()))?;
    let (config, runtime) = load_project(&ctx.project_root, &a.run, CassetteMode::Off)?;
    if let Err(e) = check_agent(&runtime, ctx, agent.as_str()) {
        // An agent without a model of its own may inherit the team lead's.
        let inherits = runtime
            .catalog
            .get(agent.as_str())
            .is_ok_and(|d| d.kind() == team_agent::AgentKind::Unconfigured);
        let lead = inherits
            .then(|| ctx.store.resolve_team(&a.team).ok())
            .flatten()
            .map(|t| t.lead_agent);
        match lead {
            Some(lead) => runtime
                .check_runnable_in(agent.as_str(), &ctx.project_root, Some(&lead))
                .map_err(|_| e)?,
            None => return Err(e),
        }
    }
    let prompt = read_prompt(&a.prompt, &a.prompt_file)?
        .ok_or_else(|| CommandError::usage("give --prompt TEXT or --prompt-file FILE"))?;
    let team = ctx.store.resolve_team(&a.team)?;
    // Whole seconds, rounded up; at most `cli::MAX_SECS`, which fits.
    let timeout_secs = a.timeout.map(|t| {
        let secs = t.as_secs() + u64::from(t.subsec_nanos() > 0);
        i64::try_from(secs).unwrap_or(i64::MAX)
    });
    if a.background {
        // The member carries what it was spawned with: the agent file as validated now, and
        // the fingerprint of this shell's environment (a runner started from another
        // environment does not take it; see `ensure_runner`).
        let fingerprint = env_fingerprint(ctx);
        let mut spec = runtime
            .member_spec(agent.as_str(), Some(fingerprint.clone()))
            .map_err(CommandError::usage)?;
        spec.on_ask = a.run.on_ask.map(|mode| mode.as_str().to_owned());
        let m = ctx.store.add_member_with_spec(
            &team.id,
            &NewMember {
                agent,
                prompt: Some(prompt),
                persistent: a.persistent,
                timeout_secs,
                status: MemberStatus::Pending,
                runner_id: None,
            },
            &spec,
        )?;
        ensure_runner(ctx, &fingerprint)?;
        if ctx.out.json {
            return ctx.out.json(&MemberDoc::from(m));
        }
        println!("{}", m.name);
        return Ok(());
    }
    let retry_spec = runtime.retry_spec(agent.as_str());
    let rt = runtime_threads()?;
    let ended: Member = rt.block_on(async {
        let mut opts = engine_options(ctx, &config, None)?;
        opts.team = Some(team.id.clone());
        let _relay = start_relay(ctx, &mut opts);
        let engine = Engine::start(ctx.store.clone(), runtime, opts).await?;
        let ended = async {
            let m = ctx.store.add_member_with_spec(
                &team.id,
                &NewMember {
                    agent,
                    prompt: Some(prompt),
                    persistent: a.persistent,
                    timeout_secs,
                    status: MemberStatus::Running,
                    runner_id: Some(engine.runner_id().to_owned()),
                },
                &retry_spec,
            )?;
            ctx.out
                .note(format!("running {} in team {}", m.name, team.name));
            run_foreground(&engine, &team.id, m, false).await
        }
        .await;
        // Always deregister the runner, also when the member could not be added.
        engine.stop().await;
        ended
    })?;
    report_end(ctx, &team.name, &ended)
}

/// `team create NAME --lead AGENT --prompt …`: creates the team and runs its lead now.
pub fn create_and_lead(ctx: &Ctx, a: &CreateArgs) -> Result<()> {
    let name = team_core::TeamName::new(&a.name).map_err(|e| CommandError::usage(e.to_string()))?;
    let lead_agent = AgentName::new(&a.lead).map_err(|e| CommandError::usage(e.to_string()))?;
    let (config, runtime) = load_project(&ctx.project_root, &a.run, CassetteMode::Off)?;
    check_agent(&runtime, ctx, lead_agent.as_str())?;
    let prompt = read_prompt(&a.prompt, &a.prompt_file)?.unwrap_or_default();
    let budget = super::team::budget_of(ctx, a, Some(&config))?;
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let (team, lead) = ctx.store.create_team(&team_store::NewTeam {
        name,
        lead_agent,
        workflow: None,
        project_root: ctx.root_str(),
        owner: Some((i64::from(std::process::id()), host)),
    })?;
    if budget.is_set() {
        ctx.store.set_team_budget(&team.id, &budget)?;
    }
    ctx.out.note(format!(
        "created team {} (id {}); running its lead",
        team.name, team.id
    ));
    // A lead run with a prompt completes after its turn (a shell-driven lead stays live).
    let lead = Member {
        prompt: Some(prompt),
        persistent: false,
        ..lead
    };
    let rt = runtime_threads()?;
    let ended: Member = rt.block_on(async {
        let mut opts = engine_options(ctx, &config, None)?;
        opts.team = Some(team.id.clone());
        let _relay = start_relay(ctx, &mut opts);
        let engine = Engine::start(ctx.store.clone(), runtime, opts).await?;
        let ended = async {
            ctx.store.hold_member(lead.id, engine.runner_id())?;
            let ended = run_foreground(&engine, &team.id, lead, true).await?;
            let (ev, why) = if ended.status == MemberStatus::Completed {
                (TeamEvent::Complete, "the lead completed".to_owned())
            } else {
                (TeamEvent::Fail, format!("the lead {}", ended.status))
            };
            let _ = ctx.store.end_team(&team.id, ev, &why);
            Ok::<_, anyhow::Error>(ended)
        }
        .await;
        // Always deregister the runner, also on an error.
        engine.stop().await;
        ended
    })?;
    report_end(ctx, &team.name, &ended)
}

/// Starts a detached runner unless a live one with this environment `fingerprint` serves this
/// database (a runner is live by `team_core::runner::runner_lost`; a runner from another
/// environment would not take the member).
fn ensure_runner(ctx: &Ctx, fingerprint: &str) -> Result<()> {
    let host = team_runner::reconcile::this_host();
    let now = now_ms();
    let fresh = ctx.store.list_runners(false)?.into_iter().any(|r| {
        !team_runner::reconcile::is_lost(&r, &host, now)
            && r.env_fingerprint.as_deref() == Some(fingerprint)
    });
    if fresh {
        return Ok(());
    }
    let pid = start_detached(
        ctx,
        None,
        Some(DETACHED_IDLE_EXIT),
        &RunFlagsArgs::default(),
    )?;
    ctx.out
        .note(format!("started a runner in the background (pid {pid})"));
    wait_registered(ctx, pid)
}

/// Starts a detached runner unless a live runner serves this database, whatever its
/// environment: for members queued without a fingerprint (the `task` tool's, through
/// `team mcp`), which any runner takes. Returns once the runner it started has registered.
pub(crate) fn ensure_any_runner(ctx: &Ctx) -> Result<()> {
    match start_unless_live(ctx)? {
        Some(pid) => wait_registered(ctx, pid),
        None => Ok(()),
    }
}

/// Waits (at most 5 s) until the runner of `pid` on this host has registered, so that a spawn
/// right after this one sees it and does not start a second runner.
fn wait_registered(ctx: &Ctx, pid: u32) -> Result<()> {
    let host = team_runner::reconcile::this_host();
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if ctx
            .store
            .list_runners(false)?
            .iter()
            .any(|r| r.pid == i64::from(pid) && r.host == host)
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    tracing::warn!(
        "the runner started in the background (pid {pid}) has not registered after 5 s; \
         see .team/runner.log"
    );
    Ok(())
}

/// Starts `team runner` in its own process group, detached from this shell, logging to
/// `.team/runner.log`. Returns its pid.
fn start_detached(
    ctx: &Ctx,
    max_agents: Option<usize>,
    idle_exit: Option<Duration>,
    flags: &RunFlagsArgs,
) -> Result<u32> {
    let exe = std::env::current_exe()?;
    let log_dir = ctx.project_root.join(TEAM_DIR);
    let log_path = if log_dir.is_dir() {
        log_dir.join("runner.log")
    } else {
        std::env::temp_dir().join("team-runner.log")
    };
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--db").arg(&ctx.db_url).arg("runner");
    if let Some(n) = max_agents {
        cmd.arg("--max-agents").arg(n.to_string());
    }
    if let Some(d) = idle_exit {
        cmd.arg("--idle-exit").arg(d.as_secs_f64().to_string());
    }
    for t in &flags.allow {
        cmd.arg("--allow").arg(t);
    }
    if flags.yes {
        cmd.arg("--yes");
    }
    if let Some(mode) = flags.on_ask {
        cmd.arg("--on-ask").arg(mode.as_str());
    }
    if let Some(m) = &flags.model {
        cmd.arg("--model").arg(m);
    }
    use std::os::unix::process::CommandExt;
    let child = cmd
        .current_dir(&ctx.project_root)
        .env("TEAM_DATABASE_URL", &ctx.db_url)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()?;
    Ok(child.id())
}

/// `team runner`.
pub fn runner(ctx: &Ctx, a: &RunnerArgs) -> Result<()> {
    if a.detach {
        let pid = start_detached(
            ctx,
            a.max_agents,
            Some(a.idle_exit.unwrap_or(DETACHED_IDLE_EXIT)),
            &a.run,
        )?;
        if ctx.out.json {
            return ctx.out.json(&RunnerStartedDoc { pid });
        }
        println!("{pid}");
        ctx.out.note(format!(
            "runner started in the background (pid {pid}); log in {TEAM_DIR}/runner.log"
        ));
        return Ok(());
    }
    let (config, runtime) = load_project(&ctx.project_root, &a.run, CassetteMode::Off)?;
    let mut opts = engine_options(ctx, &config, a.max_agents)?;
    opts.idle_exit = a.idle_exit;
    let rt = runtime_threads()?;
    rt.block_on(async {
        // `team send` / `team inbox` of this host (and of this runner's members) go through
        // its relay (see `crate::relay`); dropped, it removes its socket.
        let _relay = start_relay(ctx, &mut opts);
        let engine = Engine::start(ctx.store.clone(), runtime, opts.clone()).await?;
        tracing::info!(
            runner = engine.runner_id(),
            max_agents = opts.max_agents,
            "runner serving {}",
            ctx.project_root.display()
        );
        ctx.out.note(format!(
            "runner {} serving {} (max {} members at once); Ctrl-C stops it",
            engine.runner_id(),
            ctx.project_root.display(),
            opts.max_agents
        ));
        let end = tokio::select! {
            r = engine.serve() => r,
            sig = first_signal() => {
                exit_on_second_signal();
                tracing::warn!("{sig}: cancelling the members of this runner");
                engine.stop().await;
                return Err(CommandError::reported(Kind::Cancelled));
            }
        };
        engine.stop().await;
        if engine.marked_lost() {
            return Err(CommandError::new(
                Kind::Failure,
                format!(
                    "runner {} was marked lost by another runner (no heartbeat for three periods: \
                     this machine was cut off from the database, or the process was frozen); \
                     its members were retried or failed elsewhere and the ones still running here \
                     were stopped; start `team runner` again (a service manager restarts it)",
                    engine.runner_id()
                ),
            ));
        }
        if end == StopReason::Idle {
            tracing::info!("nothing to do: runner exits");
        }
        Ok(())
    })
}

/// `team wait`.
pub fn wait(ctx: &Ctx, a: &WaitArgs) -> Result<()> {
    let team = ctx.store.resolve_team(&a.team)?;
    let start = Instant::now();
    let limit = a.timeout;
    let all = ctx.store.list_members(&team.id)?;
    for name in &a.members {
        if !all.iter().any(|m| &m.name == name) && name != team_core::LEAD_ALIAS {
            return Err(CommandError::new(
                Kind::NotFound,
                format!(
                    "member {name} not found in team {}; see `team member list {}`",
                    team.name, team.name
                ),
            ));
        }
    }
    let pick = |members: Vec<Member>| -> Vec<Member> {
        members
            .into_iter()
            .filter(|m| {
                if a.members.is_empty() {
                    m.role == team_core::Role::Member
                } else {
                    a.members.iter().any(|n| {
                        n == &m.name
                            || (n == team_core::LEAD_ALIAS && m.role == team_core::Role::Lead)
                    })
                }
            })
            .collect()
    };
    // A workflow run (`team run`, e.g. detached) is over only when its team ended: the lead
    // writes the report after its members are done.
    let whole_run = a.members.is_empty() && team.workflow.is_some();
    let mut started_runner = false;
    let members = loop {
        reconcile_on_sight(ctx);
        let members = pick(ctx.store.list_members(&team.id)?);
        // Pending members and no live runner (the only one was killed): start one, once, so
        // that they are not stuck.
        if !started_runner && members.iter().any(|m| m.status == MemberStatus::Pending) {
            started_runner = serve_pending(ctx)?;
        }
        if members.iter().all(|m| m.status.is_terminal())
            && (!whole_run
                || ctx.store.resolve_team(&team.id)?.status != team_core::TeamStatus::Active)
        {
            break members;
        }
        if limit.is_some_and(|l| start.elapsed() >= l) {
            let live: Vec<&str> = members
                .iter()
                .filter(|m| m.status.is_live())
                .map(|m| m.name.as_str())
                .collect();
            return Err(CommandError::new(
                Kind::Timeout,
                format!(
                    "timed out waiting for team {}: still live: {}",
                    team.name,
                    live.join(", ")
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let ok = members.iter().all(|m| m.status == MemberStatus::Completed);
    if ctx.out.json {
        let now = now_ms();
        ctx.out.json(&WaitDoc {
            team: TeamDoc::from(ctx.store.resolve_team(&team.id)?),
            all_completed: ok,
            members: members
                .iter()
                .map(|m| WaitMemberDoc {
                    name: m.name.clone(),
                    agent: m.agent.clone(),
                    status: m.status,
                    result: m.result.clone(),
                    error: m.error.clone(),
                    elapsed_ms: m.elapsed_ms(now),
                })
                .collect(),
        })?;
    } else {
        let now = now_ms();
        let rows = members
            .iter()
            .map(|m| {
                vec![
                    m.name.clone(),
                    ctx.out.status(m.status.as_str()),
                    duration(m.elapsed_ms(now)),
                    one_line(m.error.as_deref().or(m.result.as_deref()).unwrap_or(""), 70),
                ]
            })
            .collect();
        println!(
            "{}",
            ctx.out
                .table(&["member", "status", "elapsed", "result or error"], rows)
        );
    }
    if ok {
        Ok(())
    } else if members.iter().any(|m| end_kind(m) == Some(Kind::Budget)) {
        // A member was stopped by its team's budget (issue 18): exit 125, as `team run`.
        Err(CommandError::reported(Kind::Budget))
    } else {
        // The table (or document) says which did not complete.
        Err(CommandError::reported(Kind::Failure))
    }
}

/// Reconciles when a runner is lost (issue 14: `team wait` and `team watch` do not wait for
/// ever on the members of a dead runner). One read of the runners; the reconciliation itself
/// only when one is lost. Errors are logged, not returned: the caller goes on watching.
pub(crate) fn reconcile_on_sight(ctx: &Ctx) {
    match team_runner::reconcile::any_runner_lost(&ctx.store) {
        Ok(false) => {}
        Ok(true) => match team_runner::reconcile(&ctx.store, None, HEARTBEAT) {
            Ok(r) if !r.is_empty() => tracing::info!(
                runners = ?r.runners_lost,
                members = ?r.members_failed,
                "reconciled what lost runners left behind"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot reconcile lost runners: {e}"),
        },
        Err(e) => tracing::warn!("cannot read the runners: {e}"),
    }
}

/// Starts a detached runner when no live runner serves the database (pending members would
/// wait for ever). True when it started one.
fn serve_pending(ctx: &Ctx) -> Result<bool> {
    Ok(start_unless_live(ctx)?.is_some())
}

/// Starts a detached runner when no live runner serves the database; its pid when it did.
fn start_unless_live(ctx: &Ctx) -> Result<Option<u32>> {
    let host = team_runner::reconcile::this_host();
    let now = now_ms();
    let live = ctx
        .store
        .list_runners(false)?
        .iter()
        .any(|r| !team_runner::reconcile::is_lost(r, &host, now));
    if live {
        return Ok(None);
    }
    let pid = start_detached(
        ctx,
        None,
        Some(DETACHED_IDLE_EXIT),
        &RunFlagsArgs::default(),
    )?;
    ctx.out.note(format!(
        "members are pending and no runner is live: started a runner in the background (pid {pid})"
    ));
    Ok(Some(pid))
}

/// `team resume TEAM` of a team that no workflow runs: reconciles first (a lost runner's
/// members, a dead owner), takes the team up (`Store::resume_team`) and makes sure a runner
/// serves the members queued again.
pub fn resume_members(ctx: &Ctx, team: &team_core::Team) -> Result<()> {
    team_runner::reconcile(&ctx.store, None, HEARTBEAT)?;
    let r = ctx.store.resume_team(&team.id, None)?;
    if !r.members.is_empty() {
        ensure_runner(ctx, &env_fingerprint(ctx))?;
    }
    if ctx.out.json {
        return ctx.out.json(&crate::doc::ResumeDoc::from(r));
    }
    println!(
        "resumed team {}: {} member(s) queued again{}, {} task(s) reopened, {} kept",
        r.team.name,
        r.members.len(),
        if r.members.is_empty() {
            String::new()
        } else {
            format!(" ({})", r.members.join(", "))
        },
        r.tasks.len(),
        r.kept.len()
    );
    Ok(())
}

/// `team reconcile`.
pub fn reconcile(ctx: &Ctx) -> Result<()> {
    let report = team_runner::reconcile(&ctx.store, None, HEARTBEAT)?;
    if ctx.out.json {
        return ctx.out.json(&ReconcileDoc::from(report));
    }
    if report.is_empty() {
        println!("nothing to reconcile");
        return Ok(());
    }
    for r in &report.runners_lost {
        println!("runner {r} lost");
    }
    for m in &report.members_failed {
        println!("member {m} failed: runner lost");
    }
    for m in &report.members_retried {
        println!("member {m} queued again for its next attempt: runner lost");
    }
    for t in &report.teams_failed {
        println!("team {t} failed: owner process gone");
    }
    Ok(())
}
