//! The effects of the team tools: `task`, `send_message`, `wait_for_messages`, `read_inbox`,
//! `team_task`, `agent_memory`, `team_members`, `team_create`, `team_delete`. Their names,
//! descriptions, schemas and typed arguments are the tool registry's
//! (`team_tools::registry`); a call is parsed there ([`TeamCall`]) and carried out here. Each
//! checks (through the store) that its team exists and is active, and fails with a
//! [`ToolFailure`] otherwise (its kind is the CLI's error kind for the same refusal); a tool
//! error never ends the member.
//!
//! Two callers share these effects: an LLM member's session (`crate::llm`, which hands the
//! failure's text to the model) and, through [`TeamOps`], a caller outside the engine's
//! members: `team mcp` (crate `team-mcp`) acting as a member or as the lead of a team.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use team_core::{AgentName, Member, MemberStatus, MessageKind, Role, TaskEvent, TeamName};
use team_store::{NewMember, NewTask, NewTeam, Recipient, Store, StoreError};
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::blocking::db;
use crate::context::{Context, Slot};
use crate::options::EngineOptions;
use crate::runtime::AgentRuntime;
use team_provider::ToolSpec;
use team_tools::registry::{
    self, MemoryOp, ReadInboxArgs, SendMessageArgs, TaskArgs, TaskMove, TeamCall, TeamCreateArgs,
    TeamDeleteArgs, TeamTaskOp, ToolKind, WaitForMessagesArgs,
};

pub use team_tools::registry::MAX_WAIT_SECS;

/// The specs of the team tools, as offered to the model (from the registry).
pub fn specs() -> Vec<ToolSpec> {
    registry::tools_of(ToolKind::Team)
        .map(|t| ToolSpec {
            name: t.name.to_owned(),
            description: t.description.to_owned(),
            parameters: t.schema(),
        })
        .collect()
}

/// What a team tool call needs to know about its caller.
pub(crate) struct Caller<'a> {
    /// The member's context (store, options, runtime, the way to the engine).
    pub inner: &'a Arc<Context>,
    pub member: &'a Member,
    pub wake: &'a Arc<Notify>,
    /// The member's slot: let go while a tool waits for other members.
    pub slot: &'a Slot,
    pub cancel: &'a CancellationToken,
    /// Its agent's `task_budget:`: how many members it may start with `task`.
    pub task_budget: Option<u32>,
}

/// The kind of a [`ToolFailure`]: the error kinds of the CLI (`team-cli/src/error.rs`), so
/// that a team tool refused through MCP says what `team` would (a task nobody can claim is
/// `not_found`, exit 3 in the CLI; a move its lifecycle refuses is `conflict`, exit 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The database failed, or a result could not be encoded (CLI exit 1).
    Failure,
    /// Bad arguments: a missing or mistyped field, a bad name, an agent that cannot run
    /// (CLI exit 2).
    Usage,
    /// A team, member, task or agent that does not exist, or nothing to claim (CLI exit 3).
    NotFound,
    /// A move the lifecycle refuses, a team that has ended, a fan-out bound, a conflict with
    /// another writer (CLI exit 4).
    Conflict,
    /// The call was cancelled (its member or session ended; CLI exit 130).
    Cancelled,
}

impl FailureKind {
    /// The kind's name, as the CLI's `--json` errors write it (`error.kind`): `failure`,
    /// `usage`, `not_found`, `conflict`, `cancelled`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Failure => "failure",
            Self::Usage => "usage",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::Cancelled => "cancelled",
        }
    }
}

impl From<team_store::ErrorKind> for FailureKind {
    /// The CLI's mapping of store errors (`team-cli/src/error.rs`, `store_kind`).
    fn from(k: team_store::ErrorKind) -> Self {
        match k {
            team_store::ErrorKind::NotFound => Self::NotFound,
            team_store::ErrorKind::Conflict => Self::Conflict,
            team_store::ErrorKind::Invalid => Self::Usage,
            team_store::ErrorKind::Database => Self::Failure,
        }
    }
}

