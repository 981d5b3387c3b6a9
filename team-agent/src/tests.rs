//! Tests of agent-file parsing and discovery.
//!
//! Over 700 lines on purpose: one table-like test per documented front-matter form (opencode
//! and Claude Code), kept together so a reader sees every accepted and refused shape in one
//! place; the code they test is split by job (yaml.rs, fields.rs, catalog.rs, resolve.rs).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use team_tools::permission::wildcard_match;

fn src(path: &str) -> AgentSource {
    AgentSource {
        kind: SourceKind::Team,
        path: PathBuf::from(path),
    }
}

fn parse(path: &str, text: &str) -> Result<AgentDef, AgentError> {
    AgentDef::from_markdown(text, src(path))
}

fn parse_ok(text: &str) -> AgentDef {
    match parse(".team/agents/x.md", text) {
        Ok(def) => def,
        Err(e) => panic!("expected a valid agent, got: {e}"),
    }
}

fn parse_err(path: &str, text: &str) -> AgentError {
    match parse(path, text) {
        Ok(def) => panic!("expected an error, parsed: {def:?}"),
        Err(e) => e,
    }
}

const OPENCODE_REVIEW: &str = "---
description: Reviews code for quality and best practices
mode: subagent
model: anthropic/claude-sonnet-4-20250514
temperature: 0.1
tools:
  write: false
  edit: false
  bash: false
permission:
  edit: deny
  bash:
    \"*\": ask
    \"git diff *\": allow
  webfetch: deny
---

You are in code review mode. Focus on:

- Code quality and best practices
- Potential bugs and edge cases

Provide constructive feedback without making direct changes.
";

#[test]
fn parses_an_opencode_agent_file() {
    let def = parse(".opencode/agent/review.md", OPENCODE_REVIEW).unwrap();
    assert_eq!(def.name, "review");
    assert_eq!(
        def.description.as_deref(),
        Some("Reviews code for quality and best practices")
    );
    assert_eq!(def.mode, Some(AgentMode::Subagent));
    assert_eq!(
        def.kind(),
        AgentKind::Llm {
            provider: "anthropic".into(),
            model: "claude-sonnet-4-20250514".into()
        }
    );
    assert_eq!(def.temperature, Some(0.1));
    let tools = def.tools.as_ref().unwrap();
    assert!(!tools.allows("write_file"));
    assert!(!tools.allows("edit_file"));
    assert!(!tools.allows("bash"));
    assert!(tools.allows("read_file"), "unnamed tools stay enabled");
    let perm = def.permission.as_ref().unwrap();
    assert_eq!(perm.permission_for("edit_file", ""), Some(Permission::Deny));
    assert_eq!(
        perm.permission_for("write_file", ""),
        Some(Permission::Deny)
    );
    assert_eq!(
        perm.permission_for("bash", "git diff HEAD"),
        Some(Permission::Allow)
    );
    assert_eq!(
        perm.permission_for("bash", "rm -rf /"),
        Some(Permission::Ask)
    );
    assert_eq!(perm.permission_for("webfetch", ""), Some(Permission::Deny));
    // The runner's checker (the one permission model since the agent-file copy was merged
    // into it) never let `git diff *` match the bare `git diff`: the `*` pattern decides.
    assert_eq!(
        perm.permission_for("bash", "git diff"),
        Some(Permission::Ask)
    );
    assert_eq!(
        perm.permission_for("bash", "git diffx"),
        Some(Permission::Ask)
    );
    assert_eq!(perm.permission_for("read_file", ""), None);
    assert!(def.instructions.starts_with("You are in code review mode."));
    assert!(def.instructions.ends_with("without making direct changes."));
    assert!(def.extra.is_empty());
}

const CLAUDE_REVIEWER: &str = "---
name: code-reviewer
description: Expert code review specialist. Use immediately after writing or modifying code.
tools: Read, Grep, Glob, Bash
model: inherit
color: blue
---

You are a senior code reviewer ensuring high standards of code quality and security.

When invoked:
1. Run git diff to see recent changes
";

#[test]
fn parses_a_claude_code_agent_file() {
    let def = parse(".claude/agents/reviewer.md", CLAUDE_REVIEWER).unwrap();
    assert_eq!(def.name, "code-reviewer", "`name:` wins over the file stem");
    assert_eq!(def.model, None, "`inherit` means no model of its own");
    assert_eq!(def.kind(), AgentKind::Unconfigured);
    assert_eq!(
        def.tools,
        Some(ToolSelection::Only(vec![
            "read_file".into(),
            "grep".into(),
            "list_files".into(),
            "bash".into()
        ]))
    );
    assert!(!def.tools.as_ref().unwrap().allows("write_file"));
    assert_eq!(def.color.as_deref(), Some("blue"));
    assert!(
        def.instructions
            .starts_with("You are a senior code reviewer")
    );
    assert!(def.instructions.ends_with("recent changes"));
}

