//! Issue 20, "finding your way": dynamic shell completion (`source <(COMPLETE=bash team)`)
//! of team, member, agent and workflow names from a real project, the static scripts of
//! `team completions SHELL`, and the EXAMPLES sections of `--help`.

use std::process::Output;

use crate::support::*;

/// What bash's completion function asks `team` for the word at `index` of `words` (the whole
/// line, `team` first): the protocol of clap_complete's registration script.
fn complete(p: &Project, words: &[&str]) -> Output {
    let index = words.len() - 1;
    p.std_cmd()
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", index.to_string())
        .env("_CLAP_COMPLETE_COMP_TYPE", "9")
        .env("_CLAP_COMPLETE_SPACE", "true")
        .env("_CLAP_IFS", "\n")
        .arg("--")
        .args(words)
        .output()
        .expect("run team")
}

/// The candidates offered for the last word of `words`.
#[track_caller]
fn candidates(p: &Project, words: &[&str]) -> Vec<String> {
    let o = complete(p, words);
    assert_ok(words, &o);
    stdout(&o).lines().map(str::to_owned).collect()
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn names_complete_from_the_project(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.create_team("crew-alpha");
    p.create_team("other");
    p.add_member("crew-alpha", "writer");
    p.add_member("other", "tester");
    std::fs::write(
        p.path(".team/agents/sleeper.md"),
        "---\ndescription: sleeps\ncommand: [\"sleep\", \"1\"]\n---\nSleeps.\n",
    )
    .unwrap();

    // Teams: every team, filtered by what is typed.
    let all = candidates(p, &["team", "show", ""]);
    assert!(all.contains(&"crew-alpha".to_owned()), "{all:?}");
    assert!(all.contains(&"other".to_owned()), "{all:?}");
    assert_eq!(candidates(p, &["team", "show", "cr"]), ["crew-alpha"]);
    assert_eq!(candidates(p, &["team", "wait", "oth"]), ["other"]);

    // Members: of the team named before them.
    let m = candidates(p, &["team", "inbox", "crew-alpha", ""]);
    assert!(m.contains(&"writer".to_owned()), "{m:?}");
    assert!(m.contains(&"lead".to_owned()), "{m:?}");
    assert!(!m.contains(&"tester".to_owned()), "{m:?}");
    let to = candidates(p, &["team", "send", "other", "--to", "te"]);
    assert_eq!(to, ["tester"]);

    // Agents (the project's files and the built-in ones) and workflows.
    let a = candidates(p, &["team", "spawn", "crew-alpha", ""]);
    assert!(a.contains(&"sleeper".to_owned()), "{a:?}");
    let w = candidates(p, &["team", "run", ""]);
    assert!(w.contains(&"spec-review".to_owned()), "{w:?}");

    // Commands still complete as before.
    let c = candidates(p, &["team", "runn"]);
    assert!(
        c.contains(&"runner".to_owned()) && c.contains(&"runners".to_owned()),
        "{c:?}"
    );
}

#[test]
fn completion_outside_a_project_offers_nothing_and_fails_nothing() {
    let (_dir, root) = temp_dir();
    let o = bare_cmd(&root)
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", "2")
        .args(["--", "team", "show", ""])
        .output()
        .unwrap();
    assert_ok(&["show"], &o);
    // No names: clap offers the flags instead.
    let out = stdout(&o);
    assert!(out.lines().all(|l| l.starts_with("--")), "{out}");
    assert_eq!(stderr(&o), "");
    assert!(!root.join(".team").exists(), "nothing was created");
}

#[test]
fn the_registration_and_the_static_scripts_are_printed() {
    let (_dir, root) = temp_dir();
    // `source <(COMPLETE=bash team)`: a bash function calling `team` back on Tab.
    let o = bare_cmd(&root).env("COMPLETE", "bash").output().unwrap();
    assert_ok(&[], &o);
    let script = stdout(&o);
    assert!(
        script.contains("complete ") && script.contains("COMPLETE=\"bash\""),
        "{script}"
    );
    // `team completions SHELL` still prints a static script.
    for shell in ["bash", "zsh", "fish"] {
        let o = bare_cmd(&root)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert_ok(&["completions", shell], &o);
        assert!(stdout(&o).contains("team"), "{shell}");
    }
}

#[test]
fn the_main_commands_show_examples_in_their_help() {
    let (_dir, root) = temp_dir();
    for cmd in [
        "run", "spawn", "send", "inbox", "task", "wait", "show", "list", "create", "disband",
        "logs", "doctor",
    ] {
        for flag in ["-h", "--help"] {
            let o = bare_cmd(&root).args([cmd, flag]).output().unwrap();
            assert_ok(&[cmd, flag], &o);
            let help = stdout(&o);
            assert!(help.contains("\nExamples:\n"), "team {cmd} {flag}:\n{help}");
            assert!(
                help.contains(&format!("  team {cmd} "))
                    || help.contains(&format!("  team --json {cmd} ")),
                "team {cmd} {flag} shows a `team {cmd}` line:\n{help}"
            );
        }
    }
    let run = stdout(&bare_cmd(&root).args(["run", "--help"]).output().unwrap());
    assert!(run.contains("team run spec-review docs/spec.md"), "{run}");
    // The exit codes stay at the end of `team --help`.
    let top = stdout(&bare_cmd(&root).arg("--help").output().unwrap());
    assert!(top.contains("Exit codes: 0 ok"), "{top}");
}