/// A team tool call that failed: its kind and the sentence saying what failed (the store's
/// or the registry's text, the same the CLI prints for the same refusal).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ToolFailure {
    /// What kind of failure (the CLI's error kinds).
    pub kind: FailureKind,
    /// What failed, on which team, member or task.
    pub message: String,
}

impl ToolFailure {
    pub(crate) fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    fn usage(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Usage, message)
    }

    fn cancelled() -> Self {
        Self::new(FailureKind::Cancelled, "cancelled")
    }

    fn encode(e: serde_json::Error) -> Self {
        Self::new(
            FailureKind::Failure,
            format!("cannot encode the result: {e}"),
        )
    }
}

fn store_err(e: StoreError) -> ToolFailure {
    ToolFailure::new(e.kind().into(), e.to_string())
}

/// Runs team tool `name`; `None` when `name` is not a team tool. Arguments that do not parse
/// come back as the registry's error text (what was wrong, and the expected shape).
pub(crate) async fn call(c: &Caller<'_>, name: &str, args: &str) -> Option<Result<String, String>> {
    Some(call_typed(c, name, args).await?.map_err(|f| f.message))
}

/// [`call`] with the failure's kind.
async fn call_typed(c: &Caller<'_>, name: &str, args: &str) -> Option<Result<String, ToolFailure>> {
    let call = match TeamCall::parse(name, args)? {
        Ok(call) => call,
        Err(e) => return Some(Err(ToolFailure::usage(e.to_string()))),
    };
    let r = match call {
        TeamCall::Task(a) => task(c, a).await,
        TeamCall::SendMessage(a) => send_message(c, a).await,
        TeamCall::WaitForMessages(a) => wait_for_messages(c, a).await,
        TeamCall::ReadInbox(a) => read_inbox(c, a).await,
        TeamCall::TeamTask(op) => team_task(c, op).await,
        TeamCall::AgentMemory(op) => agent_memory(c, op).await,
        TeamCall::TeamMembers => team_members(c).await,
        TeamCall::TeamCreate(a) => team_create(c, a).await,
        TeamCall::TeamDelete(a) => team_delete(c, a).await,
    };
    Some(r)
}

/// The depth of the calling member: known to this process, else from its `member.spawned`
/// event, else 0 for a lead and 1 for a member (started by a person, a script or a workflow).
async fn depth_of(c: &Caller<'_>) -> u32 {
    let m = c.member;
    let known = c
        .inner
        .runtime
        .depths
        .lock()
        .ok()
        .and_then(|d| d.get(&m.id).copied());
    if let Some(d) = known {
        return d;
    }
    let (team, name) = (m.team_id.clone(), m.name.clone());
    let recorded = db(&c.inner.store, move |s| {
        let events = s.list_events(Some(&team), 0, i64::MAX)?;
        Ok(events.iter().rev().find_map(|e| {
            (e.kind == SPAWNED_EVENT && e.member.as_deref() == Some(name.as_str()))
                .then(|| e.payload["depth"].as_u64())
                .flatten()
        }))
    })
    .await
    .ok()
    .flatten();
    let depth = match (recorded, m.role) {
        (Some(d), _) => u32::try_from(d).unwrap_or(u32::MAX),
        (None, Role::Lead) => 0,
        (None, _) => 1,
    };
    if let Ok(mut d) = c.inner.runtime.depths.lock() {
        d.insert(m.id, depth);
    }
    depth
}

/// The event that records who started a member with `task`, and its depth.
pub const SPAWNED_EVENT: &str = "member.spawned";

