//! The agent loop of LLM members.
//!
//! A turn: the input (the prompt, or the messages that woke a persistent member) is added to
//! the conversation as a user message; then the model is called with the system prompt and
//! the tools; the tool calls it asks for run (in parallel when it asks for several) and their
//! results go back; this repeats until the model answers with text (the turn's result) or
//! `max_turns` calls were made (default [`DEFAULT_MAX_TURNS`]; then the member fails). A
//! malformed tool call (bad JSON, unknown tool, bad arguments, a denied permission) goes back
//! to the model as a tool error. The same tool call with the same arguments
//! [`LOOP_LIMIT`] times in a row stops the member. The conversation is kept across the turns
//! of a persistent member.
//!
//! Steering (issue 18): a message written to the member (kind `text`: `team send`, the
//! `send_message` tool) that reaches it mid-turn (its wake-up fires: the dispatcher, for a
//! send in this process or one the poller saw) is taken from the inbox before the next model
//! call and added as a user message framed as between turns
//! (`[message from SENDER (KIND)]`), with a `message.injected` event; it starts no turn
//! afterwards. A message sent with `--interrupt` also cancels the call in flight (the wake-up
//! races the call; the store says whether an interrupt is unread): the cancelled call is a
//! `provider.call` event with `status: "interrupted"` and no tokens, it does not count
//! against `max_turns`, and the model is asked again with the message.

pub(crate) mod approval;
pub mod coordination;
pub mod prompt;

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

use futures_util::FutureExt;
use futures_util::future::join_all;
use serde_json::json;
use team_core::Member;
use team_store::Progress;

use crate::blocking::db;
use crate::command::TurnEnd;
use crate::context::{Context, TeamView};
use crate::context::{Seat, TurnIo, messages_as_input};
use crate::runtime::LeadTools;
use approval::Verdict;
use coordination::Caller;
use team_agent::{AgentDef, MemoryMode, PlanMode};
use team_core::ApprovalKind;
use team_provider::{
    AnswerFormat, CallContext, CallFacts, ChatMessage, ChatRequest, Provider, ToolCall, ToolSpec,
};
use team_store::NewApproval;
use team_tools::permission::{Decision, DecisionSource, PermissionChecker, PermissionDecision};
use team_tools::{ToolError, ToolOutcome, WorkspaceTools};
use tokio::sync::Notify;

/// Model calls allowed in one turn when the agent sets no `max_turns`.
pub const DEFAULT_MAX_TURNS: u32 = 50;

/// The same tool call with the same arguments this many times in a row stops the member.
pub const LOOP_LIMIT: u32 = 20;

/// The tools withheld from an agent with `plan: required` until its plan is approved.
pub const WRITE_TOOLS: &[&str] = &["write_file", "edit_file", "bash"];

/// What the system prompt of an agent with `plan: required` adds.
const PLAN_NOTE: &str = "\n\nYou work plan-first: your first answer is your plan, as text \
(what you will change and how), without changing anything; your write tools (write_file, \
edit_file, bash) are withheld until a human approves the plan. You will be told when it is \
approved (then carry it out) or denied (then revise it and answer with the new plan).";

