//! Drawing `team top`: one function of the [`App`] state onto a ratatui frame, so a test
//! draws it on ratatui's `TestBackend` and reads the screen back.
//!
//! Every screen has a title line, a body and a key line. Times are UTC (`HH:MM:SS`), as in
//! `team logs`; durations as in `team show`.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph, Row, Table, TableState};

use super::app::{App, Pane, Screen};
use super::data::{EntryKind, TeamData, TranscriptData};
use crate::output::{duration, one_line};

/// Width of the label column of a transcript line (`← reviewer-2`).
const LABEL_WIDTH: usize = 14;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let [title, body, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(
        Paragraph::new(title_line(app)).style(Style::new().add_modifier(Modifier::BOLD)),
        title,
    );
    match app.screen {
        Screen::Teams => teams(frame, app, body),
        Screen::Team => match &app.team {
            Some(d) => team(frame, app, d, body),
            None => loading(frame, body),
        },
        Screen::Transcript => match &app.transcript {
            Some(t) => transcript(frame, app, t, body),
            None => loading(frame, body),
        },
    }
    frame.render_widget(Paragraph::new(key_line(app)), keys);
}

fn title_line(app: &App) -> String {
    let team = match (app.screen, &app.transcript) {
        (Screen::Transcript, Some(t)) => Some(&t.team),
        _ => app.team.as_ref().map(|d| &d.team),
    };
    match (app.screen, team) {
        (Screen::Teams, _) => "team top · teams".to_owned(),
        (Screen::Team, Some(t)) => format!(
            "team top · team {} ({}, {}{})",
            t.name,
            t.status,
            t.id,
            t.workflow
                .as_deref()
                .map(|w| format!(", workflow {w}"))
                .unwrap_or_default()
        ),
        (Screen::Transcript, Some(t)) => format!(
            "team top · team {} › {}",
            t.name,
            app.member.as_deref().unwrap_or("")
        ),
        (_, None) => "team top".to_owned(),
    }
}

fn key_line(app: &App) -> Line<'static> {
    let keys = match app.screen {
        Screen::Teams => "↑↓/jk select  Enter open  q quit",
        Screen::Team => "↑↓/jk select  Tab pane  Enter transcript  Esc back  q quit",
        Screen::Transcript => "↑↓/jk scroll  PgUp/PgDn  Esc back  q quit",
    };
    let mut spans = vec![Span::raw(keys)];
    if let Some(e) = &app.error {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(
            format!("error: {}", one_line(e, 200)),
            paint(app, Color::Red).add_modifier(Modifier::BOLD),
        ));
    } else if app.loaded_at_ms.is_none() {
        spans.push(Span::raw("  reading…"));
    }
    Line::from(spans)
}

fn loading(frame: &mut Frame, area: Rect) {
    frame.render_widget(Paragraph::new("reading…").block(Block::bordered()), area);
}

/// `style` with foreground `color` when colour is on; no colour otherwise.
fn paint(app: &App, color: Color) -> Style {
    if app.color {
        Style::new().fg(color)
    } else {
        Style::new()
    }
}

/// A state's colour: green for good ends, red for bad ones, cyan while working, yellow for
/// waiting (as `team list` paints them).
fn status_style(app: &App, status: &str) -> Style {
    let c = match status {
        "completed" | "active" => Color::Green,
        "failed" | "timed_out" => Color::Red,
        "cancelled" | "disbanded" => Color::DarkGray,
        "running" | "in_progress" => Color::Cyan,
        _ => Color::Yellow,
    };
    paint(app, c)
}

/// A pane's frame: thick and bold when it has the focus (visible without colour too).
fn pane_block(app: &App, title: String, focused: bool) -> Block<'static> {
    let b = Block::bordered().title(title);
    if focused {
        b.border_type(BorderType::Thick)
            .border_style(paint(app, Color::Cyan).add_modifier(Modifier::BOLD))
    } else {
        b
    }
}

fn table<'a>(
    header: &'a [&'a str],
    rows: Vec<Row<'a>>,
    widths: &'a [Constraint],
    block: Block<'a>,
) -> Table<'a> {
    Table::new(rows, widths.iter().copied())
        .header(Row::new(header.iter().copied()).style(Style::new().add_modifier(Modifier::BOLD)))
        .block(block)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("› ")
}