#[test]
fn claude_model_aliases_map_to_anthropic() {
    // A bare word is an alias, resolved through [models] when the agent runs.
    let def = parse_ok("---\nmodel: sonnet\n---\nhi");
    assert_eq!(def.model, None);
    assert_eq!(def.model_alias.as_deref(), Some("sonnet"));
    assert_eq!(
        def.kind(),
        AgentKind::LlmAlias {
            alias: "sonnet".into()
        }
    );
    let inherit = parse_ok("---\nmodel: inherit\n---\n");
    assert_eq!((inherit.model, inherit.model_alias), (None, None));
    let full = parse_ok("---\nmodel: claude-opus-4-1-20250805\n---\n")
        .model
        .unwrap();
    assert_eq!(full.to_string(), "anthropic/claude-opus-4-1-20250805");
    let nested = parse_ok("---\nmodel: openrouter/meta-llama/llama-3-70b\n---\n");
    assert_eq!(nested.model.unwrap().model, "meta-llama/llama-3-70b");
}

#[test]
fn load_reads_files_and_refuses_non_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bin.md");
    std::fs::write(&path, [0xff, 0xfe, b'x']).unwrap();
    let e = AgentDef::load(&path, SourceKind::Claude).unwrap_err();
    assert!(matches!(e, AgentError::Invalid { .. }), "{e}");
    assert!(e.to_string().contains("UTF-8"), "{e}");
    let e = AgentDef::load(&dir.path().join("missing.md"), SourceKind::Team).unwrap_err();
    assert!(matches!(e, AgentError::Read { .. }), "{e}");
    std::fs::write(&path, "---\nmodel: openai/gpt-4o\n---\nhi").unwrap();
    let def = AgentDef::load(&path, SourceKind::Claude).unwrap();
    assert_eq!(
        (def.name.as_str(), def.source.kind),
        ("bin", SourceKind::Claude)
    );
}

#[test]
fn unknown_fields_are_kept_in_extra() {
    let def = parse_ok(
        "---\nmodel: openai/gpt-4o\nhooks:\n  pre: [a, 1]\nskills: 3\npermissionMode: plan\n---\nbody",
    );
    assert_eq!(def.extra["hooks"], serde_json::json!({"pre": ["a", 1]}));
    assert_eq!(def.extra["skills"], serde_json::json!(3));
    assert_eq!(def.extra["permissionMode"], serde_json::json!("plan"));
    assert_eq!(def.extra.len(), 3);
}

#[test]
fn tools_forms() {
    let list =
        parse_ok("---\ntools: [read, write, glob, list, task, send_message, Frobnicate]\n---\n");
    assert_eq!(
        list.tools,
        Some(ToolSelection::Only(vec![
            "read_file".into(),
            "write_file".into(),
            "list_files".into(),
            "task".into(),
            "send_message".into(),
            "Frobnicate".into()
        ])),
        "aliases map, duplicates collapse, team tools and unknown names pass through"
    );
    assert_eq!(list.unknown_tools(), vec!["Frobnicate"]);

    let string = parse_ok("---\ntools: \"Edit, MultiEdit,LS , \"\n---\n");
    assert_eq!(
        string.tools,
        Some(ToolSelection::Only(vec![
            "edit_file".into(),
            "list_files".into()
        ]))
    );

    let map = parse_ok("---\ntools:\n  \"*\": false\n  read: true\n---\n");
    let tools = map.tools.unwrap();
    assert!(tools.allows("read_file"));
    assert!(!tools.allows("bash"), "the `*` toggle disables the rest");

    let empty = parse_ok("---\ntools: []\n---\n");
    assert_eq!(empty.tools, Some(ToolSelection::Only(vec![])));
    assert_eq!(parse_ok("---\ntools:\n---\n").tools, None, "null = default");

    let e = parse_err("a.md", "---\ntools:\n  bash: maybe\n---\n");
    assert!(
        matches!(&e, AgentError::Field { field, line: 3, .. } if field == "tools"),
        "{e}"
    );
    assert!(e.to_string().contains("expected `true` or `false`"), "{e}");
    let e = parse_err("a.md", "---\ntools: [read, [x]]\n---\n");
    assert!(
        matches!(&e, AgentError::Field { field, line: 2, .. } if field == "tools"),
        "{e}"
    );
    let e = parse_err("a.md", "---\ntools: 5\n---\n");
    assert!(
        e.to_string().contains("expected a list of tool names"),
        "{e}"
    );
}

