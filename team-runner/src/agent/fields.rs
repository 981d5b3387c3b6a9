//! Turns the front-matter mapping into an [`AgentDef`], checking each field's type and value.

use std::collections::BTreeMap;
use std::time::Duration;

use super::tools::{
    PermissionAction, PermissionRule, Permissions, ToolSelection, canonical_tool_name,
};
use super::yaml::{Node, Value};
use super::{
    AgentDef, AgentError, AgentMode, AgentSource, CLAUDE_MODEL_ALIASES, MemoryMode, ModelRef,
    NAME_RULE, is_valid_agent_name,
};

/// Spellings of the `max_turns` field (ours, Claude Code's camelCase, opencode's `steps`).
const MAX_TURNS_KEYS: &[&str] = &["max_turns", "maxTurns", "steps", "maxSteps"];

/// Error constructor bound to one file.
struct Ctx<'a> {
    source: &'a AgentSource,
}

impl Ctx<'_> {
    fn err(&self, node: &Node, field: &str, message: impl Into<String>) -> AgentError {
        AgentError::Field {
            path: self.source.path.clone(),
            line: node.line,
            column: (node.column > 0).then_some(node.column),
            field: field.to_owned(),
            message: message.into(),
        }
    }

    fn expected(&self, node: &Node, field: &str, expected: &str) -> AgentError {
        self.err(
            node,
            field,
            format!("expected {expected}, found {}", node.value.type_name()),
        )
    }

    fn string<'n>(&self, node: &'n Node, field: &str) -> Result<&'n str, AgentError> {
        match &node.value {
            Value::Str(s) => Ok(s),
            _ => Err(self.expected(node, field, "a string")),
        }
    }

    /// A string, or a number/boolean rendered as a string (for argv items and env values).
    fn scalar(&self, node: &Node, field: &str) -> Result<String, AgentError> {
        node.value
            .scalar_string()
            .ok_or_else(|| self.expected(node, field, "a string"))
    }
}

/// Builds the definition from front-matter `entries` (file order), the trimmed body and the
/// source. Unknown fields go to `extra`; `null` values count as absent.
pub(super) fn build(
    entries: Vec<(String, Node)>,
    instructions: String,
    source: AgentSource,
) -> Result<AgentDef, AgentError> {
    let ctx = Ctx { source: &source };
    let mut def = AgentDef {
        name: String::new(),
        description: None,
        model: None,
        tools: None,
        permission: None,
        memory: MemoryMode::None,
        temperature: None,
        max_turns: None,
        timeout: None,
        command: None,
        env: BTreeMap::new(),
        mode: None,
        color: None,
        instructions,
        extra: BTreeMap::new(),
        source: source.clone(),
    };
    let mut name = None;
    let mut max_turns_key: Option<&str> = None;
    let mut model_node = None;
    for (key, node) in &entries {
        if node.value == Value::Null {
            continue;
        }
        let key = key.as_str();
        match key {
            "name" => name = Some(parse_name(&ctx, node)?),
            "description" => def.description = Some(ctx.string(node, key)?.trim().to_owned()),
            "model" => {
                def.model = parse_model(&ctx, node)?;
                model_node = Some(node);
            }
            "tools" => def.tools = Some(parse_tools(&ctx, node)?),
            "permission" => def.permission = Some(parse_permission(&ctx, node)?),
            "memory" => def.memory = parse_memory(&ctx, node)?,
            "temperature" => def.temperature = Some(parse_temperature(&ctx, node)?),
            k if MAX_TURNS_KEYS.contains(&k) => {
                if let Some(previous) = max_turns_key {
                    return Err(ctx.err(
                        node,
                        k,
                        format!("`{previous}` is already set; keep only one of them"),
                    ));
                }
                max_turns_key = Some(k);
                def.max_turns = Some(parse_max_turns(&ctx, node, k)?);
            }
            "timeout" => def.timeout = Some(parse_timeout(&ctx, node)?),
            "command" => def.command = Some(parse_command(&ctx, node)?),
            "env" => def.env = parse_env(&ctx, node)?,
            "mode" => def.mode = Some(parse_mode(&ctx, node)?),
            "color" => def.color = Some(ctx.scalar(node, key)?),
            other => {
                def.extra.insert(other.to_owned(), node.to_json());
            }
        }
    }
    if let (Some(node), Some(_), Some(_)) = (model_node, &def.model, &def.command) {
        return Err(ctx.err(
            node,
            "model",
            "an agent has either `model` (an LLM agent) or `command` (a command agent), \
                 not both; remove one of them",
        ));
    }
    def.name = match name {
        Some(name) => name,
        None => name_from_stem(&source)?,
    };
    Ok(def)
}

