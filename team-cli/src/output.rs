//! Rendering for people (tables, durations, colour) and for scripts (`--json`).

use std::io::Write;

use comfy_table::{ContentArrangement, Table, presets};
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
        if !self.color {
            return status.to_owned();
        }
        let color = match status {
            "completed" | "active" => anstyle::AnsiColor::Green,
            "failed" | "timed_out" => anstyle::AnsiColor::Red,
            "cancelled" | "disbanded" => anstyle::AnsiColor::BrightBlack,
            "running" | "in_progress" => anstyle::AnsiColor::Cyan,
            _ => anstyle::AnsiColor::Yellow,
        };
        let style = anstyle::Style::new().fg_color(Some(color.into()));
        format!("{style}{status}{style:#}")
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
    fn one_line_cuts() {
        assert_eq!(one_line("abc\ndef", 10), "abc …");
        assert_eq!(one_line("abcdef", 3), "abc…");
    }
}