fn teams(frame: &mut Frame, app: &App, area: Rect) {
    let block = pane_block(app, format!(" Teams ({}) ", app.teams.len()), true);
    if app.teams.is_empty() {
        let text = if app.loaded_at_ms.is_some() {
            "no teams yet: `team create NAME` or `team run spec-review FILE` makes one"
        } else {
            "reading…"
        };
        frame.render_widget(Paragraph::new(text).block(block), area);
        return;
    }
    let rows = app
        .teams
        .iter()
        .map(|s| {
            let t = &s.team;
            let end = t.ended_at_ms.unwrap_or(app.now_ms);
            Row::new(vec![
                Span::raw(t.name.clone()),
                Span::raw(t.id.clone()),
                Span::styled(t.status.to_string(), status_style(app, t.status.as_str())),
                Span::raw(t.workflow.clone().unwrap_or_else(|| "-".to_owned())),
                Span::raw(format!("{}/{}", s.members_live, s.members_total)),
                Span::raw(format!("{}/{}", s.tasks_open, s.tasks_total)),
                Span::raw(duration(end - t.created_at_ms)),
            ])
        })
        .collect();
    const WIDTHS: [Constraint; 7] = [
        Constraint::Min(12),
        Constraint::Length(8),
        Constraint::Length(10),
        Constraint::Length(12),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(7),
    ];
    let header = ["NAME", "ID", "STATUS", "WORKFLOW", "LIVE", "OPEN", "AGE"];
    let mut state = TableState::default().with_selected(Some(app.team_row));
    frame.render_stateful_widget(table(&header, rows, &WIDTHS, block), area, &mut state);
}

fn team(frame: &mut Frame, app: &App, d: &TeamData, area: Rect) {
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    let [tasks_area, messages_area] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(bottom);
    members(frame, app, d, top);
    tasks(frame, app, d, tasks_area);
    messages(frame, app, d, messages_area);
}

fn members(frame: &mut Frame, app: &App, d: &TeamData, area: Rect) {
    let live = d.members.iter().filter(|m| !m.status.is_terminal()).count();
    let block = pane_block(
        app,
        format!(" Members ({live} live of {}) ", d.members.len()),
        app.pane == Pane::Members,
    );
    let rows = d
        .members
        .iter()
        .map(|m| {
            // The current tool: the latest tool call of a member still at work.
            let tool = match d.tools.get(&m.name) {
                Some(t) if !m.status.is_terminal() && t.outcome == "ok" => t.tool.clone(),
                Some(t) if !m.status.is_terminal() => format!("{} ({})", t.tool, t.outcome),
                _ => "-".to_owned(),
            };
            Row::new(vec![
                Span::raw(m.name.clone()),
                Span::raw(m.agent.clone()),
                Span::styled(m.status.to_string(), status_style(app, m.status.as_str())),
                Span::raw(duration(m.elapsed_ms(app.now_ms))),
                Span::raw(m.turns.to_string()),
                Span::raw(format!("{}/{}", m.tokens_in, m.tokens_out)),
                Span::raw(tool),
            ])
        })
        .collect();
    const WIDTHS: [Constraint; 7] = [
        Constraint::Min(10),
        Constraint::Length(12),
        Constraint::Length(10),
        Constraint::Length(7),
        Constraint::Length(5),
        Constraint::Length(13),
        Constraint::Min(10),
    ];
    let header = [
        "NAME",
        "AGENT",
        "STATE",
        "ELAPSED",
        "TURNS",
        "TOKENS IN/OUT",
        "TOOL",
    ];
    let mut state = TableState::default().with_selected(Some(app.member_row));
    frame.render_stateful_widget(table(&header, rows, &WIDTHS, block), area, &mut state);
}

