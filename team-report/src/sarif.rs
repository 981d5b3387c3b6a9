//! The report as a SARIF 2.1.0 log (OASIS Static Analysis Results Interchange Format), so
//! GitHub code scanning and other SARIF viewers show the findings.
//!
//! One run; one result per finding. Each result's `level` comes from the severity
//! ([`level`]: blocker and major are `error`, minor a `warning`, nit a `note`), its rule is
//! the severity (`spec-review/major`), its location the reviewed file (its path as given to
//! `team run`, as a relative URI) with the line the finding points at where one can be found
//! ([`crate::locate`]), its message the finding, the suggestion and who raised, agreed with and
//! disputed it, and its `properties` the same as data (`raised_by`, `also_raised_by`,
//! `agreed_by`, `disputed_by`, `phase`, `merged`, `suggestion`, the finding's `id` and
//! `location` as written). Failed specialists and the report's notes are the invocation's
//! notifications.
//!
//! The types are our own serde structs for the part of SARIF this writes, rather than the
//! `serde-sarif` crate (which generates every SARIF type and its builder from the schema at
//! build time): the output is checked against the official schema (OASIS, SARIF 2.1.0
//! errata 01) in the tests (`tests/workflow/reports.rs`).

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde::Serialize;

use crate::{Finding, Report, Severity, Verdict};

/// The `$schema` of the log: the OASIS schema of SARIF 2.1.0 (errata 01).
pub const SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The SARIF version written.
pub const VERSION: &str = "2.1.0";

/// The SARIF level of a severity: blocker and major → `error`, minor → `warning`, nit →
/// `note`.
pub fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Blocker | Severity::Major => "error",
        Severity::Minor => "warning",
        Severity::Nit => "note",
    }
}

/// A SARIF log (`sarifLog`).
#[derive(Debug, Clone, Serialize)]
pub struct Log {
    /// [`SCHEMA_URI`].
    #[serde(rename = "$schema")]
    pub schema: &'static str,
    /// [`VERSION`].
    pub version: &'static str,
    /// One run.
    pub runs: Vec<Run>,
}

/// A run of one tool (`run`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    /// `team` and its rules.
    pub tool: Tool,
    /// How the run went: whether every specialist answered, the report's notes.
    pub invocations: Vec<Invocation>,
    /// The reviewed file (none when the workflow had no input).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<Artifact>,
    /// One per finding, in report order.
    pub results: Vec<SarifResult>,
    /// The workflow and the lead's summary.
    pub properties: RunProperties,
}

/// `tool`.
#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    /// The tool itself.
    pub driver: Driver,
}

/// `toolComponent` of the driver.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Driver {
    /// `team`.
    pub name: String,
    /// `team`'s version.
    pub version: String,
    /// One rule per severity.
    pub rules: Vec<Rule>,
}

/// `reportingDescriptor`: one per severity.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// `WORKFLOW/SEVERITY` (`spec-review/major`).
    pub id: String,
    /// The severity (`major`).
    pub name: String,
    /// What the severity means.
    pub short_description: Text,
    /// The level of its results.
    pub default_configuration: Configuration,
}

/// `reportingConfiguration`.
#[derive(Debug, Clone, Serialize)]
pub struct Configuration {
    /// [`level`].
    pub level: &'static str,
}

/// A `message` or `multiformatMessageString` with plain text.
#[derive(Debug, Clone, Serialize)]
pub struct Text {
    /// The text.
    pub text: String,
}

/// `invocation`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Invocation {
    /// False when a specialist failed or the report has a note that the run fell short (a
    /// failed lead, a spent budget).
    pub execution_successful: bool,
    /// A failed specialist is an `error`, each note of the report a `warning`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_execution_notifications: Vec<Notification>,
}

/// `notification`.
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    /// `error` or `warning`.
    pub level: &'static str,
    /// What happened.
    pub message: Text,
}

/// `artifact`: the reviewed file.
#[derive(Debug, Clone, Serialize)]
pub struct Artifact {
    /// Where it is.
    pub location: ArtifactLocation,
}

