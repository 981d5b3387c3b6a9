//! The live view of a team while it works, shared by `team run` and `team watch`.
//!
//! Two modes, chosen by [`Mode::detect`]:
//! - [`Mode::Terminal`] (stderr is a terminal, `TERM` is not `dumb`, `CI` is not set): a header
//!   line with the overall progress (the workflow's phase `k/n`, the members done of all) above
//!   one row per member in fixed-width columns, redrawn in place (indicatif). A finished row
//!   stops spinning and keeps its final line (`✓`, `✗` or `-` in place of the spinner). Log
//!   lines are printed above the rows ([`crate::output::LiveLogs`]). States are coloured by the
//!   rules of [`crate::output::colors`] (`NO_COLOR`, `CLICOLOR`, `CLICOLOR_FORCE`).
//! - [`Mode::Plain`] (CI, a dumb terminal, a pipe or a file): no animation; one timestamped
//!   line per change, in the order the changes happened: a phase starts (`12:00:01 phase review
//!   (1/3)`), a member changes state (`12:00:03 architecture running`), the lead starts or
//!   stops waiting, the team ends. The changes come from the team's event log (a workflow's
//!   phases too: [`phase_recorder`] records them there), so no change between two looks is
//!   lost, completions are printed in the order they happened, and `team watch` in another
//!   shell tells the same story. A member's agent is named only when it differs from the
//!   member's name (`lead (spec-lead)`).
//!
//! The lead's state: a workflow's lead waits while the members it started work, and its own
//! turn comes at the synthesis; its row says `running` all along. The view shows [`WAITING`]
//! for a lead whose stored state is `running` while another member is `pending` or `running`.
//! `waiting` is a label of this view, not a stored state.

use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use team_core::{Event, Member, MemberStatus, Role, TeamStatus};
use team_runner::workflow::WorkflowKind;
use team_runner::workflow::review::PhaseFn;
use team_store::{Store, StoreError, now_ms};
use tokio_util::sync::CancellationToken;

use crate::output::{self, LiveLogs, duration, one_line, paint_state};

/// How often the view looks at the store.
pub const TICK: Duration = Duration::from_millis(250);

/// The view's label of a lead that waits for its members (see the module docs).
pub const WAITING: &str = "waiting";

/// How many events one look reads per query.
const EVENT_PAGE: i64 = 500;

/// How the view is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Rows redrawn in place on a terminal.
    Terminal,
    /// A timestamped line per change, no animation.
    Plain,
}

impl Mode {
    /// The mode for stderr in this environment ([`Mode::decide`] on `CI`, `TERM` and whether
    /// stderr is a terminal).
    pub fn detect() -> Mode {
        Self::decide(
            std::env::var("CI").ok().as_deref(),
            std::env::var("TERM").ok().as_deref(),
            std::io::stderr().is_terminal(),
        )
    }

    /// [`Mode::Plain`] when `ci` is set to anything but empty, `0`, `false` or `no` (CI
    /// services set `CI=true`), when `term` is `dumb`, or when stderr is not a terminal;
    /// else [`Mode::Terminal`].
    pub fn decide(ci: Option<&str>, term: Option<&str>, terminal: bool) -> Mode {
        let ci = ci.is_some_and(|v| {
            !matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "" | "0" | "false" | "no"
            )
        });
        if ci || term == Some("dumb") || !terminal {
            Mode::Plain
        } else {
            Mode::Terminal
        }
    }
}

/// The phases a workflow of `kind` goes through, in order, as its engine announces them
/// (team-runner's `workflow/review.rs`, `fanout.rs`, `self_review.rs`); a self-review loop
/// repeats its four per round (`round 2: fix`).
fn phases_of(kind: WorkflowKind) -> &'static [&'static str] {
    match kind {
        WorkflowKind::SpecReview => &["review", "cross_review", "synthesis"],
        WorkflowKind::Fanout => &["fanout", "synthesis"],
        WorkflowKind::SelfReviewLoop => &["review", "triage", "fix", "test"],
    }
}

/// Where `phase` stands among the phases of `kind`: `(k, n)`, counting from 1; `None` for a
/// phase the list does not name. A self-review loop's `round N: step` counts within its round.
pub fn phase_position(kind: WorkflowKind, phase: &str) -> Option<(usize, usize)> {
    let step = match kind {
        WorkflowKind::SelfReviewLoop => phase.split_once(": ").map_or(phase, |(_, s)| s),
        _ => phase,
    };
    let all = phases_of(kind);
    all.iter()
        .position(|p| *p == step)
        .map(|i| (i + 1, all.len()))
}