/// One LLM member's conversation and tools.
pub(crate) struct Session {
    provider: Arc<dyn Provider>,
    provider_name: String,
    /// The next model call: the model, the system prompt, the tools and the conversation
    /// so far (kept across a persistent member's turns). Each turn adds to it in place and
    /// each call borrows it: nothing of a long conversation is copied per call.
    req: ChatRequest,
    /// The workspace tools (`None` for a lead answering a workflow's request: no tools).
    tools: Option<WorkspaceTools>,
    /// The answer shape: `None` = the one a workflow asks of the member at each turn
    /// ([`Context::formats`]); `Some` = this one (a lead's request).
    format: Option<Option<AnswerFormat>>,
    max_turns: u32,
    /// Model calls so far over the member's life: the `turn` of its cassette entries.
    calls: u32,
    /// The record of the call that ended the last turn, not written yet: it goes with the
    /// member's next write (the turn's progress, or its end), see [`Session::take_progress`].
    unwritten: Progress,
    /// Whether the conversation is checkpointed (a member's session; not a lead's request).
    checkpoints: bool,
    /// Values never written into a checkpoint: the providers' API keys of this runner's
    /// environment (a tool's output could hold one).
    secrets: Vec<String>,
    /// Restored from a checkpoint taken mid-turn: the next [`Session::turn`] goes on with the
    /// conversation as it is instead of adding its input.
    resume_mid_turn: bool,
    /// Whether the member's team has a budget (`None`: not read yet). A budget is set when a
    /// team is created (`team create --max-tokens`/`--max-cost`, or shared by `team_create`),
    /// never later, so one read per session does: a team without one costs no query per call.
    team_budget: Option<bool>,
    /// `plan: required` and its plan not approved yet: the tools offered are `req.tools`
    /// without [`WRITE_TOOLS`]; these are the full list, given back on approval.
    plan_pending: Option<Arc<[ToolSpec]>>,
    /// A lead with `[team] lead_tools = "team"`: offered the team tools only; a workspace
    /// tool call is refused.
    coordination_only: bool,
    /// Its agent's `task_budget:` (see [`coordination::Caller::task_budget`]).
    task_budget: Option<u32>,
}

/// The conversation, the count of calls and where it is, of checkpoint `cp` (see
/// [`Session::restore`]); `None` when it cannot be read.
fn restored(cp: &team_store::Checkpoint) -> Option<(Vec<ChatMessage>, u32, Restored)> {
    let mut messages: Vec<ChatMessage> = serde_json::from_str(&cp.messages).ok()?;
    let mut calls = u32::try_from(cp.calls).ok()?;
    if let Some(ChatMessage::Assistant { tool_calls, .. }) = messages.last()
        && !tool_calls.is_empty()
    {
        messages.pop();
        calls = calls.saturating_sub(1);
    }
    let at = match (cp.turn_done, messages.last()) {
        (true, Some(ChatMessage::Assistant { content, .. })) => {
            Restored::TurnDone(content.clone().unwrap_or_default())
        }
        _ => Restored::MidTurn,
    };
    Some((messages, calls, at))
}

/// What a restored conversation is at: see [`Session::restore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Restored {
    /// Mid-turn: the next turn goes on from it (calling the model again).
    MidTurn,
    /// After a finished turn whose result (this text) was sent: the member goes idle.
    TurnDone(String),
}

/// The tools offered to a member (the team tools, then the workspace tools its agent may
/// see), built once per process for each distinct list and shared by every session that
/// offers it: a built list is ~50 KB of JSON `Value`s, which a copy per member multiplied
/// (bench/findings.md, idle members).
fn shared_specs(tools: &WorkspaceTools) -> Arc<[ToolSpec]> {
    static BUILT: Mutex<BTreeMap<Vec<&'static str>, Arc<[ToolSpec]>>> = Mutex::new(BTreeMap::new());
    let names = tools.visible_names();
    let mut built = BUILT.lock();
    built
        .entry(names)
        .or_insert_with(|| {
            let mut specs: Vec<ToolSpec> = coordination::specs();
            specs.extend(tools.specs().into_iter().map(|s| ToolSpec {
                name: s.name,
                description: s.description,
                parameters: s.parameters,
            }));
            specs.into()
        })
        .clone()
}

/// True when `wake` holds a wake-up (taken by this call): a message may have reached the
/// member.
fn woken(wake: &Notify) -> bool {
    wake.notified().now_or_never().is_some()
}

/// True when member `m` has an unread message sent to interrupt it (a store error: no).
async fn interrupt_pending(ctx: &Arc<Context>, m: &Member) -> bool {
    let (team, name) = (m.team_id.clone(), m.name.clone());
    db(&ctx.store, move |s| s.pending_interrupt(&team, &name))
        .await
        .unwrap_or(false)
}

