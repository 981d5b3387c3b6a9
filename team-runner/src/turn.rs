//! A member's turn: the one implementation of "give this member an input, get its answer",
//! used by every member's executor ([`crate::member`]) and by the workflows for their lead's
//! own turns (a synthesis, a triage: [`lead_turn`]).
//!
//! A command agent's turn is one run of its program (stdin in, stdout out) with the explicit
//! environment of [`agent_env`]; an LLM member's turn is its session's agent loop
//! ([`crate::llm::Session::turn`]). Either way the turn's record (its count, its model calls'
//! `provider.call` events and tokens) comes back as a [`Progress`] for the caller to write
//! with its next write.

use std::collections::BTreeMap;
use std::sync::Arc;

use team_agent::AgentDef;
use team_core::Member;
use team_provider::AnswerFormat;
use team_store::Progress;
use tokio::sync::Notify;

use crate::blocking::db;
use crate::command::{CommandSpec, TurnEnd, run_turn_counted};
use crate::context::{Context, Slot};
pub(crate) use crate::context::{Seat, TurnIo};
use crate::llm::Session;
use crate::runtime::Plan;

/// How a member's turns run: a program per turn, or an LLM session kept across turns.
pub(crate) enum Worker {
    /// A command agent's program, or an agent CLI (`runtime:`: its name and model, for the
    /// record of each turn).
    Command(CommandSpec, Option<(String, Option<String>)>),
    Llm(Box<Session>),
}

/// The variables team gives every command agent (see ARCHITECTURE.md, life of a member):
/// `TEAM_DATABASE_URL`, `TEAM_ID`, `TEAM_MEMBER`, `TEAM_MEMBER_ATTEMPT` (the attempt this
/// runner claimed: `team send`, `team task` and `team memory` run by the program act as it,
/// and are refused once the member moved on to another attempt), `TEAM_LEAD`,
/// `TEAM_PROJECT_ROOT`, and `TEAM_RUNNER_SOCKET` when this process serves a local relay
/// (`EngineOptions::runner_socket`).
pub(crate) fn team_env(
    ctx: &Context,
    team_id: &str,
    member: &str,
    attempt: i64,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::from([
        ("TEAM_DATABASE_URL".to_owned(), ctx.opts.db_url.clone()),
        ("TEAM_ID".to_owned(), team_id.to_owned()),
        ("TEAM_MEMBER".to_owned(), member.to_owned()),
        ("TEAM_MEMBER_ATTEMPT".to_owned(), attempt.to_string()),
        ("TEAM_LEAD".to_owned(), team_core::LEAD_ALIAS.to_owned()),
        (
            "TEAM_PROJECT_ROOT".to_owned(),
            ctx.opts.project_root.to_string_lossy().into_owned(),
        ),
    ]);
    if let Some(socket) = &ctx.opts.runner_socket {
        env.insert(
            "TEAM_RUNNER_SOCKET".to_owned(),
            socket.to_string_lossy().into_owned(),
        );
    }
    env
}

/// The whole environment of a command agent `def` run as `member` of `team_id`: the runner's
/// minus secret-looking names, plus the file's `env_passthrough` and `env`, plus
/// [`team_env`].
pub(crate) fn agent_env(
    ctx: &Context,
    def: &AgentDef,
    team_id: &str,
    member: &str,
    attempt: i64,
) -> BTreeMap<String, String> {
    crate::command::agent_environment(
        crate::command::process_environment(),
        &ctx.runtime.provider_key_envs,
        &def.env_passthrough,
        &def.env,
        team_env(ctx, team_id, member, attempt),
    )
}

impl Worker {
    /// The LLM session, for a command agent `None`.
    pub(crate) fn session(&mut self) -> Option<&mut Session> {
        match self {
            Worker::Llm(s) => Some(s),
            Worker::Command(..) => None,
        }
    }

    /// Prepares the worker of `m` running `def` as `plan` says.
    ///
    /// # Errors
    /// A sentence: the command cannot be set up, or the model's provider is not configured.
    pub(crate) async fn new(
        ctx: &Arc<Context>,
        m: &Member,
        def: &AgentDef,
        plan: Plan,
        seat: Seat,
    ) -> Result<Worker, String> {
        match plan {
            Plan::Command(argv) => {
                let env = agent_env(ctx, def, &m.team_id, &m.name, m.attempt);
                crate::command::agent_spec(
                    &argv,
                    &def.instructions,
                    &ctx.opts.project_root,
                    &m.team_id,
                    &m.name,
                    env,
                )
                .map(|spec| Worker::Command(spec, None))
            }
            Plan::Runtime { runtime, model } => {
                let rt = team_agent::runtime::find(&runtime).ok_or_else(|| {
                    format!(
                        "unknown runtime `{runtime}`; known: {}",
                        team_agent::runtime::known_names()
                    )
                })?;
                let env = agent_env(ctx, def, &m.team_id, &m.name, m.attempt);
                let endpoint = ctx.runtime.endpoint(model.as_deref());
                crate::agent_cli::spec(
                    rt,
                    model.as_deref(),
                    &def.instructions,
                    endpoint.as_ref(),
                    &ctx.opts.project_root,
                    env,
                )
                .map(|spec| Worker::Command(spec, Some((runtime, model))))
            }
            Plan::Llm(model) => Session::new(ctx, m, def, &model, seat)
                .await
                .map(|s| Worker::Llm(Box::new(s))),
        }
    }