/// A phase as the view shows it: `review (1/3)`, or the bare name when its position is not
/// known.
pub fn phase_label(kind: Option<WorkflowKind>, phase: &str) -> String {
    match kind.and_then(|k| phase_position(k, phase)) {
        Some((k, n)) => format!("{phase} ({k}/{n})"),
        None => phase.to_owned(),
    }
}

/// Kind of the event that records the start of a workflow's phase; payload `{"phase": NAME}`
/// (`review`, `cross_review`, `synthesis`, `round 2: fix`).
pub const PHASE_EVENT: &str = "workflow.phase";

/// The callback to give a workflow ([`PhaseFn`]): each phase's start is appended to team
/// `team_id`'s event log as a [`PHASE_EVENT`] by the lead, so the live view, `team watch` in
/// another shell and `team logs` see it in order with the members' changes. The write is
/// made at once, on the calling thread (a run has a handful of phases; each write is one
/// short transaction); a failed write is logged and loses only that line.
pub fn phase_recorder(store: Store, team_id: String) -> PhaseFn {
    Arc::new(move |p: &str| {
        let payload = serde_json::json!({ "phase": p });
        if let Err(e) = store.append_event(
            Some(&team_id),
            Some(team_core::LEAD_ALIAS),
            PHASE_EVENT,
            payload,
        ) {
            tracing::warn!("cannot record the start of phase {p}: {e}");
        }
    })
}

/// The state the view shows for the lead (stored state `lead`) given the states of the other
/// members: [`WAITING`] while it is `running` and another member is `pending` or `running`,
/// else its stored state.
pub fn lead_label(
    lead: MemberStatus,
    others: impl IntoIterator<Item = MemberStatus>,
) -> &'static str {
    let working = |s: &MemberStatus| matches!(s, MemberStatus::Pending | MemberStatus::Running);
    if lead == MemberStatus::Running && others.into_iter().any(|s| working(&s)) {
        WAITING
    } else {
        lead.as_str()
    }
}

/// Width of the state column: the longest member state or [`WAITING`], so that no state
/// (`completed`, `cancelled`) pushes the columns after it.
pub fn state_width() -> usize {
    MemberStatus::ALL
        .iter()
        .map(|s| s.as_str().len())
        .chain([WAITING.len()])
        .max()
        .unwrap_or(9)
}