impl Session {
    /// Prepares the session of `m` running `def` on `model`, seated as `seat` says. A
    /// member's: resolves the provider, builds the system prompt (with the team context and,
    /// for `memory: local`, the agent's memory) and the tools; the team context is the
    /// seat's view when the dispatcher read it, else read here. A lead's: its instructions as
    /// the system prompt, no tools, one call.
    pub(crate) async fn new(
        ctx: &Arc<Context>,
        m: &Member,
        def: &AgentDef,
        model: &str,
        seat: Seat,
    ) -> Result<Session, String> {
        let (provider, model_name) = ctx
            .runtime
            .providers
            .resolve(model)
            .map_err(|e| format!("agent {}: {e}", def.name))?;
        let (view, on_ask) = match seat {
            Seat::Member { view, on_ask } => (view, on_ask),
            Seat::Lead { call, format } => {
                let mut req = ChatRequest::new(model_name, def.instructions.clone());
                req.temperature = def.temperature;
                return Ok(Session {
                    provider_name: provider.name().to_owned(),
                    provider,
                    req,
                    tools: None,
                    format: Some(format),
                    max_turns: 1,
                    calls: call.saturating_sub(1),
                    unwritten: Progress::default(),
                    checkpoints: false,
                    resume_mid_turn: false,
                    team_budget: None,
                    secrets: Vec::new(),
                    plan_pending: None,
                    coordination_only: false,
                    task_budget: None,
                });
            }
        };
        // At most one hop to the blocking pool, for the reads the dispatcher did not do.
        let team_id = m.team_id.clone();
        let memory_key = (def.memory == MemoryMode::Local).then(|| {
            (
                m.agent.clone(),
                ctx.opts.project_root.to_string_lossy().into_owned(),
            )
        });
        let (view, memory) = match (view, memory_key) {
            (Some(view), None) => (view, None),
            (view, memory_key) => db(&ctx.store, move |s| {
                let view = match view {
                    Some(v) => v,
                    None => Arc::new(TeamView::read(s, &team_id)?),
                };
                let memory = match memory_key {
                    Some((agent, root)) => s.memory_get(&agent, &root)?.map(|e| e.content),
                    None => None,
                };
                Ok((view, memory))
            })
            .await
            .map_err(|e| e.to_string())?,
        };
        let team_budget = view.budget;
        let system = prompt::system_prompt(
            def,
            m,
            &view.team.name,
            &view.head,
            view.total,
            memory.as_deref(),
        );
        // A spawn's own `--on-ask` wins over the runner's (a runner serves every spawn of
        // the project); its prompt gate stays the runner's.
        let run = match on_ask {
            Some(mode) if mode != ctx.runtime.permissions.flags.on_ask => {
                Arc::new(ctx.runtime.permissions.with_on_ask(mode))
            }
            _ => ctx.runtime.permissions.clone(),
        };
        let checker = PermissionChecker::new(m.name.clone(), def.permissions(), run);
        let tools = WorkspaceTools::new(&ctx.opts.project_root, checker)
            .map_err(|e| e.to_string())?
            .with_hidden_env(["*_API_KEY", "*_TOKEN", "TEAM_DATABASE_URL"])
            .with_sandbox(ctx.runtime.sandbox);
        let coordination_only =
            m.role == team_core::Role::Lead && ctx.runtime.lead_tools == LeadTools::Team;
        let specs = if coordination_only {
            static TEAM_ONLY: std::sync::OnceLock<Arc<[ToolSpec]>> = std::sync::OnceLock::new();
            TEAM_ONLY
                .get_or_init(|| coordination::specs().into())
                .clone()
        } else {
            shared_specs(&tools)
        };
        let (system, offered, plan_pending) = if def.plan == PlanMode::Required {
            let read_only: Arc<[ToolSpec]> = specs
                .iter()
                .filter(|s| !WRITE_TOOLS.contains(&s.name.as_str()))
                .cloned()
                .collect();
            (system + PLAN_NOTE, read_only, Some(specs))
        } else {
            (system, specs, None)
        };
        Ok(Session {
            provider_name: provider.name().to_owned(),
            provider,
            req: ChatRequest {
                model: model_name,
                system,
                messages: Vec::new(),
                tools: offered,
                temperature: def.temperature,
                max_tokens: None,
                response_format: None,
            },
            tools: Some(tools),
            format: None,
            max_turns: def.max_turns.unwrap_or(DEFAULT_MAX_TURNS).max(1),
            calls: 0,
            unwritten: Progress::default(),
            checkpoints: true,
            resume_mid_turn: false,
            team_budget,
            secrets: ctx
                .runtime
                .provider_key_envs
                .iter()
                .filter_map(|name| std::env::var(name).ok())
                .filter(|v| v.len() >= 8)
                .collect(),
            plan_pending,
            coordination_only,
            task_budget: def.task_budget,
        })
    }

