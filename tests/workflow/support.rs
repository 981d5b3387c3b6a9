//! Test support for `team run spec-review` end to end.
//!
//! - [`Project`]: a temp directory with `team init` done (team-testkit's
//!   [`team_testkit::Project`]), on SQLite (`.team/team.db`) or on a fresh schema of the
//!   PostgreSQL server named by `TEAM_TEST_DATABASE_URL` (passed to every child as
//!   `TEAM_DATABASE_URL`), whose `.team/config.toml` points a `mock` provider
//!   (OpenAI wire format) at a [`ScriptedServer`] started by the test; the specification under
//!   review is copied from `tests/data/` into the project root.
//! - The real `team` binary runs as a child process that never outlives its test: stdin is
//!   `/dev/null`, `CI=true`, the caller's `TEAM_*`, provider and log variables are removed, it is
//!   killed when dropped, and a call that runs longer than [`CALL_TIMEOUT`] fails the test.
//! - [`Review`]: what the scripted specialists find in one specification, who disputes what,
//!   what is added during the cross-review, and the lead's synthesis; [`script`] turns it into
//!   a [`Script`] for the scripted server; [`Expected`] is the report that must come out.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
pub use team_testkit::Backend;
pub use team_testkit::process::{code, dump, stderr, stdout};
use team_testkit::process::{output_within, stdout_json};
use team_testkit::{Reply, Script, ScriptRequest};

/// Longest any single `team` call may take before the test fails instead of hanging.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(180);

/// The fake API key every child gets in `MOCK_API_KEY`.
pub const KEY: &str = "sk-test-workflow-KEY";

/// The model every run uses (`--model`): the `mock` provider of the project's config.
pub const MODEL: &str = "mock/review-model";

/// The default specialists of spec-review, in the order the workflow names them.
pub const SPECIALISTS: [&str; 5] = [
    "architecture",
    "security",
    "reliability",
    "testing",
    "api-usability",
];

/// What the lead's cross-review message to each specialist starts with (the workflow's
/// `cross_review` prompt).
pub const CROSS_REVIEW_MARK: &str = "The other specialists reported";

/// How every scripted cross-review answer starts (the JSON follows in a code fence).
pub const CROSS_REVIEW_ANSWER: &str = "My cross-review:";

/// What the lead's synthesis prompt holds (the workflow's `synthesis` prompt).
pub const SYNTHESIS_MARK: &str = "Write the synthesis";

/// The path of a file of `tests/data/`.
pub fn data_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(name)
}

// ---------------------------------------------------------------------------------------------
// Projects and child processes

/// A project in a temp directory (see the module docs): team-testkit's
/// [`team_testkit::Project`] (root, backend, commands with a clean environment and [`KEY`] in
/// `MOCK_API_KEY`) with the calls below.
pub struct Project(team_testkit::Project);

impl Deref for Project {
    type Target = team_testkit::Project;

    fn deref(&self) -> &team_testkit::Project {
        &self.0
    }
}

impl Project {
    /// A SQLite project whose `mock` provider is the scripted server at `base_url`.
    pub async fn new(base_url: &str) -> Project {
        Self::on(Backend::Sqlite, base_url)
            .await
            .expect("a SQLite project")
    }

    /// A project on `backend` whose `mock` provider is the scripted server at `base_url`;
    /// `None` when the PostgreSQL variants are skipped.
    pub async fn on(backend: Backend, base_url: &str) -> Option<Project> {
        let p = Self::bare_on(backend)?;
        let out = p.team(&["init"]).await;
        assert!(out.status.success(), "team init: {}", dump(&out));
        let config = format!(
            "[team]\nmax_agents = 10\n\n[providers.mock]\nkind = \"openai\"\nbase_url = \"{base_url}\"\n\
             api_key_env = \"MOCK_API_KEY\"\nmax_concurrent_requests = 16\nretry_base_ms = 10\n\
             retry_max_ms = 50\nmax_retries = 2\nrequest_timeout_secs = 120\n"
        );
        std::fs::write(p.path(".team/config.toml"), config).expect("write config.toml");
        Some(p)
    }

