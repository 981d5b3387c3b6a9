//! Running a workflow on its team, start to end: [`execute`].
//!
//! The caller (the CLI's `team run`) checks the flags and the agents, creates the team, shows
//! progress and maps the [`Outcome`] to an exit code; everything between is here: the engine
//! that serves only this team, the workflow's phases raced against its timeout and the
//! caller's cancel, the disband of a run cut short, and the end of a finished run (its report
//! stored as a [`REPORT_EVENT`] event, the team completed or failed).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use team_core::TeamEvent;
use team_store::Store;

use super::review::{PhaseFn, ReviewEnd, ReviewOutcome, ReviewRun};
use super::{WorkflowDef, fanout, review, self_review};
use crate::{AgentRuntime, Engine, EngineOptions, RunnerError};
use team_report::Report;

/// Kind of the event that stores a finished run's report (what `team report` reads).
pub const REPORT_EVENT: &str = "workflow.report";

/// The engines a workflow's `kind` names (see [`super::KINDS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkflowKind {
    /// `review` (spec-review): specialists review, cross-review, the lead synthesises.
    SpecReview,
    /// `fanout`: N members of one agent, one turn each, the lead synthesises.
    Fanout,
    /// `self-review` (self-review-loop): review the diff, triage, fix, test; repeat.
    SelfReviewLoop,
}

impl WorkflowKind {
    /// The kind a workflow file's `kind` names; `None` for a name no engine has.
    pub fn parse(kind: &str) -> Option<Self> {
        match kind {
            "review" => Some(Self::SpecReview),
            "fanout" => Some(Self::Fanout),
            "self-review" => Some(Self::SelfReviewLoop),
            _ => None,
        }
    }

    /// The kind of `def`.
    ///
    /// # Errors
    /// [`RunnerError::Other`] for a `kind` no engine has (a definition not read by
    /// [`super::find`], which refuses those).
    pub fn of(def: &WorkflowDef) -> Result<Self, RunnerError> {
        Self::parse(&def.kind).ok_or_else(|| {
            RunnerError::Other(format!(
                "unknown workflow kind `{}`; this version runs {}",
                def.kind,
                super::KINDS.join(", ")
            ))
        })
    }

    /// The agents a run with `params` adds as members (besides the lead), which must be able
    /// to run before the team is created: the `reviewers` of a review or a self-review loop,
    /// the `agent` of a fan-out (default `worker`).
    pub fn member_agents(self, params: &BTreeMap<String, String>) -> Vec<String> {
        match self {
            Self::SpecReview | Self::SelfReviewLoop => review::reviewers(params),
            Self::Fanout => vec![
                params
                    .get("agent")
                    .cloned()
                    .unwrap_or_else(|| "worker".into()),
            ],
        }
    }
}

/// A run to execute on a team that exists (with its lead).
#[derive(Debug, Clone)]
pub struct Execution {
    /// The workflow, its input, parameters, team and token budget.
    pub run: ReviewRun,
    /// Stop the run (and disband the team) after this many seconds (`--timeout`, as given:
    /// the disband's reason quotes it). A value too large for the clock is no deadline.
    pub timeout_secs: Option<f64>,
    /// A note put first in the report (a replay says so).
    pub note: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The workflow ran to its report, which is stored ([`REPORT_EVENT`]); the team is
    /// completed (`end` is [`ReviewEnd::Done`]) or failed.
    Finished(Box<ReviewOutcome>),
    /// The timeout passed first: the team is disbanded (`timed out after …s`).
    TimedOut,
    /// The caller cancelled it (a signal, named in the disband's reason): the team is
    /// disbanded.
    Cancelled,
    /// Every member left waits for a human's decision (`--on-ask park`): the run stopped,
    /// its members were cancelled, the team stays active and its owner is let go (so no
    /// reconciliation fails it), for `team approve` and a later `team resume`. These are the
    /// pending requests.
    NeedsInput(Vec<team_core::Approval>),
}

