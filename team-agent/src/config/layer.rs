//! Parsing, validating and merging one configuration layer.

use std::path::Path;

use toml::{Table, Value};

use super::{Config, ConfigError, ENV_MAX_AGENTS, ENV_MEMBER_TIMEOUT_SECS, ENV_MODEL, TeamConfig};
use crate::ModelRef;

/// Top-level keys that are understood; anything else is a warning.
const KNOWN_TOP_LEVEL: &[&str] = &["team", "providers", "models", "hooks", "prices"];

/// Provider keys (normalised: lowercase, `_`/`-` removed) that would hold a secret value.
const SECRET_KEYS: &[&str] = &[
    "apikey",
    "xapikey",
    "key",
    "token",
    "accesstoken",
    "bearertoken",
    "secret",
    "password",
    "authorization",
];

/// Parses `text` as a TOML table; errors carry 1-based line and column.
pub(super) fn parse_toml(text: &str, path: &Path) -> Result<Table, ConfigError> {
    text.parse::<Table>().map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start).min(text.len());
        let before = text.get(..offset).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        ConfigError::Parse {
            path: path.to_owned(),
            line,
            column,
            message: e.message().trim().to_owned(),
        }
    })
}

/// Validates one file's `table` and applies it over `config` (for `[team]`) and
/// `providers` (merged key by key). Unknown top-level keys become warnings.
pub(super) fn apply_file(
    config: &mut Config,
    providers: &mut Table,
    table: Table,
    origin: &str,
) -> Result<(), ConfigError> {
    for (key, value) in table {
        match key.as_str() {
            "team" => apply_team(&mut config.team, value, origin)?,
            "models" => apply_models(&mut config.models, value, origin)?,
            "hooks" => apply_hooks(&mut config.hooks, value, origin)?,
            "prices" => apply_prices(&mut config.prices, value, origin)?,
            "providers" => {
                let Value::Table(incoming) = value else {
                    return Err(wrong_type(origin, "providers", "a table", &value));
                };
                for (name, provider) in &incoming {
                    let Value::Table(provider) = provider else {
                        let key = format!("providers.{name}");
                        return Err(wrong_type(origin, &key, "a table", provider));
                    };
                    check_secrets(provider, name, origin)?;
                }
                merge(providers, incoming);
            }
            other => {
                let what = if value.is_table() {
                    format!("table `[{other}]`")
                } else {
                    format!("key `{other}`")
                };
                config.warnings.push(format!(
                    "{origin}: unknown {what} is ignored (known tables: [{}])",
                    KNOWN_TOP_LEVEL.join("], [")
                ));
            }
        }
    }
    Ok(())
}

/// `[hooks]`: a command per event (`task_completed`, `member_idle`, `member_ended`,
/// `before_tool`; an empty string unsets a lower layer's), and `timeout_secs`.
fn apply_hooks(
    hooks: &mut crate::config::HooksConfig,
    value: Value,
    origin: &str,
) -> Result<(), ConfigError> {
    use crate::config::HookEvent;
    let Value::Table(table) = value else {
        return Err(wrong_type(origin, "hooks", "a table", &value));
    };
    for (key, value) in &table {
        let dotted = format!("hooks.{key}");
        if key == "timeout_secs" {
            hooks.timeout_secs = positive_int(value, origin, &dotted, "an integer ≥ 1")?;
            continue;
        }
        let Some(event) = HookEvent::ALL.into_iter().find(|e| e.as_str() == key) else {
            return Err(ConfigError::InvalidValue {
                origin: origin.to_owned(),
                key: dotted,
                message: format!(
                    "unknown hook; expected one of: {}, timeout_secs",
                    HookEvent::ALL.map(HookEvent::as_str).join(", ")
                ),
            });
        };
        let Value::String(command) = value else {
            return Err(wrong_type(
                origin,
                &dotted,
                "a string (a shell command)",
                value,
            ));
        };
        if command.trim().is_empty() {
            hooks.commands.remove(&event);
        } else {
            hooks.commands.insert(event, command.clone());
        }
    }
    Ok(())
}

