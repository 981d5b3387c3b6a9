//! The report as one self-contained HTML page: no external asset (the CSS and the few lines
//! of JavaScript are inline), so it can be kept as a CI artifact and opened anywhere.
//!
//! The page: the counts and notes, the lead's summary, the findings grouped by severity with
//! filters (severity check boxes, a specialist menu; also read from the address,
//! `report.html#severity=blocker,major&specialist=testing`), the open questions, the
//! cross-review (who raised, agreed with and disputed each finding, the reasons as tooltips),
//! the specialists, and the tokens and timings of every member when the run's facts are given
//! ([`RunFacts`]: the report itself holds none, so a replay gives the same report).
//!
//! Every text on the page comes from models or users: it is written through `maud`'s
//! templates, which escape every value spliced into the page; only the constant CSS and
//! script go in unescaped.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::{Finding, Report, Severity};

/// The tokens and timings of a run, from the store (the report holds none).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunFacts {
    /// The team's name.
    pub team: String,
    /// From the team's creation to its end (or now), in ms.
    pub wall_ms: i64,
    /// Every member, the lead first, in creation order.
    pub members: Vec<MemberFacts>,
}

/// One member's part in [`RunFacts`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberFacts {
    /// Member name.
    pub name: String,
    /// Agent name.
    pub agent: String,
    /// `lead` or `member`.
    pub role: String,
    /// Its lifecycle state.
    pub status: String,
    /// Turns taken.
    pub turns: i64,
    /// Prompt tokens.
    pub tokens_in: i64,
    /// Completion tokens.
    pub tokens_out: i64,
    /// Time spent running, in ms.
    pub busy_ms: i64,
    /// From its creation to its end (or now), in ms.
    pub elapsed_ms: i64,
}

impl RunFacts {
    /// The facts of `team` and its `members` as the store has them; `now_ms` ends what has not
    /// ended.
    pub fn new(team: &team_core::Team, members: &[team_core::Member], now_ms: i64) -> RunFacts {
        RunFacts {
            team: team.name.clone(),
            wall_ms: team.ended_at_ms.unwrap_or(now_ms) - team.created_at_ms,
            members: members
                .iter()
                .map(|m| MemberFacts {
                    name: m.name.clone(),
                    agent: m.agent.clone(),
                    role: m.role.to_string(),
                    status: m.status.to_string(),
                    turns: m.turns,
                    tokens_in: m.tokens_in,
                    tokens_out: m.tokens_out,
                    busy_ms: m.busy_ms,
                    elapsed_ms: m.elapsed_ms(now_ms),
                })
                .collect(),
        }
    }
}

/// A duration in ms for people: `850 ms`, `2.5 s`, `3 min 5 s`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

