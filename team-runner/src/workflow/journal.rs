//! What a workflow run did that a resumed run must not do again: its members (looked up in the
//! order they were added, [`Roster`]) and the results of its steps that are no member's answer
//! ([`Journal`]: the lead's synthesis or triage, a round's diff, test run and commit).
//!
//! A step's result is stored once, as a [`STEP_EVENT`] event of the team (`{"step": KEY,
//! "value": …}`), right after the step; a resumed run (`team run --resume`) reads them all
//! first and uses a recorded value instead of doing the step again, so no lead call is made
//! twice (except the one in flight at the interruption), no test runs twice and no commit is
//! made twice, and the report is the one an uninterrupted run writes.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};
use team_core::{Member, Role};

use super::review::{ReviewRun, synthesise};
use crate::RunnerError;
use crate::blocking::db;
use crate::engine::Engine;
use team_provider::AnswerFormat;

/// Kind of the event that records a workflow step's result (see the module docs).
pub const STEP_EVENT: &str = "workflow.step";

/// The recorded results of a run's steps, by key (`synthesis`, `round-2:diff`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Journal(Arc<parking_lot::Mutex<HashMap<String, Value>>>);

impl Journal {
    /// The steps recorded on `run`'s team, when it is resumed; an empty journal otherwise.
    ///
    /// # Errors
    /// A store error.
    pub(crate) async fn load(engine: &Engine, run: &ReviewRun) -> Result<Self, RunnerError> {
        let journal = Self::default();
        if !run.resume {
            return Ok(journal);
        }
        let team = run.team_id.clone();
        let events = db(&engine.context().store, move |s| {
            s.list_events(Some(&team), 0, i64::MAX)
        })
        .await?;
        let mut steps = journal.0.lock();
        for e in events.into_iter().filter(|e| e.kind == STEP_EVENT) {
            if let Some(key) = e.payload["step"].as_str() {
                steps
                    .entry(key.to_owned())
                    .or_insert_with(|| e.payload["value"].clone());
            }
        }
        drop(steps);
        Ok(journal)
    }

    /// The recorded result of step `key`.
    pub(crate) fn get(&self, key: &str) -> Option<Value> {
        self.0.lock().get(key).cloned()
    }

    /// Records the result of step `key` (once: a key already recorded keeps its value).
    ///
    /// # Errors
    /// A store error.
    pub(crate) async fn record(
        &self,
        engine: &Engine,
        run: &ReviewRun,
        key: &str,
        value: Value,
    ) -> Result<(), RunnerError> {
        if self.0.lock().contains_key(key) {
            return Ok(());
        }
        self.0.lock().insert(key.to_owned(), value.clone());
        let team = run.team_id.clone();
        let payload = json!({"step": key, "value": value});
        db(&engine.context().store, move |s| {
            s.append_event(
                Some(&team),
                Some(team_core::LEAD_ALIAS),
                STEP_EVENT,
                payload,
            )
        })
        .await?;
        Ok(())
    }

    /// The lead's answer of step `key` ([`synthesise`], one model call numbered `call`): the
    /// recorded one when the step was done before the interruption, else asked now and
    /// recorded. A failure is not recorded (it ends the run).
    pub(crate) async fn lead_turn(
        &self,
        engine: &Engine,
        run: &ReviewRun,
        key: &str,
        prompt: &str,
        call: u32,
        format: Option<AnswerFormat>,
    ) -> Result<String, String> {
        if let Some(Value::String(text)) = self.get(key) {
            return Ok(text);
        }
        let answer = synthesise(engine, run, prompt, call, format).await?;
        self.record(engine, run, key, Value::String(answer.clone()))
            .await
            .map_err(|e| format!("cannot record the lead's answer: {e}"))?;
        Ok(answer)
    }
}

/// The members (not the lead) an interrupted run had added, in the order it added them; a
/// resumed run takes them one by one where it would add one, so each step finds the member
/// (and its answers) of the interrupted run.
#[derive(Debug, Default)]
pub(crate) struct Roster(Vec<Member>);

impl Roster {
    /// The members of `run`'s team, when it is resumed; an empty roster otherwise.
    ///
    /// # Errors
    /// A store error.
    pub(crate) async fn load(engine: &Engine, run: &ReviewRun) -> Result<Self, RunnerError> {
        if !run.resume {
            return Ok(Self::default());
        }
        let team = run.team_id.clone();
        let members = db(&engine.context().store, move |s| s.list_members(&team)).await?;
        Ok(Self(
            members
                .into_iter()
                .filter(|m| m.role == Role::Member)
                .collect(),
        ))
    }

    /// The name of the first member left of `agent`, taken off the roster; `None` when the
    /// interrupted run had not added it.
    pub(crate) fn take(&mut self, agent: &str) -> Option<String> {
        let i = self.0.iter().position(|m| m.agent == agent)?;
        Some(self.0.remove(i).name)
    }
}
