//! Clear errors, and nothing half-created: `team spawn` of a malformed agent file (the error
//! names the file and the line), of an unknown agent, of an agent whose command does not
//! exist, in the background and in the foreground: a non-zero exit code, a message that says
//! what is wrong, no member row, no event, no runner started. And a program that disappears
//! between the spawn and the run: the member fails with a clear error, the lead is told.

use std::time::Duration;

use serde_json::Value;

use crate::support::{Backend, Project, body_of, eventually, of_kind, rstest, stderr, stdout};

/// Runs `team spawn crew AGENT --prompt hi [--background]` both ways; asserts each exits with
/// `code` and says `needles` on stderr, and returns the stderr of the background one.
#[track_caller]
fn spawn_fails(p: &Project, agent: &str, code: i32, needles: &[&str]) -> String {
    let mut first = None;
    for background in [true, false] {
        let mut args = vec!["spawn", "crew", agent, "--prompt", "hi"];
        if background {
            args.push("--background");
        }
        let o = p.run(&args);
        let err = stderr(&o);
        assert_eq!(
            o.status.code(),
            Some(code),
            "`team {}`\nstdout: {}\nstderr: {err}",
            args.join(" "),
            stdout(&o)
        );
        assert!(
            stdout(&o).trim().is_empty(),
            "no member name printed: {}",
            stdout(&o)
        );
        for n in needles {
            assert!(
                err.contains(n),
                "`team {}`: {n:?} not in stderr:\n{err}",
                args.join(" ")
            );
        }
        first.get_or_insert(err);
    }
    // With --json, the error is a JSON document on stderr with the same exit code.
    let o = p.run(&[
        "--json",
        "spawn",
        "crew",
        agent,
        "--prompt",
        "hi",
        "--background",
    ]);
    assert_eq!(o.status.code(), Some(code));
    let e: Value = serde_json::from_str(stderr(&o).trim())
        .unwrap_or_else(|e| panic!("no JSON error ({e}): {}", stderr(&o)));
    assert_eq!(e["error"]["exit_code"], code, "{e}");
    first.unwrap()
}