    /// Restores the conversation of checkpoint `cp` (a retried or resumed member): its
    /// messages and its count of model calls, so that the next call has the number the
    /// interrupted one had (a cassette serves it). A trailing reply whose tool calls have no
    /// results (the runner died while they ran) is dropped and its call made again. `None`
    /// when the checkpoint cannot be read (the member starts from scratch).
    pub(crate) fn restore(&mut self, cp: &team_store::Checkpoint) -> Option<Restored> {
        let (messages, calls, restored) = restored(cp)?;
        self.req.messages = messages;
        self.calls = calls;
        self.resume_mid_turn = restored == Restored::MidTurn;
        Some(restored)
    }

    /// The conversation as a checkpoint's JSON and the model calls made so far; `None` for a
    /// session that is not checkpointed.
    pub(crate) fn checkpoint_json(&self) -> Option<(String, i64)> {
        if !self.checkpoints {
            return None;
        }
        serde_json::to_string(&self.req.messages).ok().map(|mut j| {
            for s in &self.secrets {
                if j.contains(s.as_str()) {
                    j = j.replace(s.as_str(), "[redacted]");
                }
            }
            (j, i64::from(self.calls))
        })
    }

    /// Writes the conversation as member `m`'s latest checkpoint (mid-turn). A store error
    /// is logged: a missing checkpoint costs a resumed member work, not correctness.
    async fn checkpoint(&self, ctx: &Arc<Context>, m: &Member) {
        let Some((json, calls)) = self.checkpoint_json() else {
            return;
        };
        let (team, id, attempt) = (m.team_id.clone(), m.id, Some(m.attempt));
        let saved = db(&ctx.store, move |s| {
            s.save_checkpoint(&team_store::NewCheckpoint {
                team_id: &team,
                member_id: id,
                calls,
                turn_done: false,
                messages: &json,
                attempt,
            })
        })
        .await;
        if let Err(e) = saved {
            tracing::warn!(member = %m.name, "cannot write the checkpoint: {e}");
        }
    }

