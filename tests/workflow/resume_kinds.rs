//! Issue 18, resume of the other workflow kinds: a `fanout` run and a `self-review` run killed
//! with `kill -9` mid-run, then resumed (`team resume TEAM`), write the report an
//! uninterrupted run writes; the scripted server's request log shows that no model call is
//! made again except those in flight at the kill, and the self-review's test command and fix
//! are not run twice. A fan-out stopped by its `--timeout` resumes the same way.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use team_testkit::{Matcher, Reply, Rule, Script, ScriptRequest, ScriptedServer};

use crate::support::{Backend, MODEL, Project, code, dump};

/// How many members the fan-out starts.
const WORKERS: u32 = 4;

/// The workers whose call is still in flight when the fan-out is killed.
const SLOW_WORKERS: [u32; 2] = [3, 4];

/// Writes the fan-out's agents (`worker`, `fan-lead`) and its workflow (`greet`) into `p`.
fn fanout_project(p: &Project) {
    for (name, body) in [("worker", "You greet."), ("fan-lead", "You merge.")] {
        std::fs::write(
            p.path(&format!(".team/agents/{name}.md")),
            format!("---\nmodel: {MODEL}\n---\n{body}\n"),
        )
        .expect("write the agent");
    }
    std::fs::create_dir_all(p.path(".team/workflows")).expect("mkdir");
    std::fs::write(
        p.path(".team/workflows/greet.toml"),
        format!(
            "name = \"greet\"\nkind = \"fanout\"\nlead = \"fan-lead\"\n\n[params]\ncount = \
             \"{WORKERS}\"\n\n[prompts]\nmember = \"Greet {{i}}.\"\nsynthesis = \
             \"Merge:\\n{{results}}\"\n"
        ),
    )
    .expect("write the workflow");
}

/// The worker (1-based) a request is from, by the prompt it answers.
fn worker_of(req: &ScriptRequest) -> Option<u32> {
    if !req.system.contains("You greet.") {
        return None;
    }
    let last = req.last_user_or_tool_text();
    (1..=WORKERS).find(|i| last.contains(&format!("Greet {i}.")))
}

/// A model that answers every worker `hello N` and the lead with the results it merges.
fn fanout_script() -> Script {
    Script::from_fn(|req| {
        if let Some(i) = worker_of(req) {
            return Reply::text(format!("hello {i}"));
        }
        let last = req.last_user_or_tool_text().replace('\n', " | ");
        Reply::text(format!("merged: {last}"))
    })
}

/// The model of the interrupted fan-out: the [`SLOW_WORKERS`]' calls never come back.
fn slow_fanout_script() -> Script {
    let rules = (1..=WORKERS)
        .map(|i| {
            let when = Matcher {
                system_contains: Some("You greet.".into()),
                last_message_contains: Some(format!("Greet {i}.")),
                ..Matcher::default()
            };
            let rule = Rule::when(when, Reply::text(format!("hello {i}")));
            if SLOW_WORKERS.contains(&i) {
                rule.delay_ms(600_000)
            } else {
                rule
            }
        })
        .collect();
    Script::rules(rules)
}

/// The members (not the lead) of `team` with `status`.
async fn members_in(p: &Project, team: &str, status: &str) -> usize {
    let show = p.show(team).await;
    show["members"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .filter(|m| m["name"] != "lead" && m["status"] == status)
                .count()
        })
        .unwrap_or(0)
}