    /// Runs one turn of `m` with `input`, until its answer, a failure, `io.cancel` or
    /// `io.deadline`. Returns how it ended and what it leaves to write (one turn; the record
    /// of its last model call).
    pub(crate) async fn turn(
        &mut self,
        ctx: &Arc<Context>,
        m: &Member,
        io: &TurnIo<'_>,
        input: &str,
    ) -> (TurnEnd, Progress) {
        let mut used = Progress::default();
        let end = match self {
            Worker::Command(spec, cli) => {
                let store = ctx.store.clone();
                let (team, name, id) = (m.team_id.clone(), m.name.clone(), m.id);
                let started = std::time::Instant::now();
                let (end, usage) =
                    run_turn_counted(spec, input, io.cancel, io.deadline, move |pid| {
                        // Best effort: the pid is for `team show` and debugging, not for control.
                        let pid = Progress {
                            pid: Some(Some(pid as i64)),
                            ..Progress::default()
                        };
                        let _ = store.record_progress(&team, &name, id, &pid);
                    })
                    .await;
                if let Some(usage) = usage {
                    let (runtime, model) = match cli {
                        Some((runtime, model)) => (runtime.as_str(), model.as_deref()),
                        None => ("command", None),
                    };
                    used = cli_record(runtime, model, &usage, &end, started);
                }
                end
            }
            Worker::Llm(session) => {
                let deadline = async {
                    match io.deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    end = session.turn(ctx, m, io, input) => end,
                    _ = io.cancel.cancelled() => TurnEnd::Cancelled,
                    _ = deadline => TurnEnd::TimedOut,
                }
            }
        };
        let mut progress = Progress {
            pid: Some(None),
            turns: 1,
            ..Progress::default()
        };
        if let Worker::Llm(session) = self {
            progress.absorb(session.take_progress());
        }
        progress.absorb(used);
        (end, progress)
    }
}

/// What an agent CLI's turn (or a command agent's that wrote its `TEAM_USAGE_FILE`) adds to
/// the member's record: its tokens (`prompt_tokens` / `completion_tokens`, as an LLM
/// member's), and one `provider.call` event for the turn (`provider` is the runtime, or
/// `command`; `calls` the model calls it reported, `cost_usd` its cost when it tells).
fn cli_record(
    runtime: &str,
    model: Option<&str>,
    usage: &team_agent::runtime::Usage,
    end: &TurnEnd,
    started: std::time::Instant,
) -> Progress {
    let status = match end {
        TurnEnd::Done(_) => "ok",
        TurnEnd::Failed(_) | TurnEnd::Transient(_) => "error",
        TurnEnd::Cancelled | TurnEnd::Stopped(_) => "cancelled",
        TurnEnd::TimedOut => "timed_out",
    };
    let payload = serde_json::json!({
        "provider": runtime,
        "runtime": runtime,
        "model": model,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "calls": usage.calls,
        "cost_usd": usage.cost_usd,
        "latency_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "attempts": 1,
        "status": status,
        "http_status": null,
    });
    Progress {
        tokens_in: i64::try_from(usage.prompt_tokens).unwrap_or(i64::MAX),
        tokens_out: i64::try_from(usage.completion_tokens).unwrap_or(i64::MAX),
        events: vec![("provider.call".to_owned(), payload)],
        ..Progress::default()
    }
}

/// One turn of the lead agent `lead_agent` of team `team_id`, answering `input` itself (a
/// workflow's synthesis or triage): the same [`Worker`] as a member's, seated as
/// [`Seat::Lead`] (one model call numbered `call`, no tools, `format` asked), run until the
/// runner stops. Its record (one turn, the `provider.call` event, the tokens) is written on
/// the lead member. Returns the answer, or why there is none.
pub(crate) async fn lead_turn(
    ctx: &Arc<Context>,
    team_id: &str,
    lead_agent: &str,
    input: &str,
    call: u32,
    format: Option<AnswerFormat>,
) -> Result<String, String> {
    let def = ctx
        .runtime
        .catalog
        .get(lead_agent)
        .map_err(|e| e.to_string())?
        .clone();
    let plan = ctx.runtime.plan(&def)?;
    let team = team_id.to_owned();
    let lead = db(&ctx.store, move |s| {
        s.get_member(&team, team_core::LEAD_ALIAS)
    })
    .await
    .map_err(|e| e.to_string())?;
    let mut worker = Worker::new(ctx, &lead, &def, plan, Seat::Lead { call, format }).await?;
    let wake = Arc::new(Notify::new());
    let slot = Slot::new(ctx.slots.clone(), None);
    let io = TurnIo {
        wake: &wake,
        slot: &slot,
        cancel: &ctx.shutdown,
        deadline: None,
    };
    let (end, progress) = worker.turn(ctx, &lead, &io, input).await;
    let (team, name, id) = (lead.team_id.clone(), lead.name.clone(), lead.id);
    let _ = db(&ctx.store, move |s| {
        s.record_progress(&team, &name, id, &progress)
    })
    .await;
    match end {
        TurnEnd::Done(t) => Ok(t),
        TurnEnd::Failed(e) | TurnEnd::Transient(e) => Err(e),
        TurnEnd::Cancelled => Err("cancelled".into()),
        TurnEnd::Stopped(why) => Err(why),
        TurnEnd::TimedOut => Err("timed out".into()),
    }
}

#[cfg(test)]
#[path = "turn_tests.rs"]
mod tests;
