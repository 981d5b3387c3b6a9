//! Asking the human: the [`Prompter`] trait, the terminal and scripted implementations, and the
//! run-wide [`PromptGate`] that serializes prompts across all members.

use std::collections::{HashSet, VecDeque};
use std::fs::OpenOptions;
use std::future::Future;
use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

/// What the human is asked about: which member wants which tool, with a one-line summary of the
/// arguments (e.g. the bash command, or `src/main.rs (1234 bytes)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromptRequest {
    /// The member (agent) making the call.
    pub member: String,
    /// The tool name.
    pub tool: String,
    /// A short, single-line summary of the arguments (at most a few hundred characters).
    pub summary: String,
}

/// The human's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptAnswer {
    /// `y`: allow this call.
    Yes,
    /// `n`: deny this call.
    No,
    /// `a`: allow this call and every later call of the same tool in this run, for all members.
    Always,
}

/// Why a prompt could not be answered; the call is then denied.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// The terminal or input stream reached end of file.
    #[error("the prompt input was closed before an answer was given")]
    Closed,
    /// Reading or writing the terminal failed.
    #[error("could not use the terminal to ask: {0}")]
    Io(#[from] io::Error),
    /// A scripted prompter ran out of answers.
    #[error("the scripted prompter has no answer left")]
    Exhausted,
}

/// The boxed future a [`Prompter`] returns.
pub type PromptFuture<'a> =
    Pin<Box<dyn Future<Output = Result<PromptAnswer, PromptError>> + Send + 'a>>;

/// Something that can ask the human whether a tool call may run. Calls never overlap: the
/// [`PromptGate`] holds a run-wide lock around each one.
pub trait Prompter: Send + Sync {
    /// Asks about one call and returns the answer.
    fn ask<'a>(&'a self, request: &'a PromptRequest) -> PromptFuture<'a>;
}

struct TermIo {
    input: Box<dyn BufRead + Send>,
    output: Box<dyn Write + Send>,
}

/// Asks on a terminal: prints the question and reads `y`, `n` or `a` (also `yes`, `no`,
/// `always`; an empty line means no; three unreadable answers mean no).
pub struct TerminalPrompter {
    io: Arc<Mutex<TermIo>>,
}

impl std::fmt::Debug for TerminalPrompter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TerminalPrompter")
    }
}

impl TerminalPrompter {
    /// A prompter on the process's terminal: stdin (with the question on stderr) when stdin is a
    /// terminal, else `/dev/tty` when the process has a controlling terminal, else `None` (no
    /// stdin, daemons) — and then every `ask` permission means deny. Also `None` when the `CI`
    /// environment variable is set to anything but empty, `0` or `false`, so a CI job that happens
    /// to have a terminal never waits for a human.
    pub fn detect() -> Option<Self> {
        if std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false")) {
            return None;
        }
        if io::stdin().is_terminal() {
            return Some(Self::from_streams(
                BufReader::new(io::stdin()),
                io::stderr(),
            ));
        }
        let tty = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .ok()?;
        if !tty.is_terminal() {
            return None;
        }
        let output = tty.try_clone().ok()?;
        Some(Self::from_streams(BufReader::new(tty), output))
    }

    /// A prompter on any line-based streams (used by tests and by other front-ends).
    pub fn from_streams(
        input: impl BufRead + Send + 'static,
        output: impl Write + Send + 'static,
    ) -> Self {
        Self {
            io: Arc::new(Mutex::new(TermIo {
                input: Box::new(input),
                output: Box::new(output),
            })),
        }
    }
}

/// Replaces control characters (escape sequences a model could inject) so the summary shows as
/// one plain line.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' => '⏎',
            c if c.is_control() => '�',
            c => c,
        })
        .collect()
}

fn parse_answer(line: &str) -> Option<PromptAnswer> {
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Some(PromptAnswer::Yes),
        "n" | "no" | "" => Some(PromptAnswer::No),
        "a" | "always" => Some(PromptAnswer::Always),
        _ => None,
    }
}

fn ask_blocking(io: &Mutex<TermIo>, request: &PromptRequest) -> Result<PromptAnswer, PromptError> {
    let mut guard = io
        .lock()
        .map_err(|_| io::Error::other("terminal lock poisoned"))?;
    let TermIo { input, output } = &mut *guard;
    write!(
        output,
        "\n[team] member `{}` wants to use {}: {}\nallow? [y]es / [n]o / [a]lways allow {} for this run: ",
        printable(&request.member),
        request.tool,
        printable(&request.summary),
        request.tool,
    )?;
    output.flush()?;
    for _ in 0..3 {
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            return Err(PromptError::Closed);
        }
        if let Some(answer) = parse_answer(&line) {
            return Ok(answer);
        }
        write!(output, "please answer y, n or a: ")?;
        output.flush()?;
    }
    Ok(PromptAnswer::No)
}

