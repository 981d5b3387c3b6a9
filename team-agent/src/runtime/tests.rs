//! The runtime tables against the real CLIs' flags and formats (fixtures captured from
//! opencode 1.18, Claude Code 2.1 and Codex 0.171 run against team's scripted model server).

use super::*;

fn endpoint(kind: EndpointKind) -> Endpoint {
    Endpoint {
        provider: "scripted".into(),
        kind,
        base_url: match kind {
            EndpointKind::OpenAi => "http://127.0.0.1:9/v1".into(),
            EndpointKind::Anthropic => "http://127.0.0.1:9".into(),
        },
        api_key_env: Some("SCRIPTED_KEY".into()),
    }
}

fn facts<'a>(model: Option<&'a str>, endpoint: Option<&'a Endpoint>) -> Facts<'a> {
    Facts {
        model,
        instructions: "You review {things} carefully.",
        team_exe: "/opt/team/bin/team",
        config_path: Some("/tmp/m/config.json"),
        endpoint,
    }
}

#[test]
fn every_runtime_is_found_by_name_and_says_how_to_install_it() {
    for name in ["opencode", "claude", "codex"] {
        let rt = find(name).unwrap();
        assert_eq!(rt.name, name);
        assert!(rt.install_hint().starts_with("npm install -g "), "{rt}");
    }
    assert!(find("aider").is_none());
    assert_eq!(known_names(), "opencode, claude, codex");
}

#[test]
fn opencode_argv_env_and_config() {
    let ep = endpoint(EndpointKind::OpenAi);
    let inv = opencode::OPENCODE.invocation(&facts(Some("scripted/m1"), Some(&ep)));
    assert_eq!(
        inv.argv,
        [
            "opencode",
            "run",
            "--format",
            "json",
            "--agent",
            "team-member",
            "--model",
            "scripted/m1"
        ]
    );
    assert!(
        inv.env
            .contains(&("OPENCODE_CONFIG".into(), "/tmp/m/config.json".into()))
    );
    assert!(
        inv.env
            .contains(&("OPENCODE_DISABLE_AUTOUPDATE".into(), "1".into()))
    );
    let config: serde_json::Value = serde_json::from_str(inv.config.as_deref().unwrap()).unwrap();
    assert_eq!(
        config["mcp"]["team"]["command"],
        serde_json::json!(["/opt/team/bin/team", "mcp"])
    );
    assert_eq!(config["mcp"]["team"]["type"], "local");
    assert_eq!(
        config["mcp"]["team"]["environment"]["TEAM_MEMBER"],
        "{env:TEAM_MEMBER}"
    );
    assert_eq!(
        config["agent"]["team-member"]["prompt"],
        "You review {things} carefully."
    );
    let provider = &config["provider"]["scripted"];
    assert_eq!(provider["npm"], "@ai-sdk/openai-compatible");
    assert_eq!(provider["options"]["baseURL"], "http://127.0.0.1:9/v1");
    assert_eq!(provider["options"]["apiKey"], "{env:SCRIPTED_KEY}");
    assert_eq!(provider["models"]["m1"]["name"], "m1");
    // Without a model or endpoint: no --model, no provider entry.
    let inv = opencode::OPENCODE.invocation(&facts(None, None));
    assert!(!inv.argv.contains(&"--model".to_owned()), "{:?}", inv.argv);
    assert!(!inv.config.unwrap().contains("\"provider\""));
}

#[test]
fn claude_argv_env_and_mcp_config() {
    let ep = endpoint(EndpointKind::Anthropic);
    let inv = claude::CLAUDE.invocation(&facts(Some("scripted/claude-test"), Some(&ep)));
    assert_eq!(
        inv.argv,
        [
            "claude",
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--mcp-config",
            "/tmp/m/config.json",
            "--allowedTools",
            "mcp__team",
            "--append-system-prompt",
            "You review {things} carefully.",
            "--model",
            "claude-test"
        ]
    );
    assert!(
        inv.env
            .contains(&("ANTHROPIC_BASE_URL".into(), "http://127.0.0.1:9".into()))
    );
    // The key is copied from the endpoint's variable by the runner, never written here.
    assert!(inv.env.contains(&(
        "ANTHROPIC_API_KEY".into(),
        format!("{COPY_FROM}SCRIPTED_KEY")
    )));
    let config: serde_json::Value = serde_json::from_str(inv.config.as_deref().unwrap()).unwrap();
    let server = &config["mcpServers"]["team"];
    assert_eq!(server["command"], "/opt/team/bin/team");
    assert_eq!(server["args"], serde_json::json!(["mcp"]));
    assert_eq!(server["env"]["TEAM_ID"], "${TEAM_ID}");
    // An alias goes as written; no endpoint: no base URL; no instructions: no flag.
    let mut f = facts(Some("sonnet"), None);
    f.instructions = "  ";
    let inv = claude::CLAUDE.invocation(&f);
    assert_eq!(inv.argv.last().unwrap(), "sonnet");
    assert!(!inv.argv.contains(&"--append-system-prompt".to_owned()));
    assert!(inv.env.iter().all(|(k, _)| k != "ANTHROPIC_BASE_URL"));
}

