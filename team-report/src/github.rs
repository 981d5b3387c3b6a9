//! GitHub Actions workflow commands for the findings: one `::error` / `::warning` /
//! `::notice` annotation per finding at or above a severity, on the reviewed file and the
//! line the finding points at ([`crate::locate`]), so they show on the pull request's diff and
//! in the run's summary.
//!
//! Format and escaping as GitHub documents them ("Workflow commands for GitHub Actions",
//! and actions/toolkit's `command.ts`): in the message `%`, `\r` and `\n` become `%25`,
//! `%0D` and `%0A`; in a property also `:` and `,` (`%3A`, `%2C`). The runner reads workflow
//! commands from a step's stdout and from its stderr (actions/runner, `ScriptHandler.cs`:
//! both streams go through an `OutputManager`), so `team run` writes them to stderr and
//! stdout keeps the report alone.

use std::fmt::Write as _;

use crate::{Finding, Report, Severity};

/// The annotation command of a severity: blocker and major → `error`, minor → `warning`,
/// nit → `notice` (the levels of [`crate::sarif::level`], in GitHub's words).
pub fn command(severity: Severity) -> &'static str {
    match severity {
        Severity::Blocker | Severity::Major => "error",
        Severity::Minor => "warning",
        Severity::Nit => "notice",
    }
}

/// A workflow command's message with `%`, `\r` and `\n` escaped.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: [`escape_data`] plus `:` and `,`.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The title of a finding's annotation: `F1 major (Specification) by architecture`.
fn title(f: &Finding) -> String {
    let mut t = format!("{} {}", f.id, f.severity.as_str());
    if !f.location.trim().is_empty() {
        let _ = write!(t, " ({})", f.location.trim());
    }
    let _ = write!(t, " by {}", f.raised_by);
    for m in &f.also_raised_by {
        let _ = write!(t, ", {m}");
    }
    t
}

/// The message of a finding's annotation: the finding, then the suggestion and who disputed
/// it (one per line).
fn message(f: &Finding) -> String {
    let mut m = f.finding.trim().to_owned();
    if !f.suggestion.trim().is_empty() {
        let _ = write!(m, "\nSuggestion: {}", f.suggestion.trim());
    }
    if !f.agreed_by.is_empty() {
        let who: Vec<&str> = f.agreed_by.iter().map(|v| v.member.as_str()).collect();
        let _ = write!(m, "\nAgreed: {}", who.join(", "));
    }
    for d in &f.disputed_by {
        match d.said() {
            "" => {
                let _ = write!(m, "\nDisputed by {}", d.member);
            }
            why => {
                let _ = write!(m, "\nDisputed by {}: {why}", d.member);
            }
        }
    }
    m
}

impl Report {
    /// One annotation line (ending in `\n`) per finding at or above `threshold`, worst first;
    /// `input_text` is the reviewed file's text (to find lines). Empty when no finding is at or
    /// above it.
    pub fn to_github_annotations(&self, input_text: Option<&str>, threshold: Severity) -> String {
        let mut out = String::new();
        let file = self.input.trim();
        for f in self.findings.iter().filter(|f| f.severity <= threshold) {
            let mut props = Vec::new();
            if !file.is_empty() {
                props.push(format!("file={}", escape_property(file)));
                if let Some(line) = input_text.and_then(|t| crate::locate::line_of(t, f)) {
                    props.push(format!("line={line}"));
                }
            }
            props.push(format!("title={}", escape_property(&title(f))));
            let _ = writeln!(
                out,
                "::{} {}::{}",
                command(f.severity),
                props.join(","),
                escape_data(&message(f))
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_escaped_as_github_documents() {
        assert_eq!(escape_data("50%\r\nnext"), "50%25%0D%0Anext");
        assert_eq!(escape_property("a: b, c%"), "a%3A b%2C c%25");
        assert_eq!(command(Severity::Nit), "notice");
    }
}