    /// An empty temp directory on SQLite: no `.team/`, no provider configured.
    pub fn bare() -> Project {
        Self::bare_on(Backend::Sqlite).expect("a SQLite project")
    }

    fn bare_on(backend: Backend) -> Option<Project> {
        let mut inner = team_testkit::Project::bare(backend)?;
        inner.env("MOCK_API_KEY", KEY);
        Some(Project(inner))
    }

    /// Copies `tests/data/NAME` into the project root; returns NAME (the path to give `team
    /// run`, relative to the root, so the report's `input` is the same in every project).
    pub fn spec(&self, name: &str) -> String {
        std::fs::copy(data_file(name), self.path(name)).expect("copy the specification");
        name.to_owned()
    }

    /// A file under the project root as text.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel))
            .unwrap_or_else(|e| panic!("read {rel} in the project: {e}"))
    }

    /// The command `team ARGS` in the project root (see the module docs).
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = self.0.command();
        cmd.args(args);
        cmd
    }

    /// Runs `team ARGS` to its end and returns its output; fails the test (killing the child)
    /// if it runs longer than [`CALL_TIMEOUT`].
    pub async fn team(&self, args: &[&str]) -> Output {
        output_within(
            self.command(args),
            CALL_TIMEOUT,
            &format!("team {}", args.join(" ")),
        )
        .await
    }

    /// `team --json ARGS`, which must succeed, parsed.
    pub async fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.team(&all).await;
        stdout_json(&format!("team {}", all.join(" ")), &out)
    }

    /// The events of `team` (`team logs --json`).
    pub async fn events(&self, team: &str) -> Vec<Value> {
        let v = self.json(&["logs", team]).await;
        v.as_array().cloned().expect("logs --json is an array")
    }

    /// `team show --json TEAM`.
    pub async fn show(&self, team: &str) -> Value {
        self.json(&["show", team]).await
    }
}

/// `team run spec-review SPEC --model MODEL --name NAME` followed by `extra`.
pub fn run_args<'a>(spec: &'a str, name: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["run", "spec-review", spec, "--model", MODEL, "--name", name];
    v.extend_from_slice(extra);
    v
}

/// Parses JSON Lines (an `--events` file).
pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The processes (pid, command line) whose working directory is `root` or below it.
pub fn processes_in(root: &Path) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) else {
            continue;
        };
        if cwd.starts_with(root) {
            let cmdline = std::fs::read(entry.path().join("cmdline"))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                .unwrap_or_default();
            found.push((pid, cmdline));
        }
    }
    found
}

/// Polls `check` every 20 ms until it returns true; false if `limit` passes first.
pub async fn poll_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if check() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The scripted review

/// One finding as a scripted specialist reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raw {
    /// `blocker`, `major`, `minor` or `nit`.
    pub severity: &'static str,
    /// Section or line.
    pub location: &'static str,
    /// What is wrong (unique within a [`Review`]: the tests find findings by it).
    pub finding: &'static str,
    /// What to do.
    pub suggestion: &'static str,
}

impl Raw {
    fn to_json(&self) -> Value {
        json!({"severity": self.severity, "location": self.location, "finding": self.finding, "suggestion": self.suggestion})
    }
}

/// A dispute in the cross-review: `who` disputes the finding whose text contains `of`.
#[derive(Debug, Clone)]
pub struct Dispute {
    /// The disputing specialist.
    pub who: &'static str,
    /// A part of the disputed finding's text.
    pub of: &'static str,
    /// The reason given.
    pub reason: &'static str,
}

