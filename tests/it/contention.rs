//! Contention with the real binary: many `team` processes at once on one database.
//!
//! - 8 processes claim from a board of 2000 tasks until nothing is left: every task is claimed
//!   exactly once and no process sees any error but the final "no claimable task" (exit 3).
//! - 8 processes add members of the same agent to one team: all names are distinct; the same
//!   for tasks and their ids.
//! - 8 processes open a brand-new database at once: all succeed.
//! - 8 processes create a team of the same name: exactly one wins, the others get exit 4.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Output;
use std::thread;

use crate::support::*;

/// Worker processes.
const PROCS: usize = 8;
/// Tasks on the board.
const TASKS: i64 = 2000;

/// Runs `make(i)` for `i` in `0..n` on `n` threads and collects the results in order.
fn on_threads<T: Send + 'static>(
    n: usize,
    make: impl Fn(usize) -> Box<dyn FnOnce() -> T + Send>,
) -> Vec<T> {
    let handles: Vec<_> = (0..n).map(|i| thread::spawn(make(i))).collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("worker thread"))
        .collect()
}

fn describe(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Puts `TASKS` tasks on the board of `team` through the store library (one process, so the
/// setup takes seconds; the claims below are what goes through the binary).
fn fill_board(p: &Project, team: &str) {
    let store = team_store::Store::open(&p.db_url()).expect("open the project's store");
    let team = store.resolve_team(team).expect("the team exists");
    for i in 1..=TASKS {
        let t = store
            .add_task(
                &team.id,
                &team_store::NewTask {
                    title: format!("task {i}"),
                    ..Default::default()
                },
            )
            .expect("add a task");
        assert_eq!(t.id, i);
    }
}

/// What one claiming process loop saw.
struct Claims {
    worker: String,
    ids: Vec<(i64, String)>,
    errors: Vec<String>,
    last_stderr: String,
}

fn claim_until_empty(p: &Project) {
    p.create_team("board");
    for w in 1..=PROCS {
        assert_eq!(p.add_member("board", &format!("w{w}")), format!("w{w}"));
    }
    fill_board(p, "board");

    let results: Vec<Claims> = on_threads(PROCS, |i| {
        let worker = format!("w{}", i + 1);
        let mut cmd = p.std_cmd();
        cmd.args(["task", "claim", "board", "--as", &worker]);
        Box::new(move || {
            let mut seen = Claims {
                worker,
                ids: Vec::new(),
                errors: Vec::new(),
                last_stderr: String::new(),
            };
            loop {
                let o = cmd.output().expect("run team task claim");
                match o.status.code() {
                    Some(0) => {
                        let out = stdout(&o);
                        let line = out.strip_suffix('\n').unwrap_or(&out);
                        let (id, title) = line
                            .split_once('\t')
                            .unwrap_or_else(|| panic!("`ID\\tTITLE` expected: {out:?}"));
                        assert!(!line.contains('\n'), "one line per claim: {out:?}");
                        seen.ids
                            .push((id.parse().expect("numeric id"), title.to_owned()));
                        if !o.stderr.is_empty() {
                            seen.errors.push(describe(&o));
                        }
                    }
                    Some(3) => {
                        seen.last_stderr = stderr(&o);
                        return seen;
                    }
                    _ => {
                        // Record and stop: the test fails below with every error seen.
                        seen.errors.push(describe(&o));
                        return seen;
                    }
                }
            }
        })
    });

    let mut owner: BTreeMap<i64, String> = BTreeMap::new();
    let mut errors = Vec::new();
    for r in &results {
        errors.extend(r.errors.iter().map(|e| format!("{}: {e}", r.worker)));
        // The only failure a process ever sees is the last one: nothing left to claim.
        let last = &r.last_stderr;
        assert!(
            last.starts_with("error: no claimable task in team board: ")
                && last.ends_with('\n')
                && last.lines().count() == 1,
            "{}: final stderr was {last:?}",
            r.worker
        );
        for (id, title) in &r.ids {
            assert!(title.starts_with("task "), "{title}");
            if let Some(prev) = owner.insert(*id, r.worker.clone()) {
                panic!("task {id} claimed twice: by {prev} and by {}", r.worker);
            }
        }
    }
    assert!(
        errors.is_empty(),
        "claims saw errors:\n{}",
        errors.join("\n")
    );
    assert_eq!(owner.len(), TASKS as usize, "every task claimed");
    assert_eq!(
        owner.keys().copied().collect::<Vec<_>>(),
        (1..=TASKS).collect::<Vec<_>>()
    );
    let busy = results.iter().filter(|r| !r.ids.is_empty()).count();
    eprintln!(
        "{:?}: {busy} of {PROCS} processes claimed; per process: {:?}",
        p.backend(),
        results.iter().map(|r| r.ids.len()).collect::<Vec<_>>()
    );

    // The board agrees: every task in progress, held by the process that printed it.
    let board = p.json(&["task", "list", "board"]);
    let board = board.as_array().unwrap();
    assert_eq!(board.len(), TASKS as usize);
    for t in board {
        let id = t["id"].as_i64().unwrap();
        assert_eq!(t["status"], "in_progress", "task {id}");
        assert_eq!(
            t["assignee"].as_str(),
            Some(owner[&id].as_str()),
            "task {id}"
        );
    }
    let claimed = p
        .json(&["logs", "board"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "task.claimed")
        .count();
    assert_eq!(claimed, TASKS as usize, "one task.claimed event per task");
}

#[test]
fn eight_processes_claim_2000_tasks_exactly_once_sqlite() {
    claim_until_empty(&Project::sqlite());
}

#[test]
fn eight_processes_claim_2000_tasks_exactly_once_postgres() {
    if let Some(p) = Project::pg() {
        claim_until_empty(&p);
    }
}

/// 8 processes each run `team task add` 10 times at once: the 80 ids are exactly 1..=80.
fn add_tasks_concurrently(p: &Project) {
    const EACH: usize = 10;
    p.create_team("busy");
    let ids: Vec<Vec<i64>> = on_threads(PROCS, |w| {
        let cmds: Vec<std::process::Command> = (0..EACH)
            .map(|k| {
                let mut c = p.std_cmd();
                c.args(["task", "add", "busy", &format!("task {w}.{k}")]);
                c
            })
            .collect();
        Box::new(move || {
            cmds.into_iter()
                .map(|mut c| {
                    let o = c.output().expect("run team task add");
                    assert!(o.status.success(), "task add failed: {}", describe(&o));
                    stdout(&o)
                        .trim()
                        .parse::<i64>()
                        .expect("task add prints an id")
                })
                .collect()
        })
    });
    let all: BTreeSet<i64> = ids.iter().flatten().copied().collect();
    assert_eq!(all.len(), PROCS * EACH, "no id handed out twice: {ids:?}");
    assert_eq!(all, (1..=(PROCS * EACH) as i64).collect(), "ids are 1..=80");
    let board = p.json(&["task", "list", "busy"]);
    let titles: BTreeSet<String> = strings(&board, "title").into_iter().collect();
    assert_eq!(titles.len(), PROCS * EACH, "every add is on the board once");
}

#[test]
fn eight_processes_add_tasks_with_distinct_ids_sqlite() {
    add_tasks_concurrently(&Project::sqlite());
}

#[test]
fn eight_processes_add_tasks_with_distinct_ids_postgres() {
    if let Some(p) = Project::pg() {
        add_tasks_concurrently(&p);
    }
}

fn add_members_concurrently(p: &Project) {
    const EACH: usize = 10;
    p.create_team("crowd");
    let names: Vec<Vec<String>> = on_threads(PROCS, |_| {
        let cmds: Vec<std::process::Command> = (0..EACH)
            .map(|_| {
                let mut c = p.std_cmd();
                c.args(["member", "add", "crowd", "worker"]);
                c
            })
            .collect();
        Box::new(move || {
            cmds.into_iter()
                .map(|mut c| {
                    let o = c.output().expect("run team member add");
                    assert!(o.status.success(), "member add failed: {}", describe(&o));
                    stdout(&o).trim().to_owned()
                })
                .collect()
        })
    });
    let printed: Vec<String> = names.into_iter().flatten().collect();
    let distinct: BTreeSet<&str> = printed.iter().map(String::as_str).collect();
    assert_eq!(
        distinct.len(),
        PROCS * EACH,
        "duplicate names in {printed:?}"
    );
    let expected: BTreeSet<String> = std::iter::once("worker".to_owned())
        .chain((2..=PROCS * EACH).map(|i| format!("worker-{i}")))
        .collect();
    assert_eq!(
        distinct,
        expected.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );
    let listed = p.json(&["member", "list", "crowd"]);
    let listed: BTreeSet<String> = strings(&listed, "name").into_iter().collect();
    assert_eq!(listed.len(), PROCS * EACH + 1);
    assert!(listed.contains("lead"));
    assert!(expected.is_subset(&listed));
}

#[test]
fn eight_processes_add_members_with_distinct_names_sqlite() {
    add_members_concurrently(&Project::sqlite());
}

#[test]
fn eight_processes_add_members_with_distinct_names_postgres() {
    if let Some(p) = Project::pg() {
        add_members_concurrently(&p);
    }
}

/// 8 processes run `team create NAME` at once, for a few names in turn: exactly one wins
/// each time, every other one gets the documented conflict (exit 4), never a raw database
/// error.
fn create_same_name_concurrently(p: &Project) {
    for round in 0..5 {
        let name = format!("race{round}");
        let outs: Vec<Output> = on_threads(PROCS, |_| {
            let mut c = p.std_cmd();
            c.args(["create", &name]);
            Box::new(move || c.output().expect("run team create"))
        });
        let won = outs.iter().filter(|o| o.status.success()).count();
        assert_eq!(won, 1, "exactly one `team create {name}` wins");
        for o in outs.iter().filter(|o| !o.status.success()) {
            assert_eq!(o.status.code(), Some(4), "{}", describe(o));
            assert!(
                // The id of the winner is named when the loser sees it committed; a loser that
                // raced it to the unique index cannot read it.
                stderr(o).starts_with(&format!(
                    "error: an active team named {name} already exists"
                )),
                "{}",
                describe(o)
            );
        }
    }
    assert_eq!(p.json(&["list"]).as_array().unwrap().len(), 5);
}

#[test]
fn eight_processes_create_the_same_team_one_wins_sqlite() {
    create_same_name_concurrently(&Project::sqlite());
}

#[test]
fn eight_processes_create_the_same_team_one_wins_postgres() {
    if let Some(p) = Project::pg() {
        create_same_name_concurrently(&p);
    }
}

/// 8 processes are the first to open a brand-new database at the same time: all succeed
/// (migrations are applied once, the others wait).
fn first_open_concurrently(backend: Backend) {
    for _round in 0..3 {
        let (dir, url, _schema) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = dir.path().join("fresh.db").to_string_lossy().into_owned();
                (dir, url, None)
            }
            Backend::Postgres => {
                let Some(schema) = team_testkit::project::pg_schema() else {
                    return;
                };
                (
                    tempfile::tempdir().unwrap(),
                    schema.url.clone(),
                    Some(schema),
                )
            }
        };
        let outs: Vec<Output> = on_threads(PROCS, |_| {
            let mut c = bare_std_cmd(dir.path());
            c.args(["--db", &url, "--json", "list"]);
            Box::new(move || c.output().expect("run team list"))
        });
        for o in &outs {
            assert!(o.status.success(), "first open failed: {}", describe(o));
            assert_eq!(stdout(o).trim(), "[]");
        }
    }
}

#[test]
fn eight_processes_open_a_new_database_at_once_sqlite() {
    first_open_concurrently(Backend::Sqlite);
}

#[test]
fn eight_processes_open_a_new_database_at_once_postgres() {
    first_open_concurrently(Backend::Postgres);
}
