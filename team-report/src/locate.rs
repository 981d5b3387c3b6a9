//! Which line of the reviewed file a finding points at, for the reports that CI reads (SARIF
//! regions, GitHub annotations).
//!
//! A finding's `location` is free text from a model ("Specification", "§ 3.2", "line 42",
//! "Py_mod_gil"), and its text may quote the file. The rules, first match wins:
//!
//! 1. a line number in the location (`line 42`, `lines 40-44`, `L42`) that is within the file;
//! 2. a heading of the file named by the location: Markdown (`## Title`), reStructuredText or
//!    Setext (a title over a line of one repeated punctuation character), compared by their
//!    lower-case words, so `§ Rationale` or `"Rationale" section` find `Rationale`; a section
//!    number (`§ 3.2`) finds the heading that starts with it;
//! 3. a quotation (`"…"`, `“…”` or `` `…` ``, at least [`MIN_QUOTE`] characters) from the
//!    location or the finding's text found on one line;
//! 4. the location's own text (at least [`MIN_QUOTE`] characters) found on one line.
//!
//! Otherwise there is no line: the finding points at the whole file. Lines count from 1.

use crate::Finding;

/// The shortest quotation (in characters) looked for in the file: shorter ones (`return`)
/// match too many lines to mean one.
pub const MIN_QUOTE: usize = 8;

/// The 1-based line of `text` that `finding` points at, if one can be found (module docs).
pub fn line_of(text: &str, finding: &Finding) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let location = finding.location.trim();
    if let Some(n) = explicit_line(location)
        && (1..=lines.len()).contains(&n)
    {
        return Some(n);
    }
    if let Some(n) = heading_line(&lines, location) {
        return Some(n);
    }
    for quote in quotes(location).into_iter().chain(quotes(&finding.finding)) {
        if let Some(n) = find_line(&lines, quote) {
            return Some(n);
        }
    }
    if location.chars().count() >= MIN_QUOTE {
        return find_line(&lines, location);
    }
    None
}

/// `42` from `line 42`, `Line 42`, `lines 42-44`, `l.42`, `L42` (a word that starts the
/// location or follows a space or comma).
fn explicit_line(location: &str) -> Option<usize> {
    let lower = location.to_ascii_lowercase();
    for (i, _) in lower.match_indices(['l']) {
        if i > 0 && !lower[..i].ends_with([' ', ',', '(', ';']) {
            continue;
        }
        let rest = &lower[i..];
        let rest = ["lines", "line", "l."]
            .iter()
            .find_map(|w| rest.strip_prefix(w))
            .or_else(|| rest.strip_prefix('l'))
            .unwrap_or(rest);
        let rest = rest.trim_start_matches([' ', ':', '#']);
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(n) = digits.parse::<usize>() {
            return Some(n);
        }
    }
    None
}

/// Lower-case words (letters and digits; `.` kept between digits so `3.2` stays one word).
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        let dot_in_number = *c == '.'
            && word.chars().last().is_some_and(|p| p.is_ascii_digit())
            && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if c.is_alphanumeric() || *c == '_' || dot_in_number {
            word.extend(c.to_lowercase());
        } else if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// The headings of the file: (1-based line, title).
fn headings<'a>(lines: &[&'a str]) -> Vec<(usize, &'a str)> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if let Some(title) = t.strip_prefix('#') {
            let title = title.trim_start_matches('#');
            if title.starts_with(' ') && !title.trim().is_empty() {
                out.push((i + 1, title.trim().trim_end_matches('#').trim()));
            }
            continue;
        }
        if t.is_empty() || is_underline(t) {
            continue;
        }
        if let Some(next) = lines.get(i + 1)
            && is_underline(next.trim())
            && line.len() == line.trim_start().len()
        {
            out.push((i + 1, t));
        }
    }
    out
}

/// A reStructuredText / Setext underline: at least 3 of one punctuation character.
fn is_underline(t: &str) -> bool {
    let mut chars = t.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    "=-~^*+#\"'`:._".contains(first) && t.chars().count() >= 3 && chars.all(|c| c == first)
}

