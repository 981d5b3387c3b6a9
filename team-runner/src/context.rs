//! The leaf context handed to every member: what an executor may use of its runner, and the
//! only way it talks back to the engine.
//!
//! Imports run one way: `engine` → `member` → `turn` → `llm` → `context`. Nothing here knows
//! the engine; an executor that has something to say to it (it started, it ended, it sent
//! messages, it queued members) sends an [`Event`] on the context's channel, and the engine's
//! dispatcher, the one owner of the per-member state (cancel tokens, wake-ups, inbox watchers),
//! acts on it. Member ends go to the finisher through [`Context::finish`] (batched).
//!
//! Shared, on purpose: the [`AnswerFormats`] a workflow sets and a member's session reads at
//! each turn (a lookup per turn; a message round trip would add nothing but latency), and the
//! `max_agents` semaphore behind each [`Slot`].

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use team_core::{Member, Message, MessageKind};
use team_store::{Finished, HeldMember, MemberEnd, Outgoing, Recipient, Store};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::blocking::db;
use crate::finisher::{EndFailure, EndRequest};
use crate::options::EngineOptions;
use crate::runtime::AgentRuntime;

/// What an executor (or a workflow, or the poller) tells the engine's dispatcher. The
/// dispatcher handles them in the order they were sent: an executor announces itself
/// ([`Event::Started`]) before it first looks at its inbox, so a message committed after that
/// look is announced ([`Event::Sent`]) after it, and its wake-up is never lost.
#[derive(Debug)]
pub(crate) enum Event {
    /// An executor runs member `id`: how to cancel and wake it.
    Started {
        /// The member's id.
        id: i64,
        /// Its team.
        team_id: String,
        /// Its name.
        name: String,
        /// Cancels the member (a disband seen by the poller).
        cancel: CancellationToken,
        /// Wakes it when a message reaches it (idle, or blocked in `wait_for_messages`).
        wake: Arc<Notify>,
    },
    /// The executor of member `id` is done (its end is recorded, or was refused).
    Ended {
        /// The member's id.
        id: i64,
    },
    /// Messages were delivered in this process: wake these `(team id, member)` recipients.
    Sent {
        /// The recipients.
        to: Vec<(String, String)>,
    },
    /// Pending members were added in this process: wake the claim loop.
    Queued,
    /// An in-process waiter on the inbox of `(team_id, name)` that no executor owns (a
    /// workflow's lead collecting its members' answers).
    Watch {
        /// The team.
        team_id: String,
        /// The member whose inbox is watched.
        name: String,
        /// Notified on each [`Event::Sent`] to it.
        wake: Arc<Notify>,
    },
    /// The waiter `wake` is gone.
    Unwatch {
        /// The waiter's wake-up (compared by address).
        wake: Arc<Notify>,
    },
    /// The poller's look at the members this runner holds, made at `asked`: a member missing
    /// from `held` was ended elsewhere (cancel it, unless it started after `asked`); one with
    /// unread messages is woken.
    Polled {
        /// The members the store says this runner holds.
        held: Vec<HeldMember>,
        /// When the poller asked.
        asked: tokio::time::Instant,
    },
    /// Another process delivered messages in these teams (PostgreSQL `LISTEN`): the poller
    /// looks at once if this runner holds a member of one of them.
    Inbox {
        /// The teams named by the notifications.
        teams: Vec<String>,
    },
}

/// What an LLM member's system prompt shows of its team (`llm::prompt::system_prompt`): the
/// team, its first [`crate::llm::prompt::MAX_LISTED_MEMBERS`] members and how many it has.
/// Read once for all the members the dispatcher starts together, not once per member (in a
/// 200-member fan-out the per-member reads were an eighth of the CPU, bench/findings.md § 1.2).
pub(crate) struct TeamView {
    pub team: team_core::Team,
    pub head: Vec<Member>,
    pub total: i64,
    /// Whether the team has a budget (`None`: the read failed; each session reads it then).
    /// A budget is set only when a team is created, so one read serves all the members the
    /// dispatcher starts together: a read per member was a hop to the blocking pool and a
    /// pooled connection each before its first model call (issue 19).
    pub budget: Option<bool>,
}

