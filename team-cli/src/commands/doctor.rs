//! `team doctor`: what `team` finds here (config files, providers, the database, agent
//! files, runners) and what `team run spec-review` would run right now; exit 1 with the next
//! command to run when something is wrong.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use team_agent::config::{self, Config};
use team_agent::{AgentKind, SourceKind};
use team_provider::{EnvFn, ProbeOutcome, ProviderSettings, process_env};
use team_runner::workflow::{self, review};
use team_runner::{AgentRuntime, Plan};
use team_store::{Store, now_ms};

use crate::commands::run::load_project;
use crate::doc::{
    ConfigFileDoc, DoctorAgentsDoc, DoctorConfigDoc, DoctorDatabaseDoc, DoctorDoc,
    DoctorProviderDoc, DoctorRunnerDoc, PlanAgentDoc, PlanDoc, ProblemDoc,
};
use crate::error::{CommandError, Kind, Result};
use crate::output::Out;
use crate::project::{self, DB_FILE, TEAM_DIR};

/// How long a provider's `/models` may take to answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The environment variables that change the configuration or the run (names only).
const ENV_VARS: &[&str] = &[
    "TEAM_DATABASE_URL",
    config::ENV_MODEL,
    config::ENV_MAX_AGENTS,
    config::ENV_MEMBER_TIMEOUT_SECS,
    config::ENV_CONFIG_HOME,
    "OPENAI_BASE_URL",
];

/// One thing the doctor looked at.
struct Line {
    level: Level,
    text: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Warn,
    Error,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// A problem: what is wrong, and the command (or edit) that fixes it.
struct Problem {
    section: &'static str,
    message: String,
    fix: String,
}

#[derive(Default)]
struct Report {
    sections: Vec<(&'static str, Vec<Line>)>,
    problems: Vec<Problem>,
    /// What `--json` prints of the database (the part the store's checks fill in).
    database: Option<DoctorDatabaseDoc>,
    agents: Option<DoctorAgentsDoc>,
    runners: Vec<DoctorRunnerDoc>,
}

impl Report {
    fn section(&mut self, name: &'static str) {
        self.sections.push((name, Vec::new()));
    }

    fn line(&mut self, level: Level, text: impl Into<String>) {
        if let Some((_, lines)) = self.sections.last_mut() {
            lines.push(Line {
                level,
                text: text.into(),
            });
        }
    }

    fn ok(&mut self, text: impl Into<String>) {
        self.line(Level::Ok, text);
    }

    fn warn(&mut self, text: impl Into<String>) {
        self.line(Level::Warn, text);
    }

