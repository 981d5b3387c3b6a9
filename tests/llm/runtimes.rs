//! Agent CLIs as members (`runtime: opencode | claude | codex`), end to end: the real CLI from npm,
//! pointed at the scripted model server through the project's `[providers.mock]`, coordinates
//! through `team mcp` (the model asks it to message the lead, claim and complete a task), and
//! the effects are checked through `team inbox`, `team task list` and `team show`.
//!
//! The CLIs are looked up in `TEAM_TEST_AGENT_CLIS` (an npm prefix), then in
//! `target/agent-clis` (where `.ci/run` installs them), then on `PATH`. Without one a test is
//! skipped with a message, unless `CI` is set: then it fails. No network beyond 127.0.0.1:
//! each CLI runs with a private `HOME` and its update, telemetry and model-list fetches off
//! (the tests pass in a network namespace with only a loopback device: `unshare -n`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use team_testkit::{Reply, ScriptRequest, ScriptedServer};

use crate::support::{Backend, Project, Wire, call, calls, dump};

/// A run of an agent CLI starts slowly (opencode: ~10 s on an idle machine).
const CLI_TIMEOUT: Duration = Duration::from_secs(400);

/// The directory holding `program`, or `None` (with a message) when it is not installed and
/// `CI` is unset. Panics under `CI`.
fn agent_cli(program: &str, package: &str) -> Option<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(prefix) = std::env::var_os("TEAM_TEST_AGENT_CLIS") {
        dirs.push(PathBuf::from(prefix).join("bin"));
    }
    dirs.push(workspace.join("target/agent-clis/bin"));
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    if let Some(dir) = dirs.into_iter().find(|d| d.join(program).is_file()) {
        return Some(dir);
    }
    let message = format!(
        "`{program}` is not installed (npm install -g --prefix target/agent-clis {package}, \
         as .ci/run does, or set TEAM_TEST_AGENT_CLIS to an npm prefix)"
    );
    if std::env::var_os("CI").is_some() {
        panic!("{message}; required under CI");
    }
    eprintln!("skipped: {message}");
    None
}

/// A project on SQLite whose `mock` provider speaks `wire` at the scripted server, with the
/// CLI's directory first on `PATH` and a private home.
async fn project(server: &ScriptedServer, wire: Wire, cli_dir: &Path) -> Project {
    match project_on(Backend::Sqlite, server, wire, cli_dir).await {
        Some(p) => p,
        None => unreachable!("a SQLite project is never skipped"),
    }
}