/// Refuses a `task` call over a fan-out bound: a `tool.denied` event, and the text for the
/// model.
async fn refuse_task(
    c: &Caller<'_>,
    bound: &str,
    limit: impl Into<Value> + std::fmt::Display,
    reason: String,
) -> ToolFailure {
    let shown = limit.to_string();
    let limit: Value = limit.into();
    let (team, name) = (c.member.team_id.clone(), c.member.name.clone());
    let payload = json!({
        "tool": "task",
        "reason": reason,
        "source": {"kind": bound, "limit": limit},
        "summary": "start a member",
    });
    let _ = db(&c.inner.store, move |s| {
        s.append_event(Some(&team), Some(&name), "tool.denied", payload)
    })
    .await;
    tracing::info!(member = %c.member.name, bound, limit = %shown, "task refused: fan-out bound");
    ToolFailure::new(FailureKind::Conflict, format!("task denied: {reason}"))
}

/// Why `agent` cannot run, with the CLI's kind (`team spawn`'s `check_agent`): `not_found`
/// for an agent the catalog does not have, `usage` otherwise (a broken file, no program, no
/// provider).
fn agent_failure(c: &Caller<'_>, agent: &AgentName, message: String) -> ToolFailure {
    let kind = match c.inner.runtime.catalog.get(agent.as_str()) {
        Err(team_agent::AgentError::Unknown { .. }) => FailureKind::NotFound,
        _ => FailureKind::Usage,
    };
    ToolFailure::new(kind, message)
}

/// How many members the caller started with `task` (its `member.spawned` events `by` it), in
/// its own team and in `team_id`.
async fn started_by(c: &Caller<'_>, team_id: &str) -> Result<u32, ToolFailure> {
    let me = c.member.name.clone();
    let mut teams = vec![c.member.team_id.clone()];
    if team_id != c.member.team_id {
        teams.push(team_id.to_owned());
    }
    db(&c.inner.store, move |s| {
        let mut n = 0u32;
        for t in &teams {
            n += s
                .list_events(Some(t), 0, i64::MAX)?
                .iter()
                .filter(|e| e.kind == SPAWNED_EVENT && e.payload["by"] == me.as_str())
                .count() as u32;
        }
        Ok(n)
    })
    .await
    .map_err(store_err)
}