/// `artifactLocation`.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactLocation {
    /// The path as given, as a URI reference ([`uri_of`]).
    pub uri: String,
    /// Its index in `artifacts`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
}

/// `result`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SarifResult {
    /// The rule of the severity.
    pub rule_id: String,
    /// Its index in the driver's rules.
    pub rule_index: usize,
    /// [`level`].
    pub level: &'static str,
    /// The finding, the suggestion, and who raised, agreed with and disputed it.
    pub message: Text,
    /// The reviewed file and the line, if one was found.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<Location>,
    /// The finding as data.
    pub properties: ResultProperties,
}

/// `location`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    /// The file and line.
    pub physical_location: PhysicalLocation,
}

/// `physicalLocation`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhysicalLocation {
    /// The reviewed file.
    pub artifact_location: ArtifactLocation,
    /// The line, when the finding names or quotes one that is in the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
}

/// `region`: one line.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Region {
    /// 1-based.
    pub start_line: usize,
}

/// The finding's property bag.
#[derive(Debug, Clone, Serialize)]
pub struct ResultProperties {
    /// `F1`, … as in the other formats.
    pub id: String,
    /// `blocker`, `major`, `minor` or `nit`.
    pub severity: &'static str,
    /// The location as the specialist wrote it.
    pub location: String,
    /// What to do.
    pub suggestion: String,
    /// The member that raised it.
    pub raised_by: String,
    /// Others that raised the same issue.
    pub also_raised_by: Vec<String>,
    /// Who agreed, with their reasons.
    pub agreed_by: Vec<Verdict>,
    /// Who disputed, with their reasons.
    pub disputed_by: Vec<Verdict>,
    /// `review` or `cross_review`.
    pub phase: String,
    /// Ids merged into it.
    pub merged: Vec<String>,
}

/// The run's property bag.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub struct RunProperties {
    /// The workflow (`spec-review`).
    pub workflow: String,
    /// The lead's summary.
    pub summary: String,
    /// The open questions.
    pub open_questions: Vec<String>,
}

/// Characters escaped in a relative URI's path: controls, space and the delimiters that
/// would end or change it (RFC 3986 § 3.3).
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// `path` as a URI reference: relative paths stay relative (without a leading `./`, as code
/// scanning matches them against the repository), absolute ones become `file://` URIs;
/// characters that a URI cannot hold are percent-encoded.
pub fn uri_of(path: &str) -> String {
    let mut p = path;
    while let Some(rest) = p.strip_prefix("./") {
        p = rest;
    }
    let encoded = utf8_percent_encode(p, PATH).to_string();
    if p.starts_with('/') {
        format!("file://{encoded}")
    } else {
        encoded
    }
}

/// The message of a finding: its text, then the suggestion and the attribution, one per line.
fn message(f: &Finding) -> String {
    let mut m = f.finding.trim().to_owned();
    if !f.suggestion.trim().is_empty() {
        m.push_str("\nSuggestion: ");
        m.push_str(f.suggestion.trim());
    }
    let mut raisers = vec![f.raised_by.as_str()];
    raisers.extend(f.also_raised_by.iter().map(String::as_str));
    m.push_str("\nRaised by: ");
    m.push_str(&raisers.join(", "));
    if f.phase == "cross_review" {
        m.push_str(" (added in cross-review)");
    }
    if !f.agreed_by.is_empty() {
        let who: Vec<&str> = f.agreed_by.iter().map(|v| v.member.as_str()).collect();
        m.push_str("\nAgreed: ");
        m.push_str(&who.join(", "));
    }
    for d in &f.disputed_by {
        m.push_str("\nDisputed by ");
        m.push_str(&d.member);
        if !d.said().is_empty() {
            m.push_str(": ");
            m.push_str(d.said());
        }
    }
    m
}

