//! The `review` engine (spec-review): review → cross-review → synthesis.
//!
//! 1. **Review**: every specialist is spawned at once as a persistent background member with
//!    the input's path and text; each answers with its findings as JSON, which reaches the
//!    lead as its turn's `result` message.
//! 2. **Cross-review**: the lead sends every specialist that succeeded the findings of the
//!    others (ids `F1`, `F2`, …) as a message, which wakes it for a second turn; it answers
//!    agree / dispute with a reason per finding and may add findings.
//! 3. **Synthesis**: the lead agent writes the summary and the open questions from all of it.
//!
//! A specialist that fails (or answers with no parsable findings) does not sink the run: the
//! report says so. The run fails only when the lead fails or no specialist succeeds. The
//! orchestration here is code acting for the lead (deterministic, so a replayed run gives the
//! same report); the specialists and the lead's synthesis are agents.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use team_core::{AgentName, MemberStatus, MessageKind};
use team_store::{NewMember, Outcome, Progress, Recipient};

use super::answers::{self, DEFAULT_MAX_REPAIRS};
use super::report::{
    CrossReviewAnswer, Finding, RawFinding, Report, ReviewAnswer, Severity, Specialist,
    SynthesisAnswer, Verdict, extract_json,
};
use super::{WorkflowDef, render};
use crate::RunnerError;
use crate::blocking::db;
use crate::command::{TurnEnd, run_turn};
use crate::engine::Engine;
use crate::runtime::Plan;
use team_provider::{AnswerFormat, CallContext, CallFacts, ChatMessage, ChatRequest};

/// How often the lead's inbox is read while a phase runs.
/// Why a member that had not answered when the token budget ran out was stopped.
pub(crate) const CUT_SHORT: &str = "stopped before it answered (token budget spent)";

/// How often `collect` looks at the lead's inbox when no in-process wake-up came (a member run
/// by another runner process notifies nobody here).
const POLL: Duration = Duration::from_millis(100);

/// A review to run on a team that exists (with its lead) and an engine serving it.
#[derive(Debug, Clone)]
pub struct ReviewRun {
    /// The workflow.
    pub def: WorkflowDef,
    /// The input's path, as given.
    pub input_path: String,
    /// The input's text.
    pub input_text: String,
    /// Parameters: the workflow's defaults overridden by `--set`.
    pub params: BTreeMap<String, String>,
    /// The team.
    pub team_id: String,
    /// Stop once the team's members used this many tokens (prompt + completion).
    pub max_tokens: Option<u64>,
}

/// How a review ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewEnd {
    /// The report is complete.
    Done,
    /// The lead's synthesis failed (the report has the findings but no synthesis).
    LeadFailed(String),
    /// No specialist produced findings.
    NoSpecialist,
    /// `max_tokens` was spent; the report holds what was gathered.
    BudgetSpent,
}

/// The report and how the run ended.
#[derive(Debug, Clone)]
pub struct ReviewOutcome {
    /// The report.
    pub report: Report,
    /// How it ended.
    pub end: ReviewEnd,
}

/// A callback told of each phase as it starts (`review`, `cross_review`, `synthesis`).
pub type PhaseFn = Arc<dyn Fn(&str) + Send + Sync>;

