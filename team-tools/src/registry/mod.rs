//! The one registry of tools: every tool an agent's model may call, the workspace tools and
//! the team tools, with its name, description, argument struct and JSON Schema.
//!
//! Each tool's arguments are a struct deriving `Deserialize` and `schemars::JsonSchema`
//! ([`ToolArgs`]); the JSON Schema sent to providers (and, next, to MCP clients) is generated
//! from it ([`ToolInfo::schema`]), and so is the "expected shape" text of argument errors
//! ([`ToolInfo::shape`]). A call is parsed into the typed struct by [`parse`], or, by name, into
//! a [`WorkspaceCall`] or a [`TeamCall`]. Tools with actions (`team_task`, `agent_memory`) parse
//! into a typed operation ([`TeamTaskOp`], [`MemoryOp`]).
//!
//! The registry knows no runner: the workspace tools run in [`crate::WorkspaceTools`], the team
//! tools' effects are `team-runner`'s (`llm::coordination`), since they act on a live team.

mod schema;
mod team;
#[cfg(test)]
mod tests;
mod workspace;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ToolError;

pub use team::{
    AgentMemoryArgs, MAX_WAIT_SECS, MemoryAction, MemoryOp, ReadInboxArgs, SendMessageArgs,
    TaskArgs, TaskMove, TeamCall, TeamCreateArgs, TeamDeleteArgs, TeamMembersArgs, TeamTaskAction,
    TeamTaskArgs, TeamTaskOp, WaitForMessagesArgs,
};
pub use workspace::{
    BASH_DEFAULT_TIMEOUT_SECS, BASH_MAX_TIMEOUT_SECS, BashArgs, EditFileArgs, GrepArgs,
    ListFilesArgs, ReadFileArgs, WorkspaceCall, WriteFileArgs,
};

/// Which side carries a tool out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolKind {
    /// A tool on the project's files (`read_file` … `bash`): [`crate::WorkspaceTools`] runs it,
    /// behind the permission checks.
    Workspace,
    /// A tool on the member's team (`task`, `send_message`, the task board, memory): the runner
    /// carries it out. Always offered: it is how a member talks to its team.
    Team,
}

/// A tool's typed arguments: implemented by the argument struct of each registered tool.
pub trait ToolArgs: DeserializeOwned + JsonSchema {
    /// The tool's name, as the model calls it.
    const NAME: &'static str;
    /// Which side carries it out.
    const KIND: ToolKind;
    /// What the tool does, for the model.
    const DESCRIPTION: &'static str;

    /// Checks that serde cannot express (ranges, a non-empty command, the fields an action
    /// needs). `Err` is the detail of a [`ToolError::InvalidArgs`], e.g. "command is empty".
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A tool as offered to a provider (or an MCP client): name, description and the JSON Schema of
/// its arguments object (`{"type": "object", "properties": …, "required": […],
/// "additionalProperties": false}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSpec {
    /// Tool name, e.g. `read_file`.
    pub name: String,
    /// What the tool does, for the model.
    pub description: String,
    /// JSON Schema of the arguments.
    pub parameters: Value,
}

/// One registered tool.
#[derive(Debug, Clone, Copy)]
pub struct ToolInfo {
    /// The tool's name.
    pub name: &'static str,
    /// Which side carries it out.
    pub kind: ToolKind,
    /// What the tool does, for the model.
    pub description: &'static str,
    schema: fn() -> Value,
    fields: fn() -> &'static [&'static str],
}

impl ToolInfo {
    const fn of<T: ToolArgs>() -> ToolInfo {
        ToolInfo {
            name: T::NAME,
            kind: T::KIND,
            description: T::DESCRIPTION,
            schema: schema::schema_of::<T>,
            fields: schema::fields_of::<T>,
        }
    }

    /// The JSON Schema of the arguments object, generated from the argument struct: `type`
    /// `object`, `properties`, `required` (the fields without a default) and
    /// `additionalProperties: false`; no `$ref`, `$schema`, `title`, `default` or `format`
    /// keyword, and an optional field is its plain type (not `[T, "null"]`), so OpenAI and
    /// Anthropic accept it as is.
    pub fn schema(&self) -> Value {
        (self.schema)()
    }