    /// Runs one turn with `input`; the caller races it against cancellation and the deadline
    /// (dropping it mid-call cancels the request and kills a running `bash`).
    pub(crate) async fn turn(
        &mut self,
        ctx: &Arc<Context>,
        m: &Member,
        io: &TurnIo<'_>,
        input: &str,
    ) -> TurnEnd {
        if self.resume_mid_turn {
            // Restored mid-turn: the conversation goes on as it was.
            self.resume_mid_turn = false;
        } else {
            self.req.messages.push(ChatMessage::user(input));
            // The input may be messages taken from the inbox: kept before the first call. A
            // first turn on the member's own prompt is not: a retried member without a
            // checkpoint starts from the same prompt (one write less per member of a fan-out).
            if !(self.calls == 0 && m.prompt.as_deref() == Some(input)) {
                self.checkpoint(ctx, m).await;
            }
        }
        // A workflow may ask this turn's answer in a JSON shape (structured output).
        self.req.response_format = match &self.format {
            Some(fixed) => fixed.clone(),
            None => ctx.formats.get(&m.team_id, &m.name, &m.agent),
        };
        let caller = Caller {
            inner: ctx,
            member: m,
            wake: io.wake,
            slot: io.slot,
            cancel: io.cancel,
            task_budget: self.task_budget,
        };
        let mut last_call: Option<(String, String)> = None;
        let mut repeats = 0u32;
        // A wake-up seen while a call ran that was not an interrupt: messages to inject
        // before the next call.
        let mut mail = false;
        let mut made = 0u32;
        while made < self.max_turns {
            // Steering: messages that reached the member since its turn began go in before
            // the next call (the turn's first call has just been given its inbox).
            if made > 0 && (mail || woken(io.wake)) {
                self.inject(ctx, m, false).await;
            }
            mail = false;
            // The team's budget (issue 18): a warning at 80 %, and no call past 100 %.
            let has_budget = match self.team_budget {
                Some(known) => known,
                None => {
                    let known = crate::budget::has_budget(ctx, &m.team_id).await;
                    self.team_budget = Some(known);
                    known
                }
            };
            if has_budget && let Some(why) = crate::budget::look(ctx, &m.team_id).await {
                return TurnEnd::Stopped(why);
            }
            self.calls += 1;
            let call = CallContext::new(&m.team_id, &m.name, self.calls);
            let started = std::time::Instant::now();
            // The call races the member's wake-up: a message sent with `--interrupt` cancels
            // it (dropping the request), and the model is asked again with the message.
            let result = {
                let chat = self.provider.chat(&call, &self.req);
                tokio::pin!(chat);
                loop {
                    tokio::select! {
                        r = &mut chat => break Some(r),
                        _ = io.wake.notified() => {
                            mail = true;
                            if interrupt_pending(ctx, m).await {
                                break None;
                            }
                        }
                    }
                }
            };
            let Some(result) = result else {
                self.interrupted(ctx, m, started.elapsed()).await;
                self.inject(ctx, m, true).await;
                mail = false;
                continue;
            };
            made += 1;
            let facts = CallFacts::from_result(
                &self.provider_name,
                &self.req.model,
                started.elapsed(),
                &result,
            );
            let record = self.call_record(&facts);
            let resp = match result {
                Ok(r) => r,
                Err(e) => {
                    self.unwritten.absorb(record);
                    if e.is_transient() {
                        return TurnEnd::Transient(e.to_string());
                    }
                    return TurnEnd::Failed(e.to_string());
                }
            };
            self.req.messages.push(ChatMessage::from_response(&resp));
            // With no tools offered (a lead's request), the reply is the answer whatever it
            // asks for.
            if resp.tool_calls.is_empty() && self.tools.is_some() && self.plan_pending.is_some() {
                // `plan: required`: this answer is the plan; a human decides on it.
                let (team, name, id) = (m.team_id.clone(), m.name.clone(), m.id);
                let _ = db(&ctx.store, move |s| {
                    s.record_progress(&team, &name, id, &record)
                })
                .await;
                let plan = resp.content.unwrap_or_default();
                // Boxed: a plan's review is rare, and inline its future would make every
                // member's future (held by each running member) ~1.5 KB larger.
                match Box::pin(self.review_plan(&caller, plan)).await {
                    Ok(next) => {
                        self.req.messages.push(ChatMessage::user(next));
                        continue;
                    }
                    Err(e) => return TurnEnd::Failed(e),
                }
            }
            if resp.tool_calls.is_empty() || self.tools.is_none() {
                // The turn ends here: the record goes with the turn's own write.
                self.unwritten.absorb(record);
                return TurnEnd::Done(resp.content.unwrap_or_default());
            }
            // Tools run next, maybe for long: the call is on record before they start.
            let (team, name) = (m.team_id.clone(), m.name.clone());
            let id = m.id;
            let _ = db(&ctx.store, move |s| {
                s.record_progress(&team, &name, id, &record)
            })
            .await;
            self.checkpoint(ctx, m).await;
            for call in &resp.tool_calls {
                let sig = (call.name.clone(), call.arguments.clone());
                if last_call.as_ref() == Some(&sig) {
                    repeats += 1;
                } else {
                    repeats = 1;
                    last_call = Some(sig);
                }
                if repeats >= LOOP_LIMIT {
                    return TurnEnd::Failed(format!(
                        "stuck in a loop: the model called `{}` with the same arguments {LOOP_LIMIT} times in a row",
                        call.name
                    ));
                }
            }
            let results = join_all(
                resp.tool_calls
                    .iter()
                    .map(|call| self.run_tool(&caller, call)),
            )
            .await;
            for (call, (text, is_error)) in resp.tool_calls.iter().zip(results) {
                self.req
                    .messages
                    .push(ChatMessage::tool_result(call, text, is_error));
            }
            self.checkpoint(ctx, m).await;
        }
        TurnEnd::Failed(format!(
            "max_turns ({}) reached: the model made {} calls without a final answer; raise `max_turns:` in the agent file or narrow the task",
            self.max_turns, self.max_turns
        ))
    }

