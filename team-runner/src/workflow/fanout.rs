//! The `fanout` engine: N members of one agent, each one turn, then one synthesis by the lead.
//! It measures the orchestrator (bench/), and is the simplest "split the work, merge the
//! results" workflow.
//!
//! Parameters: `count` (members, default 10), `agent` (their agent, default `worker`); prompt
//! templates `member` (placeholder `{i}`, 1-based) and `synthesis` (`{results}`).
//!
//! A resumed run (`team run --resume`) looks up the members the interrupted one added
//! ([`Roster`]) and adds only the rest, reads the answers they gave by the lead's cursor, and
//! takes the lead's synthesis from the [`Journal`] when it was written before the
//! interruption.

use std::collections::BTreeMap;
use team_core::{AgentName, MemberStatus};
use team_store::{NewMember, Outcome};

use super::journal::{Journal, Roster};
use super::render;
use super::review::{Collected, PhaseFn, ReviewEnd, ReviewOutcome, ReviewRun, collect};
use crate::RunnerError;
use crate::blocking::db;
use crate::engine::Engine;
use team_report::{Report, Specialist};

/// Runs a fan-out to its report (the lead's synthesis as summary; members as specialists).
///
/// # Errors
/// A store error, or a bad `count` / `agent` parameter.
pub async fn run(
    engine: &Engine,
    run: &ReviewRun,
    phase: PhaseFn,
) -> Result<ReviewOutcome, RunnerError> {
    let ctx = engine.context();
    let count: usize = run
        .params
        .get("count")
        .map_or(Ok(10), |c| c.trim().parse())
        .map_err(|_| RunnerError::Other("parameter `count` must be a whole number".into()))?;
    let agent = run
        .params
        .get("agent")
        .cloned()
        .unwrap_or_else(|| "worker".into());
    let agent = AgentName::new(&agent).map_err(|e| RunnerError::Other(e.to_string()))?;
    let member_t = run
        .def
        .prompts
        .get("member")
        .cloned()
        .unwrap_or_else(|| "Task {i}.".into());
    phase("fanout");
    // A resumed run finds the members the interrupted one added (in one batch, in order).
    let mut roster = Roster::load(engine, run).await?;
    let journal = Journal::load(engine, run).await?;
    let mut names: Vec<String> = Vec::new();
    let mut news: Vec<NewMember> = Vec::new();
    for i in 1..=count {
        if let Some(name) = roster.take(agent.as_str()) {
            names.push(name);
            continue;
        }
        news.push(NewMember {
            agent: agent.clone(),
            prompt: Some(render(&member_t, &BTreeMap::from([("i", i.to_string())]))),
            persistent: false,
            timeout_secs: None,
            status: MemberStatus::Pending,
            runner_id: None,
        });
    }
    if !news.is_empty() {
        let team = run.team_id.clone();
        let spec = ctx.runtime.retry_spec(agent.as_str());
        let members = db(&ctx.store, move |s| {
            s.add_members_with_spec(&team, &news, &spec)
        })
        .await?;
        names.extend(members.into_iter().map(|m| m.name));
    }
    engine.notify_queued();
    let (answers, budget) = match collect(engine, run, &names).await? {
        Collected::All(a) => (a, false),
        Collected::Budget(a) => (a, true),
    };
    let mut results = Vec::new();
    let mut specialists = Vec::new();
    for name in &names {
        let (status, error) = match answers.get(name) {
            Some(Ok(text)) => {
                results.push(format!("{name}: {}", text.trim()));
                ("completed", None)
            }
            Some(Err(e)) => ("failed", Some(e.clone())),
            None => ("failed", Some("stopped before it answered".to_owned())),
        };
        specialists.push(Specialist {
            member: name.clone(),
            agent: agent.to_string(),
            status: status.into(),
            error,
            findings: 0,
            cross_reviewed: false,
            repairs: 0,
        });
    }
    let mut report = Report {
        workflow: run.def.name.clone(),
        input: run.input_path.clone(),
        summary: String::new(),
        findings: Vec::new(),
        open_questions: Vec::new(),
        specialists,
        notes: Vec::new(),
        rounds: Vec::new(),
    };
    if budget {
        report
            .notes
            .push(format!("{} was spent", run.budget_text()));
        return Ok(ReviewOutcome {
            report,
            end: ReviewEnd::BudgetSpent,
        });
    }
    if results.is_empty() {
        return Ok(ReviewOutcome {
            report,
            end: ReviewEnd::NoSpecialist,
        });
    }
    phase("synthesis");
    let synth_t = run
        .def
        .prompts
        .get("synthesis")
        .cloned()
        .unwrap_or_else(|| "Merge:\n{results}".into());
    let prompt = render(&synth_t, &BTreeMap::from([("results", results.join("\n"))]));
    let lead = journal
        .lead_turn(engine, run, "synthesis", &prompt, 1, None)
        .await;
    let (outcome, end) = match lead {
        Ok(text) => {
            report.summary = text.trim().to_owned();
            (Outcome::Completed(report.summary.clone()), ReviewEnd::Done)
        }
        Err(e) => {
            report.notes.push(format!("the lead failed: {e}"));
            (Outcome::Failed(e.clone()), ReviewEnd::LeadFailed(e))
        }
    };
    let team = run.team_id.clone();
    let _ = db(&ctx.store, move |s| {
        s.finish_member(&team, team_core::LEAD_ALIAS, &outcome)
    })
    .await;
    Ok(ReviewOutcome { report, end })
}
