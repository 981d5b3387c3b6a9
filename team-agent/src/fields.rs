//! Turns the typed front matter ([`FrontMatter`]) into an [`AgentDef`], checking each field's
//! value (ranges, names, shapes) and pointing errors at the value's line and column.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::tools::canonical_tool_name;
use super::yaml::{
    CommandField, FrontMatter, KNOWN_KEYS, KeyScan, MemoryField, Number, Parsed, PermissionField,
    PermissionValue, TimeoutField, ToolsField,
};
use super::{
    AgentDef, AgentError, AgentMode, AgentSource, MemoryMode, ModelRef, NAME_RULE, PlanMode,
    is_valid_agent_name,
};
use super::{Permission, PermissionConfig, PermissionRule, ToolSelection};

/// The longest `timeout:` an agent file may set: 30 days. Longer values are refused at load
/// (a deadline that far away is a typo, and an absurd one would overflow a clock).
pub const MAX_AGENT_TIMEOUT: Duration = Duration::from_secs(30 * 24 * 3600);

/// The most turns `max_turns:` may set.
pub const MAX_AGENT_TURNS: u64 = 1_000_000;

pub(crate) const TIMEOUT_SHAPE: &str = "whole seconds ≥ 1 as an integer, or a duration like \
     `90s`, `5m`, `1h`, `1h30m` (at most 30 days)";

/// Error constructor bound to one file; `offset` is the number of file lines before the YAML.
struct Ctx<'a> {
    source: &'a AgentSource,
    offset: u64,
}

