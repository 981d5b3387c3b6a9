//! The state of `team top` and how keys and loaded data change it: no terminal, no store, so
//! every move is tested as a plain function call.

use team_store::TeamSummary;

use super::data::{Loaded, TeamData, TranscriptData, Want};

/// How far PageUp/PageDown move, in rows.
const PAGE_ROWS: usize = 10;

/// A key, as `team top` reads it (the terminal's key events map to these in `mod.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// Up arrow or `k`.
    Up,
    /// Down arrow or `j`.
    Down,
    /// Page Up.
    PageUp,
    /// Page Down.
    PageDown,
    /// Home or `g`: the top of the list.
    Home,
    /// End or `G`: the bottom of the list.
    End,
    /// Enter (or right arrow, `l`): open what is selected.
    Enter,
    /// Tab: the next pane.
    Tab,
    /// Shift-Tab: the previous pane.
    BackTab,
    /// Esc, Backspace (or left arrow, `h`): back to the screen before.
    Back,
    /// `q` or Ctrl-C.
    Quit,
}

/// What changes the state.
#[derive(Debug, Clone)]
pub enum Input {
    /// A key was pressed.
    Key(Key),
    /// Data for the current screen (see [`App::want`]).
    Loaded(Loaded),
    /// A read failed; the text is shown in the status line until the next good read.
    Failed(String),
    /// The clock, ms since the epoch (elapsed times are counted to it).
    Tick(i64),
}

/// The screen shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// Every team.
    Teams,
    /// One team: members, task board, messages.
    Team,
    /// One member's transcript.
    Transcript,
}

/// The pane of the team screen that has the focus (Tab moves it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    /// The members table (Enter opens a transcript).
    Members,
    /// The task board.
    Tasks,
    /// The message stream.
    Messages,
}

impl Pane {
    fn next(self) -> Pane {
        match self {
            Pane::Members => Pane::Tasks,
            Pane::Tasks => Pane::Messages,
            Pane::Messages => Pane::Members,
        }
    }

    fn prev(self) -> Pane {
        match self {
            Pane::Members => Pane::Messages,
            Pane::Tasks => Pane::Members,
            Pane::Messages => Pane::Tasks,
        }
    }
}

/// The whole state of `team top`.
#[derive(Debug, Clone)]
pub struct App {
    /// The screen shown.
    pub screen: Screen,
    /// The focused pane of the team screen.
    pub pane: Pane,
    /// The teams, as last read.
    pub teams: Vec<TeamSummary>,
    /// The team opened (by id), from the teams screen or `team top TEAM`.
    pub team_id: Option<String>,
    /// The opened team, as last read (`None` until its first read).
    pub team: Option<TeamData>,
    /// The member whose transcript is open.
    pub member: Option<String>,
    /// The opened transcript, as last read.
    pub transcript: Option<TranscriptData>,
    /// Selected row of the teams table.
    pub team_row: usize,
    /// Selected row of the members table.
    pub member_row: usize,
    /// Selected row of the task board.
    pub task_row: usize,
    /// Lines scrolled back from the newest message (0: the stream follows new messages).
    pub messages_back: usize,
    /// Lines scrolled back from the end of the transcript (0: it follows new lines).
    pub transcript_back: usize,
    /// The clock, ms since the epoch.
    pub now_ms: i64,
    /// When data was last read, ms since the epoch (`None` before the first read).
    pub loaded_at_ms: Option<i64>,
    /// The last read's error, until a read succeeds.
    pub error: Option<String>,
    /// Colour states (off with `NO_COLOR` and the like).
    pub color: bool,
    /// Set by `q` or Ctrl-C.
    pub quit: bool,
}

impl App {
    /// The teams screen, nothing read yet.
    pub fn new(color: bool, now_ms: i64) -> App {
        App {
            screen: Screen::Teams,
            pane: Pane::Members,
            teams: Vec::new(),
            team_id: None,
            team: None,
            member: None,
            transcript: None,
            team_row: 0,
            member_row: 0,
            task_row: 0,
            messages_back: 0,
            transcript_back: 0,
            now_ms,
            loaded_at_ms: None,
            error: None,
            color,
            quit: false,
        }
    }

    /// Opens the team screen of team `team_id` (`team top TEAM`); Back goes to the teams.
    pub fn open_team(&mut self, team_id: String) {
        self.screen = Screen::Team;
        self.pane = Pane::Members;
        if self.team_id.as_deref() != Some(&team_id) {
            self.team = None;
            self.member_row = 0;
            self.task_row = 0;
            self.messages_back = 0;
        }
        self.team_id = Some(team_id);
    }

    /// What the current screen needs read.
    pub fn want(&self) -> Want {
        match (self.screen, &self.team_id, &self.member) {
            (Screen::Transcript, Some(t), Some(m)) => Want::Transcript {
                team_id: t.clone(),
                member: m.clone(),
            },
            (Screen::Team | Screen::Transcript, Some(t), _) => Want::Team(t.clone()),
            _ => Want::Teams,
        }
    }