/// `[prices."provider/model"]`: `input_per_mtok` and `output_per_mtok`, numbers ≥ 0 (US
/// dollars per million tokens); each model overrides the same model of a lower layer.
fn apply_prices(
    prices: &mut std::collections::BTreeMap<String, crate::config::Price>,
    value: Value,
    origin: &str,
) -> Result<(), ConfigError> {
    let Value::Table(table) = value else {
        return Err(wrong_type(origin, "prices", "a table", &value));
    };
    for (model, value) in &table {
        let dotted = format!("prices.\"{model}\"");
        ModelRef::parse(model).map_err(|message| ConfigError::InvalidValue {
            origin: origin.to_owned(),
            key: dotted.clone(),
            message,
        })?;
        let Value::Table(fields) = value else {
            return Err(wrong_type(origin, &dotted, "a table", value));
        };
        let mut price = crate::config::Price::default();
        for (key, v) in fields {
            let key_path = format!("{dotted}.{key}");
            let n = match v {
                Value::Integer(i) => *i as f64,
                Value::Float(f) => *f,
                other => return Err(wrong_type(origin, &key_path, "a number ≥ 0", other)),
            };
            if !n.is_finite() || n < 0.0 {
                return Err(ConfigError::InvalidValue {
                    origin: origin.to_owned(),
                    key: key_path,
                    message: format!("{n} is not a price; expected a number ≥ 0"),
                });
            }
            match key.as_str() {
                "input_per_mtok" => price.input_per_mtok = n,
                "output_per_mtok" => price.output_per_mtok = n,
                _ => {
                    return Err(ConfigError::InvalidValue {
                        origin: origin.to_owned(),
                        key: key_path,
                        message: "expected input_per_mtok or output_per_mtok".into(),
                    });
                }
            }
        }
        prices.insert(model.clone(), price);
    }
    Ok(())
}

/// `[models]`: alias → `"provider/model"`; each key overrides the same alias of a lower layer.
fn apply_models(
    models: &mut std::collections::BTreeMap<String, crate::ModelRef>,
    value: Value,
    origin: &str,
) -> Result<(), ConfigError> {
    let Value::Table(table) = value else {
        return Err(wrong_type(origin, "models", "a table", &value));
    };
    for (alias, value) in &table {
        let dotted = format!("models.{alias}");
        if alias.is_empty() || alias.contains(['/', ' ']) {
            return Err(ConfigError::InvalidValue {
                origin: origin.to_owned(),
                key: dotted,
                message: "an alias is one word without `/` or spaces (e.g. `sonnet`)".into(),
            });
        }
        let Value::String(text) = value else {
            return Err(wrong_type(
                origin,
                &dotted,
                "a string `provider/model`",
                value,
            ));
        };
        let model = ModelRef::parse(text).map_err(|message| ConfigError::InvalidValue {
            origin: origin.to_owned(),
            key: dotted.clone(),
            message,
        })?;
        models.insert(alias.clone(), model);
    }
    Ok(())
}

fn apply_team(team: &mut TeamConfig, value: Value, origin: &str) -> Result<(), ConfigError> {
    let Value::Table(table) = value else {
        return Err(wrong_type(origin, "team", "a table", &value));
    };
    for (key, value) in &table {
        let dotted = format!("team.{key}");
        match key.as_str() {
            "max_agents" => {
                let n = positive_int(value, origin, &dotted, "an integer ≥ 1")?;
                team.max_agents = u32::try_from(n).map_err(|_| ConfigError::InvalidValue {
                    origin: origin.to_owned(),
                    key: dotted.clone(),
                    message: format!("{n} is too large; expected at most {}", u32::MAX),
                })?;
            }
            "member_timeout_secs" => {
                team.member_timeout_secs =
                    positive_int(value, origin, &dotted, "an integer ≥ 1 (seconds)")?;
            }
            "default_model" => {
                let Value::String(text) = value else {
                    return Err(wrong_type(
                        origin,
                        &dotted,
                        "a string `provider/model`",
                        value,
                    ));
                };
                team.default_model =
                    Some(
                        ModelRef::parse(text).map_err(|message| ConfigError::InvalidValue {
                            origin: origin.to_owned(),
                            key: dotted.clone(),
                            message,
                        })?,
                    );
            }
            "sandbox" => {
                team.sandbox = match value.as_str() {
                    Some("landlock") => team_tools::workspace::SandboxMode::Landlock,
                    Some("off") => team_tools::workspace::SandboxMode::Off,
                    _ => {
                        return Err(ConfigError::InvalidValue {
                            origin: origin.to_owned(),
                            key: dotted.clone(),
                            message: format!(
                                "{value} is not a sandbox mode; expected \"landlock\" or \"off\""
                            ),
                        });
                    }
                };
            }
            "on_ask" => {
                team.on_ask = value
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| ConfigError::InvalidValue {
                        origin: origin.to_owned(),
                        key: dotted.clone(),
                        message: format!(
                            "{value} is not an on-ask mode; expected \"prompt\", \"deny\" or \"park\""
                        ),
                    })?;
            }
            "lead_tools" => {
                team.lead_tools = match value.as_str() {
                    Some("all") => crate::config::LeadTools::All,
                    Some("team") => crate::config::LeadTools::Team,
                    _ => {
                        return Err(ConfigError::InvalidValue {
                            origin: origin.to_owned(),
                            key: dotted.clone(),
                            message: format!(
                                "{value} is not a tool set; expected \"all\" or \"team\""
                            ),
                        });
                    }
                };
            }
            "max_depth" | "max_members_per_team" => {
                let n = positive_int(value, origin, &dotted, "an integer ≥ 1")?;
                let n = u32::try_from(n).map_err(|_| ConfigError::InvalidValue {
                    origin: origin.to_owned(),
                    key: dotted.clone(),
                    message: format!("{n} is too large; expected at most {}", u32::MAX),
                })?;
                if key == "max_depth" {
                    team.max_depth = n;
                } else {
                    team.max_members_per_team = n;
                }
            }
            "max_tokens" => {
                team.max_tokens = Some(positive_int(value, origin, &dotted, "an integer ≥ 1")?);
            }
            "max_cost" => {
                let usd = match value {
                    Value::Float(f) => *f,
                    Value::Integer(n) => *n as f64,
                    _ => {
                        return Err(wrong_type(
                            origin,
                            &dotted,
                            "a number of US dollars > 0",
                            value,
                        ));
                    }
                };
                if !(usd.is_finite() && usd > 0.0) {
                    return Err(ConfigError::InvalidValue {
                        origin: origin.to_owned(),
                        key: dotted.clone(),
                        message: format!("{usd} is out of range; expected US dollars > 0"),
                    });
                }
                team.max_cost = Some(usd);
            }
            "max_message_bytes" => {
                let n = positive_int(value, origin, &dotted, "an integer from 1 to 1073741824")?;
                team.max_message_bytes = usize::try_from(n)
                    .ok()
                    .filter(|n| *n <= MAX_MESSAGE_BYTES_CAP)
                    .ok_or_else(|| ConfigError::InvalidValue {
                        origin: origin.to_owned(),
                        key: dotted.clone(),
                        message: format!("{n} is too large; expected at most 1073741824 (1 GiB)"),
                    })?;
            }
            _ => {
                return Err(ConfigError::UnknownKey {
                    origin: origin.to_owned(),
                    key: key.clone(),
                });
            }
        }
    }
    Ok(())
}