/// The specialists named by the `reviewers` parameter (comma-separated agent names).
pub fn reviewers(params: &BTreeMap<String, String>) -> Vec<String> {
    params
        .get("reviewers")
        .map(|r| {
            r.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) enum Collected {
    All(HashMap<String, Result<String, String>>),
    Budget(HashMap<String, Result<String, String>>),
}

/// Reads the lead's inbox until every expected member sent a result or failed.
pub(crate) async fn collect(
    engine: &Engine,
    run: &ReviewRun,
    expected: &[String],
) -> Result<Collected, RunnerError> {
    let inner = &engine.inner;
    let mut got: HashMap<String, Result<String, String>> = HashMap::new();
    let team = run.team_id.clone();
    let lead = db(&inner.store, move |s| {
        s.get_member(&team, team_core::LEAD_ALIAS)
    })
    .await?;
    let watch = inner.watch(&run.team_id, &lead.name);
    loop {
        // Arm the wake-up before looking, so a notice landing in between still wakes us.
        let notified = watch.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        absorb(inner, &run.team_id, expected, &mut got).await?;
        // The budget is checked on every look, also when the last answer just came in: the
        // tokens of an answer are recorded before the answer is sent.
        if let Some(limit) = run.max_tokens {
            let team = run.team_id.clone();
            let members = db(&inner.store, move |s| s.list_members(&team)).await?;
            let used: i64 = members.iter().map(|m| m.tokens_in + m.tokens_out).sum();
            if used as u64 >= limit {
                // Stop the members that have not answered, unless their answer landed since
                // the look (one transaction each), then keep every answer that landed.
                for name in expected.iter().filter(|e| !got.contains_key(*e)) {
                    let (team, name) = (run.team_id.clone(), name.clone());
                    db(&inner.store, move |s| {
                        s.fail_member_unless_answered(&team, &name, CUT_SHORT)
                    })
                    .await?;
                }
                absorb(inner, &run.team_id, expected, &mut got).await?;
                return Ok(Collected::Budget(got));
            }
        }
        if expected.iter().all(|e| got.contains_key(e)) {
            return Ok(Collected::All(got));
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Takes the lead's inbox and keeps the first answer (result, completion, failure or
/// cancellation) of each member in `expected`; other messages are dropped.
async fn absorb(
    inner: &crate::engine::Inner,
    team_id: &str,
    expected: &[String],
    got: &mut HashMap<String, Result<String, String>>,
) -> Result<(), RunnerError> {
    let team = team_id.to_owned();
    let msgs = db(&inner.store, move |s| {
        s.take_inbox(&team, team_core::LEAD_ALIAS, false)
    })
    .await?;
    for m in msgs {
        if !expected.contains(&m.sender) || got.contains_key(&m.sender) {
            continue;
        }
        match m.kind {
            MessageKind::Result | MessageKind::Completion => {
                let body = m
                    .body
                    .strip_prefix(&format!("[AGENT COMPLETED] {}: ", m.sender))
                    .unwrap_or(&m.body)
                    .to_owned();
                got.insert(m.sender.clone(), Ok(body));
            }
            MessageKind::Failure => {
                let body = m
                    .body
                    .strip_prefix(&format!("[AGENT FAILURE] {}: ", m.sender))
                    .unwrap_or(&m.body)
                    .to_owned();
                got.insert(m.sender.clone(), Err(body));
            }
            MessageKind::System if m.body.starts_with("[AGENT CANCELLED]") => {
                got.insert(m.sender.clone(), Err("cancelled".into()));
            }
            _ => {}
        }
    }
    Ok(())
}

pub(crate) fn vars<'a>(run: &'a ReviewRun, reviewer: &str) -> BTreeMap<&'a str, String> {
    let mut v: BTreeMap<&str, String> = run
        .params
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    v.insert("spec_path", run.input_path.clone());
    v.insert("spec_text", run.input_text.clone());
    v.insert("reviewer", reviewer.to_owned());
    v.entry("max_findings").or_insert_with(|| "8".into());
    v
}

pub(crate) fn finding_json(f: &Finding) -> serde_json::Value {
    json!({"id": f.id, "severity": f.severity.as_str(), "location": f.location, "finding": f.finding, "suggestion": f.suggestion, "raised_by": f.raised_by})
}

pub(crate) fn to_finding(raw: &RawFinding, raised_by: &str, phase: &str) -> Finding {
    Finding {
        id: String::new(),
        severity: Severity::parse(&raw.severity).unwrap_or(Severity::Minor),
        location: raw.location.trim().to_owned(),
        finding: raw.finding.trim().to_owned(),
        suggestion: raw.suggestion.trim().to_owned(),
        raised_by: raised_by.to_owned(),
        also_raised_by: Vec::new(),
        merged: Vec::new(),
        phase: phase.to_owned(),
        agreed_by: Vec::new(),
        disputed_by: Vec::new(),
    }
}

/// Runs the review to its report. The caller owns the team's end (it completes or fails the
/// team from the outcome) and races this against cancellation and its timeout.
///
/// # Errors
/// A store error, or a specialist agent that cannot be added.
pub async fn run(
    engine: &Engine,
    run: &ReviewRun,
    phase: PhaseFn,
) -> Result<ReviewOutcome, RunnerError> {
    let inner = &engine.inner;
    let names = reviewers(&run.params);
    let template = |k: &str| run.def.prompts.get(k).cloned().unwrap_or_default();

    let max_repairs: u32 = run
        .params
        .get("max_repairs")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_REPAIRS);
    let max_findings: u64 = run
        .params
        .get("max_findings")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(8);
    let mut review_format = answers::format_of::<ReviewAnswer>("review_answer");
    answers::limit_items(&mut review_format, "findings", max_findings);
    let cross_format = answers::format_of::<CrossReviewAnswer>("cross_review_answer");
    let mut repairs: HashMap<String, u32> = HashMap::new();

    // 1. Review: every specialist at once, in the background, asked for the review answer's
    //    JSON shape (structured output, where the provider offers it).
    phase("review");
    for agent in &names {
        inner.set_answer_format(&run.team_id, agent, Some(review_format.clone()));
    }
    let mut members: Vec<(String, String)> = Vec::new(); // (member, agent)
    for agent in &names {
        let new = NewMember {
            agent: AgentName::new(agent).map_err(|e| RunnerError::Other(e.to_string()))?,
            prompt: Some(render(&template("review"), &vars(run, agent))),
            persistent: true,
            timeout_secs: None,
            status: MemberStatus::Pending,
            runner_id: None,
        };
        let team = run.team_id.clone();
        let m = db(&inner.store, move |s| s.add_member(&team, &new)).await?;
        members.push((m.name, agent.clone()));
    }
    engine.notify_queued();
    let expected: Vec<String> = members.iter().map(|m| m.0.clone()).collect();
    let (answers, mut budget) = match collect(engine, run, &expected).await? {
        Collected::All(a) => (a, false),
        Collected::Budget(a) => (a, true),
    };
    let (read, spent) = settle::<ReviewAnswer>(
        engine,
        run,
        &review_format,
        answers,
        &expected,
        max_repairs,
        budget,
        &mut repairs,
    )
    .await?;
    budget |= spent;

    let mut specialists: Vec<Specialist> = Vec::new();
    let mut findings: Vec<Finding> = Vec::new();
    for (member, agent) in &members {
        let (status, error, raised) = match read.get(member) {
            Some(Ok(a)) => {
                for raw in &a.findings {
                    merge_into(&mut findings, to_finding(raw, member, "review"));
                }
                ("completed", None, a.findings.len())
            }
            Some(Err(e)) => ("failed", Some(e.clone()), 0),
            None => ("failed", Some(CUT_SHORT.to_owned()), 0),
        };
        specialists.push(Specialist {
            member: member.clone(),
            agent: agent.clone(),
            status: status.into(),
            error,
            findings: raised,
            cross_reviewed: false,
            repairs: repairs.get(member).copied().unwrap_or(0),
        });
    }
    for (i, f) in findings.iter_mut().enumerate() {
        f.id = format!("F{}", i + 1);
    }

    // 2. Cross-review: each successful specialist gets the others' findings as a message.
    let ok: Vec<String> = specialists
        .iter()
        .filter(|s| s.status == "completed")
        .map(|s| s.member.clone())
        .collect();
    if !budget && ok.len() > 1 {
        phase("cross_review");
        let mut asked = Vec::new();
        for member in &ok {
            let others: Vec<serde_json::Value> = findings
                .iter()
                .filter(|f| !f.raised(member))
                .map(finding_json)
                .collect();
            let mut v = vars(run, member);
            v.insert(
                "findings",
                serde_json::to_string_pretty(&others).unwrap_or_default(),
            );
            let body = render(&template("cross_review"), &v);
            inner.set_answer_format(&run.team_id, member, Some(cross_format.clone()));
            let sent = inner
                .send_message(
                    run.team_id.clone(),
                    team_core::LEAD_ALIAS.to_owned(),
                    Recipient::Member(member.clone()),
                    MessageKind::Text,
                    body,
                )
                .await;
            if sent.is_ok() {
                asked.push(member.clone());
            }
        }
        let answers = match collect(engine, run, &asked).await? {
            Collected::All(a) => a,
            Collected::Budget(a) => {
                budget = true;
                a
            }
        };
        let (read, spent) = settle::<CrossReviewAnswer>(
            engine,
            run,
            &cross_format,
            answers,
            &asked,
            max_repairs,
            budget,
            &mut repairs,
        )
        .await?;
        budget |= spent;
        let mut added = Vec::new();
        for member in &asked {
            let Some(Ok(a)) = read.get(member) else {
                continue;
            };
            if let Some(s) = specialists.iter_mut().find(|s| &s.member == member) {
                s.cross_reviewed = true;
            }
            for r in &a.responses {
                let Some(f) = findings
                    .iter_mut()
                    .find(|f| f.id == r.id.trim() && !f.raised(member))
                else {
                    continue;
                };
                let v = Verdict::new(member, &r.reason);
                match r.verdict.trim().to_ascii_lowercase().as_str() {
                    "agree" => f.agreed_by.push(v),
                    "dispute" => f.disputed_by.push(v),
                    _ => {}
                }
            }
            for raw in &a.added {
                added.push(to_finding(raw, member, "cross_review"));
            }
        }
        for f in added {
            if let Some(s) = specialists.iter_mut().find(|s| s.member == f.raised_by) {
                s.findings += 1;
            }
            let n = findings.len();
            if !merge_into(&mut findings, f) {
                findings[n].id = format!("F{}", next_id(&findings));
            }
        }
    }
    for s in &mut specialists {
        s.repairs = repairs.get(&s.member).copied().unwrap_or(0);
    }
    for name in names.iter().chain(expected.iter()) {
        inner.set_answer_format(&run.team_id, name, None);
    }
    // The specialists are done: complete them (they are idle, waiting for messages).
    for s in &specialists {
        let (team, name) = (run.team_id.clone(), s.member.clone());
        let outcome = match &s.error {
            None => Outcome::Completed(format!("{} finding(s)", s.findings)),
            Some(e) => Outcome::Failed(e.clone()),
        };
        let _ = db(&inner.store, move |st| {
            st.finish_member(&team, &name, &outcome)
        })
        .await;
    }
    findings.sort_by(|a, b| {
        a.severity
            .cmp(&b.severity)
            .then_with(|| id_num(&a.id).cmp(&id_num(&b.id)))
    });

    let mut report = Report {
        workflow: run.def.name.clone(),
        input: run.input_path.clone(),
        summary: String::new(),
        findings,
        open_questions: Vec::new(),
        specialists,
        notes: Vec::new(),
        rounds: Vec::new(),
    };
    if budget {
        report.notes.push(format!(
            "the token budget ({} tokens) was spent: the run stopped early and this report holds what was gathered",
            run.max_tokens.unwrap_or_default()
        ));
        report.summary =
            "The run stopped when its token budget was spent; no synthesis was written.".into();
        return Ok(ReviewOutcome {
            report,
            end: ReviewEnd::BudgetSpent,
        });
    }
    if ok.is_empty() {
        report
            .notes
            .push("no specialist produced findings: the review failed".into());
        report.summary = "No specialist produced findings.".into();
        return Ok(ReviewOutcome {
            report,
            end: ReviewEnd::NoSpecialist,
        });
    }

    // 3. Synthesis by the lead.
    phase("synthesis");
    let all: Vec<serde_json::Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut v = finding_json(f);
            v["agreed_by"] = json!(f.agreed_by.iter().map(|a| &a.member).collect::<Vec<_>>());
            v["disputed_by"] = json!(f.disputed_by);
            v
        })
        .collect();
    let mut v = vars(run, team_core::LEAD_ALIAS);
    v.insert(
        "all_findings",
        serde_json::to_string_pretty(&all).unwrap_or_default(),
    );
    let prompt = render(&template("synthesis"), &v);
    let synthesis_format = answers::format_of::<SynthesisAnswer>("synthesis_answer");
    let lead_result = synthesise(engine, run, &prompt, 1, Some(synthesis_format)).await;
    let (team, outcome, end) = match lead_result {
        Ok(text) => {
            match extract_json::<SynthesisAnswer>(&text) {
                Some(a) => {
                    report.summary = a.summary.trim().to_owned();
                    report.open_questions = a.open_questions;
                    merge_groups(&mut report.findings, &a.duplicates);
                }
                None => report.summary = text.trim().to_owned(),
            }
            (
                run.team_id.clone(),
                Outcome::Completed(report.summary.clone()),
                ReviewEnd::Done,
            )
        }
        Err(e) => {
            report.notes.push(format!("the lead failed: {e}"));
            report.summary = "The lead failed before writing the synthesis.".into();
            (
                run.team_id.clone(),
                Outcome::Failed(e.clone()),
                ReviewEnd::LeadFailed(e),
            )
        }
    };
    let _ = db(&inner.store, move |s| {
        s.finish_member(&team, team_core::LEAD_ALIAS, &outcome)
    })
    .await;
    Ok(ReviewOutcome { report, end })
}

