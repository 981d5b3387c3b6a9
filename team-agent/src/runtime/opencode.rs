//! opencode (`npm install -g opencode-ai`) as a member: `opencode run --format json`, the
//! prompt on stdin, its configuration in a file named by `OPENCODE_CONFIG`.

use serde_json::{Map, Value, json};

use super::{
    ConfigFormat, EndpointKind, Facts, MCP_SERVER_NAME, ModelForm, OutputKind, Runtime, TEAM_ENV,
};

/// The agent the generated configuration defines and `--agent` selects: its prompt is the
/// agent file's body.
pub const AGENT_NAME: &str = "team-member";

/// The opencode runtime.
pub const OPENCODE: Runtime = Runtime {
    name: "opencode",
    program: "opencode",
    npm_package: "opencode-ai",
    args: &[
        &["run"],
        &["--format", "json"],
        &["--agent", AGENT_NAME],
        &["--model", "{model}"],
    ],
    env: &[
        ("OPENCODE_CONFIG", "{config}"),
        ("OPENCODE_DISABLE_AUTOUPDATE", "1"),
        ("OPENCODE_DISABLE_LSP_DOWNLOAD", "1"),
    ],
    config: Some(ConfigFormat::OpenCode),
    key_env: None,
    model: ModelForm::AsWritten,
    output: OutputKind::OpenCodeJson,
};

/// opencode's configuration for a member: `team mcp` as the local MCP server `team` (the
/// `TEAM_*` variables passed on as `{env:NAME}`), the agent [`AGENT_NAME`] with the agent
/// file's body as its prompt, and, for an endpoint, a provider entry of that name with the
/// model (`baseURL`, and the key as `{env:NAME}`, so no secret is written).
pub(super) fn config(rt: &Runtime, facts: &Facts<'_>) -> String {
    let environment: Map<String, Value> = TEAM_ENV
        .iter()
        .map(|n| ((*n).to_owned(), Value::String(format!("{{env:{n}}}"))))
        .collect();
    let mut agent = json!({"mode": "primary"});
    if !facts.instructions.trim().is_empty() {
        agent["prompt"] = Value::String(facts.instructions.to_owned());
    }
    let mut config = json!({
        "$schema": "https://opencode.ai/config.json",
        "autoupdate": false,
        "share": "disabled",
        "mcp": {
            MCP_SERVER_NAME: {
                "type": "local",
                "command": [facts.team_exe, "mcp"],
                "environment": environment,
                "enabled": true,
            }
        },
        "agent": { AGENT_NAME: agent },
    });
    if let Some(endpoint) = facts.endpoint {
        let model = facts
            .model
            .map(|m| rt.model_arg(m))
            .and_then(|m| m.split_once('/').map(|(_, id)| id.to_owned()))
            .unwrap_or_default();
        let npm = match endpoint.kind {
            EndpointKind::OpenAi => "@ai-sdk/openai-compatible",
            EndpointKind::Anthropic => "@ai-sdk/anthropic",
        };
        let mut options = json!({ "baseURL": endpoint.base_url });
        if let Some(key) = &endpoint.api_key_env {
            options["apiKey"] = Value::String(format!("{{env:{key}}}"));
        }
        let mut provider = json!({ "npm": npm, "name": endpoint.provider, "options": options });
        if !model.is_empty() {
            provider["models"] = json!({ model.clone(): { "name": model } });
        }
        config["provider"] = json!({ endpoint.provider.clone(): provider });
    }
    serde_json::to_string_pretty(&config).unwrap_or_default()
}
