//! Agent files as Claude Code and opencode load them (issue 15), through the `team` binary:
//! a value with an unquoted `: ` is read as Claude Code reads it; one broken file stops only
//! a spawn of its own agent (with its file, line and cause), never `team agents list`, other
//! spawns or the detached runner; `team agents check` exits 2 for CI. And command agents
//! (issue 13): an explicit environment without the runner's secrets, `env:` and
//! `env_passthrough:`, the Markdown body in `TEAM_AGENT_PROMPT_FILE`, argv placeholders, and
//! results stored without ANSI escape codes.

use serde_json::Value;

use crate::support::{Backend, Project, rstest, sh_quote, stderr, stdout};

/// A Claude Code agent file shaped like the real failures: `description:` holds an unquoted
/// `: ` (invalid YAML that Claude Code loads), with tools team cannot provide.
fn claude_file(script: &str) -> String {
    format!(
        "---\nname: stats-helper\n\
         description: Use for stats. Triggers on: 'p-value', 'regression'\n\
         tools: Read, Grep, WebFetch, mcp__db__query\n\
         command: [bash, {}]\n---\nYou help with statistics.\n",
        sh_quote(script)
    )
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn one_broken_file_stops_only_its_own_agent(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    std::fs::create_dir_all(p.path(".claude/agents")).unwrap();
    let script = p.path("stats.sh");
    std::fs::write(&script, "echo \"stats for $TEAM_MEMBER\"\n").unwrap();
    std::fs::write(
        p.path(".claude/agents/stats.md"),
        claude_file(&script.to_string_lossy()),
    )
    .unwrap();
    // Broken: an absurd timeout (line 3) and invalid YAML (line 2).
    std::fs::write(
        p.path(".claude/agents/slow.md"),
        "---\nname: slow\ntimeout: 9223372036854775807\ncommand: [echo]\n---\nx\n",
    )
    .unwrap();
    std::fs::write(
        p.path(".claude/agents/worse.md"),
        "---\nname: [oops\n---\nx\n",
    )
    .unwrap();

    // `agents list`: the good agents, the broken files on stderr and in `broken`, exit 0.
    let o = p.run(&["agents", "list"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("stats-helper"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("security"),
        "built-ins listed: {}",
        stdout(&o)
    );
    let err = stderr(&o);
    assert!(err.contains("warning: broken agent file"), "{err}");
    assert!(err.contains(".claude/agents/slow.md:3:"), "{err}");
    let listed = p.json(&["agents", "list"]);
    let broken: Vec<&str> = listed["broken"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        broken,
        [".claude/agents/slow.md", ".claude/agents/worse.md"]
    );
    assert_eq!(listed["broken"][0]["line"], 3);
    assert!(
        listed["broken"][0]["error"]
            .as_str()
            .unwrap()
            .contains("at most 30 days"),
        "{listed}"
    );

    // `agents show`: the fallback warning and the tools team cannot provide.
    let shown = p.json(&["agents", "show", "stats-helper"]);
    assert_eq!(
        shown["description"],
        "Use for stats. Triggers on: 'p-value', 'regression'"
    );
    assert!(
        shown["warnings"][0].as_str().unwrap().starts_with(
            ".claude/agents/stats.md:3: the value of `description` holds an unquoted `: `"
        ),
        "{shown}"
    );
    let unavailable: Vec<&str> = shown["unavailable_tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tool"].as_str().unwrap())
        .collect();
    assert_eq!(unavailable, ["WebFetch", "mcp__db__query"]);

    // `agents check`: exit 2 and every broken file named, for CI.
    let o = p.run(&["agents", "check"]);
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("error: .claude/agents/slow.md:3:"), "{out}");
    assert!(out.contains("error: .claude/agents/worse.md:2:"), "{out}");
    assert!(out.contains("tool `WebFetch` is not available"), "{out}");

    // Spawning the broken agent: exit 2, file, line and cause; nothing created.
    p.ok(&["create", "crew"]);
    let o = p.run(&["spawn", "crew", "slow", "--prompt", "hi", "--background"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(".claude/agents/slow.md:3:"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("timeout"), "{}", stderr(&o));
    assert_eq!(p.members("crew").len(), 1);
    let o = p.run(&["spawn", "crew", "worse", "--prompt", "hi"]);
    assert_eq!(o.status.code(), Some(2), "foreground too: {}", stderr(&o));
    assert!(
        stderr(&o).contains(".claude/agents/worse.md:2:"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("invalid YAML"), "{}", stderr(&o));
    assert_eq!(p.members("crew").len(), 1);
    let o = p.run(&["agents", "show", "slow"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(".claude/agents/slow.md:3:"),
        "{}",
        stderr(&o)
    );

    // Another agent spawns, and the detached runner (which meets the broken files too)
    // runs it to the end.
    let s = p.spawn_bg("crew", "stats-helper", "go", &[]);
    let o = p.run(&["wait", "crew", "--timeout", "60"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let m = p.member("crew", &s.name);
    assert_eq!(m["status"], "completed", "{m}");
    assert_eq!(
        m["result"].as_str().unwrap().trim(),
        format!("stats for {}", s.name)
    );
}

/// The command agent that prints its environment, arguments and prompt file, in colour.
const ENV_AGENT: &str = r#"printf '\033[1;31mARGS\033[0m %s|%s\n' "$1" "$2"
echo "PROMPT_FILE: $(cat "$TEAM_AGENT_PROMPT_FILE")"
env | sort
"#;

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn command_agents_get_an_explicit_environment(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    let script = p.path("env.sh");
    std::fs::write(&script, ENV_AGENT).unwrap();
    p.agent_file(
        "printer",
        &format!(
            "---\ndescription: prints its environment\n\
                 command: [bash, {}, \"{{member}}@{{team}}\", \"{{prompt}}\"]\n\
                 env: {{MODE: fast, N: 5}}\n\
                 env_passthrough: [OPENCODE_API_KEY]\n---\nYou print things.\n",
            sh_quote(&script.to_string_lossy())
        ),
    );
    p.ok(&["create", "crew"]);
    let mut c = p.cmd();
    c.args([
        "spawn",
        "crew",
        "printer",
        "--prompt",
        "hello there",
        "--background",
    ])
    .env("OPENAI_API_KEY", "sk-runner-secret")
    .env("GITHUB_TOKEN", "ghp-secret")
    .env("AWS_SECRET_ACCESS_KEY", "aws-secret")
    .env("AWS_PROFILE", "prod")
    .env("PGPASSWORD", "pg-secret")
    .env("MY_SERVICE_SECRET", "svc-secret")
    .env("OPENCODE_API_KEY", "oc-passed")
    .env("HARMLESS_SETTING", "kept");
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let member = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    let o = p.run(&["wait", "crew", "--timeout", "60"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let m: Value = p.member("crew", &member);
    assert_eq!(m["status"], "completed", "{m}");
    let out = m["result"].as_str().unwrap();
    assert!(!out.contains('\u{1b}'), "ANSI codes are stripped: {out:?}");
    assert!(out.contains(&format!("ARGS {member}@")), "{out}");
    assert!(out.contains("|hello there\n"), "{{prompt}} replaced: {out}");
    assert!(out.contains("PROMPT_FILE: You print things."), "{out}");
    for secret in [
        "sk-runner-secret",
        "ghp-secret",
        "aws-secret",
        "pg-secret",
        "svc-secret",
        "AWS_PROFILE",
    ] {
        assert!(!out.contains(secret), "{secret} leaked to the agent: {out}");
    }
    for kept in [
        "OPENCODE_API_KEY=oc-passed",
        "HARMLESS_SETTING=kept",
        "MODE=fast",
        "N=5",
        &format!("TEAM_MEMBER={member}"),
        "PATH=",
    ] {
        assert!(out.contains(kept), "{kept} missing: {out}");
    }
}

#[test]
fn agents_show_names_the_model_and_the_rule_that_chose_it() {
    let p = crate::support::Project::sqlite();
    p.config(
        "[team]\ndefault_model = \"mock/default-model\"\n\n[models]\nsonnet = \"mock/sonnet-like\"\n",
    );
    p.agent_file(
        "aliased",
        "---\nmodel: sonnet\ntimeout: 1h30m\nmemory: project\n---\nx\n",
    );
    p.agent_file(
        "inheriting",
        "---\nmodel: inherit\ntools: {bash: false}\n---\nx\n",
    );
    p.agent_file(
        "pinned",
        "---\nmodel: mock/pinned\npermission: {bash: deny}\n---\nx\n",
    );
    p.agent_file("lost", "---\nmodel: turbo\n---\nx\n");
    let model = |name: &str| p.json(&["agents", "show", name])["model"].clone();
    let a = model("aliased");
    assert_eq!(
        (&a["model"], &a["provider"], &a["rule"]),
        (&"mock/sonnet-like".into(), &"mock".into(), &"alias".into()),
        "{a}"
    );
    assert_eq!(model("inheriting")["rule"], "default");
    assert_eq!(model("pinned")["rule"], "agent");
    assert!(
        model("lost")["error"]
            .as_str()
            .unwrap()
            .contains("model alias `turbo`")
    );
    let shown = p.json(&["agents", "show", "aliased"]);
    assert_eq!(shown["timeout_secs"], 5400);
    assert_eq!(shown["memory"], "local");
    let inheriting = p.json(&["agents", "show", "inheriting"]);
    let tools = inheriting["tools"].as_array().unwrap();
    assert!(
        !tools.contains(&"bash".into()) && tools.contains(&"read_file".into()),
        "{tools:?}"
    );
    let pinned = p.json(&["agents", "show", "pinned"]);
    assert_eq!(
        pinned["permissions"]["rules"][0],
        serde_json::json!({"tool": "bash", "action": "deny"})
    );
    // The text form says the rule in words.
    let text = p.ok(&["agents", "show", "aliased"]);
    assert!(
        text.contains("model: mock/sonnet-like (alias `sonnet` of the [models] table)"),
        "{text}"
    );
    assert!(text.contains("timeout: 1h 30m"), "{text}");
    // An alias missing from [models] fails `agents check` (exit 2).
    let o = p.run(&["agents", "check"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("model alias `turbo` is not in the [models] table"),
        "{}",
        stdout(&o)
    );
}