#[test]
fn permission_forms() {
    let all = parse_ok("---\npermission: ask\n---\n").permission.unwrap();
    assert_eq!(all.default, Some(Permission::Ask));
    assert_eq!(all.permission_for("anything", ""), Some(Permission::Ask));

    let map = parse_ok("---\npermission: {\"*\": ask, edit: deny, Bash: Allow}\n---\n")
        .permission
        .unwrap();
    assert_eq!(map.permission_for("bash", "ls"), Some(Permission::Allow));
    assert_eq!(map.permission_for("write_file", ""), Some(Permission::Deny));
    assert_eq!(map.permission_for("grep", ""), Some(Permission::Ask));
    // The more specific entry wins, whatever the order: a catch-all written last does not
    // override `bash` (as the runner's checker has always applied it), but covers the rest.
    let last = parse_ok("---\npermission: {bash: allow, \"*\": deny}\n---\n")
        .permission
        .unwrap();
    assert_eq!(last.permission_for("bash", "ls"), Some(Permission::Allow));
    assert_eq!(last.permission_for("grep", "x"), Some(Permission::Deny));

    let e = parse_err(
        "p.md",
        "---\npermission:\n  bash:\n    \"git *\": sure\n---\n",
    );
    assert!(
        matches!(&e, AgentError::Field { field, line: 3, .. } if field == "permission.bash.git *"),
        "{e}"
    );
    assert!(e.to_string().contains("found `sure`"), "{e}");
    let e = parse_err("p.md", "---\npermission: [allow]\n---\n");
    assert!(
        matches!(&e, AgentError::Field { field, .. } if field == "permission"),
        "{e}"
    );
}

