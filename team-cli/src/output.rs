//! Rendering for people (tables, durations, colour) and for scripts (`--json`).

use std::io::Write;
use std::sync::Mutex;

use comfy_table::{ContentArrangement, Table, presets};
use indicatif::MultiProgress;
use serde::Serialize;

use crate::error::CommandError;

/// How output is written: JSON or human, with or without colour.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    /// Print one JSON document instead of human output.
    pub json: bool,
    /// Colour human output on stdout (see [`Out::new`]).
    pub color: bool,
    /// `-q`: no notes on stderr.
    pub quiet: bool,
}

/// Whether to colour what goes to `stream`, by anstream's rules: never with `NO_COLOR` (any
/// non-empty value, per no-color.org), always with `CLICOLOR_FORCE`, never with `CLICOLOR=0`,
/// else when `stream` is a terminal that supports colour.
pub fn colors(stream: &impl anstream::stream::RawStream) -> bool {
    anstream::AutoStream::choice(stream) != anstream::ColorChoice::Never
}

impl Out {
    /// Decides colour from the environment and stdout ([`colors`]); never with `--json`.
    pub fn new(json: bool, quiet: bool) -> Self {
        let color = !json && colors(&std::io::stdout());
        Self { json, color, quiet }
    }

    /// A note for a person on stderr (what was done), unless `-q` or `--json`.
    pub fn note(&self, text: impl std::fmt::Display) {
        if !self.quiet && !self.json {
            eprintln!("{text}");
        }
    }

    /// Prints `value` (a document of [`crate::doc`]) as pretty JSON on stdout.
    ///
    /// # Errors
    /// A failed write (a closed pipe, a full disk).
    pub fn json<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), CommandError> {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, value)?;
        writeln!(out)?;
        Ok(())
    }

    /// Prints `value` as one line of JSON (JSON Lines: `team logs --follow`, `team watch`),
    /// flushed at once so a reader sees each change as it happens.
    ///
    /// # Errors
    /// A failed write.
    pub fn json_line<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), CommandError> {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, value)?;
        writeln!(out)?;
        out.flush()?;
        Ok(())
    }

    /// Paints a status word: green for good ends, red for bad ones, yellow for live states.
    pub fn status(&self, status: &str) -> String {
        paint_state(status, status, self.color)
    }

    /// A plain table with a header row, columns padded, no borders (easy to read and to
    /// `awk`).
    pub fn table(&self, header: &[&str], rows: Vec<Vec<String>>) -> String {
        let mut t = Table::new();
        t.load_preset(presets::NOTHING)
            .set_content_arrangement(ContentArrangement::Disabled)
            .set_header(header.iter().map(|h| h.to_uppercase()));
        for r in rows {
            t.add_row(r);
        }
        // comfy-table pads each cell with one space on each side; trim the outer ones.
        t.lines()
            .map(|l| l.trim_end().strip_prefix(' ').unwrap_or(&l).to_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// `text` in the colour of the state `state` when `color`: green for good ends (`completed`,
/// `active`), red for bad ones (`failed`, `timed_out`), grey for `cancelled` and `disbanded`,
/// cyan for work under way (`running`, `in_progress`), yellow for the rest (`pending`, `idle`,
/// the live view's `waiting`). `text` is usually `state` itself, or `state` padded to a column's
/// width (the padding is painted too, so columns stay aligned with or without colour).
pub fn paint_state(state: &str, text: &str, color: bool) -> String {
    if !color {
        return text.to_owned();
    }
    let c = match state {
        "completed" | "active" => anstyle::AnsiColor::Green,
        "failed" | "timed_out" => anstyle::AnsiColor::Red,
        "cancelled" | "disbanded" => anstyle::AnsiColor::BrightBlack,
        "running" | "in_progress" => anstyle::AnsiColor::Cyan,
        _ => anstyle::AnsiColor::Yellow,
    };
    let style = anstyle::Style::new().fg_color(Some(c.into()));
    format!("{style}{text}{style:#}")
}

/// The live display that log lines must not break: while one is registered ([`LiveLogs`]),
/// [`LogWriter`] prints above it (`MultiProgress::suspend`) instead of writing into it.
static LIVE: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// While this guard lives, log lines (`tracing`, through [`LogWriter`]) are printed above the
/// live display `multi` (the display is cleared, the line written, the display redrawn), so a
/// `WARN` during a run does not break into the rows. Dropping the guard ends that.
#[derive(Debug)]
pub struct LiveLogs(());

impl LiveLogs {
    /// Routes log lines around `multi` until the guard is dropped.
    pub fn route(multi: &MultiProgress) -> LiveLogs {
        *LIVE.lock().unwrap_or_else(|e| e.into_inner()) = Some(multi.clone());
        LiveLogs(())
    }
}

impl Drop for LiveLogs {
    fn drop(&mut self) {
        *LIVE.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// The writer of `tracing`'s log lines (`tracing_subscriber::fmt().with_writer(LogWriter)`):
/// stderr, or above the live display while one is registered ([`LiveLogs`]). Each log event is
/// gathered in one buffer and written at once when the event is done.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine(Vec::new())
    }
}

/// One log event's text, written when dropped (see [`LogWriter`]).
#[derive(Debug)]
pub struct LogLine(Vec<u8>);

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        // Clone the display out: the lock is not held while it redraws.
        let live = LIVE.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let write = || {
            // A closed stderr is no reason to fail what is being logged.
            let _ = std::io::stderr().lock().write_all(&self.0);
        };
        match live {
            Some(multi) if !multi.is_hidden() => multi.suspend(write),
            _ => write(),
        }
    }
}

/// A duration in ms as `850ms`, `12s`, `3m05s`, `2h10m`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// A time in ms since the epoch as an RFC 3339 UTC timestamp (`2026-11-23T09:01:02Z`).
pub fn timestamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// The first line of `text`, cut to `max` characters with `…`.
pub fn one_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    let more = text.lines().nth(1).is_some();
    match line.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None if more => format!("{line} …"),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(850), "850ms");
        assert_eq!(duration(12_000), "12s");
        assert_eq!(duration(185_000), "3m05s");
        assert_eq!(duration(7_800_000), "2h10m");
    }

    #[test]
    fn paint_state_keeps_padding_inside_the_colour() {
        assert_eq!(paint_state("failed", "failed   ", false), "failed   ");
        let painted = paint_state("failed", "failed   ", true);
        assert!(painted.contains("failed   "), "{painted:?}");
        assert!(painted.starts_with('\u{1b}'), "{painted:?}");
        assert_ne!(
            paint_state("completed", "completed", true),
            paint_state("failed", "completed", true)
        );
    }

    #[test]
    fn log_lines_are_written_whole() {
        use tracing_subscriber::fmt::MakeWriter;
        let mut line = LogWriter.make_writer();
        line.write_all(b"WARN ").unwrap();
        line.write_all(b"something\n").unwrap();
        assert_eq!(line.0, b"WARN something\n");
        // Nothing is registered: dropping it writes to stderr.
        drop(line);
        let multi = MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden());
        {
            let _guard = LiveLogs::route(&multi);
            assert!(LIVE.lock().unwrap().is_some());
        }
        assert!(LIVE.lock().unwrap().is_none());
    }

    #[test]
    fn one_line_cuts() {
        assert_eq!(one_line("abc\ndef", 10), "abc …");
        assert_eq!(one_line("abcdef", 3), "abc…");
    }
}
