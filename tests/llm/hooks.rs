//! Hooks (issue 18), on both engines, through the binary: `[hooks]` commands get the event as
//! JSON on stdin and `TEAM_*` in their environment; exit 2 blocks (`before_tool`: the call is
//! refused with the hook's stderr; `task_completed`: the task stays `in_progress` and the
//! member reads the stderr; `member_idle`: the stderr is sent to the member, which works on);
//! `member_ended` is told of the end; every run is a `hook.ran` event.

use serde_json::Value;
use team_testkit::{Reply, ScriptRequest, ScriptedServer};

use crate::support::{Backend, Project, Wire, dump, events_of, requests_of, tool_texts};

/// A hook script: appends `HOOK MEMBER STDIN` to `hooks.log`, then blocks (exit 2, with
/// `stderr` on stderr) when its stdin contains `block_on` (the first `times` times, counted
/// in `NAME.count`).
fn hook(p: &Project, name: &str, block_on: &str, times: u32, stderr: &str) -> String {
    let path = p.path(&format!("{name}.sh"));
    let script = format!(
        "#!/bin/sh\ninput=$(cat)\necho \"$TEAM_HOOK $TEAM_MEMBER $input\" >> hooks.log\n\
         case \"$input\" in *'{block_on}'*)\n  n=$(cat {name}.count 2>/dev/null || echo 0)\n  \
         if [ \"$n\" -lt {times} ]; then echo $((n+1)) > {name}.count; echo '{stderr}' >&2; exit 2; fi;;\n\
         esac\nexit 0\n"
    );
    std::fs::write(&path, script).expect("hook script");
    format!("sh {}", path.display())
}

fn log(p: &Project) -> String {
    std::fs::read_to_string(p.path("hooks.log")).unwrap_or_default()
}

/// A project whose config ends with an empty `[hooks]` table (with `timeout_secs`): the
/// tests put their hook commands in it once the scripts exist.
async fn project(backend: Backend, server: &ScriptedServer) -> Option<Project> {
    let p = Project::on(
        backend,
        Wire::OpenAi,
        &server.base_url(),
        "member_timeout_secs = 1",
    )
    .await?;
    let config = std::fs::read_to_string(p.path(".team/config.toml")).expect("config");
    std::fs::write(
        p.path(".team/config.toml"),
        format!("{config}\n[hooks]\ntimeout_secs = 20\n"),
    )
    .expect("config");
    Some(p)
}

fn blocked_runs(events: &[Value], hook: &str) -> Vec<bool> {
    events_of(events, "hook.ran", None)
        .into_iter()
        .filter(|e| e["payload"]["hook"] == hook)
        .map(|e| e["payload"]["blocked"].as_bool().unwrap_or(false))
        .collect()
}

