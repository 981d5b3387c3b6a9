//! What `team top` reads from the store, apart from the screen: a [`Loader`] turns what a
//! screen wants ([`Want`]) into plain data ([`Loaded`]), and [`transcript`] makes a member's
//! transcript out of its events and messages (a pure function, tested without a store).
//!
//! Reads only: `team top` writes nothing to the database.

use std::collections::HashMap;

use team_core::{Event, Member, Message, MessageKind, Task, Team, TeamStatus};
use team_store::{Store, StoreError, TeamFilter, TeamSummary};

use crate::output::one_line;

/// Events read per query.
const PAGE: i64 = 1000;

/// At most this many events are kept per member for its transcript (the oldest go first).
const EVENTS_PER_MEMBER: usize = 5000;

/// At most this many message lines are kept for a team's message stream (the newest).
const MESSAGE_LINES: usize = 1000;

/// What the current screen needs from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// Every team with its counts.
    Teams,
    /// One team (by id): its members, task board and messages.
    Team(String),
    /// One member's transcript: team id and member name.
    Transcript {
        /// The team's id.
        team_id: String,
        /// The member's name.
        member: String,
    },
}

/// What a [`Loader`] read for a [`Want`].
#[derive(Debug, Clone)]
pub enum Loaded {
    /// Teams, the active ones first, each group newest first.
    Teams(Vec<TeamSummary>),
    /// One team.
    Team(Box<TeamData>),
    /// One member's transcript.
    Transcript(Box<TranscriptData>),
}

/// The latest tool call of a member, from its last `tool.call` or `tool.denied` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolSeen {
    /// The tool's name (`read`, `bash`, `send_message`).
    pub tool: String,
    /// `ok`, `failed` or `denied`.
    pub outcome: &'static str,
    /// When the event was written, ms since the epoch.
    pub at_ms: i64,
}

/// One line of a team's message stream: a delivery, or a broadcast's deliveries as one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageLine {
    /// When it was sent, ms since the epoch.
    pub at_ms: i64,
    /// The sender's name (`team` for system messages).
    pub sender: String,
    /// The recipient's name, or `all` for a broadcast.
    pub to: String,
    /// What the message is.
    pub kind: MessageKind,
    /// The text.
    pub body: String,
}

/// One team as its screen shows it.
#[derive(Debug, Clone)]
pub struct TeamData {
    /// The team.
    pub team: Team,
    /// Its members in creation order (the lead first).
    pub members: Vec<Member>,
    /// The latest tool call of each member that made one, by member name.
    pub tools: HashMap<String, ToolSeen>,
    /// Its task board, by id.
    pub tasks: Vec<Task>,
    /// Its messages, oldest first (at most the newest 1,000 lines).
    pub messages: Vec<MessageLine>,
}

/// What a transcript line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// The member's first prompt.
    Prompt,
    /// A model call (`provider.call`).
    Model,
    /// A tool call (`tool.call`).
    Tool,
    /// A tool call the permissions refused (`tool.denied`).
    Denied,
    /// A message to the member.
    Received,
    /// A message from the member.
    Sent,
    /// A state change or another event of the member.
    Event,
    /// Its result, once completed.
    Result,
    /// Its error, once failed, cancelled or timed out.
    Error,
}

/// One entry of a member's transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// When, ms since the epoch.
    pub at_ms: i64,
    /// What it is.
    pub kind: EntryKind,
    /// Who the message came from or went to (for [`EntryKind::Received`] and
    /// [`EntryKind::Sent`]), or the event's kind (for [`EntryKind::Event`]); else empty.
    pub label: String,
    /// The text; may hold several lines.
    pub text: String,
}

/// One member's transcript as its screen shows it.
#[derive(Debug, Clone)]
pub struct TranscriptData {
    /// The member's team.
    pub team: Team,
    /// The member.
    pub member: Member,
    /// Its transcript, oldest first.
    pub entries: Vec<Entry>,
}

impl Entry {
    /// The lines of its text (one at least), as the transcript shows them.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        let mut lines = self.text.lines().peekable();
        let empty = lines.peek().is_none();
        empty.then_some("").into_iter().chain(lines)
    }
}

impl TranscriptData {
    /// How many lines the transcript shows (an entry takes one per line of its text).
    pub fn line_count(&self) -> usize {
        self.entries.iter().map(|e| e.lines().count()).sum()
    }
}

/// The events of one team read so far, kept between loads so each poll reads only the new
/// ones.
#[derive(Debug, Default)]
struct EventCache {
    team_id: String,
    after: i64,
    tools: HashMap<String, ToolSeen>,
    by_member: HashMap<String, Vec<Event>>,
}

