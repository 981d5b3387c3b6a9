//! `team run`, `team report`, `team workflows list|show`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use team_core::{AgentName, TeamName};
use team_provider::{Cassette, CassetteEntry, CassetteMode, CassetteWriter};
use team_report::{Report, Severity};
use team_runner::workflow::review::{ReviewEnd, ReviewOutcome, ReviewRun};
use team_runner::workflow::{self, Execution, Outcome, WorkflowKind};
use team_store::{NewTeam, Store, now_ms};

use crate::cli::{ReportArgs, ReportFormat, RunArgs};
use crate::commands::run::{
    check_agent, check_agent_in, engine_options, exit_on_second_signal, first_signal, load_project,
    runtime_threads,
};
use crate::doc::{
    self, ReportDoc, ReportManifestDoc, ReportMemberDoc, RunDetachedDoc, TokensDoc, WorkflowDefDoc,
    WorkflowDoc,
};
use crate::error::{CommandError, Kind, Result};
use crate::output::{Out, duration};
use crate::project::{self, Ctx, TEAM_DIR};

/// Kind of the event that stores a run's report.
pub use team_runner::workflow::REPORT_EVENT;

fn usage(msg: impl Into<String>) -> CommandError {
    CommandError::usage(msg)
}

/// The parameters: the workflow's defaults overridden by `--set key=value`.
fn params(def: &workflow::WorkflowDef, set: &[String]) -> Result<BTreeMap<String, String>> {
    let mut p = def.params.clone();
    for kv in set {
        let Some((k, v)) = kv.split_once('=') else {
            return Err(usage(format!("--set takes KEY=VALUE, not `{kv}`")));
        };
        if !p.contains_key(k.trim()) {
            let known: Vec<&str> = def.params.keys().map(String::as_str).collect();
            return Err(usage(format!(
                "workflow {} has no parameter `{}`; its parameters: {}",
                def.name,
                k.trim(),
                known.join(", ")
            )));
        }
        p.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok(p)
}

/// The model recorded first in a cassette, as provider/model (the model of a replay when none
/// is given).
fn cassette_model(path: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let first = text.lines().find(|l| !l.trim().is_empty())?;
    let e: CassetteEntry = serde_json::from_str(first).ok()?;
    Some(format!("{}/{}", e.provider, e.model))
}

/// What a replay is, said in the report and on stderr: the cassette's answers were recorded,
/// no model is called now, and a cassette recorded from the `scripted` provider (team-testkit's
/// scripted server, like the one in `examples/`) holds a scripted model's answers, not an
/// LLM's.
fn replay_note(path: &str) -> String {
    match cassette_model(path) {
        Some(model) if model.starts_with("scripted/") => format!(
            "replayed from the cassette {path}: no model was called; its answers were recorded from {model}, a scripted model (team-testkit's scripted server), not a real LLM"
        ),
        Some(model) => format!(
            "replayed from the cassette {path}: no model was called; its answers were recorded from {model}"
        ),
        None => format!("replayed from the cassette {path}: no model was called"),
    }
}

/// `team run WORKFLOW [INPUT]…`. It creates `.team/` in the working directory when there is
/// none, and removes it again when the run fails before its team exists (no model, a bad
/// input, a repository without commits), so a failed first try leaves nothing behind.
pub fn run(db: Option<&str>, out: Out, a: &RunArgs) -> Result<()> {
    if let Some(team) = &a.resume {
        return resume_run(db, out, team, Some(a));
    }
    let cwd = std::env::current_dir()?;
    let mut created = None;
    if db.is_none() && project::find_project(&cwd).is_none() {
        super::team::create_project_dir(&cwd)?;
        created = Some(cwd.join(TEAM_DIR));
    }
    let mut team_created = false;
    let result = run_in(db, out, a, &mut team_created, None);
    if result.is_err()
        && !team_created
        && let Some(dir) = created
    {
        // The store of the run is closed by now (it lived in `run_in`).
        let _ = std::fs::remove_dir_all(dir);
    }
    result
}

/// Kind of the event that records what a run was started with (its arguments and its input's
/// text), which `team run --resume` reads.
pub const RUN_EVENT: &str = "workflow.run";

/// `team resume TEAM`: a workflow team's run is finished (as `team run --resume TEAM`, with
/// the interrupted run's report options); any other team's interrupted members are queued
/// again for a runner.
pub fn resume(db: Option<&str>, out: Out, team_ref: &str) -> Result<()> {
    let ctx = project::open(db, out)?;
    let team = ctx.store.resolve_team(team_ref)?;
    if team.workflow.is_some() {
        drop(ctx);
        return resume_run(db, out, team_ref, None);
    }
    super::run::resume_members(&ctx, &team)
}

/// `team run --resume TEAM` (`this`: the command's own report options; `None`: the
/// interrupted run's, for `team resume`).
fn resume_run(db: Option<&str>, out: Out, team_ref: &str, this: Option<&RunArgs>) -> Result<()> {
    let ctx = project::open(db, out)?;
    let team = ctx.store.resolve_team(team_ref)?;
    let started = ctx
        .store
        .list_events(Some(&team.id), 0, 1_000_000)?
        .into_iter()
        .find(|e| e.kind == RUN_EVENT)
        .ok_or_else(|| {
            usage(format!(
                "team {} was not started by `team run` (or by a version that did not record its run); only a workflow run can be resumed with --resume: try `team resume {}`",
                team.name, team.name
            ))
        })?;
    let argv: Vec<String> =
        serde_json::from_value(started.payload["argv"].clone()).map_err(|e| {
            usage(format!(
                "the recorded run of team {} cannot be read: {e}",
                team.name
            ))
        })?;
    let input_text = started.payload["input_text"].as_str().map(str::to_owned);
    let parsed = <crate::cli::Cli as clap::Parser>::try_parse_from(
        std::iter::once("team".to_owned()).chain(argv),
    )
    .map_err(|e| {
        usage(format!(
            "the recorded run of team {} cannot be read: {e}",
            team.name
        ))
    })?;
    let crate::cli::Command::Run(mut a) = parsed.command else {
        return Err(usage(format!(
            "the recorded run of team {} is not a `team run`",
            team.name
        )));
    };
    if let Some(this) = this {
        a.output = this.output.clone();
        a.format = this.format;
        a.events = this.events.clone();
        a.annotate_level = this.annotate_level.clone();
        a.fail_on = this.fail_on.clone();
        // A timeout given now bounds the rest of the run (else the interrupted run's does).
        if this.timeout.is_some() {
            a.timeout = this.timeout;
        }
        if this.max_agents.is_some() {
            a.max_agents = this.max_agents;
        }
        // A cassette given now is the one the rest of the run records to or replays from.
        if this.record.is_some() || this.replay.is_some() {
            a.record = this.record.clone();
            a.replay = this.replay.clone();
        }
    }
    a.detach = false;
    a.resume = None;
    drop(ctx);
    let mut created = false;
    run_in(db, out, &a, &mut created, Some((team.id, input_text)))
}

/// Runs `a`; with `resume` (the team's id and the recorded input text), takes up that team's
/// interrupted run instead of creating a team.
fn run_in(
    db: Option<&str>,
    out: Out,
    a: &RunArgs,
    team_created: &mut bool,
    resume: Option<(String, Option<String>)>,
) -> Result<()> {
    let ctx = project::open(db, out)?;
    let workflow_name = a.workflow.clone().unwrap_or_default();
    let (def, _) = find(&ctx.project_root, &workflow_name)?;
    // `--json` is the report's JSON, as `--format json`.
    let format = if out.json {
        ReportFormat::Json
    } else {
        a.format
    };
    if a.inputs.len() != def.inputs.len() {
        let names: Vec<&str> = def.inputs.keys().map(String::as_str).collect();
        return Err(usage(format!(
            "workflow {} takes {} input(s) ({}), {} given: `team run {} {}`",
            def.name,
            def.inputs.len(),
            names.join(", "),
            a.inputs.len(),
            def.name,
            names
                .iter()
                .map(|n| n.to_uppercase())
                .collect::<Vec<_>>()
                .join(" ")
        )));
    }
    let input_path = a.inputs.first().cloned().unwrap_or_default();
    let recorded_text = resume.as_ref().and_then(|r| r.1.clone());
    let input_text = if let Some(text) = recorded_text {
        text
    } else if input_path.is_empty() {
        String::new()
    } else {
        std::fs::read_to_string(&input_path)
            .map_err(|e| usage(format!("cannot read the input {input_path}: {e}")))?
    };
    let mut params = params(&def, &a.set)?;
    if a.commit {
        if !params.contains_key("commit") {
            return Err(usage(format!(
                "workflow {} has no `commit` parameter: --commit does not apply",
                def.name
            )));
        }
        params.insert("commit".into(), "true".into());
    }
    let fail_on = match &a.fail_on {
        None => None,
        Some(s) => Some(Severity::parse(s).ok_or_else(|| {
            usage(format!(
                "--fail-on takes blocker, major, minor or nit, not `{s}`"
            ))
        })?),
    };
    let annotate_level = super::reports::annotate_level(&a.annotate_level).map_err(usage)?;
    let kind = WorkflowKind::of(&def).map_err(|e| usage(e.to_string()))?;
    let agents = kind.member_agents(&params);
    if kind == WorkflowKind::SpecReview && agents.is_empty() {
        return Err(usage("--set reviewers= names no specialist"));
    }
    if kind == WorkflowKind::SelfReviewLoop {
        workflow::self_review::check_repository(&ctx.project_root, &params).map_err(usage)?;
    }
    if a.detach {
        *team_created = true;
        return detach(&ctx, a);
    }
    let mut flags = a.run.clone();
    let (cassette, replay) = cassette_mode(&ctx, a, &mut flags)?;
    let (config, mut runtime) = load_project(&ctx.project_root, &flags, cassette)?;
    // A workflow's own fan-out bounds override the configuration's.
    if let Some(n) = def.max_depth {
        runtime.bounds.max_depth = n;
    }
    if let Some(n) = def.max_members_per_team {
        runtime.bounds.max_members_per_team = n;
    }
    // And its hooks the configuration's.
    runtime.hooks = def.hooks_over(&runtime.hooks).map_err(usage)?;
    if a.max_cost.is_some() && runtime.prices.is_empty() {
        return Err(usage(
            "--max-cost needs the models' prices: add [prices.\"PROVIDER/MODEL\"] with \
             input_per_mtok and output_per_mtok to .team/config.toml",
        ));
    }
    check_agent(&runtime, &ctx, &def.lead)?;
    for r in &agents {
        // A specialist without a model of its own runs on the lead's.
        check_agent_in(&runtime, &ctx, r, Some(&def.lead))?;
    }
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let owner = (i64::from(std::process::id()), host);
    let team = if let Some((team_id, _)) = &resume {
        // What the interrupted run left: its lost runner's members and its dead owner are
        // reconciled first, then the team is taken up (`team_core::resume`).
        team_runner::reconcile(&ctx.store, None, super::run::HEARTBEAT)?;
        let r = ctx.store.resume_team(team_id, Some(owner))?;
        *team_created = true;
        ctx.out.note(format!(
            "team {} ({}): resuming {} on {input_path}: {} member(s) go on, {} kept",
            r.team.name,
            r.team.id,
            def.name,
            r.members.len(),
            r.kept.len()
        ));
        r.team
    } else {
        let name = match &a.name {
            Some(n) => n.clone(),
            None => format!("{}-{}", def.name, &team_store_id()),
        };
        let (team, _) = ctx.store.create_team(&NewTeam {
            name: TeamName::new(&name).map_err(|e| usage(e.to_string()))?,
            lead_agent: AgentName::new(&def.lead).map_err(|e| usage(e.to_string()))?,
            workflow: Some(def.name.clone()),
            project_root: ctx.root_str(),
            owner: Some(owner),
        })?;
        *team_created = true;
        // What `team run --resume` needs to take the run up again.
        ctx.store.append_event(
            Some(&team.id),
            Some(team_core::LEAD_ALIAS),
            RUN_EVENT,
            serde_json::json!({
                "argv": std::env::args().skip(1).collect::<Vec<_>>(),
                "input_text": input_text,
            }),
        )?;
        ctx.out.note(format!(
            "team {} ({}): {} on {input_path}",
            team.name, team.id, def.name
        ));
        team
    };
    let started = Instant::now();
    let opts = engine_options(&ctx, &config, a.max_agents)?;
    let exec = Execution {
        run: ReviewRun {
            def: def.clone(),
            input_path: input_path.clone(),
            input_text: input_text.clone(),
            params,
            team_id: team.id.clone(),
            max_tokens: a.max_tokens,
            resume: resume.is_some(),
            answers: Default::default(),
            max_cost: a.max_cost,
        },
        timeout_secs: a.timeout.map(|d| d.as_secs_f64()),
        note: replay,
    };
    let rt = runtime_threads()?;
    let result = rt.block_on(async {
        // This run's members' `team send` / `team inbox` go through its relay.
        let mut opts = opts;
        let _relay = super::run::start_relay(&ctx, &mut opts);
        let phase_fn = super::live::phase_recorder(ctx.store.clone(), team.id.clone());
        // The live view (none with -q): stopped when the run ends, after one last look.
        let stop = tokio_util::sync::CancellationToken::new();
        let progress = (!ctx.out.quiet).then(|| {
            tokio::spawn(super::live::follow_run(
                ctx.store.clone(),
                team.name.to_string(),
                team.id.clone(),
                kind,
                stop.clone(),
            ))
        });
        let cancel = async {
            let sig = first_signal().await;
            exit_on_second_signal();
            sig.to_owned()
        };
        let outcome =
            workflow::execute(ctx.store.clone(), runtime, opts, &exec, phase_fn, cancel).await;
        stop.cancel();
        if let Some(p) = progress {
            let _ = p.await;
        }
        outcome
    });
    // A finished run: the engine stopped and its members ended; what may still be running
    // is at most the progress view's read. Let the runtime's threads go without joining them
    // one by one (~3 ms at exit for a 200-member team, BENCHMARKS.md § 9). A run cut short
    // (timeout, signal, error) may have dropped work with a store call still in flight: wait
    // for it, as dropping the runtime does.
    if matches!(result, Ok(Outcome::Finished(_))) {
        rt.shutdown_background();
    } else {
        drop(rt);
    }
    let outcome = match result? {
        Outcome::Finished(o) => *o,
        Outcome::NeedsInput(pending) => {
            flush_events(&ctx.store, &team.id, a.events.as_deref())?;
            return needs_input(&ctx, &team.name, format, pending);
        }
        cut => {
            // The events of the whole run, after the team ended, for --events.
            flush_events(&ctx.store, &team.id, a.events.as_deref())?;
            let (kind, what) = match cut {
                Outcome::TimedOut => (Kind::Timeout, "timed out"),
                _ => (Kind::Cancelled, "was cancelled"),
            };
            return Err(CommandError::new(
                kind,
                format!(
                    "run of {} on team {} {what}; the team is disbanded",
                    def.name, team.name
                ),
            )
            .hint(format!("`team logs {}` shows how far it got", team.name)));
        }
    };
    flush_events(&ctx.store, &team.id, a.events.as_deref())?;
    let extras = super::reports::Extras::of_run(&ctx.store, &team.id, &input_text);
    super::reports::write(&outcome.report, format, a.output.as_deref(), &extras)?;
    super::reports::github(&outcome.report, &extras, annotate_level);
    summary(&ctx, &team.id, started.elapsed())?;
    end_of(&outcome, fail_on)
}

/// A run stopped because every member left waits for approval (`--on-ask park`): prints the
/// pending requests (an array of `Approval` documents with `--format json`, else a table) on
/// stdout, and ends with [`Kind::NeedsInput`] (exit 20) saying what to do next.
fn needs_input(
    ctx: &project::Ctx,
    team: &str,
    format: ReportFormat,
    pending: Vec<team_core::Approval>,
) -> Result<()> {
    let n = pending.len();
    if format == ReportFormat::Json {
        let docs: Vec<crate::doc::ApprovalDoc> = pending
            .into_iter()
            .map(crate::doc::ApprovalDoc::from)
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&docs)
                .map_err(|e| CommandError::failure(e.to_string()))?
        );
    } else {
        let rows = super::approvals::table_rows(&pending, &|_| team.to_owned());
        println!("{}", ctx.out.table(super::approvals::HEADER, rows));
    }
    Err(CommandError::new(
        Kind::NeedsInput,
        format!("needs input: {n} approval request(s) in team {team} wait for a human"),
    )
    .hint(format!("`team approvals {team}` lists them"))
    .hint("`team approve ID` (or `team deny ID --reason TEXT`) decides one")
    .hint(format!("`team resume {team}` then finishes the run")))
}