async fn task(c: &Caller<'_>, a: TaskArgs) -> Result<String, ToolFailure> {
    let agent = AgentName::new(&a.agent).map_err(|e| ToolFailure::usage(e.to_string()))?;
    let root = &c.inner.opts.project_root;
    let checked = c.inner.runtime.check_runnable(agent.as_str(), root);
    let bounds = c.inner.runtime.bounds;
    let depth = depth_of(c).await;
    if depth >= bounds.max_depth {
        let reason = format!(
            "you are at depth {depth} (the lead is 0) and members may be nested at most \
             {} deep (`max_depth`); do the work yourself, or ask your lead to start the member",
            bounds.max_depth
        );
        return Err(refuse_task(c, "max_depth", bounds.max_depth, reason).await);
    }
    // One check-and-add at a time in this process, so parallel calls cannot overshoot.
    let _spawning = c.inner.runtime.spawn_lock.lock().await;
    let team_id = match (&a.team, checked) {
        (None, Ok(())) => c.member.team_id.clone(),
        (reference, checked) => {
            let reference = reference
                .clone()
                .unwrap_or_else(|| c.member.team_id.clone());
            let team = db(&c.inner.store, move |s| s.resolve_team(&reference))
                .await
                .map_err(store_err)?;
            // An agent without a model of its own runs on the team lead's (issue 15).
            if checked.is_err() {
                c.inner
                    .runtime
                    .check_runnable_in(agent.as_str(), root, Some(&team.lead_agent))
                    .map_err(|e| agent_failure(c, &agent, e))?;
            }
            team.id
        }
    };
    let tid = team_id.clone();
    let (_, _, total) = db(&c.inner.store, move |s| s.team_view(&tid, 0))
        .await
        .map_err(store_err)?;
    let members = u32::try_from(total.saturating_sub(1)).unwrap_or(u32::MAX);
    if members >= bounds.max_members_per_team {
        let reason = format!(
            "the team already has {members} members besides its lead and the `task` tool may \
             add at most {} (`max_members_per_team`); send work to the members it has \
             (send_message, team_task)",
            bounds.max_members_per_team
        );
        return Err(refuse_task(
            c,
            "max_members_per_team",
            bounds.max_members_per_team,
            reason,
        )
        .await);
    }
    if let Some(budget) = c.task_budget {
        let started = started_by(c, &team_id).await?;
        if started >= budget {
            let reason = format!(
                "you have started {started} member(s) and your agent's `task_budget` is \
                 {budget}; send work to the members you have (send_message, team_task) or do \
                 it yourself"
            );
            return Err(refuse_task(c, "task_budget", budget, reason).await);
        }
    }
    let reservation = check_budget(c, &team_id, agent.as_str()).await?;
    let new = NewMember {
        agent,
        prompt: Some(a.prompt),
        persistent: a.persistent,
        timeout_secs: None,
        status: MemberStatus::Pending,
        runner_id: None,
    };
    let tid = team_id.clone();
    let (by, child_depth) = (c.member.name.clone(), depth + 1);
    let spec = c.inner.runtime.retry_spec(new.agent.as_str());
    let m = db(&c.inner.store, move |s| {
        let m = s.add_member_with_spec(&tid, &new, &spec)?;
        s.append_event(
            Some(&tid),
            Some(&m.name),
            SPAWNED_EVENT,
            json!({
                "by": by,
                "depth": child_depth,
                crate::budget::RESERVED_FIELD: reservation.0,
                "model": reservation.1,
            }),
        )?;
        Ok(m)
    })
    .await
    .map_err(store_err)?;
    if let Ok(mut d) = c.inner.runtime.depths.lock() {
        d.insert(m.id, child_depth);
    }
    drop(_spawning);
    c.inner.queued();
    if a.background {
        return Ok(json!({"member": m.name, "status": "pending", "note": "its result will arrive in your inbox"}).to_string());
    }
    // Foreground: wait for its end, polling the store (it may run in another runner), without
    // holding a slot: the child may need it.
    without_slot(c, async {
        loop {
            let (tid, name) = (team_id.clone(), m.name.clone());
            let now = db(&c.inner.store, move |s| s.get_member(&tid, &name))
                .await
                .map_err(store_err)?;
            if now.status.is_terminal() {
                return Ok(json!({"member": now.name, "status": now.status, "result": now.result, "error": now.error}).to_string());
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = c.cancel.cancelled() => return Err(ToolFailure::cancelled()),
            }
        }
    })
    .await
}

/// Reserves a new member of `agent` in `team_id` against the budgets of that team and of the
/// caller's own (issue 18, `team_core::budget::reservation_fits`): refused, the call is a
/// tool error and a `tool.denied` event whose `source.kind` is `budget`. Returns the
/// reservation (tokens, and the model it was priced at) to record in `member.spawned`.
async fn check_budget(
    c: &Caller<'_>,
    team_id: &str,
    agent: &str,
) -> Result<(u64, Option<String>), ToolFailure> {
    let mut teams = vec![team_id.to_owned()];
    if c.member.team_id != team_id {
        teams.push(c.member.team_id.clone());
    }
    let ctx = c.inner.clone();
    let agent = agent.to_owned();
    let checked = db(&c.inner.store, move |s| {
        let rt = &ctx.runtime;
        let mut reservation = (0, None);
        let mut roots = Vec::new();
        for (i, t) in teams.iter().enumerate() {
            // Two teams sharing one budget are looked at once.
            let root = s.budget_teams(t)?.swap_remove(0);
            if roots.contains(&root) {
                continue;
            }
            roots.push(root);
            let budget = s.team_budget(t)?;
            if i == 0 {
                let lead = s.resolve_team(t)?.lead_agent;
                reservation = crate::budget::reservation_of(rt, &agent, &lead);
            }
            if !budget.is_set() {
                continue;
            }
            let prices = &rt.prices;
            let (used, reserved) = crate::budget::spend_and_reserved(s, t, prices, |m| {
                crate::budget::output_price(prices, m)
            })?;
            let wanted = team_core::budget::Spend {
                tokens: reservation.0,
                usd: reservation.0 as f64
                    * reservation
                        .1
                        .as_deref()
                        .map_or(0.0, |m| crate::budget::output_price(prices, m))
                    / 1_000_000.0,
            };
            if let Err(refused) =
                team_core::budget::reservation_fits(&budget, &used, &reserved, &wanted)
            {
                return Ok(Err((t.clone(), refused)));
            }
        }
        Ok(Ok(reservation))
    })
    .await
    .map_err(store_err)?;
    match checked {
        Ok(r) => Ok(r),
        Err((team, refused)) => {
            let reason = format!(
                "{refused} (team {team}); wait for running members to end, send work to the                  members you have (send_message, team_task), or do it yourself"
            );
            Err(refuse_task(c, "budget", refused.limit(), reason).await)
        }
    }
}

