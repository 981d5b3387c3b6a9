//! `team config show`: the resolved configuration, each value with the layer it came from
//! (built-in default, user file, project file, environment).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use team_agent::config::{self, Config};
use toml::Table;

use crate::doc::{ConfigFileDoc, ConfigShowDoc, ConfigValueDoc};
use crate::error::{CommandError, Result};
use crate::output::Out;
use crate::project;

/// One resolved value and where it came from.
struct Entry {
    /// As TOML text (strings quoted).
    value: String,
    /// As JSON.
    json: Value,
    source: String,
    /// The file, or the environment variable, that set it (`None` for built-in defaults).
    origin: Option<String>,
}

fn set(
    map: &mut BTreeMap<String, Entry>,
    key: String,
    value: toml::Value,
    source: &str,
    origin: Option<String>,
) {
    map.insert(
        key,
        Entry {
            json: serde_json::to_value(&value).unwrap_or(Value::Null),
            value: value.to_string(),
            source: source.to_owned(),
            origin,
        },
    );
}

/// Dotted keys of `table` under `prefix`, nested tables flattened.
fn flatten(prefix: &str, table: &Table, out: &mut Vec<(String, toml::Value)>) {
    for (k, v) in table {
        let key = format!("{prefix}.{k}");
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            v => out.push((key, v.clone())),
        }
    }
}

/// `team config show`.
pub fn show(out: Out) -> Result<()> {
    let cwd = std::env::current_dir()?;
    let project = project::find_project(&cwd);
    // Validates every layer: an error here is what every other command would say too.
    let config = Config::load(project.as_deref())?;
    let mut map: BTreeMap<String, Entry> = BTreeMap::new();
    let defaults = config::TeamConfig::default();
    let int = |n: u64| toml::Value::Integer(i64::try_from(n).unwrap_or(i64::MAX));
    set(
        &mut map,
        "team.max_agents".into(),
        int(u64::from(defaults.max_agents)),
        "default",
        None,
    );
    set(
        &mut map,
        "team.member_timeout_secs".into(),
        int(defaults.member_timeout_secs),
        "default",
        None,
    );
    for (alias, model) in team_agent::CLAUDE_MODEL_ALIASES {
        set(
            &mut map,
            format!("models.{alias}"),
            toml::Value::String((*model).to_owned()),
            "default",
            None,
        );
    }
    let user = config::user_config_path();
    for path in &config.loaded_files {
        let source = if Some(path) == user.as_ref() {
            "user"
        } else {
            "project"
        };
        let text = std::fs::read_to_string(path)?;
        let table: Table = text
            .parse()
            .map_err(|e| CommandError::usage(format!("{}: {e}", path.display())))?;
        let mut keys = Vec::new();
        for (top, v) in &table {
            if let toml::Value::Table(t) = v
                && matches!(top.as_str(), "team" | "models" | "providers")
            {
                flatten(top, t, &mut keys);
            }
        }
        for (k, v) in keys {
            set(&mut map, k, v, source, Some(path.display().to_string()));
        }
    }
    for (var, key) in [
        (config::ENV_MAX_AGENTS, "team.max_agents"),
        (config::ENV_MEMBER_TIMEOUT_SECS, "team.member_timeout_secs"),
        (config::ENV_MODEL, "team.default_model"),
    ] {
        if std::env::var(var).is_ok_and(|v| !v.trim().is_empty()) {
            set(
                &mut map,
                key.into(),
                toml::Value::String(String::new()),
                "environment",
                Some(var.to_owned()),
            );
        }
    }
    // The values of `[team]` are the merged, validated ones (an environment value included).
    let team = &config.team;
    let mut resolved = vec![
        ("team.max_agents", int(u64::from(team.max_agents))),
        ("team.member_timeout_secs", int(team.member_timeout_secs)),
    ];
    if let Some(m) = &team.default_model {
        resolved.push(("team.default_model", toml::Value::String(m.to_string())));
    }
    for (key, v) in resolved {
        if let Some(e) = map.get_mut(key) {
            e.json = serde_json::to_value(&v).unwrap_or(Value::Null);
            e.value = v.to_string();
        }
    }
    let files: Vec<(&str, Option<PathBuf>)> = vec![
        ("user", user.clone()),
        (
            "project",
            project.as_deref().map(config::project_config_path),
        ),
    ];
    if out.json {
        return out.json(&ConfigShowDoc {
            files: files
                .iter()
                .map(|(layer, p)| ConfigFileDoc {
                    layer: (*layer).to_owned(),
                    path: p.as_deref().map(|p| p.to_string_lossy().into_owned()),
                    found: p.as_deref().is_some_and(Path::is_file),
                })
                .collect(),
            values: map
                .iter()
                .map(|(k, e)| ConfigValueDoc {
                    key: k.clone(),
                    value: e.json.clone(),
                    source: e.source.clone(),
                    origin: e.origin.clone(),
                })
                .collect(),
            warnings: config.warnings.clone(),
        });
    }
    let mut text = String::new();
    for (layer, p) in &files {
        match p {
            Some(p) if p.is_file() => text.push_str(&format!("# {layer} file: {}\n", p.display())),
            Some(p) => text.push_str(&format!("# {layer} file: {} (none)\n", p.display())),
            None => text.push_str(&format!("# {layer} file: none (no .team/ here or above)\n")),
        }
    }
    let lines: Vec<(String, String)> = map
        .iter()
        .map(|(k, e)| {
            let from = match &e.origin {
                Some(o) => format!("{} {o}", e.source),
                None => "built-in default".to_owned(),
            };
            (format!("{k} = {}", e.value), from)
        })
        .collect();
    let width = lines
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    for (line, from) in lines {
        text.push_str(&format!("{line:<width$}  # {from}\n"));
    }
    print!("{text}");
    for w in &config.warnings {
        out.note(format!("warning: {w}"));
    }
    Ok(())
}