/// The line of the heading the location names (module docs, rule 2).
fn heading_line(lines: &[&str], location: &str) -> Option<usize> {
    const NOISE: [&str; 4] = ["section", "sections", "sec", "heading"];
    let want: Vec<String> = words(location)
        .into_iter()
        .filter(|w| !NOISE.contains(&w.as_str()))
        .collect();
    if want.is_empty() {
        return None;
    }
    let all = headings(lines);
    let titled: Vec<(usize, Vec<String>)> = all.iter().map(|(n, t)| (*n, words(t))).collect();
    // The same words.
    if let Some((n, _)) = titled.iter().find(|(_, w)| *w == want) {
        return Some(*n);
    }
    // A section number (`3`, `3.2`) that a heading starts with.
    if want.len() == 1 && want[0].starts_with(|c: char| c.is_ascii_digit()) {
        let number = want[0].trim_end_matches('.');
        return titled
            .iter()
            .find(|(_, w)| w.first().is_some_and(|f| f.trim_end_matches('.') == number))
            .map(|(n, _)| *n);
    }
    // A heading with a number before the title (`3. Tokens` for `Tokens`).
    titled
        .iter()
        .find(|(_, w)| {
            w.len() == want.len() + 1
                && w[0].starts_with(|c: char| c.is_ascii_digit())
                && w[1..] == want[..]
        })
        .map(|(n, _)| *n)
}

/// The quotations in `text` (module docs, rule 3).
fn quotes(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for (open, close) in [('"', '"'), ('\u{201c}', '\u{201d}'), ('`', '`')] {
        let mut rest = text;
        while let Some(start) = rest.find(open) {
            let after = &rest[start + open.len_utf8()..];
            let Some(end) = after.find(close) else {
                break;
            };
            let quote = after[..end].trim_matches('`').trim();
            if quote.chars().count() >= MIN_QUOTE {
                out.push(quote);
            }
            rest = &after[end + close.len_utf8()..];
        }
    }
    out
}

/// The first line holding `needle`, as it is or case-insensitively.
fn find_line(lines: &[&str], needle: &str) -> Option<usize> {
    if let Some(i) = lines.iter().position(|l| l.contains(needle)) {
        return Some(i + 1);
    }
    let lower = needle.to_lowercase();
    lines
        .iter()
        .position(|l| l.to_lowercase().contains(&lower))
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "\
PEP: 1
Title: Example

Abstract
========

The ``return`` statement in a finally block swallows exceptions.

Specification
=============

The compiler emits a SyntaxWarning.

## 3.2 Tokens

Tokens expire after 15 minutes.

Change Semantics
----------------
";

    fn at(location: &str, text: &str) -> Option<usize> {
        let f = Finding {
            id: "F1".into(),
            severity: crate::Severity::Minor,
            location: location.into(),
            finding: text.into(),
            suggestion: String::new(),
            raised_by: "a".into(),
            also_raised_by: Vec::new(),
            merged: Vec::new(),
            phase: "review".into(),
            agreed_by: Vec::new(),
            disputed_by: Vec::new(),
        };
        line_of(SPEC, &f)
    }

    #[test]
    fn a_line_number_is_taken_when_it_is_in_the_file() {
        assert_eq!(at("line 7", ""), Some(7));
        assert_eq!(at("Lines 12-14", ""), Some(12));
        assert_eq!(at("L3", ""), Some(3));
        assert_eq!(at("line 9999", ""), None);
    }

    #[test]
    fn a_section_is_found_by_its_heading() {
        assert_eq!(at("Specification", ""), Some(9));
        assert_eq!(at("§ Specification", ""), Some(9));
        assert_eq!(at("\"Abstract\" section", ""), Some(4));
        assert_eq!(at("change semantics", ""), Some(18));
        assert_eq!(at("§ 3.2", ""), Some(14));
        assert_eq!(at("Tokens", ""), Some(14));
        assert_eq!(at("Motivation", ""), None);
    }

    #[test]
    fn a_quotation_is_found_on_its_line() {
        assert_eq!(
            at("", "It says \"expire after 15 minutes\" only."),
            Some(16)
        );
        assert_eq!(at("Rationale", "“emits a SyntaxWarning”"), Some(12));
        // Too short to mean one line.
        assert_eq!(at("", "The `return` case."), None);
        assert_eq!(at("", "An unclosed \"quote"), None);
    }

    #[test]
    fn no_input_no_line() {
        assert_eq!(at("", ""), None);
        let f = Finding {
            location: "line 1".into(),
            ..finding_with("")
        };
        assert_eq!(line_of("", &f), None);
    }

    fn finding_with(text: &str) -> Finding {
        Finding {
            id: "F1".into(),
            severity: crate::Severity::Nit,
            location: String::new(),
            finding: text.into(),
            suggestion: String::new(),
            raised_by: "a".into(),
            also_raised_by: Vec::new(),
            merged: Vec::new(),
            phase: "review".into(),
            agreed_by: Vec::new(),
            disputed_by: Vec::new(),
        }
    }
}