/// Nothing was created by the failed spawns: the team has only its lead, its event log holds
/// no member event, and no runner was started.
#[track_caller]
fn nothing_created(p: &Project) {
    let members = p.members("crew");
    assert_eq!(members.len(), 1, "only the lead: {members:#?}");
    assert_eq!(members[0]["role"], "lead");
    let events = p.json(&["logs", "crew"]);
    let member_events: Vec<&Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"].as_str().unwrap().starts_with("member."))
        .collect();
    assert!(member_events.is_empty(), "{member_events:#?}");
    let listed = p.json(&["list"]);
    assert_eq!(listed[0]["members_total"], 1, "{listed}");
    assert!(
        !p.path(".team/runner.log").exists(),
        "a runner was started: {}",
        p.read(".team/runner.log")
    );
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn malformed_agent_file_is_named_with_its_line(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.ok(&["create", "crew"]);
    // Invalid YAML on line 4 of the file (line 3 of the front matter).
    p.agent_file(
        "broken",
        concat!(
            "---\ndescription: broken\ncommand: [\"bash\", \"-c\", \"true\"]\n",
            "  oops: : here\n---\nbody\n",
        ),
    );
    let err = spawn_fails(p, "broken", 2, &[".team/agents/broken.md:4"]);
    assert!(err.contains("YAML"), "says what is wrong: {err}");
    nothing_created(p);

    // A field of the wrong type, on line 5.
    p.agent_file(
        "broken",
        "---\ndescription: broken\n\n\ncommand: 5\n---\nbody\n",
    );
    let err = spawn_fails(p, "broken", 2, &[".team/agents/broken.md:5", "command"]);
    assert!(err.contains("integer"), "says what is wrong: {err}");
    nothing_created(p);

    // Front matter that is never closed.
    p.agent_file(
        "broken",
        "---\ndescription: broken\ncommand: [\"true\"]\nbody\n",
    );
    spawn_fails(p, "broken", 2, &[".team/agents/broken.md", "line 1", "---"]);
    nothing_created(p);
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn unknown_agent_is_not_found(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.ok(&["create", "crew"]);
    p.agent("known", "echo hi");
    let err = spawn_fails(p, "ghost", 3, &["unknown agent `ghost`"]);
    assert!(err.contains("known"), "lists the known agents: {err}");
    nothing_created(p);
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn command_that_does_not_exist_is_refused(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.ok(&["create", "crew"]);
    p.agent_file(
        "nocmd",
        concat!(
            "---\ndescription: a missing program\n",
            "command: [\"no-such-program-xyz\", \"--flag\"]\n---\nbody\n",
        ),
    );
    spawn_fails(p, "nocmd", 2, &["no-such-program-xyz", "not found"]);
    nothing_created(p);

    let missing = p.path("no/such/dir/prog");
    let argv = serde_json::to_string(&[missing.to_string_lossy()]).unwrap();
    p.agent_file(
        "nopath",
        &format!("---\ndescription: a missing path\ncommand: {argv}\n---\nbody\n"),
    );
    spawn_fails(p, "nopath", 2, &[&missing.to_string_lossy(), "not found"]);
    nothing_created(p);
}

/// Holds the runner's only slot until the `go` file exists.
const BLOCKER: &str = r#"while [ ! -e "$ROOT/go" ]; do sleep 0.05; done; echo unblocked"#;

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn program_gone_by_the_time_it_runs_fails_the_member_clearly(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.ok(&["create", "crew"]);
    p.agent("blocker", BLOCKER);
    let prog = p.path("vanishing.sh");
    std::fs::write(&prog, "#!/bin/sh\necho never\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let argv = serde_json::to_string(&[prog.to_string_lossy()]).unwrap();
    p.agent_file(
        "vanishing",
        &format!("---\ndescription: its program goes away\ncommand: {argv}\n---\nbody\n"),
    );
    let _runner = p.start_runner("runner", &["--max-agents", "1"]);
    let b = p.spawn_bg("crew", "blocker", "hold", &[]);
    eventually(Duration::from_secs(30), "the blocker to run", || {
        (!p.lines("pids.log").is_empty()).then_some(())
    });
    let v = p.spawn_bg("crew", "vanishing", "hi", &[]);
    assert_eq!(
        p.status("crew", &v.name),
        "pending",
        "the only slot is held"
    );
    std::fs::remove_file(&prog).unwrap();
    std::fs::write(p.path("go"), "").unwrap();

    let o = p.run(&["wait", "crew", "--timeout", "60"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(p.status("crew", &b.name), "completed");
    let m = p.member("crew", &v.name);
    assert_eq!(m["status"], "failed", "{m}");
    let err = m["error"].as_str().unwrap();
    assert!(
        err.contains(&*prog.to_string_lossy()),
        "names the program: {err}"
    );
    let inbox = p.peek("crew", "lead");
    let failures = of_kind(&inbox, "failure");
    assert_eq!(failures.len(), 1, "{inbox:#?}");
    assert_eq!(
        body_of(failures[0]),
        format!("[AGENT FAILURE] {}: {err}", v.name)
    );
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn spawn_into_a_team_that_is_not_active_is_refused(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.agent("known", "echo hi");
    p.ok(&["create", "crew"]);
    p.ok(&["disband", "crew"]);
    let err = spawn_fails(p, "known", 4, &["team crew is disbanded"]);
    assert!(err.contains("new members"), "{err}");
    let members = p.members("crew");
    assert_eq!(members.len(), 1, "only the lead: {members:#?}");

    let o = p.run(&[
        "spawn",
        "nosuchteam",
        "known",
        "--prompt",
        "hi",
        "--background",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("nosuchteam"), "{}", stderr(&o));
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn failed_foreground_spawn_leaves_no_runner_behind(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.agent("known", "echo hi");
    p.ok(&["create", "crew"]);
    p.ok(&["disband", "crew"]);
    let o = p.run(&["spawn", "crew", "known", "--prompt", "hi"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let r = p.json(&["reconcile"]);
    assert_eq!(
        r["runners_lost"],
        serde_json::json!([]),
        "a failed spawn left a runner registered: {r}"
    );
}
