//! `team top [TEAM]`: a terminal UI (ratatui on crossterm) over the database: the teams,
//! then a team's members (state, elapsed, tokens, current tool), its task board and message
//! stream, then one member's transcript.
//!
//! The parts: [`app`] holds the state and applies keys and data ([`app::App::update`]), [`ui`]
//! draws it ([`ui::draw`]), [`data`] reads the store ([`data::Loader`]); this module only runs
//! the terminal: it reads the data the screen wants every [`POLL`] (and at once after a key
//! that changed the screen), draws, and waits for a key. It polls on both engines: on
//! PostgreSQL, `LISTEN team_inbox` would only tell of messages, not of members' state, tokens
//! or tools, so a poll is needed anyway. It only reads: it writes nothing to the database.
//!
//! The terminal is set up with `ratatui::try_init` (raw mode, alternate screen, and a panic
//! hook that restores the terminal) and restored with `ratatui::restore` however the loop
//! ends. On a dumb terminal, or when stdout is not a terminal, it refuses with exit 2 and
//! names `team watch` and `team show`.

pub mod app;
pub mod data;
pub mod ui;

#[cfg(test)]
mod tests;

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use team_store::now_ms;

use self::app::{App, Input, Key};
use self::data::Loader;
use crate::cli::TopArgs;
use crate::error::{CommandError, Result};
use crate::project::Ctx;

/// How often the screen's data is read again.
pub const POLL: Duration = Duration::from_millis(500);

/// Runs `team top`.
pub fn run(ctx: &Ctx, a: &TopArgs) -> Result<()> {
    check_terminal(
        ctx.out.json,
        std::env::var("TERM").ok().as_deref(),
        std::io::stdout().is_terminal(),
    )?;
    let mut app = App::new(crate::output::colors(&std::io::stdout()), now_ms());
    if let Some(t) = &a.team {
        app.open_team(ctx.store.resolve_team(t)?.id);
    }
    let mut loader = Loader::new(&ctx.store);
    let mut terminal = ratatui::try_init().map_err(|e| {
        ratatui::restore();
        CommandError::failure(format!("cannot set up the terminal: {e}"))
    })?;
    let result = event_loop(&mut terminal, &mut app, &mut loader);
    ratatui::restore();
    result
}

/// Reads, draws and waits for keys until `q` or Ctrl-C.
fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    loader: &mut Loader<'_>,
) -> Result<()> {
    let tty = |e: std::io::Error| CommandError::failure(format!("terminal error: {e}"));
    let mut next_read = Instant::now();
    while !app.quit {
        if Instant::now() >= next_read {
            app.update(Input::Tick(now_ms()));
            let input = match loader.load(&app.want()) {
                Ok(l) => Input::Loaded(l),
                Err(e) => Input::Failed(e.to_string()),
            };
            app.update(input);
            next_read = Instant::now() + POLL;
        }
        app.update(Input::Tick(now_ms()));
        terminal.draw(|f| ui::draw(f, app)).map_err(tty)?;
        let wait = next_read.saturating_duration_since(Instant::now());
        if event::poll(wait).map_err(tty)?
            && let event::Event::Key(k) = event::read().map_err(tty)?
            && let Some(key) = key_of(k)
            && app.update(Input::Key(key))
        {
            next_read = Instant::now();
        }
    }
    Ok(())
}

/// The key `team top` reads from a terminal key event; `None` for keys it ignores (and for
/// key releases, which some terminals report).
pub fn key_of(k: KeyEvent) -> Option<Key> {
    if k.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    Some(match k.code {
        KeyCode::Char('c') if ctrl => Key::Quit,
        _ if ctrl => return None,
        KeyCode::Char('q') => Key::Quit,
        KeyCode::Up | KeyCode::Char('k') => Key::Up,
        KeyCode::Down | KeyCode::Char('j') => Key::Down,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Key::Home,
        KeyCode::End | KeyCode::Char('G') => Key::End,
        KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => Key::Enter,
        KeyCode::Tab => Key::Tab,
        KeyCode::BackTab => Key::BackTab,
        KeyCode::Esc | KeyCode::Backspace | KeyCode::Left | KeyCode::Char('h') => Key::Back,
        _ => return None,
    })
}

/// Refuses to start where a full-screen UI cannot work: with `--json`, with `TERM` unset or
/// `dumb`, or when stdout is not a terminal (piped, in CI).
///
/// # Errors
/// Usage error (exit 2) naming `team watch` and `team show`, which work there.
pub fn check_terminal(json: bool, term: Option<&str>, stdout_tty: bool) -> Result<()> {
    let why = if json {
        "`team top` has no JSON output"
    } else if !stdout_tty {
        "`team top` needs a terminal, and stdout is not one"
    } else if term.is_none_or(|t| t.is_empty() || t == "dumb") {
        "`team top` needs a terminal that can draw a screen, and TERM is unset or `dumb`"
    } else {
        return Ok(());
    };
    Err(CommandError::usage(why)
        .hint("`team watch TEAM` shows a team live, one line per change (`--json`: JSON Lines)")
        .hint(
            "`team show TEAM` prints a team's members and tasks once; `team list` lists the teams",
        ))
}
