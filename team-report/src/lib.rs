//! `team-report`: the report of a review workflow, and its renderers.
//!
//! For: the report model (findings with attribution, verdicts, specialists, rounds), the answer
//! shapes models are asked for (with their JSON Schemas), and rendering a report as Markdown,
//! JSON, SARIF 2.1.0, GitHub Actions workflow commands and one HTML page. Not for: running a
//! review or reading a model's text (`team-runner`'s workflows), or writing files (`team-cli`):
//! every function here is pure.
//!
//! The review report: findings with attribution, the synthesis, what failed; as Markdown and
//! as a JSON document (schema: `docs/report.schema.json`) here, and for CI in the submodules:
//! SARIF 2.1.0 ([`sarif`]), GitHub Actions annotations ([`github`]) and one self-contained
//! HTML page ([`html`]); [`locate`] finds the line of the reviewed file a finding points at.
//!
//! The report holds no times, ids or token counts, so a replayed run produces the same bytes
//! as the recorded one; those live in the run manifest (`team report TEAM --json`).

use std::fmt::Write as _;

pub mod github;
pub mod html;
pub mod locate;
pub mod sarif;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How bad a finding is, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The spec cannot be implemented or is unsafe as written.
    Blocker,
    /// A real defect that must be fixed.
    Major,
    /// Worth fixing.
    Minor,
    /// Polish.
    Nit,
}

impl Severity {
    /// Every severity, worst first.
    pub const ALL: [Severity; 4] = [
        Severity::Blocker,
        Severity::Major,
        Severity::Minor,
        Severity::Nit,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Blocker => "blocker",
            Severity::Major => "major",
            Severity::Minor => "minor",
            Severity::Nit => "nit",
        }
    }

    /// Parses a wire name (case-insensitive; `critical` reads as blocker, `trivial` as nit).
    pub fn parse(s: &str) -> Option<Severity> {
        match s.trim().to_ascii_lowercase().as_str() {
            "blocker" | "critical" => Some(Severity::Blocker),
            "major" | "high" => Some(Severity::Major),
            "minor" | "medium" | "low" => Some(Severity::Minor),
            "nit" | "trivial" | "info" => Some(Severity::Nit),
            _ => None,
        }
    }
}

/// A finding as a specialist reports it (the JSON it is asked for; its schema is derived
/// from this type, see `team_runner::workflow::answers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RawFinding {
    /// `blocker`, `major`, `minor` or `nit` (read leniently: `critical`, `high`, … map too).
    #[schemars(extend("enum" = ["blocker", "major", "minor", "nit"]))]
    pub severity: String,
    /// Section or line.
    #[serde(default)]
    pub location: String,
    /// What is wrong.
    pub finding: String,
    /// What to do.
    #[serde(default)]
    pub suggestion: String,
}

/// A specialist's answer to another's finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Who answered.
    pub member: String,
    /// Why.
    pub reason: String,
}

impl Verdict {
    /// A verdict of `member` with the reason it gave, without the member's own name when the
    /// reason starts with it (`testing: see the numbers` from `testing`, which the report
    /// would print as "Disputed by testing: testing: see the numbers"). Models often sign
    /// their answers that way; see [`without_own_name`].
    pub fn new(member: &str, reason: &str) -> Verdict {
        Verdict {
            member: member.to_owned(),
            reason: without_own_name(reason, member).to_owned(),
        }
    }

    /// The reason as the report prints it: trimmed, without a leading "MEMBER:" (a report
    /// stored by an older run may still hold one).
    pub fn said(&self) -> &str {
        without_own_name(&self.reason, &self.member)
    }
}

/// `reason` trimmed and without a leading `NAME:` or `NAME -` (also `–`, `—`), where NAME is
/// `member` or its agent's name (`testing` for `testing-2`), compared case-insensitively.
/// Anything else is kept as it is: "testing agrees with F2" keeps its first word.
pub fn without_own_name<'a>(reason: &'a str, member: &str) -> &'a str {
    let reason = reason.trim();
    let agent = match member.rsplit_once('-') {
        Some((agent, n)) if !agent.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => agent,
        _ => member,
    };
    for name in [member, agent] {
        if name.is_empty() {
            continue;
        }
        let Some(head) = reason.get(..name.len()) else {
            continue;
        };
        if !head.eq_ignore_ascii_case(name) {
            continue;
        }
        let rest = reason[name.len()..].trim_start();
        for sep in [":", "-", "\u{2013}", "\u{2014}"] {
            if let Some(after) = rest.strip_prefix(sep) {
                // `testing-related: …` is a word, not a signature: a dash needs a space.
                if sep != ":" && !after.starts_with(char::is_whitespace) {
                    continue;
                }
                let after = after.trim_start();
                if !after.is_empty() {
                    return after;
                }
            }
        }
    }
    reason
}

