//! Writing a workflow's report (`team run`, `team report`): the format chosen with `--format`,
//! to stdout or `--output FILE`, and in GitHub Actions the annotations and the step summary.

use std::io::Write;
use std::path::Path;

use team_report::html::RunFacts;
use team_report::{Report, Severity};
use team_store::{Store, now_ms};

use crate::cli::ReportFormat;
use crate::error::{CommandError, Kind, Result};

/// What the formats need beyond the report.
#[derive(Debug, Default)]
pub struct Extras {
    /// The reviewed file's text: SARIF regions and annotations point at its lines.
    pub input_text: Option<String>,
    /// The run's tokens and timings, for the HTML page.
    pub facts: Option<RunFacts>,
}

impl Extras {
    /// The input's text as `team run` read it and the facts of `team_id` from the store.
    pub fn of_run(store: &Store, team_id: &str, input_text: &str) -> Extras {
        Extras {
            input_text: Some(input_text.to_owned()).filter(|t| !t.is_empty()),
            facts: facts(store, team_id),
        }
    }

    /// For `team report`: the input read again (from the working directory, else from the
    /// team's project root), if it is still there, and the facts of `team_id`.
    pub fn of_team(store: &Store, team: &team_core::Team, report: &Report) -> Extras {
        let input = report.input.trim();
        let input_text = (!input.is_empty())
            .then(|| {
                std::fs::read_to_string(input)
                    .or_else(|_| std::fs::read_to_string(Path::new(&team.project_root).join(input)))
                    .ok()
            })
            .flatten();
        Extras {
            input_text,
            facts: facts(store, &team.id),
        }
    }
}

/// The tokens and timings of a team's members (none when the store cannot say).
fn facts(store: &Store, team_id: &str) -> Option<RunFacts> {
    let team = store.resolve_team(team_id).ok()?;
    let members = store.list_members(team_id).ok()?;
    Some(RunFacts::new(&team, &members, now_ms()))
}

/// The report in `format`.
pub fn render(report: &Report, format: ReportFormat, extras: &Extras) -> Result<String> {
    Ok(match format {
        ReportFormat::Md => report.to_markdown(),
        ReportFormat::Json => format!("{}\n", serde_json::to_string_pretty(report)?),
        ReportFormat::Sarif => format!(
            "{}\n",
            serde_json::to_string_pretty(
                &report.to_sarif(extras.input_text.as_deref(), env!("CARGO_PKG_VERSION"))
            )?
        ),
        ReportFormat::Html => report.to_html(extras.facts.as_ref()),
    })
}

/// Writes the report in `format` to `output`, or to stdout.
pub fn write(
    report: &Report,
    format: ReportFormat,
    output: Option<&str>,
    extras: &Extras,
) -> Result<()> {
    let text = render(report, format, extras)?;
    match output {
        Some(path) => std::fs::write(path, text).map_err(|e| {
            CommandError::new(
                Kind::Failure,
                format!("cannot write the report to {path}: {e}"),
            )
        })?,
        None => {
            let mut o = std::io::stdout().lock();
            o.write_all(text.as_bytes())?;
            o.flush()?;
        }
    }
    Ok(())
}

/// `--annotate-level`: a severity, or `none` (no annotations).
pub fn annotate_level(text: &str) -> Result<Option<Severity>, String> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    Severity::parse(text).map(Some).ok_or_else(|| {
        format!("--annotate-level takes blocker, major, minor, nit or none, not `{text}`")
    })
}

/// True in a GitHub Actions job (`GITHUB_ACTIONS=true`, as the runner sets it).
pub fn in_github_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// In GitHub Actions: one annotation per finding at or above `level` on stderr (the runner
/// reads workflow commands there too), and the Markdown report appended to the file named by
/// `GITHUB_STEP_SUMMARY`, when it is set. Elsewhere nothing. A summary that cannot be written
/// is a warning: the run and its report stand.
pub fn github(report: &Report, extras: &Extras, level: Option<Severity>) {
    if !in_github_actions() {
        return;
    }
    if let Some(level) = level {
        let lines = report.to_github_annotations(extras.input_text.as_deref(), level);
        let _ = std::io::stderr().lock().write_all(lines.as_bytes());
    }
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return;
    };
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| writeln!(f, "{}", report.to_markdown()));
    if let Err(e) = appended {
        eprintln!(
            "warning: cannot append the report to GITHUB_STEP_SUMMARY ({}): {e}",
            Path::new(&path).display()
        );
    }
}