fn parse_name(ctx: &Ctx<'_>, node: &Node) -> Result<String, AgentError> {
    let name = ctx.string(node, "name")?.trim();
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

fn parse_model(ctx: &Ctx<'_>, node: &Node) -> Result<Option<ModelRef>, AgentError> {
    let text = ctx.string(node, "model")?.trim();
    if text.is_empty() || text == "inherit" {
        return Ok(None);
    }
    if let Some((_, full)) = CLAUDE_MODEL_ALIASES.iter().find(|(a, _)| *a == text) {
        return ModelRef::parse(full)
            .map(Some)
            .map_err(|m| ctx.err(node, "model", m));
    }
    if text.starts_with("claude-") && !text.contains('/') {
        // A full Claude model id without provider, as Claude Code files may carry.
        return Ok(Some(ModelRef {
            provider: "anthropic".to_owned(),
            model: text.to_owned(),
        }));
    }
    ModelRef::parse(text)
        .map(Some)
        .map_err(|m| ctx.err(node, "model", m))
}

fn parse_tools(ctx: &Ctx<'_>, node: &Node) -> Result<ToolSelection, AgentError> {
    let mut names: Vec<String> = Vec::new();
    let mut push = |name: String| {
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    };
    match &node.value {
        Value::Str(list) => list.split(',').for_each(|n| push(canonical_tool_name(n))),
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                push(canonical_tool_name(
                    ctx.string(item, &format!("tools[{i}]"))?,
                ));
            }
        }
        Value::Map(entries) => {
            let mut toggles = Vec::new();
            for (key, value) in entries {
                let field = format!("tools.{key}");
                let Value::Bool(enabled) = value.value else {
                    return Err(ctx.expected(value, &field, "`true` or `false`"));
                };
                toggles.push((canonical_tool_name(key), enabled));
            }
            return Ok(ToolSelection::Toggles(toggles));
        }
        _ => {
            return Err(ctx.expected(
                node,
                "tools",
                "a list of tool names, a comma-separated string (`Read, Grep`) \
                 or a mapping of tool names to `true`/`false`",
            ));
        }
    }
    Ok(ToolSelection::Only(names))
}

fn parse_action(ctx: &Ctx<'_>, node: &Node, field: &str) -> Result<PermissionAction, AgentError> {
    let expected = "`allow`, `ask` or `deny`";
    match &node.value {
        Value::Str(s) => PermissionAction::parse(s)
            .ok_or_else(|| ctx.err(node, field, format!("expected {expected}, found `{s}`"))),
        _ => Err(ctx.expected(node, field, expected)),
    }
}