/// A time in ms since the epoch as the local `HH:MM:SS` that starts a plain line.
pub fn clock(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// A member as a plain line names it: `architecture`, or `lead (spec-lead)` when its agent's
/// name differs from its own.
pub fn who(name: &str, agent: &str) -> String {
    if agent.is_empty() || agent == name {
        name.to_owned()
    } else {
        format!("{name} ({agent})")
    }
}

/// What a plain line adds to a member's end: turns, tokens (prompt/completion), elapsed time,
/// and its error or result cut to one line.
fn end_detail(m: &Member, now: i64) -> String {
    let mut s = format!(
        "{} turn(s), {}/{} tokens, {}",
        m.turns,
        m.tokens_in,
        m.tokens_out,
        duration(m.elapsed_ms(now))
    );
    if let Some(text) = m.error.as_deref().or(m.result.as_deref())
        && !text.trim().is_empty()
    {
        s.push_str(": ");
        s.push_str(&one_line(text.trim(), 60));
    }
    s
}

/// What the plain mode knows of a team, fed its events in order: each member's state and the
/// lead's shown state; it turns the events into plain lines.
#[derive(Debug, Default)]
pub struct Tracker {
    team: String,
    kind: Option<WorkflowKind>,
    states: HashMap<String, MemberStatus>,
    agents: HashMap<String, String>,
    lead: Option<&'static str>,
}

impl Tracker {
    /// A tracker for team `team` (its name, for the team's end line) running a workflow of
    /// `kind`, if any (for the phases' `k/n`).
    pub fn new(team: &str, kind: Option<WorkflowKind>) -> Tracker {
        Tracker {
            team: team.to_owned(),
            kind,
            ..Tracker::default()
        }
    }

    /// The members whose rows [`Tracker::lines`] needs for `events`: those that end in them
    /// (their end line gives turns, tokens and result) and those whose agent this tracker does
    /// not know yet, each once, in first-seen order.
    pub fn rows_needed(&self, events: &[Event]) -> Vec<String> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        // Members whose agent an earlier event of these names (`member.added`).
        let mut introduced = HashSet::new();
        for e in events {
            if e.kind == "member.added" && e.payload["agent"].as_str().is_some() {
                introduced.insert(e.member.as_deref().unwrap_or(team_core::LEAD_ALIAS));
            }
            let Some(state) = e
                .kind
                .strip_prefix("member.")
                .and_then(|s| s.parse::<MemberStatus>().ok())
            else {
                continue;
            };
            let member = e.member.as_deref().unwrap_or(team_core::LEAD_ALIAS);
            let needed = state.is_terminal()
                || (!self.agents.contains_key(member)
                    && !introduced.contains(member)
                    && e.payload["agent"].as_str().is_none());
            if needed && seen.insert(member) {
                out.push(member.to_owned());
            }
        }
        out
    }

    /// The plain lines for `events` (the team's, in log order), one per change of a phase, a
    /// member's state, the lead's shown state or the team's state; other events say nothing.
    /// `members` are rows of the team's members now (agents, turns and tokens of the end
    /// lines): all of them, or at least those [`Tracker::rows_needed`] names. The `k/n done`
    /// count takes n from the rows given or from the members these events introduced,
    /// whichever is larger.
    pub fn lines(&mut self, events: &[Event], members: &[Member], now: i64) -> Vec<String> {
        let rows: HashMap<&str, &Member> = members.iter().map(|m| (m.name.as_str(), m)).collect();
        let total = members.iter().filter(|m| m.role != Role::Lead).count();
        let mut out = Vec::new();
        for e in events {
            self.event(e, &clock(e.created_at_ms), &rows, total, now, &mut out);
        }
        out
    }

    fn event(
        &mut self,
        e: &Event,
        t: &str,
        rows: &HashMap<&str, &Member>,
        total: usize,
        now: i64,
        out: &mut Vec<String>,
    ) {
        let member = e.member.as_deref().unwrap_or(team_core::LEAD_ALIAS);
        let (state, agent) = match e.kind.as_str() {
            PHASE_EVENT => {
                if let Some(p) = e.payload["phase"].as_str() {
                    out.push(format!("{t} phase {}", phase_label(self.kind, p)));
                }
                return;
            }
            // The lead is created with its team, running.
            "team.created" => (
                MemberStatus::Running,
                e.payload["lead_agent"].as_str().map(str::to_owned),
            ),
            "member.added" => (
                e.payload["status"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(MemberStatus::Pending),
                e.payload["agent"].as_str().map(str::to_owned),
            ),
            kind => {
                if let Some(to) = kind
                    .strip_prefix("team.")
                    .filter(|to| to.parse::<TeamStatus>().is_ok_and(TeamStatus::is_terminal))
                {
                    let reason = e.payload["reason"].as_str().unwrap_or("").trim();
                    if reason.is_empty() {
                        out.push(format!("{t} team {} {to}", self.team));
                    } else {
                        out.push(format!("{t} team {} {to}: {reason}", self.team));
                    }
                    return;
                }
                match kind.strip_prefix("member.").map(str::parse::<MemberStatus>) {
                    Some(Ok(s)) => (s, None),
                    _ => return,
                }
            }
        };
        if let Some(a) = agent.or_else(|| rows.get(member).map(|m| m.agent.clone())) {
            self.agents.insert(member.to_owned(), a);
        }
        let previous = self.states.insert(member.to_owned(), state);
        let is_lead = member == team_core::LEAD_ALIAS;
        if previous != Some(state) && !is_lead {
            let name = who(member, self.agents.get(member).map_or("", String::as_str));
            let mut line = format!("{t} {name} {state}");
            if state.is_terminal() {
                let done = self
                    .states
                    .iter()
                    .filter(|(n, s)| n.as_str() != team_core::LEAD_ALIAS && s.is_terminal())
                    .count();
                let known = self
                    .states
                    .keys()
                    .filter(|n| n.as_str() != team_core::LEAD_ALIAS)
                    .count();
                line.push_str(&format!(" ({done}/{} done)", total.max(known)));
                if let Some(m) = rows.get(member) {
                    line.push_str(&format!(": {}", end_detail(m, now)));
                }
            }
            out.push(line);
        }
        // The lead's shown state may change with any member's.
        if let Some(&lead) = self.states.get(team_core::LEAD_ALIAS) {
            let others = self
                .states
                .iter()
                .filter(|(n, _)| n.as_str() != team_core::LEAD_ALIAS)
                .map(|(_, s)| *s);
            let shown = lead_label(lead, others);
            if self.lead != Some(shown) {
                self.lead = Some(shown);
                let name = who(
                    team_core::LEAD_ALIAS,
                    self.agents
                        .get(team_core::LEAD_ALIAS)
                        .map_or("", String::as_str),
                );
                let mut line = format!("{t} {name} {shown}");
                if lead.is_terminal()
                    && let Some(m) = rows.get(team_core::LEAD_ALIAS)
                {
                    line.push_str(&format!(": {}", end_detail(m, now)));
                }
                out.push(line);
            }
        }
    }
}

/// The widths of a row's columns, so that rows line up: the longest member name and the
/// longest agent name that differs from its member's (0 when none does).
pub fn widths(members: &[Member]) -> (usize, usize) {
    let name = members
        .iter()
        .map(|m| m.name.chars().count())
        .max()
        .unwrap_or(0);
    let agent = members
        .iter()
        .filter(|m| m.agent != m.name)
        .map(|m| m.agent.chars().count())
        .max()
        .unwrap_or(0);
    (name, agent)
}

/// A member's row on a terminal, in fixed-width columns: name, agent (blank when it is the
/// member's name), `state` (padded to [`state_width`], coloured when `color`), turns, tokens
/// (prompt/completion) and elapsed time.
pub fn row(
    m: &Member,
    state: &str,
    (name_w, agent_w): (usize, usize),
    color: bool,
    now: i64,
) -> String {
    let mut s = format!("{:<name_w$}", m.name);
    if agent_w > 0 {
        let agent = if m.agent == m.name { "" } else { &m.agent };
        s.push_str(&format!("  {agent:<agent_w$}"));
    }
    let padded = format!("{state:<w$}", w = state_width());
    s.push_str(&format!(
        "  {}  turns {:>3}  tokens {:>7}/{:<7} {:>6}",
        paint_state(state, &padded, color),
        m.turns,
        m.tokens_in,
        m.tokens_out,
        duration(m.elapsed_ms(now))
    ));
    s
}

/// The header's overall progress: `members 2/5 done` (members other than the lead).
pub fn members_done(members: &[Member]) -> String {
    let others: Vec<&Member> = members.iter().filter(|m| m.role != Role::Lead).collect();
    let done = others.iter().filter(|m| m.status.is_terminal()).count();
    format!("members {done}/{} done", others.len())
}

/// The shown state of each member of `members` (the lead's by [`lead_label`]).
pub fn shown_states(members: &[Member]) -> Vec<&'static str> {
    members
        .iter()
        .map(|m| {
            if m.role == Role::Lead {
                lead_label(
                    m.status,
                    members
                        .iter()
                        .filter(|o| o.role != Role::Lead)
                        .map(|o| o.status),
                )
            } else {
                m.status.as_str()
            }
        })
        .collect()
}