impl TeamView {
    /// Reads team `team_id`'s view: the team, its first
    /// [`MAX_LISTED_MEMBERS`](crate::llm::prompt::MAX_LISTED_MEMBERS) members and their total,
    /// and whether it has a budget (`None` when that read fails). Runs on the blocking pool
    /// (it is a store read).
    ///
    /// # Errors
    /// The store's error when the team cannot be read.
    pub fn read(s: &team_store::Store, team_id: &str) -> team_store::Result<TeamView> {
        let (team, head, total) = s.team_view(team_id, crate::llm::prompt::MAX_LISTED_MEMBERS)?;
        let budget = s.team_budget(team_id).ok().map(|b| b.is_set());
        Ok(TeamView {
            team,
            head,
            total,
            budget,
        })
    }
}

/// The JSON shapes workflows ask of LLM members' next answers (structured output), by
/// (team id, member or agent name): set by the workflow before it asks, read by the member's
/// session at each turn.
#[derive(Default)]
pub(crate) struct AnswerFormats {
    formats: Mutex<HashMap<(String, String), team_provider::AnswerFormat>>,
}

impl AnswerFormats {
    /// Asks the member (or every member of the agent) `name` of `team_id` to answer in
    /// `format` from its next turn on; `None` = free text again.
    pub(crate) fn set(
        &self,
        team_id: &str,
        name: &str,
        format: Option<team_provider::AnswerFormat>,
    ) {
        let mut formats = self.formats.lock();
        let key = (team_id.to_owned(), name.to_owned());
        match format {
            Some(f) => {
                formats.insert(key, f);
            }
            None => {
                formats.remove(&key);
            }
        }
    }

    /// The shape asked of member `member` (of agent `agent`) of `team_id`: the member's own,
    /// else its agent's, else none.
    pub(crate) fn get(
        &self,
        team_id: &str,
        member: &str,
        agent: &str,
    ) -> Option<team_provider::AnswerFormat> {
        let formats = self.formats.lock();
        if formats.is_empty() {
            return None;
        }
        formats
            .get(&(team_id.to_owned(), member.to_owned()))
            .or_else(|| formats.get(&(team_id.to_owned(), agent.to_owned())))
            .cloned()
    }
}

/// What a member (and a workflow) may use of its runner: the store, the options, the agent
/// runtime, the slots, the stop token, the answer formats, and the two channels to the engine
/// (events for the dispatcher, ends for the finisher).
pub(crate) struct Context {
    pub store: Store,
    pub opts: EngineOptions,
    pub runtime: AgentRuntime,
    /// The `max_agents` slots.
    pub slots: Arc<Semaphore>,
    /// The runner's stop: every member's cancel token is a child of it.
    pub shutdown: CancellationToken,
    pub formats: AnswerFormats,
    events: mpsc::UnboundedSender<Event>,
    ends: mpsc::UnboundedSender<EndRequest>,
}

impl Context {
    /// A context whose events go to `events` and ends to `ends`.
    pub(crate) fn new(
        store: Store,
        opts: EngineOptions,
        runtime: AgentRuntime,
        events: mpsc::UnboundedSender<Event>,
        ends: mpsc::UnboundedSender<EndRequest>,
    ) -> Self {
        let slots = Arc::new(Semaphore::new(opts.max_agents.max(1)));
        Self {
            store,
            opts,
            runtime,
            slots,
            shutdown: CancellationToken::new(),
            formats: AnswerFormats::default(),
            events,
            ends,
        }
    }

    /// Tells the dispatcher `event` (dropped when the engine is gone: nobody is left to wake).
    pub(crate) fn tell(&self, event: Event) {
        let _ = self.events.send(event);
    }

    /// Wakes the claim loop at once (pending members were added by this process).
    pub(crate) fn queued(&self) {
        self.tell(Event::Queued);
    }

    /// Records a member's end through the finisher (batched with the ends that arrive
    /// meanwhile).
    pub(crate) async fn finish(&self, end: MemberEnd) -> Result<Finished, EndFailure> {
        let (reply, rx) = oneshot::channel();
        self.ends
            .send(EndRequest { end, reply })
            .map_err(|_| EndFailure::Gone)?;
        rx.await.unwrap_or(Err(EndFailure::Gone))
    }