/// A finding in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// `F1`, `F2`, … in report order of raising.
    pub id: String,
    /// Severity.
    pub severity: Severity,
    /// Section or line.
    pub location: String,
    /// What is wrong.
    pub finding: String,
    /// What to do.
    pub suggestion: String,
    /// The member that raised it.
    pub raised_by: String,
    /// Other members that raised the same issue (merged into this finding: same location and
    /// text, or a merge the lead proposed), in raising order.
    #[serde(default)]
    pub also_raised_by: Vec<String>,
    /// Ids of the findings the lead's synthesis merged into this one.
    #[serde(default)]
    pub merged: Vec<String>,
    /// `review` (first phase) or `cross_review` (added while reviewing the others).
    pub phase: String,
    /// Members that agreed, with their reasons.
    pub agreed_by: Vec<Verdict>,
    /// Members that disputed it, with their reasons.
    pub disputed_by: Vec<Verdict>,
}

/// One specialist's part in the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Specialist {
    /// Member name.
    pub member: String,
    /// Agent name.
    pub agent: String,
    /// `completed` or `failed`.
    pub status: String,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Findings it raised.
    pub findings: usize,
    /// Whether it took part in the cross-review.
    pub cross_reviewed: bool,
    /// Repair turns it needed: answers that could not be read and were asked again, with the
    /// error and the schema (`team_runner::workflow::answers::repair_prompt`).
    #[serde(default)]
    pub repairs: u32,
}

/// The report of a review workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The workflow (`spec-review`).
    pub workflow: String,
    /// The reviewed input (its path as given).
    pub input: String,
    /// The lead's summary.
    pub summary: String,
    /// Findings, worst first, then in raising order.
    pub findings: Vec<Finding>,
    /// Questions the authors must answer.
    pub open_questions: Vec<String>,
    /// Every specialist, in the order they were chosen.
    pub specialists: Vec<Specialist>,
    /// Things the reader must know about the run (a failed lead, a spent budget).
    pub notes: Vec<String>,
    /// The rounds of a self-review loop (empty for other workflows).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rounds: Vec<Round>,
}

/// One round of a self-review loop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round {
    /// 1, 2, …
    pub round: u32,
    /// The findings of the round and what the lead decided for each.
    pub findings: Vec<Triaged>,
    /// The fixer's end (`completed`, `failed`, or `skipped` when nothing was to fix).
    pub fixer: String,
    /// The test command's outcome, if one ran.
    pub test: Option<TestRun>,
    /// The commit made for the round's fixes (`--commit`), if any.
    pub commit: Option<String>,
}

/// A finding and its fate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Triaged {
    /// `F1`, … within the round.
    pub id: String,
    /// Severity.
    pub severity: Severity,
    /// Where.
    pub location: String,
    /// What.
    pub finding: String,
    /// Who raised it.
    pub raised_by: String,
    /// `fix` or `wont_fix`.
    pub decision: String,
    /// The lead's reason.
    pub reason: String,
}

/// A test command's run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRun {
    /// The command.
    pub command: String,
    /// Its exit code (`-1` when killed by a signal).
    pub exit_code: i32,
    /// True on exit 0.
    pub passed: bool,
}

impl Finding {
    /// Whether `member` raised this finding (first or as a merged duplicate).
    pub fn raised(&self, member: &str) -> bool {
        self.raised_by == member || self.also_raised_by.iter().any(|m| m == member)
    }
}

