//! The registry's own checks: every schema is a plain JSON Schema of its argument struct, and
//! argument errors read as the model gets them.

use serde_json::{Value, json};

use super::*;

const TYPES: &[&str] = &["string", "integer", "number", "boolean", "array", "object"];

/// A property schema in the plain form: a known `type`, no reference or nullable forms.
fn check_property(tool: &str, name: &str, prop: &Value) {
    let ty = prop["type"].as_str().unwrap_or_default();
    assert!(TYPES.contains(&ty), "{tool}.{name}: type {prop}");
    for banned in [
        "$ref", "anyOf", "oneOf", "allOf", "format", "default", "title",
    ] {
        assert!(
            prop.get(banned).is_none(),
            "{tool}.{name} has {banned}: {prop}"
        );
    }
    assert!(
        prop["description"].as_str().is_some_and(|d| !d.is_empty()),
        "{tool}.{name} has no description"
    );
    if let Some(values) = prop.get("enum") {
        assert_eq!(ty, "string", "{tool}.{name}");
        assert!(
            values
                .as_array()
                .is_some_and(|v| !v.is_empty() && v.iter().all(Value::is_string)),
            "{tool}.{name}: {values}"
        );
    }
    if ty == "array" {
        let items = prop["items"]["type"].as_str().unwrap_or_default();
        assert!(TYPES.contains(&items), "{tool}.{name}: items {prop}");
    }
}

#[test]
fn every_schema_is_a_plain_object_schema_of_its_struct() {
    let mut names = std::collections::HashSet::new();
    for tool in &TOOLS {
        assert!(names.insert(tool.name), "{} registered twice", tool.name);
        assert!(!tool.description.is_empty(), "{}", tool.name);
        let schema = tool.schema();
        let keys: Vec<&str> = schema
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(
            keys,
            ["additionalProperties", "properties", "required", "type"],
            "{}: {schema:#}",
            tool.name
        );
        assert_eq!(schema["type"], "object", "{}", tool.name);
        assert_eq!(schema["additionalProperties"], false, "{}", tool.name);
        // Its properties are exactly the struct's fields (serde names).
        let props = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut fields: Vec<&str> = tool.fields().to_vec();
        fields.sort_unstable();
        let prop_names: Vec<&str> = props.keys().map(String::as_str).collect();
        assert_eq!(prop_names, fields, "{}", tool.name);
        for (name, prop) in &props {
            check_property(tool.name, name, prop);
        }
        for required in schema["required"].as_array().cloned().unwrap_or_default() {
            let r = required.as_str().unwrap_or_default();
            assert!(props.contains_key(r), "{}: required {r}", tool.name);
        }
    }
}

#[test]
fn schemas_say_what_the_old_hand_written_ones_said() {
    let schema = |name: &str| find(name).map(ToolInfo::schema).unwrap_or_default();
    let read = schema("read_file");
    assert_eq!(read["required"], json!(["path"]));
    assert_eq!(read["properties"]["offset"]["minimum"], 0);
    assert_eq!(read["properties"]["limit"]["minimum"], 1);
    assert_eq!(
        read["properties"]["limit"]["type"], "integer",
        "an optional field is its plain type"
    );
    let bash = schema("bash");
    assert_eq!(bash["properties"]["timeout_secs"]["minimum"], 1);
    assert_eq!(bash["properties"]["timeout_secs"]["maximum"], 600);
    let task = schema("team_task");
    assert_eq!(task["required"], json!(["action"]));
    assert_eq!(
        task["properties"]["action"]["enum"],
        json!(["list", "add", "claim", "complete", "fail", "release"])
    );
    assert_eq!(task["properties"]["blocked_by"]["items"]["type"], "integer");
    let memory = schema("agent_memory");
    assert_eq!(
        memory["properties"]["action"]["enum"],
        json!(["read", "write", "append", "clear"])
    );
    let spawn = schema("task");
    assert_eq!(spawn["required"], json!(["agent", "prompt"]));
    assert_eq!(spawn["properties"]["background"]["type"], "boolean");
    assert_eq!(schema("team_members")["properties"], json!({}));
    assert_eq!(
        schema("wait_for_messages")["properties"]["timeout_s"]["type"],
        "number"
    );
}

#[test]
fn one_list_of_names_in_offer_order() {
    let workspace: Vec<&str> = names_of(ToolKind::Workspace).collect();
    assert_eq!(
        workspace,
        [
            "read_file",
            "list_files",
            "grep",
            "write_file",
            "edit_file",
            "bash"
        ]
    );
    let team: Vec<&str> = names_of(ToolKind::Team).collect();
    assert_eq!(
        team,
        [
            "task",
            "send_message",
            "wait_for_messages",
            "read_inbox",
            "team_task",
            "agent_memory",
            "team_members",
            "team_create",
            "team_delete"
        ]
    );
    // Each name parses through the call enum of its kind, and only that one.
    for tool in &TOOLS {
        let ws = WorkspaceCall::parse(tool.name, "{}").is_some();
        let team = TeamCall::parse(tool.name, "{}").is_some();
        assert_eq!(
            (ws, team),
            (
                tool.kind == ToolKind::Workspace,
                tool.kind == ToolKind::Team
            ),
            "{}",
            tool.name
        );
    }
    assert!(WorkspaceCall::parse("task", "{}").is_none());
    assert!(TeamCall::parse("nope", "{}").is_none());
}