/// What the scripted model says about one specification: every specialist's findings, the
/// disputes and additions of the cross-review (everything not disputed is agreed with), and
/// the lead's synthesis.
#[derive(Debug, Clone)]
pub struct Review {
    /// The file in `tests/data/`.
    pub spec: &'static str,
    /// Text of the specification every review prompt must carry (e.g. its `Title:` line).
    pub spec_mark: &'static str,
    /// Findings per specialist agent, in [`SPECIALISTS`] order.
    pub findings: Vec<(&'static str, Vec<Raw>)>,
    /// Disputes of the cross-review.
    pub disputes: Vec<Dispute>,
    /// Findings added during the cross-review: (specialist, finding).
    pub added: Vec<(&'static str, Raw)>,
    /// The lead's summary.
    pub summary: &'static str,
    /// The lead's open questions.
    pub open_questions: Vec<&'static str>,
}

impl Review {
    /// The same review with every finding at most `minor` (no blocker, no major).
    pub fn without_major(mut self) -> Review {
        let soften = |r: &mut Raw| {
            if matches!(r.severity, "blocker" | "major") {
                r.severity = "minor";
            }
        };
        for (_, list) in &mut self.findings {
            list.iter_mut().for_each(soften);
        }
        for (_, r) in &mut self.added {
            soften(r);
        }
        self
    }

    /// A specialist's review answer (`{"findings": [...]}`) as the scripted model gives it.
    pub fn answer_of(&self, agent: &str) -> String {
        let findings: Vec<Value> = self.findings_of(agent).iter().map(Raw::to_json).collect();
        json!({ "findings": findings }).to_string()
    }

    /// A specialist's findings.
    pub fn findings_of(&self, agent: &str) -> &[Raw] {
        self.findings
            .iter()
            .find(|(a, _)| *a == agent)
            .map(|(_, f)| f.as_slice())
            .unwrap_or(&[])
    }

    /// The report these answers must give with the default specialists when those in
    /// `failed` fail (ids are not predicted).
    pub fn expected(&self, failed: &[&str]) -> Expected {
        self.expected_of(&SPECIALISTS, failed)
    }

    /// The report these answers must give when the specialists are `chosen` (in that order)
    /// and those in `failed` fail.
    pub fn expected_of(&self, chosen: &[&str], failed: &[&str]) -> Expected {
        let ok: Vec<&str> = chosen
            .iter()
            .copied()
            .filter(|s| !failed.contains(s))
            .collect();
        let mut findings = Vec::new();
        for agent in &ok {
            for raw in self.findings_of(agent) {
                let mut agreed = Vec::new();
                let mut disputed = Vec::new();
                for other in ok.iter().filter(|o| *o != agent) {
                    match self
                        .disputes
                        .iter()
                        .find(|d| d.who == *other && raw.finding.contains(d.of))
                    {
                        Some(d) => disputed.push((other.to_string(), d.reason.to_owned())),
                        None => agreed.push(other.to_string()),
                    }
                }
                findings.push(ExpectedFinding {
                    raw: raw.clone(),
                    raised_by: agent.to_string(),
                    phase: "review",
                    agreed: if ok.len() > 1 { agreed } else { Vec::new() },
                    disputed,
                });
            }
        }
        if ok.len() > 1 {
            for (agent, raw) in &self.added {
                if ok.contains(agent) {
                    findings.push(ExpectedFinding {
                        raw: raw.clone(),
                        raised_by: agent.to_string(),
                        phase: "cross_review",
                        agreed: Vec::new(),
                        disputed: Vec::new(),
                    });
                }
            }
        }
        let specialists = chosen
            .iter()
            .map(|s| {
                let added = self.added.iter().filter(|(a, _)| a == s).count();
                ExpectedSpecialist {
                    name: s.to_string(),
                    failed: failed.contains(s),
                    findings: self.findings_of(s).len() + if ok.len() > 1 { added } else { 0 },
                    cross_reviewed: !failed.contains(s) && ok.len() > 1,
                }
            })
            .collect();
        Expected {
            findings,
            specialists,
        }
    }
}

/// A finding the report must hold.
#[derive(Debug, Clone)]
pub struct ExpectedFinding {
    /// As reported.
    pub raw: Raw,
    /// The member that raised it.
    pub raised_by: String,
    /// `review` or `cross_review`.
    pub phase: &'static str,
    /// Who agreed, in specialist order.
    pub agreed: Vec<String>,
    /// Who disputed, with the reason, in specialist order.
    pub disputed: Vec<(String, String)>,
}

/// A specialist's line in the report.
#[derive(Debug, Clone)]
pub struct ExpectedSpecialist {
    /// Member (and agent) name.
    pub name: String,
    /// Whether it failed.
    pub failed: bool,
    /// Findings it raised (including those added in the cross-review).
    pub findings: usize,
    /// Whether it took part in the cross-review.
    pub cross_reviewed: bool,
}

/// The report a [`Review`] must give.
#[derive(Debug, Clone)]
pub struct Expected {
    /// Every finding.
    pub findings: Vec<ExpectedFinding>,
    /// Every specialist, in the order chosen.
    pub specialists: Vec<ExpectedSpecialist>,
}

impl Expected {
    /// Number of findings of a severity.
    pub fn count(&self, severity: &str) -> usize {
        self.findings
            .iter()
            .filter(|f| f.raw.severity == severity)
            .count()
    }
}

/// How the scripted model misbehaves.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Specialists whose every request gets HTTP 500.
    pub failing: Vec<&'static str>,
    /// The lead's synthesis request gets HTTP 500.
    pub lead_fails: bool,
}

/// The specialist agent a request comes from (its system prompt names its agent), if any.
pub fn specialist_of(req: &ScriptRequest) -> Option<&'static str> {
    SPECIALISTS
        .iter()
        .copied()
        .find(|a| req.system.contains(&format!("(agent `{a}`)")))
}