impl Report {
    /// Findings at or above `threshold` (for `--fail-on`).
    pub fn count_at_least(&self, threshold: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity <= threshold)
            .count()
    }

    /// The report as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# {} report: {}\n", self.workflow, self.input);
        let counts: Vec<String> = Severity::ALL
            .iter()
            .map(|sev| {
                format!(
                    "{} {}",
                    self.findings.iter().filter(|f| f.severity == *sev).count(),
                    sev.as_str()
                )
            })
            .collect();
        let ok = self
            .specialists
            .iter()
            .filter(|s| s.status == "completed")
            .count();
        let looped = !self.rounds.is_empty();
        if !looped {
            let _ = writeln!(
                s,
                "{} findings ({}) from {} of {} specialists.\n",
                self.findings.len(),
                counts.join(", "),
                ok,
                self.specialists.len()
            );
        }
        for n in &self.notes {
            let _ = writeln!(s, "> **Note:** {n}\n");
        }
        let _ = writeln!(s, "## Summary\n\n{}\n", self.summary.trim());
        if !looped {
            let _ = writeln!(s, "## Findings\n");
        }
        if self.findings.is_empty() && !looped {
            let _ = writeln!(s, "No findings.\n");
        }
        for sev in Severity::ALL {
            let group: Vec<&Finding> = self.findings.iter().filter(|f| f.severity == sev).collect();
            if group.is_empty() {
                continue;
            }
            let title = match sev {
                Severity::Blocker => "Blockers",
                Severity::Major => "Major",
                Severity::Minor => "Minor",
                Severity::Nit => "Nits",
            };
            let _ = writeln!(s, "### {title}\n");
            for f in group {
                let loc = if f.location.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", f.location)
                };
                let merged = if f.merged.is_empty() {
                    String::new()
                } else {
                    format!(" (merged: {})", f.merged.join(", "))
                };
                let _ = writeln!(s, "- **{}**{loc}: {}{merged}", f.id, f.finding.trim());
                if !f.suggestion.trim().is_empty() {
                    let _ = writeln!(s, "  - Suggestion: {}", f.suggestion.trim());
                }
                let phase = if f.phase == "cross_review" {
                    " (added in cross-review)"
                } else {
                    ""
                };
                let mut raisers = vec![f.raised_by.as_str()];
                raisers.extend(f.also_raised_by.iter().map(String::as_str));
                let _ = writeln!(s, "  - Raised by: {}{phase}", raisers.join(", "));
                if !f.agreed_by.is_empty() {
                    let who: Vec<&str> = f.agreed_by.iter().map(|v| v.member.as_str()).collect();
                    let _ = writeln!(s, "  - Agreed: {}", who.join(", "));
                }
                for d in &f.disputed_by {
                    match d.said() {
                        "" => {
                            let _ = writeln!(s, "  - Disputed by {}", d.member);
                        }
                        why => {
                            let _ = writeln!(s, "  - Disputed by {}: {why}", d.member);
                        }
                    }
                }
            }
            let _ = writeln!(s);
        }
        let _ = writeln!(s, "## Open questions\n");
        if self.open_questions.is_empty() {
            let _ = writeln!(s, "None.\n");
        } else {
            for q in &self.open_questions {
                let _ = writeln!(s, "- {}", q.trim());
            }
            let _ = writeln!(s);
        }
        if !self.rounds.is_empty() {
            let _ = writeln!(s, "## Rounds\n");
            for r in &self.rounds {
                let _ = writeln!(s, "### Round {}\n", r.round);
                for f in &r.findings {
                    let _ = writeln!(
                        s,
                        "- {} [{}] ({}) {} (raised by {}): **{}**: {}",
                        f.id,
                        f.severity.as_str(),
                        f.location,
                        f.finding.trim(),
                        f.raised_by,
                        f.decision,
                        f.reason.trim()
                    );
                }
                let _ = writeln!(s, "- fixer: {}", r.fixer);
                if let Some(t) = &r.test {
                    let _ = writeln!(
                        s,
                        "- test `{}`: {} (exit {})",
                        t.command,
                        if t.passed { "passed" } else { "failed" },
                        t.exit_code
                    );
                }
                if let Some(c) = &r.commit {
                    let _ = writeln!(s, "- commit {c}");
                }
                let _ = writeln!(s);
            }
        }
        let _ = writeln!(s, "## Specialists\n");
        for sp in &self.specialists {
            match &sp.error {
                None => {
                    let _ = writeln!(
                        s,
                        "- {} ({}): completed, {} finding(s){}{}",
                        sp.member,
                        sp.agent,
                        sp.findings,
                        if sp.cross_reviewed {
                            ", cross-reviewed"
                        } else {
                            ""
                        },
                        repairs_note(sp.repairs)
                    );
                }
                Some(e) => {
                    let _ = writeln!(
                        s,
                        "- {} ({}): **failed**{}: {}",
                        sp.member,
                        sp.agent,
                        repairs_note(sp.repairs),
                        e.trim()
                    );
                }
            }
        }
        s
    }
}