impl Ctx<'_> {
    fn err<T>(&self, at: &Spanned<T>, field: &str, message: impl Into<String>) -> AgentError {
        let line = at.referenced.line();
        let column = at.referenced.column();
        AgentError::Field {
            path: self.source.path.clone(),
            line: if line > 0 { line + self.offset } else { 0 },
            column: (line > 0 && column > 0).then_some(column),
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// Builds the definition from the parsed front matter, the trimmed body and the source;
/// `offset` is the number of file lines before the YAML text (1 for the opening fence).
/// Fields `team` does not read go to `extra`, with a warning each; values read with the
/// `key: rest of line` fallback get a warning each.
pub(super) fn build(
    parsed: Parsed,
    offset: u64,
    instructions: String,
    source: AgentSource,
) -> Result<AgentDef, AgentError> {
    let ctx = Ctx {
        source: &source,
        offset,
    };
    let path = source.path.display().to_string();
    let mut turns_keys = Vec::new();
    for (key, line, _) in &parsed.keys.0 {
        if ["max_turns", "maxTurns", "steps", "maxSteps"].contains(&key.as_str()) {
            turns_keys.push((key.clone(), *line));
        }
    }
    if let [(first, _), (second, line), ..] = turns_keys.as_slice() {
        return Err(AgentError::Field {
            path: source.path.clone(),
            line: line + offset,
            column: None,
            field: second.clone(),
            message: format!("`{first}` is already set; keep only one of them"),
        });
    }
    let fm = match parsed.fields {
        Ok(fm) => fm,
        Err(e) => {
            let field = field_at(&parsed.keys, e.line).unwrap_or_else(|| "front matter".into());
            return Err(AgentError::Field {
                path: source.path.clone(),
                line: if e.line > 0 { e.line + offset } else { 0 },
                column: e.column,
                field,
                message: e.message,
            });
        }
    };
    let mut warnings = Vec::new();
    for (line, key) in &parsed.repaired {
        warnings.push(format!(
            "{path}:{}: the value of `{key}` holds an unquoted `: ` (not valid YAML); read as \
             the rest of the line, as Claude Code reads it: quote the value to silence this",
            line + offset
        ));
    }
    let mut extra = BTreeMap::new();
    for (key, line, value) in parsed.keys.0 {
        if !KNOWN_KEYS.contains(&key.as_str()) {
            warnings.push(format!(
                "{path}:{}: unknown field `{key}`: not used by team (kept and ignored)",
                line + offset
            ));
            extra.insert(key, value);
        }
    }
    let turns_key = turns_keys
        .first()
        .map_or("max_turns".to_owned(), |(k, _)| k.clone());
    let FrontMatter {
        name,
        description,
        model,
        tools,
        permission,
        memory,
        temperature,
        max_turns,
        timeout,
        retries,
        backoff,
        command,
        runtime,
        env,
        env_passthrough,
        mode,
        color,
        plan,
        task_budget,
    } = fm;
    let model_node = model;
    let (model, model_alias) = match &model_node {
        Some(m) => parse_model(&ctx, m)?,
        None => (None, None),
    };
    let command = command
        .as_ref()
        .map(|c| parse_command(&ctx, c))
        .transpose()?;
    if let (Some(node), true, Some(_)) = (
        &model_node,
        model.is_some() || model_alias.is_some(),
        &command,
    ) {
        return Err(ctx.err(
            node,
            "model",
            "an agent has either `model` (an LLM agent) or `command` (a command agent), \
             not both; remove one of them",
        ));
    }
    let runtime = runtime
        .as_ref()
        .map(|r| parse_runtime(&ctx, r))
        .transpose()?;
    if let (Some(rt), Some(_)) = (&runtime, &command) {
        return Err(AgentError::Invalid {
            path: source.path.clone(),
            message: format!(
                "an agent has either `runtime: {rt}` (an agent CLI) or `command` (a program), \
                 not both; remove one of them"
            ),
        });
    }
    let runtime_model = match (&runtime, &model_node) {
        (Some(_), Some(m)) => {
            Some(m.value.trim().to_owned()).filter(|m| !m.is_empty() && m != "inherit")
        }
        _ => None,
    };
    let def = AgentDef {
        name: match &name {
            Some(n) => parse_name(&ctx, n)?,
            None => name_from_stem(&source)?,
        },
        description: description.map(|d| d.value.0.trim().to_owned()),
        model,
        model_alias,
        tools: tools.map(|t| parse_tools(t.value)),
        permission: permission
            .as_ref()
            .map(|p| parse_permission(&ctx, p))
            .transpose()?,
        memory: memory
            .as_ref()
            .map_or(Ok(MemoryMode::None), |m| parse_memory(&ctx, m))?,
        plan: plan
            .as_ref()
            .map_or(Ok(PlanMode::None), |p| parse_plan(&ctx, p))?,
        task_budget: task_budget
            .as_ref()
            .map(|t| parse_task_budget(&ctx, t))
            .transpose()?,
        temperature: temperature
            .as_ref()
            .map(|t| parse_temperature(&ctx, t))
            .transpose()?,
        max_turns: max_turns
            .as_ref()
            .map(|t| parse_max_turns(&ctx, t, &turns_key))
            .transpose()?,
        timeout: timeout
            .as_ref()
            .map(|t| parse_timeout(&ctx, t))
            .transpose()?,
        retries: retries
            .as_ref()
            .map(|r| parse_retries(&ctx, r))
            .transpose()?
            .unwrap_or(0),
        backoff: backoff
            .as_ref()
            .map(|b| parse_backoff(&ctx, b))
            .transpose()?,
        command,
        runtime,
        runtime_model,
        env: env.as_ref().map_or(Ok(BTreeMap::new()), |e| {
            let mut out = BTreeMap::new();
            for (key, value) in &e.value.0 {
                if !is_env_name(key) {
                    return Err(ctx.err(
                        e,
                        &format!("env.{key}"),
                        "invalid environment variable name (letters, digits and `_`, not \
                         starting with a digit)",
                    ));
                }
                out.insert(key.clone(), value.0.clone());
            }
            Ok(out)
        })?,
        env_passthrough: match &env_passthrough {
            None => Vec::new(),
            Some(list) => {
                for n in &list.value.0 {
                    if !is_env_name(n) {
                        return Err(ctx.err(
                            list,
                            "env_passthrough",
                            format!("`{n}` is not an environment variable name"),
                        ));
                    }
                }
                list.value.0.clone()
            }
        },
        mode: mode.as_ref().map(|m| parse_mode(&ctx, m)).transpose()?,
        color: color.map(|c| c.value.0),
        instructions,
        extra,
        warnings,
        source: source.clone(),
    };
    Ok(def)
}

/// The top-level key whose entry holds `line` (of the YAML text): the last key at or above it.
fn field_at(keys: &KeyScan, line: u64) -> Option<String> {
    if line == 0 {
        return None;
    }
    keys.0
        .iter()
        .filter(|(_, l, _)| *l <= line)
        .max_by_key(|(_, l, _)| *l)
        .map(|(k, _, _)| k.clone())
}

/// Whether `name` is a usable environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_env_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_name(ctx: &Ctx<'_>, node: &Spanned<String>) -> Result<String, AgentError> {
    let name = node.value.trim();
    if is_valid_agent_name(name) {
        Ok(name.to_owned())
    } else {
        Err(ctx.err(node, "name", format!("`{name}` is invalid: {NAME_RULE}")))
    }
}

fn name_from_stem(source: &AgentSource) -> Result<String, AgentError> {
    let stem = source
        .path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if is_valid_agent_name(&stem) {
        Ok(stem)
    } else {
        Err(AgentError::Invalid {
            path: source.path.clone(),
            message: format!(
                "the file name gives the agent name `{stem}`, which is invalid: {NAME_RULE}; \
                 rename the file or set `name:` in the front matter"
            ),
        })
    }
}

/// `model:` → an explicit `provider/model`, or an alias resolved later through `[models]`
/// (`sonnet`, `opus`, `haiku`, or any name the config defines); `inherit` and empty are unset.
type ModelParts = (Option<ModelRef>, Option<String>);

fn parse_model(ctx: &Ctx<'_>, node: &Spanned<String>) -> Result<ModelParts, AgentError> {
    let text = node.value.trim();
    if text.is_empty() || text == "inherit" {
        return Ok((None, None));
    }
    if text.contains('/') {
        return ModelRef::parse(text)
            .map(|m| (Some(m), None))
            .map_err(|m| ctx.err(node, "model", m));
    }
    if text.starts_with("claude-") {
        // A full Claude model id without provider, as Claude Code files may carry.
        return Ok((
            Some(ModelRef {
                provider: "anthropic".to_owned(),
                model: text.to_owned(),
            }),
            None,
        ));
    }
    if text.contains(char::is_whitespace) {
        return Err(ctx.err(
            node,
            "model",
            format!(
                "`{text}` is neither `provider/model` (e.g. `openai/gpt-4o-mini`) nor a model \
                 alias (`sonnet`, `opus`, `haiku` or a name from [models] in the config)"
            ),
        ));
    }
    Ok((None, Some(text.to_owned())))
}

fn parse_tools(field: ToolsField) -> ToolSelection {
    match field {
        ToolsField::List(list) => {
            let mut names: Vec<String> = Vec::new();
            for name in list {
                let name = canonical_tool_name(&name);
                if !name.is_empty() && !names.contains(&name) {
                    names.push(name);
                }
            }
            ToolSelection::Only(names)
        }
        ToolsField::Toggles(toggles) => ToolSelection::Toggles(
            toggles
                .into_iter()
                .map(|(k, on)| (canonical_tool_name(&k), on))
                .collect(),
        ),
    }
}

fn parse_action(
    ctx: &Ctx<'_>,
    at: &Spanned<PermissionField>,
    text: &str,
    field: &str,
) -> Result<Permission, AgentError> {
    Permission::parse(text).ok_or_else(|| {
        ctx.err(
            at,
            field,
            format!("expected `allow`, `ask` or `deny`, found `{text}`"),
        )
    })
}

fn parse_permission(
    ctx: &Ctx<'_>,
    node: &Spanned<PermissionField>,
) -> Result<PermissionConfig, AgentError> {
    let entries = match &node.value {
        PermissionField::All(action) => {
            return Ok(PermissionConfig {
                default: Some(parse_action(ctx, node, action, "permission")?),
                rules: Vec::new(),
            });
        }
        PermissionField::Rules(entries) => entries,
    };
    let mut permissions = PermissionConfig::default();
    for (key, value) in entries {
        let field = format!("permission.{key}");
        let rule = match value {
            PermissionValue::Patterns(patterns) => {
                let mut list = Vec::new();
                for (pattern, action) in patterns {
                    let action = parse_action(ctx, node, action, &format!("{field}.{pattern}"))?;
                    list.push((pattern.clone(), action));
                }
                PermissionRule::Patterns(list)
            }
            PermissionValue::Action(action) => {
                PermissionRule::Always(parse_action(ctx, node, action, &field)?)
            }
        };
        let tool = canonical_tool_name(key);
        // opencode's `edit` permission governs every file-changing tool.
        if tool == "edit_file" && key.trim().eq_ignore_ascii_case("edit") {
            permissions
                .rules
                .push(("write_file".to_owned(), rule.clone()));
        }
        permissions.rules.push((tool, rule));
    }
    Ok(permissions)
}

fn parse_memory(ctx: &Ctx<'_>, node: &Spanned<MemoryField>) -> Result<MemoryMode, AgentError> {
    match &node.value {
        MemoryField::Bool(true) => Ok(MemoryMode::Local),
        MemoryField::Bool(false) => Ok(MemoryMode::None),
        MemoryField::Word(s) => match s.trim().to_ascii_lowercase().as_str() {
            "local" | "project" | "user" => Ok(MemoryMode::Local),
            "none" | "off" => Ok(MemoryMode::None),
            _ => Err(ctx.err(
                node,
                "memory",
                format!("expected `local` or `none`, found `{s}`"),
            )),
        },
    }
}

fn parse_task_budget(ctx: &Ctx<'_>, node: &Spanned<Number>) -> Result<u32, AgentError> {
    match node.value {
        Number::UInt(n) if n <= u64::from(u32::MAX) => Ok(n as u32),
        _ => Err(ctx.err(
            node,
            "task_budget",
            "expected a whole number of members ≥ 0 (0: it may start none)",
        )),
    }
}

fn parse_plan(ctx: &Ctx<'_>, node: &Spanned<MemoryField>) -> Result<PlanMode, AgentError> {
    match &node.value {
        MemoryField::Bool(true) => Ok(PlanMode::Required),
        MemoryField::Bool(false) => Ok(PlanMode::None),
        MemoryField::Word(s) => match s.trim().to_ascii_lowercase().as_str() {
            "required" => Ok(PlanMode::Required),
            "none" | "off" => Ok(PlanMode::None),
            _ => Err(ctx.err(
                node,
                "plan",
                format!("expected `required` or `none`, found `{s}`"),
            )),
        },
    }
}

fn parse_temperature(ctx: &Ctx<'_>, node: &Spanned<Number>) -> Result<f32, AgentError> {
    let value = match node.value {
        Number::Float(f) => f,
        Number::Int(i) => i as f64,
        Number::UInt(u) => u as f64,
    };
    if (0.0..=2.0).contains(&value) {
        Ok(value as f32)
    } else {
        Err(ctx.err(
            node,
            "temperature",
            format!("{value} is out of range; expected a number between 0 and 2"),
        ))
    }
}

fn parse_max_turns(ctx: &Ctx<'_>, node: &Spanned<Number>, field: &str) -> Result<u32, AgentError> {
    match node.value {
        Number::UInt(n) if (1..=MAX_AGENT_TURNS).contains(&n) => Ok(n as u32),
        other => Err(ctx.err(
            node,
            field,
            format!(
                "expected a whole number of turns between 1 and {MAX_AGENT_TURNS}, found {other}"
            ),
        )),
    }
}

fn parse_timeout(ctx: &Ctx<'_>, node: &Spanned<TimeoutField>) -> Result<Duration, AgentError> {
    let (duration, found) = match &node.value {
        TimeoutField::Number(Number::UInt(secs)) => {
            (Some(Duration::from_secs(*secs)), secs.to_string())
        }
        TimeoutField::Number(other) => (None, other.to_string()),
        TimeoutField::Text(text) => (parse_duration(text), format!("`{text}`")),
    };
    match duration {
        Some(d) if d >= Duration::from_secs(1) && d <= MAX_AGENT_TIMEOUT => Ok(d),
        _ => Err(ctx.err(
            node,
            "timeout",
            format!("expected {TIMEOUT_SHAPE}, found {found}"),
        )),
    }
}

fn parse_retries(ctx: &Ctx<'_>, node: &Spanned<Number>) -> Result<u32, AgentError> {
    let max = team_core::retry::MAX_RETRIES;
    match node.value {
        Number::UInt(n) if n <= u64::from(max) => Ok(n as u32),
        other => Err(ctx.err(
            node,
            "retries",
            format!("expected a whole number of retries between 0 and {max}, found {other}"),
        )),
    }
}

/// The shape `backoff:` accepts.
pub(crate) const BACKOFF_SHAPE: &str = "a duration like `500ms`, `2s`, `1m` (at most 1 hour), \
     or whole seconds as an integer";

fn parse_backoff(ctx: &Ctx<'_>, node: &Spanned<TimeoutField>) -> Result<Duration, AgentError> {
    let (duration, found) = match &node.value {
        TimeoutField::Number(Number::UInt(secs)) => {
            (Some(Duration::from_secs(*secs)), secs.to_string())
        }
        TimeoutField::Number(other) => (None, other.to_string()),
        TimeoutField::Text(text) => (parse_duration(text), format!("`{text}`")),
    };
    let max = Duration::from_millis(team_core::retry::MAX_BACKOFF_MS);
    match duration {
        Some(d) if d <= max => Ok(d),
        _ => Err(ctx.err(
            node,
            "backoff",
            format!("expected {BACKOFF_SHAPE}, found {found}"),
        )),
    }
}

/// Parses a duration: bare digits are seconds (`90`), anything else goes to `humantime`
/// (`90s`, `5m`, `1h30m`, `2m 30s`, `1day`). `None` when malformed or overflowing.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok().map(Duration::from_secs);
    }
    humantime::parse_duration(text).ok()
}