/// The most `[team] max_message_bytes` may be: 1 GiB.
const MAX_MESSAGE_BYTES_CAP: usize = 1 << 30;

fn positive_int(
    value: &Value,
    origin: &str,
    key: &str,
    expected: &'static str,
) -> Result<u64, ConfigError> {
    let Value::Integer(n) = value else {
        return Err(wrong_type(origin, key, expected, value));
    };
    u64::try_from(*n)
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| ConfigError::InvalidValue {
            origin: origin.to_owned(),
            key: key.to_owned(),
            message: format!("{n} is out of range; expected {expected}"),
        })
}

fn wrong_type(origin: &str, key: &str, expected: &'static str, found: &Value) -> ConfigError {
    ConfigError::WrongType {
        origin: origin.to_owned(),
        key: key.to_owned(),
        expected,
        found: found.type_str(),
    }
}

/// Refuses provider tables (also nested ones such as `headers`) holding secret values.
fn check_secrets(table: &Table, provider: &str, origin: &str) -> Result<(), ConfigError> {
    for (key, value) in table {
        let normalised: String = key
            .chars()
            .filter(|c| !matches!(c, '_' | '-'))
            .flat_map(char::to_lowercase)
            .collect();
        if SECRET_KEYS.contains(&normalised.as_str()) {
            return Err(ConfigError::Secret {
                origin: origin.to_owned(),
                provider: provider.to_owned(),
                key: key.clone(),
            });
        }
        if let Value::Table(nested) = value {
            check_secrets(nested, provider, origin)?;
        }
    }
    Ok(())
}

/// Merges `over` into `base` key by key: tables merge recursively, anything else replaces.
pub(super) fn merge(base: &mut Table, over: Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(base_table)), Value::Table(over_table)) => {
                merge(base_table, over_table);
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Applies [`ENV_MAX_AGENTS`], [`ENV_MEMBER_TIMEOUT_SECS`] and [`ENV_MODEL`]; empty values
/// count as unset.
pub(super) fn apply_env(
    team: &mut TeamConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let var = |k: &str| {
        env(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let invalid = |key: &str, message: String| ConfigError::InvalidValue {
        origin: "environment".to_owned(),
        key: key.to_owned(),
        message,
    };
    if let Some(v) = var(ENV_MAX_AGENTS) {
        team.max_agents = v.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
            invalid(
                ENV_MAX_AGENTS,
                format!("`{v}` is not an integer between 1 and {}", u32::MAX),
            )
        })?;
    }
    if let Some(v) = var(ENV_MEMBER_TIMEOUT_SECS) {
        team.member_timeout_secs = v.parse::<u64>().ok().filter(|n| *n >= 1).ok_or_else(|| {
            invalid(
                ENV_MEMBER_TIMEOUT_SECS,
                format!("`{v}` is not a whole number of seconds ≥ 1"),
            )
        })?;
    }
    if let Some(v) = var(ENV_MODEL) {
        team.default_model = Some(ModelRef::parse(&v).map_err(|m| invalid(ENV_MODEL, m))?);
    }
    Ok(())
}