/// True for the lead's synthesis request.
pub fn is_synthesis(req: &ScriptRequest) -> bool {
    specialist_of(req).is_none() && req.last_user_or_tool_text().contains(SYNTHESIS_MARK)
}

/// True for a specialist's cross-review request.
pub fn is_cross_review(req: &ScriptRequest) -> bool {
    specialist_of(req).is_some() && req.last_user_or_tool_text().contains(CROSS_REVIEW_MARK)
}

/// The findings (JSON objects with `id`, `raised_by`, `finding`, …) a cross-review message
/// hands a specialist, or None when the message holds no JSON list of them.
pub fn handed_findings(message: &str) -> Option<Vec<Value>> {
    let start = message.find(CROSS_REVIEW_MARK)?;
    let rest = &message[start..];
    let list = rest.find("\n[")? + 1;
    let mut de = serde_json::Deserializer::from_str(&rest[list..]).into_iter::<Vec<Value>>();
    de.next()?.ok()
}

/// The scripted model answering as `review` says, with `faults`, after `latency_ms` per
/// request. Requests it does not expect get HTTP 400 (so the run shows them).
pub fn script(review: &Review, faults: &Faults, latency_ms: u64) -> Script {
    let review = review.clone();
    let faults = faults.clone();
    Script::from_fn(move |req| {
        let Some(agent) = specialist_of(req) else {
            if is_synthesis(req) {
                if faults.lead_fails {
                    return Reply::error(
                        500,
                        r#"{"error":{"message":"scripted outage for the lead","type":"server_error"}}"#,
                    );
                }
                return Reply::text(
                    json!({"summary": review.summary, "open_questions": review.open_questions})
                        .to_string(),
                );
            }
            return Reply::error(400, r#"{"error":{"message":"unexpected request"}}"#);
        };
        if faults.failing.contains(&agent) {
            return Reply::error(
                500,
                format!(
                    r#"{{"error":{{"message":"scripted outage for {agent}","type":"server_error"}}}}"#
                ),
            );
        }
        let last = req.last_user_or_tool_text();
        if last.contains(CROSS_REVIEW_MARK) {
            let Some(handed) = handed_findings(last) else {
                return Reply::error(
                    400,
                    r#"{"error":{"message":"the cross-review message holds no findings list"}}"#,
                );
            };
            let responses: Vec<Value> = handed
                .iter()
                .map(|f| {
                    let id = f["id"].as_str().unwrap_or("?");
                    let text = f["finding"].as_str().unwrap_or("");
                    match review
                        .disputes
                        .iter()
                        .find(|d| d.who == agent && text.contains(d.of))
                    {
                        Some(d) => json!({"id": id, "verdict": "dispute", "reason": d.reason}),
                        None => {
                            json!({"id": id, "verdict": "agree", "reason": format!("{agent} agrees with {id}")})
                        }
                    }
                })
                .collect();
            let added: Vec<Value> = review
                .added
                .iter()
                .filter(|(a, _)| *a == agent)
                .map(|(_, r)| r.to_json())
                .collect();
            // Models wrap JSON in prose: the product must find it.
            return Reply::text(format!(
                "{CROSS_REVIEW_ANSWER}\n```json\n{}\n```",
                json!({"responses": responses, "added": added})
            ));
        }
        if req.turn == 1 {
            return Reply::text(review.answer_of(agent));
        }
        Reply::error(400, r#"{"error":{"message":"unexpected request"}}"#)
    })
    .with_latency_ms(latency_ms)
}

// ---------------------------------------------------------------------------------------------
// Report checks

/// The lines of the Markdown section that starts with the line `heading`, up to the next
/// heading of the same or a higher level.
pub fn md_section<'a>(md: &'a str, heading: &str) -> Option<&'a str> {
    let level = heading.chars().take_while(|c| *c == '#').count();
    let start = md
        .match_indices(heading)
        .find(|(i, _)| {
            (*i == 0 || md[..*i].ends_with('\n')) && md[i + heading.len()..].starts_with('\n')
        })
        .map(|(i, _)| i + heading.len())?;
    let rest = &md[start..];
    let end = rest
        .match_indices("\n#")
        .find(|(i, _)| {
            let hashes = rest[i + 1..].chars().take_while(|c| *c == '#').count();
            hashes <= level && rest[i + 1 + hashes..].starts_with(' ')
        })
        .map(|(i, _)| i + 1)
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The Markdown item (`- **F…**` line and its sub-items) of the finding whose text is `text`.
pub fn md_item<'a>(md: &'a str, text: &str) -> Option<&'a str> {
    let at = md.find(text)?;
    let start = md[..at].rfind("\n- **F").map(|i| i + 1)?;
    let rest = &md[start..];
    let next_item = rest[1..].find("\n- ").map(|i| i + 2);
    let blank = rest.find("\n\n").map(|i| i + 1);
    let end = next_item
        .into_iter()
        .chain(blank)
        .min()
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The heading of a severity's group in the Markdown report.
pub fn md_severity_heading(severity: &str) -> &'static str {
    match severity {
        "blocker" => "### Blockers",
        "major" => "### Major",
        "minor" => "### Minor",
        _ => "### Nits",
    }
}

