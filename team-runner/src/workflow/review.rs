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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use team_core::{AgentName, MemberStatus, MessageKind};
use team_store::{NewMember, Outcome, Recipient};

use super::answers::extract_json;
use super::answers::{self, DEFAULT_MAX_REPAIRS};
use super::findings::{finding_json, id_num, merge_groups, merge_into, next_id, to_finding};
use super::{WorkflowDef, render};
use crate::RunnerError;
use crate::blocking::db;
use crate::engine::Engine;
use team_provider::AnswerFormat;
use team_report::{
    CrossReviewAnswer, Finding, Report, ReviewAnswer, Specialist, SynthesisAnswer, Verdict,
};

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
    /// Take up a run an interruption stopped (`team run --resume`): the team's members are
    /// looked up instead of added, and the answers they sent before are read again.
    pub resume: bool,
    /// What the run has read of each member's answers (see [`AnswerLog`]).
    pub answers: AnswerLog,
    /// Stop once the team's members spent this many US dollars (`--max-cost`: their
    /// `provider.call` events at the `[prices]` of the configuration).
    pub max_cost: Option<f64>,
}

/// Where the run is in each member's answers to the lead: the id of the last message it took
/// as that member's answer. The lead's messages are read by this cursor, not by a take, so
/// that a resumed run reads the answers that reached the lead before the interruption again,
/// in the same order per member, and so makes the same report (each collect takes, per
/// expected member, its first answer after its cursor).
#[derive(Debug, Clone, Default)]
pub struct AnswerLog(Arc<parking_lot::Mutex<HashMap<String, i64>>>);

impl AnswerLog {
    fn cursor(&self, member: &str) -> i64 {
        self.0.lock().get(member).copied().unwrap_or(0)
    }

    fn advance(&self, member: &str, id: i64) {
        self.0.lock().insert(member.to_owned(), id);
    }
}

/// The key of the workflow's send `what` to `member` (`cross_review`, `repair-2`): a keyed
/// send is made once, so a resumed run does not send again what the interrupted one sent.
pub(crate) fn send_key(what: &str, member: &str) -> String {
    format!("workflow:{what}:{member}")
}

impl ReviewRun {
    /// The budget a stopped run names in its report: `the token budget (N tokens)` or `the
    /// money budget ($X)`.
    pub fn budget_text(&self) -> String {
        match (self.max_tokens, self.max_cost) {
            (Some(n), _) => format!("the token budget ({n} tokens)"),
            (None, Some(usd)) => format!("the money budget (${usd})"),
            (None, None) => "the budget".to_owned(),
        }
    }
}

/// How much of its budgets a run used, as [`collect`] looks.
struct BudgetUse {
    /// The share of the most used budget, in percent.
    percent: f64,
    /// The `budget.warning` payload's fields for that budget.
    fields: serde_json::Value,
    /// The notice's words (`90 of 100 tokens`).
    words: String,
}