/// Reads what a screen wants; keeps the events of the team last read, so a poll reads only
/// events it has not seen.
#[derive(Debug)]
pub struct Loader<'s> {
    store: &'s Store,
    events: EventCache,
}

impl<'s> Loader<'s> {
    /// A loader over `store`.
    pub fn new(store: &'s Store) -> Self {
        Self {
            store,
            events: EventCache::default(),
        }
    }

    /// Reads what `want` names.
    ///
    /// # Errors
    /// The store's error (a team or member that is gone: [`StoreError::NotFound`]).
    pub fn load(&mut self, want: &Want) -> Result<Loaded, StoreError> {
        match want {
            Want::Teams => {
                let mut teams = self.store.list_teams(&TeamFilter {
                    all: true,
                    status: None,
                })?;
                teams.sort_by_key(|t| {
                    (
                        t.team.status != TeamStatus::Active,
                        std::cmp::Reverse(t.team.created_at_ms),
                    )
                });
                Ok(Loaded::Teams(teams))
            }
            Want::Team(team_id) => {
                let team = self.store.resolve_team(team_id)?;
                let members = self.store.list_members(&team.id)?;
                let tasks = self.store.list_tasks(&team.id, None)?;
                let mut messages = message_lines(&self.store.list_messages(&team.id)?);
                if messages.len() > MESSAGE_LINES {
                    messages.drain(..messages.len() - MESSAGE_LINES);
                }
                self.read_events(&team.id)?;
                Ok(Loaded::Team(Box::new(TeamData {
                    team,
                    members,
                    tools: self.events.tools.clone(),
                    tasks,
                    messages,
                })))
            }
            Want::Transcript { team_id, member } => {
                let team = self.store.resolve_team(team_id)?;
                let member = self.store.get_member(&team.id, member)?;
                self.read_events(&team.id)?;
                let messages = self.store.list_messages(&team.id)?;
                let events = self
                    .events
                    .by_member
                    .get(&member.name)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let entries = transcript(&member, events, &messages);
                Ok(Loaded::Transcript(Box::new(TranscriptData {
                    team,
                    member,
                    entries,
                })))
            }
        }
    }

    /// Reads the team's events the cache has not seen (all of them for a team it did not
    /// hold).
    fn read_events(&mut self, team_id: &str) -> Result<(), StoreError> {
        if self.events.team_id != team_id {
            self.events = EventCache {
                team_id: team_id.to_owned(),
                ..EventCache::default()
            };
        }
        loop {
            let page = self
                .store
                .list_events(Some(team_id), self.events.after, PAGE)?;
            let more = page.len() as i64 == PAGE;
            for e in page {
                self.events.after = self.events.after.max(e.id);
                self.events.keep(e);
            }
            if !more {
                return Ok(());
            }
        }
    }
}

impl EventCache {
    /// Files one event: the latest tool call per member, and the member's transcript events.
    fn keep(&mut self, e: Event) {
        let Some(member) = e.member.clone() else {
            return;
        };
        // Messages come from the messages table, with their whole text.
        if e.kind.starts_with("message.") {
            return;
        }
        if let Some(outcome) = tool_outcome(&e) {
            let tool = e.payload["tool"].as_str().unwrap_or("?").to_owned();
            self.tools.insert(
                member.clone(),
                ToolSeen {
                    tool,
                    outcome,
                    at_ms: e.created_at_ms,
                },
            );
        }
        let list = self.by_member.entry(member).or_default();
        list.push(e);
        if list.len() > EVENTS_PER_MEMBER {
            list.drain(..list.len() - EVENTS_PER_MEMBER);
        }
    }
}

/// `ok`, `failed` or `denied` for a `tool.call` or `tool.denied` event; `None` for others.
fn tool_outcome(e: &Event) -> Option<&'static str> {
    match e.kind.as_str() {
        "tool.call" if e.payload["ok"].as_bool() == Some(false) => Some("failed"),
        "tool.call" => Some("ok"),
        "tool.denied" => Some("denied"),
        _ => None,
    }
}

/// A team's deliveries as message lines: the deliveries of one broadcast (same sender, time,
/// kind and text, next to each other) become one line to `all`.
pub fn message_lines(messages: &[Message]) -> Vec<MessageLine> {
    let mut out: Vec<MessageLine> = Vec::new();
    for m in messages {
        if m.broadcast
            && let Some(last) = out.last_mut()
            && last.to == "all"
            && last.sender == m.sender
            && last.at_ms == m.created_at_ms
            && last.kind == m.kind
            && last.body == m.body
        {
            continue;
        }
        out.push(MessageLine {
            at_ms: m.created_at_ms,
            sender: m.sender.clone(),
            to: if m.broadcast {
                "all".to_owned()
            } else {
                m.recipient.clone()
            },
            kind: m.kind,
            body: m.body.clone(),
        });
    }
    out
}