/// Asserts that the Markdown report holds every expected finding under its severity with its
/// attribution, and every specialist's line.
#[track_caller]
pub fn assert_markdown_report(md: &str, review: &Review, exp: &Expected) {
    let failed = exp.specialists.iter().filter(|s| s.failed).count();
    assert!(
        md.starts_with(&format!("# spec-review report: {}\n", review.spec)),
        "title:\n{md}"
    );
    let counts = format!(
        "{} findings ({} blocker, {} major, {} minor, {} nit) from {} of {} specialists.",
        exp.findings.len(),
        exp.count("blocker"),
        exp.count("major"),
        exp.count("minor"),
        exp.count("nit"),
        exp.specialists.len() - failed,
        exp.specialists.len()
    );
    assert!(md.contains(&counts), "no `{counts}` in:\n{md}");
    let findings = md_section(md, "## Findings").unwrap_or_else(|| panic!("no Findings:\n{md}"));
    for f in &exp.findings {
        let group = md_section(findings, md_severity_heading(f.raw.severity))
            .unwrap_or_else(|| panic!("no {} group:\n{md}", f.raw.severity));
        let item = md_item(group, f.raw.finding).unwrap_or_else(|| {
            panic!(
                "finding of {} ({}) `{}` not under {}:\n{md}",
                f.raised_by,
                f.raw.severity,
                f.raw.finding,
                md_severity_heading(f.raw.severity)
            )
        });
        assert!(
            item.contains(&format!("({}): {}", f.raw.location, f.raw.finding)),
            "location of `{}`:\n{item}",
            f.raw.finding
        );
        assert!(
            item.contains(&format!("  - Suggestion: {}\n", f.raw.suggestion)),
            "suggestion of `{}`:\n{item}",
            f.raw.finding
        );
        let raised = if f.phase == "cross_review" {
            format!("  - Raised by: {} (added in cross-review)\n", f.raised_by)
        } else {
            format!("  - Raised by: {}\n", f.raised_by)
        };
        assert!(item.contains(&raised), "want `{raised}` in:\n{item}");
        if f.agreed.is_empty() {
            assert!(!item.contains("Agreed:"), "nobody agreed:\n{item}");
        } else {
            let agreed = format!("  - Agreed: {}\n", f.agreed.join(", "));
            assert!(item.contains(&agreed), "want `{agreed}` in:\n{item}");
        }
        for (who, why) in &f.disputed {
            let line = format!("  - Disputed by {who}: {why}\n");
            assert!(item.contains(&line), "want `{line}` in:\n{item}");
        }
        assert_eq!(
            item.matches("Disputed by").count(),
            f.disputed.len(),
            "disputes of `{}`:\n{item}",
            f.raw.finding
        );
    }
    let items = findings.matches("\n- **F").count() + usize::from(findings.starts_with("- **F"));
    assert_eq!(items, exp.findings.len(), "findings listed:\n{findings}");
    let specialists =
        md_section(md, "## Specialists").unwrap_or_else(|| panic!("no Specialists:\n{md}"));
    for s in &exp.specialists {
        if s.failed {
            let line = format!("- {0} ({0}): **failed**: ", s.name);
            assert!(specialists.contains(&line), "want `{line}` in:\n{md}");
        } else {
            let line = format!(
                "- {0} ({0}): completed, {1} finding(s){2}\n",
                s.name,
                s.findings,
                if s.cross_reviewed {
                    ", cross-reviewed"
                } else {
                    ""
                }
            );
            assert!(specialists.contains(&line), "want `{line}` in:\n{md}");
        }
    }
}