/// The run's budget use: tokens from the members' counters, money from the `provider.call`
/// events at `[prices]` (a model without a price counts nothing). `None` without budgets.
async fn budget_use(
    ctx: &crate::context::Context,
    run: &ReviewRun,
) -> Result<Option<BudgetUse>, RunnerError> {
    let mut worst: Option<BudgetUse> = None;
    let mut keep = |u: BudgetUse| {
        if worst.as_ref().is_none_or(|w| u.percent > w.percent) {
            worst = Some(u);
        }
    };
    if let Some(limit) = run.max_tokens {
        let team = run.team_id.clone();
        let members = db(&ctx.store, move |s| s.list_members(&team)).await?;
        let used: i64 = members.iter().map(|m| m.tokens_in + m.tokens_out).sum();
        let used = used.max(0) as u64;
        keep(BudgetUse {
            percent: used as f64 * 100.0 / limit.max(1) as f64,
            fields: serde_json::json!({"used_tokens": used, "max_tokens": limit}),
            words: format!("{used} of {limit} tokens"),
        });
    }
    if let Some(limit) = run.max_cost {
        let team = run.team_id.clone();
        let prices = ctx.runtime.prices.clone();
        let spent = db(&ctx.store, move |s| {
            let mut usd = 0.0;
            for e in s.list_events(Some(&team), 0, i64::MAX)? {
                if e.kind == crate::budget::CALL_EVENT {
                    usd += crate::budget::call_cost(&prices, &e.payload).unwrap_or(0.0);
                }
            }
            Ok(usd)
        })
        .await?;
        keep(BudgetUse {
            percent: if limit > 0.0 {
                spent * 100.0 / limit
            } else {
                100.0
            },
            fields: serde_json::json!({"used_usd": spent, "max_usd": limit}),
            words: format!("${spent:.4} of ${limit}"),
        });
    }
    Ok(worst)
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

/// The share of a run's token budget (`--max-tokens`) at which a `budget.warning` event is
/// written and the lead is told, once per run.
pub(crate) const WARN_PERCENT: u64 = 80;

/// The event of [`WARN_PERCENT`].
pub(crate) const BUDGET_WARNING_EVENT: &str = "budget.warning";

/// Writes the `budget.warning` event and tells the lead (a `system` message
/// `[BUDGET] …`), unless the team already has that event.
async fn warn_budget(
    ctx: &crate::context::Context,
    team_id: &str,
    used: &BudgetUse,
) -> Result<(), RunnerError> {
    let team = team_id.to_owned();
    let mut payload = used.fields.clone();
    if let Some(o) = payload.as_object_mut() {
        o.insert("percent".into(), WARN_PERCENT.into());
    }
    let body = format!(
        "[BUDGET] {WARN_PERCENT}% of the run's budget is used ({}); at 100% the members that \
         have not answered are stopped",
        used.words
    );
    db(&ctx.store, move |s| {
        let seen = s
            .list_events(Some(&team), 0, i64::MAX)?
            .iter()
            .any(|e| e.kind == BUDGET_WARNING_EVENT);
        if seen {
            return Ok(());
        }
        s.append_event(
            Some(&team),
            Some(team_core::LEAD_ALIAS),
            BUDGET_WARNING_EVENT,
            payload,
        )?;
        s.send_message(
            &team,
            &team_store::Outgoing {
                from: team_store::SYSTEM_SENDER,
                to: team_store::Recipient::Member(team_core::LEAD_ALIAS.to_owned()),
                kind: team_core::MessageKind::System,
                body: &body,
            },
        )?;
        Ok(())
    })
    .await?;
    Ok(())
}

/// Reads the lead's inbox until every expected member sent a result or failed.
pub(crate) async fn collect(
    engine: &Engine,
    run: &ReviewRun,
    expected: &[String],
) -> Result<Collected, RunnerError> {
    let ctx = engine.context();
    let mut got: HashMap<String, Result<String, String>> = HashMap::new();
    let team = run.team_id.clone();
    let lead = db(&ctx.store, move |s| {
        s.get_member(&team, team_core::LEAD_ALIAS)
    })
    .await?;
    let watch = ctx.watch(&run.team_id, &lead.name);
    loop {
        // Arm the wake-up before looking, so a notice landing in between still wakes us.
        let notified = watch.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        absorb(ctx, &run.team_id, expected, &mut got, &run.answers).await?;
        // The budget is checked on every look, also when the last answer just came in: the
        // tokens of an answer are recorded before the answer is sent.
        if let Some(used) = budget_use(ctx, run).await? {
            if used.percent >= WARN_PERCENT as f64 && used.percent < 100.0 {
                warn_budget(ctx, &run.team_id, &used).await?;
            }
            if used.percent >= 100.0 {
                // Stop the members that have not answered, unless their answer landed since
                // the look (one transaction each), then keep every answer that landed.
                for name in expected.iter().filter(|e| !got.contains_key(*e)) {
                    let (team, name) = (run.team_id.clone(), name.clone());
                    db(&ctx.store, move |s| {
                        s.fail_member_unless_answered(&team, &name, CUT_SHORT)
                    })
                    .await?;
                }
                absorb(ctx, &run.team_id, expected, &mut got, &run.answers).await?;
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

/// Marks the lead's inbox read and keeps, for each member in `expected` that has none yet,
/// its first answer (result, completion, failure or cancellation) after its cursor in
/// `log`; other messages are left.
async fn absorb(
    ctx: &crate::context::Context,
    team_id: &str,
    expected: &[String],
    got: &mut HashMap<String, Result<String, String>>,
    log: &AnswerLog,
) -> Result<(), RunnerError> {
    let team = team_id.to_owned();
    let waiting: Vec<String> = expected
        .iter()
        .filter(|e| !got.contains_key(*e))
        .cloned()
        .collect();
    let Some(from) = waiting.iter().map(|e| log.cursor(e)).min() else {
        return Ok(());
    };
    let expected: HashSet<&str> = expected.iter().map(String::as_str).collect();
    let msgs = db(&ctx.store, move |s| {
        s.take_inbox(&team, team_core::LEAD_ALIAS, false)?;
        // Only the messages of the members still waited for: the answers already kept are
        // not read again at every wake (a 1000-member fan-out's lead read its whole inbox
        // each time).
        if waiting.len() <= team_store::MAX_SENDERS {
            s.inbox_after_from(
                &team,
                team_core::LEAD_ALIAS,
                from,
                i64::from(u32::MAX),
                &waiting,
            )
        } else {
            s.inbox_after(&team, team_core::LEAD_ALIAS, from, i64::from(u32::MAX))
        }
    })
    .await?;
    for m in msgs {
        if !expected.contains(m.sender.as_str())
            || got.contains_key(&m.sender)
            || m.id <= log.cursor(&m.sender)
        {
            continue;
        }
        let answer = matches!(
            m.kind,
            MessageKind::Result | MessageKind::Completion | MessageKind::Failure
        ) || (m.kind == MessageKind::System
            && m.body.starts_with("[AGENT CANCELLED]"));
        if answer {
            log.advance(&m.sender, m.id);
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
    let ctx = engine.context();
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
        ctx.formats
            .set(&run.team_id, agent, Some(review_format.clone()));
    }
    let mut members: Vec<(String, String)> = Vec::new(); // (member, agent)
    // A resumed run finds the specialists the interrupted one added (in order, one per
    // name of `reviewers`) and adds only those it had not added yet.
    let mut existing = if run.resume {
        let team = run.team_id.clone();
        db(&ctx.store, move |s| s.list_members(&team))
            .await?
            .into_iter()
            .filter(|m| m.role == team_core::Role::Member)
            .collect::<Vec<_>>()
    } else {
        Vec::new()
    };
    for agent in &names {
        if let Some(i) = existing.iter().position(|m| &m.agent == agent) {
            let m = existing.remove(i);
            members.push((m.name, agent.clone()));
            continue;
        }
        let new = NewMember {
            agent: AgentName::new(agent).map_err(|e| RunnerError::Other(e.to_string()))?,
            prompt: Some(render(&template("review"), &vars(run, agent))),
            persistent: true,
            timeout_secs: None,
            status: MemberStatus::Pending,
            runner_id: None,
        };
        let team = run.team_id.clone();
        let spec = ctx.runtime.retry_spec(agent);
        let m = db(&ctx.store, move |s| {
            s.add_member_with_spec(&team, &new, &spec)
        })
        .await?;
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
            ctx.formats
                .set(&run.team_id, member, Some(cross_format.clone()));
            let sent = ctx
                .send_message_keyed(
                    run.team_id.clone(),
                    team_core::LEAD_ALIAS.to_owned(),
                    Recipient::Member(member.clone()),
                    MessageKind::Text,
                    body,
                    send_key("cross_review", member),
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
        ctx.formats.set(&run.team_id, name, None);
    }
    // The specialists are done: complete them (they are idle, waiting for messages).
    for s in &specialists {
        let (team, name) = (run.team_id.clone(), s.member.clone());
        let outcome = match &s.error {
            None => Outcome::Completed(format!("{} finding(s)", s.findings)),
            Some(e) => Outcome::Failed(e.clone()),
        };
        let _ = db(&ctx.store, move |st| {
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
            "{} was spent: the run stopped early and this report holds what was gathered",
            run.budget_text()
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
    let _ = db(&ctx.store, move |s| {
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
                let n = repairs.get(member).copied().unwrap_or(0) + 1;
                let sent = engine
                    .context()
                    .send_message_keyed(
                        run.team_id.clone(),
                        team_core::LEAD_ALIAS.to_owned(),
                        Recipient::Member(member.clone()),
                        MessageKind::Text,
                        answers::repair_prompt(&error, format),
                        send_key(&format!("repair-{n}"), member),
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

/// The lead's synthesis (or triage): one turn of the lead agent answering `prompt` itself
/// ([`crate::turn::lead_turn`]: the same turn as a member's, with no tools and one model
/// call numbered `call`).
pub(crate) async fn synthesise(
    engine: &Engine,
    run: &ReviewRun,
    prompt: &str,
    call: u32,
    format: Option<AnswerFormat>,
) -> Result<String, String> {
    crate::turn::lead_turn(
        engine.context(),
        &run.team_id,
        &run.def.lead,
        prompt,
        call,
        format,
    )
    .await
}