/// Runs `wait` without holding the caller's slot, then waits for a slot again; see
/// [`crate::context::Slot`].
pub(crate) async fn without_slot<T>(
    c: &Caller<'_>,
    wait: impl std::future::Future<Output = Result<T, ToolFailure>>,
) -> Result<T, ToolFailure> {
    let held = c.slot.release();
    let out = wait.await;
    if held && !c.slot.acquire(c.cancel).await {
        return Err(ToolFailure::cancelled());
    }
    out
}

async fn send_message(c: &Caller<'_>, a: SendMessageArgs) -> Result<String, ToolFailure> {
    let to = if a.to == team_core::ALL_ALIAS {
        Recipient::All
    } else {
        Recipient::Member(a.to.clone())
    };
    let sent = c
        .inner
        .send_message_as(
            c.member.team_id.clone(),
            c.member.name.clone(),
            to,
            MessageKind::Text,
            a.body,
            Some(c.member.attempt),
        )
        .await
        .map_err(store_err)?;
    let names: Vec<&str> = sent.iter().map(|m| m.recipient.as_str()).collect();
    Ok(json!({"delivered_to": names}).to_string())
}

/// The messages of a take as the tools return them: `{"messages": [{from, kind, body}]}`.
fn messages_json(msgs: &[team_core::Message]) -> Value {
    let list: Vec<Value> = msgs
        .iter()
        .map(|m| json!({"from": m.sender, "kind": m.kind, "body": m.body}))
        .collect();
    json!({"messages": list})
}

async fn read_inbox(c: &Caller<'_>, a: ReadInboxArgs) -> Result<String, ToolFailure> {
    let (team, name) = (c.member.team_id.clone(), c.member.name.clone());
    let msgs = db(&c.inner.store, move |s| s.take_inbox(&team, &name, a.peek))
        .await
        .map_err(store_err)?;
    Ok(messages_json(&msgs).to_string())
}

async fn wait_for_messages(c: &Caller<'_>, a: WaitForMessagesArgs) -> Result<String, ToolFailure> {
    let secs = a.timeout_secs();
    let until = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
    let take = || async {
        let (team, name) = (c.member.team_id.clone(), c.member.name.clone());
        db(&c.inner.store, move |s| s.take_inbox(&team, &name, false))
            .await
            .map_err(store_err)
    };
    let found = |msgs: Vec<team_core::Message>| messages_json(&msgs).to_string();
    let msgs = take().await?;
    if !msgs.is_empty() {
        return Ok(found(msgs));
    }
    // Nothing yet: wait without holding a slot, so the members we wait for can run.
    without_slot(c, async {
        loop {
            // Arm the wake-up before looking, so a message landing in between still wakes us.
            let notified = c.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let msgs = take().await?;
            if !msgs.is_empty() {
                return Ok(found(msgs));
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(until) => {
                    return Ok(json!({"messages": [], "note": format!("no message within {secs}s")}).to_string());
                }
                _ = c.cancel.cancelled() => return Err(ToolFailure::cancelled()),
            }
        }
    })
    .await
}