#[test]
fn timeout_forms() {
    let secs = |t: &str| parse_ok(&format!("---\ntimeout: {t}\n---\n")).timeout;
    assert_eq!(secs("90"), Some(Duration::from_secs(90)));
    assert_eq!(secs("\"90\""), Some(Duration::from_secs(90)));
    assert_eq!(secs("90s"), Some(Duration::from_secs(90)));
    assert_eq!(secs("5m"), Some(Duration::from_secs(300)));
    assert_eq!(secs("1h"), Some(Duration::from_secs(3600)));
    assert_eq!(secs("1h30m"), Some(Duration::from_secs(5400)));
    assert_eq!(secs("2m 30s"), Some(Duration::from_secs(150)));
    assert_eq!(secs("30days"), Some(MAX_AGENT_TIMEOUT));
    let e = parse_err("t.md", "---\ntimeout: 9223372036854775807\n---\n");
    assert!(e.to_string().contains("at most 30 days"), "{e}");
    for bad in [
        "0",
        "-5",
        "1.5",
        "5x",
        "m",
        "\"\"",
        "[1]",
        "99999999999999999999h",
        // Absurd values are errors at load, never a panic of the runner later.
        "9223372036854775807",
        "18446744073709551615",
        "99999999999999999999",
        "1e19",
        "31days",
        "500ms",
    ] {
        let e = parse_err("t.md", &format!("---\ntimeout: {bad}\n---\n"));
        assert!(
            matches!(&e, AgentError::Field { field, line: 2, .. } if field == "timeout"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn bad_yaml_reports_file_line_and_column() {
    let text = "---\nname: reviewer\ndescription: ok\ntools: [a, b\n---\nbody\n";
    let e = parse_err(".team/agents/reviewer.md", text);
    let AgentError::Yaml { line, column, .. } = &e else {
        panic!("expected a YAML error, got {e:?}");
    };
    assert!(*line >= 4, "line counted in the whole file: {line}");
    assert!(column.is_some());
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            ".team/agents/reviewer.md:{line}:{}: invalid YAML in front matter: ",
            column.unwrap()
        )),
        "{msg}"
    );
}

#[test]
fn wrong_types_name_the_field_and_line() {
    let e = parse_err(
        ".team/agents/r.md",
        "---\nname: r\n\ntemperature: hot\n---\n",
    );
    assert!(e.to_string().starts_with(".team/agents/r.md:4:"), "{e}");
    assert!(
        e.to_string().contains(
            "invalid field `temperature`: invalid type: string \"hot\", expected a number"
        ),
        "{e}"
    );
    for (text, field) in [
        ("description: [a]", "description"),
        ("max_turns: 0", "max_turns"),
        ("maxTurns: many", "maxTurns"),
        ("memory: forever", "memory"),
        ("mode: boss", "mode"),
        ("env: [A]", "env"),
        ("env: {A: [1]}", "env"),
        ("model: gpt 4o", "model"),
        ("model: /x", "model"),
        ("timeout: 9223372036854775807", "timeout"),
        ("max_turns: 9223372036854775807", "max_turns"),
        ("env_passthrough: [\"A B\"]", "env_passthrough"),
        ("name: \"bad name\"", "name"),
        ("command: \"unterminated 'quote\"", "command"),
        ("command: []", "command"),
        ("temperature: 3", "temperature"),
    ] {
        let e = parse_err("f.md", &format!("---\n{text}\n---\n"));
        assert!(
            matches!(&e, AgentError::Field { field: f, line: 2, .. } if f == field),
            "{text}: {e}"
        );
    }
    let e = parse_err("f.md", "---\nmax_turns: 3\nsteps: 4\n---\n");
    assert!(
        matches!(&e, AgentError::Field { field, line: 3, .. } if field == "steps"),
        "{e}"
    );
}

#[test]
fn other_fields() {
    let def = parse_ok(
        "---\nmemory: local\nmaxSteps: 12\nenv: {A: x, N: 5, B: true}\ncommand: \
         \"python3 -m agent --name 'my bot'\"\n---\n",
    );
    assert_eq!(def.memory, MemoryMode::Local);
    assert_eq!(def.max_turns, Some(12));
    assert_eq!(def.env["N"], "5");
    assert_eq!(def.env["B"], "true");
    assert_eq!(
        def.kind(),
        AgentKind::Command {
            argv: vec![
                "python3".into(),
                "-m".into(),
                "agent".into(),
                "--name".into(),
                "my bot".into()
            ]
        }
    );
    let list = parse_ok("---\ncommand: [sleep, 5]\nmemory: none\n---\n");
    assert_eq!(list.command, Some(vec!["sleep".into(), "5".into()]));
    assert_eq!(list.memory, MemoryMode::None);
    assert_eq!(
        parse_ok("---\n---\n").memory,
        MemoryMode::None,
        "default none"
    );
}

#[test]
fn crlf_and_bom_are_handled() {
    let text =
        "\u{feff}---\r\nname: win\r\nmodel: openai/gpt-4o\r\n---\r\nLine one.\r\nLine two.\r\n";
    let def = parse_ok(text);
    assert_eq!(def.name, "win");
    assert_eq!(def.instructions, "Line one.\nLine two.");
    let e = parse_err("w.md", "---\r\nname: w\r\ntemperature: x\r\n---\r\n");
    assert!(matches!(e, AgentError::Field { line: 3, .. }), "{e}");
}

#[test]
fn no_front_matter_is_instructions_only() {
    let def = parse(".team/agents/helper.md", "\n  Just help.\n\n").unwrap();
    assert_eq!(def.name, "helper");
    assert_eq!(def.instructions, "Just help.");
    assert_eq!(def.kind(), AgentKind::Unconfigured);
    let empty = parse(".team/agents/empty.md", "").unwrap();
    assert_eq!(empty.instructions, "");
    let rule = parse(".team/agents/rule.md", "Text\n---\nmore").unwrap();
    assert_eq!(
        rule.instructions, "Text\n---\nmore",
        "a later `---` is Markdown"
    );
}

#[test]
fn model_and_command_together_is_an_error() {
    let e = parse_err(
        "both.md",
        "---\ncommand: [echo]\nmodel: openai/gpt-4o\n---\n",
    );
    assert!(
        matches!(&e, AgentError::Field { field, line: 3, .. } if field == "model"),
        "{e}"
    );
    assert!(e.to_string().contains("not both"), "{e}");
}

#[test]
fn file_level_errors_name_the_file() {
    let e = parse_err(".team/agents/bad name.md", "hello");
    assert!(matches!(e, AgentError::Invalid { .. }), "{e}");
    assert!(
        e.to_string().starts_with(".team/agents/bad name.md: "),
        "{e}"
    );
    assert!(e.to_string().contains("`bad name`"), "{e}");
    // A valid `name:` rescues an invalid file name.
    assert_eq!(parse_ok("---\nname: fine\n---\n").name, "fine");
    let e = parse_err("u.md", "---\nname: u\nno closing fence\n");
    assert!(e.to_string().contains("no closing `---`"), "{e}");
    let e = parse_err("l.md", "---\n- a\n- b\n---\n");
    assert!(matches!(e, AgentError::Yaml { line: 2, .. }), "{e}");
}

#[test]
fn agent_names() {
    for ok in ["a", "A1", "code-reviewer", "x.y_z", &"a".repeat(64)] {
        assert!(is_valid_agent_name(ok), "{ok}");
    }
    for bad in ["", "-a", ".a", "_a", "a b", "a/b", "é", &"a".repeat(65)] {
        assert!(!is_valid_agent_name(bad), "{bad}");
    }
}

#[test]
fn wildcards() {
    assert!(wildcard_match("*", ""));
    assert!(wildcard_match("git *", "git diff"));
    assert!(!wildcard_match("git *", "gitk"));
    assert!(wildcard_match("a?c*", "abcdef"));
    assert!(wildcard_match("*.rs", "src/main.rs"));
    assert!(!wildcard_match("*.rs", "src/main.rsx"));
    assert!(wildcard_match("a*b*c", "aXbYbZc"));
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn discovery_precedence_and_shadowed_list() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        ".team/agents/reviewer.md",
        "---\nmodel: openai/gpt-4o\n---\nteam",
    );
    write(root, ".opencode/agent/reviewer.md", OPENCODE_REVIEW);
    write(root, ".opencode/agents/planner.md", "plan");
    write(
        root,
        ".claude/agents/reviewer.md",
        CLAUDE_REVIEWER
            .replace("code-reviewer", "reviewer")
            .as_str(),
    );
    write(root, ".claude/agents/planner.md", "claude plan");
    write(root, ".claude/agents/writer.md", "write");
    write(root, ".claude/agents/notes.txt", "not an agent");
    write(root, ".claude/agents/.hidden.md", "skipped");
    std::fs::create_dir_all(root.join(".team/agents/sub.md")).unwrap();
    write(root, ".team/agents/sub.md/deep.md", "not recursive");

    let mut catalog = discover(root).unwrap();
    assert_eq!(catalog.names(), vec!["planner", "reviewer", "writer"]);
    let reviewer = catalog.get("reviewer").unwrap();
    assert_eq!(reviewer.source.kind, SourceKind::Team);
    assert_eq!(reviewer.source.path, root.join(".team/agents/reviewer.md"));
    assert_eq!(reviewer.instructions, "team");
    assert_eq!(
        catalog.get("planner").unwrap().source.kind,
        SourceKind::OpenCode
    );
    assert_eq!(catalog.get("writer").unwrap().source.kind.label(), "claude");

    let mut shadowed: Vec<(String, &str, &str)> = catalog
        .shadowed()
        .iter()
        .map(|s| {
            (
                s.agent.name.clone(),
                s.agent.source.kind.label(),
                s.shadowed_by.kind.label(),
            )
        })
        .collect();
    shadowed.sort();
    assert_eq!(
        shadowed,
        vec![
            ("planner".into(), "claude", "opencode"),
            ("reviewer".into(), "claude", "team"),
            ("reviewer".into(), "opencode", "team"),
        ]
    );

    let mut lead = catalog.get("writer").unwrap().clone();
    lead.name = "lead".into();
    catalog.insert_builtin(lead.clone());
    assert_eq!(
        catalog.get("lead").unwrap().source.kind,
        SourceKind::Builtin
    );
    let mut builtin_writer = lead;
    builtin_writer.name = "writer".into();
    catalog.insert_builtin(builtin_writer);
    assert_eq!(
        catalog.get("writer").unwrap().source.kind,
        SourceKind::Claude
    );
    assert_eq!(catalog.shadowed().len(), 4);
    assert_eq!(catalog.len(), 4);
}