    /// Sends a message (on the blocking pool) and wakes its recipients in this process; see
    /// [`crate::Engine::send_message`].
    pub(crate) async fn send_message(
        &self,
        team_id: String,
        from: String,
        to: Recipient,
        kind: MessageKind,
        body: String,
    ) -> team_store::Result<Vec<Message>> {
        self.send_message_as(team_id, from, to, kind, body, None)
            .await
    }

    /// [`Context::send_message`] made by attempt `attempt` of the sender (a member this
    /// runner claimed): refused once the member moved on to another attempt.
    pub(crate) async fn send_message_as(
        &self,
        team_id: String,
        from: String,
        to: Recipient,
        kind: MessageKind,
        body: String,
        attempt: Option<i64>,
    ) -> team_store::Result<Vec<Message>> {
        let sent = db(&self.store, move |s| {
            s.send_message_as(
                &team_id,
                &Outgoing {
                    from: &from,
                    to,
                    kind,
                    body: &body,
                },
                None,
                false,
                attempt,
            )
        })
        .await?;
        self.wake_recipients(&sent);
        Ok(sent)
    }

    /// [`Context::send_message`] made once per `key` (per sender): a second send with the
    /// key returns the first one's deliveries and sends nothing (a resumed workflow).
    pub(crate) async fn send_message_keyed(
        &self,
        team_id: String,
        from: String,
        to: Recipient,
        kind: MessageKind,
        body: String,
        key: String,
    ) -> team_store::Result<Vec<Message>> {
        let sent = db(&self.store, move |s| {
            s.send_message_keyed(
                &team_id,
                &Outgoing {
                    from: &from,
                    to,
                    kind,
                    body: &body,
                },
                &key,
            )
        })
        .await?;
        self.wake_recipients(&sent);
        Ok(sent)
    }

    /// Wakes the members of this runner that just got messages (the in-process fast path;
    /// other processes' members notice through their poller).
    pub(crate) fn wake_recipients(&self, sent: &[Message]) {
        if sent.is_empty() {
            return;
        }
        let to = sent
            .iter()
            .map(|m| (m.team_id.clone(), m.recipient.clone()))
            .collect();
        self.tell(Event::Sent { to });
    }

    /// Wakes member `name` of team `team_id` if this runner runs it (idle, or blocked in
    /// `wait_for_messages`) or watches its inbox; a no-op otherwise.
    pub(crate) fn wake_member(&self, team_id: &str, name: &str) {
        self.tell(Event::Sent {
            to: vec![(team_id.to_owned(), name.to_owned())],
        });
    }

    /// Registers an in-process waiter on the inbox of `name` in `team_id`; it is woken by
    /// messages sent to it in this process until the returned guard is dropped.
    pub(crate) fn watch(self: &Arc<Self>, team_id: &str, name: &str) -> Watch {
        let wake = Arc::new(Notify::new());
        self.tell(Event::Watch {
            team_id: team_id.to_owned(),
            name: name.to_owned(),
            wake: wake.clone(),
        });
        Watch {
            ctx: self.clone(),
            wake,
        }
    }
}

/// A registered inbox waiter (see [`Context::watch`]); unregisters itself when dropped.
pub(crate) struct Watch {
    ctx: Arc<Context>,
    /// Notified when a message for the watched member is sent in this process.
    pub wake: Arc<Notify>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.ctx.tell(Event::Unwatch {
            wake: self.wake.clone(),
        });
    }
}

/// A member's hold on one of its runner's `max_agents` slots. A member holds a slot while it
/// works; it lets it go while it waits (idle between turns, or blocked in a tool that waits
/// for other members: `wait_for_messages`, a foreground `task`), so waiting members never
/// starve the members they wait for (with `max_agents = 1` a lead could otherwise wait for
/// ever on a child that can never start).
pub(crate) struct Slot {
    slots: Arc<Semaphore>,
    permit: Mutex<Option<OwnedSemaphorePermit>>,
}

impl Slot {
    /// A hold on one of `slots`, holding `permit` already (`None`: not yet).
    pub(crate) fn new(slots: Arc<Semaphore>, permit: Option<OwnedSemaphorePermit>) -> Self {
        Self {
            slots,
            permit: Mutex::new(permit),
        }
    }