async fn team_task(c: &Caller<'_>, op: TeamTaskOp) -> Result<String, ToolFailure> {
    let team = c.member.team_id.clone();
    let me = c.member.name.clone();
    let out = match op {
        TeamTaskOp::List => {
            let tasks = db(&c.inner.store, move |s| s.list_tasks(&team, None))
                .await
                .map_err(store_err)?;
            serde_json::to_value(&tasks).map_err(ToolFailure::encode)?
        }
        TeamTaskOp::Add {
            title,
            description,
            blocked_by,
        } => {
            let new = NewTask {
                title,
                description,
                blocked_by,
                assignee: None,
            };
            let t = db(&c.inner.store, move |s| s.add_task(&team, &new))
                .await
                .map_err(store_err)?;
            serde_json::to_value(&t).map_err(ToolFailure::encode)?
        }
        TeamTaskOp::Claim { id } => {
            let attempt = Some(c.member.attempt);
            let t = db(&c.inner.store, move |s| {
                s.claim_task_as(&team, &me, id, None, attempt)
            })
            .await
            .map_err(store_err)?;
            serde_json::to_value(&t).map_err(ToolFailure::encode)?
        }
        TeamTaskOp::Move { id, to, result } => {
            if to == TaskMove::Complete {
                task_completed_hook(c, id, result.as_deref()).await?;
            }
            let ev = match to {
                TaskMove::Complete => TaskEvent::Complete,
                TaskMove::Fail => TaskEvent::Fail,
                TaskMove::Release => TaskEvent::Release,
            };
            let (name, attempt) = (c.member.name.clone(), Some(c.member.attempt));
            let t = db(&c.inner.store, move |s| {
                let by = team_store::Actor {
                    team_id: &team,
                    member: &name,
                    attempt,
                };
                s.update_task_as(&team, id, ev, result.as_deref(), Some(&by))
            })
            .await
            .map_err(store_err)?;
            serde_json::to_value(&t).map_err(ToolFailure::encode)?
        }
    };
    Ok(out.to_string())
}

/// The member a tool call is made as, owned (to move into a blocking store call).
struct Acting {
    team_id: String,
    name: String,
    attempt: i64,
}

impl Acting {
    fn of(m: &team_core::Member) -> Acting {
        Acting {
            team_id: m.team_id.clone(),
            name: m.name.clone(),
            attempt: m.attempt,
        }
    }

    fn actor(&self) -> team_store::Actor<'_> {
        team_store::Actor {
            team_id: &self.team_id,
            member: &self.name,
            attempt: Some(self.attempt),
        }
    }
}

/// Runs the `task_completed` hook before task `id` is completed by the caller: exit 2 keeps
/// the task `in_progress` and returns the hook's stderr as the tool's error (the member's
/// feedback).
async fn task_completed_hook(
    c: &Caller<'_>,
    id: i64,
    result: Option<&str>,
) -> Result<(), ToolFailure> {
    let m = c.member;
    let (team, tid) = (m.team_id.clone(), id);
    let title = db(&c.inner.store, move |s| s.get_task(&team, tid))
        .await
        .map(|t| t.title)
        .unwrap_or_default();
    let fields = json!({"task": {"id": id, "title": title, "result": result}});
    match crate::hooks::run(
        c.inner,
        crate::hooks::HookEvent::TaskCompleted,
        &m.team_id,
        &m.name,
        fields,
    )
    .await
    {
        Some(run) if run.blocked => Err(ToolFailure::new(
            FailureKind::Conflict,
            format!(
                "task {id} stays in_progress: the task_completed hook refused it: {}",
                if run.stderr.is_empty() {
                    "no reason given"
                } else {
                    run.stderr.as_str()
                }
            ),
        )),
        _ => Ok(()),
    }
}

