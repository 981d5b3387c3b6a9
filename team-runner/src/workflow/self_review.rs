//! The `self-review` engine (self-review-loop): review the diff, triage, fix, test; repeat.
//!
//! Each round: fresh reviewers (one turn each) review `git diff BASE`; the lead triages the
//! findings (`fix` / `wont_fix` with a reason); a fixer member applies the fixes with the
//! workspace tools (its permissions apply); the test command runs; with `commit = "true"`
//! (`team run … --commit`) the round's changes become one commit. The loop stops when a round
//! has nothing to fix, the diff is empty, or `rounds` ran out.
//!
//! A resumed run (`team run --resume`) goes through the rounds again without doing twice
//! what the interrupted one did: each round's diff, the lead's triage, the test run and the
//! commit are recorded as they are done ([`Journal`]) and read back; the reviewers and fixers
//! are looked up in the order they were added ([`Roster`]) and their answers read by the
//! lead's cursor. The first step not recorded is where the run goes on.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use team_core::{AgentName, MemberStatus};
use team_store::{NewMember, Outcome};

use super::answers::extract_json;
use super::answers::{self, DEFAULT_MAX_REPAIRS};
use super::findings::{finding_json, to_finding};
use super::journal::{Journal, Roster};
use super::render;
use super::review::{
    Collected, PhaseFn, ReviewEnd, ReviewOutcome, ReviewRun, collect, reviewers, settle, vars,
};
use crate::RunnerError;
use crate::blocking::db;
use crate::engine::Engine;
use team_report::{Report, ReviewAnswer, Round, Specialist, TestRun, Triaged};

/// The lead's decision on one finding (its JSON Schema is derived from this type).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct Decision {
    id: String,
    #[schemars(extend("enum" = ["fix", "wont_fix"]))]
    decision: String,
    #[serde(default)]
    reason: String,
}

/// The lead's triage answer.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct TriageAnswer {
    decisions: Vec<Decision>,
}

/// Checks, before a team is created, that `git diff BASE` can run in `root`: git is
/// installed, `root` is inside a git repository, and BASE (the `base` parameter, default
/// `HEAD`) names a commit. A repository without commits has no `HEAD`.
///
/// # Errors
/// A sentence saying what is missing and what to do.
pub fn check_repository(root: &Path, params: &BTreeMap<String, String>) -> Result<(), String> {
    let base = params.get("base").map_or("HEAD", String::as_str);
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(root)
            .stdin(std::process::Stdio::null())
            .output()
    };
    let inside = git(&["rev-parse", "--is-inside-work-tree"]).map_err(|e| {
        format!("self-review-loop reviews `git diff {base}`, but git cannot run: {e}; install git")
    })?;
    if !inside.status.success() {
        return Err(format!(
            "self-review-loop reviews `git diff {base}`, but {} is not in a git repository: run `git init` and commit, or run it in a repository",
            root.display()
        ));
    }
    let spec = format!("{base}^{{commit}}");
    let found = git(&["rev-parse", "--verify", "--quiet", &spec])
        .map_err(|e| format!("git cannot run: {e}"))?;
    if found.status.success() {
        return Ok(());
    }
    if base == "HEAD" {
        return Err(format!(
            "self-review-loop reviews `git diff HEAD`, but the repository in {} has no commits yet: commit a first version (`git add -A && git commit -m initial`), make your changes, then run it again",
            root.display()
        ));
    }
    Err(format!(
        "self-review-loop reviews `git diff {base}`, but `{base}` is not a commit of the repository in {}: pass an existing one with --set base=REV",
        root.display()
    ))
}