const CSS: &str = r#"
:root { --blocker: #b00020; --major: #d9480f; --minor: #b08900; --nit: #5c7080; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
  max-width: 72rem; margin: 0 auto; padding: 1.5rem; background: #fff; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; word-break: break-word; }
h2 { font-size: 1.25rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; margin-top: 2rem; }
h3 { font-size: 1.05rem; margin: 1.25rem 0 .5rem; }
.counts { color: #57606a; margin: 0; }
.note { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 6px; padding: .5rem .75rem; }
#filters { display: flex; flex-wrap: wrap; gap: .75rem 1.5rem; align-items: center; background: #f6f8fa;
  border: 1px solid var(--line); border-radius: 6px; padding: .5rem .75rem; }
#filters fieldset { border: 0; margin: 0; padding: 0; display: flex; gap: .75rem; flex-wrap: wrap; }
#filters legend { float: left; margin-right: .5rem; font-weight: 600; }
#shown { color: #57606a; margin-left: auto; }
.finding { border: 1px solid var(--line); border-left: 6px solid var(--nit); border-radius: 6px;
  padding: .5rem .9rem; margin: .6rem 0; }
.finding[data-severity=blocker] { border-left-color: var(--blocker); }
.finding[data-severity=major] { border-left-color: var(--major); }
.finding[data-severity=minor] { border-left-color: var(--minor); }
.finding p { margin: .3rem 0; white-space: pre-wrap; word-break: break-word; }
.finding ul { margin: .3rem 0; padding-left: 1.2rem; color: #424a53; }
.id { font-weight: 700; }
.sev { display: inline-block; font-size: .8rem; font-weight: 600; color: #fff; border-radius: 1em;
  padding: 0 .6em; background: var(--nit); }
.sev.blocker { background: var(--blocker); } .sev.major { background: var(--major); }
.sev.minor { background: var(--minor); }
.loc { color: #57606a; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; font-size: .93rem; }
th, td { border: 1px solid var(--line); padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.raised { background: #ddf4ff; } td.agreed { background: #dafbe1; } td.disputed { background: #ffebe9; }
.failed { color: var(--blocker); font-weight: 600; }
footer { margin-top: 2rem; color: #57606a; font-size: .85rem; }
"#;

const SCRIPT: &str = r#"
(function () {
  var boxes = Array.prototype.slice.call(document.querySelectorAll('#filters input[name=severity]'));
  var select = document.getElementById('specialist');
  var shown = document.getElementById('shown');
  var none = document.getElementById('none');
  function apply() {
    var sev = {};
    boxes.forEach(function (b) { sev[b.value] = b.checked; });
    var who = select.value, n = 0, total = 0;
    document.querySelectorAll('article.finding').forEach(function (a) {
      total++;
      var ok = sev[a.dataset.severity] && (!who || a.dataset.raisers.split(' ').indexOf(who) >= 0);
      a.hidden = !ok;
      if (ok) n++;
    });
    document.querySelectorAll('section.group').forEach(function (g) {
      g.hidden = !g.querySelector('article.finding:not([hidden])');
    });
    shown.textContent = n + ' of ' + total + ' findings shown';
    none.hidden = n > 0 || total === 0;
  }
  var h = new URLSearchParams(location.hash.slice(1));
  if (h.has('severity')) {
    var want = h.get('severity').split(',');
    boxes.forEach(function (b) { b.checked = want.indexOf(b.value) >= 0; });
  }
  if (h.has('specialist')) select.value = h.get('specialist');
  boxes.forEach(function (b) { b.addEventListener('change', apply); });
  select.addEventListener('change', apply);
  apply();
})();
"#;

/// The heading of a severity's group.
fn group_title(s: Severity) -> &'static str {
    match s {
        Severity::Blocker => "Blockers",
        Severity::Major => "Major",
        Severity::Minor => "Minor",
        Severity::Nit => "Nits",
    }
}

/// Everyone who raised `f`, first raiser first.
fn raisers(f: &Finding) -> Vec<&str> {
    let mut r = vec![f.raised_by.as_str()];
    r.extend(f.also_raised_by.iter().map(String::as_str));
    r
}

fn finding(f: &Finding) -> Markup {
    let sev = f.severity.as_str();
    html! {
        article.finding id=(f.id) data-severity=(sev) data-raisers=(raisers(f).join(" ")) {
            div {
                span.id { (f.id) } " "
                span.sev.(sev) { (sev) }
                @if !f.location.trim().is_empty() {
                    " " span.loc { (f.location.trim()) }
                }
            }
            p.text { (f.finding.trim()) }
            @if !f.suggestion.trim().is_empty() {
                p.suggestion { strong { "Suggestion: " } (f.suggestion.trim()) }
            }
            ul {
                li {
                    "Raised by: " (raisers(f).join(", "))
                    @if f.phase == "cross_review" { " (added in cross-review)" }
                }
                @if !f.agreed_by.is_empty() {
                    li {
                        "Agreed: "
                        (f.agreed_by.iter().map(|v| v.member.as_str()).collect::<Vec<_>>().join(", "))
                    }
                }
                @for d in &f.disputed_by {
                    li {
                        "Disputed by " (d.member)
                        @if !d.said().is_empty() { ": " (d.said()) }
                    }
                }
                @if !f.merged.is_empty() {
                    li { "Merged: " (f.merged.join(", ")) }
                }
            }
        }
    }
}

/// The cross-review cell of `member` for `f`: its class, text and the reason given.
fn verdict_of<'a>(f: &'a Finding, member: &str) -> (&'static str, &'static str, &'a str) {
    if f.raised(member) {
        return ("raised", "raised", "");
    }
    if let Some(v) = f.agreed_by.iter().find(|v| v.member == member) {
        return ("agreed", "agreed", v.said());
    }
    if let Some(v) = f.disputed_by.iter().find(|v| v.member == member) {
        return ("disputed", "disputed", v.said());
    }
    ("", "\u{2014}", "")
}

impl Report {
    /// The report as one self-contained HTML page (module docs); `facts` adds the tokens and
    /// timings of the run.
    pub fn to_html(&self, facts: Option<&RunFacts>) -> String {
        let count = |s: Severity| self.findings.iter().filter(|f| f.severity == s).count();
        let ok = self
            .specialists
            .iter()
            .filter(|s| s.status == "completed")
            .count();
        let title = format!("{} report: {}", self.workflow, self.input);
        let member = |name: &str| facts.and_then(|x| x.members.iter().find(|m| m.name == name));
        let page = html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) }
                    style { (PreEscaped(CSS)) }
                }
                body {
                    header {
                        h1 { (title) }
                        p.counts {
                            (self.findings.len()) " findings ("
                            (Severity::ALL.iter().map(|s| format!("{} {}", count(*s), s.as_str())).collect::<Vec<_>>().join(", "))
                            ") from " (ok) " of " (self.specialists.len()) " specialists."
                        }
                    }
                    @for n in &self.notes {
                        p.note { strong { "Note: " } (n) }
                    }
                    section #summary {
                        h2 { "Summary" }
                        p { (self.summary.trim()) }
                    }
                    section #findings {
                        h2 { "Findings" }
                        form #filters {
                            fieldset {
                                legend { "Severity" }
                                @for s in Severity::ALL {
                                    label {
                                        input type="checkbox" name="severity" value=(s.as_str()) checked;
                                        " " (s.as_str()) " (" (count(s)) ")"
                                    }
                                }
                            }
                            label {
                                strong { "Specialist " }
                                select #specialist {
                                    option value="" { "all" }
                                    @for s in &self.specialists {
                                        option value=(s.member) { (s.member) }
                                    }
                                }
                            }
                            output #shown {
                                (self.findings.len()) " of " (self.findings.len()) " findings shown"
                            }
                        }
                        @if self.findings.is_empty() {
                            p { "No findings." }
                        }
                        p #none hidden { "No finding matches the filters." }
                        @for s in Severity::ALL {
                            @let group: Vec<&Finding> = self.findings.iter().filter(|f| f.severity == s).collect();
                            @if !group.is_empty() {
                                section.group data-severity=(s.as_str()) {
                                    h3 { (group_title(s)) " (" (group.len()) ")" }
                                    @for f in group { (finding(f)) }
                                }
                            }
                        }
                    }
                    section #questions {
                        h2 { "Open questions" }
                        @if self.open_questions.is_empty() {
                            p { "None." }
                        } @else {
                            ul { @for q in &self.open_questions { li { (q.trim()) } } }
                        }
                    }
                    @if !self.findings.is_empty() && !self.specialists.is_empty() {
                        section #cross-review {
                            h2 { "Cross-review" }
                            table {
                                thead {
                                    tr {
                                        th { "Finding" }
                                        @for s in &self.specialists { th { (s.member) } }
                                    }
                                }
                                tbody {
                                    @for f in &self.findings {
                                        tr {
                                            td { a href=(format!("#{}", f.id)) { (f.id) } " " (f.severity.as_str()) }
                                            @for s in &self.specialists {
                                                @let (class, text, why) = verdict_of(f, &s.member);
                                                @if why.is_empty() {
                                                    td class=(class) { (text) }
                                                } @else {
                                                    td class=(class) title=(why) { (text) }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    section #specialists {
                        h2 { "Specialists" }
                        table {
                            thead {
                                tr {
                                    th { "Member" } th { "Agent" } th { "Status" } th { "Findings" }
                                    th { "Cross-reviewed" } th { "Repairs" } th { "Tokens (prompt / completion)" }
                                    th { "Busy" }
                                }
                            }
                            tbody {
                                @for s in &self.specialists {
                                    tr {
                                        td { (s.member) }
                                        td { (s.agent) }
                                        @if let Some(e) = &s.error {
                                            td.failed { "failed: " (e.trim()) }
                                        } @else {
                                            td { (s.status) }
                                        }
                                        td.num { (s.findings) }
                                        td { @if s.cross_reviewed { "yes" } @else { "no" } }
                                        td.num { (s.repairs) }
                                        @if let Some(m) = member(&s.member) {
                                            td.num { (m.tokens_in) " / " (m.tokens_out) }
                                            td.num { (duration(m.busy_ms)) }
                                        } @else {
                                            td { "\u{2014}" } td { "\u{2014}" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if !self.rounds.is_empty() {
                        section #rounds {
                            h2 { "Rounds" }
                            @for r in &self.rounds {
                                h3 { "Round " (r.round) }
                                ul {
                                    @for f in &r.findings {
                                        li {
                                            (f.id) " [" (f.severity.as_str()) "] (" (f.location) ") " (f.finding.trim())
                                            " (raised by " (f.raised_by) "): " strong { (f.decision) } ": " (f.reason.trim())
                                        }
                                    }
                                    li { "fixer: " (r.fixer) }
                                    @if let Some(t) = &r.test {
                                        li {
                                            "test " code { (t.command) } ": "
                                            @if t.passed { "passed" } @else { "failed" }
                                            " (exit " (t.exit_code) ")"
                                        }
                                    }
                                    @if let Some(c) = &r.commit { li { "commit " (c) } }
                                }
                            }
                        }
                    }
                    section #run {
                        h2 { "Tokens and timings" }
                        @if let Some(x) = facts {
                            @let tin: i64 = x.members.iter().map(|m| m.tokens_in).sum();
                            @let tout: i64 = x.members.iter().map(|m| m.tokens_out).sum();
                            @let busy: i64 = x.members.iter().map(|m| m.busy_ms).sum();
                            p {
                                "Team " (x.team) ": wall time " (duration(x.wall_ms))
                                "; tokens " (tin) " prompt / " (tout) " completion"
                                "; parallel speedup " (format!("{:.1}", busy as f64 / x.wall_ms.max(1) as f64))
                                "x (member busy time / wall time)."
                            }
                            table {
                                thead {
                                    tr {
                                        th { "Member" } th { "Agent" } th { "Role" } th { "Status" } th { "Turns" }
                                        th { "Prompt tokens" } th { "Completion tokens" } th { "Busy" } th { "Elapsed" }
                                    }
                                }
                                tbody {
                                    @for m in &x.members {
                                        tr {
                                            td { (m.name) } td { (m.agent) } td { (m.role) } td { (m.status) }
                                            td.num { (m.turns) } td.num { (m.tokens_in) } td.num { (m.tokens_out) }
                                            td.num { (duration(m.busy_ms)) } td.num { (duration(m.elapsed_ms)) }
                                        }
                                    }
                                }
                            }
                        } @else {
                            p { "Not recorded with this report." }
                        }
                    }
                    footer { "Written by team." }
                    script { (PreEscaped(SCRIPT)) }
                }
            }
        };
        page.into_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Specialist, Verdict};

    fn report(text: &str) -> Report {
        Report {
            workflow: "spec-review".into(),
            input: "spec <1>.md".into(),
            summary: "It is <b>fine</b> & good.".into(),
            findings: vec![Finding {
                id: "F1".into(),
                severity: Severity::Major,
                location: "\"§ 2\"".into(),
                finding: text.into(),
                suggestion: "Use '&amp;'.".into(),
                raised_by: "security".into(),
                also_raised_by: Vec::new(),
                merged: Vec::new(),
                phase: "review".into(),
                agreed_by: Vec::new(),
                disputed_by: vec![Verdict {
                    member: "testing".into(),
                    reason: "testing: \"><script>alert(2)</script>".into(),
                }],
            }],
            open_questions: vec!["<iframe src=x>".into()],
            specialists: vec![
                Specialist {
                    member: "security".into(),
                    agent: "security".into(),
                    status: "completed".into(),
                    error: None,
                    findings: 1,
                    cross_reviewed: true,
                    repairs: 0,
                },
                Specialist {
                    member: "testing".into(),
                    agent: "testing".into(),
                    status: "completed".into(),
                    error: None,
                    findings: 0,
                    cross_reviewed: true,
                    repairs: 0,
                },
            ],
            notes: Vec::new(),
            rounds: Vec::new(),
        }
    }

    #[test]
    fn every_text_is_escaped() {
        let page = report("<script>alert(1)</script><img src=x onerror=alert(3)>").to_html(None);
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(!page.contains("<iframe"), "{page}");
        assert!(!page.contains("<b>fine"), "{page}");
        assert!(
            page.contains(
                "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(3)&gt;"
            )
        );
        // In an attribute (the reason's tooltip), a quote cannot end it.
        assert!(
            page.contains("title=\"&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;\""),
            "{page}"
        );
        assert!(page.contains("It is &lt;b&gt;fine&lt;/b&gt; &amp; good."));
        assert!(page.contains("Use '&amp;amp;'."));
        // The only script is ours.
        assert_eq!(page.matches("<script").count(), 1);
    }

    #[test]
    fn the_page_is_self_contained() {
        let page = report("x").to_html(Some(&RunFacts::default()));
        for outside in [
            " src=\"",
            "<link",
            "href=\"http",
            "href=\"//",
            "@import",
            "url(",
        ] {
            assert!(!page.contains(outside), "`{outside}` in {page}");
        }
        assert!(page.starts_with("<!DOCTYPE html>"));
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(2500), "2.5 s");
        assert_eq!(duration(185_000), "3 min 5 s");
        assert_eq!(duration(-5), "0 ms");
    }
}