/// Starts `team ARGS` in `p`, waits until `ready` says so (looked at every 100 ms, at most a
/// minute), and kills it with SIGKILL.
async fn kill_when<F>(p: &Project, args: &[&str], mut ready: F)
where
    F: AsyncFnMut() -> bool,
{
    let mut child = p.command(args).spawn().expect("spawn team run");
    let pid = child.id().expect("the child's pid");
    let mut seen = false;
    for _ in 0..600 {
        if ready().await {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill -9 team run");
    let _ = child.wait().await;
    assert!(seen, "the run never reached the point to kill it at");
}

/// Points `p`'s `mock` provider at `to` instead of `from`.
fn switch_server(p: &Project, from: &ScriptedServer, to: &ScriptedServer) {
    let config = p.read(".team/config.toml");
    std::fs::write(
        p.path(".team/config.toml"),
        config.replace(&from.base_url(), &to.base_url()),
    )
    .expect("write config.toml");
}

async fn fanout_killed_then_resumed(backend: Backend) {
    // The report of an uninterrupted run.
    let full = ScriptedServer::start(fanout_script()).await.unwrap();
    let Some(base) = Project::on(backend, &full.base_url()).await else {
        return;
    };
    fanout_project(&base);
    let out = base
        .team(&[
            "run",
            "greet",
            "--name",
            "whole",
            "--format",
            "json",
            "--output",
            "whole.json",
        ])
        .await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let expected: Value = serde_json::from_str(&base.read("whole.json")).unwrap();
    assert!(
        expected["summary"]
            .as_str()
            .is_some_and(|s| s.contains("hello 1") && s.contains("hello 4")),
        "{expected:#}"
    );

    // The interrupted run: killed with two workers answered and two in flight.
    let first = ScriptedServer::start(slow_fanout_script()).await.unwrap();
    let Some(p) = Project::on(backend, &first.base_url()).await else {
        return;
    };
    fanout_project(&p);
    kill_when(&p, &["run", "greet", "--name", "killed"], async || {
        first.in_flight() == SLOW_WORKERS.len() && members_in(&p, "killed", "completed").await == 2
    })
    .await;
    let before: Vec<Option<u32>> = first.requests().iter().map(worker_of).collect();
    assert_eq!(before.len(), WORKERS as usize, "{before:?}");

    // The rest of the run, on a server that answers everything.
    let second = ScriptedServer::start(fanout_script()).await.unwrap();
    switch_server(&p, &first, &second);
    let out = p.team(&["--json", "resume", "killed"]).await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let resumed: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("the report on stdout: {e}\n{}", dump(&out)));
    assert_eq!(
        resumed, expected,
        "the resumed run's report differs from an uninterrupted run's"
    );

    // Only the calls in flight at the kill are made again, and the lead's synthesis once.
    let after: Vec<Option<u32>> = second.requests().iter().map(worker_of).collect();
    let mut workers: Vec<u32> = after.iter().flatten().copied().collect();
    workers.sort_unstable();
    assert_eq!(workers, SLOW_WORKERS, "worker calls after the resume");
    assert_eq!(
        after.iter().filter(|w| w.is_none()).count(),
        1,
        "one synthesis call: {after:?}"
    );

    let show = p.show("killed").await;
    assert_eq!(show["team"]["status"], "completed", "{show:#}");
    let members: Vec<&Value> = show["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["name"] != "lead")
        .collect();
    assert_eq!(members.len(), WORKERS as usize, "no member added: {show:#}");
    let attempts: Vec<(i64, &str)> = members
        .iter()
        .map(|m| {
            (
                m["attempt"].as_i64().unwrap_or(0),
                m["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [
            (1, "completed"),
            (1, "completed"),
            (2, "completed"),
            (2, "completed")
        ],
        "{show:#}"
    );
}

mod fanout_killed_then_resumed {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        fanout_killed_then_resumed(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        fanout_killed_then_resumed(Backend::Postgres).await;
    }
}

/// A fan-out stopped by its `--timeout` with two workers in flight (exit 124, the team
/// disbanded) is finished by `team run --resume` with the report an uninterrupted run
/// writes, asking only the two workers again.
async fn fanout_timed_out_then_resumed(backend: Backend) {
    let full = ScriptedServer::start(fanout_script()).await.unwrap();
    let Some(base) = Project::on(backend, &full.base_url()).await else {
        return;
    };
    fanout_project(&base);
    let out = base
        .team(&["run", "greet", "--name", "whole", "--format", "json"])
        .await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let expected: Value = serde_json::from_slice(&out.stdout).unwrap();

    let first = ScriptedServer::start(slow_fanout_script()).await.unwrap();
    let Some(p) = Project::on(backend, &first.base_url()).await else {
        return;
    };
    fanout_project(&p);
    let out = p
        .team(&["run", "greet", "--name", "late", "--timeout", "8"])
        .await;
    assert_eq!(code(&out), 124, "{}", dump(&out));
    assert_eq!(p.show("late").await["team"]["status"], "disbanded");

    let second = ScriptedServer::start(fanout_script()).await.unwrap();
    switch_server(&p, &first, &second);
    let out = p
        .team(&[
            "run",
            "--resume",
            "late",
            "--timeout",
            "300",
            "--format",
            "json",
        ])
        .await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let resumed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(resumed, expected);
    let mut workers: Vec<u32> = second.requests().iter().filter_map(worker_of).collect();
    workers.sort_unstable();
    assert_eq!(workers, SLOW_WORKERS, "worker calls after the resume");
}

mod fanout_timed_out_then_resumed {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        fanout_timed_out_then_resumed(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        fanout_timed_out_then_resumed(Backend::Postgres).await;
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Makes `p`'s root a repository whose working tree adds a line with a bug to `app.txt` to
/// the commit tagged `start`.
fn self_review_repo(p: &Project) {
    let root = p.root();
    git(root, &["init", "-q"]);
    git(root, &["config", "user.email", "t@example.invalid"]);
    git(root, &["config", "user.name", "test"]);
    std::fs::write(root.join(".git/info/exclude"), ".team/\ntest-runs.log\n").unwrap();
    std::fs::write(root.join("app.txt"), "hello\n").unwrap();
    git(root, &["add", "app.txt"]);
    git(root, &["commit", "-qm", "init"]);
    git(root, &["tag", "start"]);
    std::fs::write(root.join("app.txt"), "hello\nthis has a bug\n").unwrap();
}

/// The test command of the loop: it counts its runs in `test-runs.log`.
const TEST: &str = "test=echo run >> test-runs.log; grep -q fixed app.txt";

/// `team run self-review-loop` as team `name` (each round's fixes committed).
fn self_review_args(name: &str) -> Vec<&str> {
    vec![
        "run",
        "self-review-loop",
        "--model",
        MODEL,
        "--name",
        name,
        "--set",
        TEST,
        // The diff against the first commit, so that round 2 reviews the fix committed in
        // round 1.
        "--set",
        "base=start",
        "--allow",
        "edit",
        "--commit",
    ]
}

/// Who a self-review request is from: `reliability 1`, `testing 2` (a reviewer and the round
/// of the diff it reviews), `triage`, `fixer`.
fn asker_of(req: &ScriptRequest) -> String {
    let last = req.last_user_or_tool_text();
    let round = if last.contains("+this has a bug") {
        1
    } else {
        2
    };
    if req.system.contains("senior reliability reviewer") {
        format!("reliability {round}")
    } else if req.system.contains("senior testing reviewer") {
        format!("testing {round}")
    } else if req.system.contains("You fix code.") {
        "fixer".into()
    } else {
        "triage".into()
    }
}

/// Where a self-review run is killed: the call in flight then never comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KillAt {
    /// Round 2's review: the testing reviewer's call (after round 1's fix, test, commit).
    Review2,
    /// Round 1's fix: the fixer's second call, after its edit was applied.
    Fix,
}

/// The loop's model: round 1's reviewers find a bug and a nit, the lead fixes the bug, the
/// fixer edits the file; round 2's reviewers find nothing. With `slow`, the call it names
/// never comes back.
fn self_review_script(slow: Option<KillAt>) -> Script {
    let bug = "+this has a bug";
    let fixed = "+this has a fixed";
    let reviewer = |who: &str, diff: &str| Matcher {
        system_contains: Some(format!("senior {who} reviewer")),
        last_message_contains: Some(diff.into()),
        ..Matcher::default()
    };
    let fixer = |turn| Matcher {
        system_contains: Some("You fix code.".into()),
        turn: Some(turn),
        ..Matcher::default()
    };
    let none = json!({"findings": []}).to_string();
    let late = Rule::when(reviewer("testing", fixed), Reply::text(none.clone()));
    let done = Rule::when(
        fixer(2),
        Reply::text("F1: replaced `bug` with `fixed` in app.txt"),
    );
    Script::rules(vec![
        Rule::when(
            reviewer("reliability", bug),
            Reply::text(json!({"findings": [{"severity": "major", "location": "app.txt:2", "finding": "the new line says bug", "suggestion": "say fixed"}]}).to_string()),
        ),
        Rule::when(
            reviewer("testing", bug),
            Reply::text(json!({"findings": [{"severity": "nit", "location": "app.txt:1", "finding": "lowercase greeting", "suggestion": "capitalise"}]}).to_string()),
        ),
        Rule::when(reviewer("reliability", fixed), Reply::text(none)),
        if slow == Some(KillAt::Review2) {
            late.delay_ms(600_000)
        } else {
            late
        },
        Rule::when(
            fixer(1),
            Reply::tool_call(
                "edit_file",
                json!({"path": "app.txt", "old_string": "bug", "new_string": "fixed"}).to_string(),
            ),
        ),
        if slow == Some(KillAt::Fix) {
            done.delay_ms(600_000)
        } else {
            done
        },
        Rule::when(
            Matcher::last_message_contains("Triage the findings"),
            Reply::text(
                json!({"decisions": [
                    {"id": "F1", "decision": "fix", "reason": "a real defect"},
                    {"id": "F2", "decision": "wont_fix", "reason": "a matter of taste"}
                ]})
                .to_string(),
            ),
        ),
    ])
}

async fn self_review_killed_then_resumed(backend: Backend, at: KillAt) {
    // The report of an uninterrupted run.
    let full = ScriptedServer::start(self_review_script(None))
        .await
        .unwrap();
    let Some(base) = Project::on(backend, &full.base_url()).await else {
        return;
    };
    self_review_repo(&base);
    let mut args = self_review_args("whole");
    args.extend(["--format", "json", "--output", "whole.json"]);
    let out = base.team(&args).await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let expected: Value = serde_json::from_str(&base.read("whole.json")).unwrap();
    assert_eq!(
        expected["rounds"].as_array().map(Vec::len),
        Some(1),
        "{expected:#}"
    );
    assert_eq!(base.read("test-runs.log"), "run\n");

    // The interrupted run: killed in round 2's review, after round 1's triage, fix and test,
    // with round 2's testing reviewer in flight; or in round 1's fix, after the fixer's edit,
    // with its second call in flight.
    let first = ScriptedServer::start(self_review_script(Some(at)))
        .await
        .unwrap();
    let Some(p) = Project::on(backend, &first.base_url()).await else {
        return;
    };
    self_review_repo(&p);
    let asked = |who: &str| {
        first
            .requests()
            .iter()
            .filter(|r| asker_of(r) == who)
            .count()
    };
    kill_when(&p, &self_review_args("killed"), async || match at {
        KillAt::Review2 => {
            first.in_flight() == 1 && members_in(&p, "killed", "completed").await == 4
        }
        KillAt::Fix => first.in_flight() == 1 && asked("fixer") == 2,
    })
    .await;
    let mut before: Vec<String> = first.requests().iter().map(asker_of).collect();
    before.sort();
    let (expect_before, expect_after, tested): (&[&str], &[&str], bool) = match at {
        KillAt::Review2 => (
            &[
                "fixer",
                "fixer",
                "reliability 1",
                "reliability 2",
                "testing 1",
                "testing 2",
                "triage",
            ],
            &["testing 2"],
            true,
        ),
        KillAt::Fix => (
            &["fixer", "fixer", "reliability 1", "testing 1", "triage"],
            &["fixer", "reliability 2", "testing 2"],
            false,
        ),
    };
    assert_eq!(before, expect_before, "the requests before the kill");
    assert_eq!(p.root().join("test-runs.log").exists(), tested);
    assert_eq!(p.read("app.txt"), "hello\nthis has a fixed\n");

    let second = ScriptedServer::start(self_review_script(None))
        .await
        .unwrap();
    switch_server(&p, &first, &second);
    let out = p.team(&["--json", "resume", "killed"]).await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let mut resumed: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("the report on stdout: {e}\n{}", dump(&out)));
    // The round's commit is the one the interrupted run made (its hash is the repository's).
    let log = git(p.root(), &["log", "--format=%h %s"]);
    let commits: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("team self-review round"))
        .collect();
    assert_eq!(commits.len(), 1, "one commit: {log}");
    assert!(
        resumed["rounds"][0]["commit"]
            .as_str()
            .is_some_and(|h| commits[0].starts_with(h)),
        "{resumed:#}\n{log}"
    );
    resumed["rounds"][0]["commit"] = expected["rounds"][0]["commit"].clone();
    assert_eq!(
        resumed, expected,
        "the resumed run's report differs from an uninterrupted run's"
    );
    // Only the call in flight at the kill is made again (then what came after it): no
    // review of round 1, no triage, no second edit or commit; the test command ran once.
    let mut after: Vec<String> = second.requests().iter().map(asker_of).collect();
    after.sort();
    assert_eq!(after, expect_after, "the requests after the resume");
    assert_eq!(p.read("test-runs.log"), "run\n", "the test ran once");
    assert_eq!(p.read("app.txt"), "hello\nthis has a fixed\n");
    let show = p.show("killed").await;
    assert_eq!(show["team"]["status"], "completed", "{show:#}");
    assert_eq!(members_in(&p, "killed", "completed").await, 5, "{show:#}");
}

mod self_review_killed_in_round_2_then_resumed {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        self_review_killed_then_resumed(Backend::Sqlite, KillAt::Review2).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        self_review_killed_then_resumed(Backend::Postgres, KillAt::Review2).await;
    }
}

mod self_review_killed_in_its_fix_then_resumed {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        self_review_killed_then_resumed(Backend::Sqlite, KillAt::Fix).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        self_review_killed_then_resumed(Backend::Postgres, KillAt::Fix).await;
    }
}