fn spinning() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn still() -> ProgressStyle {
    ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// The mark of a finished row, in place of the spinner.
fn end_mark(s: MemberStatus) -> &'static str {
    match s {
        MemberStatus::Completed => "✓",
        MemberStatus::Cancelled => "-",
        _ => "✗",
    }
}

/// The terminal display: a header bar above a bar per member.
struct Board {
    multi: MultiProgress,
    header: ProgressBar,
    rows: HashMap<i64, ProgressBar>,
    finished: HashSet<i64>,
    color: bool,
    _logs: Option<LiveLogs>,
}

impl Board {
    fn new(target: ProgressDrawTarget, color: bool, route_logs: bool) -> Board {
        let multi = MultiProgress::with_draw_target(target);
        let header = multi.add(ProgressBar::new_spinner().with_style(spinning()));
        let logs = route_logs.then(|| LiveLogs::route(&multi));
        Board {
            multi,
            header,
            rows: HashMap::new(),
            finished: HashSet::new(),
            color,
            _logs: logs,
        }
    }

    fn draw(&mut self, header: String, members: &[Member], now: i64) {
        self.header.set_message(header);
        self.header.tick();
        let w = widths(members);
        for (m, state) in members.iter().zip(shown_states(members)) {
            if self.finished.contains(&m.id) {
                continue;
            }
            let bar = self.rows.entry(m.id).or_insert_with(|| {
                self.multi
                    .add(ProgressBar::new_spinner().with_style(spinning()))
            });
            let line = row(m, state, w, self.color, now);
            if m.status.is_terminal() {
                bar.set_style(still());
                bar.finish_with_message(format!("{} {line}", end_mark(m.status)));
                self.finished.insert(m.id);
            } else {
                bar.set_message(line);
                bar.tick();
            }
        }
    }