    /// The argument names in declaration order (serde's names).
    pub fn fields(&self) -> &'static [&'static str] {
        (self.fields)()
    }

    /// The spec offered to providers.
    pub fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: self.name.to_owned(),
            description: self.description.to_owned(),
            parameters: self.schema(),
        }
    }

    /// The expected shape for error messages, e.g. `{"path": string, "offset"?: integer >= 0}`
    /// (`?` = optional), in declaration order.
    pub fn shape(&self) -> String {
        schema::shape(self.fields(), &self.schema())
    }

    /// A [`ToolError::InvalidArgs`] for this tool.
    pub fn invalid(&self, detail: impl Into<String>) -> ToolError {
        ToolError::InvalidArgs {
            tool: self.name.to_owned(),
            detail: detail.into(),
            expected: self.shape(),
        }
    }
}

/// Every tool, the workspace tools first (in the order they are offered), then the team tools.
/// The one list of tool names: everything else derives from it.
pub static TOOLS: [ToolInfo; 15] = [
    ToolInfo::of::<ReadFileArgs>(),
    ToolInfo::of::<ListFilesArgs>(),
    ToolInfo::of::<GrepArgs>(),
    ToolInfo::of::<WriteFileArgs>(),
    ToolInfo::of::<EditFileArgs>(),
    ToolInfo::of::<BashArgs>(),
    ToolInfo::of::<TaskArgs>(),
    ToolInfo::of::<SendMessageArgs>(),
    ToolInfo::of::<WaitForMessagesArgs>(),
    ToolInfo::of::<ReadInboxArgs>(),
    ToolInfo::of::<TeamTaskArgs>(),
    ToolInfo::of::<AgentMemoryArgs>(),
    ToolInfo::of::<TeamMembersArgs>(),
    ToolInfo::of::<TeamCreateArgs>(),
    ToolInfo::of::<TeamDeleteArgs>(),
];

/// The tool named `name`, if any.
pub fn find(name: &str) -> Option<&'static ToolInfo> {
    TOOLS.iter().find(|t| t.name == name)
}

/// Whether `name` is a registered tool.
pub fn is_tool(name: &str) -> bool {
    find(name).is_some()
}

/// The tools of one kind, in registry order.
pub fn tools_of(kind: ToolKind) -> impl Iterator<Item = &'static ToolInfo> {
    TOOLS.iter().filter(move |t| t.kind == kind)
}

/// The names of the tools of one kind, in registry order.
pub fn names_of(kind: ToolKind) -> impl Iterator<Item = &'static str> {
    tools_of(kind).map(|t| t.name)
}

/// The specs of the tools of one kind, in registry order.
pub fn specs_of(kind: ToolKind) -> Vec<ToolSpec> {
    tools_of(kind).map(ToolInfo::spec).collect()
}

/// Parses a call's arguments (a JSON object; an empty string counts as `{}`) into `T` and runs
/// its [`ToolArgs::check`].
///
/// Errors: [`ToolError::InvalidArgs`] naming the problem (not JSON, not an object, a missing,
/// unknown or mistyped field, an unknown action, a value out of range) and the expected shape.
pub fn parse<T: ToolArgs>(args_json: &str) -> Result<T, ToolError> {
    let info = ToolInfo::of::<T>();
    let text = if args_json.trim().is_empty() {
        "{}"
    } else {
        args_json
    };
    let value: Value = serde_json::from_str(text)
        .map_err(|e| info.invalid(format!("the arguments are not valid JSON ({e})")))?;
    if !value.is_object() {
        return Err(info.invalid("the arguments must be a JSON object"));
    }
    let args: T = serde_json::from_value(value).map_err(|e| info.invalid(e.to_string()))?;
    args.check().map_err(|detail| info.invalid(detail))?;
    Ok(args)
}
