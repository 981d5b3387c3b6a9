//! `team top` without a terminal: the screens drawn on ratatui's `TestBackend` from a real
//! SQLite store filled through the store API, the keys, and the refusal on a dumb terminal.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use serde_json::json;
use team_core::{AgentName, MemberStatus, MessageKind, TeamName};
use team_store::{NewMember, NewTask, NewTeam, Outgoing, Progress, Recipient, Store};

use super::app::{App, Input, Key, Pane, Screen};
use super::data::{Loader, Want, message_lines};
use super::{check_terminal, key_of, ui};

/// 2026-12-07T09:00:00Z: every time on a drawn screen is pinned to it, so screens compare
/// exactly.
const BASE: i64 = 1_796_634_000_000;

/// A SQLite store in a temp directory.
fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("team.db");
    let store = Store::open(path.to_str().expect("utf-8 path")).expect("open store");
    (dir, store)
}

/// Team `review` (lead + a running `reviewer` that called a model and a tool, a task, two
/// messages) and team `older`, disbanded. Returns the id of `review`.
fn fill(store: &Store) -> String {
    let new_team = |name: &str| NewTeam {
        name: TeamName::new(name).expect("team name"),
        lead_agent: AgentName::new("lead").expect("agent name"),
        workflow: None,
        project_root: "/project".to_owned(),
        owner: None,
    };
    let (older, _) = store.create_team(&new_team("older")).expect("create");
    store
        .disband_team(&older.id, "done with it")
        .expect("disband");
    let (team, _lead) = store.create_team(&new_team("review")).expect("create");
    let m = store
        .add_member(
            &team.id,
            &NewMember {
                agent: AgentName::new("reviewer").expect("agent name"),
                prompt: Some("Review docs/spec.md\nfor section 2".to_owned()),
                persistent: false,
                timeout_secs: None,
                status: MemberStatus::Running,
                runner_id: None,
            },
        )
        .expect("add member");
    store
        .record_progress(
            &team.id,
            &m.name,
            m.id,
            &Progress {
                turns: 1,
                tokens_in: 1200,
                tokens_out: 340,
                events: vec![(
                    "provider.call".to_owned(),
                    json!({"provider": "openai", "model": "gpt-x", "call": 1,
                        "prompt_tokens": 1200, "completion_tokens": 340, "latency_ms": 850,
                        "attempts": 1, "status": "ok", "http_status": 200}),
                )],
                ..Progress::default()
            },
        )
        .expect("progress");
    store
        .append_event(
            Some(&team.id),
            Some(&m.name),
            "tool.call",
            json!({"tool": "read", "ok": true, "error": null}),
        )
        .expect("event");
    store
        .add_task(
            &team.id,
            &NewTask {
                title: "check section 2".to_owned(),
                ..NewTask::default()
            },
        )
        .expect("task");
    for (from, to, body) in [
        ("lead", "reviewer", "start with the API"),
        ("reviewer", "lead", "found 2 issues"),
    ] {
        store
            .send_message(
                &team.id,
                &Outgoing {
                    from,
                    to: Recipient::Member(to.to_owned()),
                    kind: MessageKind::Text,
                    body,
                },
            )
            .expect("send");
    }
    team.id
}

/// Loads what the app wants into it.
fn load(app: &mut App, loader: &mut Loader<'_>) {
    let l = loader.load(&app.want()).expect("load");
    app.update(Input::Loaded(l));
}

/// Pins every time and id the screen shows: teams and members created at [`BASE`], the
/// clock one minute and five seconds later, messages and transcript entries a second apart,
/// team ids `t0000001`, ….
fn pin(app: &mut App) {
    app.now_ms = BASE + 65_000;
    for (i, s) in app.teams.iter_mut().enumerate() {
        s.team.id = format!("t{:07}", i + 1);
        s.team.created_at_ms = BASE;
        s.team.ended_at_ms = s.team.ended_at_ms.map(|_| BASE + 5_000);
    }
    if let Some(d) = &mut app.team {
        d.team.id = "t0000001".to_owned();
        for m in &mut d.members {
            m.created_at_ms = BASE;
            m.ended_at_ms = m.ended_at_ms.map(|_| BASE + 5_000);
        }
        for (i, m) in d.messages.iter_mut().enumerate() {
            m.at_ms = BASE + 1_000 * (i as i64 + 1);
        }
    }
    if let Some(t) = &mut app.transcript {
        t.member.created_at_ms = BASE;
        for (i, e) in t.entries.iter_mut().enumerate() {
            e.at_ms = BASE + 1_000 * i as i64;
        }
    }
}