#[test]
fn unknown_agent_lists_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".team/agents/alpha.md", "a");
    write(dir.path(), ".claude/agents/beta.md", "b");
    let catalog = discover(dir.path()).unwrap();
    let e = catalog.get("gamma").unwrap_err();
    assert!(matches!(&e, AgentError::Unknown { known, .. } if known == &["alpha", "beta"]));
    let msg = e.to_string();
    assert!(msg.contains("unknown agent `gamma`"), "{msg}");
    assert!(msg.contains("known agents: alpha, beta"), "{msg}");
    assert!(
        msg.contains(".team/agents/") && msg.contains(".claude/agents/"),
        "{msg}"
    );
    let empty = discover(&dir.path().join("nowhere")).unwrap();
    assert!(empty.is_empty());
    assert!(
        empty
            .get("x")
            .unwrap_err()
            .to_string()
            .contains("no agents are defined")
    );
}

#[test]
fn one_broken_file_stops_only_its_own_agent() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".team/agents/good.md", "fine");
    write(
        dir.path(),
        ".claude/agents/broken.md",
        "---\nname: broken\ntools: [x\n---\n",
    );
    let catalog = discover_with_builtins(dir.path()).unwrap();
    assert!(catalog.get("good").is_ok());
    assert!(catalog.get("security").is_ok(), "built-ins still load");
    let [b] = catalog.broken() else {
        panic!("{:?}", catalog.broken())
    };
    assert_eq!(b.name.as_deref(), Some("broken"));
    assert!(b.line.is_some_and(|l| l >= 3), "{b:?}");
    let e = catalog.get("broken").unwrap_err();
    assert!(matches!(e, AgentError::Broken { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("broken.md:"), "{msg}");
    assert!(msg.contains("invalid YAML"), "{msg}");
    // A broken file of lower precedence does not hide a valid one of the same name.
    write(
        dir.path(),
        ".team/agents/broken.md",
        "---\nname: broken\n---\nok",
    );
    let catalog = discover(dir.path()).unwrap();
    assert!(catalog.get("broken").is_ok());

    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".team/agents/a.md", "---\nname: same\n---\n");
    write(dir.path(), ".team/agents/b.md", "---\nname: same\n---\n");
    let catalog = discover(dir.path()).unwrap();
    assert!(catalog.broken()[0].error.contains("also defined by"));
    assert!(matches!(
        catalog.get("same"),
        Err(AgentError::Broken { .. })
    ));
}