/// [`project`] on `backend` (`None`: PostgreSQL variants are skipped).
async fn project_on(
    backend: Backend,
    server: &ScriptedServer,
    wire: Wire,
    cli_dir: &Path,
) -> Option<Project> {
    let base = match wire {
        Wire::OpenAi => server.base_url(),
        Wire::Anthropic => server.anthropic_base_url(),
    };
    let mut p = Project::on(backend, wire, &base, "max_agents = 4").await?;
    let home = p.path("home");
    std::fs::create_dir_all(&home).unwrap();
    // The CLI, and `team` itself (for command agents that call it).
    let team_dir = team_testkit::project::team_bin()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let path = format!(
        "{}:{}:{}",
        cli_dir.display(),
        team_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    p.set_env("PATH", &path);
    p.set_env("HOME", &home.display().to_string());
    for (var, dir) in [
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_STATE_HOME", ".local/state"),
    ] {
        p.set_env(var, &home.join(dir).display().to_string());
    }
    // Offline: no model list from models.dev, no update checks, no telemetry.
    p.set_env("OPENCODE_DISABLE_MODELS_FETCH", "1");
    p.set_env("OPENCODE_DISABLE_AUTOUPDATE", "1");
    p.set_env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");
    p.set_env("DISABLE_TELEMETRY", "1");
    p.set_env("DISABLE_ERROR_REPORTING", "1");
    p.set_env("DISABLE_AUTOUPDATER", "1");
    Some(p)
}

/// The offered tool whose name ends in `tool` (opencode calls `team mcp`'s tools
/// `team_NAME`, Claude Code `mcp__team__NAME`).
fn offered(req: &ScriptRequest, tool: &str) -> Option<String> {
    req.tools
        .iter()
        .find(|t| t.ends_with(tool) && t.len() > tool.len())
        .cloned()
}

/// The model of a member that coordinates through `team mcp`: tells the lead `hello from
/// {who}`, claims task `task`, completes it, then answers `{who} done`. Steps follow the
/// number of tool results in the conversation; a request without the team tools (a title
/// or a summary the CLI asks for itself) gets a short text.
fn coordinating_model(who: &'static str, task: i64) -> impl Fn(&ScriptRequest) -> Option<Reply> {
    move |req| {
        let send = offered(req, "send_message")?;
        let board = offered(req, "team_task")?;
        let results = req.messages.iter().filter(|m| m.role == "tool").count();
        Some(match results {
            0 => calls(vec![call(
                &send,
                &json!({"to": "lead", "body": format!("hello from {who}")}).to_string(),
            )]),
            1 => calls(vec![call(
                &board,
                &json!({"action": "claim", "id": task}).to_string(),
            )]),
            2 => calls(vec![call(
                &board,
                &json!({"action": "complete", "id": task, "result": format!("{who} wrote it")})
                    .to_string(),
            )]),
            _ => Reply::text(format!("{who} done")).with_usage(50, 5),
        })
    }
}

/// Messages of `lead`'s inbox (`team inbox --json`), as (sender, body).
async fn lead_inbox(p: &Project, team: &str) -> Vec<(String, String)> {
    let inbox = p.json(&["inbox", team, "lead"]).await;
    let messages = inbox
        .get("messages")
        .and_then(Value::as_array)
        .or_else(|| inbox.as_array())
        .cloned()
        .unwrap_or_default();
    messages
        .iter()
        .map(|m| {
            (
                m["sender"].as_str().unwrap_or_default().to_owned(),
                m["body"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The status and result of task `id` (`team task list --json`).
async fn task(p: &Project, team: &str, id: i64) -> (String, String) {
    let list = p.json(&["task", "list", team]).await;
    let tasks = list
        .get("tasks")
        .and_then(Value::as_array)
        .or_else(|| list.as_array())
        .cloned()
        .unwrap_or_default();
    let t = tasks
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("no task {id} in {list}"));
    (
        t["status"].as_str().unwrap_or_default().to_owned(),
        t["result"].as_str().unwrap_or_default().to_owned(),
    )
}

/// One CLI member, alone with a person as lead: message, claim, complete, answer; tokens
/// recorded; the agent file's body reaches the model.
async fn member_coordinates_through_team_mcp(
    backend: Backend,
    runtime: &str,
    program: &str,
    package: &str,
) {
    let Some(cli_dir) = agent_cli(program, package) else {
        return;
    };
    let (wire, model) = match runtime {
        "claude" => (Wire::Anthropic, "mock/claude-scripted"),
        _ => (Wire::OpenAi, "mock/scripted"),
    };
    let model_fn = coordinating_model("cli", 1);
    let saw_instructions = Arc::new(AtomicUsize::new(0));
    let seen = saw_instructions.clone();
    let server = ScriptedServer::start(team_testkit::Script::from_fn(move |req| {
        if req.system.contains("PURPLE-ELEPHANT") {
            seen.fetch_add(1, Ordering::SeqCst);
        }
        model_fn(req).unwrap_or_else(|| Reply::text("Team work"))
    }))
    .await
    .unwrap();
    let Some(p) = project_on(backend, &server, wire, &cli_dir).await else {
        return;
    };
    p.agent(
        "cli",
        &format!("runtime: {runtime}\nmodel: {model}\nenv_passthrough: [MOCK_API_KEY]"),
        "You are PURPLE-ELEPHANT, a careful writer.",
    );
    p.create_team("docs").await;
    let out = p.team(&["task", "add", "docs", "Write the docs"]).await;
    assert!(out.status.success(), "{}", dump(&out));
    let out = p
        .team(&[
            "spawn",
            "docs",
            "cli",
            "--prompt",
            "Do task 1.",
            "--background",
        ])
        .await;
    assert!(out.status.success(), "spawn: {}", dump(&out));
    let out = p
        .team_within(&["wait", "docs", "--timeout", "380"], CLI_TIMEOUT)
        .await;
    let member = p.member("docs", "cli").await;
    assert!(
        out.status.success(),
        "wait: {}\nmember: {member:#}\nrunner log: {}",
        dump(&out),
        std::fs::read_to_string(p.path(".team/runner.log")).unwrap_or_default()
    );
    assert_eq!(member["status"], "completed", "{member:#}");
    assert_eq!(member["result"], "cli done", "{member:#}");
    assert!(
        member["prompt_tokens"].as_i64().unwrap_or(0) >= 50
            && member["completion_tokens"].as_i64().unwrap_or(0) >= 5,
        "tokens recorded: {member:#}"
    );
    assert!(
        saw_instructions.load(Ordering::SeqCst) > 0,
        "the agent file's body reached the model"
    );
    let inbox = lead_inbox(&p, "docs").await;
    assert!(
        inbox.contains(&("cli".into(), "hello from cli".into())),
        "{inbox:?}"
    );
    assert!(
        inbox
            .iter()
            .any(|(_, b)| b.starts_with("[AGENT COMPLETED] cli: cli done")),
        "{inbox:?}"
    );
    assert_eq!(
        task(&p, "docs", 1).await,
        ("completed".into(), "cli wrote it".into())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn opencode_member_coordinates_through_team_mcp() {
    member_coordinates_through_team_mcp(Backend::Sqlite, "opencode", "opencode", "opencode-ai")
        .await;
}

/// On both engines: `team mcp` reaches the member's database through the `TEAM_DATABASE_URL`
/// the runner gives the CLI.
#[rstest::rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread")]
async fn claude_member_coordinates_through_team_mcp(#[case] backend: Backend) {
    member_coordinates_through_team_mcp(backend, "claude", "claude", "@anthropic-ai/claude-code")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn codex_member_coordinates_through_team_mcp() {
    member_coordinates_through_team_mcp(Backend::Sqlite, "codex", "codex", "@openai/codex").await;
}

/// A mixed team on one board and one mailbox: an LLM lead (the project's own provider) adds
/// three tasks and starts an opencode member, a Claude Code member and a command agent; each
/// claims its task, tells the lead and completes it (the CLIs through `team mcp`, the command
/// agent through `team` with the `TEAM_*` ids of its environment and `{prompt}` in its argv,
/// reporting its tokens in `TEAM_USAGE_FILE`);
/// the lead waits for them and ends.
#[tokio::test(flavor = "multi_thread")]
async fn mixed_team_llm_lead_with_cli_and_command_members() {
    let Some(oc_dir) = agent_cli("opencode", "opencode-ai") else {
        return;
    };
    let Some(cl_dir) = agent_cli("claude", "@anthropic-ai/claude-code") else {
        return;
    };
    let oc = coordinating_model("oc", 1);
    let cl = coordinating_model("cl", 2);
    let server = ScriptedServer::start(team_testkit::Script::from_fn(move |req| {
        if req.system.contains("OC-MEMBER") {
            return oc(req).unwrap_or_else(|| Reply::text("oc title"));
        }
        if req.system.contains("CL-MEMBER") {
            return cl(req).unwrap_or_else(|| Reply::text("cl title"));
        }
        if !req.system.contains("BOSS-LEAD") {
            return Reply::text("title");
        }
        let add = |title: &str| {
            call(
                "team_task",
                &json!({"action": "add", "title": title}).to_string(),
            )
        };
        let start = |agent: &str, prompt: &str| {
            call(
                "task",
                &json!({"agent": agent, "prompt": prompt}).to_string(),
            )
        };
        match req.turn {
            1 => calls(vec![add("opencode's part")]),
            2 => calls(vec![add("claude's part")]),
            3 => calls(vec![add("the script's part")]),
            4 => calls(vec![
                start("oc", "Do task 1."),
                start("cl", "Do task 2."),
                start("cmd", "task 3"),
            ]),
            _ if req
                .messages
                .iter()
                .any(|m| m.role == "tool" && m.text.contains("[ALL MEMBERS DONE]")) =>
            {
                Reply::text("the team is done")
            }
            _ => calls(vec![call("wait_for_messages", r#"{"timeout_s": 120}"#)]),
        }
    }))
    .await
    .unwrap();
    let mut p = project(&server, Wire::OpenAi, &oc_dir).await;
    // Claude Code speaks Anthropic's format: a second provider on the same server.
    let config = std::fs::read_to_string(p.path(".team/config.toml")).unwrap();
    std::fs::write(
        p.path(".team/config.toml"),
        format!(
            "{config}\n[providers.mockant]\nkind = \"anthropic\"\nbase_url = \"{}\"\n\
             api_key_env = \"MOCK_API_KEY\"\n",
            server.anthropic_base_url()
        ),
    )
    .unwrap();
    let team_dir = team_testkit::project::team_bin()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let path = std::env::join_paths([oc_dir, cl_dir, team_dir].into_iter().chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    p.set_env("PATH", &path.to_string_lossy());
    p.agent("boss", "model: mock/scripted", "You are BOSS-LEAD.");
    p.agent(
        "oc",
        "runtime: opencode\nmodel: mock/scripted\nenv_passthrough: [MOCK_API_KEY]",
        "You are OC-MEMBER.",
    );
    p.agent(
        "cl",
        "runtime: claude\nmodel: mockant/claude-scripted\nenv_passthrough: [MOCK_API_KEY]",
        "You are CL-MEMBER.",
    );
    p.agent(
        "cmd",
        "command: [sh, -c, 'exec 3>&1 >/dev/null; team task claim 3 && team send --to lead \"hello from $TEAM_MEMBER\" && team task done 3 --result \"cmd wrote $1\" && printf ''{\"prompt_tokens\": 120, \"completion_tokens\": 7}'' > \"$TEAM_USAGE_FILE\" && echo cmd done >&3', sh, '{prompt}']",
        "",
    );
    let out = p
        .team_within(
            &[
                "create",
                "mixed",
                "--lead",
                "boss",
                "--prompt",
                "Share the work.",
            ],
            CLI_TIMEOUT,
        )
        .await;
    let members = p.members("mixed").await;
    assert!(
        out.status.success(),
        "{}\nmembers: {members:#?}",
        dump(&out)
    );
    for (name, result) in [("oc", "oc done"), ("cl", "cl done"), ("cmd", "cmd done\n")] {
        let m = members.iter().find(|m| m["name"] == name).unwrap();
        assert_eq!(m["status"], "completed", "{m:#}");
        assert_eq!(m["result"], result, "{m:#}");
    }
    for name in ["oc", "cl"] {
        let m = members.iter().find(|m| m["name"] == name).unwrap();
        assert!(m["prompt_tokens"].as_i64().unwrap_or(0) > 0, "{m:#}");
    }
    // The command agent reported its tokens in its TEAM_USAGE_FILE.
    let cmd = members.iter().find(|m| m["name"] == "cmd").unwrap();
    assert_eq!(
        (&cmd["prompt_tokens"], &cmd["completion_tokens"]),
        (&json!(120), &json!(7)),
        "{cmd:#}"
    );
    let lead = members.iter().find(|m| m["role"] == "lead").unwrap();
    assert_eq!(lead["result"], "the team is done", "{lead:#}");
    for (id, result) in [
        (1, "oc wrote it"),
        (2, "cl wrote it"),
        (3, "cmd wrote task 3"),
    ] {
        assert_eq!(
            task(&p, "mixed", id).await,
            ("completed".into(), result.into())
        );
    }
    // One mailbox: the lead's model read every member's message through wait_for_messages.
    let seen: String = server
        .requests()
        .iter()
        .filter(|r| r.system.contains("BOSS-LEAD"))
        .flat_map(|r| r.messages.iter().map(|m| m.text.clone()))
        .collect();
    for hello in ["hello from oc", "hello from cl", "hello from cmd"] {
        assert!(seen.contains(hello), "{hello} not seen by the lead");
    }
}

/// Without the CLI on PATH, `team spawn` refuses at once, naming the program and its npm
/// package; an unknown runtime is an error of the agent file listing the known ones; `team
/// agents show` tells what the agent runs.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_or_unknown_cli_is_refused_at_spawn() {
    let server = ScriptedServer::start(team_testkit::Script::from_fn(|_| Reply::text("x")))
        .await
        .unwrap();
    let mut p = Project::new(Wire::OpenAi, &server.base_url(), "").await;
    let empty = p.path("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    p.set_env("PATH", &format!("{}:/usr/bin:/bin", empty.display()));
    p.agent("oc", "runtime: opencode\nmodel: mock/scripted", "Write.");
    p.agent("ai", "runtime: aider", "Write.");
    p.create_team("t").await;
    let out = p
        .team(&["spawn", "t", "oc", "--prompt", "go", "--background"])
        .await;
    let err = crate::support::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{}", dump(&out));
    assert!(
        err.contains("runtime `opencode` runs the program `opencode`, which is not on PATH")
            && err.contains("npm install -g opencode-ai"),
        "{err}"
    );
    let out = p
        .team(&["spawn", "t", "ai", "--prompt", "go", "--background"])
        .await;
    let err = crate::support::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{}", dump(&out));
    assert!(
        err.contains("unknown runtime `aider`") && err.contains("opencode, claude, codex"),
        "{err}"
    );
    assert!(p.members("t").await.iter().all(|m| m["role"] == "lead"));
    let show = p.json(&["agents", "show", "oc"]).await;
    assert_eq!(show["kind"], "runtime", "{show:#}");
    assert_eq!(show["runs"], "opencode (mock/scripted)", "{show:#}");
}