/// How a finished run ends: `Ok` for a report, [`Kind::Gate`] (exit 10) when `--fail-on` finds
/// a finding at or above its threshold, [`Kind::Budget`] (exit 125) when the token budget was
/// spent, [`Kind::Failure`] when the lead failed or no specialist produced findings (the
/// report's notes say why).
fn end_of(outcome: &ReviewOutcome, fail_on: Option<Severity>) -> Result<()> {
    match outcome.end {
        ReviewEnd::Done => match fail_on {
            Some(t) if outcome.report.count_at_least(t) > 0 => Err(CommandError::new(
                Kind::Gate,
                format!(
                    "gate: {} finding(s) at or above {} (--fail-on)",
                    outcome.report.count_at_least(t),
                    t.as_str()
                ),
            )),
            _ => Ok(()),
        },
        // The report says why (its notes).
        ReviewEnd::BudgetSpent => Err(CommandError::reported(Kind::Budget)),
        ReviewEnd::LeadFailed(_) | ReviewEnd::NoSpecialist => {
            Err(CommandError::reported(Kind::Failure))
        }
    }
}

/// The cassette of `--record` / `--replay`, and for a replay the note that says so (told on
/// stderr now, put first in the report); a replay without `--model` runs on the cassette's.
fn cassette_mode(
    ctx: &Ctx,
    a: &RunArgs,
    flags: &mut crate::cli::RunFlagsArgs,
) -> Result<(CassetteMode, Option<String>)> {
    Ok(match (&a.record, &a.replay) {
        (Some(path), _) => (
            CassetteMode::Record(Arc::new(
                CassetteWriter::create(path).map_err(|e| usage(e.to_string()))?,
            )),
            None,
        ),
        (None, Some(path)) => {
            if flags.model.is_none() {
                flags.model = cassette_model(path);
            }
            let note = replay_note(path);
            ctx.out.note(format!("note: {note}"));
            let cassette = Cassette::load(path).map_err(|e| usage(e.to_string()))?;
            (CassetteMode::Replay(Arc::new(cassette)), Some(note))
        }
        _ => (CassetteMode::Off, None),
    })
}