/// Asserts that the JSON report holds exactly the expected findings (worst first) with their
/// attribution, and every specialist.
#[track_caller]
pub fn assert_json_report(report: &Value, review: &Review, exp: &Expected) {
    assert_eq!(report["workflow"], "spec-review", "{report:#}");
    assert_eq!(report["input"], review.spec, "{report:#}");
    let findings = report["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), exp.findings.len(), "{report:#}");
    let rank = |s: &str| {
        ["blocker", "major", "minor", "nit"]
            .iter()
            .position(|x| *x == s)
    };
    let ranks: Vec<_> = findings
        .iter()
        .map(|f| rank(f["severity"].as_str().unwrap_or("")))
        .collect();
    assert!(
        ranks.windows(2).all(|w| w[0] <= w[1]),
        "findings worst first: {ranks:?}"
    );
    let mut ids = Vec::new();
    for e in &exp.findings {
        let f = findings
            .iter()
            .find(|f| f["finding"] == e.raw.finding)
            .unwrap_or_else(|| panic!("no finding `{}` in {report:#}", e.raw.finding));
        ids.push(f["id"].as_str().unwrap_or("").to_owned());
        assert_eq!(f["severity"], e.raw.severity, "{f:#}");
        assert_eq!(f["location"], e.raw.location, "{f:#}");
        assert_eq!(f["suggestion"], e.raw.suggestion, "{f:#}");
        assert_eq!(f["raised_by"], e.raised_by.as_str(), "{f:#}");
        assert_eq!(f["phase"], e.phase, "{f:#}");
        let agreed: Vec<&str> = f["agreed_by"]
            .as_array()
            .expect("agreed_by")
            .iter()
            .map(|v| v["member"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(agreed, e.agreed, "agreed_by of {f:#}");
        for v in f["agreed_by"].as_array().into_iter().flatten() {
            let who = v["member"].as_str().unwrap_or("");
            let id = f["id"].as_str().unwrap_or("");
            assert_eq!(v["reason"], format!("{who} agrees with {id}"), "{f:#}");
        }
        let disputed: Vec<(String, String)> = f["disputed_by"]
            .as_array()
            .expect("disputed_by")
            .iter()
            .map(|v| {
                (
                    v["member"].as_str().unwrap_or("").to_owned(),
                    v["reason"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        assert_eq!(disputed, e.disputed, "disputed_by of {f:#}");
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), exp.findings.len(), "ids are unique: {report:#}");
    let specialists = report["specialists"].as_array().expect("specialists");
    let names: Vec<&str> = specialists
        .iter()
        .map(|s| s["member"].as_str().unwrap_or(""))
        .collect();
    let want: Vec<&str> = exp.specialists.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, want, "{report:#}");
    for (s, e) in specialists.iter().zip(&exp.specialists) {
        assert_eq!(s["agent"], e.name.as_str(), "{s:#}");
        if e.failed {
            assert_eq!(s["status"], "failed", "{s:#}");
            assert!(s["error"].is_string(), "{s:#}");
        } else {
            assert_eq!(s["status"], "completed", "{s:#}");
            assert_eq!(s["error"], Value::Null, "{s:#}");
            assert_eq!(s["findings"], e.findings, "{s:#}");
            assert_eq!(s["cross_reviewed"], e.cross_reviewed, "{s:#}");
        }
    }
}

/// Validates `instance` against `docs/report.schema.json`; panics with every error.
#[track_caller]
pub fn assert_schema_valid(instance: &Value) {
    let errors = schema_errors(instance);
    assert!(
        errors.is_empty(),
        "the report does not match docs/report.schema.json:\n{}\n{instance:#}",
        errors.join("\n")
    );
}

/// The errors of `instance` against `docs/report.schema.json`.
pub fn schema_errors(instance: &Value) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/report.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read schema"))
        .expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The reviews of the two PEPs

/// PEP 765: findings of every severity but blocker, one dispute, one finding added in the
/// cross-review.
pub fn pep_0765() -> Review {
    Review {
        spec: "pep-0765.rst",
        spec_mark: "Title: Disallow return/break/continue that exit a finally block",
        findings: vec![
            (
                "architecture",
                vec![
                    Raw {
                        severity: "major",
                        location: "Specification",
                        finding: "The change is specified as a SyntaxWarning first and an error later, but no release timeline for the switch is defined.",
                        suggestion: "State the release in which the warning becomes a SyntaxError.",
                    },
                    Raw {
                        severity: "minor",
                        location: "Rationale",
                        finding: "The rationale relies on a corpus study whose method and sample are only summarised.",
                        suggestion: "Link the scripts and the list of projects so the numbers can be reproduced.",
                    },
                ],
            ),
            (
                "security",
                vec![Raw {
                    severity: "minor",
                    location: "Motivation",
                    finding: "Swallowed exceptions in finally blocks can hide failed permission checks; the PEP does not call this out.",
                    suggestion: "Mention exception swallowing as a security hazard in the motivation.",
                }],
            ),
            (
                "reliability",
                vec![
                    Raw {
                        severity: "major",
                        location: "Specification",
                        finding: "Code generators that emit return in finally will start warning, with no guidance for silencing it per site.",
                        suggestion: "Document how to silence the warning with the warnings filter.",
                    },
                    Raw {
                        severity: "nit",
                        location: "Examples",
                        finding: "The examples do not show the nested-function case, which the text says is allowed.",
                        suggestion: "Add an example where a function defined inside finally returns.",
                    },
                ],
            ),
            (
                "testing",
                vec![Raw {
                    severity: "minor",
                    location: "Specification",
                    finding: "The PEP does not say whether the warning is emitted once per compile or per execution.",
                    suggestion: "Specify that the warning is emitted at compile time, once per code object.",
                }],
            ),
            (
                "api-usability",
                vec![Raw {
                    severity: "minor",
                    location: "How to Teach This",
                    finding: "The warning message text is not specified; users will search for it.",
                    suggestion: "Give the exact warning message and link the documentation.",
                }],
            ),
        ],
        disputes: vec![Dispute {
            who: "testing",
            of: "corpus study",
            reason: "the corpus numbers are reproducible from the linked discussion",
        }],
        added: vec![(
            "api-usability",
            Raw {
                severity: "nit",
                location: "Abstract",
                finding: "The abstract names only return, while the title names return, break and continue.",
                suggestion: "Name all three statements in the abstract.",
            },
        )],
        summary: "The PEP is small and well motivated; its main gaps are the missing timeline for the error and guidance for generated code.",
        open_questions: vec![
            "In which release does the SyntaxWarning become a SyntaxError?",
            "Is the warning emitted once per code object at compile time?",
        ],
    }
}

/// PEP 703: a blocker among the findings, two disputes, one finding added in the cross-review.
pub fn pep_0703() -> Review {
    Review {
        spec: "pep-0703.rst",
        spec_mark: "Title: Making the Global Interpreter Lock Optional in CPython",
        findings: vec![
            (
                "architecture",
                vec![
                    Raw {
                        severity: "major",
                        location: "Build Configuration Changes",
                        finding: "Two ABI-incompatible builds double the wheels extension authors must publish, and the PEP does not say how long both are supported.",
                        suggestion: "State the support window of the two builds and the criteria for making free-threading the default.",
                    },
                    Raw {
                        severity: "minor",
                        location: "Reference Counting",
                        finding: "Biased and deferred reference counting are described separately; their interaction for immortal objects is not specified.",
                        suggestion: "Add a section on how the three schemes combine for one object.",
                    },
                ],
            ),
            (
                "security",
                vec![Raw {
                    severity: "major",
                    location: "Container Thread-Safety",
                    finding: "C extensions that relied on the GIL as a lock can race and corrupt memory; the PEP leaves detection to extension authors.",
                    suggestion: "Require extensions to declare free-threading support and re-enable the GIL for those that do not.",
                }],
            ),
            (
                "reliability",
                vec![Raw {
                    severity: "blocker",
                    location: "Py_mod_gil",
                    finding: "Importing an extension without free-threading support re-enables the GIL, but the PEP does not say what happens to threads already running Python code at that moment.",
                    suggestion: "Specify the handshake that stops running threads before the GIL is enabled.",
                }],
            ),
            (
                "testing",
                vec![Raw {
                    severity: "minor",
                    location: "Performance",
                    finding: "Single-thread overhead numbers are given, but there is no test plan for multi-threaded correctness.",
                    suggestion: "Add TSAN builds and concurrent-mutation stress tests of dict and list to CI.",
                }],
            ),
            (
                "api-usability",
                vec![Raw {
                    severity: "nit",
                    location: "Build Configuration Changes",
                    finding: "sys._is_gil_enabled() is private; users need a public way to check the build mode.",
                    suggestion: "Expose a public, documented function.",
                }],
            ),
        ],
        disputes: vec![
            Dispute {
                who: "security",
                of: "threads already running",
                reason: "the GIL is enabled during import, before code of the new module runs",
            },
            Dispute {
                who: "architecture",
                of: "sys._is_gil_enabled",
                reason: "a private helper is the usual first step for a new build mode",
            },
        ],
        added: vec![(
            "testing",
            Raw {
                severity: "minor",
                location: "Performance",
                finding: "No benchmark measures multi-threaded scaling, the point of the change.",
                suggestion: "Publish a scaling benchmark with 1 to 32 threads.",
            },
        )],
        summary: "Free-threading is well argued, but the two-build transition and the re-enabling of the GIL at import need precise rules.",
        open_questions: vec![
            "How long are both builds supported?",
            "What happens to running threads when an extension re-enables the GIL?",
        ],
    }
}