/// Reads each member's answer as `T`; an answer that cannot be read gets repair turns (the
/// error and the schema sent back to the member, which is idle between turns) until it can,
/// or `max_repairs` were used on it (each repair is also counted in the member's total in
/// `repairs`). Members are
/// asked in name order. Returns each member's answer or why it has none, and whether the
/// token budget ran out meanwhile (no repair is asked after that).
///
/// # Errors
/// A store error.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn settle<T: serde::de::DeserializeOwned>(
    engine: &Engine,
    run: &ReviewRun,
    format: &AnswerFormat,
    mut answers: HashMap<String, Result<String, String>>,
    expected: &[String],
    max_repairs: u32,
    mut budget: bool,
    repairs: &mut HashMap<String, u32>,
) -> Result<(HashMap<String, Result<T, String>>, bool), RunnerError> {
    let mut out: HashMap<String, Result<T, String>> = HashMap::new();
    let mut spent = false;
    let mut pending: Vec<String> = expected.to_vec();
    pending.sort();
    let mut here: HashMap<String, u32> = HashMap::new();
    loop {
        let mut retry = Vec::new();
        for member in &pending {
            let text = match answers.remove(member) {
                Some(Ok(text)) => text,
                Some(Err(e)) => {
                    out.insert(member.clone(), Err(e));
                    continue;
                }
                None => {
                    out.insert(member.clone(), Err(CUT_SHORT.to_owned()));
                    continue;
                }
            };
            let error = match answers::read::<T>(&text) {
                Ok(a) => {
                    out.insert(member.clone(), Ok(a));
                    continue;
                }
                Err(e) => e,
            };
            let used = here.entry(member.clone()).or_insert(0);
            if *used < max_repairs && !budget {
                let sent = engine
                    .inner
                    .send_message(
                        run.team_id.clone(),
                        team_core::LEAD_ALIAS.to_owned(),
                        Recipient::Member(member.clone()),
                        MessageKind::Text,
                        answers::repair_prompt(&error, format),
                    )
                    .await;
                if sent.is_ok() {
                    *used += 1;
                    *repairs.entry(member.clone()).or_insert(0) += 1;
                    retry.push(member.clone());
                    continue;
                }
            }
            let after = match *used {
                0 => String::new(),
                1 => " (after 1 repair)".to_owned(),
                n => format!(" (after {n} repairs)"),
            };
            out.insert(
                member.clone(),
                Err(format!(
                    "its answer held no findings in the JSON shape asked for{after}: {error}"
                )),
            );
        }
        if retry.is_empty() {
            return Ok((out, spent));
        }
        answers = match collect(engine, run, &retry).await? {
            Collected::All(a) => a,
            Collected::Budget(a) => {
                budget = true;
                spent = true;
                a
            }
        };
        pending = retry;
    }
}