#[test]
fn codex_argv_is_overrides_in_toml() {
    let ep = endpoint(EndpointKind::OpenAi);
    let inv = codex::CODEX.invocation(&facts(Some("scripted/gpt-test"), Some(&ep)));
    let argv = inv.argv.join(" ");
    for part in [
        "codex exec --json --color never --skip-git-repo-check",
        "-c developer_instructions=\"You review {things} carefully.\"",
        "-c mcp_servers.team.command=\"/opt/team/bin/team\"",
        "-c mcp_servers.team.args=[\"mcp\"]",
        "-c mcp_servers.team.default_tools_approval_mode=\"approve\"",
        "-c mcp_servers.team.env_vars=[\"TEAM_DATABASE_URL\", \"TEAM_ID\", \"TEAM_MEMBER\", \"TEAM_LEAD\", \"TEAM_PROJECT_ROOT\"]",
        "-c model_provider=\"team\" -c model_providers.team.name=\"scripted\" -c model_providers.team.base_url=\"http://127.0.0.1:9/v1\" -c model_providers.team.wire_api=\"responses\"",
        "-c model_providers.team.env_key=\"SCRIPTED_KEY\"",
        "--model gpt-test -",
    ] {
        assert!(argv.contains(part), "{part} not in {argv}");
    }
    // Each -c value parses as TOML, quotes and newlines included.
    let mut f = facts(None, None);
    f.instructions = "Say \"hi\"\nthen stop.";
    let inv = codex::CODEX.invocation(&f);
    let value = inv
        .argv
        .iter()
        .find_map(|a| a.strip_prefix("developer_instructions="))
        .unwrap();
    let parsed: toml::Table = toml::from_str(&format!("v = {value}")).unwrap();
    assert_eq!(parsed["v"].as_str(), Some("Say \"hi\"\nthen stop."));
    // An Anthropic endpoint cannot be Codex's provider: no provider overrides.
    let ep = endpoint(EndpointKind::Anthropic);
    let inv = codex::CODEX.invocation(&facts(Some("x"), Some(&ep)));
    assert!(
        !inv.argv.join(" ").contains("model_provider"),
        "{:?}",
        inv.argv
    );
}

#[test]
fn opencode_output_gives_the_last_steps_text_and_summed_tokens() {
    let out = parse_output(
        OutputKind::OpenCodeJson,
        include_str!("fixtures/opencode-text.jsonl"),
    );
    assert_eq!(out.text.as_deref(), Some("echo: \"hello there\""));
    assert_eq!(out.usage.prompt_tokens, 2391);
    assert_eq!(out.usage.completion_tokens, 5);
    assert_eq!(out.usage.calls, 1);
    assert!(out.errors.is_empty());
}

#[test]
fn claude_output_reads_the_result_event() {
    let out = parse_output(
        OutputKind::ClaudeJson,
        include_str!("fixtures/claude-text.jsonl"),
    );
    assert_eq!(out.text.as_deref(), Some("saw the instructions"));
    assert_eq!(out.usage.prompt_tokens, 3038);
    assert_eq!(out.usage.completion_tokens, 6);
    assert!(out.usage.cost_usd.is_some());
    let failed = r#"{"type":"result","subtype":"error_during_execution","is_error":true,"errors":["API Error: 500 boom"],"usage":{"input_tokens":3,"output_tokens":0}}"#;
    let out = parse_output(OutputKind::ClaudeJson, failed);
    assert_eq!(out.errors, ["API Error: 500 boom"]);
    assert_eq!(out.text, None);
}

#[test]
fn codex_output_reads_messages_usage_and_failures() {
    let out = parse_output(
        OutputKind::CodexJson,
        include_str!("fixtures/codex-failed.jsonl"),
    );
    assert_eq!(out.text, None);
    assert_eq!(out.errors.len(), 1, "{:?}", out.errors);
    assert!(out.errors[0].contains("404 Not Found"), "{:?}", out.errors);
    let out = parse_output(
        OutputKind::CodexJson,
        include_str!("fixtures/codex-text.jsonl"),
    );
    assert_eq!(out.text.as_deref(), Some("echo: hello codex\n"));
    assert_eq!(
        (out.usage.prompt_tokens, out.usage.completion_tokens),
        (4971, 5)
    );
    assert!(
        out.errors.is_empty(),
        "a warning item is no error: {:?}",
        out.errors
    );
    // The documented success shape (codex exec --json).
    let ok = concat!(
        r#"{"type":"thread.started","thread_id":"t"}"#,
        "\n",
        r#"{"type":"turn.started"}"#,
        "\n",
        r#"{"type":"item.completed","item":{"id":"item_1","type":"agent_message","text":"first"}}"#,
        "\n",
        r#"{"type":"item.completed","item":{"id":"item_2","type":"agent_message","text":"done"}}"#,
        "\n",
        r#"{"type":"turn.completed","usage":{"input_tokens":120,"cached_input_tokens":20,"output_tokens":7}}"#,
        "\nnot json\n"
    );
    let out = parse_output(OutputKind::CodexJson, ok);
    assert_eq!(out.text.as_deref(), Some("done"));
    assert_eq!(out.usage.prompt_tokens, 120);
    assert_eq!(out.usage.completion_tokens, 7);
    assert_eq!(out.skipped_lines, 1);
}

#[test]
fn a_tool_using_run_gives_the_final_answer_and_every_steps_tokens() {
    // Captured: the model (scripted: 100/10 tokens, then 150/8) calls a tool, then answers.
    let out = parse_output(
        OutputKind::OpenCodeJson,
        include_str!("fixtures/opencode-tools.jsonl"),
    );
    assert_eq!(out.text.as_deref(), Some("There is one file: a.md"));
    assert_eq!(
        (
            out.usage.prompt_tokens,
            out.usage.completion_tokens,
            out.usage.calls
        ),
        (250, 18, 2)
    );
    let out = parse_output(
        OutputKind::ClaudeJson,
        include_str!("fixtures/claude-tools.jsonl"),
    );
    assert_eq!(out.text.as_deref(), Some("There is one file: a.md"));
    assert_eq!(
        (
            out.usage.prompt_tokens,
            out.usage.completion_tokens,
            out.usage.calls
        ),
        (250, 18, 2)
    );
}