    /// What a finished call adds to the member's record: the `provider.call` event and its
    /// tokens.
    fn call_record(&self, facts: &CallFacts) -> Progress {
        let payload = json!({
            "provider": facts.provider,
            "model": facts.model,
            "call": self.calls,
            "prompt_tokens": facts.prompt_tokens,
            "completion_tokens": facts.completion_tokens,
            "latency_ms": facts.latency_ms,
            "attempts": facts.attempts,
            "status": facts.status,
            "http_status": facts.http_status,
        });
        Progress {
            tokens_in: facts.prompt_tokens as i64,
            tokens_out: facts.completion_tokens as i64,
            events: vec![("provider.call".to_owned(), payload)],
            ..Progress::default()
        }
    }

    /// Records the call in flight that an interrupt cancelled: a `provider.call` event with
    /// `status: "interrupted"` and no tokens (none were reported; the call asked again counts
    /// its own).
    async fn interrupted(&self, ctx: &Arc<Context>, m: &Member, elapsed: std::time::Duration) {
        let payload = json!({
            "provider": self.provider_name,
            "model": self.req.model,
            "call": self.calls,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "latency_ms": u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            "attempts": 1,
            "status": "interrupted",
            "http_status": null,
        });
        let record = Progress {
            events: vec![("provider.call".to_owned(), payload)],
            ..Progress::default()
        };
        let (team, name, id) = (m.team_id.clone(), m.name.clone(), m.id);
        let _ = db(&ctx.store, move |s| {
            s.record_progress(&team, &name, id, &record)
        })
        .await;
    }

