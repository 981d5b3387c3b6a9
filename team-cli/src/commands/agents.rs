//! `team agents list|show`: the agent definitions this project can run.

use serde_json::json;
use team_runner::agent::{AgentDef, AgentKind};

use crate::commands::run::load_project;
use crate::error::{CommandError, Kind};
use crate::output::one_line;
use crate::project::Ctx;

fn kind_text(def: &AgentDef) -> (String, String) {
    match def.kind() {
        AgentKind::Llm { provider, model } => ("llm".into(), format!("{provider}/{model}")),
        AgentKind::Command { argv } => ("command".into(), argv.join(" ")),
        AgentKind::Unconfigured => ("unconfigured".into(), "-".into()),
    }
}

fn rel(ctx: &Ctx, def: &AgentDef) -> String {
    def.source
        .path
        .strip_prefix(&ctx.project_root)
        .unwrap_or(&def.source.path)
        .display()
        .to_string()
}

fn as_json(ctx: &Ctx, def: &AgentDef) -> serde_json::Value {
    let (kind, runs) = kind_text(def);
    json!({
        "name": def.name,
        "description": def.description,
        "kind": kind,
        "model": def.model.as_ref().map(|m| m.to_string()),
        "command": def.command,
        "memory": format!("{:?}", def.memory).to_lowercase(),
        "max_turns": def.max_turns,
        "timeout_secs": def.timeout.map(|t| t.as_secs()),
        "source": def.source.kind.label(),
        "path": rel(ctx, def),
        "runs": runs,
        "instructions": def.instructions,
    })
}

/// `team agents list`.
pub fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let (_, runtime) = load_project(&ctx.project_root, &Default::default(), Default::default())?;
    let catalog = &runtime.catalog;
    if ctx.out.json {
        let agents: Vec<_> = catalog.agents().map(|d| as_json(ctx, d)).collect();
        let shadowed: Vec<_> = catalog
            .shadowed()
            .iter()
            .map(|s| json!({"agent": as_json(ctx, &s.agent), "shadowed_by": s.shadowed_by.path}))
            .collect();
        return ctx
            .out
            .json(&json!({"agents": agents, "shadowed": shadowed}));
    }
    if catalog.is_empty() {
        ctx.out
            .note("no agents: add one as .team/agents/NAME.md (Markdown with YAML front matter)");
        return Ok(());
    }
    let rows = catalog
        .agents()
        .map(|d| {
            let (kind, runs) = kind_text(d);
            vec![
                d.name.clone(),
                kind,
                one_line(&runs, 40),
                rel(ctx, d),
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
            rel(ctx, &s.agent),
            s.shadowed_by.path.display()
        ));
    }
    Ok(())
}

/// `team agents show NAME`.
pub fn show(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    let (_, runtime) = load_project(&ctx.project_root, &Default::default(), Default::default())?;
    let catalog = &runtime.catalog;
    let def = catalog
        .get(name)
        .map_err(|e| CommandError::new(Kind::NotFound, e.to_string()))?;
    if ctx.out.json {
        return ctx.out.json(&as_json(ctx, def));
    }
    let (kind, runs) = kind_text(def);
    println!("agent {} ({kind}: {runs})", def.name);
    println!("found in: {}", rel(ctx, def));
    if let Some(d) = &def.description {
        println!("description: {d}");
    }
    if let Some(t) = def.timeout {
        println!("timeout: {}s", t.as_secs());
    }
    if !def.instructions.is_empty() {
        println!("\n{}", def.instructions);
    }
    Ok(())
}