#[test]
fn shapes_list_fields_in_declaration_order() {
    let shape = |name: &str| find(name).map(ToolInfo::shape).unwrap_or_default();
    assert_eq!(
        shape("read_file"),
        r#"{"path": string, "offset"?: integer >= 0, "limit"?: integer >= 1}"#
    );
    assert_eq!(
        shape("bash"),
        r#"{"command": string, "timeout_secs"?: integer 1..=600}"#
    );
    assert_eq!(
        shape("agent_memory"),
        r#"{"action": "read" | "write" | "append" | "clear", "content"?: string}"#
    );
    assert_eq!(
        shape("team_task"),
        r#"{"action": "list" | "add" | "claim" | "complete" | "fail" | "release", "id"?: integer, "title"?: string, "description"?: string, "blocked_by"?: array of integer, "result"?: string}"#
    );
    assert_eq!(shape("team_members"), "{}");
}

/// The text of a call's error, or of a success when it parses.
fn error_of(tool: &str, args: &str) -> String {
    let parsed = match (
        WorkspaceCall::parse(tool, args),
        TeamCall::parse(tool, args),
    ) {
        (Some(r), _) => r.map(|_| ()),
        (_, Some(r)) => r.map(|_| ()),
        (None, None) => return format!("no tool {tool}"),
    };
    match parsed {
        Ok(()) => "parsed".to_owned(),
        Err(e @ ToolError::InvalidArgs { .. }) => e.to_string(),
        Err(other) => format!("not InvalidArgs: {other}"),
    }
}

#[test]
fn argument_errors_table() {
    #[rustfmt::skip]
    let table: &[(&str, &str, &str)] = &[
        ("read_file", "{not json", "invalid arguments for `read_file`: the arguments are not valid JSON"),
        ("read_file", "{}", "missing field `path`"),
        ("read_file", r#"["a"]"#, "the arguments must be a JSON object"),
        ("read_file", r#"{"path": "a", "lines": 3}"#, "unknown field `lines`"),
        ("read_file", r#"{"path": 7}"#, "invalid type: integer `7`, expected a string"),
        ("read_file", r#"{"path": "a", "offset": -1}"#, "invalid value: integer `-1`"),
        ("bash", r#"{"command": "true", "timeout_secs": 601}"#, "timeout_secs is 601, but it must be between 1 and 600"),
        ("bash", r#"{"command": "true", "timeout_secs": 0}"#, "between 1 and 600"),
        ("bash", r#"{"command": "  "}"#, "command is empty"),
        ("grep", r#"{"pattern": "x", "case_insensitive": "yes"}"#, "invalid type"),
        ("send_message", r#"{"oops"#, "invalid arguments for `send_message`"),
        ("send_message", r#"{"to": "lead"}"#, "missing field `body`"),
        ("task", r#"{"agent": "a"}"#, "missing field `prompt`"),
        ("team_task", r#"{"action": "steal"}"#, "unknown variant `steal`, expected one of `list`, `add`, `claim`, `complete`, `fail`, `release`"),
        ("team_task", r#"{"action": "list", "bogus": 1}"#, "unknown field `bogus`"),
        ("team_task", r#"{"action": "add"}"#, "team_task add needs `title`"),
        ("team_task", r#"{"action": "complete"}"#, "team_task complete needs `id`"),
        ("team_task", r#"{"action": "release", "id": "x"}"#, "invalid type"),
        ("agent_memory", r#"{"action": "write"}"#, "agent_memory write needs `content`"),
        ("agent_memory", r#"{"action": "append"}"#, "agent_memory append needs `content`"),
        ("agent_memory", "{}", "missing field `action`"),
        ("team_members", r#"{"all": true}"#, "unknown field `all`"),
        ("team_create", "{}", "missing field `name`"),
        ("wait_for_messages", r#"{"timeout_s": "soon"}"#, "invalid type"),
    ];
    for (tool, args, fragment) in table {
        let err = error_of(tool, args);
        assert!(err.contains(fragment), "{tool} {args}: {err}");
        assert!(
            err.contains("; expected arguments shaped like {"),
            "{tool} {args}: {err}"
        );
    }
}

#[test]
fn good_arguments_parse_into_typed_calls() {
    let call = |tool: &str, args: &str| TeamCall::parse(tool, args).and_then(Result::ok);
    assert_eq!(call("team_members", ""), Some(TeamCall::TeamMembers));
    assert_eq!(
        call("team_task", r#"{"action": "list", "id": 3}"#),
        Some(TeamCall::TeamTask(TeamTaskOp::List)),
        "fields an action does not use are ignored"
    );
    assert_eq!(
        call(
            "team_task",
            r#"{"action": "fail", "id": 2, "result": "no"}"#
        ),
        Some(TeamCall::TeamTask(TeamTaskOp::Move {
            id: 2,
            to: TaskMove::Fail,
            result: Some("no".into())
        }))
    );
    assert_eq!(
        call("agent_memory", r#"{"action": "append", "content": "x"}"#),
        Some(TeamCall::AgentMemory(MemoryOp::Append("x".into())))
    );
    match call("task", r#"{"agent": "a", "prompt": "p"}"#) {
        Some(TeamCall::Task(t)) => assert!(t.background && !t.persistent && t.team.is_none()),
        other => panic!("task: {other:?}"),
    }
    match call("wait_for_messages", r#"{"timeout_s": 9000}"#) {
        Some(TeamCall::WaitForMessages(w)) => assert_eq!(w.timeout_secs(), 600.0),
        other => panic!("wait: {other:?}"),
    }
    let bash = WorkspaceCall::parse("bash", r#"{"command": "ls"}"#).and_then(Result::ok);
    match bash {
        Some(WorkspaceCall::Bash(b)) => assert_eq!(b.timeout_secs(), BASH_DEFAULT_TIMEOUT_SECS),
        other => panic!("bash: {other:?}"),
    }
}
