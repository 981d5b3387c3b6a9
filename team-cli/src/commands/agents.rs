//! `team agents list|show|check`: the agent definitions this project can run, what each
//! resolves to, and the agent files that are broken.

use team_agent::{AgentDef, AgentKind, BrokenAgent, PermissionRule, offered_tools, tool_problems};
use team_runner::AgentRuntime;

use crate::commands::run::load_project;
use crate::doc::{
    AgentCheckDoc, AgentDoc, AgentsCheckDoc, AgentsListDoc, BrokenAgentDoc, ModelDoc, PatternDoc,
    PermissionRuleDoc, PermissionsDoc, ShadowedAgentDoc, ToolProblemDoc,
};
use crate::error::{CommandError, Kind, Result};
use crate::output::one_line;
use crate::project::Ctx;

fn kind_text(runtime: &AgentRuntime, def: &AgentDef) -> (String, String) {
    match def.kind() {
        AgentKind::Command { argv } => ("command".into(), argv.join(" ")),
        AgentKind::Llm { provider, model } => ("llm".into(), format!("{provider}/{model}")),
        AgentKind::LlmAlias { alias } => match runtime.model_aliases.get(&alias) {
            Some(m) => ("llm".into(), format!("{alias} → {m}")),
            None => ("llm".into(), format!("{alias} (unknown alias)")),
        },
        AgentKind::Unconfigured => ("llm".into(), "inherit".into()),
        AgentKind::Runtime { runtime, model } => (
            "runtime".into(),
            match model {
                Some(m) => format!("{runtime} ({m})"),
                None => runtime,
            },
        ),
    }
}