/// How often a run looks whether everything left waits for approval.
const NEEDS_INPUT_POLL: Duration = Duration::from_millis(250);

/// The team's pending approval requests when nothing can move without a human: no member is
/// `pending` or `running`, at least one is `waiting`, and every waiting member has a pending
/// request (one just decided is about to go on). `None` otherwise, or on a store error.
fn stalled_on_approvals(store: &Store, team_id: &str) -> Option<Vec<team_core::Approval>> {
    use team_core::{MemberStatus, Role};
    let members = store.list_members(team_id).ok()?;
    let members: Vec<_> = members.iter().filter(|m| m.role == Role::Member).collect();
    if members
        .iter()
        .any(|m| matches!(m.status, MemberStatus::Pending | MemberStatus::Running))
    {
        return None;
    }
    let waiting: Vec<&str> = members
        .iter()
        .filter(|m| m.status == MemberStatus::Waiting)
        .map(|m| m.name.as_str())
        .collect();
    if waiting.is_empty() {
        return None;
    }
    let pending = store.list_approvals(Some(team_id), true).ok()?;
    waiting
        .iter()
        .all(|w| pending.iter().any(|a| a.member == *w))
        .then_some(pending)
}

impl ReviewEnd {
    /// The team's end for this run's end: `complete` for a finished report, else `fail`,
    /// with the reason stored with it.
    pub fn team_end(&self) -> (TeamEvent, String) {
        match self {
            ReviewEnd::Done => (TeamEvent::Complete, "the report is written".to_owned()),
            ReviewEnd::LeadFailed(e) => (TeamEvent::Fail, format!("the lead failed: {e}")),
            ReviewEnd::NoSpecialist => (
                TeamEvent::Fail,
                "no specialist produced findings".to_owned(),
            ),
            ReviewEnd::BudgetSpent => (TeamEvent::Fail, "the token budget was spent".to_owned()),
        }
    }
}