/// A workflow by name; an unknown one (or one whose file does not load) is not found (exit 3).
fn find(
    root: &std::path::Path,
    name: &str,
) -> Result<(workflow::WorkflowDef, workflow::WorkflowSource)> {
    workflow::find(root, name).map_err(|e| {
        CommandError::new(Kind::NotFound, e.to_string())
            .hint("`team workflows list` lists the workflows")
    })
}

fn team_store_id() -> String {
    let n = now_ms();
    format!(
        "{:x}",
        (n as u64 ^ u64::from(std::process::id()).rotate_left(20)) & 0xff_ffff
    )
}

/// Tokens per member and in total, wall time, parallel speedup; on stderr.
fn summary(ctx: &Ctx, team_id: &str, wall: Duration) -> Result<()> {
    if ctx.out.quiet {
        return Ok(());
    }
    let members = ctx.store.list_members(team_id)?;
    let mut total = (0, 0);
    let mut busy = 0;
    let mut text = String::from("tokens (prompt/completion) and time per member:\n");
    for m in &members {
        total.0 += m.tokens_in;
        total.1 += m.tokens_out;
        busy += m.busy_ms;
        let _ = writeln!(
            text,
            "  {:<16} {:<10} {:>7}/{:<7} busy {}",
            m.name,
            m.status,
            m.tokens_in,
            m.tokens_out,
            duration(m.busy_ms)
        );
    }
    let wall_ms = wall.as_millis().max(1) as i64;
    let _ = writeln!(
        text,
        "total tokens {}/{}; wall time {}; parallel speedup {:.1}x (member busy time / wall time)",
        total.0,
        total.1,
        duration(wall_ms),
        busy as f64 / wall_ms as f64
    );
    // Without `[prices]` no call costs anything: the team's events are not read for it (a
    // 1000-member run has thousands).
    let prices = super::team::prices(ctx);
    let spend = if prices.is_empty() {
        doc::SpendDoc::default()
    } else {
        super::team::spend_at(ctx, team_id, &members, &prices)?
    };
    if spend.total_usd > 0.0 {
        let each: Vec<String> = spend
            .members
            .iter()
            .map(|m| format!("{} ${:.4}", m.member, m.usd))
            .collect();
        let _ = writeln!(text, "spend ${:.4}: {}", spend.total_usd, each.join(", "));
    }
    to_stderr(&text);
    Ok(())
}