fn tasks(frame: &mut Frame, app: &App, d: &TeamData, area: Rect) {
    let open = d.tasks.iter().filter(|t| !t.status.is_terminal()).count();
    let block = pane_block(
        app,
        format!(" Tasks ({open} open of {}) ", d.tasks.len()),
        app.pane == Pane::Tasks,
    );
    if d.tasks.is_empty() {
        frame.render_widget(Paragraph::new("no tasks").block(block), area);
        return;
    }
    let rows = d
        .tasks
        .iter()
        .map(|t| {
            let mut title = one_line(&t.title, 200);
            if !t.blocked_by.is_empty() {
                let ids: Vec<String> = t.blocked_by.iter().map(i64::to_string).collect();
                title.push_str(&format!(" (after {})", ids.join(", ")));
            }
            Row::new(vec![
                Span::raw(t.id.to_string()),
                Span::styled(t.status.to_string(), status_style(app, t.status.as_str())),
                Span::raw(t.assignee.clone().unwrap_or_else(|| "-".to_owned())),
                Span::raw(title),
            ])
        })
        .collect();
    const WIDTHS: [Constraint; 4] = [
        Constraint::Length(3),
        Constraint::Length(11),
        Constraint::Length(10),
        Constraint::Min(10),
    ];
    let header = ["ID", "STATUS", "ASSIGNEE", "TITLE"];
    let mut state =
        TableState::default().with_selected((app.pane == Pane::Tasks).then_some(app.task_row));
    frame.render_stateful_widget(table(&header, rows, &WIDTHS, block), area, &mut state);
}

/// The `count` rows ending `back` rows before the end of `len` rows: what a pane of that
/// height shows when scrolled back `back` rows from the newest.
fn window(len: usize, back: usize, count: usize) -> std::ops::Range<usize> {
    let end = len.saturating_sub(back);
    end.saturating_sub(count)..end
}

fn messages(frame: &mut Frame, app: &App, d: &TeamData, area: Rect) {
    let block = pane_block(
        app,
        format!(" Messages ({}) ", d.messages.len()),
        app.pane == Pane::Messages,
    );
    let height = block.inner(area).height as usize;
    let shown = window(d.messages.len(), app.messages_back, height);
    let lines: Vec<Line> = d.messages[shown]
        .iter()
        .map(|m| {
            let kind = if m.kind == team_core::MessageKind::Text {
                String::new()
            } else {
                format!("[{}] ", m.kind)
            };
            Line::from(vec![
                Span::styled(clock(m.at_ms), paint(app, Color::DarkGray)),
                Span::raw(" "),
                Span::styled(
                    format!("{} → {}", m.sender, m.to),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
                Span::raw(format!(": {kind}{}", one_line(&m.body, 300))),
            ])
        })
        .collect();
    let text = if lines.is_empty() {
        vec![Line::from("no messages")]
    } else {
        lines
    };
    frame.render_widget(Paragraph::new(text).block(block), area);
}

fn transcript(frame: &mut Frame, app: &App, t: &TranscriptData, area: Rect) {
    let m = &t.member;
    let block = pane_block(
        app,
        format!(
            " Transcript of {} ({}, {}, {} turns, tokens {}/{}) ",
            m.name, m.agent, m.status, m.turns, m.tokens_in, m.tokens_out
        ),
        true,
    );
    let mut lines: Vec<Line> = Vec::new();
    for e in &t.entries {
        let (label, color) = match e.kind {
            EntryKind::Prompt => ("prompt".to_owned(), Color::Magenta),
            EntryKind::Model => ("model".to_owned(), Color::Blue),
            EntryKind::Tool => ("tool".to_owned(), Color::Cyan),
            EntryKind::Denied => ("denied".to_owned(), Color::Red),
            EntryKind::Received => (format!("← {}", e.label), Color::Yellow),
            EntryKind::Sent => (format!("→ {}", e.label), Color::Green),
            EntryKind::Event => (e.label.clone(), Color::DarkGray),
            EntryKind::Result => ("result".to_owned(), Color::Green),
            EntryKind::Error => ("error".to_owned(), Color::Red),
        };
        for (i, text) in e.lines().enumerate() {
            let (time, label) = if i == 0 {
                (clock(e.at_ms), format!("{label:<LABEL_WIDTH$}"))
            } else {
                (" ".repeat(8), " ".repeat(LABEL_WIDTH))
            };
            lines.push(Line::from(vec![
                Span::styled(time, paint(app, Color::DarkGray)),
                Span::raw("  "),
                Span::styled(label, paint(app, color).add_modifier(Modifier::BOLD)),
                Span::raw(" "),
                Span::raw(text.to_owned()),
            ]));
        }
    }
    if lines.is_empty() {
        lines.push(Line::from(
            "nothing yet: model calls, tool calls and messages show here as the member runs",
        ));
    }
    let height = block.inner(area).height as usize;
    let shown = window(lines.len(), app.transcript_back, height);
    let lines: Vec<Line> = lines.drain(shown).collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// A time in ms since the epoch as `HH:MM:SS` (UTC).
fn clock(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_else(|| "--:--:--".to_owned())
}