/// Runs a command in the project root; returns (exit code, stdout).
async fn sh(root: &Path, args: &[&str]) -> Result<(i32, String), RunnerError> {
    let out = tokio::process::Command::new(args[0])
        .args(&args[1..])
        .current_dir(root)
        .output()
        .await
        .map_err(|e| RunnerError::Other(format!("cannot run `{}`: {e}", args.join(" "))))?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// A member of `agent` asked `prompt`: the interrupted run's next one of that agent on a
/// resumed run (`roster`), else a new one.
async fn add_one(
    engine: &Engine,
    run: &ReviewRun,
    roster: &mut Roster,
    agent: &str,
    prompt: String,
) -> Result<String, RunnerError> {
    if let Some(name) = roster.take(agent) {
        return Ok(name);
    }
    let new = NewMember {
        agent: AgentName::new(agent).map_err(|e| RunnerError::Other(e.to_string()))?,
        prompt: Some(prompt),
        persistent: false,
        timeout_secs: None,
        status: MemberStatus::Pending,
        runner_id: None,
    };
    let team = run.team_id.clone();
    let spec = engine.context().runtime.retry_spec(agent);
    let m = db(&engine.context().store, move |s| {
        s.add_member_with_spec(&team, &new, &spec)
    })
    .await?;
    Ok(m.name)
}

/// Commits the round's changes (`git add -A`, `git commit -m MSG`): the short hash as a JSON
/// string, `false` when git failed, `null` when there was nothing to commit.
async fn commit_round(root: &Path, msg: &str) -> Result<serde_json::Value, RunnerError> {
    let (_, status) = sh(root, &["git", "status", "--porcelain"]).await?;
    if status.trim().is_empty() {
        return Ok(serde_json::Value::Null);
    }
    let (c1, _) = sh(root, &["git", "add", "-A"]).await?;
    let (c2, _) = sh(root, &["git", "commit", "-q", "-m", msg]).await?;
    if c1 == 0 && c2 == 0 {
        let (_, hash) = sh(root, &["git", "rev-parse", "--short", "HEAD"]).await?;
        Ok(serde_json::Value::String(hash.trim().to_owned()))
    } else {
        Ok(serde_json::Value::Bool(false))
    }
}

/// The short hash of HEAD when it is a commit on `before` (a full hash) with the message
/// `msg`: the round's commit made by a run interrupted before it recorded it.
async fn committed_since(
    root: &Path,
    before: &str,
    msg: &str,
) -> Result<Option<String>, RunnerError> {
    let (code, out) = sh(root, &["git", "log", "-1", "--format=%P%n%s", "HEAD"]).await?;
    let mut lines = out.lines();
    let (parent, subject) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
    if code != 0 || parent.trim() != before || subject.trim() != msg {
        return Ok(None);
    }
    let (_, hash) = sh(root, &["git", "rev-parse", "--short", "HEAD"]).await?;
    Ok(Some(hash.trim().to_owned()))
}

/// Runs the loop to its report.
///
/// # Errors
/// A store error, or git not usable in the project root.
pub async fn run(
    engine: &Engine,
    run: &ReviewRun,
    phase: PhaseFn,
) -> Result<ReviewOutcome, RunnerError> {
    let root = engine.context().opts.project_root.clone();
    let p = |k: &str, d: &str| run.params.get(k).cloned().unwrap_or_else(|| d.to_owned());
    let base = p("base", "HEAD");
    let rounds: u32 = p("rounds", "3")
        .trim()
        .parse()
        .map_err(|_| RunnerError::Other("parameter `rounds` must be a whole number".into()))?;
    let test = p("test", "");
    let fixer = p("fixer", "fixer");
    let commit = p("commit", "false") == "true";
    let names = reviewers(&run.params);
    let review_format = answers::format_of::<ReviewAnswer>("review_answer");
    let max_repairs: u32 = run
        .params
        .get("max_repairs")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_REPAIRS);
    let template = |k: &str| run.def.prompts.get(k).cloned().unwrap_or_default();
    let mut report = Report {
        workflow: run.def.name.clone(),
        input: format!("git diff {base}"),
        summary: String::new(),
        findings: Vec::new(),
        open_questions: Vec::new(),
        specialists: Vec::new(),
        notes: Vec::new(),
        rounds: Vec::new(),
    };
    let mut end = ReviewEnd::Done;
    let (mut fixed, mut kept) = (0usize, 0usize);
    let journal = Journal::load(engine, run).await?;
    let mut roster = Roster::load(engine, run).await?;
    for n in 1..=rounds {
        // The diff the round reviews: the recorded one when the round began before an
        // interruption (the fixers changed the files since).
        let diff = match journal.get(&format!("round-{n}:diff")) {
            Some(serde_json::Value::String(diff)) => diff,
            _ => {
                let (code, diff) = sh(&root, &["git", "diff", &base]).await?;
                if code != 0 {
                    return Err(RunnerError::Other(format!(
                        "`git diff {base}` failed (exit {code}) in {}; is it a git repository and is `{base}` a commit?",
                        root.display()
                    )));
                }
                journal
                    .record(
                        engine,
                        run,
                        &format!("round-{n}:diff"),
                        serde_json::Value::String(diff.clone()),
                    )
                    .await?;
                diff
            }
        };
        if diff.trim().is_empty() {
            report.notes.push(format!(
                "round {n}: `git diff {base}` is empty: nothing to review"
            ));
            break;
        }
        phase(&format!("round {n}: review"));
        for agent in &names {
            engine
                .context()
                .formats
                .set(&run.team_id, agent, Some(review_format.clone()));
        }
        let mut round_run = run.clone();
        round_run.input_path = format!("git diff {base}");
        round_run.input_text = diff;
        let mut members = Vec::new();
        for agent in &names {
            let prompt = render(&template("review"), &vars(&round_run, agent));
            members.push((
                add_one(engine, run, &mut roster, agent, prompt).await?,
                agent.clone(),
            ));
        }
        engine.notify_queued();
        let expected: Vec<String> = members.iter().map(|m| m.0.clone()).collect();
        let answers = match collect(engine, run, &expected).await? {
            Collected::All(a) => a,
            Collected::Budget(a) => {
                end = ReviewEnd::BudgetSpent;
                a
            }
        };
        let mut repairs = std::collections::HashMap::new();
        let (read, spent) = settle::<ReviewAnswer>(
            engine,
            run,
            &review_format,
            answers,
            &expected,
            max_repairs,
            end == ReviewEnd::BudgetSpent,
            &mut repairs,
        )
        .await?;
        if spent {
            end = ReviewEnd::BudgetSpent;
        }
        // The fixer (maybe of a reviewer's agent) answers in free text.
        for agent in &names {
            engine.context().formats.set(&run.team_id, agent, None);
        }
        let mut findings = Vec::new();
        for (member, agent) in &members {
            let (status, error) = match read.get(member) {
                Some(Ok(a)) => {
                    findings.extend(a.findings.iter().map(|f| to_finding(f, member, "review")));
                    ("completed", None)
                }
                Some(Err(e)) => ("failed", Some(e.clone())),
                None => ("failed", Some("stopped before it answered".to_owned())),
            };
            report.specialists.push(Specialist {
                member: member.clone(),
                agent: agent.clone(),
                status: status.into(),
                error,
                findings: 0,
                cross_reviewed: false,
                repairs: repairs.get(member).copied().unwrap_or(0),
            });
        }
        for (i, f) in findings.iter_mut().enumerate() {
            f.id = format!("F{}", i + 1);
            if let Some(s) = report
                .specialists
                .iter_mut()
                .find(|s| s.member == f.raised_by)
            {
                s.findings += 1;
            }
        }
        if end == ReviewEnd::BudgetSpent {
            break;
        }
        if findings.is_empty() {
            report.notes.push(format!("round {n}: no findings"));
            break;
        }
        phase(&format!("round {n}: triage"));
        let all: Vec<serde_json::Value> = findings.iter().map(finding_json).collect();
        let mut v = vars(&round_run, team_core::LEAD_ALIAS);
        v.insert(
            "all_findings",
            serde_json::to_string_pretty(&all).unwrap_or_default(),
        );
        let decisions = match journal
            .lead_turn(
                engine,
                run,
                &format!("round-{n}:triage"),
                &render(&template("triage"), &v),
                n,
                Some(answers::format_of::<TriageAnswer>("triage_answer")),
            )
            .await
        {
            Ok(t) => extract_json::<TriageAnswer>(&t)
                .map(|a| a.decisions)
                .unwrap_or_default(),
            Err(e) => {
                report
                    .notes
                    .push(format!("round {n}: the lead failed: {e}"));
                end = ReviewEnd::LeadFailed(e);
                break;
            }
        };
        let triaged: Vec<Triaged> = findings
            .iter()
            .map(|f| {
                let d = decisions.iter().find(|d| d.id.trim() == f.id);
                let fix = d.is_some_and(|d| d.decision.trim().eq_ignore_ascii_case("fix"));
                Triaged {
                    id: f.id.clone(),
                    severity: f.severity,
                    location: f.location.clone(),
                    finding: f.finding.clone(),
                    raised_by: f.raised_by.clone(),
                    decision: if fix { "fix".into() } else { "wont_fix".into() },
                    reason: d.map_or_else(
                        || "the lead gave no decision".to_owned(),
                        |d| d.reason.trim().to_owned(),
                    ),
                }
            })
            .collect();
        let to_fix: Vec<serde_json::Value> = findings
            .iter()
            .filter(|f| triaged.iter().any(|t| t.id == f.id && t.decision == "fix"))
            .map(finding_json)
            .collect();
        kept += triaged.len() - to_fix.len();
        let mut round = Round {
            round: n,
            findings: triaged,
            fixer: "skipped".into(),
            test: None,
            commit: None,
        };
        if to_fix.is_empty() {
            report.rounds.push(round);
            report.notes.push(format!("round {n}: nothing left to fix"));
            break;
        }
        phase(&format!("round {n}: fix"));
        let mut fv: BTreeMap<&str, String> = BTreeMap::new();
        fv.insert(
            "findings",
            serde_json::to_string_pretty(&to_fix).unwrap_or_default(),
        );
        let name = add_one(
            engine,
            run,
            &mut roster,
            &fixer,
            render(&template("fix"), &fv),
        )
        .await?;
        engine.notify_queued();
        let fixer_end = match collect(engine, run, std::slice::from_ref(&name)).await? {
            Collected::All(a) | Collected::Budget(a) => a.get(&name).cloned(),
        };
        round.fixer = match &fixer_end {
            Some(Ok(_)) => {
                fixed += to_fix.len();
                "completed".into()
            }
            Some(Err(e)) => format!("failed: {e}"),
            None => "stopped".into(),
        };
        if !test.trim().is_empty() {
            phase(&format!("round {n}: test"));
            let key = format!("round-{n}:test");
            let code = match journal.get(&key).and_then(|v| v.as_i64()) {
                Some(code) => i32::try_from(code).unwrap_or(-1),
                None => {
                    let (code, _) = sh(&root, &["bash", "-c", &test]).await?;
                    journal.record(engine, run, &key, code.into()).await?;
                    code
                }
            };
            round.test = Some(TestRun {
                command: test.clone(),
                exit_code: code,
                passed: code == 0,
            });
        }
        if commit {
            let key = format!("round-{n}:commit");
            let ids: Vec<&str> = to_fix.iter().filter_map(|f| f["id"].as_str()).collect();
            let msg = format!("team self-review round {n}: fix {}", ids.join(", "));
            let made = match journal.get(&key) {
                Some(v) => v,
                None => {
                    // HEAD before the commit is recorded first: a commit an interruption
                    // left unrecorded is found by it (HEAD's parent, the round's message).
                    let head_key = format!("round-{n}:head");
                    let found = match journal.get(&head_key) {
                        Some(serde_json::Value::String(before)) => {
                            committed_since(&root, &before, &msg).await?
                        }
                        _ => None,
                    };
                    let v = match found {
                        Some(hash) => serde_json::Value::String(hash),
                        None => {
                            let (_, head) = sh(&root, &["git", "rev-parse", "HEAD"]).await?;
                            journal
                                .record(engine, run, &head_key, head.trim().into())
                                .await?;
                            commit_round(&root, &msg).await?
                        }
                    };
                    journal.record(engine, run, &key, v.clone()).await?;
                    v
                }
            };
            match &made {
                serde_json::Value::String(hash) => round.commit = Some(hash.clone()),
                serde_json::Value::Bool(false) => {
                    report.notes.push(format!("round {n}: git commit failed"));
                }
                _ => {}
            }
        }
        report.rounds.push(round);
    }
    report.summary = format!(
        "{} round(s); {fixed} finding(s) fixed, {kept} not fixed{}.",
        report.rounds.len(),
        match report.rounds.last().and_then(|r| r.test.as_ref()) {
            Some(t) if t.passed => "; the tests pass",
            Some(_) => "; the tests FAIL",
            None => "",
        }
    );
    let outcome = match &end {
        ReviewEnd::LeadFailed(e) => Outcome::Failed(e.clone()),
        _ => Outcome::Completed(report.summary.clone()),
    };
    let team = run.team_id.clone();
    let _ = db(&engine.context().store, move |s| {
        s.finish_member(&team, team_core::LEAD_ALIAS, &outcome)
    })
    .await;
    Ok(ReviewOutcome { report, end })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn git(root: &Path, args: &[&str]) -> String {
        let (code, out) = sh(root, &[&["git"], args].concat()).await.unwrap();
        assert_eq!(code, 0, "git {args:?}");
        out.trim().to_owned()
    }

    #[tokio::test]
    async fn a_commit_made_before_an_interruption_is_found_by_the_head_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q"]).await;
        git(root, &["config", "user.email", "t@example.invalid"]).await;
        git(root, &["config", "user.name", "test"]).await;
        std::fs::write(root.join("a.txt"), "a\n").unwrap();
        git(root, &["add", "-A"]).await;
        git(root, &["commit", "-qm", "init"]).await;
        let before = git(root, &["rev-parse", "HEAD"]).await;
        let msg = "team self-review round 1: fix F1";
        assert_eq!(committed_since(root, &before, msg).await.unwrap(), None);

        std::fs::write(root.join("a.txt"), "b\n").unwrap();
        let made = commit_round(root, msg).await.unwrap();
        let short = git(root, &["rev-parse", "--short", "HEAD"]).await;
        assert_eq!(made, serde_json::Value::String(short.clone()));
        assert_eq!(
            committed_since(root, &before, msg).await.unwrap(),
            Some(short)
        );
        // Another message, or another parent: not the round's commit.
        assert_eq!(
            committed_since(root, &before, "something else")
                .await
                .unwrap(),
            None
        );
        let head = git(root, &["rev-parse", "HEAD"]).await;
        assert_eq!(committed_since(root, &head, msg).await.unwrap(), None);
        // Nothing to commit: null.
        assert_eq!(
            commit_round(root, msg).await.unwrap(),
            serde_json::Value::Null
        );
    }
}