/// Writes `text` to stderr at once. `eprintln!` goes to the unbuffered stderr piece by piece
/// (a `write` per argument and per padding run: ~27 per line of the summary, 5 500 system
/// calls for a 200-member team, ~10 ms at exit; BENCHMARKS.md § 9). A closed stderr is not
/// an error worth failing a finished run for.
fn to_stderr(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Writes the team's events as JSON Lines to `target` (`-`: stderr).
fn flush_events(store: &Store, team_id: &str, target: Option<&str>) -> Result<()> {
    let Some(target) = target else { return Ok(()) };
    let events = store.list_events(Some(team_id), 0, i64::MAX)?;
    let mut buf = Vec::new();
    for e in events {
        serde_json::to_writer(&mut buf, &doc::EventDoc::from(e))?;
        buf.push(b'\n');
    }
    if target == "-" {
        std::io::stderr().write_all(&buf)?;
    } else {
        std::fs::write(target, buf).map_err(|e| {
            CommandError::new(
                Kind::Failure,
                format!("cannot write events to {target}: {e}"),
            )
        })?;
    }
    Ok(())
}

/// `team run --detach`: the same run in the background; prints the team name.
fn detach(ctx: &Ctx, a: &RunArgs) -> Result<()> {
    let name = a.name.clone().unwrap_or_else(|| {
        format!(
            "{}-{}",
            a.workflow.as_deref().unwrap_or_default(),
            team_store_id()
        )
    });
    let args: Vec<String> = std::env::args()
        .skip(1)
        // The child writes the report to a file: `--json` would make it JSON there.
        .filter(|x| x != "--detach" && x != "--json")
        .collect();
    let log_path = ctx
        .project_root
        .join(TEAM_DIR)
        .join(format!("run-{name}.log"));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)?;
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.args(&args);
    if a.name.is_none() {
        cmd.arg("--name").arg(&name);
    }
    if a.output.is_none() {
        let path = ctx
            .project_root
            .join(TEAM_DIR)
            .join(format!("report-{name}.{}", a.format.extension()));
        cmd.arg("--output").arg(path);
    }
    use std::os::unix::process::CommandExt;
    let child = cmd
        .env("TEAM_DATABASE_URL", &ctx.db_url)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()?;
    // Wait until the team exists so `team watch NAME` works at once.
    for _ in 0..100 {
        if ctx.store.resolve_team(&name).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if ctx.out.json {
        let team = ctx.store.resolve_team(&name).map_err(|e| {
            CommandError::failure(format!(
                "the background run has not created team {name} after 5 s: {e}"
            ))
            .hint(format!("its log: {}", log_path.display()))
        })?;
        return ctx.out.json(&RunDetachedDoc {
            team: team.into(),
            pid: child.id(),
        });
    }
    println!("{name}");
    ctx.out.note(format!(
        "running in the background (pid {}); log {}",
        child.id(),
        log_path.display()
    ));
    Ok(())
}

/// `team report TEAM`.
pub fn report(ctx: &Ctx, a: &ReportArgs) -> Result<()> {
    let team = ctx.store.resolve_team(&a.team)?;
    let events = ctx.store.list_events(Some(&team.id), 0, i64::MAX)?;
    let report: Option<Report> = events
        .iter()
        .rev()
        .find(|e| e.kind == REPORT_EVENT)
        .and_then(|e| serde_json::from_value(e.payload.clone()).ok());
    let Some(report) = report else {
        return Err(CommandError::new(
            Kind::NotFound,
            format!(
                "team {} has no report (status {}); a workflow run writes one when it ends: see `team watch {}`",
                team.name, team.status, team.name
            ),
        ));
    };
    if ctx.out.json {
        let members = ctx.store.list_members(&team.id)?;
        let now = now_ms();
        let spend = super::team::spend_of(ctx, &team.id, &members)?;
        return ctx.out.json(&ReportManifestDoc {
            spend,
            wall_ms: team.ended_at_ms.unwrap_or(now) - team.created_at_ms,
            tokens: TokensDoc::of(&members),
            members: members
                .iter()
                .map(|m| ReportMemberDoc {
                    name: m.name.clone(),
                    agent: m.agent.clone(),
                    role: m.role,
                    status: m.status,
                    error: m.error.clone(),
                    turns: m.turns,
                    tokens: TokensDoc::of(std::slice::from_ref(m)),
                    busy_ms: m.busy_ms,
                    elapsed_ms: m.elapsed_ms(now),
                })
                .collect(),
            report: ReportDoc(serde_json::to_value(&report)?),
            team: team.into(),
        });
    }
    let extras = super::reports::Extras::of_team(&ctx.store, &team, &report);
    super::reports::write(&report, a.format, None, &extras)
}

/// `team workflows list`: the project's workflows over the bundled ones; outside a project,
/// the bundled ones (no database is opened).
pub fn list(out: Out) -> Result<()> {
    let cwd = std::env::current_dir()?;
    let root = project::find_project(&cwd).unwrap_or(cwd);
    let all = workflow::list(&root).map_err(|e| CommandError::usage(e.to_string()))?;
    if out.json {
        let v: Vec<WorkflowDoc> = all
            .iter()
            .map(|(d, s)| WorkflowDoc {
                name: d.name.clone(),
                description: d.description.clone(),
                kind: d.kind.clone(),
                lead: d.lead.clone(),
                inputs: d.inputs.clone(),
                params: d.params.clone(),
                source: s.kind.to_owned(),
                path: s.path.to_string_lossy().into_owned(),
            })
            .collect();
        return out.json(&v);
    }
    let rows = all
        .iter()
        .map(|(d, s)| {
            vec![
                d.name.clone(),
                s.kind.to_owned(),
                d.inputs.keys().cloned().collect::<Vec<_>>().join(" "),
                d.description.clone(),
            ]
        })
        .collect();
    println!(
        "{}",
        out.table(&["workflow", "source", "inputs", "description"], rows)
    );
    Ok(())
}

/// `team workflows show NAME`.
pub fn show(ctx: &Ctx, name: &str) -> Result<()> {
    let (def, src) = find(&ctx.project_root, name)?;
    if ctx.out.json {
        return ctx.out.json(&WorkflowDefDoc::from(def));
    }
    print!("{}", src.text);
    Ok(())
}
