//! The effects of the team tools of LLM members: `task`, `send_message`,
//! `wait_for_messages`, `team_task`, `agent_memory`, `team_members`, `team_create`,
//! `team_delete`. Their names, descriptions, schemas and typed arguments are the tool
//! registry's (`team_tools::registry`); a call is parsed there ([`TeamCall`]) and carried out
//! here. Each checks (through the store) that its team exists and is active, and returns a
//! clear error text to the model otherwise; a tool error never ends the member.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use team_core::{AgentName, Member, MemberStatus, MessageKind, Role, TaskEvent, TeamName};
use team_store::{NewMember, NewTask, NewTeam, Recipient, StoreError};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::blocking::db;
use crate::context::{Context, Slot};
use team_provider::ToolSpec;
use team_tools::registry::{
    self, MemoryOp, SendMessageArgs, TaskArgs, TaskMove, TeamCall, TeamCreateArgs, TeamDeleteArgs,
    TeamTaskOp, ToolKind, WaitForMessagesArgs,
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

fn store_err(e: StoreError) -> String {
    e.to_string()
}

/// Runs team tool `name`; `None` when `name` is not a team tool. Arguments that do not parse
/// come back as the registry's error text (what was wrong, and the expected shape).
pub(crate) async fn call(c: &Caller<'_>, name: &str, args: &str) -> Option<Result<String, String>> {
    let call = match TeamCall::parse(name, args)? {
        Ok(call) => call,
        Err(e) => return Some(Err(e.to_string())),
    };
    let r = match call {
        TeamCall::Task(a) => task(c, a).await,
        TeamCall::SendMessage(a) => send_message(c, a).await,
        TeamCall::WaitForMessages(a) => wait_for_messages(c, a).await,
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
async fn refuse_task(c: &Caller<'_>, bound: &str, limit: u32, reason: String) -> String {
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
    tracing::info!(member = %c.member.name, bound, limit, "task refused: fan-out bound");
    format!("task denied: {reason}")
}

/// How many members the caller started with `task` (its `member.spawned` events `by` it), in
/// its own team and in `team_id`.
async fn started_by(c: &Caller<'_>, team_id: &str) -> Result<u32, String> {
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

async fn task(c: &Caller<'_>, a: TaskArgs) -> Result<String, String> {
    let agent = AgentName::new(&a.agent).map_err(|e| e.to_string())?;
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
                    .check_runnable_in(agent.as_str(), root, Some(&team.lead_agent))?;
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
    let m = db(&c.inner.store, move |s| {
        let m = s.add_member(&tid, &new)?;
        s.append_event(
            Some(&tid),
            Some(&m.name),
            SPAWNED_EVENT,
            json!({"by": by, "depth": child_depth}),
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
                _ = c.cancel.cancelled() => return Err("cancelled".into()),
            }
        }
    })
    .await
}

/// Runs `wait` without holding the caller's slot, then waits for a slot again; see
/// [`crate::context::Slot`].
pub(crate) async fn without_slot<T>(
    c: &Caller<'_>,
    wait: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    let held = c.slot.release();
    let out = wait.await;
    if held && !c.slot.acquire(c.cancel).await {
        return Err("cancelled".into());
    }
    out
}

async fn send_message(c: &Caller<'_>, a: SendMessageArgs) -> Result<String, String> {
    let to = if a.to == team_core::ALL_ALIAS {
        Recipient::All
    } else {
        Recipient::Member(a.to.clone())
    };
    let sent = c
        .inner
        .send_message(
            c.member.team_id.clone(),
            c.member.name.clone(),
            to,
            MessageKind::Text,
            a.body,
        )
        .await
        .map_err(store_err)?;
    let names: Vec<&str> = sent.iter().map(|m| m.recipient.as_str()).collect();
    Ok(json!({"delivered_to": names}).to_string())
}

async fn wait_for_messages(c: &Caller<'_>, a: WaitForMessagesArgs) -> Result<String, String> {
    let secs = a.timeout_secs();
    let until = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
    let take = || async {
        let (team, name) = (c.member.team_id.clone(), c.member.name.clone());
        db(&c.inner.store, move |s| s.take_inbox(&team, &name, false))
            .await
            .map_err(store_err)
    };
    let found = |msgs: Vec<team_core::Message>| {
        let list: Vec<Value> = msgs
            .iter()
            .map(|m| json!({"from": m.sender, "kind": m.kind, "body": m.body}))
            .collect();
        json!({"messages": list}).to_string()
    };
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
                _ = c.cancel.cancelled() => return Err("cancelled".into()),
            }
        }
    })
    .await
}