    /// Lets the slot go; true when one was held.
    pub(crate) fn release(&self) -> bool {
        self.permit.lock().take().is_some()
    }

    /// Takes a slot if one is free at once; true when a slot is held afterwards.
    pub(crate) fn try_acquire(&self) -> bool {
        let mut held = self.permit.lock();
        if held.is_none() {
            *held = self.slots.clone().try_acquire_owned().ok();
        }
        held.is_some()
    }

    /// Waits for a slot and holds it; false when `cancel` fired first.
    pub(crate) async fn acquire(&self, cancel: &CancellationToken) -> bool {
        let permit = tokio::select! {
            p = self.slots.clone().acquire_owned() => p.ok(),
            _ = cancel.cancelled() => return false,
        };
        *self.permit.lock() = permit;
        true
    }
}

/// What a turn may use of its member besides the context: its wake-up (a tool waiting for
/// messages), its slot (let go while a tool waits), its cancel token and its hard deadline.
pub(crate) struct TurnIo<'a> {
    pub wake: &'a Arc<Notify>,
    pub slot: &'a Slot,
    pub cancel: &'a CancellationToken,
    pub deadline: Option<tokio::time::Instant>,
}

/// The input of a turn woken by messages, and what a running LLM member is given before its
/// next model call when messages reach it mid-turn (`crate::llm`): each message with who sent
/// it (`[message from SENDER (KIND)]`, then the body).
pub(crate) fn messages_as_input(msgs: &[Message]) -> String {
    msgs.iter()
        .map(|m| {
            format!(
                "[message from {} ({})]\n{}\n",
                m.sender,
                m.kind,
                m.body.trim_end()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where an LLM worker sits, which decides its system prompt, tools and answer shape.
pub(crate) enum Seat {
    /// A member: the team context in its system prompt (`view` when the dispatcher read it),
    /// the team and workspace tools, the answer shape its workflow asks (if any) per turn;
    /// `on_ask`: what its spawn said an `ask` becomes (`team spawn --on-ask`), over the
    /// runner's own setting.
    Member {
        view: Option<Arc<TeamView>>,
        on_ask: Option<team_tools::permission::OnAsk>,
    },
    /// A workflow's lead answering one request itself: its instructions as the system prompt,
    /// no tools, one model call numbered `call` (the key of its cassette entry), answered in
    /// `format` when given.
    Lead {
        call: u32,
        format: Option<team_provider::AnswerFormat>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_members_own_format_wins_over_its_agents() {
        let formats = AnswerFormats::default();
        assert!(formats.get("t", "reviewer-2", "reviewer").is_none());
        let shape = |name: &str| team_provider::AnswerFormat {
            name: name.into(),
            schema: serde_json::json!({"type": "object"}),
        };
        formats.set("t", "reviewer", Some(shape("agent")));
        assert_eq!(
            formats.get("t", "reviewer-2", "reviewer").unwrap().name,
            "agent"
        );
        formats.set("t", "reviewer-2", Some(shape("member")));
        assert_eq!(
            formats.get("t", "reviewer-2", "reviewer").unwrap().name,
            "member"
        );
        assert!(formats.get("other", "reviewer-2", "reviewer").is_none());
        formats.set("t", "reviewer-2", None);
        assert_eq!(
            formats.get("t", "reviewer-2", "reviewer").unwrap().name,
            "agent"
        );
    }

    #[tokio::test]
    async fn a_slot_is_let_go_while_waiting_and_taken_again() {
        let slots = Arc::new(Semaphore::new(1));
        let first = Slot::new(slots.clone(), None);
        assert!(first.try_acquire());
        let second = Slot::new(slots.clone(), None);
        assert!(!second.try_acquire(), "one slot only");
        assert!(first.release());
        assert!(!first.release(), "nothing left to let go");
        assert!(second.try_acquire());
        let cancel = CancellationToken::new();
        cancel.cancel();
        assert!(
            !first.acquire(&cancel).await,
            "a cancel wins over a busy slot"
        );
        assert!(second.release());
        assert!(first.acquire(&CancellationToken::new()).await);
    }
}