/// The screen `app` draws on a `width`×`height` terminal, one string per row, trailing
/// blanks cut.
fn screen(app: &App, width: u16, height: u16) -> Vec<String> {
    let mut t = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    t.draw(|f| ui::draw(f, app)).expect("draw");
    let buf = t.backend().buffer();
    (0..height)
        .map(|y| {
            (0..width)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
                .trim_end()
                .to_owned()
        })
        .collect()
}

#[track_caller]
fn assert_screen(got: &[String], want: &[&str]) {
    let got: Vec<&str> = got.iter().map(String::as_str).collect();
    assert_eq!(
        got,
        want,
        "screen:\n{}\n",
        got.iter()
            .map(|l| format!("    \"{l}\","))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn teams_screen_lists_active_teams_first() {
    let (_dir, store) = store();
    fill(&store);
    let mut app = App::new(false, BASE);
    let mut loader = Loader::new(&store);
    load(&mut app, &mut loader);
    pin(&mut app);
    assert_screen(
        &screen(&app, 80, 8),
        &[
            "team top · teams",
            "┏ Teams (2) ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┓",
            "┃  NAME                ID       STATUS     WORKFLOW     LIVE    OPEN    AGE    ┃",
            "┃› review              t0000001 active     -            2/2     1/1     1m05s  ┃",
            "┃  older               t0000002 disbanded  -            0/1     0/0     5s     ┃",
            "┃                                                                              ┃",
            "┗━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┛",
            "↑↓/jk select  Enter open  q quit",
        ],
    );
}

#[test]
fn team_screen_shows_members_tasks_and_messages() {
    let (_dir, store) = store();
    let id = fill(&store);
    let mut app = App::new(false, BASE);
    app.open_team(id);
    let mut loader = Loader::new(&store);
    load(&mut app, &mut loader);
    pin(&mut app);
    assert_screen(
        &screen(&app, 100, 14),
        &[
            "team top · team review (active, t0000001)",
            "┏ Members (2 live of 2) ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┓",
            "┃  NAME                   AGENT        STATE      ELAPSED TURNS TOKENS IN/OUT TOOL                 ┃",
            "┃› lead                   lead         running    1m05s   0     0/0           -                    ┃",
            "┃  reviewer               reviewer     running    1m05s   1     1200/340      read                 ┃",
            "┃                                                                                                  ┃",
            "┗━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┛",
            "┌ Tasks (1 open of 1) ──────────────────────┐┌ Messages (2) ───────────────────────────────────────┐",
            "│ID  STATUS      ASSIGNEE   TITLE           ││09:00:01 lead → reviewer: start with the API         │",
            "│1   pending     -          check section 2 ││09:00:02 reviewer → lead: found 2 issues             │",
            "│                                           ││                                                     │",
            "│                                           ││                                                     │",
            "└───────────────────────────────────────────┘└─────────────────────────────────────────────────────┘",
            "↑↓/jk select  Tab pane  Enter transcript  Esc back  q quit",
        ],
    );
}

#[test]
fn transcript_screen_shows_prompt_calls_tools_and_messages() {
    let (_dir, store) = store();
    let id = fill(&store);
    let mut app = App::new(false, BASE);
    app.open_team(id);
    let mut loader = Loader::new(&store);
    load(&mut app, &mut loader);
    app.update(Input::Key(Key::Down));
    assert!(
        app.update(Input::Key(Key::Enter)),
        "Enter opens a transcript"
    );
    load(&mut app, &mut loader);
    pin(&mut app);
    assert_screen(
        &screen(&app, 100, 12),
        &[
            "team top · team review › reviewer",
            "┏ Transcript of reviewer (reviewer, running, 1 turns, tokens 1200/340) ━━━━━━━━━━━━━━━━━━━━━━━━━━━━┓",
            "┃09:00:00  prompt         Review docs/spec.md                                                      ┃",
            "┃                         for section 2                                                            ┃",
            "┃09:00:01  member.added   agent=reviewer persistent=false status=running team=review               ┃",
            "┃09:00:02  model          openai gpt-x: 1200 in / 340 out, 850 ms                                  ┃",
            "┃09:00:03  tool           read                                                                     ┃",
            "┃09:00:04  ← lead         start with the API                                                       ┃",
            "┃09:00:05  → lead         found 2 issues                                                           ┃",
            "┃                                                                                                  ┃",
            "┗━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┛",
            "↑↓/jk scroll  PgUp/PgDn  Esc back  q quit",
        ],
    );
}

#[test]
fn keys_move_between_screens_and_panes() {
    let (_dir, store) = store();
    let id = fill(&store);
    let mut app = App::new(false, BASE);
    let mut loader = Loader::new(&store);
    load(&mut app, &mut loader);
    assert_eq!(app.want(), Want::Teams);
    // Up at the top and Down past the end stay inside the list.
    app.update(Input::Key(Key::Up));
    assert_eq!(app.team_row, 0);
    for _ in 0..5 {
        app.update(Input::Key(Key::Down));
    }
    assert_eq!(app.team_row, 1);
    app.update(Input::Key(Key::Home));
    assert_eq!(app.team_row, 0);
    // Enter opens the selected team (active first: `review`) and asks for a read now.
    assert!(app.update(Input::Key(Key::Enter)));
    assert_eq!(
        (app.screen, app.want()),
        (Screen::Team, Want::Team(id.clone()))
    );
    load(&mut app, &mut loader);
    // Tab goes round the panes; Enter opens a transcript only from the members.
    assert_eq!(app.pane, Pane::Members);
    app.update(Input::Key(Key::Tab));
    assert_eq!(app.pane, Pane::Tasks);
    assert!(!app.update(Input::Key(Key::Enter)));
    assert_eq!(app.screen, Screen::Team);
    app.update(Input::Key(Key::Tab));
    assert_eq!(app.pane, Pane::Messages);
    app.update(Input::Key(Key::Tab));
    assert_eq!(app.pane, Pane::Members);
    app.update(Input::Key(Key::BackTab));
    assert_eq!(app.pane, Pane::Messages);
    // The message stream scrolls back from the newest and no further than the oldest.
    app.update(Input::Key(Key::PageUp));
    assert_eq!(app.messages_back, 1);
    app.update(Input::Key(Key::End));
    assert_eq!(app.messages_back, 0);
    app.update(Input::Key(Key::BackTab));
    app.update(Input::Key(Key::BackTab));
    assert_eq!(app.pane, Pane::Members);
    app.update(Input::Key(Key::End));
    assert_eq!(app.member_row, 1);
    assert!(app.update(Input::Key(Key::Enter)));
    assert_eq!(
        app.want(),
        Want::Transcript {
            team_id: id.clone(),
            member: "reviewer".to_owned()
        }
    );
    // Back twice: the team, then the teams; Back on the teams does nothing.
    assert!(app.update(Input::Key(Key::Back)));
    assert_eq!(app.want(), Want::Team(id));
    assert!(app.update(Input::Key(Key::Back)));
    assert_eq!(app.screen, Screen::Teams);
    assert!(!app.update(Input::Key(Key::Back)));
    assert!(!app.quit);
    app.update(Input::Key(Key::Quit));
    assert!(app.quit);
}

#[test]
fn a_read_error_shows_until_the_next_good_read() {
    let (_dir, store) = store();
    fill(&store);
    let mut app = App::new(false, BASE);
    app.update(Input::Failed("database is locked".to_owned()));
    assert!(screen(&app, 80, 6)[5].contains("error: database is locked"));
    let mut loader = Loader::new(&store);
    load(&mut app, &mut loader);
    assert_eq!(app.error, None);
    // A team that is gone: the loader says so, the app keeps its screen.
    app.open_team("nosuchteam".to_owned());
    let err = loader.load(&app.want()).expect_err("unknown team");
    app.update(Input::Failed(err.to_string()));
    assert_eq!(app.screen, Screen::Team);
    assert!(
        app.error
            .as_deref()
            .is_some_and(|e| e.contains("nosuchteam"))
    );
}

#[test]
fn terminal_keys_map_to_top_keys() {
    let key = |code| KeyEvent::new(code, KeyModifiers::NONE);
    assert_eq!(key_of(key(KeyCode::Char('j'))), Some(Key::Down));
    assert_eq!(key_of(key(KeyCode::Down)), Some(Key::Down));
    assert_eq!(key_of(key(KeyCode::Char('k'))), Some(Key::Up));
    assert_eq!(key_of(key(KeyCode::Enter)), Some(Key::Enter));
    assert_eq!(key_of(key(KeyCode::Tab)), Some(Key::Tab));
    assert_eq!(key_of(key(KeyCode::BackTab)), Some(Key::BackTab));
    assert_eq!(key_of(key(KeyCode::Esc)), Some(Key::Back));
    assert_eq!(key_of(key(KeyCode::Backspace)), Some(Key::Back));
    assert_eq!(key_of(key(KeyCode::Char('q'))), Some(Key::Quit));
    assert_eq!(
        key_of(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Some(Key::Quit)
    );
    assert_eq!(
        key_of(KeyEvent::new(KeyCode::Char('j'), KeyModifiers::CONTROL)),
        None
    );
    assert_eq!(key_of(key(KeyCode::Char('x'))), None);
    let mut release = key(KeyCode::Char('q'));
    release.kind = KeyEventKind::Release;
    assert_eq!(key_of(release), None);
}

#[test]
fn no_screen_without_a_terminal() {
    assert!(check_terminal(false, Some("xterm-256color"), true).is_ok());
    for (json, term, tty) in [
        (false, Some("dumb"), true),
        (false, None, true),
        (false, Some("xterm"), false),
        (true, Some("xterm"), true),
    ] {
        let e = check_terminal(json, term, tty).expect_err("refused");
        assert_eq!(e.kind, crate::error::Kind::Usage);
        assert!(e.hints.iter().any(|h| h.contains("team watch")), "{e:?}");
        assert!(e.hints.iter().any(|h| h.contains("team show")), "{e:?}");
    }
}

#[test]
fn a_broadcast_is_one_line_to_all() {
    let (_dir, store) = store();
    let id = fill(&store);
    store
        .send_message(
            &id,
            &Outgoing {
                from: "lead",
                to: Recipient::All,
                kind: MessageKind::Text,
                body: "stop and report",
            },
        )
        .expect("broadcast");
    let lines = message_lines(&store.list_messages(&id).expect("messages"));
    let last = lines.last().expect("a line");
    assert_eq!((last.sender.as_str(), last.to.as_str()), ("lead", "all"));
    assert_eq!(last.body, "stop and report");
    assert_eq!(lines.len(), 3);
}

#[test]
fn a_transcript_shows_failed_and_denied_tools_and_the_end() {
    use super::data::{EntryKind, transcript};
    let (_dir, store) = store();
    let id = fill(&store);
    for (kind, payload) in [
        (
            "tool.call",
            json!({"tool": "bash", "ok": false, "error": "exit 1\nmore"}),
        ),
        (
            "tool.denied",
            json!({"tool": "write", "reason": "protected path", "source": "builtin"}),
        ),
    ] {
        store
            .append_event(Some(&id), Some("reviewer"), kind, payload)
            .expect("event");
    }
    let mut member = store.get_member(&id, "reviewer").expect("member");
    member.ended_at_ms = Some(member.created_at_ms + 10_000);
    member.error = Some("model error: 500".to_owned());
    let events = store.list_events(Some(&id), 0, 1000).expect("events");
    let messages = store.list_messages(&id).expect("messages");
    let entries = transcript(&member, &events, &messages);
    let texts: Vec<(EntryKind, &str)> = entries.iter().map(|e| (e.kind, e.text.as_str())).collect();
    assert!(
        texts.contains(&(EntryKind::Tool, "bash failed: exit 1 …")),
        "{texts:?}"
    );
    assert!(
        texts.contains(&(EntryKind::Denied, "write denied: protected path")),
        "{texts:?}"
    );
    assert_eq!(
        texts.last(),
        Some(&(EntryKind::Error, "model error: 500")),
        "the end comes last"
    );
    // The lead's events are not the reviewer's.
    assert!(entries.iter().all(|e| e.label != "team.created"));
    // The latest tool call is the member's current tool.
    let mut loader = Loader::new(&store);
    let Ok(super::data::Loaded::Team(d)) = loader.load(&Want::Team(id)) else {
        panic!("team loads");
    };
    let seen = &d.tools["reviewer"];
    assert_eq!((seen.tool.as_str(), seen.outcome), ("write", "denied"));
}