async fn team_task(c: &Caller<'_>, op: TeamTaskOp) -> Result<String, String> {
    let team = c.member.team_id.clone();
    let me = c.member.name.clone();
    let out = match op {
        TeamTaskOp::List => {
            let tasks = db(&c.inner.store, move |s| s.list_tasks(&team, None))
                .await
                .map_err(store_err)?;
            serde_json::to_value(&tasks).map_err(|e| e.to_string())?
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
            serde_json::to_value(&t).map_err(|e| e.to_string())?
        }
        TeamTaskOp::Claim { id } => {
            let t = db(&c.inner.store, move |s| s.claim_task(&team, &me, id))
                .await
                .map_err(store_err)?;
            serde_json::to_value(&t).map_err(|e| e.to_string())?
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
            let t = db(&c.inner.store, move |s| {
                s.update_task(&team, id, ev, result.as_deref())
            })
            .await
            .map_err(store_err)?;
            serde_json::to_value(&t).map_err(|e| e.to_string())?
        }
    };
    Ok(out.to_string())
}

/// Runs the `task_completed` hook before task `id` is completed by the caller: exit 2 keeps
/// the task `in_progress` and returns the hook's stderr as the tool's error (the member's
/// feedback).
async fn task_completed_hook(c: &Caller<'_>, id: i64, result: Option<&str>) -> Result<(), String> {
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
        Some(run) if run.blocked => Err(format!(
            "task {id} stays in_progress: the task_completed hook refused it: {}",
            if run.stderr.is_empty() {
                "no reason given"
            } else {
                run.stderr.as_str()
            }
        )),
        _ => Ok(()),
    }
}

async fn agent_memory(c: &Caller<'_>, op: MemoryOp) -> Result<String, String> {
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
                if append {
                    s.memory_append(&agent, &root, &text)
                } else {
                    s.memory_set(&agent, &root, &text)
                }
            })
            .await
            .map_err(store_err)?;
            Ok(json!({"bytes": w.entry.content.len(), "cut_bytes": w.cut_bytes}).to_string())
        }
        MemoryOp::Clear => {
            let had = db(&c.inner.store, move |s| s.memory_clear(&agent, &root))
                .await
                .map_err(store_err)?;
            Ok(json!({"cleared": had}).to_string())
        }
    }
}

async fn team_members(c: &Caller<'_>) -> Result<String, String> {
    let team = c.member.team_id.clone();
    let t2 = team.clone();
    let t = db(&c.inner.store, move |s| s.resolve_team(&t2))
        .await
        .map_err(store_err)?;
    if t.status.is_terminal() {
        return Err(format!("team {} is {}", t.name, t.status));
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

async fn team_create(c: &Caller<'_>, a: TeamCreateArgs) -> Result<String, String> {
    let new = NewTeam {
        name: TeamName::new(&a.name).map_err(|e| e.to_string())?,
        lead_agent: AgentName::new(&c.member.agent).map_err(|e| e.to_string())?,
        workflow: None,
        project_root: c.inner.opts.project_root.to_string_lossy().into_owned(),
        owner: None,
    };
    let (t, _) = db(&c.inner.store, move |s| s.create_team(&new))
        .await
        .map_err(store_err)?;
    Ok(json!({"team": t.name, "id": t.id}).to_string())
}

async fn team_delete(c: &Caller<'_>, a: TeamDeleteArgs) -> Result<String, String> {
    let reference = a.team.unwrap_or_else(|| c.member.team_id.clone());
    let t = db(&c.inner.store, move |s| s.resolve_team(&reference))
        .await
        .map_err(store_err)?;
    let reason = format!("disbanded by {} (team_delete)", c.member.name);
    // Who may disband is team-core's rule (manage::may_disband), decided by the store in the
    // disband's own transaction.
    let (team_id, name) = (c.member.team_id.clone(), c.member.name.clone());
    let d = db(&c.inner.store, move |s| {
        let by = team_store::Actor {
            team_id: &team_id,
            member: &name,
        };
        s.disband_team_as(&t.id, &reason, &by)
    })
    .await
    .map_err(store_err)?;
    Ok(json!({"team": d.team.name, "cancelled_members": d.cancelled_members, "cancelled_tasks": d.cancelled_tasks}).to_string())
}