    fn problem(&mut self, message: impl Into<String>, fix: impl Into<String>) {
        let message = message.into();
        let section = self.sections.last().map_or("", |(s, _)| *s);
        self.line(Level::Error, message.clone());
        self.problems.push(Problem {
            section,
            message,
            fix: fix.into(),
        });
    }
}

fn display(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// `team doctor`.
pub fn doctor(db: Option<&str>, out: Out) -> Result<()> {
    let cwd = std::env::current_dir()?;
    let project = project::find_project(&cwd);
    let root = project.clone().unwrap_or_else(|| cwd.clone());
    let mut r = Report::default();

    // --- config
    r.section("config");
    let user = config::user_config_path();
    let project_file = project.as_deref().map(config::project_config_path);
    let loaded = Config::load(project.as_deref());
    let loaded_files: Vec<PathBuf> = loaded
        .as_ref()
        .map(|c| c.loaded_files.clone())
        .unwrap_or_default();
    let mut files = Vec::new();
    for (layer, path) in [("user", user.clone()), ("project", project_file.clone())] {
        let Some(path) = path else {
            if layer == "project" {
                r.warn(format!(
                    "no {TEAM_DIR}/ in {} or its parents: `team init` creates one",
                    cwd.display()
                ));
            }
            files.push(ConfigFileDoc {
                layer: layer.to_owned(),
                path: None,
                found: false,
            });
            continue;
        };
        let found = path.is_file();
        let read = loaded_files.contains(&path);
        let shown = if layer == "project" {
            display(&root, &path)
        } else {
            path.display().to_string()
        };
        if found {
            r.ok(format!(
                "{layer} file {shown}: {}",
                if read { "read" } else { "found" }
            ));
        } else {
            r.ok(format!("{layer} file {shown}: none (built-in defaults)"));
        }
        files.push(ConfigFileDoc {
            layer: layer.to_owned(),
            path: Some(path.to_string_lossy().into_owned()),
            found,
        });
    }
    let env_set: Vec<&str> = ENV_VARS
        .iter()
        .copied()
        .filter(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
        .collect();
    if !env_set.is_empty() {
        r.ok(format!("environment: {} set", env_set.join(", ")));
    }
    let mut config_doc = DoctorConfigDoc {
        files,
        environment: env_set.iter().map(|v| (*v).to_owned()).collect(),
        warnings: Vec::new(),
        error: None,
    };
    let config = match loaded {
        Ok(c) => {
            for w in &c.warnings {
                r.warn(w.clone());
            }
            config_doc.warnings = c.warnings.clone();
            Some(c)
        }
        Err(e) => {
            config_doc.error = Some(e.to_string());
            r.problem(
                format!("the configuration does not load: {e}"),
                "fix the file named above, then `team config show`",
            );
            None
        }
    };

    // --- the runtime (providers, agents) from the project, as `team run` loads it
    let runtime = match &config {
        Some(_) => match load_project(&root, &Default::default(), Default::default()) {
            Ok((_, mut rt)) => {
                rt.model_override = std::env::var(config::ENV_MODEL)
                    .ok()
                    .filter(|m| !m.trim().is_empty());
                Some(rt)
            }
            Err(e) => {
                r.problem(
                    format!("the providers or agents do not load: {e}"),
                    "fix the configuration, then `team config show`",
                );
                None
            }
        },
        None => None,
    };

    // --- what `team run spec-review` would run (needed to know which providers matter)
    let plan = runtime.as_ref().map(|rt| spec_review_plan(&root, rt));

    // --- providers
    r.section("providers");
    let env = process_env();
    let mut provider_json = Vec::new();
    if let (Some(config), Some(rt)) = (&config, &runtime) {
        let used: Vec<String> = plan
            .as_ref()
            .map(|p| {
                p.models
                    .iter()
                    .filter_map(|m| m.split_once('/'))
                    .map(|(p, _)| p.to_owned())
                    .collect()
            })
            .unwrap_or_default();
        let names = provider_names(config, rt, &env, &used);
        let settings: Vec<(ProviderSettings, bool)> = names
            .iter()
            .filter_map(|n| rt.providers.settings(n).cloned())
            .map(|s| {
                let given = base_url_given(config, &s.name, &env);
                (s, given)
            })
            .collect();
        let probes = probe_all(&settings, &env);
        if settings.is_empty() {
            r.ok("none configured; add [providers.NAME] to .team/config.toml, or export OPENAI_API_KEY");
        }
        for ((s, given), probe) in settings.iter().zip(probes) {
            let key_set = s
                .api_key_env
                .as_deref()
                .map(|v| env(v).is_some_and(|k| !k.trim().is_empty()));
            let key_text = match (&s.api_key_env, key_set) {
                (Some(var), Some(true)) => format!("key {var} set"),
                (Some(var), _) => format!("key {var} NOT set"),
                (None, _) => "no key".to_owned(),
            };
            let head = format!("{} ({}, {}, {key_text})", s.name, kind_name(s), s.base_url);
            if key_set == Some(false) {
                let var = s.api_key_env.clone().unwrap_or_default();
                r.problem(
                    format!("{head}: its key variable is not set"),
                    format!("export {var}=… (or set api_key_env = \"\" under [providers.{}] for a server without keys)", s.name),
                );
            } else {
                match &probe {
                    None => r.ok(format!(
                        "{head}: not probed (a built-in address; doctor only calls a base_url you set)"
                    )),
                    Some(ProbeOutcome::Ok { status, latency_ms }) => r.ok(format!(
                        "{head}: reachable (GET /models: {status} in {latency_ms} ms)"
                    )),
                    Some(ProbeOutcome::Answered { status }) => r.ok(format!(
                        "{head}: reachable (GET /models answered {status})"
                    )),
                    Some(ProbeOutcome::KeyRefused { status }) => r.problem(
                        format!("{head}: the server refuses the key (GET /models: {status})"),
                        format!(
                            "check the value of {}",
                            s.api_key_env.as_deref().unwrap_or("the key variable")
                        ),
                    ),
                    Some(ProbeOutcome::Unreachable { error }) => r.problem(
                        format!("{head}: unreachable: {error}"),
                        if config.providers.get(&s.name).is_some_and(|t| t.contains_key("base_url")) {
                            format!(
                                "start the server at {} or fix base_url under [providers.{}] in .team/config.toml",
                                s.base_url, s.name
                            )
                        } else {
                            format!("start the server at {} or fix OPENAI_BASE_URL", s.base_url)
                        },
                    ),
                }
            }
            provider_json.push(DoctorProviderDoc {
                name: s.name.clone(),
                kind: kind_name(s).to_owned(),
                base_url: s.base_url.clone(),
                base_url_given: *given,
                api_key_env: s.api_key_env.clone(),
                key_set,
                probe: probe.as_ref().and_then(|p| serde_json::to_value(p).ok()),
            });
        }
    }

    // --- database
    r.section("database");
    let store = open_store(db, project.as_deref(), &mut r);

    // --- agents
    r.section("agents");
    if let Some(rt) = &runtime {
        agents_section(&root, rt, &mut r);
    }

    // --- runners
    r.section("runners");
    if let Some(store) = &store {
        runners_section(store, &mut r);
    } else {
        r.ok("not checked (no database)");
    }

    // --- team run spec-review
    r.section("team run spec-review");
    let mut spec_review = None;
    if let Some(p) = plan {
        for l in p.lines {
            r.line(l.level, l.text);
        }
        for (message, fix) in p.problems {
            r.problems.push(Problem {
                section: "team run spec-review",
                message,
                fix,
            });
        }
        spec_review = p.doc;
    }

    let ok = r.problems.is_empty();
    if out.json {
        out.json(&DoctorDoc {
            ok,
            config: config_doc,
            providers: provider_json,
            database: r.database.take().unwrap_or_else(|| DoctorDatabaseDoc {
                error: Some("no database".into()),
                ..Default::default()
            }),
            agents: r.agents.take(),
            runners: std::mem::take(&mut r.runners),
            spec_review,
            problems: r
                .problems
                .iter()
                .map(|p| ProblemDoc {
                    section: p.section.to_owned(),
                    message: p.message.clone(),
                    fix: p.fix.clone(),
                })
                .collect(),
        })?;
    } else {
        let mut text = String::new();
        for (name, lines) in &r.sections {
            text.push_str(name);
            text.push('\n');
            for l in lines {
                text.push_str(&format!("  {:<6} {}\n", paint(out, l.level), l.text));
            }
        }
        match r.problems.first() {
            None => text.push_str("all is well\n"),
            Some(first) => text.push_str(&format!(
                "{} problem(s); next: {}\n",
                r.problems.len(),
                first.fix
            )),
        }
        print!("{text}");
    }
    if ok {
        Ok(())
    } else {
        // The report above names each problem and the next command.
        Err(CommandError::reported(Kind::Failure))
    }
}

/// The level word, padded, coloured when the output is (green, yellow, red).
fn paint(out: Out, level: Level) -> String {
    let word = format!("{:<5}", level.word());
    if !out.color {
        return word;
    }
    let color = match level {
        Level::Ok => anstyle::AnsiColor::Green,
        Level::Warn => anstyle::AnsiColor::Yellow,
        Level::Error => anstyle::AnsiColor::Red,
    };
    let style = anstyle::Style::new().fg_color(Some(color.into()));
    format!("{style}{word}{style:#}")
}

fn kind_name(s: &ProviderSettings) -> &'static str {
    match s.kind {
        team_provider::ProviderKind::OpenAi => "openai",
        team_provider::ProviderKind::Anthropic => "anthropic",
    }
}

/// The providers worth showing: those with a `[providers.NAME]` table, the built-in ones
/// whose key variable is set (or, for `openai`, `OPENAI_BASE_URL`), and those the
/// `spec-review` run would call.
fn provider_names(config: &Config, rt: &AgentRuntime, env: &EnvFn, used: &[String]) -> Vec<String> {
    let mut names: Vec<String> = config.providers.keys().cloned().collect();
    for name in rt.providers.known() {
        let Some(s) = rt.providers.settings(name) else {
            continue;
        };
        let key_set = s
            .api_key_env
            .as_deref()
            .is_some_and(|v| env(v).is_some_and(|k| !k.trim().is_empty()));
        let base_set =
            name == "openai" && env("OPENAI_BASE_URL").is_some_and(|v| !v.trim().is_empty());
        if key_set || base_set {
            names.push(name.to_owned());
        }
    }
    names.extend(used.iter().cloned());
    names.sort();
    names.dedup();
    names
}

/// Whether the provider's address was set by the user (a `base_url` in a config file, or
/// `OPENAI_BASE_URL` for `openai`): only such addresses are probed.
fn base_url_given(config: &Config, name: &str, env: &EnvFn) -> bool {
    config
        .providers
        .get(name)
        .is_some_and(|t| t.contains_key("base_url"))
        || (name == "openai" && env("OPENAI_BASE_URL").is_some_and(|v| !v.trim().is_empty()))
}

/// Probes every provider whose base URL was given, all at once; `None` for the others.
fn probe_all(settings: &[(ProviderSettings, bool)], env: &EnvFn) -> Vec<Option<ProbeOutcome>> {
    if !settings.iter().any(|(_, given)| *given) {
        return vec![None; settings.len()];
    }
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return vec![None; settings.len()];
    };
    rt.block_on(async {
        let tasks: Vec<_> = settings
            .iter()
            .map(|(s, given)| {
                let (s, given, env) = (s.clone(), *given, Arc::clone(env));
                tokio::spawn(async move {
                    if given {
                        Some(team_provider::probe(&s, &env, PROBE_TIMEOUT).await)
                    } else {
                        None
                    }
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.ok().flatten());
        }
        out
    })
}

/// Opens the database `team` would use, without creating one that does not exist yet.
fn open_store(db: Option<&str>, project: Option<&Path>, r: &mut Report) -> Option<Store> {
    let url = match (db, project) {
        (Some(url), _) => url.to_owned(),
        (None, Some(root)) => {
            let path = root.join(TEAM_DIR).join(DB_FILE);
            if !path.exists() {
                r.ok(format!(
                    "{TEAM_DIR}/{DB_FILE} does not exist yet: the first command that needs it creates it"
                ));
                r.database = Some(DoctorDatabaseDoc {
                    url: Some(path.to_string_lossy().into_owned()),
                    exists: Some(false),
                    ..Default::default()
                });
                return None;
            }
            path.to_string_lossy().into_owned()
        }
        (None, None) => {
            r.problem(
                "no database: no --db, no TEAM_DATABASE_URL and no .team/ here or above",
                "team init",
            );
            return None;
        }
    };
    let store = match Store::open(&url) {
        Ok(s) => s,
        Err(e) => {
            r.database = Some(DoctorDatabaseDoc {
                url: Some(team_store::redact_url(&url)),
                error: Some(e.to_string()),
                ..Default::default()
            });
            r.problem(
                format!("{e}"),
                "check --db / TEAM_DATABASE_URL (is the server up?), then `team doctor`",
            );
            return None;
        }
    };
    match store.database_info() {
        Ok(info) => {
            let engine = match info.engine {
                team_store::Backend::Sqlite => "SQLite",
                team_store::Backend::Postgres => "PostgreSQL",
            };
            let latest = info.applied.last().cloned().unwrap_or_default();
            r.ok(format!(
                "{engine} {} at {}: {} of {} migrations applied (latest {latest})",
                info.version,
                store.target(),
                info.applied.len() - info.unknown().len(),
                info.known.len()
            ));
            if !info.unknown().is_empty() {
                r.problem(
                    format!(
                        "the database has migrations this team binary does not know ({}): a newer team wrote it",
                        info.unknown().join(", ")
                    ),
                    "install the newer team (`cargo install --path team-cli`)",
                );
            }
            r.database = Some(DoctorDatabaseDoc {
                url: Some(store.target().to_owned()),
                exists: Some(true),
                engine: Some(
                    match info.engine {
                        team_store::Backend::Sqlite => "sqlite",
                        team_store::Backend::Postgres => "postgres",
                    }
                    .to_owned(),
                ),
                version: Some(info.version.clone()),
                migrations_pending: Some(info.pending().into_iter().map(str::to_owned).collect()),
                migrations_unknown: Some(info.unknown().into_iter().map(str::to_owned).collect()),
                migrations_known: Some(info.known.len()),
                migrations_applied: Some(info.applied.clone()),
                error: None,
            });
        }
        Err(e) => r.problem(
            format!("cannot read the database's version and migrations: {e}"),
            "check the database, then `team doctor`",
        ),
    }
    Some(store)
}

/// The broken-file check of `team agents check`: broken files and model aliases that do not
/// resolve are problems; warnings are shown.
fn agents_section(root: &Path, rt: &AgentRuntime, r: &mut Report) {
    let catalog = &rt.catalog;
    let mut errors = Vec::new();
    let prefix = format!("{}/", root.display());
    for b in catalog.broken() {
        errors.push(b.error.replace(&prefix, ""));
    }
    let files: Vec<_> = catalog
        .agents()
        .chain(catalog.shadowed().iter().map(|s| &s.agent))
        .filter(|d| d.source.kind != SourceKind::Builtin)
        .collect();
    let mut warnings = 0;
    for def in &files {
        warnings += def.warnings.len();
        if def.model_alias.is_some()
            && let Err(e) = rt.resolve_model(def, None)
        {
            errors.push(e.replace(&prefix, ""));
        }
    }
    let total = catalog.agents().count();
    if errors.is_empty() {
        r.ok(format!(
            "{total} agent(s) ({} from files), no broken file{}",
            files.len(),
            if warnings > 0 {
                format!(", {warnings} warning(s): `team agents check` shows them")
            } else {
                String::new()
            }
        ));
    }
    for e in &errors {
        r.problem(e.clone(), "team agents check");
    }
    r.agents = Some(DoctorAgentsDoc {
        count: total,
        files: files.len(),
        warnings,
        errors,
    });
}

fn runners_section(store: &Store, r: &mut Report) {
    let runners = match store.list_runners(false) {
        Ok(v) => v,
        Err(e) => {
            r.problem(format!("cannot list runners: {e}"), "team doctor");
            return;
        }
    };
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let now = now_ms();
    let mut v = Vec::new();
    if runners.is_empty() {
        r.ok("none running (`team spawn --background` starts one on demand)");
    }
    for run in &runners {
        // The one rule of `team reconcile` and the runners (team_core::runner::runner_lost).
        let alive = !team_runner::reconcile::is_lost(run, &host, now);
        let text = format!(
            "runner {} (pid {} on {}, up to {} agents), last heartbeat {} ago",
            run.id,
            run.pid,
            run.host,
            run.max_agents,
            crate::output::duration(now - run.heartbeat_at_ms)
        );
        if alive {
            r.ok(format!("{text}: alive"));
        } else {
            r.problem(
                format!("{text}: gone without stopping (its members will fail as `runner lost`)"),
                "team reconcile",
            );
        }
        v.push(DoctorRunnerDoc {
            id: run.id.clone(),
            pid: run.pid,
            host: run.host.clone(),
            max_agents: run.max_agents,
            started_at_ms: run.started_at_ms,
            heartbeat_at_ms: run.heartbeat_at_ms,
            alive,
        });
    }
    r.runners = v;
}

struct Plan2 {
    lines: Vec<Line>,
    problems: Vec<(String, String)>,
    models: Vec<String>,
    doc: Option<PlanDoc>,
}

/// What `team run spec-review` would run now: the workflow's lead and specialists with the
/// models (or programs) they resolve to, and what would stop the run.
fn spec_review_plan(root: &Path, rt: &AgentRuntime) -> Plan2 {
    let mut p = Plan2 {
        lines: Vec::new(),
        problems: Vec::new(),
        models: Vec::new(),
        doc: None,
    };
    let (def, src) = match workflow::find(root, "spec-review") {
        Ok(x) => x,
        Err(e) => {
            let msg = format!("the spec-review workflow does not load: {e}");
            p.lines.push(Line {
                level: Level::Error,
                text: msg.clone(),
            });
            p.problems
                .push((msg, "fix .team/workflows/spec-review.toml".into()));
            return p;
        }
    };
    let mut agents = vec![(def.lead.clone(), "lead")];
    agents.extend(
        review::reviewers(&def.params)
            .into_iter()
            .map(|a| (a, "specialist")),
    );
    let mut rows = Vec::new();
    for (name, role) in agents {
        let lead = (role != "lead").then_some(def.lead.as_str());
        let mut row = PlanAgentDoc {
            agent: name.clone(),
            role: role.to_owned(),
            command: None,
            model: None,
            rule: None,
            error: None,
        };
        let runs = match rt.catalog.get(&name) {
            Err(e) => Err(e.to_string()),
            Ok(agent) => match rt.plan_for(agent, lead) {
                Ok(Plan::Command(argv)) => {
                    row.command = Some(argv.clone());
                    Ok(format!("command `{}`", argv.join(" ")))
                }
                Ok(Plan::Runtime { runtime, model }) => {
                    row.command = Some(vec![runtime.clone()]);
                    row.model = model.clone();
                    Ok(match model {
                        Some(m) => format!("runtime `{runtime}` with model {m}"),
                        None => format!("runtime `{runtime}`"),
                    })
                }
                Ok(Plan::Llm(model)) => {
                    let rule = rt
                        .resolve_model(agent, lead)
                        .ok()
                        .flatten()
                        .map(|m| m.rule.to_string())
                        .unwrap_or_default();
                    row.model = Some(model.clone());
                    row.rule = Some(rule.clone());
                    p.models.push(model.clone());
                    Ok(format!("{model}; rule: {rule}"))
                }
                Err(e) => Err(e),
            },
        };
        let checked = runs.and_then(|t| rt.check_runnable_in(&name, root, lead).map(|()| t));
        match checked {
            Ok(text) => p.lines.push(Line {
                level: Level::Ok,
                text: format!("{role} {name}: {text}"),
            }),
            Err(e) => {
                let no_model = matches!(
                    rt.catalog.get(&name).map(|a| a.kind()),
                    Ok(AgentKind::Unconfigured)
                ) && e.contains("model");
                let fix = if no_model {
                    "pass --model PROVIDER/MODEL to team run (or export TEAM_MODEL, or set [team] default_model in .team/config.toml)".to_owned()
                } else {
                    format!("team agents show {name}")
                };
                // The full advice is the fix; the line says what is missing.
                let msg = if no_model {
                    format!(
                        "{role} {name}: no model (the agent names none, and no --model, TEAM_MODEL or [team] default_model is set)"
                    )
                } else {
                    format!("{role} {name}: {e}")
                };
                p.lines.push(Line {
                    level: Level::Error,
                    text: msg.clone(),
                });
                p.problems.push((msg, fix));
                row.error = Some(e);
            }
        }
        rows.push(row);
    }
    p.doc = Some(PlanDoc {
        workflow: def.name,
        source: src.kind.to_owned(),
        lead: def.lead,
        agents: rows,
    });
    p
}