fn rel(ctx: &Ctx, path: &std::path::Path) -> String {
    path.strip_prefix(&ctx.project_root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The broken files, with paths relative to the project root in the error text.
fn broken_doc(ctx: &Ctx, b: &BrokenAgent) -> BrokenAgentDoc {
    BrokenAgentDoc {
        name: b.name.clone(),
        path: rel(ctx, &b.source.path),
        source: b.source.kind.label().to_owned(),
        line: b.line,
        error: relative_error(ctx, &b.error),
    }
}

/// An error message with the project root stripped from the paths it names.
fn relative_error(ctx: &Ctx, text: &str) -> String {
    let root = format!("{}/", ctx.project_root.display());
    text.replace(&root, "")
}

fn permissions_doc(def: &AgentDef) -> Option<PermissionsDoc> {
    let p = def.permission.as_ref()?;
    let rules = p
        .rules
        .iter()
        .map(|(tool, rule)| match rule {
            PermissionRule::Always(a) => PermissionRuleDoc::Always {
                tool: tool.clone(),
                action: a.as_str().to_owned(),
            },
            PermissionRule::Patterns(ps) => PermissionRuleDoc::Patterns {
                tool: tool.clone(),
                patterns: ps
                    .iter()
                    .map(|(pat, a)| PatternDoc {
                        pattern: pat.clone(),
                        action: a.as_str().to_owned(),
                    })
                    .collect(),
            },
        })
        .collect();
    Some(PermissionsDoc {
        default: p.default.map(|a| a.as_str().to_owned()),
        rules,
    })
}

fn tool_problem_docs(def: &AgentDef) -> Vec<ToolProblemDoc> {
    tool_problems(def)
        .into_iter()
        .map(|p| ToolProblemDoc {
            tool: p.tool,
            reason: p.reason.to_owned(),
        })
        .collect()
}

fn permissions_text(def: &AgentDef) -> String {
    let Some(p) = &def.permission else {
        return "defaults (ask before bash and file writes, unless --allow/--yes)".into();
    };
    let mut parts: Vec<String> = Vec::new();
    if let Some(d) = p.default {
        parts.push(format!("* = {}", d.as_str()));
    }
    for (tool, rule) in &p.rules {
        match rule {
            PermissionRule::Always(a) => parts.push(format!("{tool} = {}", a.as_str())),
            PermissionRule::Patterns(ps) => parts.push(format!(
                "{tool} = {{{}}}",
                ps.iter()
                    .map(|(pat, a)| format!("{pat:?}: {}", a.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
    parts.join(", ")
}

fn agent_doc(ctx: &Ctx, runtime: &AgentRuntime, def: &AgentDef) -> AgentDoc {
    let (kind, runs) = kind_text(runtime, def);
    let model = match runtime.resolve_model(def, None) {
        Ok(Some(r)) => Some(ModelDoc::Resolved {
            provider: r.model.split_once('/').map(|(p, _)| p.to_owned()),
            rule: r.rule.key().to_owned(),
            rule_text: r.rule.to_string(),
            model: r.model,
        }),
        Ok(None) => None,
        Err(error) => Some(ModelDoc::Error { error }),
    };
    let is_llm = !matches!(
        def.kind(),
        AgentKind::Command { .. } | AgentKind::Runtime { .. }
    );
    AgentDoc {
        name: def.name.clone(),
        description: def.description.clone(),
        kind,
        runs,
        model,
        model_field: def
            .model
            .as_ref()
            .map(|m| m.to_string())
            .or(def.model_alias.clone()),
        command: def.command.clone(),
        tools: is_llm.then(|| offered_tools(def)),
        unavailable_tools: tool_problem_docs(def),
        permissions: permissions_doc(def),
        memory: format!("{:?}", def.memory).to_lowercase(),
        max_turns: def.max_turns,
        temperature: def.temperature,
        timeout_secs: def.timeout.map(|t| t.as_secs()),
        env: def.env.keys().cloned().collect(),
        env_passthrough: def.env_passthrough.clone(),
        source: def.source.kind.label().to_owned(),
        path: rel(ctx, &def.source.path),
        warnings: def
            .warnings
            .iter()
            .map(|w| relative_error(ctx, w))
            .collect(),
        instructions: def.instructions.clone(),
    }
}

/// Prints one warning line per broken file on stderr (also with `--json`, whose stdout
/// holds the same list as `broken`), then the warnings of the files that loaded (unless
/// `-q`/`--json`: `agents show` and `agents check` show those too).
fn warn_broken(ctx: &Ctx, runtime: &AgentRuntime) {
    for b in runtime.catalog.broken() {
        eprintln!(
            "warning: broken agent file, skipped: {}",
            relative_error(ctx, &b.error)
        );
    }
    for def in runtime.catalog.agents() {
        for w in &def.warnings {
            ctx.out.note(format!("warning: {}", relative_error(ctx, w)));
        }
    }
}

/// `team agents list`.
pub fn list(ctx: &Ctx) -> Result<()> {
    let (_, runtime) = load_project(&ctx.project_root, &Default::default(), Default::default())?;
    let catalog = &runtime.catalog;
    warn_broken(ctx, &runtime);
    if ctx.out.json {
        return ctx.out.json(&AgentsListDoc {
            agents: catalog
                .agents()
                .map(|d| agent_doc(ctx, &runtime, d))
                .collect(),
            shadowed: catalog
                .shadowed()
                .iter()
                .map(|s| ShadowedAgentDoc {
                    agent: agent_doc(ctx, &runtime, &s.agent),
                    shadowed_by: s.shadowed_by.path.to_string_lossy().into_owned(),
                })
                .collect(),
            broken: catalog
                .broken()
                .iter()
                .map(|b| broken_doc(ctx, b))
                .collect(),
        });
    }
    if catalog.is_empty() {
        ctx.out
            .note("no agents: add one as .team/agents/NAME.md (Markdown with YAML front matter)");
        return Ok(());
    }
    let rows = catalog
        .agents()
        .map(|d| {
            let (kind, runs) = kind_text(&runtime, d);
            vec![
                d.name.clone(),
                kind,
                one_line(&runs, 40),
                rel(ctx, &d.source.path),
                one_line(d.description.as_deref().unwrap_or(""), 50),
            ]
        })
        .collect();
    println!(
        "{}",
        ctx.out
            .table(&["agent", "kind", "runs", "found in", "description"], rows)
    );
    for s in catalog.shadowed() {
        ctx.out.note(format!(
            "note: {} in {} is hidden by {}",
            s.agent.name,
            rel(ctx, &s.agent.source.path),
            s.shadowed_by.path.display()
        ));
    }
    Ok(())
}

/// `team agents show NAME`.
pub fn show(ctx: &Ctx, name: &str) -> Result<()> {
    let (_, runtime) = load_project(&ctx.project_root, &Default::default(), Default::default())?;
    let def = match runtime.catalog.get(name) {
        Ok(def) => def,
        Err(e @ team_agent::AgentError::Broken { .. }) => {
            return Err(CommandError::usage(relative_error(ctx, &e.to_string()))
                .hint("`team agents check` lists every broken agent file"));
        }
        Err(e) => {
            return Err(CommandError::new(Kind::NotFound, e.to_string())
                .hint("`team agents list` lists the agents this project can run"));
        }
    };
    if ctx.out.json {
        return ctx.out.json(&agent_doc(ctx, &runtime, def));
    }
    let (kind, runs) = kind_text(&runtime, def);
    println!("agent {} ({kind}: {runs})", def.name);
    println!("found in: {}", rel(ctx, &def.source.path));
    if let Some(d) = &def.description {
        println!("description: {d}");
    }
    match runtime.resolve_model(def, None) {
        Ok(Some(r)) => println!("model: {} ({})", r.model, r.rule),
        Ok(None) => {}
        Err(_) if def.kind() == AgentKind::Unconfigured => println!(
            "model: inherit (the run's --model, else the team lead's model, else [team] \
             default_model; none is set now)"
        ),
        Err(e) => println!("model: unresolved: {}", relative_error(ctx, &e)),
    }
    if let AgentKind::Command { argv } = def.kind() {
        println!("command: {}", argv.join(" "));
        if !def.env_passthrough.is_empty() {
            println!("env passed through: {}", def.env_passthrough.join(", "));
        }
    } else {
        println!("tools: {}", offered_tools(def).join(", "));
        println!("permissions: {}", permissions_text(def));
    }
    for p in tool_problems(def) {
        println!("not available: {} ({})", p.tool, p.reason);
    }
    if !def.env.is_empty() {
        let keys: Vec<&str> = def.env.keys().map(String::as_str).collect();
        println!("env: {}", keys.join(", "));
    }
    println!("memory: {}", format!("{:?}", def.memory).to_lowercase());
    match def.timeout {
        Some(t) => println!("timeout: {}", humantime::format_duration(t)),
        None => println!("timeout: none"),
    }
    if let Some(n) = def.max_turns {
        println!("max turns: {n}");
    }
    for w in &def.warnings {
        eprintln!("warning: {}", relative_error(ctx, w));
    }
    if !def.instructions.is_empty() {
        println!("\n{}", def.instructions);
    }
    Ok(())
}

/// `team agents check`: exit 2 when a file is broken or a model alias does not resolve.
pub fn check(ctx: &Ctx) -> Result<()> {
    let (_, runtime) = load_project(&ctx.project_root, &Default::default(), Default::default())?;
    let catalog = &runtime.catalog;
    let mut errors = catalog.broken().len();
    let mut agents = Vec::new();
    let mut lines = Vec::new();
    // Files only: the built-in agents are tested with the binary.
    let files = catalog
        .agents()
        .chain(catalog.shadowed().iter().map(|s| &s.agent))
        .filter(|d| d.source.kind != team_agent::SourceKind::Builtin);
    for def in files {
        let path = rel(ctx, &def.source.path);
        let problems = tool_problems(def);
        let model_error = match runtime.resolve_model(def, None) {
            Err(e) if def.model_alias.is_some() => Some(e),
            _ => None,
        };
        errors += usize::from(model_error.is_some());
        for w in &def.warnings {
            lines.push(format!("warning: {}", relative_error(ctx, w)));
        }
        for p in &problems {
            lines.push(format!(
                "warning: {path}: {}: tool `{}` is not available: {}",
                def.name, p.tool, p.reason
            ));
        }
        if let Some(e) = &model_error {
            lines.push(format!("error: {}", relative_error(ctx, e)));
        }
        agents.push(AgentCheckDoc {
            name: def.name.clone(),
            path,
            warnings: def
                .warnings
                .iter()
                .map(|w| relative_error(ctx, w))
                .collect(),
            unavailable_tools: tool_problem_docs(def),
            model_error,
        });
    }
    for b in catalog.broken() {
        lines.push(format!("error: {}", relative_error(ctx, &b.error)));
    }
    let checked = agents.len();
    if ctx.out.json {
        ctx.out.json(&AgentsCheckDoc {
            ok: errors == 0,
            agents,
            broken: catalog
                .broken()
                .iter()
                .map(|b| broken_doc(ctx, b))
                .collect(),
        })?;
    } else {
        for l in &lines {
            println!("{l}");
        }
        println!(
            "{} agent file(s) checked: {} broken, {errors} error(s), {} warning(s)",
            checked + catalog.broken().len(),
            catalog.broken().len(),
            lines.iter().filter(|l| l.starts_with("warning")).count()
        );
    }
    if errors > 0 {
        // The lines (or the document) above say what is wrong.
        return Err(CommandError::reported(Kind::Usage));
    }
    Ok(())
}