#[rstest::rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn before_tool_refuses_a_call_with_the_hooks_reason(#[case] backend: Backend) {
    let script = team_testkit::Script::from_fn(|req: &ScriptRequest| match req.turn {
        1 => Reply::tool_call("bash", r#"{"command":"rm -rf build"}"#),
        2 => Reply::tool_call("bash", r#"{"command":"echo HOOKED-$((40+2))"}"#),
        _ => Reply::text("done"),
    });
    let server = ScriptedServer::start(script).await.expect("server");
    let Some(p) = project(backend, &server).await else {
        return;
    };
    let cmd = hook(&p, "before", "rm -rf", 99, "HOOK-NO: never rm in CI");
    let config = std::fs::read_to_string(p.path(".team/config.toml")).expect("config");
    std::fs::write(
        p.path(".team/config.toml"),
        config.replace("[hooks]\n", &format!("[hooks]\nbefore_tool = {cmd:?}\n")),
    )
    .expect("config");
    p.agent("shell", "model: mock/m", "You run commands.");
    p.create_team("hooked").await;
    let out = p
        .team(&[
            "spawn", "hooked", "shell", "--prompt", "go", "--allow", "bash",
        ])
        .await;
    assert!(out.status.success(), "spawn: {}", dump(&out));

    let reqs = requests_of(&server.requests(), "shell");
    assert_eq!(reqs.len(), 3, "{reqs:#?}");
    let first = tool_texts(&reqs[1]);
    assert!(
        first[0].contains("HOOK-NO: never rm in CI") && first[0].contains("before_tool"),
        "{first:#?}"
    );
    let second = tool_texts(&reqs[2]);
    assert!(second[1].contains("HOOKED-42"), "{second:#?}");
    let events = p.events("hooked").await;
    assert_eq!(blocked_runs(&events, "before_tool"), [true, false]);
    let log = log(&p);
    assert!(log.contains("before_tool shell"), "{log}");
    assert!(
        log.contains(r#""tool":"bash""#),
        "the event is JSON on stdin: {log}"
    );
}

#[rstest::rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn task_completed_keeps_the_task_open_until_the_hook_agrees(#[case] backend: Backend) {
    let complete = r#"{"action":"complete","id":1,"result":"built"}"#;
    let script = team_testkit::Script::from_fn(move |req: &ScriptRequest| match req.turn {
        1 => Reply::tool_call("team_task", r#"{"action":"claim","id":1}"#),
        2 | 3 => Reply::tool_call("team_task", complete),
        _ => Reply::text("done"),
    });
    let server = ScriptedServer::start(script).await.expect("server");
    let Some(p) = project(backend, &server).await else {
        return;
    };
    let cmd = hook(&p, "gate", "built", 1, "GATE-7: run the tests first");
    let config = std::fs::read_to_string(p.path(".team/config.toml")).expect("config");
    std::fs::write(
        p.path(".team/config.toml"),
        config.replace("[hooks]\n", &format!("[hooks]\ntask_completed = {cmd:?}\n")),
    )
    .expect("config");
    p.agent("worker", "model: mock/m", "You do tasks.");
    p.create_team("tasks").await;
    let out = p.team(&["task", "add", "tasks", "build it"]).await;
    assert!(out.status.success(), "task add: {}", dump(&out));
    let out = p
        .team(&["spawn", "tasks", "worker", "--prompt", "do task 1"])
        .await;
    assert!(out.status.success(), "spawn: {}", dump(&out));

    let reqs = requests_of(&server.requests(), "worker");
    assert_eq!(reqs.len(), 4, "{reqs:#?}");
    let refused = tool_texts(&reqs[2]);
    assert!(
        refused[1].contains("GATE-7: run the tests first")
            && refused[1].contains("stays in_progress"),
        "{refused:#?}"
    );
    let task = p.json(&["task", "show", "tasks", "1"]).await;
    assert_eq!(task["status"], "completed", "{task:#}");
    let events = p.events("tasks").await;
    assert_eq!(blocked_runs(&events, "task_completed"), [true, false]);
    assert!(log(&p).contains(r#""title":"build it""#), "{}", log(&p));
}

#[rstest::rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn member_idle_sends_it_back_to_work_and_member_ended_is_told(#[case] backend: Backend) {
    let script = team_testkit::Script::from_fn(|req: &ScriptRequest| match req.turn {
        1 => Reply::text("FIRST-ANSWER"),
        _ => Reply::text("SECOND-ANSWER"),
    });
    let server = ScriptedServer::start(script).await.expect("server");
    let Some(p) = project(backend, &server).await else {
        return;
    };
    let idle = hook(
        &p,
        "idle",
        "FIRST-ANSWER",
        1,
        "IDLE-MORE: also check the docs",
    );
    let ended = hook(&p, "ended", "never-blocks", 0, "");
    let config = std::fs::read_to_string(p.path(".team/config.toml")).expect("config");
    std::fs::write(
        p.path(".team/config.toml"),
        config.replace(
            "[hooks]\n",
            &format!("[hooks]\nmember_idle = {idle:?}\nmember_ended = {ended:?}\n"),
        ),
    )
    .expect("config");
    p.agent("writer", "model: mock/m", "You write.");
    p.create_team("idle").await;
    let out = p
        .team(&[
            "spawn",
            "idle",
            "writer",
            "--prompt",
            "write",
            "--persistent",
        ])
        .await;
    assert!(out.status.success(), "spawn: {}", dump(&out));

    let reqs = requests_of(&server.requests(), "writer");
    assert_eq!(
        reqs.len(),
        2,
        "the hook sent it back to work once: {:#?}\n{}",
        events_of(&p.events("idle").await, "hook.ran", None),
        log(&p)
    );
    assert!(
        reqs[1]
            .last_user_or_tool_text()
            .contains("IDLE-MORE: also check the docs"),
        "{:#?}",
        reqs[1].messages
    );
    let events = p.events("idle").await;
    assert_eq!(blocked_runs(&events, "member_idle"), [true, false]);
    assert_eq!(blocked_runs(&events, "member_ended"), [false]);
    let log = log(&p);
    assert!(
        log.lines()
            .any(|l| l.starts_with("member_ended writer") && l.contains(r#""status":"completed""#)),
        "{log}"
    );
}

/// A workflow's own `[hooks]` run for its members, over the configuration's.
#[rstest::rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_workflows_hooks_run_for_its_members(#[case] backend: Backend) {
    let server = ScriptedServer::start(team_testkit::Script::from_fn(|_| Reply::text("hello")))
        .await
        .expect("server");
    let Some(p) = project(backend, &server).await else {
        return;
    };
    let ended = hook(&p, "ended", "never-blocks", 0, "");
    p.agent("worker", "model: mock/m", "You greet.");
    p.agent("fan-lead", "model: mock/m", "You merge.");
    std::fs::create_dir_all(p.path(".team/workflows")).expect("mkdir");
    std::fs::write(
        p.path(".team/workflows/greet.toml"),
        format!(
            "name = \"greet\"\nkind = \"fanout\"\nlead = \"fan-lead\"\n\n[params]\ncount = \"2\"\n\n\
             [prompts]\nmember = \"Greet {{i}}.\"\nsynthesis = \"Merge:\\n{{results}}\"\n\n\
             [hooks]\nmember_ended = {ended:?}\n"
        ),
    )
    .expect("workflow");
    let out = p.team(&["run", "greet", "--name", "greet"]).await;
    assert!(out.status.success(), "run: {}", dump(&out));
    let log = log(&p);
    let ended: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("member_ended worker"))
        .collect();
    assert_eq!(ended.len(), 2, "{log}");
    let events = p.events("greet").await;
    assert_eq!(blocked_runs(&events, "member_ended"), [false, false]);

    std::fs::write(
        p.path(".team/workflows/bad.toml"),
        "name = \"bad\"\nkind = \"fanout\"\nlead = \"fan-lead\"\n\n[hooks]\nteammate_idle = \"x\"\n",
    )
    .expect("workflow");
    let out = p.team(&["run", "bad"]).await;
    assert_eq!(crate::support::code(&out), 2, "{}", dump(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown hook `teammate_idle`"),
        "{}",
        dump(&out)
    );
}