fn parse_command(ctx: &Ctx<'_>, node: &Spanned<CommandField>) -> Result<Vec<String>, AgentError> {
    let argv = match &node.value {
        CommandField::Line(line) => shlex::split(line).ok_or_else(|| {
            ctx.err(
                node,
                "command",
                "cannot split the command line (unbalanced quotes or a trailing `\\`); \
                 fix the quoting or write the command as a list",
            )
        })?,
        CommandField::Args(args) => args.clone(),
    };
    if argv.first().is_none_or(|program| program.is_empty()) {
        return Err(ctx.err(
            node,
            "command",
            "the command is empty; name a program to run",
        ));
    }
    Ok(argv)
}

fn parse_runtime(ctx: &Ctx<'_>, node: &Spanned<String>) -> Result<String, AgentError> {
    let name = node.value.trim();
    match crate::runtime::find(name) {
        Some(rt) => Ok(rt.name.to_owned()),
        None => Err(ctx.err(
            node,
            "runtime",
            format!(
                "unknown runtime `{name}`; the agent CLIs team can run are: {} (or write \
                 `command:` to run any program)",
                crate::runtime::known_names()
            ),
        )),
    }
}

fn parse_mode(ctx: &Ctx<'_>, node: &Spanned<String>) -> Result<AgentMode, AgentError> {
    let text = &node.value;
    match text.trim().to_ascii_lowercase().as_str() {
        "primary" => Ok(AgentMode::Primary),
        "subagent" => Ok(AgentMode::Subagent),
        "all" => Ok(AgentMode::All),
        _ => Err(ctx.err(
            node,
            "mode",
            format!("expected `primary`, `subagent` or `all`, found `{text}`"),
        )),
    }
}