fn parse_permission(ctx: &Ctx<'_>, node: &Node) -> Result<Permissions, AgentError> {
    let entries = match &node.value {
        Value::Str(_) => {
            return Ok(Permissions {
                default: Some(parse_action(ctx, node, "permission")?),
                rules: Vec::new(),
            });
        }
        Value::Map(entries) => entries,
        _ => {
            return Err(ctx.expected(
                node,
                "permission",
                "`allow`, `ask`, `deny` or a mapping of tool names to them",
            ));
        }
    };
    let mut permissions = Permissions::default();
    for (key, value) in entries {
        let field = format!("permission.{key}");
        let rule = match &value.value {
            Value::Map(patterns) => {
                let mut list = Vec::new();
                for (pattern, action) in patterns {
                    let action = parse_action(ctx, action, &format!("{field}.{pattern}"))?;
                    list.push((pattern.clone(), action));
                }
                PermissionRule::Patterns(list)
            }
            _ => PermissionRule::Always(parse_action(ctx, value, &field)?),
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

fn parse_memory(ctx: &Ctx<'_>, node: &Node) -> Result<MemoryMode, AgentError> {
    match &node.value {
        Value::Bool(true) => Ok(MemoryMode::Local),
        Value::Bool(false) => Ok(MemoryMode::None),
        Value::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
            "local" | "project" | "user" => Ok(MemoryMode::Local),
            "none" | "off" => Ok(MemoryMode::None),
            _ => Err(ctx.err(
                node,
                "memory",
                format!("expected `local` or `none`, found `{s}`"),
            )),
        },
        _ => Err(ctx.expected(node, "memory", "`local` or `none`")),
    }
}

fn parse_temperature(ctx: &Ctx<'_>, node: &Node) -> Result<f32, AgentError> {
    let value = match node.value {
        Value::Float(f) => f,
        Value::Int(i) => i as f64,
        Value::UInt(u) => u as f64,
        _ => return Err(ctx.expected(node, "temperature", "a number between 0 and 2")),
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

fn parse_max_turns(ctx: &Ctx<'_>, node: &Node, field: &str) -> Result<u32, AgentError> {
    let value = match node.value {
        Value::UInt(u) => u32::try_from(u).ok(),
        Value::Int(i) => u32::try_from(i).ok(),
        _ => return Err(ctx.expected(node, field, "a whole number of turns ≥ 1")),
    };
    match value {
        Some(n) if n >= 1 => Ok(n),
        _ => Err(ctx.err(
            node,
            field,
            format!(
                "expected a whole number of turns between 1 and {}",
                u32::MAX
            ),
        )),
    }
}

const TIMEOUT_SHAPE: &str =
    "expected whole seconds ≥ 1 as an integer, or a duration like `90s`, `5m`, `1h`, `1h30m`";

fn parse_timeout(ctx: &Ctx<'_>, node: &Node) -> Result<Duration, AgentError> {
    let secs = match &node.value {
        Value::UInt(u) => Some(*u),
        Value::Int(i) => u64::try_from(*i).ok(),
        Value::Str(s) => parse_duration_secs(s),
        _ => return Err(ctx.expected(node, "timeout", TIMEOUT_SHAPE)),
    };
    match secs {
        Some(secs) if secs >= 1 => Ok(Duration::from_secs(secs)),
        _ => {
            let found = node.value.scalar_string().unwrap_or_default();
            Err(ctx.err(node, "timeout", format!("{TIMEOUT_SHAPE}, found `{found}`")))
        }
    }
}

/// Parses `90`, `90s`, `5m`, `1h`, `1h30m`, `2m 30s` into seconds; `None` when malformed or
/// overflowing.
pub(crate) fn parse_duration_secs(text: &str) -> Option<u64> {
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if text.is_empty() {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    let mut total: u64 = 0;
    let mut rest = text.as_str();
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let factor = match &rest[..unit_len] {
            "s" | "sec" | "secs" => 1,
            "m" | "min" | "mins" => 60,
            "h" | "hr" | "hrs" => 3600,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total = total.checked_add(number.checked_mul(factor)?)?;
    }
    Some(total)
}

fn parse_command(ctx: &Ctx<'_>, node: &Node) -> Result<Vec<String>, AgentError> {
    let argv = match &node.value {
        Value::Str(line) => shlex::split(line).ok_or_else(|| {
            ctx.err(
                node,
                "command",
                "cannot split the command line (unbalanced quotes or a trailing `\\`); \
                 fix the quoting or write the command as a list",
            )
        })?,
        Value::Seq(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| ctx.scalar(item, &format!("command[{i}]")))
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(ctx.expected(
                node,
                "command",
                "a list of arguments or a shell-style command line",
            ));
        }
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

fn parse_env(ctx: &Ctx<'_>, node: &Node) -> Result<BTreeMap<String, String>, AgentError> {
    let Value::Map(entries) = &node.value else {
        return Err(ctx.expected(node, "env", "a mapping of variable names to values"));
    };
    let mut env = BTreeMap::new();
    for (key, value) in entries {
        let field = format!("env.{key}");
        if key.is_empty() || key.contains(['=', '\0']) {
            return Err(ctx.err(value, &field, "invalid environment variable name"));
        }
        env.insert(key.clone(), ctx.scalar(value, &field)?);
    }
    Ok(env)
}

fn parse_mode(ctx: &Ctx<'_>, node: &Node) -> Result<AgentMode, AgentError> {
    let text = ctx.string(node, "mode")?;
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
