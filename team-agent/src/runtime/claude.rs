//! Claude Code (`npm install -g @anthropic-ai/claude-code`) as a member:
//! `claude -p --output-format stream-json --verbose`, the prompt on stdin, the agent file's
//! body appended to its system prompt, `team mcp` from an `--mcp-config` file.

use serde_json::{Map, Value, json};

use super::{ConfigFormat, Facts, MCP_SERVER_NAME, ModelForm, OutputKind, Runtime, TEAM_ENV};

/// The Claude Code runtime.
pub const CLAUDE: Runtime = Runtime {
    name: "claude",
    program: "claude",
    npm_package: "@anthropic-ai/claude-code",
    args: &[
        &["-p"],
        &["--output-format", "stream-json"],
        &["--verbose"],
        &["--mcp-config", "{config}"],
        // The team tools need no approval (a member has no one to ask).
        &["--allowedTools", "mcp__team"],
        &["--append-system-prompt", "{instructions}"],
        &["--model", "{model}"],
    ],
    env: &[
        ("ANTHROPIC_BASE_URL", "{anthropic_base_url}"),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
        ("DISABLE_AUTOUPDATER", "1"),
    ],
    config: Some(ConfigFormat::ClaudeMcp),
    key_env: Some("ANTHROPIC_API_KEY"),
    model: ModelForm::Bare,
    output: OutputKind::ClaudeJson,
};

/// Claude Code's `--mcp-config` file: `team mcp` as the stdio server `team`, the `TEAM_*`
/// variables passed on as `${NAME}`.
pub(super) fn mcp_config(facts: &Facts<'_>) -> String {
    let env: Map<String, Value> = TEAM_ENV
        .iter()
        .map(|n| ((*n).to_owned(), Value::String(format!("${{{n}}}"))))
        .collect();
    let config = json!({
        "mcpServers": {
            MCP_SERVER_NAME: {
                "type": "stdio",
                "command": facts.team_exe,
                "args": ["mcp"],
                "env": env,
            }
        }
    });
    serde_json::to_string_pretty(&config).unwrap_or_default()
}
