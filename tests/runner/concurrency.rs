//! 25 background members spawned from the shell with `max_agents = 5`: never more than 5
//! running at once per runner (measured by the agents themselves with a counter file under
//! `flock`), all 25 complete, FIFO start order, and no member run twice; with one runner and
//! with two runners serving the same project.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::support::{Backend, Project, eventually, rstest, stderr, stdout};

const SLOTS: usize = 5;
const MEMBERS: usize = 25;

/// Each run: under the lock, count itself in (`cur`), log `MEMBER NS PPID CUR` to
/// `starts.log`; wait for the `go` file (so the first wave provably fills every slot); sleep;
/// count itself out under the lock.
const WORKER: &str = r#"
exec 9>>"$ROOT/conc.lock"
flock 9
n=$(( $(cat "$ROOT/cur" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$ROOT/cur"
echo "$TEAM_MEMBER $(date +%s%N) $PPID $n" >> "$ROOT/starts.log"
flock -u 9
while [ ! -e "$ROOT/go" ]; do sleep 0.05; done
sleep 0.2
flock 9
n=$(( $(cat "$ROOT/cur") - 1 ))
echo "$n" > "$ROOT/cur"
flock -u 9
echo "done $TEAM_MEMBER"
"#;

/// One line of `starts.log`.
struct Start {
    member: String,
    runner_pid: i32,
    running: usize,
}

fn starts(p: &Project) -> Vec<Start> {
    p.lines("starts.log")
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 4, "bad starts.log line {l:?}");
            Start {
                member: f[0].to_owned(),
                runner_pid: f[2].parse().unwrap(),
                running: f[3].parse().unwrap(),
            }
        })
        .collect()
}

fn scenario(p: &Project, runners: usize) {
    let limit = SLOTS * runners;
    p.config(&format!("[team]\nmax_agents = {SLOTS}\n"));
    p.agent("worker", WORKER);
    p.ok(&["create", "crew"]);
    // The first runner takes its limit from the config file, the second from the flag.
    let mut procs = vec![p.start_runner("runner-1", &[])];
    if runners > 1 {
        procs.push(p.start_runner("runner-2", &["--max-agents", &SLOTS.to_string()]));
    }
    let runner_pids: HashSet<i32> = procs.iter().map(|r| r.pid()).collect();

    let mut spawned = Vec::new();
    for i in 0..MEMBERS {
        let s = p.spawn_bg("crew", "worker", &format!("job {i}"), &[]);
        assert_eq!(
            s.runner_pid, None,
            "a runner was serving: spawn must not start another"
        );
        spawned.push(s.name);
    }
    let distinct: HashSet<&String> = spawned.iter().collect();
    assert_eq!(distinct.len(), MEMBERS, "disambiguated names: {spawned:?}");

    // First wave: the slots fill up, and no more start while they are all held.
    eventually(Duration::from_secs(30), "the first wave to start", || {
        (p.lines("starts.log").len() >= limit).then_some(())
    });
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        p.lines("starts.log").len(),
        limit,
        "more than {limit} members started while {limit} slots were held"
    );
    let statuses: Vec<String> = p
        .members("crew")
        .iter()
        .filter(|m| m["role"] == "member")
        .map(|m| m["status"].as_str().unwrap().to_owned())
        .collect();
    let count = |s: &str| statuses.iter().filter(|x| *x == s).count();
    assert_eq!(count("running"), limit, "{statuses:?}");
    assert_eq!(count("pending"), MEMBERS - limit, "{statuses:?}");
    // The first wave is the first `limit` members spawned (FIFO).
    let first: HashSet<String> = starts(p).into_iter().map(|s| s.member).collect();
    let expected: HashSet<String> = spawned[..limit].iter().cloned().collect();
    assert_eq!(first, expected, "the first wave is not the oldest members");

    std::fs::write(p.path("go"), "").unwrap();
    let o = p.run(&["wait", "crew", "--timeout", "120"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "team wait: all members should complete\n{}{}",
        stdout(&o),
        stderr(&o)
    );

    let log = starts(p);
    // Each member ran exactly once.
    assert_eq!(log.len(), MEMBERS, "runs: {}", p.read("starts.log"));
    let mut seen = HashMap::new();
    for s in &log {
        *seen.entry(s.member.as_str()).or_insert(0) += 1;
    }
    for name in &spawned {
        assert_eq!(seen.get(name.as_str()), Some(&1), "{name} ran {seen:?}");
    }
    // Never more than the limit at once, by the agents' own count.
    let peak = log.iter().map(|s| s.running).max().unwrap();
    assert_eq!(
        peak, limit,
        "peak concurrency {peak}, limit {limit} (a peak below the limit means the slots were not used)"
    );
    assert_eq!(p.read("cur").trim(), "0");
    // FIFO: a member is claimed only after every older one was claimed, and only when a slot
    // is free, so at most `limit - 1` older members can start after it.
    let pos: HashMap<&str, usize> = spawned
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let order: Vec<usize> = log.iter().map(|s| pos[s.member.as_str()]).collect();
    for (i, &k) in order.iter().enumerate() {
        let older_after = order[i + 1..].iter().filter(|&&j| j < k).count();
        assert!(
            older_after < limit,
            "member #{k} started before {older_after} older members: start order {order:?}"
        );
    }
    // The agents ran under our runners, and with two runners both took a share.
    let used: HashSet<i32> = log.iter().map(|s| s.runner_pid).collect();
    assert!(
        used.is_subset(&runner_pids),
        "agents ran under {used:?}, runners are {runner_pids:?}"
    );
    assert_eq!(used.len(), runners, "runners used: {used:?}");
    // Every member completed with its own output.
    for m in p.members("crew").iter().filter(|m| m["role"] == "member") {
        assert_eq!(m["status"], "completed", "{m}");
        assert_eq!(
            m["result"].as_str().unwrap().trim(),
            format!("done {}", m["name"].as_str().unwrap())
        );
    }
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn one_runner_never_exceeds_max_agents(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    scenario(p, 1);
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn two_runners_share_the_queue_without_running_a_member_twice(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    scenario(p, 2);
}