    fn finish(&mut self) {
        for (id, bar) in &self.rows {
            if !self.finished.contains(id) {
                bar.finish();
            }
        }
        self.header.set_style(still());
        self.header.finish();
    }
}

/// The live view of one team (see the module docs): call [`View::look`] every [`TICK`], and
/// [`View::finish`] at the end.
pub struct View {
    team: String,
    kind: Option<WorkflowKind>,
    phase: Option<String>,
    after: i64,
    tracker: Tracker,
    board: Option<Board>,
    started: Instant,
}

impl View {
    /// A view of team `team` (its name) in `mode`; `kind`, the kind of the team's workflow if
    /// it runs one, numbers its phases (`k/n`).
    pub fn new(mode: Mode, team: &str, kind: Option<WorkflowKind>) -> View {
        let board = (mode == Mode::Terminal).then(|| {
            Board::new(
                ProgressDrawTarget::stderr(),
                output::colors(&std::io::stderr()),
                true,
            )
        });
        View {
            team: team.to_owned(),
            kind,
            phase: None,
            after: 0,
            tracker: Tracker::new(team, kind),
            board,
            started: Instant::now(),
        }
    }

    /// One look at team `team_id`: reads the events since the last look and the members, then
    /// prints a line per change (plain) or redraws the rows under a header made of `status`
    /// (e.g. the team's state and task counts; may be empty) and the overall progress.
    /// The plain mode reads only the rows of the members that ended in the new events
    /// ([`Tracker::rows_needed`]); the terminal mode reads every member (it draws them all).
    ///
    /// # Errors
    /// A store error; the view is left as it was.
    pub fn look(&mut self, store: &Store, team_id: &str, status: &str) -> Result<(), StoreError> {
        let mut events = Vec::new();
        loop {
            let page = store.list_events(Some(team_id), self.after, EVENT_PAGE)?;
            let full = page.len() as i64 == EVENT_PAGE;
            if let Some(last) = page.last() {
                self.after = last.id;
            }
            events.extend(page);
            if !full {
                break;
            }
        }
        let now = now_ms();
        if let Some(p) = events
            .iter()
            .rev()
            .find(|e| e.kind == PHASE_EVENT)
            .and_then(|e| e.payload["phase"].as_str())
        {
            self.phase = Some(p.to_owned());
        }
        match &mut self.board {
            None => {
                // Only the rows the lines need: those of the members that ended in these
                // events (a 1000-member fan-out is not read again at every look).
                let names = self.tracker.rows_needed(&events);
                let members = if names.is_empty() {
                    Vec::new()
                } else {
                    store.members_named(team_id, &names)?
                };
                let lines = self.tracker.lines(&events, &members, now);
                if !lines.is_empty() {
                    let mut text = lines.join("\n");
                    text.push('\n');
                    let _ = std::io::stderr().lock().write_all(text.as_bytes());
                }
            }
            Some(board) => {
                let members = store.list_members(team_id)?;
                let mut parts = Vec::new();
                if !status.is_empty() {
                    parts.push(status.to_owned());
                } else {
                    parts.push(format!("team {}", self.team));
                }
                if let Some(p) = &self.phase {
                    parts.push(format!("phase {}", phase_label(self.kind, p)));
                }
                parts.push(members_done(&members));
                if self.kind.is_some() {
                    parts.push(duration(self.started.elapsed().as_millis() as i64));
                }
                board.draw(parts.join(" · "), &members, now);
            }
        }
        Ok(())
    }

    /// Ends the display: rows still live stop spinning where they are.
    pub fn finish(&mut self) {
        if let Some(b) = &mut self.board {
            b.finish();
        }
    }
}