    /// Applies one input. Returns true when the screen changed, so its data should be read
    /// now rather than at the next poll.
    pub fn update(&mut self, input: Input) -> bool {
        match input {
            Input::Key(k) => self.key(k),
            Input::Loaded(l) => {
                self.loaded(l);
                false
            }
            Input::Failed(e) => {
                self.error = Some(e);
                false
            }
            Input::Tick(now) => {
                self.now_ms = now;
                false
            }
        }
    }

    fn loaded(&mut self, l: Loaded) {
        self.error = None;
        self.loaded_at_ms = Some(self.now_ms);
        match l {
            Loaded::Teams(teams) => {
                // Keep the selection on the same team when the order changes.
                let selected = self.teams.get(self.team_row).map(|t| t.team.id.clone());
                self.teams = teams;
                if let Some(id) = selected
                    && let Some(i) = self.teams.iter().position(|t| t.team.id == id)
                {
                    self.team_row = i;
                }
                self.team_row = clamp(self.team_row, self.teams.len());
            }
            Loaded::Team(d) => {
                if self.team_id.as_deref() != Some(d.team.id.as_str()) {
                    return;
                }
                self.member_row = clamp(self.member_row, d.members.len());
                self.task_row = clamp(self.task_row, d.tasks.len());
                self.messages_back = clamp(self.messages_back, d.messages.len());
                self.team = Some(*d);
            }
            Loaded::Transcript(d) => {
                if self.member.as_deref() != Some(d.member.name.as_str()) {
                    return;
                }
                self.transcript_back = clamp(self.transcript_back, d.line_count());
                self.transcript = Some(*d);
            }
        }
    }

    fn key(&mut self, k: Key) -> bool {
        match k {
            Key::Quit => {
                self.quit = true;
                false
            }
            Key::Enter => self.enter(),
            Key::Back => self.back(),
            Key::Tab | Key::BackTab => {
                if self.screen == Screen::Team {
                    self.pane = if k == Key::Tab {
                        self.pane.next()
                    } else {
                        self.pane.prev()
                    };
                }
                false
            }
            Key::Up => self.step(-1),
            Key::Down => self.step(1),
            Key::PageUp => self.step(-(PAGE_ROWS as isize)),
            Key::PageDown => self.step(PAGE_ROWS as isize),
            Key::Home => self.step(isize::MIN),
            Key::End => self.step(isize::MAX),
        }
    }

    fn enter(&mut self) -> bool {
        match self.screen {
            Screen::Teams => match self.teams.get(self.team_row) {
                Some(t) => {
                    let id = t.team.id.clone();
                    self.open_team(id);
                    true
                }
                None => false,
            },
            Screen::Team if self.pane == Pane::Members => {
                let Some(m) = self
                    .team
                    .as_ref()
                    .and_then(|d| d.members.get(self.member_row))
                else {
                    return false;
                };
                if self.member.as_deref() != Some(&m.name) {
                    self.transcript = None;
                }
                self.member = Some(m.name.clone());
                self.transcript_back = 0;
                self.screen = Screen::Transcript;
                true
            }
            Screen::Team | Screen::Transcript => false,
        }
    }

    fn back(&mut self) -> bool {
        match self.screen {
            Screen::Teams => false,
            Screen::Team => {
                self.screen = Screen::Teams;
                true
            }
            Screen::Transcript => {
                self.screen = Screen::Team;
                true
            }
        }
    }

    /// Moves the selection (or the scroll) of what has the focus by `by` rows: negative is
    /// up, `isize::MIN` the top, `isize::MAX` the bottom.
    fn step(&mut self, by: isize) -> bool {
        match self.screen {
            Screen::Teams => self.team_row = moved(self.team_row, by, self.teams.len()),
            Screen::Team => {
                let Some(d) = &self.team else { return false };
                match self.pane {
                    Pane::Members => {
                        self.member_row = moved(self.member_row, by, d.members.len());
                    }
                    Pane::Tasks => self.task_row = moved(self.task_row, by, d.tasks.len()),
                    // Scrolled from the bottom: up goes back in time.
                    Pane::Messages => {
                        self.messages_back = back(self.messages_back, by, d.messages.len());
                    }
                }
            }
            Screen::Transcript => {
                let n = self
                    .transcript
                    .as_ref()
                    .map_or(0, TranscriptData::line_count);
                self.transcript_back = back(self.transcript_back, by, n);
            }
        }
        false
    }
}

/// `row` kept inside a list of `len` rows.
fn clamp(row: usize, len: usize) -> usize {
    row.min(len.saturating_sub(1))
}

/// `row` moved by `by` inside a list of `len` rows.
fn moved(row: usize, by: isize, len: usize) -> usize {
    clamp(row.saturating_add_signed(by), len)
}

/// A count of rows back from the bottom, moved by `by` (up, negative, goes further back).
fn back(from_bottom: usize, by: isize, len: usize) -> usize {
    let to = if by < 0 {
        from_bottom.saturating_add(by.unsigned_abs())
    } else {
        from_bottom.saturating_sub(by.unsigned_abs())
    };
    clamp(to, len)
}