/// Lower-case words of `text` (letters and digits), one space apart: the key under which two
/// findings are the same issue.
fn normalised(text: &str) -> String {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Adds `f` to `findings`, or merges it into the finding with the same location and text
/// (normalised, [`normalised`]): its raiser joins `also_raised_by` and the worse severity
/// is kept. Returns whether it was merged.
pub(crate) fn merge_into(findings: &mut Vec<Finding>, f: Finding) -> bool {
    let key = (normalised(&f.location), normalised(&f.finding));
    if let Some(same) = findings
        .iter_mut()
        .find(|g| (normalised(&g.location), normalised(&g.finding)) == key)
    {
        if !same.raised(&f.raised_by) {
            same.also_raised_by.push(f.raised_by);
        }
        same.severity = same.severity.min(f.severity);
        return true;
    }
    findings.push(f);
    false
}

/// Applies the merges the lead proposed: each group of ids becomes the finding with the lowest
/// id among them, with every raiser, verdict and the worse severity; unknown ids and groups of
/// fewer than two known findings are ignored.
pub(crate) fn merge_groups(findings: &mut Vec<Finding>, groups: &[Vec<String>]) {
    for group in groups {
        let mut ids: Vec<String> = group
            .iter()
            .map(|id| id.trim().to_owned())
            .filter(|id| findings.iter().any(|f| &f.id == id))
            .collect();
        ids.sort_by_key(|id| id_num(id));
        ids.dedup();
        let Some((keep, rest)) = ids.split_first() else {
            continue;
        };
        for id in rest {
            let Some(pos) = findings.iter().position(|f| &f.id == id) else {
                continue;
            };
            let gone = findings.remove(pos);
            let Some(into) = findings.iter_mut().find(|f| &f.id == keep) else {
                continue;
            };
            for who in std::iter::once(gone.raised_by).chain(gone.also_raised_by) {
                if !into.raised(&who) {
                    into.also_raised_by.push(who);
                }
            }
            for v in gone.agreed_by {
                if !into.agreed_by.iter().any(|a| a.member == v.member) {
                    into.agreed_by.push(v);
                }
            }
            for v in gone.disputed_by {
                if !into.disputed_by.iter().any(|a| a.member == v.member) {
                    into.disputed_by.push(v);
                }
            }
            into.severity = into.severity.min(gone.severity);
            into.merged.push(id.clone());
            into.merged.extend(gone.merged);
        }
    }
    findings.sort_by(|a, b| {
        a.severity
            .cmp(&b.severity)
            .then_with(|| id_num(&a.id).cmp(&id_num(&b.id)))
    });
}

/// The number after the highest `F<n>` id in `findings`.
fn next_id(findings: &[Finding]) -> u64 {
    findings
        .iter()
        .map(|f| id_num(&f.id))
        .filter(|n| *n != u64::MAX)
        .max()
        .unwrap_or(0)
        + 1
}

fn id_num(id: &str) -> u64 {
    id.trim_start_matches('F').parse().unwrap_or(u64::MAX)
}

/// The lead's synthesis: one LLM call without tools (or one run of a command lead).
pub(crate) async fn synthesise(
    engine: &Engine,
    run: &ReviewRun,
    prompt: &str,
    turn: u32,
    format: Option<AnswerFormat>,
) -> Result<String, String> {
    let inner = &engine.inner;
    let def = inner
        .runtime
        .catalog
        .get(&run.def.lead)
        .map_err(|e| e.to_string())?
        .clone();
    match inner.runtime.plan(&def)? {
        Plan::Command(argv) => {
            let team_env = BTreeMap::from([
                ("TEAM_DATABASE_URL".to_owned(), inner.opts.db_url.clone()),
                ("TEAM_ID".to_owned(), run.team_id.clone()),
                ("TEAM_MEMBER".to_owned(), team_core::LEAD_ALIAS.to_owned()),
                ("TEAM_LEAD".to_owned(), team_core::LEAD_ALIAS.to_owned()),
            ]);
            // The same explicit environment as every command agent (secrets dropped).
            let env = crate::command::agent_environment(
                crate::command::process_environment(),
                &inner.runtime.provider_key_envs,
                &def.env_passthrough,
                &def.env,
                team_env,
            );
            let spec = crate::command::agent_spec(
                &argv,
                &def.instructions,
                &inner.opts.project_root,
                &run.team_id,
                team_core::LEAD_ALIAS,
                env,
            )?;
            match run_turn(&spec, prompt, &inner.shutdown, None, |_| {}).await {
                TurnEnd::Done(t) => Ok(t),
                TurnEnd::Failed(e) => Err(e),
                TurnEnd::Cancelled => Err("cancelled".into()),
                TurnEnd::TimedOut => Err("timed out".into()),
            }
        }
        Plan::Llm(model) => {
            let (provider, model_name) = inner
                .runtime
                .providers
                .resolve(&model)
                .map_err(|e| e.to_string())?;
            let ctx = CallContext::new(&run.team_id, team_core::LEAD_ALIAS, turn);
            let req = ChatRequest {
                model: model_name.clone(),
                system: def.instructions.clone(),
                messages: vec![ChatMessage::user(prompt)],
                tools: std::sync::Arc::from([]),
                temperature: def.temperature,
                max_tokens: None,
                response_format: format,
            };
            let started = std::time::Instant::now();
            let result = provider.chat(&ctx, &req).await;
            let facts =
                CallFacts::from_result(provider.name(), &model_name, started.elapsed(), &result);
            let team = run.team_id.clone();
            let _ = db(&inner.store, move |s| {
                let lead = s.get_member(&team, team_core::LEAD_ALIAS)?;
                s.record_progress(
                    &team,
                    team_core::LEAD_ALIAS,
                    lead.id,
                    &Progress {
                        turns: 1,
                        tokens_in: facts.prompt_tokens as i64,
                        tokens_out: facts.completion_tokens as i64,
                        events: vec![(
                            "provider.call".to_owned(),
                            serde_json::to_value(&facts).unwrap_or_default(),
                        )],
                        ..Progress::default()
                    },
                )
            })
            .await;
            result
                .map(|r| r.content.unwrap_or_default())
                .map_err(|e| e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::report::RawFinding;

    fn raw(severity: &str, location: &str, finding: &str) -> RawFinding {
        RawFinding {
            severity: severity.into(),
            location: location.into(),
            finding: finding.into(),
            suggestion: String::new(),
        }
    }

    #[test]
    fn the_same_issue_is_merged_with_every_raiser_and_the_worse_severity() {
        let mut all = Vec::new();
        assert!(!merge_into(
            &mut all,
            to_finding(&raw("minor", "§ 3", "No expiry."), "a", "review")
        ));
        assert!(merge_into(
            &mut all,
            to_finding(&raw("major", "§3", "no  EXPIRY"), "b", "review")
        ));
        // The same member twice: one raiser.
        assert!(merge_into(
            &mut all,
            to_finding(&raw("nit", "§ 3", "No expiry!"), "b", "review")
        ));
        assert!(!merge_into(
            &mut all,
            to_finding(&raw("nit", "§ 4", "No expiry."), "c", "review")
        ));
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].also_raised_by, ["b"]);
        assert_eq!(all[0].severity, Severity::Major);
    }

    #[test]
    fn the_leads_merges_keep_the_lowest_id_and_ignore_unknown_ones() {
        let mut all: Vec<Finding> = ["x", "y", "z"]
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut f = to_finding(&raw("minor", "", t), &format!("m{i}"), "review");
                f.id = format!("F{}", i + 1);
                f
            })
            .collect();
        all[2].severity = Severity::Blocker;
        all[2].agreed_by.push(Verdict {
            member: "m0".into(),
            reason: "yes".into(),
        });
        merge_groups(
            &mut all,
            &[
                vec!["F3".into(), "F2".into()],
                vec!["F1".into(), "F7".into()],
            ],
        );
        let ids: Vec<&str> = all.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["F2", "F1"], "F2 took F3's blocker severity");
        assert_eq!(all[0].merged, ["F3"]);
        assert_eq!(all[0].also_raised_by, ["m2"]);
        assert_eq!(all[0].agreed_by[0].member, "m0");
        assert!(all[1].merged.is_empty());
    }
}