    /// Takes the member's unread `text` messages (exactly once: they start no turn afterwards;
    /// results and notices stay for `wait_for_messages` or the next turn) and
    /// adds them to the conversation as one user message framed as between turns
    /// ([`messages_as_input`]), with a `message.injected` event naming them. `interrupt`: an
    /// interrupt cancelled the call in flight. A store error leaves the messages unread (for
    /// the next look or the next turn).
    async fn inject(&mut self, ctx: &Arc<Context>, m: &Member, interrupt: bool) {
        let (team, name) = (m.team_id.clone(), m.name.clone());
        let call = self.calls + 1;
        let taken = db(&ctx.store, move |s| {
            let msgs = s.take_text(&team, &name)?;
            if !msgs.is_empty() {
                let ids: Vec<i64> = msgs.iter().map(|m| m.id).collect();
                s.append_event(
                    Some(&team),
                    Some(&name),
                    "message.injected",
                    json!({"ids": ids, "interrupt": interrupt, "before_call": call}),
                )?;
            }
            Ok(msgs)
        })
        .await;
        match taken {
            Ok(msgs) if !msgs.is_empty() => {
                self.req
                    .messages
                    .push(ChatMessage::user(messages_as_input(&msgs)));
                self.checkpoint(ctx, m).await;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(member = %m.name, "cannot take the inbox mid-turn: {e}"),
        }
    }

    /// Takes what the session has not written yet (the record of the call that ended its
    /// last turn), for the member's next write.
    pub(crate) fn take_progress(&mut self) -> Progress {
        std::mem::take(&mut self.unwritten)
    }

    /// Asks a human to approve `plan` (an approval request of kind `plan`, the member parked
    /// meanwhile) and returns what the model is told next: approved, the write tools are
    /// unlocked; denied, the reason and a request for a revised plan.
    ///
    /// # Errors
    /// The request could not be made, or the member was cancelled while it waited.
    async fn review_plan(&mut self, caller: &Caller<'_>, plan: String) -> Result<String, String> {
        let summary: String = plan
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .chars()
            .take(200)
            .collect();
        let new = NewApproval {
            kind: ApprovalKind::Plan,
            tool: "plan".to_owned(),
            arguments: plan,
            summary,
            why: "the agent has `plan: required`: its plan needs a human's approval before it \
                  may change anything"
                .to_owned(),
        };
        match approval::decide(caller, new).await {
            Verdict::Approved(id) => {
                if let Some(all) = self.plan_pending.take() {
                    self.req.tools = all;
                }
                Ok(format!(
                    "[plan approved by a human (approval {id})]\nCarry it out now: your write \
                     tools (write_file, edit_file, bash) are unlocked."
                ))
            }
            Verdict::Denied(id, reason) => Ok(format!(
                "[plan denied by a human (approval {id})]\n{reason}\nRevise the plan and \
                 answer with the new plan; do not change anything yet."
            )),
            Verdict::Failed(e) => Err(e),
        }
    }

    /// A call parked for a human's decision (`--on-ask park`): asks ([`approval::decide`]),
    /// then runs it as approved, or returns the denial (the human's reason) as its outcome.
    async fn after_approval(
        caller: &Caller<'_>,
        tools: &WorkspaceTools,
        call: &ToolCall,
        asked: PermissionDecision,
    ) -> ToolOutcome {
        let why = match &asked.source {
            DecisionSource::NeedsApproval { why } => why.clone(),
            _ => asked.reason.clone(),
        };
        let new = NewApproval {
            kind: ApprovalKind::Tool,
            tool: call.name.clone(),
            arguments: call.arguments.clone(),
            summary: asked.summary.clone(),
            why,
        };
        let (reason, source) = match approval::decide(caller, new).await {
            Verdict::Approved(id) => {
                return tools
                    .execute_approved(&call.name, &call.arguments, id)
                    .await;
            }
            Verdict::Denied(id, reason) => (
                format!("a human refused this call (approval {id}): {reason}"),
                DecisionSource::HumanDenied { id },
            ),
            Verdict::Failed(e) => (e, asked.source.clone()),
        };
        let denied = PermissionDecision {
            decision: Decision::Deny,
            source,
            reason: reason.clone(),
            ..asked
        };
        ToolOutcome {
            decision: Some(denied),
            result: Err(ToolError::Denied {
                tool: call.name.clone(),
                reason,
            }),
        }
    }

    /// Runs one tool call; returns the text for the model and whether it is an error.
    async fn run_tool(&self, caller: &Caller<'_>, call: &ToolCall) -> (String, bool) {
        if self.coordination_only
            && team_tools::registry::find(&call.name)
                .is_none_or(|t| t.kind != team_tools::ToolKind::Team)
        {
            return (
                format!(
                    "error: `{}` is not available: this lead coordinates only (`lead_tools = \
                     \"team\"`); start a member with `task` to do the work",
                    call.name
                ),
                true,
            );
        }
        if self.plan_pending.is_some() && WRITE_TOOLS.contains(&call.name.as_str()) {
            return (
                format!(
                    "error: `{}` is locked until your plan is approved: answer with your plan \
                     first (text, no tool calls)",
                    call.name
                ),
                true,
            );
        }
        // `before_tool`: a hook may refuse the call (exit 2), its stderr the reason.
        let fields = json!({"tool": call.name, "arguments": call.arguments});
        let m = caller.member;
        if let Some(run) = crate::hooks::run(
            caller.inner,
            crate::hooks::HookEvent::BeforeTool,
            &m.team_id,
            &m.name,
            fields,
        )
        .await
            && run.blocked
        {
            return (
                format!(
                    "error: the before_tool hook refused this call: {}",
                    if run.stderr.is_empty() {
                        "no reason given"
                    } else {
                        run.stderr.as_str()
                    }
                ),
                true,
            );
        }
        let (text, is_error, denied) =
            match coordination::call(caller, &call.name, &call.arguments).await {
                Some(Ok(t)) => (t, false, None),
                Some(Err(e)) => (e, true, None),
                None => {
                    let Some(tools) = &self.tools else {
                        return (
                            format!("unknown tool `{}`: no tools are offered", call.name),
                            true,
                        );
                    };
                    let mut outcome = tools
                        .execute_with_decision(&call.name, &call.arguments)
                        .await;
                    if let Some(d) = outcome.decision.clone().filter(|d| d.needs_approval()) {
                        outcome = Self::after_approval(caller, tools, call, d).await;
                    }
                    let denied = outcome.decision.filter(|d| !d.is_allowed());
                    match outcome.result {
                        Ok(t) => (t, false, denied),
                        Err(e) => (e.to_string(), true, denied),
                    }
                }
            };
        let m = caller.member;
        let (team, name) = (m.team_id.clone(), m.name.clone());
        let (kind, payload) = match &denied {
            Some(d) => (
                "tool.denied",
                json!({"tool": call.name, "reason": d.reason, "source": d.source, "summary": d.summary}),
            ),
            None => (
                "tool.call",
                json!({"tool": call.name, "ok": !is_error, "error": is_error.then(|| text.chars().take(300).collect::<String>())}),
            ),
        };
        let _ = db(&caller.inner.store, move |s| {
            s.append_event(Some(&team), Some(&name), kind, payload)
        })
        .await;
        (text, is_error)
    }
}

#[cfg(test)]
mod restore_tests {
    use super::*;
    use team_provider::ToolCall;

