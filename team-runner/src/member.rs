//! The executor of one member: its turns, its idle waits, its end.
//!
//! Life of a member (see ARCHITECTURE.md): `pending` → (the dispatcher claims it and a slot)
//! `running` → turn → either it ends (`completed` / `failed` / `timed_out`), or, when
//! persistent, it sends its turn result to the lead, goes `idle` (releasing its slot), waits
//! for a message (or `member_timeout` → `completed`), takes a slot again, goes `running`, and
//! runs the next turn with the messages as input. A cancel (disband, Ctrl-C) ends it as
//! `cancelled` at any point; the process group of a command agent is killed.
//!
//! Delivery is race-free: before looking at its inbox the member arms its wake-up
//! (`Notify::notified` + `enable`), so a message that lands between the look and the wait
//! still wakes it; the inbox take marks messages delivered in the same statement.

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use serde_json::json;
use team_core::retry::RetryCause;
use team_core::{Member, MemberEvent, MessageKind};
use team_store::{
    MemberEnd, MemberSpec, NewCheckpoint, Outcome, Progress, Recipient, Retried, StoreError,
};
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::blocking::db;
use crate::command::TurnEnd;
use crate::context::{Context, Event, Slot, TeamView, messages_as_input};
use crate::finisher::EndFailure;
use crate::llm::Restored;
use crate::turn::{Seat, TurnIo, Worker};
use team_agent::AgentDef;

/// Runs `member` (already `running` and held by this runner) to its end and records the end.
/// `view` is the team as the dispatcher read it when it claimed the member (`None`: the
/// session reads it).
pub(crate) async fn run(
    ctx: Arc<Context>,
    member: Member,
    permit: Option<OwnedSemaphorePermit>,
    view: Option<Arc<TeamView>>,
    spec: Option<MemberSpec>,
) {
    let cancel = ctx.shutdown.child_token();
    let wake = Arc::new(Notify::new());
    ctx.tell(Event::Started {
        id: member.id,
        team_id: member.team_id.clone(),
        name: member.name.clone(),
        cancel: cancel.clone(),
        wake: wake.clone(),
    });
    let mut progress = Progress::default();
    let mut transient = None;
    let outcome = drive(
        &ctx,
        &member,
        permit,
        view,
        spec,
        &cancel,
        &wake,
        &mut progress,
        &mut transient,
    )
    .await;
    if let Some(error) = transient {
        // A transient provider failure: another attempt when the agent's policy has one left
        // (`team_core::retry`), else the failure as usual. Written at once, not batched.
        let (team, name, p) = (member.team_id.clone(), member.name.clone(), progress);
        let attempt = Some(member.attempt);
        let retried = db(&ctx.store, move |s| {
            s.retry_member(&team, &name, RetryCause::Transient, &error, &p, attempt)
        })
        .await;
        match retried {
            Ok(Retried::Retried { member: m, .. }) => {
                tracing::warn!(team = %m.team_id, member = %m.name, attempt = m.attempt, "member retried");
                ctx.tell(Event::Queued);
            }
            Ok(Retried::Failed(f)) => {
                if let Some(lead) = &f.notified {
                    ctx.wake_member(&member.team_id, lead);
                }
            }
            Err(StoreError::Illegal(e)) => tracing::debug!("{e}"),
            Err(e) => tracing::error!(member = %member.name, "cannot record the retry: {e}"),
        }
        ctx.tell(Event::Ended { id: member.id });
        return;
    }
    if let Some(outcome) = outcome {
        // Retried on a database error (a deadlock or a lost connection must not leave the
        // member `running` for good); a refusal (already ended) is final.
        let end = || {
            ctx.finish(MemberEnd {
                team_id: member.team_id.clone(),
                name: member.name.clone(),
                outcome: outcome.clone(),
                progress: progress.clone(),
                attempt: Some(member.attempt),
            })
        };
        let retried = end
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(20))
                    .with_max_times(4),
            )
            .sleep(tokio::time::sleep)
            .when(|e| {
                !matches!(
                    e,
                    EndFailure::Store(StoreError::Illegal(_) | StoreError::NotFound { .. })
                        | EndFailure::Gone
                )
            })
            .notify(|e, after| {
                tracing::warn!(member = %member.name, "recording the end failed ({e}); retrying in {after:?}")
            })
            .await;
        match retried {
            Ok(f) => {
                tracing::info!(
                    team = %member.team_id, member = %member.name, status = %f.member.status,
                    "member ended"
                );
                if let Some(lead) = &f.notified {
                    ctx.wake_member(&member.team_id, lead);
                }
                let fields = serde_json::json!({
                    "status": f.member.status,
                    "result": f.member.result,
                    "error": f.member.error,
                });
                let _ = crate::hooks::run(
                    &ctx,
                    crate::hooks::HookEvent::MemberEnded,
                    &member.team_id,
                    &member.name,
                    fields,
                )
                .await;
            }
            // Already ended by someone else (a disband won the race): terminal states stay.
            Err(EndFailure::Store(StoreError::Illegal(e))) => tracing::debug!("{e}"),
            Err(e) => {
                tracing::error!(member = %member.name, "cannot record the end of the member: {e}")
            }
        }
    }
    ctx.tell(Event::Ended { id: member.id });
}

