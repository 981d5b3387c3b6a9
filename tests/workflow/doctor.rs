//! `team doctor` and `team config show` end to end: a healthy project (the provider probed on
//! the scripted server, the database's engine and migrations, what `team run spec-review`
//! would run), the problems a user meets (no model, a broken agent file, a provider that does
//! not answer, a runner killed with SIGKILL) each with the next command, and the source of
//! every configuration value. `team workflows list` outside a project.

use serde_json::Value;
use team_testkit::process::{output_within, stdout_json};
use team_testkit::{Reply, Script, ScriptedServer};

use crate::support::{Backend, CALL_TIMEOUT, KEY, MODEL, Project, SPECIALISTS, code, dump, stdout};

async fn doctor(p: &Project, model: Option<&str>, json: bool) -> std::process::Output {
    let args: &[&str] = if json {
        &["--json", "doctor"]
    } else {
        &["doctor"]
    };
    let mut cmd = p.command(args);
    if let Some(m) = model {
        cmd.env("TEAM_MODEL", m);
    }
    output_within(cmd, CALL_TIMEOUT, "team doctor").await
}

fn problems(v: &Value) -> Vec<(String, String, String)> {
    v["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| {
            (
                p["section"].as_str().unwrap_or("").to_owned(),
                p["message"].as_str().unwrap_or("").to_owned(),
                p["fix"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

async fn a_healthy_project_is_all_well(backend: Backend) {
    let server = ScriptedServer::start(Script::from_fn(|_| Reply::text("unused")))
        .await
        .unwrap();
    let Some(p) = Project::on(backend, &server.base_url()).await else {
        return;
    };
    let out = doctor(&p, Some(MODEL), true).await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let all = format!("{}{}", stdout(&out), crate::support::stderr(&out));
    assert!(!all.contains(KEY), "the key is never printed: {all}");
    let v = stdout_json("team --json doctor", &out);
    assert_eq!(v["ok"], true, "{v:#}");
    assert!(problems(&v).is_empty(), "{v:#}");

    // Config: the project file was read.
    let files = v["config"]["files"].as_array().unwrap();
    assert_eq!(files[1]["layer"], "project");
    assert_eq!(files[1]["found"], true);

    // The provider of the project's config, probed on the scripted server's GET /models.
    let mock = v["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "mock")
        .unwrap_or_else(|| panic!("the mock provider is listed: {v:#}"));
    assert_eq!(mock["base_url"], server.base_url());
    assert_eq!(mock["base_url_given"], true);
    assert_eq!(mock["api_key_env"], "MOCK_API_KEY");
    assert_eq!(mock["key_set"], true);
    assert_eq!(mock["probe"]["outcome"], "ok", "{mock:#}");
    assert_eq!(mock["probe"]["status"], 200);

    // The database: its engine, version and every migration of the binary applied.
    let db = &v["database"];
    let engine = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(db["engine"], engine, "{db:#}");
    assert!(!db["version"].as_str().unwrap().is_empty(), "{db:#}");
    let applied = db["migrations_applied"].as_array().unwrap();
    assert!(!applied.is_empty(), "{db:#}");
    assert_eq!(db["migrations_known"].as_u64(), Some(applied.len() as u64));
    assert_eq!(db["migrations_pending"], Value::Array(vec![]));

    assert_eq!(v["agents"]["errors"], Value::Array(vec![]));
    assert_eq!(v["runners"], Value::Array(vec![]));

    // What `team run spec-review` would run: the lead and the five specialists on the model.
    let plan = v["spec_review"]["agents"].as_array().unwrap();
    let names: Vec<&str> = plan.iter().map(|a| a["agent"].as_str().unwrap()).collect();
    let mut want = vec!["spec-lead"];
    want.extend(SPECIALISTS);
    assert_eq!(names, want);
    for a in plan {
        assert_eq!(a["model"], MODEL, "{a:#}");
        assert!(a["error"].is_null(), "{a:#}");
    }

    // For a person: one line per thing looked at, and the verdict.
    let out = doctor(&p, Some(MODEL), false).await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let text = stdout(&out);
    assert!(text.contains("reachable (GET /models: 200"), "{text}");
    assert!(
        text.contains("specialist security: mock/review-model"),
        "{text}"
    );
    assert!(text.trim_end().ends_with("all is well"), "{text}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_project_is_all_well_sqlite() {
    a_healthy_project_is_all_well(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_project_is_all_well_postgres() {
    a_healthy_project_is_all_well(Backend::Postgres).await;
}

async fn problems_are_named_with_the_next_command(backend: Backend) {
    let server = ScriptedServer::start(Script::from_fn(|_| Reply::text("unused")))
        .await
        .unwrap();
    let Some(p) = Project::on(backend, &server.base_url()).await else {
        return;
    };
    // No model: every agent of spec-review is named, and the fix says how to give one.
    let out = doctor(&p, None, false).await;
    assert_eq!(code(&out), 1, "{}", dump(&out));
    let text = stdout(&out);
    assert!(
        text.contains("lead spec-lead: no model"),
        "the lead has no model: {text}"
    );
    assert!(
        text.trim_end()
            .ends_with("6 problem(s); next: pass --model PROVIDER/MODEL to team run (or export TEAM_MODEL, or set [team] default_model in .team/config.toml)"),
        "{text}"
    );

    // A runner, alive, then killed with SIGKILL: it never stopped, so it is lost.
    let mut runner = p.command(&["runner"]).spawn().expect("start team runner");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let v = stdout_json("doctor", &doctor(&p, Some(MODEL), true).await);
        let runners = v["runners"].as_array().unwrap().clone();
        if runners.len() == 1 {
            assert_eq!(runners[0]["alive"], true, "{v:#}");
            assert_eq!(runners[0]["pid"].as_u64(), runner.id().map(u64::from));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the runner registers: {v:#}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    runner.start_kill().unwrap();
    runner.wait().await.unwrap();

    // A broken agent file, and a provider that no longer answers.
    std::fs::write(
        p.path(".team/agents/broken.md"),
        "---\nname: broken\nmodel: [unclosed\n---\nbody\n",
    )
    .unwrap();
    server.stop().await;

    let out = doctor(&p, Some(MODEL), true).await;
    assert_eq!(code(&out), 1, "{}", dump(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["ok"], false);
    let found = problems(&v);
    let by_section = |s: &str| {
        found
            .iter()
            .find(|(sec, _, _)| sec == s)
            .unwrap_or_else(|| panic!("a problem in {s}: {v:#}"))
            .clone()
    };
    let (_, message, fix) = by_section("providers");
    assert!(
        message.contains("mock") && message.contains("unreachable"),
        "{message}"
    );
    assert!(fix.contains("[providers.mock]"), "{fix}");
    let (_, message, fix) = by_section("agents");
    assert!(message.contains(".team/agents/broken.md"), "{message}");
    assert_eq!(fix, "team agents check");
    let (_, message, fix) = by_section("runners");
    assert!(message.contains("gone without stopping"), "{message}");
    assert_eq!(fix, "team reconcile");
    assert_eq!(v["runners"][0]["alive"], false);

    // After `team reconcile` the runner is no longer a problem.
    let out = p.team(&["reconcile"]).await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    // (Still exit 1: the broken file and the provider are still there.)
    let out = doctor(&p, Some(MODEL), true).await;
    assert_eq!(code(&out), 1, "{}", dump(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert!(problems(&v).iter().all(|(s, _, _)| s != "runners"), "{v:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn problems_are_named_with_the_next_command_sqlite() {
    problems_are_named_with_the_next_command(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn problems_are_named_with_the_next_command_postgres() {
    problems_are_named_with_the_next_command(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_a_project_doctor_says_team_init() {
    let p = Project::bare();
    let out = doctor(&p, Some(MODEL), false).await;
    assert_eq!(code(&out), 1, "{}", dump(&out));
    let text = stdout(&out);
    assert!(text.contains("no database"), "{text}");
    assert!(text.trim_end().ends_with("next: team init"), "{text}");
    assert!(!p.path(".team").exists(), "doctor creates nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_show_names_the_source_of_each_value() {
    let p = Project::on(Backend::Sqlite, "http://127.0.0.1:9/v1")
        .await
        .unwrap();
    std::fs::write(
        p.path("user-config/config.toml"),
        "[team]\nmax_agents = 4\nmember_timeout_secs = 99\n\n[models]\nfast = \"mock/small\"\n",
    )
    .unwrap();
    // The project file (written by Project::on) sets max_agents = 10 over the user's 4.
    let mut cmd = p.command(&["--json", "config", "show"]);
    cmd.env("TEAM_MODEL", "mock/from-env");
    let out = output_within(cmd, CALL_TIMEOUT, "team config show").await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let v = stdout_json("config show", &out);
    let entry = |k: &str| {
        v["values"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == k)
            .unwrap_or_else(|| panic!("{k} is shown: {v:#}"))
            .clone()
    };
    let user = p.path("user-config/config.toml").display().to_string();
    let project = p.path(".team/config.toml").display().to_string();
    let e = entry("team.max_agents");
    assert_eq!(
        (&e["value"], &e["source"], &e["origin"]),
        (
            &Value::from(10),
            &Value::from("project"),
            &Value::from(project.clone())
        )
    );
    let e = entry("team.member_timeout_secs");
    assert_eq!(
        (&e["value"], &e["source"], &e["origin"]),
        (
            &Value::from(99),
            &Value::from("user"),
            &Value::from(user.clone())
        )
    );
    let e = entry("team.default_model");
    assert_eq!(
        (&e["value"], &e["source"], &e["origin"]),
        (
            &Value::from("mock/from-env"),
            &Value::from("environment"),
            &Value::from("TEAM_MODEL")
        )
    );
    let e = entry("models.sonnet");
    assert_eq!(
        (&e["source"], &e["origin"]),
        (&Value::from("default"), &Value::Null)
    );
    let e = entry("models.fast");
    assert_eq!(
        (&e["value"], &e["source"]),
        (&Value::from("mock/small"), &Value::from("user"))
    );
    let e = entry("providers.mock.base_url");
    assert_eq!(
        (&e["value"], &e["source"]),
        (
            &Value::from("http://127.0.0.1:9/v1"),
            &Value::from("project")
        )
    );

    // For a person: TOML lines with the source as a comment.
    let out = p.team(&["config", "show"]).await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let text = stdout(&out);
    let line = |k: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{k} = ")))
            .unwrap_or_else(|| panic!("{k}: {text}"))
            .to_owned()
    };
    assert!(
        line("team.member_timeout_secs").ends_with(&format!("# user {user}")),
        "{text}"
    );
    assert!(
        line("team.max_agents").ends_with(&format!("# project {project}")),
        "{text}"
    );
    assert!(
        line("models.opus").ends_with("# built-in default"),
        "{text}"
    );
    assert!(
        line("providers.mock.api_key_env").contains("\"MOCK_API_KEY\""),
        "{text}"
    );

    // A broken file is an error naming it.
    std::fs::write(
        p.path("user-config/config.toml"),
        "[team]\nmax_agents = 0\n",
    )
    .unwrap();
    let out = p.team(&["config", "show"]).await;
    assert_eq!(code(&out), 2, "{}", dump(&out));
    assert!(
        crate::support::stderr(&out).contains("team.max_agents"),
        "{}",
        dump(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_list_works_outside_a_project() {
    let p = Project::bare();
    let out = p.team(&["--json", "workflows", "list"]).await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let v = stdout_json("workflows list", &out);
    let names: Vec<(&str, &str)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["name"].as_str().unwrap(), w["source"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [("self-review-loop", "bundled"), ("spec-review", "bundled")]
    );
    let out = p.team(&["workflows", "list"]).await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    assert!(stdout(&out).contains("spec-review"), "{}", dump(&out));
    assert!(!p.path(".team").exists(), "nothing is created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_without_a_model_leaves_no_team_dir_behind() {
    let p = Project::bare();
    let spec = p.spec("pep-0703.rst");
    let out = p.team(&["run", "spec-review", &spec]).await;
    assert_eq!(code(&out), 2, "{}", dump(&out));
    assert!(
        crate::support::stderr(&out).contains("no model"),
        "{}",
        dump(&out)
    );
    assert!(
        !p.path(".team").exists(),
        "the .team/ the run made is removed: {}",
        dump(&out)
    );
    // In a project, the failed run leaves the project as it was.
    let out = p.team(&["init"]).await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let out = p.team(&["run", "spec-review", &spec]).await;
    assert_eq!(code(&out), 2, "{}", dump(&out));
    assert!(p.path(".team/config.toml").exists(), "{}", dump(&out));
}