/// A Claude Code file of the shape that failed in a public collection: an unquoted `: ` in
/// `description:`. Claude Code loads it; so does `team`, with a warning.
const UNQUOTED_COLON: &str = "---
name: stats-helper
description: Use for stats. Triggers on: 'p-value', 'regression', \"anova\"
tools: Read, Grep, WebFetch, mcp__db__query
model: sonnet
color: blue
---
You help with statistics.
";

#[test]
fn unquoted_colons_read_as_claude_code_does() {
    let def = parse_ok(UNQUOTED_COLON);
    assert_eq!(def.name, "stats-helper");
    assert_eq!(
        def.description.as_deref(),
        Some("Use for stats. Triggers on: 'p-value', 'regression', \"anova\"")
    );
    assert_eq!(def.model_alias.as_deref(), Some("sonnet"));
    assert_eq!(def.warnings.len(), 1, "{:?}", def.warnings);
    assert!(
        def.warnings[0]
            .starts_with(".team/agents/x.md:3: the value of `description` holds an unquoted `: `"),
        "{:?}",
        def.warnings
    );
    let problems = tool_problems(&def);
    let tools: Vec<&str> = problems.iter().map(|p| p.tool.as_str()).collect();
    assert_eq!(tools, ["WebFetch", "mcp__db__query"]);
    assert!(problems[1].reason.contains("MCP"));
    // A genuine syntax error elsewhere is still an error.
    let e = parse_err("a.md", "---\ndescription: a: b\ntools: [x\n---\n");
    assert!(matches!(e, AgentError::Yaml { .. }), "{e}");
}

#[test]
fn unknown_fields_are_warnings() {
    let def = parse_ok("---\nname: w\npermissionMode: plan\n---\n");
    assert_eq!(def.extra["permissionMode"], "plan");
    assert_eq!(
        def.warnings,
        [
            ".team/agents/x.md:3: unknown field `permissionMode`: not used by team (kept and ignored)"
        ]
    );
}

#[test]
fn model_resolution_rules() {
    let aliases = BTreeMap::from([
        ("sonnet".to_owned(), "mock/sonnet-ish".to_owned()),
        ("fast".to_owned(), "ollama/llama3.2".to_owned()),
    ]);
    let ctx = ModelContext {
        run_model: None,
        lead_model: None,
        default_model: Some("cfg/default"),
        aliases: &aliases,
    };
    let r = |text: &str, ctx: &ModelContext<'_>| {
        resolve_model(&parse_ok(text), ctx).map(|r| r.map(|r| (r.model, r.rule.key())))
    };
    assert_eq!(
        r("---\nmodel: fast\n---\n", &ctx),
        Ok(Some(("ollama/llama3.2".into(), "alias")))
    );
    assert_eq!(
        r("---\nmodel: a/b\n---\n", &ctx),
        Ok(Some(("a/b".into(), "agent")))
    );
    assert_eq!(
        r("---\nmodel: inherit\n---\n", &ctx),
        Ok(Some(("cfg/default".into(), "default")))
    );
    let with_lead = ModelContext {
        lead_model: Some(("boss", "lead/model")),
        ..ctx
    };
    assert_eq!(
        r("---\n---\n", &with_lead),
        Ok(Some(("lead/model".into(), "lead")))
    );
    let with_run = ModelContext {
        run_model: Some("run/model"),
        ..with_lead
    };
    assert_eq!(
        r("---\nmodel: fast\n---\n", &with_run),
        Ok(Some(("run/model".into(), "run")))
    );
    assert_eq!(r("---\ncommand: [echo]\n---\n", &with_run), Ok(None));
    let e = r("---\nmodel: turbo\n---\n", &ctx).unwrap_err();
    assert!(
        e.contains("model alias `turbo` is not in the [models] table"),
        "{e}"
    );
    let none = ModelContext {
        default_model: None,
        ..ctx
    };
    assert!(
        r("---\n---\n", &none)
            .unwrap_err()
            .contains("names no model")
    );
}