/// A member's transcript, oldest first: its prompt, its model calls and tool calls and other
/// events (from `events`, the member's events of the log), the messages it received and sent
/// (from `messages`, every delivery of its team), and its result or error.
///
/// Conversation checkpoints (the model's own text) do not exist yet: until they do, the
/// transcript is the event log's view of the conversation.
pub fn transcript(member: &Member, events: &[Event], messages: &[Message]) -> Vec<Entry> {
    let mut entries = Vec::new();
    if let Some(p) = &member.prompt {
        entries.push(Entry {
            at_ms: member.created_at_ms,
            kind: EntryKind::Prompt,
            label: String::new(),
            text: p.clone(),
        });
    }
    for e in events
        .iter()
        .filter(|e| e.member.as_deref() == Some(&member.name))
    {
        entries.push(event_entry(e));
    }
    let received = messages
        .iter()
        .filter(|m| m.recipient == member.name)
        .map(|m| Entry {
            at_ms: m.created_at_ms,
            kind: EntryKind::Received,
            label: m.sender.clone(),
            text: kind_prefix(m.kind, &m.body),
        });
    let sent = message_lines(
        &messages
            .iter()
            .filter(|m| m.sender == member.name)
            .cloned()
            .collect::<Vec<_>>(),
    )
    .into_iter()
    .map(|l| Entry {
        at_ms: l.at_ms,
        kind: EntryKind::Sent,
        label: l.to,
        text: kind_prefix(l.kind, &l.body),
    });
    entries.extend(received);
    entries.extend(sent);
    if let Some(end) = member.ended_at_ms {
        if let Some(r) = &member.result {
            entries.push(Entry {
                at_ms: end,
                kind: EntryKind::Result,
                label: String::new(),
                text: r.clone(),
            });
        }
        if let Some(err) = &member.error {
            entries.push(Entry {
                at_ms: end,
                kind: EntryKind::Error,
                label: String::new(),
                text: err.clone(),
            });
        }
    }
    // Stable: at one time, the prompt, then events, then messages, then the end.
    entries.sort_by_key(|e| e.at_ms);
    entries
}

/// The body of a message, after its kind unless it is plain text.
fn kind_prefix(kind: MessageKind, body: &str) -> String {
    if kind == MessageKind::Text {
        body.to_owned()
    } else {
        format!("[{kind}] {body}")
    }
}

/// One event of the member's log as a transcript entry.
fn event_entry(e: &Event) -> Entry {
    let p = &e.payload;
    let num = |k: &str| p[k].as_i64().unwrap_or(0);
    let (kind, label, text) = match e.kind.as_str() {
        "provider.call" => {
            let mut t = format!(
                "{} {}: {} in / {} out, {} ms",
                p["provider"].as_str().unwrap_or("?"),
                p["model"].as_str().unwrap_or("?"),
                num("prompt_tokens"),
                num("completion_tokens"),
                num("latency_ms"),
            );
            if let Some(s) = p["status"].as_str().filter(|s| *s != "ok") {
                t.push_str(&format!(" ({s})"));
            }
            (EntryKind::Model, String::new(), t)
        }
        "tool.call" | "tool.denied" => {
            let tool = p["tool"].as_str().unwrap_or("?");
            let (kind, t) = match tool_outcome(e) {
                Some("denied") => (
                    EntryKind::Denied,
                    format!(
                        "{tool} denied: {}",
                        p["reason"].as_str().unwrap_or("no reason given")
                    ),
                ),
                Some("failed") => (
                    EntryKind::Tool,
                    format!(
                        "{tool} failed: {}",
                        one_line(p["error"].as_str().unwrap_or(""), 200)
                    ),
                ),
                _ => (EntryKind::Tool, tool.to_owned()),
            };
            (kind, String::new(), t)
        }
        other => {
            // `key=value …`, strings unquoted: shorter than JSON, and as exact.
            let detail = match p {
                serde_json::Value::Object(o) => o
                    .iter()
                    .map(|(k, v)| match v {
                        serde_json::Value::String(s) => format!("{k}={s}"),
                        v => format!("{k}={v}"),
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                serde_json::Value::Null => String::new(),
                v => v.to_string(),
            };
            (EntryKind::Event, other.to_owned(), detail)
        }
    };
    Entry {
        at_ms: e.created_at_ms,
        kind,
        label,
        text,
    }
}
