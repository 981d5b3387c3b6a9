//! Budgets (issue 18), on both engines: a run's token budget (`--max-tokens`) warns at 80 %,
//! once: a `budget.warning` event and a `[BUDGET]` notice to the lead; the run goes on.

use team_testkit::{Reply, ScriptRequest, ScriptedServer};

use crate::support::{
    Backend, Project, Wire, code, dump, events_of, from_agent, requests_of, tool_texts,
};

#[rstest::rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_warns_once_at_80_percent_of_its_token_budget(#[case] backend: Backend) {
    // Two workers of 45 tokens each: 90 of 100 after both answered (the budget is looked at
    // while the members' answers are collected; the lead's synthesis, 45 more, comes after).
    let script =
        team_testkit::Script::from_fn(|_: &ScriptRequest| Reply::text("hello").with_usage(30, 15));
    let server = ScriptedServer::start(script).await.expect("server");
    let Some(p) = Project::on(backend, Wire::OpenAi, &server.base_url(), "").await else {
        return;
    };
    p.agent("worker", "model: mock/m", "You greet.");
    p.agent("fan-lead", "model: mock/m", "You merge.");
    // A dollar a token: the spend is the token count.
    let config = std::fs::read_to_string(p.path(".team/config.toml")).expect("config");
    std::fs::write(
        p.path(".team/config.toml"),
        format!(
            "{config}\n[prices.\"mock/m\"]\ninput_per_mtok = 1000000\noutput_per_mtok = 1000000\n"
        ),
    )
    .expect("config");
    std::fs::create_dir_all(p.path(".team/workflows")).expect("mkdir");
    std::fs::write(
        p.path(".team/workflows/greet.toml"),
        "name = \"greet\"\nkind = \"fanout\"\nlead = \"fan-lead\"\n\n[params]\ncount = \"2\"\n\n\
         [prompts]\nmember = \"Greet {i}.\"\nsynthesis = \"Merge:\\n{results}\"\n",
    )
    .expect("workflow");
    let out = p
        .team(&["run", "greet", "--name", "greet", "--max-tokens", "100"])
        .await;
    assert_eq!(code(&out), 0, "{}", dump(&out));

    let events = p.events("greet").await;
    let warned = events_of(&events, "budget.warning", None);
    assert_eq!(warned.len(), 1, "{events:#?}");
    assert_eq!(warned[0]["payload"]["max_tokens"], 100);
    assert_eq!(warned[0]["payload"]["percent"], 80);
    assert!(warned[0]["payload"]["used_tokens"].as_u64() >= Some(80));
    let notices: Vec<_> = events_of(&events, "message.sent", None)
        .into_iter()
        .filter(|e| {
            e["payload"]["body"]
                .as_str()
                .is_some_and(|b| b.starts_with("[BUDGET] 80%"))
        })
        .collect();
    assert_eq!(notices.len(), 1, "{events:#?}");
    assert_eq!(notices[0]["payload"]["to"][0], "lead");

    // The run's summary and its manifest give the spend, per member and in total.
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("spend $135.0000"),
        "{}",
        dump(&out)
    );
    let manifest = p.json(&["report", "greet"]).await;
    assert_eq!(
        manifest["spend"]["total_usd"].as_f64(),
        Some(135.0),
        "{manifest:#}"
    );
    assert_eq!(
        manifest["spend"]["members"].as_array().map(Vec::len),
        Some(3)
    );
}

/// With `[prices]` in the configuration, `team show` gives what each member and the team
/// spent in money (tokens of each `provider.call` at its model's price), and names the
/// models it has no price for.
#[rstest::rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn team_show_gives_the_spend_per_member_and_in_total(#[case] backend: Backend) {
    let script = team_testkit::Script::from_fn(|req: &ScriptRequest| {
        if from_agent(req, "cheap") {
            Reply::text("ok").with_usage(1_000_000, 0)
        } else {
            Reply::text("ok").with_usage(500_000, 1_000_000)
        }
    });
    let server = ScriptedServer::start(script).await.expect("server");
    let Some(p) = Project::on(backend, Wire::OpenAi, &server.base_url(), "").await else {
        return;
    };
    let config = std::fs::read_to_string(p.path(".team/config.toml")).expect("config");
    std::fs::write(
        p.path(".team/config.toml"),
        format!("{config}\n[prices.\"mock/m\"]\ninput_per_mtok = 2\noutput_per_mtok = 10.5\n"),
    )
    .expect("config");
    p.agent("cheap", "model: mock/m", "You answer.");
    p.agent("dear", "model: mock/m", "You answer.");
    p.agent("other", "model: mock/unpriced", "You answer.");
    p.create_team("spend").await;
    for agent in ["cheap", "dear", "other"] {
        let out = p.team(&["spawn", "spend", agent, "--prompt", "go"]).await;
        assert!(out.status.success(), "spawn {agent}: {}", dump(&out));
    }
    let show = p.json(&["show", "spend"]).await;
    let spend = &show["spend"];
    let usd = |name: &str| {
        spend["members"]
            .as_array()
            .and_then(|ms| ms.iter().find(|m| m["member"] == name))
            .and_then(|m| m["usd"].as_f64())
    };
    assert_eq!(usd("cheap"), Some(2.0), "{spend:#}");
    assert_eq!(usd("dear"), Some(1.0 + 10.5), "{spend:#}");
    assert_eq!(usd("other"), Some(0.0), "{spend:#}");
    assert_eq!(spend["total_usd"].as_f64(), Some(13.5), "{spend:#}");
    assert_eq!(spend["unpriced_models"][0], "mock/unpriced");
    let text = p.team(&["show", "spend"]).await;
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("spend: $13.5000"), "{text}");
}