fn cancelled(ctx: &Context) -> Outcome {
    if ctx.shutdown.is_cancelled() {
        Outcome::Cancelled(team_core::resume::RUNNER_STOPPED.into())
    } else {
        Outcome::Cancelled("cancelled: the team was disbanded or the member ended elsewhere".into())
    }
}

/// The agent definition a member was spawned with: its stored `text`, parsed as the file at
/// `source` (`KIND:PATH`, see [`crate::runtime::spec_source`]) would be.
fn spawned_def(text: &str, source: Option<&str>, agent: &str) -> Result<AgentDef, String> {
    let source = crate::runtime::parse_spec_source(source.unwrap_or_default());
    let mut def = AgentDef::from_markdown(text, source).map_err(|e| {
        format!(
            "the definition of agent {agent} stored when the member was spawned is invalid: {e}"
        )
    })?;
    def.name = agent.to_owned();
    Ok(def)
}

/// Runs the turns; `None` means the member was already ended elsewhere. What the last turn
/// left unwritten (its counters, the record of its last model call) is left in `progress`,
/// to be written with the member's end.
#[allow(clippy::too_many_arguments)]
async fn drive(
    ctx: &Arc<Context>,
    m: &Member,
    permit: Option<OwnedSemaphorePermit>,
    view: Option<Arc<TeamView>>,
    spec: Option<MemberSpec>,
    cancel: &CancellationToken,
    wake: &Arc<Notify>,
    progress: &mut Progress,
    transient: &mut Option<String>,
) -> Option<Outcome> {
    let slot = Slot::new(ctx.slots.clone(), permit);
    let def = match spec
        .as_ref()
        .and_then(|s| s.agent_def.as_deref().map(|t| (t, s)))
    {
        // The definition as it was when the member was spawned (issue 14).
        Some((text, s)) => match spawned_def(text, s.agent_source.as_deref(), &m.agent) {
            Ok(d) => d,
            Err(e) => return Some(Outcome::Failed(e)),
        },
        None => match ctx.runtime.catalog.get(&m.agent) {
            Ok(d) => d.clone(),
            Err(e) => return Some(Outcome::Failed(e.to_string())),
        },
    };
    let timeout = m
        .timeout_secs
        .map(|s| Duration::from_secs(s.max(0) as u64))
        .or(def.timeout);
    // A timeout too large for the clock (`timeout: 9223372036854775807`) is no deadline,
    // not a panic of the runner thread that would leave the member `running` for good.
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let timed_out = || {
        Outcome::TimedOut(format!(
            "hard timeout of {}s reached",
            timeout.unwrap_or_default().as_secs()
        ))
    };
    let lead_agent = view.as_ref().map(|v| v.team.lead_agent.clone());
    let plan = match ctx.runtime.plan_for(&def, lead_agent.as_deref()) {
        Ok(p) => p,
        Err(e) => return Some(Outcome::Failed(e)),
    };
    let on_ask = spec
        .as_ref()
        .and_then(|s| s.on_ask.as_deref())
        .and_then(|v| v.parse().ok());
    let mut worker = match Worker::new(ctx, m, &def, plan, Seat::Member { view, on_ask }).await {
        Ok(w) => w,
        Err(e) => return Some(Outcome::Failed(e)),
    };
    let io = TurnIo {
        wake,
        slot: &slot,
        cancel,
        deadline,
    };
    let mut input = m.prompt.clone().unwrap_or_default();
    // A retried or resumed LLM member goes on from its last checkpoint (issue 18): mid-turn,
    // its next turn continues the conversation; after a finished turn (its result was sent),
    // it goes idle at once and waits for messages.
    let mut resumed_idle: Option<String> = None;
    if m.attempt > 1
        && let Some(session) = worker.session()
    {
        let id = m.id;
        if let Ok(Some(cp)) = db(&ctx.store, move |s| s.checkpoint(id)).await {
            match session.restore(&cp) {
                Some(Restored::TurnDone(result)) if m.persistent => resumed_idle = Some(result),
                Some(r) => tracing::info!(member = %m.name, ?r, "resumed from its checkpoint"),
                None => {
                    tracing::warn!(member = %m.name, "its checkpoint cannot be read; starting over")
                }
            }
        }
    }
    loop {
        let id = m.id;
        let last_result = if let Some(result) = resumed_idle.take() {
            let (team, name) = (m.team_id.clone(), m.name.clone());
            if db(&ctx.store, move |s| {
                s.member_step(&team, &name, MemberEvent::Sleep)
            })
            .await
            .is_err()
            {
                return None;
            }
            result
        } else {
            // The turn's counters (and the record of its last model call) go with the
            // member's next write: its end, or the result it sends as a persistent member.
            let (end, turn) = worker.turn(ctx, m, &io, &input).await;
            *progress = turn;
            let result = match end {
                TurnEnd::Done(r) => r,
                TurnEnd::Failed(e) => return Some(Outcome::Failed(e)),
                TurnEnd::Transient(e) => {
                    *transient = Some(e.clone());
                    return Some(Outcome::Failed(e));
                }
                TurnEnd::Cancelled => return Some(cancelled(ctx)),
                TurnEnd::Stopped(why) => return Some(Outcome::Cancelled(why)),
                TurnEnd::TimedOut => return Some(timed_out()),
            };
            if !m.persistent {
                return Some(Outcome::Completed(result));
            }
            let last_result = result.clone();
            let (team, name, attempt) = (m.team_id.clone(), m.name.clone(), Some(m.attempt));
            let turn = std::mem::take(progress);
            let cp = worker.session().and_then(|s| s.checkpoint_json());
            // One transaction: the lead never reads the result of a member still `running`
            // (and the checkpoint of the finished turn goes with it).
            let sent = db(&ctx.store, move |s| {
                let ended = match &cp {
                    Some((json, calls)) => s.end_turn_checkpointed(
                        &team,
                        &name,
                        id,
                        &turn,
                        Some(&result),
                        &NewCheckpoint {
                            team_id: &team,
                            member_id: id,
                            calls: *calls,
                            turn_done: true,
                            messages: json,
                            attempt,
                        },
                    ),
                    None => s.end_turn(&team, &name, id, &turn, Some(&result), attempt),
                };
                match ended {
                    // The team or the member ended meanwhile: the turn's record is kept.
                    Err(e @ (StoreError::Illegal(_) | StoreError::NotFound { .. })) => {
                        let _ = s.record_progress(&team, &name, id, &turn);
                        Err(e)
                    }
                    other => other,
                }
            })
            .await;
            match sent {
                Ok(sent) => ctx.wake_recipients(&sent),
                Err(_) => return None, // the team or member ended meanwhile
            }
            last_result
        };
        slot.release(); // idle members hold no slot
        // `member_idle`: a hook may send the member back to work (exit 2), its stderr the
        // message that wakes it.
        if let Some(run) = crate::hooks::run(
            ctx,
            crate::hooks::HookEvent::MemberIdle,
            &m.team_id,
            &m.name,
            json!({"result": last_result}),
        )
        .await
            && run.blocked
        {
            let body = format!("[member_idle hook] {}", run.stderr);
            if let Err(e) = ctx
                .send_message(
                    m.team_id.clone(),
                    team_store::SYSTEM_SENDER.to_owned(),
                    Recipient::Member(m.name.clone()),
                    MessageKind::System,
                    body,
                )
                .await
            {
                tracing::warn!(member = %m.name, "cannot send the member_idle hook's feedback: {e}");
            }
        }

        // Wait for messages: arm the wake-up, then look, then sleep.
        let idle_until = Instant::now()
            .checked_add(ctx.opts.member_timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(10 * 365 * 86_400));
        // With a free slot (the usual case) the messages are taken and the member woken in
        // one transaction; otherwise they are taken first and the slot awaited after.
        let (msgs, awake) = loop {
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (team, name, attempt) = (m.team_id.clone(), m.name.clone(), Some(m.attempt));
            let fast = slot.try_acquire();
            let taken = if fast {
                db(&ctx.store, move |s| {
                    s.take_inbox_and_wake(&team, &name, attempt)
                })
                .await
            } else {
                db(&ctx.store, move |s| s.take_inbox(&team, &name, false)).await
            };
            match taken {
                Ok(msgs) if !msgs.is_empty() => break (msgs, fast),
                Ok(_) => {
                    slot.release();
                }
                // Messages, but the member is no longer idle: it was ended elsewhere.
                Err(StoreError::Illegal(_)) => return None,
                Err(e) => return Some(Outcome::Failed(format!("cannot read the inbox: {e}"))),
            }
            let deadline_sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(idle_until) => return Some(Outcome::Completed(last_result)),
                _ = cancel.cancelled() => return Some(cancelled(ctx)),
                _ = deadline_sleep => return Some(timed_out()),
            }
        };
        // Only a system message (e.g. a disband notice) and the member is ending: the cancel
        // arrives through the poller; a new turn starts otherwise.
        if !awake {
            if !slot.acquire(cancel).await {
                return Some(cancelled(ctx));
            }
            let (team, name) = (m.team_id.clone(), m.name.clone());
            if db(&ctx.store, move |s| {
                s.member_step(&team, &name, MemberEvent::Wake)
            })
            .await
            .is_err()
            {
                return None;
            }
        }
        input = messages_as_input(&msgs);
    }
}