async fn agent_memory(c: &Caller<'_>, op: MemoryOp) -> Result<String, ToolFailure> {
    let by = Acting::of(c.member);
    let agent = c.member.agent.clone();
    let root = c.inner.opts.project_root.to_string_lossy().into_owned();
    let append = matches!(op, MemoryOp::Append(_));
    match op {
        MemoryOp::Read => {
            let m = db(&c.inner.store, move |s| s.memory_get(&agent, &root))
                .await
                .map_err(store_err)?;
            Ok(m.map(|m| m.content).unwrap_or_default())
        }
        MemoryOp::Write(text) | MemoryOp::Append(text) => {
            let w = db(&c.inner.store, move |s| {
                let op = if append {
                    team_store::MemoryOp::Append(&text)
                } else {
                    team_store::MemoryOp::Set(&text)
                };
                s.memory_write_as(&by.actor(), &agent, &root, op)
            })
            .await
            .map_err(store_err)?;
            let (bytes, cut) = w.map_or((0, 0), |w| (w.entry.content.len(), w.cut_bytes));
            Ok(json!({"bytes": bytes, "cut_bytes": cut}).to_string())
        }
        MemoryOp::Clear => {
            let had = db(&c.inner.store, move |s| {
                s.memory_write_as(&by.actor(), &agent, &root, team_store::MemoryOp::Clear)
            })
            .await
            .map_err(store_err)?;
            Ok(json!({"cleared": had.is_some()}).to_string())
        }
    }
}

async fn team_members(c: &Caller<'_>) -> Result<String, ToolFailure> {
    let team = c.member.team_id.clone();
    let t2 = team.clone();
    let t = db(&c.inner.store, move |s| s.resolve_team(&t2))
        .await
        .map_err(store_err)?;
    if t.status.is_terminal() {
        return Err(ToolFailure::new(
            FailureKind::Conflict,
            format!("team {} is {}", t.name, t.status),
        ));
    }
    let members = db(&c.inner.store, move |s| s.list_members(&team))
        .await
        .map_err(store_err)?;
    let list: Vec<Value> = members
        .iter()
        .map(|m| json!({"name": m.name, "agent": m.agent, "role": m.role, "status": m.status}))
        .collect();
    Ok(json!({"team": t.name, "members": list}).to_string())
}

async fn team_create(c: &Caller<'_>, a: TeamCreateArgs) -> Result<String, ToolFailure> {
    let new = NewTeam {
        name: TeamName::new(&a.name).map_err(|e| ToolFailure::usage(e.to_string()))?,
        lead_agent: AgentName::new(&c.member.agent)
            .map_err(|e| ToolFailure::usage(e.to_string()))?,
        workflow: None,
        project_root: c.inner.opts.project_root.to_string_lossy().into_owned(),
        owner: None,
    };
    let parent = c.member.team_id.clone();
    let (t, _) = db(&c.inner.store, move |s| {
        let (t, lead) = s.create_team(&new)?;
        // Its members count in the budget of the team its creator is in (issue 18).
        s.share_budget(&t.id, &parent)?;
        Ok((t, lead))
    })
    .await
    .map_err(store_err)?;
    Ok(json!({"team": t.name, "id": t.id}).to_string())
}

async fn team_delete(c: &Caller<'_>, a: TeamDeleteArgs) -> Result<String, ToolFailure> {
    let reference = a.team.unwrap_or_else(|| c.member.team_id.clone());
    let t = db(&c.inner.store, move |s| s.resolve_team(&reference))
        .await
        .map_err(store_err)?;
    let reason = format!("disbanded by {} (team_delete)", c.member.name);
    // Who may disband is team-core's rule (manage::may_disband), decided by the store in the
    // disband's own transaction.
    let (team_id, name, attempt) = (
        c.member.team_id.clone(),
        c.member.name.clone(),
        c.member.attempt,
    );
    let d = db(&c.inner.store, move |s| {
        let by = team_store::Actor {
            team_id: &team_id,
            member: &name,
            attempt: Some(attempt),
        };
        s.disband_team_as(&t.id, &reason, &by)
    })
    .await
    .map_err(store_err)?;
    Ok(json!({"team": d.team.name, "cancelled_members": d.cancelled_members, "cancelled_tasks": d.cancelled_tasks}).to_string())
}