impl Report {
    /// The report as a SARIF log; `input_text` is the reviewed file's text (to find lines),
    /// `version` the tool's version.
    pub fn to_sarif(&self, input_text: Option<&str>, version: &str) -> Log {
        let rules: Vec<Rule> = Severity::ALL
            .iter()
            .map(|s| Rule {
                id: format!("{}/{}", self.workflow, s.as_str()),
                name: s.as_str().to_owned(),
                short_description: Text {
                    text: match s {
                        Severity::Blocker => {
                            "Blocker: the input cannot be implemented or is unsafe as written"
                        }
                        Severity::Major => "Major: a real defect that must be fixed",
                        Severity::Minor => "Minor: worth fixing",
                        Severity::Nit => "Nit: polish",
                    }
                    .to_owned(),
                },
                default_configuration: Configuration { level: level(*s) },
            })
            .collect();
        let has_input = !self.input.trim().is_empty();
        let artifact = ArtifactLocation {
            uri: uri_of(self.input.trim()),
            index: Some(0),
        };
        let results = self
            .findings
            .iter()
            .map(|f| {
                let rule_index = Severity::ALL
                    .iter()
                    .position(|s| *s == f.severity)
                    .unwrap_or(0);
                let region = input_text
                    .and_then(|t| crate::locate::line_of(t, f))
                    .map(|start_line| Region { start_line });
                let locations = if has_input {
                    vec![Location {
                        physical_location: PhysicalLocation {
                            artifact_location: artifact.clone(),
                            region,
                        },
                    }]
                } else {
                    Vec::new()
                };
                SarifResult {
                    rule_id: rules[rule_index].id.clone(),
                    rule_index,
                    level: level(f.severity),
                    message: Text { text: message(f) },
                    locations,
                    properties: ResultProperties {
                        id: f.id.clone(),
                        severity: f.severity.as_str(),
                        location: f.location.clone(),
                        suggestion: f.suggestion.clone(),
                        raised_by: f.raised_by.clone(),
                        also_raised_by: f.also_raised_by.clone(),
                        agreed_by: f
                            .agreed_by
                            .iter()
                            .map(|v| Verdict::new(&v.member, &v.reason))
                            .collect(),
                        disputed_by: f
                            .disputed_by
                            .iter()
                            .map(|v| Verdict::new(&v.member, &v.reason))
                            .collect(),
                        phase: f.phase.clone(),
                        merged: f.merged.clone(),
                    },
                }
            })
            .collect();
        let mut notifications: Vec<Notification> = self
            .specialists
            .iter()
            .filter_map(|s| {
                s.error.as_ref().map(|e| Notification {
                    level: "error",
                    message: Text {
                        text: format!("specialist {} ({}) failed: {}", s.member, s.agent, e.trim()),
                    },
                })
            })
            .collect();
        // A replay's note says how the report was made, not that the run fell short.
        let short = self.notes.iter().any(|n| !n.starts_with("replayed from"));
        notifications.extend(self.notes.iter().map(|n| Notification {
            level: "warning",
            message: Text { text: n.clone() },
        }));
        Log {
            schema: SCHEMA_URI,
            version: VERSION,
            runs: vec![Run {
                tool: Tool {
                    driver: Driver {
                        name: "team".into(),
                        version: version.to_owned(),
                        rules,
                    },
                },
                invocations: vec![Invocation {
                    execution_successful: !short
                        && self.specialists.iter().all(|s| s.error.is_none()),
                    tool_execution_notifications: notifications,
                }],
                artifacts: if has_input {
                    vec![Artifact {
                        location: ArtifactLocation {
                            uri: artifact.uri.clone(),
                            index: None,
                        },
                    }]
                } else {
                    Vec::new()
                },
                results,
                properties: RunProperties {
                    workflow: self.workflow.clone(),
                    summary: self.summary.clone(),
                    open_questions: self.open_questions.clone(),
                },
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_uri_references() {
        assert_eq!(uri_of("docs/spec.md"), "docs/spec.md");
        assert_eq!(uri_of("./docs/my spec#1.md"), "docs/my%20spec%231.md");
        assert_eq!(uri_of("/tmp/a b.rst"), "file:///tmp/a%20b.rst");
        assert_eq!(uri_of("spé.md"), "sp%C3%A9.md");
    }

    #[test]
    fn severities_map_to_levels() {
        let levels: Vec<&str> = Severity::ALL.iter().map(|s| level(*s)).collect();
        assert_eq!(levels, ["error", "error", "warning", "note"]);
    }
}