/// `, 1 repair` / `, 2 repairs` (nothing for none).
fn repairs_note(n: u32) -> String {
    match n {
        0 => String::new(),
        1 => ", 1 repair".into(),
        n => format!(", {n} repairs"),
    }
}

/// What a specialist's review answer must hold.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReviewAnswer {
    /// Its findings.
    pub findings: Vec<RawFinding>,
}

/// One verdict in a cross-review answer.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Response {
    /// The finding id (`F3`).
    pub id: String,
    /// `agree` or `dispute`.
    #[schemars(extend("enum" = ["agree", "dispute"]))]
    pub verdict: String,
    /// Why.
    #[serde(default)]
    pub reason: String,
}

/// What a cross-review answer holds.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CrossReviewAnswer {
    /// Verdicts on others' findings.
    #[serde(default)]
    pub responses: Vec<Response>,
    /// Findings the others missed.
    #[serde(default)]
    pub added: Vec<RawFinding>,
}

/// What the lead's synthesis holds.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SynthesisAnswer {
    /// The summary.
    pub summary: String,
    /// Open questions.
    #[serde(default)]
    pub open_questions: Vec<String>,
    /// Groups of finding ids that report the same issue (e.g. `[["F2", "F5"]]`): each group
    /// becomes its first finding, with every raiser.
    #[serde(default)]
    pub duplicates: Vec<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_loses_its_speakers_name_and_nothing_else() {
        let cases = [
            (
                "testing: see the corpus numbers",
                "testing",
                "see the corpus numbers",
            ),
            ("  Testing : see", "testing", "see"),
            ("testing - see", "testing-2", "see"),
            ("testing-2 \u{2014} see", "testing-2", "see"),
            (
                "testing agrees with F2",
                "testing",
                "testing agrees with F2",
            ),
            (
                "testing-related: it is",
                "testing",
                "testing-related: it is",
            ),
            ("security: not mine", "testing", "security: not mine"),
            ("testing:", "testing", "testing:"),
            ("", "testing", ""),
            ("t\u{e9}sting: \u{e9}", "te", "t\u{e9}sting: \u{e9}"),
        ];
        for (reason, member, want) in cases {
            assert_eq!(
                without_own_name(reason, member),
                want,
                "{reason:?} by {member}"
            );
        }
        let v = Verdict::new("testing", "testing: see the corpus numbers");
        assert_eq!(v.reason, "see the corpus numbers");
    }

    #[test]
    fn the_markdown_names_a_disputer_once() {
        let report = Report {
            workflow: "spec-review".into(),
            input: "spec.md".into(),
            summary: "s".into(),
            findings: vec![Finding {
                id: "F1".into(),
                severity: Severity::Minor,
                location: "Rationale".into(),
                finding: "The study is only summarised.".into(),
                suggestion: String::new(),
                raised_by: "architecture".into(),
                also_raised_by: Vec::new(),
                merged: Vec::new(),
                phase: "review".into(),
                agreed_by: Vec::new(),
                // As a report stored before the fix holds it.
                disputed_by: vec![
                    Verdict {
                        member: "testing".into(),
                        reason: "testing: see the corpus numbers".into(),
                    },
                    Verdict {
                        member: "security".into(),
                        reason: " ".into(),
                    },
                ],
            }],
            open_questions: Vec::new(),
            specialists: Vec::new(),
            notes: Vec::new(),
            rounds: Vec::new(),
        };
        let md = report.to_markdown();
        assert!(
            md.contains("  - Disputed by testing: see the corpus numbers\n"),
            "{md}"
        );
        assert!(md.contains("  - Disputed by security\n"), "{md}");
        assert!(!md.contains("testing: testing"), "{md}");
    }

    #[test]
    fn severities_order_worst_first() {
        assert!(Severity::Blocker < Severity::Nit);
        assert_eq!(Severity::parse("Critical"), Some(Severity::Blocker));
        assert_eq!(Severity::parse("??"), None);
    }
}