/// `team run --max-cost USD` stops the run once its members spent that much at the
/// configuration's prices: exit 125, the report says so; without prices it is refused.
#[rstest::rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_money_budget_stops_the_run_with_exit_125(#[case] backend: Backend) {
    let script =
        team_testkit::Script::from_fn(|_: &ScriptRequest| Reply::text("hello").with_usage(30, 15));
    let server = ScriptedServer::start(script).await.expect("server");
    let Some(p) = Project::on(backend, Wire::OpenAi, &server.base_url(), "").await else {
        return;
    };
    p.agent("worker", "model: mock/m", "You greet.");
    p.agent("fan-lead", "model: mock/m", "You merge.");
    std::fs::create_dir_all(p.path(".team/workflows")).expect("mkdir");
    std::fs::write(
        p.path(".team/workflows/greet.toml"),
        "name = \"greet\"\nkind = \"fanout\"\nlead = \"fan-lead\"\n\n[params]\ncount = \"2\"\n\n\
         [prompts]\nmember = \"Greet {i}.\"\nsynthesis = \"Merge:\\n{results}\"\n",
    )
    .expect("workflow");
    let out = p
        .team(&["run", "greet", "--name", "nocost", "--max-cost", "50"])
        .await;
    assert_eq!(code(&out), 2, "no prices: {}", dump(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[prices."),
        "{}",
        dump(&out)
    );

    // A dollar a token: two workers spend $90 of $50.
    let config = std::fs::read_to_string(p.path(".team/config.toml")).expect("config");
    std::fs::write(
        p.path(".team/config.toml"),
        format!(
            "{config}\n[prices.\"mock/m\"]\ninput_per_mtok = 1000000\noutput_per_mtok = 1000000\n"
        ),
    )
    .expect("config");
    let out = p
        .team(&["run", "greet", "--name", "cost", "--max-cost", "50"])
        .await;
    assert_eq!(code(&out), 125, "{}", dump(&out));
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.contains("the money budget ($50) was spent"), "{md}");
}

fn fan_out_script() -> team_testkit::Script {
    team_testkit::Script::from_fn(|req: &ScriptRequest| {
        if !from_agent(req, "boss") {
            return Reply::text("worked").with_usage(1_000, 500);
        }
        match req.turn {
            1 => Reply::tool_call(
                "task",
                r#"{"agent":"worker","prompt":"one","background":false}"#,
            )
            .with_usage(10, 10),
            2 => Reply::tool_call(
                "task",
                r#"{"agent":"worker","prompt":"two","background":false}"#,
            )
            .with_usage(10, 10),
            _ => Reply::text("boss done").with_usage(10, 10),
        }
    })
}

/// A team-wide budget (`[team] max_tokens`, the default of `team create`) reserves a member's
/// max_tokens (the provider's, 4096 by default) before the `task` tool starts it: with 5000
/// tokens the first worker fits; it spends 1500, and then the 4096 of a second no longer
/// fit: the call is a tool error and a `tool.denied` event whose source is the budget.
#[rstest::rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_whose_reservation_does_not_fit_is_not_started(#[case] backend: Backend) {
    let server = ScriptedServer::start(fan_out_script())
        .await
        .expect("server");
    let Some(p) = Project::on(
        backend,
        Wire::OpenAi,
        &server.base_url(),
        "max_tokens = 5000",
    )
    .await
    else {
        return;
    };
    p.agent("boss", "model: mock/m", "You delegate.");
    p.agent("worker", "model: mock/m", "You work.");
    let out = p
        .team(&["create", "crew", "--lead", "boss", "--prompt", "go"])
        .await;
    assert!(out.status.success(), "create: {}", dump(&out));

    let reqs = requests_of(&server.requests(), "lead");
    assert_eq!(reqs.len(), 3, "{reqs:#?}");
    let results = tool_texts(&reqs[2]);
    assert!(results[0].contains("worked"), "the first ran: {results:#?}");
    assert!(
        results[1].contains("task denied") && results[1].contains("token budget is 5000"),
        "{results:#?}"
    );
    let members = p.members("crew").await;
    assert_eq!(members.len(), 2, "the lead and one worker: {members:#?}");

    let events = p.events("crew").await;
    let set = events_of(&events, "budget.set", None);
    assert_eq!(set.len(), 1, "{events:#?}");
    assert_eq!(set[0]["payload"]["max_tokens"], 5000);
    let spawned = events_of(&events, "member.spawned", None);
    assert_eq!(
        spawned[0]["payload"]["reserved_tokens"], 4096,
        "{spawned:#?}"
    );
    let denied = events_of(&events, "tool.denied", None);
    assert!(
        denied
            .iter()
            .any(|e| e["payload"]["source"]["kind"] == "budget"
                && e["payload"]["source"]["limit"]["max_tokens"] == 5000),
        "{denied:#?}"
    );
}