    fn cp(messages: &[ChatMessage], calls: i64, turn_done: bool) -> team_store::Checkpoint {
        team_store::Checkpoint {
            member_id: 1,
            seq: 1,
            calls,
            turn_done,
            messages: serde_json::to_string(messages).unwrap(),
            at_ms: 0,
        }
    }

    #[test]
    fn a_checkpoint_restores_where_the_turn_was() {
        let user = ChatMessage::user("review this");
        let answer = ChatMessage::Assistant {
            content: Some("done".into()),
            tool_calls: Vec::new(),
        };
        let asked = ChatMessage::Assistant {
            content: None,
            tool_calls: vec![ToolCall {
                id: "c1".into(),
                name: "read".into(),
                arguments: "{}".into(),
            }],
        };
        // A finished turn whose result was sent: idle, with its answer.
        let (m, calls, at) = restored(&cp(&[user.clone(), answer.clone()], 1, true)).unwrap();
        assert_eq!((m.len(), calls), (2, 1));
        assert_eq!(at, Restored::TurnDone("done".into()));
        // Its input taken, no answer yet: mid-turn, the call is made again.
        let (m, calls, at) = restored(&cp(std::slice::from_ref(&user), 0, false)).unwrap();
        assert_eq!((m.len(), calls, at), (1, 0, Restored::MidTurn));
        // The runner died while the tools ran: the reply asking for them is dropped and its
        // call made again with the same number.
        let (m, calls, at) = restored(&cp(&[user.clone(), asked], 1, false)).unwrap();
        assert_eq!((m, calls, at), (vec![user], 0, Restored::MidTurn));
        // An unreadable checkpoint: start over.
        let mut bad = cp(&[], 0, false);
        bad.messages = "not json".into();
        assert!(restored(&bad).is_none());
    }
}
