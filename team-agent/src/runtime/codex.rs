//! Codex (`npm install -g @openai/codex`) as a member: `codex exec --json -`, the prompt on
//! stdin, everything else as `-c key=value` overrides of its configuration (the user's
//! `~/.codex` stays as it is, logins included).

use super::{ModelForm, OutputKind, Runtime};

/// The Codex runtime. An endpoint must speak the OpenAI Responses API (Codex no longer
/// speaks Chat Completions).
pub const CODEX: Runtime = Runtime {
    name: "codex",
    program: "codex",
    npm_package: "@openai/codex",
    args: &[
        &["exec"],
        &["--json"],
        &["--color", "never"],
        &["--skip-git-repo-check"],
        &["-c", "developer_instructions={instructions:toml}"],
        &["-c", "mcp_servers.team.command={team_exe:toml}"],
        &["-c", "mcp_servers.team.args=[\"mcp\"]"],
        // The team tools need no approval (a member has no one to ask).
        &[
            "-c",
            "mcp_servers.team.default_tools_approval_mode=\"approve\"",
        ],
        // `team mcp` gets the member's TEAM_* variables from Codex's own environment.
        &["-c", "mcp_servers.team.env_vars={team_env_toml}"],
        &[
            "-c",
            "model_provider=\"team\"",
            "-c",
            "model_providers.team.name={provider:toml}",
            "-c",
            "model_providers.team.base_url={openai_base_url:toml}",
            "-c",
            "model_providers.team.wire_api=\"responses\"",
        ],
        &[
            "-c",
            "model_providers.team.env_key={openai_api_key_env:toml}",
        ],
        &["--model", "{model}"],
        &["-"],
    ],
    env: &[],
    config: None,
    key_env: None,
    model: ModelForm::Bare,
    output: OutputKind::CodexJson,
};
