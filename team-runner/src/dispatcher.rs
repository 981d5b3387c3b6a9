//! The dispatcher: the one owner of what the engine keeps per member (how to cancel it, how to
//! wake it) and of the in-process inbox watchers. Executors, workflows, the poller and the
//! PostgreSQL listener talk to it only through [`Event`]s on one channel, which it handles in
//! order; nothing else holds this state, so there is no lock on it.
//!
//! Its work per event is a map update or a `Notify`; the store is never called here, so a
//! wake-up is never queued behind a database round trip.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::context::Event;

/// The most events handled per wake-up of the dispatcher task.
const MAX_EVENT_BATCH: usize = 256;

/// What the dispatcher keeps per running member: how to cancel it and how to wake it.
struct Handle {
    team_id: String,
    name: String,
    cancel: CancellationToken,
    wake: Arc<Notify>,
    /// When the executor registered; a poll asked before it does not cancel it.
    since: tokio::time::Instant,
}

/// The state the dispatcher owns, and the engine's wake-ups it pulls.
pub(crate) struct Dispatcher {
    handles: HashMap<i64, Handle>,
    /// In-process waiters on an inbox that no executor owns: `(team id, member, wake-up)`.
    watchers: Vec<(String, String, Arc<Notify>)>,
    /// Wakes the claim loop ([`crate::Engine::serve`]).
    queued: Arc<Notify>,
    /// Wakes the poller (another process delivered messages to a team held here).
    inbox: Arc<Notify>,
    /// How many members this runner runs now (the poller skips its query at 0).
    held: Arc<AtomicUsize>,
}

impl Dispatcher {
    /// A dispatcher that wakes `queued` (the claim loop) and `inbox` (the poller), and
    /// publishes the number of members it holds in `held`.
    pub(crate) fn new(queued: Arc<Notify>, inbox: Arc<Notify>, held: Arc<AtomicUsize>) -> Self {
        Self {
            handles: HashMap::new(),
            watchers: Vec::new(),
            queued,
            inbox,
            held,
        }
    }

