//! Notices without polling, for the client: one poller per process looks at the store every
//! [`crate::POLL`] and tells every session what it saw ([`Notice`]); each session's forwarder
//! turns that into MCP notifications.
//!
//! - A new message to the session's member (a member's `[AGENT COMPLETED] name: result` or
//!   `[AGENT FAILURE] name: error` notice, a member's `send_message`): a
//!   `notifications/message` logging message whose `data` is the text (the notice as is, a
//!   message as `[message from SENDER] body`), logger `team`, level `warning` for a failure,
//!   `info` otherwise. The message stays in the inbox: `wait_for_messages` and `read_inbox`
//!   return it too (and the poller wakes every `wait_for_messages` in progress).
//! - A new event of the team (a member started or ended, a task moved, a message sent):
//!   `notifications/resources/updated` for each `team://TEAM…` resource the client
//!   subscribed to.
#![allow(deprecated)] // Logging: see `crate::server`.

use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::model::{
    LoggingLevel, LoggingMessageNotificationParam, ResourceUpdatedNotificationParam,
};
use rmcp::service::Peer;
use team_core::{Message, MessageKind};
use tokio::sync::broadcast;

use crate::server::{Seat, Session, Shared};

/// What the poller saw.
#[derive(Debug, Clone)]
pub enum Notice {
    /// A new message to the session's member.
    Message(Message),
    /// Team `name` changed (new events).
    TeamChanged {
        /// The team's name (as in its `team://` URIs).
        name: String,
        /// Its id (URIs may name a team by id too).
        id: String,
    },
}

/// The text of a message as a logging message says it: a notice as is, anything else as
/// `[message from SENDER] body`.
pub fn message_text(m: &Message) -> String {
    match m.kind {
        MessageKind::Completion | MessageKind::Failure | MessageKind::System => m.body.clone(),
        _ => format!("[message from {}] {}", m.sender, m.body),
    }
}

fn level_of(m: &Message) -> LoggingLevel {
    match m.kind {
        MessageKind::Failure => LoggingLevel::Warning,
        MessageKind::System if m.body.starts_with("[AGENT CANCELLED]") => LoggingLevel::Warning,
        _ => LoggingLevel::Info,
    }
}

/// The most new messages one look reads (the rest at the next tick).
const MESSAGE_PAGE: usize = 500;

/// How often a session's forwarder checks that its client is still connected, when nothing
/// is to be sent.
const CLOSED_CHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// The process's poller: until the server stops, every [`crate::POLL`], looks for messages to
/// the seat's member and events of its team newer than what it saw, wakes the tool calls
/// waiting for messages, and tells the sessions. A store error is logged and the next look
/// tries again.
pub(crate) async fn poll(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(crate::POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // (team id, member, message cursor, event cursor) of the seat being watched.
    let mut watched: Option<(String, String, i64, i64)> = None;
    let mut last_message = -1_i64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shared.stop.cancelled() => return,
        }
        let seat: Option<Seat> = shared.seat.lock().clone();
        let Some(seat) = seat else {
            watched = None;
            continue;
        };
        let same = watched
            .as_ref()
            .is_some_and(|w| w.0 == seat.team.id && w.1 == seat.me.name);
        if !same {
            watched = Some((
                seat.team.id.clone(),
                seat.me.name.clone(),
                seat.since_message,
                seat.since_event,
            ));
            last_message = -1;
        }
        let Some(w) = watched.as_mut() else {
            continue;
        };
        let store = shared.ops.store().clone();
        let (team, me, msg_after, ev_after, seen) =
            (w.0.clone(), w.1.clone(), w.2, w.3, last_message);
        let looked = tokio::task::spawn_blocking(move || {
            let last = store.last_message_id()?;
            let msgs = if last != seen {
                store.inbox_after(&team, &me, msg_after, MESSAGE_PAGE as i64)?
            } else {
                Vec::new()
            };
            let events = store.list_events(Some(&team), ev_after, 1000)?;
            Ok::<_, team_store::StoreError>((last, msgs, events.last().map(|e| e.id)))
        })
        .await;
        let (last, msgs, newest_event) = match looked {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::warn!("cannot look for new messages: {e}");
                continue;
            }
            Err(e) => {
                tracing::warn!("cannot look for new messages: {e}");
                continue;
            }
        };
        if last != last_message {
            // A full page leaves more to read: look again at the next tick.
            last_message = if msgs.len() == MESSAGE_PAGE { -1 } else { last };
            // A message somewhere: every wait looks at its inbox again.
            shared.ops.wake_waiters();
        }
        if let Some(m) = msgs.last() {
            w.2 = m.id;
        }
        for m in msgs {
            let _ = shared.notices.send(Notice::Message(m));
        }
        if let Some(id) = newest_event {
            w.3 = id;
            let _ = shared.notices.send(Notice::TeamChanged {
                name: seat.team.name.clone(),
                id: seat.team.id.clone(),
            });
        }
    }
}

/// One session's forwarder: sends its client what the poller saw, as MCP notifications
/// (see the module doc), until the client is gone.
pub(crate) async fn forward(
    session: Session,
    mut notices: broadcast::Receiver<Notice>,
    peer: Peer<RoleServer>,
) {
    loop {
        let received = tokio::select! {
            r = notices.recv() => r,
            _ = tokio::time::sleep(CLOSED_CHECK) => {
                if peer.is_transport_closed() {
                    return;
                }
                continue;
            }
        };
        let notice = match received {
            Ok(n) => n,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!("an MCP client fell {n} notices behind; they are skipped");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let sent = match notice {
            Notice::Message(m) => {
                let level = level_of(&m);
                if !session.wants(level) {
                    continue;
                }
                let param = LoggingMessageNotificationParam::new(
                    level,
                    serde_json::Value::String(message_text(&m)),
                )
                .with_logger("team");
                peer.notify_logging_message(param).await
            }
            Notice::TeamChanged { name, id } => {
                let mut result = Ok(());
                for uri in session.subscribed() {
                    let Ok((team, _)) = crate::resources::parse_uri(&uri) else {
                        continue;
                    };
                    if team == name || team == id {
                        result = peer
                            .notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                            .await;
                        if result.is_err() {
                            break;
                        }
                    }
                }
                result
            }
        };
        if sent.is_err() || peer.is_transport_closed() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: MessageKind, sender: &str, body: &str) -> Message {
        Message {
            id: 1,
            team_id: "t".into(),
            sender: sender.into(),
            recipient: "lead".into(),
            kind,
            body: body.into(),
            broadcast: false,
            created_at_ms: 0,
            delivered_at_ms: None,
        }
    }

    #[test]
    fn notices_are_said_as_they_are_and_messages_with_their_sender() {
        let done = message(MessageKind::Completion, "rev", "[AGENT COMPLETED] rev: ok");
        assert_eq!(message_text(&done), "[AGENT COMPLETED] rev: ok");
        assert_eq!(level_of(&done), LoggingLevel::Info);
        let failed = message(MessageKind::Failure, "rev", "[AGENT FAILURE] rev: boom");
        assert_eq!(message_text(&failed), "[AGENT FAILURE] rev: boom");
        assert_eq!(level_of(&failed), LoggingLevel::Warning);
        let text = message(MessageKind::Text, "writer", "draft ready");
        assert_eq!(message_text(&text), "[message from writer] draft ready");
        assert_eq!(level_of(&text), LoggingLevel::Info);
    }
}