/// `team create --max-tokens` / `--max-cost` set the team's budget on its row (a `budget.set`
/// event); a money budget without `[prices]` is refused before the team is made (exit 2).
#[rstest::rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn team_create_sets_a_budget(#[case] backend: Backend) {
    let server = ScriptedServer::start(fan_out_script())
        .await
        .expect("server");
    let Some(p) = Project::on(backend, Wire::OpenAi, &server.base_url(), "").await else {
        return;
    };
    let out = p.team(&["create", "nocost", "--max-cost", "2"]).await;
    assert_eq!(code(&out), 2, "{}", dump(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[prices."),
        "{}",
        dump(&out)
    );
    let out = p.team(&["show", "nocost"]).await;
    assert_eq!(code(&out), 3, "not made: {}", dump(&out));

    let out = p.team(&["create", "capped", "--max-tokens", "7000"]).await;
    assert!(out.status.success(), "{}", dump(&out));
    let events = p.events("capped").await;
    let set = events_of(&events, "budget.set", None);
    assert_eq!(set.len(), 1, "{events:#?}");
    assert_eq!(set[0]["payload"]["max_tokens"], 7000);
    assert!(set[0]["payload"]["max_usd"].is_null());
}

/// A team-wide budget (`team create --max-tokens`), not a workflow's: at 80 % a
/// `budget.warning` event and a `[BUDGET]` notice to the lead; at 100 % a member makes no more
/// model calls: it is cancelled with `budget spent`, `team create --prompt` exits 125 and so
/// does `team wait`.
#[rstest::rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_team_budget_warns_at_80_and_stops_its_members_at_100_percent(#[case] backend: Backend) {
    let script = team_testkit::Script::from_fn(|req: &ScriptRequest| {
        if !from_agent(req, "boss") {
            return match req.turn {
                1 => Reply::tool_call("team_members", "{}").with_usage(3_000, 1_000),
                2 => Reply::tool_call("team_members", "{}").with_usage(1_000, 0),
                _ => Reply::text("worked").with_usage(10, 10),
            };
        }
        match req.turn {
            1 => Reply::tool_call(
                "task",
                r#"{"agent":"worker","prompt":"one","background":false}"#,
            )
            .with_usage(10, 10),
            _ => Reply::text("boss done").with_usage(10, 10),
        }
    });
    let server = ScriptedServer::start(script).await.expect("server");
    let Some(p) = Project::on(backend, Wire::OpenAi, &server.base_url(), "").await else {
        return;
    };
    p.agent("boss", "model: mock/m", "You delegate.");
    p.agent("worker", "model: mock/m", "You work.");
    let out = p
        .team(&[
            "create",
            "crew",
            "--lead",
            "boss",
            "--prompt",
            "go",
            "--max-tokens",
            "5000",
        ])
        .await;
    assert_eq!(code(&out), 125, "{}", dump(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("budget spent"),
        "{}",
        dump(&out)
    );
    // The worker's third call and the lead's second were not made: 20 + 4000 tokens (80 %:
    // the warning), then 5020 (100 %): the worker stops, then its lead.
    assert_eq!(requests_of(&server.requests(), "lead").len(), 1);
    assert_eq!(requests_of(&server.requests(), "worker").len(), 2);

    let events = p.events("crew").await;
    let warned = events_of(&events, "budget.warning", None);
    assert_eq!(warned.len(), 1, "{events:#?}");
    assert_eq!(warned[0]["payload"]["percent"], 80);
    assert_eq!(warned[0]["payload"]["max_tokens"], 5000);
    let notices: Vec<_> = events_of(&events, "message.sent", None)
        .into_iter()
        .filter(|e| {
            e["payload"]["body"]
                .as_str()
                .is_some_and(|b| b.starts_with("[BUDGET] 80%"))
        })
        .collect();
    assert_eq!(notices.len(), 1, "{events:#?}");
    let members = p.members("crew").await;
    for name in ["lead", "worker"] {
        let m = members.iter().find(|m| m["name"] == name).expect(name);
        assert_eq!(m["status"], "cancelled", "{members:#?}");
        assert_eq!(m["error"], "budget spent", "{members:#?}");
    }

    let out = p.team(&["wait", "crew", "--timeout", "30"]).await;
    assert_eq!(code(&out), 125, "{}", dump(&out));
    // `team show` gives the budget's use beside the tokens per member.
    let out = p.team(&["show", "crew"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("budget: 5020 of 5000 tokens (100%)"),
        "{text}"
    );
}