/// No input makes the parser panic: mutations of real-shaped files (bytes inserted, removed,
/// replaced at seeded positions, plus absurd numbers) give a definition or an error.
#[test]
fn no_input_panics_the_parser() {
    let seeds = [
        OPENCODE_REVIEW,
        UNQUOTED_COLON,
        "---\ntimeout: 9223372036854775807\nmax_turns: 1e300\ntemperature: .nan\n---\n",
        "---\ncommand: [a, {b: c}]\nenv: {A: [1], B: ~}\ntools: {x: 1}\n---\n",
        "---\n&a x: *a\n<<: *a\n---\n",
    ];
    let alphabet: &[&str] = &[
        ":",
        ": ",
        "-",
        "\n",
        "  ",
        "[",
        "]",
        "{",
        "}",
        "\"",
        "'",
        "#",
        "&a",
        "*a",
        "|",
        ">",
        "!",
        "\t",
        "9999999999999999999999",
        "-1",
        "1e400",
        "é",
        "\u{0}",
        "---\n",
        "\r\n",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    for i in 0..3000 {
        let mut text = seeds[i % seeds.len()].to_owned();
        for _ in 0..1 + next(4) {
            let mut at = next(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            match next(3) {
                0 => text.insert_str(at, alphabet[next(alphabet.len())]),
                1 => {
                    let mut end = (at + next(8)).min(text.len());
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    text.replace_range(at..end, "");
                }
                _ => {
                    let mut end = (at + 1).min(text.len());
                    while !text.is_char_boundary(end) {
                        end += 1;
                    }
                    text.replace_range(at..end, alphabet[next(alphabet.len())]);
                }
            }
        }
        let _ = parse(".team/agents/f.md", &text);
    }
}

/// What an agent file says reaches the permission checker as written (one model: no
/// conversion between the agent file's types and the checker's).
#[test]
fn agent_file_permissions_are_the_checkers() {
    use std::sync::Arc;
    use team_tools::permission::{DecisionSource, PermissionChecker, RunFlags, RunPermissions};
    let checker = |text: &str| {
        let def = parse_ok(text);
        let run = Arc::new(RunPermissions::non_interactive(RunFlags::default()));
        PermissionChecker::new("m", def.permissions(), run)
    };
    let c = checker(
        "---\ntools: [Read, Bash, task]\npermission: {edit: deny, bash: {\"git *\": allow}}\n---\n",
    );
    assert_eq!(
        c.configured("list_files", ""),
        (Permission::Deny, DecisionSource::NotInToolsList)
    );
    assert_eq!(c.configured("read_file", "a").0, Permission::Allow);
    assert_eq!(
        c.configured("bash", "git log"),
        (
            Permission::Allow,
            DecisionSource::AgentRule {
                key: Some("bash".into()),
                pattern: Some("git *".into())
            }
        )
    );
    assert_eq!(
        c.configured("bash", "ls"),
        (Permission::Ask, DecisionSource::Default)
    );
    // Team tools are always available, whatever `tools:` lists.
    assert_eq!(c.configured("team_task", "").0, Permission::Allow);
    let toggles = checker("---\ntools: {write: false}\n---\n");
    assert_eq!(
        toggles.configured("write_file", "a").1,
        DecisionSource::NotInToolsList
    );
    assert_eq!(toggles.configured("edit_file", "a").0, Permission::Ask);
    // `permission: ask` is one value for every tool, `permission: {}` no rule at all (the
    // built-in defaults: read tools allow). The old converter read `{}` as "ask everything".
    let all = checker("---\npermission: ask\n---\n");
    assert_eq!(
        all.configured("read_file", "a"),
        (
            Permission::Ask,
            DecisionSource::AgentRule {
                key: None,
                pattern: None
            }
        )
    );
    let empty = checker("---\npermission: {}\n---\n");
    assert_eq!(
        empty.configured("read_file", "a"),
        (Permission::Allow, DecisionSource::Default)
    );
}

#[test]
fn runtime_agents() {
    let def = parse_ok(
        "---\nruntime: opencode\nmodel: scripted/test-model\nenv_passthrough: [SCRIPTED_KEY]\n---\nReview it.\n",
    );
    assert_eq!(
        def.kind(),
        AgentKind::Runtime {
            runtime: "opencode".into(),
            model: Some("scripted/test-model".into()),
        }
    );
    assert_eq!(def.instructions, "Review it.");
    assert!(def.warnings.is_empty(), "{:?}", def.warnings);
    // A runtime's model is its own: no alias lookup, no inheritance.
    let ctx = ModelContext {
        run_model: Some("openai/gpt-4o"),
        lead_model: None,
        default_model: Some("openai/gpt-4o"),
        aliases: &BTreeMap::new(),
    };
    assert_eq!(resolve_model(&def, &ctx).unwrap(), None);
    let claude = parse_ok("---\nruntime: claude\nmodel: sonnet\n---\n");
    assert_eq!(
        claude.kind(),
        AgentKind::Runtime {
            runtime: "claude".into(),
            model: Some("sonnet".into()),
        }
    );
    let bare = parse_ok("---\nruntime: codex\nmodel: inherit\n---\n");
    assert_eq!(
        bare.kind(),
        AgentKind::Runtime {
            runtime: "codex".into(),
            model: None,
        }
    );
    let e = parse_err(".team/agents/x.md", "---\nruntime: aider\n---\n").to_string();
    assert!(
        e.contains("x.md:2:")
            && e.contains("unknown runtime `aider`")
            && e.contains("opencode, claude, codex"),
        "{e}"
    );
    let e = parse_err(
        ".team/agents/x.md",
        "---\nruntime: claude\ncommand: [echo]\n---\n",
    )
    .to_string();
    assert!(e.contains("either `runtime: claude`"), "{e}");
}

#[test]
fn retries_and_backoff() {
    let def = parse_ok("---\nretries: 2\nbackoff: 500ms\n---\n");
    assert_eq!(def.retries, 2);
    assert_eq!(def.backoff, Some(Duration::from_millis(500)));
    let policy = def.retry_policy();
    assert_eq!((policy.max_attempts, policy.backoff_ms), (3, 500));
    let def = parse_ok("---\nbackoff: 3\n---\n");
    assert_eq!(def.backoff, Some(Duration::from_secs(3)));
    // Unset: one attempt, the default backoff.
    let def = parse_ok("---\ndescription: x\n---\n");
    assert_eq!(def.retries, 0);
    assert_eq!(def.retry_policy(), team_core::retry::RetryPolicy::default());
    for bad in ["-1", "1.5", "x", "101"] {
        let e = parse_err("t.md", &format!("---\nretries: {bad}\n---\n"));
        assert!(
            matches!(&e, AgentError::Field { field, .. } if field == "retries"),
            "{bad}: {e}"
        );
    }
    for bad in ["2h", "x", "-1"] {
        let e = parse_err("t.md", &format!("---\nbackoff: {bad}\n---\n"));
        assert!(
            matches!(&e, AgentError::Field { field, .. } if field == "backoff"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn plan_required_is_read_and_checked() {
    assert_eq!(
        parse_ok("---\nmodel: a/b\n---\n").plan,
        crate::PlanMode::None
    );
    for v in ["required", "true", "Required"] {
        let def = parse_ok(&format!("---\nmodel: a/b\nplan: {v}\n---\n"));
        assert_eq!(def.plan, crate::PlanMode::Required, "{v}");
        assert!(def.warnings.is_empty(), "{:?}", def.warnings);
    }
    assert_eq!(
        parse_ok("---\nplan: none\n---\n").plan,
        crate::PlanMode::None
    );
    let e = parse_err("f.md", "---\nplan: later\n---\n");
    assert!(e.to_string().contains("`required` or `none`"), "{e}");
}

#[test]
fn task_budget_is_read_and_checked() {
    assert_eq!(parse_ok("---\nmodel: a/b\n---\n").task_budget, None);
    assert_eq!(
        parse_ok("---\nmodel: a/b\ntask_budget: 3\n---\n").task_budget,
        Some(3)
    );
    assert_eq!(parse_ok("---\ntask_budget: 0\n---\n").task_budget, Some(0));
    for bad in ["-1", "1.5", "99999999999"] {
        let e = parse_err("f.md", &format!("---\ntask_budget: {bad}\n---\n"));
        assert!(e.to_string().contains("task_budget"), "{bad}: {e}");
    }
}