/// The team tools for a caller that is not one of an engine's members: `team mcp` (crate
/// `team-mcp`) acting as a member (inside a member's process, from its `TEAM_*` environment)
/// or as the lead of a team (a person's own agent session). The effects are the very ones an
/// LLM member's calls have ([`TeamCall`] carried out by this module); what differs is only
/// what an engine gives a member:
///
/// - no slot: the caller runs in no runner, so a wait holds no `max_agents` slot;
/// - no in-process wake-ups: a member started with `task` is queued in the store and taken by
///   a runner of the database (the caller makes sure one is live, e.g. `team mcp` starts a
///   detached runner as `team spawn --background` does); a `wait_for_messages` in progress is
///   woken by [`TeamOps::wake_waiters`], which the caller calls when it sees a new message
///   (it polls the store).
#[derive(Clone)]
pub struct TeamOps {
    ctx: Arc<Context>,
    wake: Arc<Notify>,
}

impl TeamOps {
    /// Team tools over `store`, with `runtime` (the agent catalog `task` checks agents in, and
    /// the fan-out bounds) and `opts` (the project root that memory is kept under).
    pub fn new(store: Store, runtime: AgentRuntime, opts: EngineOptions) -> Self {
        let store = store.with_max_message_bytes(runtime.max_message_bytes);
        // No engine listens: events and ends sent here are dropped (`Context::tell` ignores a
        // closed channel), which is what a caller outside an engine wants.
        let (events, _) = mpsc::unbounded_channel();
        let (ends, _) = mpsc::unbounded_channel();
        Self {
            ctx: Arc::new(Context::new(store, opts, runtime, events, ends)),
            wake: Arc::new(Notify::new()),
        }
    }

    /// The store the tools act on.
    pub fn store(&self) -> &Store {
        &self.ctx.store
    }

    /// The project root (memory is kept under it; new teams are created in it).
    pub fn project_root(&self) -> &std::path::Path {
        &self.ctx.opts.project_root
    }

    /// Wakes every `wait_for_messages` in progress: each looks at its inbox again (a message
    /// may have arrived). Cheap; a wake with nothing new sends the waiter back to waiting.
    pub fn wake_waiters(&self) {
        self.wake.notify_waiters();
    }

    /// Runs team tool `name` with `args` (a JSON object as text) as `member`; `None` when
    /// `name` is not a team tool. `cancel` ends a wait (`wait_for_messages`, a foreground
    /// `task`) with a [`FailureKind::Cancelled`] failure.
    ///
    /// # Errors
    /// A [`ToolFailure`]: arguments that do not parse (`usage`, the registry's text with the
    /// expected shape), or the refusal of the store or of a bound, with the CLI's kind.
    pub async fn call(
        &self,
        member: &Member,
        name: &str,
        args: &str,
        cancel: &CancellationToken,
    ) -> Option<Result<String, ToolFailure>> {
        // A slot of a semaphore of its own that it never holds: releasing gives back nothing,
        // and nothing is taken again after a wait.
        let slot = Slot::new(Arc::new(Semaphore::new(1)), None);
        let caller = Caller {
            inner: &self.ctx,
            member,
            wake: &self.wake,
            slot: &slot,
            cancel,
            // An MCP client (an agent CLI or a user's session) is not bounded by an agent
            // file's `task_budget`; max_depth and max_members_per_team still apply.
            task_budget: None,
        };
        call_typed(&caller, name, args).await
    }
}