impl Prompter for TerminalPrompter {
    fn ask<'a>(&'a self, request: &'a PromptRequest) -> PromptFuture<'a> {
        let io = self.io.clone();
        let request = request.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || ask_blocking(&io, &request))
                .await
                .map_err(|e| PromptError::Io(io::Error::other(e.to_string())))?
        })
    }
}

/// A prompter with answers given in advance, for tests: it records each request, and can wait a
/// little per answer to show that prompts never overlap ([`ScriptedPrompter::max_concurrent`]).
#[derive(Debug, Default)]
pub struct ScriptedPrompter {
    answers: Mutex<VecDeque<PromptAnswer>>,
    asked: Mutex<Vec<PromptRequest>>,
    delay: Duration,
    active: AtomicUsize,
    max_active: AtomicUsize,
}

impl ScriptedPrompter {
    /// Answers with `answers` in order; once they run out, asks fail with
    /// [`PromptError::Exhausted`] (so the call is denied).
    pub fn new(answers: impl IntoIterator<Item = PromptAnswer>) -> Self {
        Self {
            answers: Mutex::new(answers.into_iter().collect()),
            ..Self::default()
        }
    }

    /// Waits `delay` before each answer.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// The requests asked so far, in order.
    pub fn asked(&self) -> Vec<PromptRequest> {
        self.asked.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// The most prompts that were ever in progress at the same time.
    pub fn max_concurrent(&self) -> usize {
        self.max_active.load(Ordering::SeqCst)
    }
}

impl Prompter for ScriptedPrompter {
    fn ask<'a>(&'a self, request: &'a PromptRequest) -> PromptFuture<'a> {
        Box::pin(async move {
            let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_active.fetch_max(now, Ordering::SeqCst);
            if let Ok(mut asked) = self.asked.lock() {
                asked.push(request.clone());
            }
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            let answer = self.answers.lock().ok().and_then(|mut a| a.pop_front());
            self.active.fetch_sub(1, Ordering::SeqCst);
            answer.ok_or(PromptError::Exhausted)
        })
    }
}

/// How the gate settled an `ask`.
#[derive(Debug)]
pub(crate) enum GateOutcome {
    /// An earlier `a` answer covers this tool.
    AlwaysThisRun,
    /// No prompter is attached.
    NoTerminal,
    /// The human answered.
    Answered(PromptAnswer),
    /// Asking failed.
    Failed(PromptError),
}

/// The run-wide prompt gate: at most one prompt at a time across all members (an async mutex
/// held for the whole question), and the set of tools answered "always" in this run.
pub struct PromptGate {
    prompter: Option<Arc<dyn Prompter>>,
    turn: tokio::sync::Mutex<()>,
    always: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for PromptGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptGate")
            .field("has_prompter", &self.prompter.is_some())
            .finish_non_exhaustive()
    }
}

impl PromptGate {
    /// A gate asking through `prompter`; `None` means nobody can be asked (ask = deny).
    pub fn new(prompter: Option<Arc<dyn Prompter>>) -> Self {
        Self {
            prompter,
            turn: tokio::sync::Mutex::new(()),
            always: Mutex::new(HashSet::new()),
        }
    }

    /// A gate on the process's terminal ([`TerminalPrompter::detect`]), or without a prompter
    /// when there is none.
    pub fn terminal() -> Self {
        Self::new(TerminalPrompter::detect().map(|p| Arc::new(p) as Arc<dyn Prompter>))
    }

    /// Whether a prompter is attached.
    pub fn has_prompter(&self) -> bool {
        self.prompter.is_some()
    }

    fn is_always(&self, tool: &str) -> bool {
        self.always.lock().is_ok_and(|set| set.contains(tool))
    }

    pub(crate) async fn ask(&self, request: &PromptRequest) -> GateOutcome {
        if self.is_always(&request.tool) {
            return GateOutcome::AlwaysThisRun;
        }
        let Some(prompter) = &self.prompter else {
            return GateOutcome::NoTerminal;
        };
        let _turn = self.turn.lock().await;
        // Another member may have answered "always" while this one waited for its turn.
        if self.is_always(&request.tool) {
            return GateOutcome::AlwaysThisRun;
        }
        match prompter.ask(request).await {
            Ok(PromptAnswer::Always) => {
                if let Ok(mut set) = self.always.lock() {
                    set.insert(request.tool.clone());
                }
                GateOutcome::Answered(PromptAnswer::Always)
            }
            Ok(answer) => GateOutcome::Answered(answer),
            Err(e) => GateOutcome::Failed(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_leniently() {
        assert_eq!(parse_answer("Y\n"), Some(PromptAnswer::Yes));
        assert_eq!(parse_answer(" always "), Some(PromptAnswer::Always));
        assert_eq!(parse_answer("\n"), Some(PromptAnswer::No));
        assert_eq!(parse_answer("maybe"), None);
    }

    #[test]
    fn printable_flattens_control_characters() {
        assert_eq!(printable("a\nb\u{1b}[2J"), "a⏎b�[2J");
    }
}