/// Runs `exec` on its team with an engine that serves only that team (`opts.team` is set
/// here), until the workflow's report, its timeout, or `cancel` (which resolves to the reason,
/// e.g. the signal's name). `phase` is told each phase as it starts. A run cut short disbands
/// the team; a finished run stores its report and completes or fails the team.
///
/// # Errors
/// A store error, or a workflow that cannot run (a bad parameter, an agent that cannot be
/// added); the team is left as it was then.
pub async fn execute(
    store: Store,
    runtime: AgentRuntime,
    mut opts: EngineOptions,
    exec: &Execution,
    phase: PhaseFn,
    cancel: impl Future<Output = String>,
) -> Result<Outcome, RunnerError> {
    let run = &exec.run;
    let kind = WorkflowKind::of(&run.def)?;
    opts.team = Some(run.team_id.clone());
    let engine = Engine::start(store.clone(), runtime, opts).await?;
    let work = async {
        match kind {
            WorkflowKind::Fanout => fanout::run(&engine, run, phase).await,
            WorkflowKind::SelfReviewLoop => self_review::run(&engine, run, phase).await,
            WorkflowKind::SpecReview => review::run(&engine, run, phase).await,
        }
    };
    tokio::pin!(work);
    let serve = engine.serve();
    tokio::pin!(serve);
    let limit = exec
        .timeout_secs
        .and_then(|s| Duration::try_from_secs_f64(s.max(0.0)).ok());
    let deadline = async {
        match limit {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    tokio::pin!(cancel);
    // Twice in a row, a look apart: a member whose request was just decided moves on.
    let stalled = async {
        let mut seen = false;
        loop {
            tokio::time::sleep(NEEDS_INPUT_POLL).await;
            let team = run.team_id.clone();
            let found = crate::blocking::db(&store, move |s| Ok(stalled_on_approvals(s, &team)))
                .await
                .ok()
                .flatten();
            match found {
                Some(pending) if seen => return pending,
                Some(_) => seen = true,
                None => seen = false,
            }
        }
    };
    tokio::pin!(stalled);
    let cut = loop {
        tokio::select! {
            r = &mut work => break Ok(r?),
            _ = &mut serve, if !engine.shutdown_token().is_cancelled() => {}
            _ = &mut deadline => break Err(Outcome::TimedOut),
            pending = &mut stalled => break Err(Outcome::NeedsInput(pending)),
            why = &mut cancel => {
                tracing::warn!("{why}: disbanding team {}", run.team_id);
                break Err(Outcome::Cancelled);
            }
        }
    };
    let finished = match cut {
        Ok(finished) => finished,
        Err(Outcome::NeedsInput(pending)) => {
            tracing::warn!(
                "team {}: every member left waits for approval; stopping for input",
                run.team_id
            );
            engine.stop().await;
            let team = run.team_id.clone();
            let _ = crate::blocking::db(&store, move |s| {
                s.release_team_owner(&team, "every member left waits for approval")
            })
            .await;
            return Ok(Outcome::NeedsInput(pending));
        }
        Err(outcome) => {
            let why = match outcome {
                Outcome::TimedOut => {
                    team_core::resume::run_timed_out(exec.timeout_secs.unwrap_or_default())
                }
                _ => team_core::resume::RUN_CANCELLED.to_owned(),
            };
            let team = run.team_id.clone();
            let _ = crate::blocking::db(&store, move |s| s.disband_team(&team, &why)).await;
            engine.stop().await;
            return Ok(outcome);
        }
    };
    engine.stop().await;
    let mut finished = finished;
    if let Some(note) = &exec.note {
        finished.report.notes.insert(0, note.clone());
    }
    let payload = serde_json::to_value(&finished.report)
        .map_err(|e| RunnerError::Other(format!("cannot store the report: {e}")))?;
    let (event, why) = finished.end.team_end();
    let team = run.team_id.clone();
    crate::blocking::db(&store, move |s| {
        s.append_event(
            Some(&team),
            Some(team_core::LEAD_ALIAS),
            REPORT_EVENT,
            payload,
        )?;
        let _ = s.end_team(&team, event, &why);
        Ok(())
    })
    .await?;
    Ok(Outcome::Finished(Box::new(finished)))
}

impl Outcome {
    /// The report, for a run that finished.
    pub fn report(&self) -> Option<&Report> {
        match self {
            Outcome::Finished(o) => Some(&o.report),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_a_file_may_name_has_an_engine() {
        for k in super::super::KINDS {
            assert!(WorkflowKind::parse(k).is_some(), "{k}");
        }
        assert_eq!(WorkflowKind::parse("nope"), None);
        let dir = tempfile::tempdir().unwrap();
        for (def, _) in super::super::list(dir.path()).unwrap() {
            WorkflowKind::of(&def).unwrap();
        }
    }

    #[test]
    fn the_agents_to_check_are_the_reviewers_or_the_fanouts_agent() {
        let params = BTreeMap::from([("reviewers".to_owned(), " a, b ,".to_owned())]);
        assert_eq!(WorkflowKind::SpecReview.member_agents(&params), ["a", "b"]);
        assert_eq!(
            WorkflowKind::SelfReviewLoop.member_agents(&params),
            ["a", "b"]
        );
        assert_eq!(WorkflowKind::Fanout.member_agents(&params), ["worker"]);
        let params = BTreeMap::from([("agent".to_owned(), "coder".to_owned())]);
        assert_eq!(WorkflowKind::Fanout.member_agents(&params), ["coder"]);
    }

    #[test]
    fn only_a_finished_report_completes_the_team() {
        assert_eq!(ReviewEnd::Done.team_end().0, TeamEvent::Complete);
        for end in [
            ReviewEnd::LeadFailed("boom".into()),
            ReviewEnd::NoSpecialist,
            ReviewEnd::BudgetSpent,
        ] {
            assert_eq!(end.team_end().0, TeamEvent::Fail, "{end:?}");
        }
        assert_eq!(
            ReviewEnd::LeadFailed("boom".into()).team_end().1,
            "the lead failed: boom"
        );
    }
}