/// Follows a `team run` of team `team` (`team_id`) until `stop` is cancelled, then looks once
/// more (so the members' and the team's ends are shown) and finishes the display. A store
/// error skips a look.
pub async fn follow_run(
    store: Store,
    team: String,
    team_id: String,
    kind: WorkflowKind,
    stop: CancellationToken,
) {
    let mut view = View::new(Mode::detect(), &team, Some(kind));
    loop {
        let last = stop.is_cancelled();
        let (s, t) = (store.clone(), team_id.clone());
        view = match tokio::task::spawn_blocking(move || {
            let _ = view.look(&s, &t, "");
            view
        })
        .await
        {
            Ok(v) => v,
            Err(_) => return,
        };
        if last {
            view.finish();
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = stop.cancelled() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn member(id: i64, name: &str, agent: &str, status: MemberStatus) -> Member {
        Member {
            id,
            team_id: "t".into(),
            name: name.into(),
            agent: agent.into(),
            role: if name == "lead" {
                Role::Lead
            } else {
                Role::Member
            },
            status,
            prompt: None,
            persistent: true,
            timeout_secs: None,
            runner_id: None,
            pid: None,
            created_at_ms: 1_000,
            started_at_ms: Some(1_000),
            updated_at_ms: 1_000,
            ended_at_ms: status.is_terminal().then_some(5_000),
            result: status.is_terminal().then(|| "3 finding(s)".to_owned()),
            error: None,
            turns: 2,
            tokens_in: 1200,
            tokens_out: 300,
            busy_ms: 3_000,
            attempt: 1,
            max_attempts: 1,
        }
    }

    fn event(
        id: i64,
        at: i64,
        member: Option<&str>,
        kind: &str,
        payload: serde_json::Value,
    ) -> Event {
        Event {
            id,
            team_id: Some("t".into()),
            member: member.map(str::to_owned),
            kind: kind.into(),
            payload,
            created_at_ms: at,
        }
    }

    /// The lines without their `HH:MM:SS ` timestamps (which are local time).
    fn untimed(lines: &[String]) -> Vec<String> {
        lines
            .iter()
            .map(|l| {
                let (t, rest) = l.split_at(9);
                assert!(
                    t.len() == 9
                        && t.as_bytes()[2] == b':'
                        && t.as_bytes()[5] == b':'
                        && t.ends_with(' '),
                    "a timestamp starts `{l}`"
                );
                rest.to_owned()
            })
            .collect()
    }

    #[test]
    fn modes() {
        assert_eq!(Mode::decide(None, Some("xterm"), true), Mode::Terminal);
        assert_eq!(Mode::decide(Some("true"), Some("xterm"), true), Mode::Plain);
        assert_eq!(Mode::decide(Some("1"), None, true), Mode::Plain);
        assert_eq!(Mode::decide(Some("false"), None, true), Mode::Terminal);
        assert_eq!(Mode::decide(Some(""), None, true), Mode::Terminal);
        assert_eq!(Mode::decide(None, Some("dumb"), true), Mode::Plain);
        assert_eq!(Mode::decide(None, Some("xterm"), false), Mode::Plain);
    }

    #[test]
    fn phases_count_k_of_n() {
        let k = Some(WorkflowKind::SpecReview);
        assert_eq!(phase_label(k, "review"), "review (1/3)");
        assert_eq!(phase_label(k, "cross_review"), "cross_review (2/3)");
        assert_eq!(phase_label(k, "synthesis"), "synthesis (3/3)");
        assert_eq!(phase_label(k, "other"), "other");
        assert_eq!(phase_label(None, "review"), "review");
        assert_eq!(
            phase_label(Some(WorkflowKind::Fanout), "synthesis"),
            "synthesis (2/2)"
        );
        assert_eq!(
            phase_label(Some(WorkflowKind::SelfReviewLoop), "round 2: fix"),
            "round 2: fix (3/4)"
        );
    }

    #[test]
    fn names_are_not_repeated() {
        assert_eq!(who("architecture", "architecture"), "architecture");
        assert_eq!(who("lead", "spec-lead"), "lead (spec-lead)");
        assert_eq!(who("reviewer-2", "reviewer"), "reviewer-2 (reviewer)");
    }

    #[test]
    fn the_lead_waits_while_members_work() {
        use MemberStatus::*;
        assert_eq!(lead_label(Running, [Pending, Idle]), WAITING);
        assert_eq!(lead_label(Running, [Running]), WAITING);
        assert_eq!(lead_label(Running, [Idle, Completed]), "running");
        assert_eq!(lead_label(Running, []), "running");
        assert_eq!(lead_label(Completed, [Running]), "completed");
    }

    #[test]
    fn plain_lines_one_per_change_in_order() {
        let members = vec![
            member(1, "lead", "spec-lead", MemberStatus::Running),
            member(2, "architecture", "architecture", MemberStatus::Completed),
            member(3, "security", "security", MemberStatus::Completed),
        ];
        let mut t = Tracker::new("rev", Some(WorkflowKind::SpecReview));
        let events = vec![
            event(
                1,
                1000,
                Some("lead"),
                "team.created",
                json!({"lead_agent": "spec-lead"}),
            ),
            event(
                20,
                1001,
                Some("lead"),
                PHASE_EVENT,
                json!({"phase": "review"}),
            ),
            event(
                2,
                1002,
                Some("architecture"),
                "member.added",
                json!({"agent": "architecture", "status": "pending"}),
            ),
            event(
                3,
                1002,
                Some("security"),
                "member.added",
                json!({"agent": "security", "status": "pending"}),
            ),
            event(4, 1003, Some("architecture"), "member.running", json!({})),
            event(5, 1003, Some("security"), "member.running", json!({})),
            event(6, 1004, Some("security"), "member.idle", json!({})),
            event(7, 1004, Some("security"), "message.sent", json!({})),
            event(8, 1005, Some("architecture"), "member.idle", json!({})),
            event(
                21,
                1006,
                Some("lead"),
                PHASE_EVENT,
                json!({"phase": "synthesis"}),
            ),
            event(9, 1007, Some("security"), "member.completed", json!({})),
            event(
                10,
                1007,
                Some("architecture"),
                "member.completed",
                json!({}),
            ),
        ];
        let lines = untimed(&t.lines(&events, &members, 6_000));
        assert_eq!(
            lines,
            [
                "lead (spec-lead) running",
                "phase review (1/3)",
                "architecture pending",
                "lead (spec-lead) waiting",
                "security pending",
                "architecture running",
                "security running",
                "security idle",
                "architecture idle",
                "lead (spec-lead) running",
                "phase synthesis (3/3)",
                "security completed (1/2 done): 2 turn(s), 1200/300 tokens, 4s: 3 finding(s)",
                "architecture completed (2/2 done): 2 turn(s), 1200/300 tokens, 4s: 3 finding(s)",
            ]
        );
        // A repeated state is no change; the team's end is one line.
        let lines = untimed(&t.lines(
            &[
                event(11, 1008, Some("security"), "member.completed", json!({})),
                event(
                    12,
                    1009,
                    None,
                    "team.completed",
                    json!({"reason": "the report is written"}),
                ),
            ],
            &members,
            6_000,
        ));
        assert_eq!(lines, ["team rev completed: the report is written"]);
    }

    #[test]
    fn plain_lines_need_only_the_rows_of_members_that_ended() {
        let all = vec![
            member(1, "lead", "fan-lead", MemberStatus::Running),
            member(2, "worker", "worker", MemberStatus::Completed),
            member(3, "worker-2", "worker", MemberStatus::Running),
            member(4, "worker-3", "worker", MemberStatus::Running),
        ];
        let events = vec![
            event(
                1,
                1000,
                Some("lead"),
                "team.created",
                json!({"lead_agent": "fan-lead"}),
            ),
            event(
                2,
                1001,
                Some("worker"),
                "member.added",
                json!({"agent": "worker", "status": "pending"}),
            ),
            event(
                3,
                1001,
                Some("worker-2"),
                "member.added",
                json!({"agent": "worker", "status": "pending"}),
            ),
            event(
                4,
                1001,
                Some("worker-3"),
                "member.added",
                json!({"agent": "worker", "status": "pending"}),
            ),
            event(5, 1002, Some("worker"), "member.running", json!({})),
            event(6, 1003, Some("worker"), "member.completed", json!({})),
            event(7, 1004, Some("worker-2"), "member.running", json!({})),
        ];
        let mut with_all = Tracker::new("fan", Some(WorkflowKind::Fanout));
        let mut with_needed = Tracker::new("fan", Some(WorkflowKind::Fanout));
        let needed = with_needed.rows_needed(&events);
        // `worker-2` and `worker-3` were added (with their agent) in the same batch: not read.
        assert_eq!(needed, ["worker"]);
        let rows: Vec<Member> = all
            .iter()
            .filter(|m| needed.contains(&m.name))
            .cloned()
            .collect();
        let lines = untimed(&with_needed.lines(&events, &rows, 6_000));
        assert_eq!(lines, untimed(&with_all.lines(&events, &all, 6_000)));
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("worker completed (1/3 done): 2 turn(s)")),
            "{lines:?}"
        );
        // Nothing ended and every agent is known: no row is read.
        let more = [event(
            17,
            1004,
            Some("worker-3"),
            "member.running",
            json!({}),
        )];
        assert!(with_needed.rows_needed(&more).is_empty());
        // A member whose agent the tracker never saw (its `member.added` came before the view
        // started) is read once.
        let unknown = [event(
            8,
            1005,
            Some("stranger"),
            "member.running",
            json!({}),
        )];
        assert_eq!(with_needed.rows_needed(&unknown), ["stranger"]);
    }

    #[test]
    fn rows_keep_their_columns() {
        let members = vec![
            member(1, "lead", "spec-lead", MemberStatus::Running),
            member(2, "architecture", "architecture", MemberStatus::Completed),
            member(3, "api-usability", "api-usability", MemberStatus::Idle),
        ];
        let w = widths(&members);
        assert_eq!(w, (13, 9));
        let states = shown_states(&members);
        assert_eq!(states, ["running", "completed", "idle"]);
        let rows: Vec<String> = members
            .iter()
            .zip(&states)
            .map(|(m, s)| row(m, s, w, false, 6_000))
            .collect();
        let at = |r: &String, word: &str| r.find(word).unwrap_or_else(|| panic!("{word} in {r}"));
        for r in &rows {
            assert_eq!(at(r, "turns"), at(&rows[0], "turns"), "{rows:#?}");
            assert_eq!(at(r, "tokens"), at(&rows[0], "tokens"), "{rows:#?}");
            assert_eq!(r.chars().count(), rows[0].chars().count(), "{rows:#?}");
        }
        assert!(
            rows[0].starts_with("lead           spec-lead  running  "),
            "{}",
            rows[0]
        );
        assert!(
            rows[1].starts_with("architecture              completed"),
            "{}",
            rows[1]
        );
        // Colour does not move the columns: the padding is inside the colour.
        let painted = row(&members[1], "completed", w, true, 6_000);
        assert!(painted.contains("completed"), "{painted}");
        assert_eq!(members_done(&members), "members 1/2 done");
    }

    /// A terminal that records what indicatif writes to it.
    #[derive(Debug, Default, Clone)]
    struct Recorder(Arc<std::sync::Mutex<String>>);

    impl indicatif::TermLike for Recorder {
        fn width(&self) -> u16 {
            200
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            let mut t = self.0.lock().unwrap();
            t.push_str(s);
            t.push('\n');
            Ok(())
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn finished_rows_stop_spinning_with_a_final_line() {
        let term = Recorder::default();
        let target = ProgressDrawTarget::term_like_with_hz(Box::new(term.clone()), 100);
        let mut board = Board::new(target, false, false);
        let mut members = vec![
            member(1, "lead", "spec-lead", MemberStatus::Running),
            member(2, "architecture", "architecture", MemberStatus::Running),
            member(3, "security", "security", MemberStatus::Running),
        ];
        board.draw(
            "phase review (1/3) · members 0/2 done".into(),
            &members,
            6_000,
        );
        std::thread::sleep(Duration::from_millis(30));
        members[1] = member(2, "architecture", "architecture", MemberStatus::Completed);
        board.draw(
            "phase review (1/3) · members 1/2 done".into(),
            &members,
            6_000,
        );
        assert!(board.finished.contains(&2) && !board.finished.contains(&3));
        std::thread::sleep(Duration::from_millis(30));
        members[2] = member(3, "security", "security", MemberStatus::Failed);
        board.draw(
            "phase synthesis (3/3) · members 2/2 done".into(),
            &members,
            6_000,
        );
        board.finish();
        let text = term.0.lock().unwrap().clone();
        assert!(text.contains("✓ architecture"), "{text}");
        assert!(text.contains("✗ security"), "{text}");
        assert!(text.contains("lead          spec-lead  waiting"), "{text}");
        assert!(text.contains("members 2/2 done"), "{text}");
    }
}