    /// Handles events until every sender is gone (the engine and all its members dropped).
    pub(crate) async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Event>) {
        let mut batch = Vec::with_capacity(MAX_EVENT_BATCH);
        while rx.recv_many(&mut batch, MAX_EVENT_BATCH).await > 0 {
            for event in batch.drain(..) {
                self.handle(event);
            }
        }
    }

    /// Acts on one event.
    pub(crate) fn handle(&mut self, event: Event) {
        match event {
            Event::Started {
                id,
                team_id,
                name,
                cancel,
                wake,
            } => {
                self.handles.insert(
                    id,
                    Handle {
                        team_id,
                        name,
                        cancel,
                        wake,
                        since: tokio::time::Instant::now(),
                    },
                );
            }
            Event::Ended { id } => {
                self.handles.remove(&id);
            }
            Event::Sent { to } => {
                for (team_id, name) in &to {
                    self.wake(team_id, name);
                }
            }
            Event::Queued => self.queued.notify_one(),
            Event::Watch {
                team_id,
                name,
                wake,
            } => self.watchers.push((team_id, name, wake)),
            Event::Unwatch { wake } => self.watchers.retain(|(_, _, w)| !Arc::ptr_eq(w, &wake)),
            Event::Polled { held, asked } => {
                let held: HashMap<i64, i64> = held.iter().map(|m| (m.id, m.unread)).collect();
                for (id, h) in &self.handles {
                    match held.get(id) {
                        // Ended by another process (disband, `team member fail`, reconcile).
                        None if h.since < asked => h.cancel.cancel(),
                        None => {}
                        // Idle, or running and blocked in `wait_for_messages`: a spare wake-up
                        // of a member that is not waiting only makes its next wait look once
                        // more.
                        Some(unread) if *unread > 0 => h.wake.notify_one(),
                        Some(_) => {}
                    }
                }
            }
            Event::Inbox { teams } => {
                if self.handles.values().any(|h| teams.contains(&h.team_id)) {
                    self.inbox.notify_one();
                }
            }
        }
        self.held.store(self.handles.len(), Ordering::Relaxed);
    }

    /// Wakes member `name` of `team_id` if it runs here, and the watchers of its inbox.
    fn wake(&self, team_id: &str, name: &str) {
        for h in self.handles.values() {
            if h.team_id == team_id && h.name == name {
                h.wake.notify_one();
            }
        }
        for (team, member, wake) in &self.watchers {
            if team == team_id && member == name {
                wake.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use team_store::HeldMember;

    fn dispatcher() -> (Dispatcher, Arc<Notify>, Arc<Notify>, Arc<AtomicUsize>) {
        let (queued, inbox, held) = (
            Arc::new(Notify::new()),
            Arc::new(Notify::new()),
            Arc::new(AtomicUsize::new(0)),
        );
        (
            Dispatcher::new(queued.clone(), inbox.clone(), held.clone()),
            queued,
            inbox,
            held,
        )
    }

    fn started(id: i64, team: &str, name: &str) -> (Event, CancellationToken, Arc<Notify>) {
        let (cancel, wake) = (CancellationToken::new(), Arc::new(Notify::new()));
        let ev = Event::Started {
            id,
            team_id: team.into(),
            name: name.into(),
            cancel: cancel.clone(),
            wake: wake.clone(),
        };
        (ev, cancel, wake)
    }

    /// True when `n` holds a wake-up (taken by this call).
    fn woken(n: &Notify) -> bool {
        let f = n.notified();
        tokio::pin!(f);
        f.as_mut().enable()
    }

    #[tokio::test]
    async fn a_send_wakes_the_recipient_and_its_watchers_only() {
        let (mut d, ..) = dispatcher();
        let (ev, _, a) = started(1, "t", "a");
        d.handle(ev);
        let (ev, _, b) = started(2, "t", "b");
        d.handle(ev);
        let (ev, _, other_team) = started(3, "u", "a");
        d.handle(ev);
        let watcher = Arc::new(Notify::new());
        d.handle(Event::Watch {
            team_id: "t".into(),
            name: "a".into(),
            wake: watcher.clone(),
        });
        d.handle(Event::Sent {
            to: vec![("t".into(), "a".into())],
        });
        assert!(woken(&a) && woken(&watcher));
        assert!(!woken(&b) && !woken(&other_team));
        d.handle(Event::Unwatch {
            wake: watcher.clone(),
        });
        d.handle(Event::Ended { id: 1 });
        d.handle(Event::Sent {
            to: vec![("t".into(), "a".into())],
        });
        assert!(!woken(&a) && !woken(&watcher), "gone from the dispatcher");
    }

    #[tokio::test]
    async fn a_poll_cancels_members_ended_elsewhere_and_wakes_those_with_mail() {
        let (mut d, _, _, held) = dispatcher();
        let (ev, gone, _) = started(1, "t", "a");
        d.handle(ev);
        let (ev, kept, mail) = started(2, "t", "b");
        d.handle(ev);
        assert_eq!(held.load(Ordering::Relaxed), 2);
        let asked = tokio::time::Instant::now() + std::time::Duration::from_millis(1);
        d.handle(Event::Polled {
            held: vec![HeldMember {
                id: 2,
                status: team_core::MemberStatus::Idle,
                unread: 3,
            }],
            asked,
        });
        assert!(gone.is_cancelled());
        assert!(!kept.is_cancelled());
        assert!(woken(&mail));
        // A member that started after the poll asked is not cancelled by it.
        let (ev, late, _) = started(3, "t", "c");
        d.handle(ev);
        d.handle(Event::Polled {
            held: Vec::new(),
            asked: tokio::time::Instant::now() - std::time::Duration::from_secs(1),
        });
        assert!(!late.is_cancelled());
        d.handle(Event::Ended { id: 1 });
        assert_eq!(held.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn queued_wakes_the_claim_loop_and_inbox_the_poller_for_held_teams() {
        let (mut d, queued, inbox, _) = dispatcher();
        d.handle(Event::Queued);
        assert!(woken(&queued));
        d.handle(Event::Inbox {
            teams: vec!["t".into()],
        });
        assert!(!woken(&inbox), "no member of t runs here");
        let (ev, ..) = started(1, "t", "a");
        d.handle(ev);
        d.handle(Event::Inbox {
            teams: vec!["u".into(), "t".into()],
        });
        assert!(woken(&inbox));
    }
}
