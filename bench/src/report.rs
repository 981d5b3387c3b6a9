//! Renders BENCHMARKS.md from the results directory written by `bench/run.sh`:
//!
//! - `machine.json`: date, host, CPU, cores, memory, kernel, rustc, commit, command;
//! - `fanout.jsonl`: one line per `team run fanout` (N, wall from `/usr/bin/time -v` and from
//!   the shell, user and sys CPU, peak RSS, the server's max in flight);
//! - `<benchmark>-<variant>.json`: what a `team-bench` subcommand printed, or
//!   `<benchmark>-<variant>.err` when it failed;
//! - the findings (Markdown, `bench/findings.md`) are appended as they are.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::common::{percentile, summarize};

/// Settings of [`run`].
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// The results directory.
    #[arg(long)]
    pub results: PathBuf,
    /// Where to write the Markdown.
    #[arg(long)]
    pub out: PathBuf,
    /// Markdown appended under "Findings".
    #[arg(long)]
    pub findings: Option<PathBuf>,
}

/// The fan-out latency and its ideal (two sequential model calls).
const FANOUT_L_MS: f64 = 200.0;

struct Results {
    dir: PathBuf,
}

impl Results {
    fn json(&self, name: &str) -> Option<Value> {
        let text = std::fs::read_to_string(self.dir.join(format!("{name}.json"))).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Why a benchmark has no result: its error file, or "not run".
    fn why_missing(&self, name: &str) -> String {
        match std::fs::read_to_string(self.dir.join(format!("{name}.err"))) {
            Ok(e) => {
                let line = e.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
                format!("not measured: failed ({})", line.trim())
            }
            Err(_) => "not measured (skipped)".into(),
        }
    }
}

fn f(v: &Value, path: &[&str]) -> Option<f64> {
    let mut cur = v;
    for k in path {
        cur = cur.get(k)?;
    }
    cur.as_f64()
}

struct Row {
    bench: String,
    target: String,
    measured: String,
    verdict: &'static str,
}

const MET: &str = "met";
const MISSED: &str = "**missed**";
const INFO: &str = "(info)";
const UNDECIDED: &str = "undecided (target between the bounds)";
const NONE: &str = "—";

fn verdict(ok: bool) -> &'static str {
    if ok { MET } else { MISSED }
}

#[derive(Default, Clone)]
struct FanoutN {
    wall: Vec<f64>,
    wall_hr: Vec<f64>,
    cpu: Vec<f64>,
    rss_mb: Vec<f64>,
    in_flight: Vec<f64>,
    max_agents: f64,
    failed: usize,
}

fn median(v: &[f64]) -> f64 {
    summarize(v).p50
}

fn fanout(dir: &Path) -> BTreeMap<u64, FanoutN> {
    let mut by_n: BTreeMap<u64, FanoutN> = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(dir.join("fanout.jsonl")) else {
        return by_n;
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(n) = v.get("n").and_then(Value::as_u64) else {
            continue;
        };
        let e = by_n.entry(n).or_default();
        e.max_agents = f(&v, &["max_agents"]).unwrap_or(n as f64);
        if v.get("exit").and_then(Value::as_i64) != Some(0) {
            e.failed += 1;
            continue;
        }
        if let Some(w) = f(&v, &["wall_s"]) {
            e.wall.push(w);
        }
        if let Some(w) = f(&v, &["wall_hr_s"]) {
            e.wall_hr.push(w);
        }
        if let (Some(u), Some(s)) = (f(&v, &["user_s"]), f(&v, &["sys_s"])) {
            e.cpu.push(u + s);
        }
        if let Some(r) = f(&v, &["rss_kb"]) {
            e.rss_mb.push(r / 1024.0);
        }
        if let Some(m) = f(&v, &["max_in_flight"]) {
            e.in_flight.push(m);
        }
    }
    by_n
}

fn join(parts: &[String]) -> String {
    if parts.is_empty() {
        "not measured".into()
    } else {
        parts.join(" · ")
    }
}

fn fanout_rows(by_n: &BTreeMap<u64, FanoutN>, rows: &mut Vec<Row>) {
    let ideal = 2.0 * FANOUT_L_MS / 1e3;
    let measured: Vec<(&u64, &FanoutN)> = by_n.iter().filter(|(_, e)| !e.wall.is_empty()).collect();
    // Wall / ideal.
    let mut parts = Vec::new();
    let mut ok = true;
    let mut any_target = false;
    for (n, e) in &measured {
        let r = median(&e.wall) / ideal;
        parts.push(format!("N={n}: **{r:.2}** ({:.2} s)", median(&e.wall)));
        if **n <= 200 {
            any_target = true;
            ok &= r <= 1.15;
        }
    }
    rows.push(Row {
        bench: "fan-out N = 1…1000 at L = 200 ms: whole-process wall / ideal (2·L = 0.4 s)".into(),
        target: "≤ 1.15 at N ≤ 200".into(),
        measured: join(&parts),
        verdict: if any_target { verdict(ok) } else { NONE },
    });
    // RSS and CPU at N = 200 (others for information).
    let at = |n: u64| {
        measured
            .iter()
            .find(|(k, _)| **k == n)
            .map(|(_, e)| (*e).clone())
    };
    let others = |pick: &dyn Fn(&FanoutN) -> String| -> String {
        measured
            .iter()
            .filter(|(n, _)| **n != 200)
            .map(|(n, e)| format!("N={n}: {}", pick(e)))
            .collect::<Vec<_>>()
            .join(" · ")
    };
    let rss = |e: &FanoutN| format!("{:.1} MB", median(&e.rss_mb));
    let cpu = |e: &FanoutN| format!("{:.2} s", median(&e.cpu));
    rows.push(match at(200) {
        Some(e) => Row {
            bench: "same: peak RSS (`/usr/bin/time -v`)".into(),
            target: "≤ 25 MB at N = 200".into(),
            measured: format!("N=200: **{}** ({})", rss(&e), others(&rss)),
            verdict: verdict(median(&e.rss_mb) <= 25.0),
        },
        None => Row {
            bench: "same: peak RSS".into(),
            target: "≤ 25 MB at N = 200".into(),
            measured: format!("N=200 not measured ({})", others(&rss)),
            verdict: NONE,
        },
    });
    rows.push(match at(200) {
        Some(e) => Row {
            bench: "same: CPU user + sys".into(),
            target: "≤ 0.3 s at N = 200".into(),
            measured: format!("N=200: **{}** ({})", cpu(&e), others(&cpu)),
            verdict: verdict(median(&e.cpu) <= 0.3),
        },
        None => Row {
            bench: "same: CPU user + sys".into(),
            target: "≤ 0.3 s at N = 200".into(),
            measured: format!("N=200 not measured ({})", others(&cpu)),
            verdict: NONE,
        },
    });
    let mut parts = Vec::new();
    let mut ok = true;
    for (n, e) in &measured {
        let want = (**n as f64).min(e.max_agents);
        let lo = e.in_flight.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = e.in_flight.iter().copied().fold(0.0, f64::max);
        ok &= lo == want && hi == want;
        let seen = if lo == hi {
            format!("{lo}")
        } else {
            format!("{lo}–{hi}")
        };
        parts.push(format!("N={n}: {seen} (want {want})"));
    }
    rows.push(Row {
        bench: "same: max requests in flight seen by the server".into(),
        target: "= min(N, max_agents)".into(),
        measured: join(&parts),
        verdict: if measured.is_empty() {
            NONE
        } else {
            verdict(ok)
        },
    });
}

/// `10000` as `10,000`.
fn thousands(v: f64) -> String {
    let digits = format!("{v:.0}");
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `team send` and `team inbox` process times on PostgreSQL against SQLite's (issue 19:
/// within 2 ms), from `cli_ops-<backend>.json`: with a `team runner` on the host (through its
/// relay), and beside them the same commands opening the database themselves
/// (`direct_*_ms`, when the results have them).
fn cli_rows(r: &Results, rows: &mut Vec<Row>) {
    let (lite, pg) = (r.json("cli_ops-sqlite"), r.json("cli_ops-postgres"));
    for (key, what) in [
        ("send_ms", "`team send`"),
        ("inbox_ms", "`team inbox` (lease, print, acknowledge)"),
    ] {
        let bench = format!(
            "{what} process time, spawn to exit, median, with a `team runner` on the host (its relay): PostgreSQL against SQLite"
        );
        let direct_key = format!("direct_{key}");
        let direct = |l: &Value, p: &Value| {
            let (a, b) = (f(l, &[&direct_key, "p50"])?, f(p, &[&direct_key, "p50"])?);
            Some(format!(
                "; direct (`TEAM_RELAY=0`, the command opens the database): PostgreSQL {}, SQLite {} ({:+.2} ms)",
                ms(b),
                ms(a),
                b - a
            ))
        };
        let target = "within 2 ms of SQLite's".to_owned();
        rows.push(match (&lite, &pg) {
            (Some(l), Some(p)) => {
                let (a, b) = (
                    f(l, &[key, "p50"]).unwrap_or(f64::NAN),
                    f(p, &[key, "p50"]).unwrap_or(f64::NAN),
                );
                Row {
                    bench,
                    target,
                    measured: format!(
                        "PostgreSQL **{}** (p90 {}), SQLite {} (p90 {}): **{:+.2} ms**; n = {}{}",
                        ms(b),
                        ms(f(p, &[key, "p90"]).unwrap_or(f64::NAN)),
                        ms(a),
                        ms(f(l, &[key, "p90"]).unwrap_or(f64::NAN)),
                        b - a,
                        f(p, &[key, "n"]).unwrap_or(0.0),
                        direct(l, p).unwrap_or_default()
                    ),
                    verdict: verdict(b - a <= 2.0),
                }
            }
            _ => Row {
                bench,
                target,
                measured: r.why_missing(if lite.is_none() {
                    "cli_ops-sqlite"
                } else {
                    "cli_ops-postgres"
                }),
                verdict: NONE,
            },
        });
    }
}

/// The ideal wall of a fan-out of `n` members against a server that spends `cpu_us` µs of
/// serial CPU per request on one thread (a zero-overhead client): the `n` requests served one
/// after the other, the lead's synthesis call after them, and two latencies L:
/// 2·L + (n + 1)·c, in seconds. With `cpu_us = 0` it is the plain fan-out's 2·L.
fn cpu_bound_ideal_s(n: f64, cpu_us: f64) -> f64 {
    2.0 * FANOUT_L_MS / 1e3 + (n + 1.0) * cpu_us / 1e6
}

/// The N = 1000 fan-out against a CPU-hungry server, per engine (`fanout_cpu.jsonl`), judged
/// against [`cpu_bound_ideal_s`]; wall / 2·L is shown beside it.
fn fanout_cpu_rows(r: &Results, rows: &mut Vec<Row>) {
    let two_l = 2.0 * FANOUT_L_MS / 1e3;
    let text = std::fs::read_to_string(r.dir.join("fanout_cpu.jsonl")).unwrap_or_default();
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    for (backend, label) in [("sqlite", "SQLite"), ("postgres", "PostgreSQL")] {
        let runs: Vec<&Value> = lines
            .iter()
            .filter(|v| v.get("backend").and_then(Value::as_str) == Some(backend))
            .collect();
        let cpu_us = runs.first().and_then(|v| f(v, &["cpu_us"])).unwrap_or(0.0);
        let n = runs.first().and_then(|v| f(v, &["n"])).unwrap_or(1000.0);
        let ideal = cpu_bound_ideal_s(n, cpu_us);
        let bench = format!(
            "fan-out N = {n:.0} against a CPU-hungry server ({cpu_us:.0} µs of CPU per request, one thread), L = 200 ms: wall / ideal (2·L + (N+1)·c = {ideal:.3} s), max in flight ({label})"
        );
        let target = "≤ 1.15, 1000 in flight".to_owned();
        let ok: Vec<&&Value> = runs
            .iter()
            .filter(|v| v.get("exit").and_then(Value::as_i64) == Some(0))
            .collect();
        if ok.is_empty() {
            rows.push(Row {
                bench,
                target,
                measured: if runs.is_empty() {
                    "not measured (skipped)".into()
                } else {
                    format!("not measured: {} run(s) failed", runs.len())
                },
                verdict: NONE,
            });
            continue;
        }
        let walls: Vec<f64> = ok.iter().filter_map(|v| f(v, &["wall_hr_s"])).collect();
        let flights: Vec<f64> = ok.iter().filter_map(|v| f(v, &["max_in_flight"])).collect();
        // The server's measured CPU per request (its parsing and TCP on top of the c it burns).
        let per_request: Vec<f64> = ok
            .iter()
            .filter_map(|v| Some(f(v, &["llm_cpu_s"])? * 1e6 / f(v, &["requests"])?.max(1.0)))
            .collect();
        let wall = median(&walls);
        // Beside the goal's yardstick (c = the configured cost), the ideal with the server's
        // measured CPU per request s: what no client can beat against this server.
        let server = if per_request.is_empty() {
            String::new()
        } else {
            let s_us = median(&per_request);
            let measured_ideal = cpu_bound_ideal_s(n, s_us);
            format!(
                "; the server's CPU {s_us:.0} µs per request: {:.2} × 2·L + (N+1)·s = {measured_ideal:.3} s",
                wall / measured_ideal
            )
        };
        let lo = flights.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = flights.iter().copied().fold(0.0, f64::max);
        rows.push(Row {
            bench,
            target,
            measured: format!(
                "**{:.2}** ({wall:.2} s median of {} runs: {}; {:.2} × 2·L); in flight **{lo:.0}–{hi:.0}**{server}",
                wall / ideal,
                walls.len(),
                walls
                    .iter()
                    .map(|w| format!("{w:.2} s"))
                    .collect::<Vec<_>>()
                    .join(", "),
                wall / two_l,
            ),
            verdict: verdict(wall / ideal <= 1.15 && lo >= n),
        });
    }
}

fn ms(v: f64) -> String {
    if v.abs() < 10.0 {
        format!("{v:.2} ms")
    } else {
        format!("{v:.1} ms")
    }
}

/// A latency row measured between two bounds (keys `lower` and `upper` of the result, each a
/// summary with `p50` and `p99`): met when the upper bound meets the target, missed when even
/// the lower bound misses it, undecided in between.
struct Bounds<'a> {
    name: &'a str,
    bench: String,
    target: (f64, f64),
    lower: (&'a str, &'a str),
    upper: (&'a str, &'a str),
    extra: &'a dyn Fn(&Value) -> String,
    /// The target is another row's (the issue sets it for the default SQLite only): the
    /// numbers are reported, with no verdict.
    info: bool,
}

fn p50_p99(r: &Results, rows: &mut Vec<Row>, b: &Bounds<'_>) {
    let tgt = if b.info {
        "(target is for the default SQLite)".to_owned()
    } else {
        format!("≤ {} ms / ≤ {} ms", b.target.0, b.target.1)
    };
    let Some(v) = r.json(b.name) else {
        rows.push(Row {
            bench: b.bench.clone(),
            target: tgt,
            measured: r.why_missing(b.name),
            verdict: NONE,
        });
        return;
    };
    let get = |key: &str, p: &str| f(&v, &[key, p]).unwrap_or(f64::NAN);
    let (lo50, lo99) = (get(b.lower.0, "p50"), get(b.lower.0, "p99"));
    let (hi50, hi99) = (get(b.upper.0, "p50"), get(b.upper.0, "p99"));
    let meets = |p50: f64, p99: f64| p50 <= b.target.0 && p99 <= b.target.1;
    let verdict = if b.info {
        INFO
    } else if meets(hi50, hi99) {
        MET
    } else if !meets(lo50, lo99) {
        MISSED
    } else {
        UNDECIDED
    };
    let n = get(b.upper.0, "n");
    rows.push(Row {
        bench: b.bench.clone(),
        target: tgt,
        measured: format!(
            "between **{} / {}** ({}) and **{} / {}** ({}); n = {n}{}",
            ms(lo50),
            ms(lo99),
            b.lower.1,
            ms(hi50),
            ms(hi99),
            b.upper.1,
            (b.extra)(&v)
        ),
        verdict,
    });
}

fn rows(r: &Results, by_n: &BTreeMap<u64, FanoutN>) -> Vec<Row> {
    let mut rows = Vec::new();
    fanout_rows(by_n, &mut rows);

    for (backend, label, info) in [
        ("sqlite", "SQLite", false),
        ("postgres", "PostgreSQL", true),
    ] {
        let name = format!("cold_start-{backend}");
        let bench = format!("cold start: `team list` on a database with 100 teams ({label})");
        let target = if info {
            "(target is for the default SQLite)"
        } else {
            "≤ 15 ms"
        };
        rows.push(match r.json(&name) {
            Some(v) => {
                let p50 = f(&v, &["ms", "p50"]).unwrap_or(f64::NAN);
                Row {
                    bench,
                    target: target.into(),
                    measured: format!(
                        "**{}** median (p90 {}, min {}; {} runs)",
                        ms(p50),
                        ms(f(&v, &["ms", "p90"]).unwrap_or(f64::NAN)),
                        ms(f(&v, &["ms", "min"]).unwrap_or(f64::NAN)),
                        f(&v, &["runs"]).unwrap_or(0.0)
                    ),
                    verdict: if info { INFO } else { verdict(p50 <= 15.0) },
                }
            }
            None => Row {
                bench,
                target: target.into(),
                measured: r.why_missing(&name),
                verdict: NONE,
            },
        });
    }

    let send_call = |v: &Value| {
        format!(
            "; the send itself takes {} (median)",
            ms(f(v, &["send_call_ms", "p50"]).unwrap_or(f64::NAN))
        )
    };
    let send_time = |v: &Value| {
        format!(
            "; `team send` itself runs {} (median, spawn to exit)",
            ms(f(v, &["team_send_process_ms", "p50"]).unwrap_or(f64::NAN))
        )
    };
    for (backend, label) in [("sqlite", "SQLite"), ("postgres", "PostgreSQL")] {
        p50_p99(
            r,
            &mut rows,
            &Bounds {
                name: &format!("wake_local-{backend}"),
                bench: format!(
                    "message wake-up, send → waiting member runs, in one process, p50 / p99 ({label})"
                ),
                target: (1.0, 5.0),
                lower: (
                    "from_return_ms",
                    "lower bound: from the send's return, after its commit",
                ),
                upper: (
                    "latency_ms",
                    "upper bound: from the send call, its transaction included",
                ),
                extra: &send_call,
                // The in-process row names no engine (its `team send` and claims
                // rows name both): its target is for the default, SQLite.
                info: backend == "postgres",
            },
        );
    }
    for (backend, label) in [("sqlite", "SQLite"), ("postgres", "PostgreSQL")] {
        p50_p99(
            r,
            &mut rows,
            &Bounds {
                name: &format!("wake_send-{backend}"),
                bench: format!("same, `team send` from another process, p50 / p99 ({label})"),
                target: (20.0, 50.0),
                lower: ("from_exit_ms", "lower bound: from the sender's exit"),
                upper: (
                    "latency_ms",
                    "upper bound: from the message's `created_at_ms`",
                ),
                extra: &send_time,
                info: false,
            },
        );
    }
    for (backend, label, batch) in [
        ("sqlite", "SQLite", false),
        ("postgres", "PostgreSQL", false),
        ("sqlite", "SQLite", true),
        ("postgres", "PostgreSQL", true),
    ] {
        let name = if batch {
            format!("claims_batch-{backend}")
        } else {
            format!("claims-{backend}")
        };
        let bench = if batch {
            format!(
                "same, up to 10 tasks per claim (`Store::claim_tasks`, `team task claim --count 10`) ({label})"
            )
        } else {
            format!("task claims per second, 8 processes on one board ({label})")
        };
        // Issue 19 asks 10,000 /s of PostgreSQL (one statement per claim).
        let goal = if backend == "postgres" {
            10_000.0
        } else {
            2_000.0
        };
        let target = format!("≥ {} /s, each task once", thousands(goal));
        rows.push(match r.json(&name) {
            Some(v) => {
                let rate = f(&v, &["claims_per_s"]).unwrap_or(0.0);
                let once = v.get("each_once").and_then(Value::as_bool) == Some(true);
                Row {
                    bench,
                    target,
                    measured: format!(
                        "**{rate:.0} /s** ({} tasks in {:.2} s by {} processes; each once: {}; errors: {})",
                        f(&v, &["tasks"]).unwrap_or(0.0),
                        f(&v, &["seconds"]).unwrap_or(0.0),
                        f(&v, &["procs"]).unwrap_or(0.0),
                        if once { "yes" } else { "**no**" },
                        f(&v, &["errors"]).unwrap_or(0.0)
                    ),
                    verdict: verdict(rate >= goal && once),
                }
            }
            None => Row {
                bench,
                target,
                measured: r.why_missing(&name),
                verdict: NONE,
            },
        });
    }
    cli_rows(r, &mut rows);
    fanout_cpu_rows(r, &mut rows);
    for (kind, label, info) in [
        ("llm", "LLM members", false),
        ("command", "command members (`cat`)", true),
    ] {
        let name = format!("idle_rss-{kind}");
        let bench = format!("1,000 idle persistent members in one runner: RSS ({label})");
        let target = if info {
            "(same target, other member kind)"
        } else {
            "≤ 100 MB"
        };
        rows.push(match r.json(&name) {
            Some(v) => {
                let rss = f(&v, &["rss_mb"]).unwrap_or(f64::NAN);
                Row {
                    bench,
                    target: target.into(),
                    measured: format!(
                        "**{rss:.1} MB** (peak {:.1} MB; {} threads; idle CPU {:.1} % of a core; all idle after {:.1} s)",
                        f(&v, &["hwm_mb"]).unwrap_or(f64::NAN),
                        f(&v, &["threads"]).unwrap_or(0.0),
                        f(&v, &["cpu_idle_pct"]).unwrap_or(f64::NAN),
                        f(&v, &["seconds_to_all_idle"]).unwrap_or(f64::NAN)
                    ),
                    verdict: if info { INFO } else { verdict(rss <= 100.0) },
                }
            }
            None => Row {
                bench,
                target: target.into(),
                measured: r.why_missing(&name),
                verdict: NONE,
            },
        });
    }
    hosts_rows(r, &mut rows);
    rows
}

/// The rows of issue 19 (`team-bench hosts`): scaling with hosts, cross-host wake-up,
/// recovery after a host kill (PostgreSQL, simulated hosts).
fn hosts_rows(r: &Results, rows: &mut Vec<Row>) {
    let name = "hosts_scaling-postgres";
    match r.json(name) {
        Some(v) => {
            let (members, work) = (
                f(&v, &["members"]).unwrap_or(0.0),
                f(&v, &["work_ms"]).unwrap_or(0.0) / 1e3,
            );
            for row in v
                .get("rows")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let hosts = f(row, &["hosts"]).unwrap_or(0.0);
                let wall = f(row, &["wall_ms"]).unwrap_or(f64::NAN);
                let ideal = f(row, &["ideal_ms"]).unwrap_or(f64::NAN);
                rows.push(Row {
                    bench: format!(
                        "scaling: {members} command members of {work} s, max_agents = {} per runner, {hosts} host(s) (PostgreSQL)",
                        f(&v, &["max_agents"]).unwrap_or(0.0)
                    ),
                    target: format!("wall within 15 % of ideal {}", ms(ideal)),
                    measured: format!(
                        "**{}** ({:.2} × ideal; members per host {})",
                        ms(wall),
                        wall / ideal,
                        row.get("members_per_host").map(Value::to_string).unwrap_or_default()
                    ),
                    verdict: verdict(wall <= ideal * 1.15),
                });
            }
        }
        None => rows.push(Row {
            bench: "scaling with 1, 2, 3 hosts (PostgreSQL)".into(),
            target: "wall within 15 % of ideal".into(),
            measured: r.why_missing(name),
            verdict: NONE,
        }),
    }
    let name = "hosts_wake-postgres";
    let bench = "cross-host wake-up: a send on one host → idle member on another runs, p50 / p99 (PostgreSQL)".to_owned();
    rows.push(match r.json(name) {
        Some(v) => {
            let (p50, p99) = (
                f(&v, &["latency_ms", "p50"]).unwrap_or(f64::NAN),
                f(&v, &["latency_ms", "p99"]).unwrap_or(f64::NAN),
            );
            Row {
                bench,
                target: "≤ 10 / 30 ms".into(),
                measured: format!(
                    "**{} / {}** from the send's commit to the start of the member's turn (its `sh` start included); n = {}",
                    ms(p50),
                    ms(p99),
                    f(&v, &["samples"]).unwrap_or(0.0)
                ),
                verdict: verdict(p50 <= 10.0 && p99 <= 30.0),
            }
        }
        None => Row {
            bench,
            target: "≤ 10 / 30 ms".into(),
            measured: r.why_missing(name),
            verdict: NONE,
        },
    });
    let name = "hosts_recovery-postgres";
    let bench =
        "recovery after a host kill: its members running again elsewhere (PostgreSQL)".to_owned();
    rows.push(match r.json(name) {
        Some(v) => {
            let hb = f(&v, &["heartbeat_ms"]).unwrap_or(f64::NAN);
            let work = f(&v, &["work_ms"]).unwrap_or(f64::NAN);
            let detected = f(&v, &["detected_ms"]).unwrap_or(f64::NAN);
            let recovered = f(&v, &["recovered_ms"]).unwrap_or(f64::NAN);
            // The retried members ran their work again: what recovery took is the rest.
            let restart = recovered - work;
            let goal = 3.0 * hb + 1000.0;
            Row {
                bench,
                target: format!("≤ 3 heartbeat periods + 1 s = {}", ms(goal)),
                measured: format!(
                    "**{}** (lost noticed after {}; the last retried member running again {} after the kill and ended {} after it, {} of it its own work; heartbeat {}; {} member(s) on the killed host; {} members on {} hosts of max_agents {} each, so the survivors have free slots; not completed: {})",
                    ms(restart),
                    ms(detected),
                    ms(f(&v, &["restarted_ms"]).unwrap_or(f64::NAN)),
                    ms(recovered),
                    ms(work),
                    ms(hb),
                    f(&v, &["held_by_killed_host"]).unwrap_or(0.0),
                    f(&v, &["members"]).unwrap_or(0.0),
                    f(&v, &["hosts"]).unwrap_or(0.0),
                    f(&v, &["max_agents"]).unwrap_or(0.0),
                    v.get("not_completed").map(Value::to_string).unwrap_or_default()
                ),
                verdict: verdict(restart <= goal),
            }
        }
        None => Row {
            bench,
            target: "≤ 3 heartbeat periods + 1 s".into(),
            measured: r.why_missing(name),
            verdict: NONE,
        },
    });
}

fn fanout_table(by_n: &BTreeMap<u64, FanoutN>) -> String {
    let ideal = 2.0 * FANOUT_L_MS / 1e3;
    let mut s = String::from(
        "| N | runs | wall (time -v) median | wall / ideal | wall (shell clock) median | peak RSS median | CPU user+sys median | max in flight | failed runs |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (n, e) in by_n {
        let _ = writeln!(
            s,
            "| {n} | {} | {:.2} s | {:.2} | {:.3} s | {:.1} MB | {:.2} s | {} | {} |",
            e.wall.len(),
            median(&e.wall),
            median(&e.wall) / ideal,
            median(&e.wall_hr),
            median(&e.rss_mb),
            median(&e.cpu),
            e.in_flight
                .iter()
                .map(|x| format!("{x}"))
                .collect::<Vec<_>>()
                .join(", "),
            e.failed
        );
    }
    s
}

fn details(r: &Results) -> String {
    let mut s = String::new();
    for (name, title) in [
        ("wake_local-sqlite", "In-process wake-up, SQLite"),
        ("wake_local-postgres", "In-process wake-up, PostgreSQL"),
        ("wake_send-sqlite", "`team send` wake-up, SQLite"),
        ("wake_send-postgres", "`team send` wake-up, PostgreSQL"),
    ] {
        let Some(v) = r.json(name) else { continue };
        let _ = writeln!(s, "- {title}:");
        for key in [
            "latency_ms",
            "from_return_ms",
            "send_call_ms",
            "from_exit_ms",
            "team_send_process_ms",
        ] {
            if let Some(x) = v.get(key) {
                let _ = writeln!(
                    s,
                    "  - `{key}`: n {}, p50 {}, p90 {}, p99 {}, max {}",
                    f(x, &["n"]).unwrap_or(0.0),
                    ms(f(x, &["p50"]).unwrap_or(f64::NAN)),
                    ms(f(x, &["p90"]).unwrap_or(f64::NAN)),
                    ms(f(x, &["p99"]).unwrap_or(f64::NAN)),
                    ms(f(x, &["max"]).unwrap_or(f64::NAN))
                );
            }
        }
    }
    for name in [
        "claims-sqlite",
        "claims-postgres",
        "claims_batch-sqlite",
        "claims_batch-postgres",
    ] {
        if let Some(v) = r.json(name) {
            let _ = writeln!(
                s,
                "- `{name}`: claims per process {} in {} calls; board filled in {:.2} s; pending after: {}; first error: {}",
                v.get("per_process")
                    .map(Value::to_string)
                    .unwrap_or_default(),
                f(&v, &["calls"]).unwrap_or(0.0),
                f(&v, &["fill_seconds"]).unwrap_or(0.0),
                f(&v, &["pending_after"]).unwrap_or(0.0),
                v.get("first_error")
                    .and_then(Value::as_str)
                    .unwrap_or("none")
            );
        }
    }
    for name in ["idle_rss-llm", "idle_rss-command"] {
        if let Some(v) = r.json(name) {
            let _ = writeln!(
                s,
                "- `{name}`: RSS {:.1} MB after all idle, {:.1} MB after the {:.0} s CPU window; {} model requests; runner stop (SIGINT, cancels all) took {}",
                f(&v, &["rss_mb"]).unwrap_or(f64::NAN),
                f(&v, &["rss_after_window_mb"]).unwrap_or(f64::NAN),
                f(&v, &["cpu_window_s"]).unwrap_or(0.0),
                f(&v, &["model_requests"]).unwrap_or(0.0),
                f(&v, &["stop_seconds"])
                    .map(|x| format!("{x:.1} s"))
                    .unwrap_or_else(|| "more than 30 s (killed)".into())
            );
        }
    }
    for name in ["cold_start-sqlite", "cold_start-postgres"] {
        if let Some(v) = r.json(name)
            && let Some(samples) = v.get("samples_ms").and_then(Value::as_array)
        {
            let mut xs: Vec<f64> = samples.iter().filter_map(Value::as_f64).collect();
            xs.sort_by(f64::total_cmp);
            let _ = writeln!(
                s,
                "- `{name}`: min {}, p50 {}, p90 {}, max {}",
                ms(xs.first().copied().unwrap_or(f64::NAN)),
                ms(percentile(&xs, 0.5)),
                ms(percentile(&xs, 0.9)),
                ms(xs.last().copied().unwrap_or(f64::NAN))
            );
        }
    }
    s
}

/// Writes the report.
///
/// # Errors
/// The output cannot be written.
pub fn run(args: &ReportArgs) -> Result<()> {
    let r = Results {
        dir: args.results.clone(),
    };
    let machine = r.json("machine").unwrap_or(Value::Null);
    let m = |k: &str| {
        machine
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned()
    };
    let by_n = fanout(&args.results);
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Generated by `{}` (issue 6). Do not edit the tables by hand: re-run the command. \
         The findings at the end come from `bench/findings.md`.\n",
        m("command")
    );
    let _ = writeln!(out, "- Date: {}", m("date"));
    let _ = writeln!(out, "- Commit: {}", m("commit"));
    let _ = writeln!(
        out,
        "- Machine: {}; {} cores; {} RAM; {}",
        m("cpu"),
        m("cores"),
        m("mem"),
        m("kernel")
    );
    let _ = writeln!(
        out,
        "- Toolchain: {}; `dist` profile (opt-level s, fat LTO, one codegen unit: Cargo.toml; `cargo build --profile dist`)",
        m("rustc")
    );
    let _ = writeln!(out, "- Settings: {}", m("settings"));
    let _ = writeln!(
        out,
        "- Noise: a shared 2-core machine where other builds and tests may run at the same time; \
         load average at the start: {}. Treat differences under ~20 % as noise.\n",
        m("load")
    );
    let _ = writeln!(out, "## Results: target vs measured\n");
    let _ = writeln!(
        out,
        "| benchmark | target | measured | verdict |\n|---|---|---|---|"
    );
    for row in rows(&r, &by_n) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            row.bench, row.target, row.measured, row.verdict
        );
    }
    let _ = writeln!(out, "\n## Fan-out, per N\n");
    let _ = writeln!(
        out,
        "`team run fanout --set count=N --max-agents N` (bench/fanout.toml; N members each make one model \
         call, then the lead makes one synthesis call), the scripted server holding every request \
         {FANOUT_L_MS} ms (ideal wall = 2·L = 0.4 s), `max_agents = N` and the provider's \
         `max_concurrent_requests = N`. Each run starts from a fresh project (`team init` is not timed). \
         `/usr/bin/time -v` reports wall time in 10 ms steps; the shell clock column is the same run \
         timed with `$EPOCHREALTIME`.\n"
    );
    out.push_str(&fanout_table(&by_n));
    let _ = writeln!(out, "\n## Details\n");
    out.push_str(&details(&r));
    let _ = writeln!(out, "\n## How each number is measured\n");
    out.push_str(METHOD);
    if let Some(path) = &args.findings {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let _ = writeln!(out, "\n## Findings\n");
        out.push_str(text.trim_start_matches("# Findings").trim_start());
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    std::fs::write(&args.out, out)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    Ok(())
}

const METHOD: &str = "\
- **Fan-out**: `bench/run.sh` starts `scripted-llm --latency-ms 200` (team-testkit) per run, \
points a `mock` OpenAI-compatible provider at it, copies `bench/fanout.toml` to \
`.team/workflows/` and runs `/usr/bin/time -v team run fanout`. The server prints its \
max-in-flight counter on SIGTERM. Medians over the runs (`BENCH_RUNS`, default 3; N = 1000 \
runs once; `BENCH_N1000=0` skips it).
- **Cold start**: `team-bench cold-start` fills a database with 100 teams (2 members and 3 tasks \
each), runs `team list` 3 times untimed, then 30 times, each timed from spawn to exit.
- **Wake-up, in one process**: `team-bench wake-local`. One idle persistent LLM member in an \
engine of the bench process; the bench sends it a message with `Engine::send_message` (the path \
of the `send_message` tool and of the workflows' lead: the send transaction on the blocking \
pool, then the in-process wake) at a random moment (uniform over 20 ms after it went idle); \
\"runs\" = its next model request reaches the in-process scripted server. Upper bound: from the \
instant before the call (the send's transaction included); lower bound: from the call's return \
(after the commit).
- **Wake-up, `team send`**: `team-bench wake-send`. One idle persistent LLM member in an engine \
of the bench process; the `team` binary sends it a message at a random moment (uniform over \
100 ms after it went idle, so the poller's phase is sampled fairly). Upper bound: from the \
message's `created_at_ms` (stamped inside the sender's transaction before its commit, in whole \
ms); lower bound: from the exit of the `team send` process (after its commit).
- **Claims**: `team-bench claims`: 8 processes (`team-bench claim-worker`) each open the store, \
wait for a common start, and call `Store::claim_task(team, member, None)` (what `team task \
claim` does) until the board is empty. Rate = tasks / (last end − first start). Each task once: \
no id reported twice, every task `in_progress` afterwards. The batched row: the same with \
`--count 10`, each call `Store::claim_tasks(team, member, 10, None, None)` (`team task claim \
--count 10`: up to 10 tasks in one write).
- **`team send` / `team inbox`**: `team-bench cli-ops`: in a project with one team and one \
member, `team send TEAM BODY --from lead --to MEMBER` then `team inbox TEAM MEMBER` (a leased \
take, printed, acknowledged), 40 times each after 3 untimed, each timed from spawn to exit, \
while a `team runner` serves the database on the host (its local relay runs the commands; on \
both engines); each pair is followed by the same pair with `TEAM_RELAY=0` (the direct numbers: \
the command opens the database itself); with `BENCH_TEAM_B` a second binary runs right after \
each, alternating (A/B on a loaded machine).
- **Fan-out against a CPU-hungry server**: as the fan-out, N = 1000, `scripted-llm --cpu-us \
BENCH_CPU_US` (default 100): the server runs on one thread and spends that much CPU on each \
request before its handler counts it in flight (like a Python mock sharing the cores); on \
SQLite and on a fresh PostgreSQL schema (`TEAM_DATABASE_URL`); wall from the shell's clock. \
Its ideal is that of a client with no overhead: the server spends c = `BENCH_CPU_US` µs of \
serial CPU per request on its one thread, so the N requests are served one after the other and \
the lead's synthesis call after them: ideal = 2·L + (N+1)·c (0.5 s for N = 1000, c = 100 µs, \
L = 200 ms); wall / 2·L is shown beside it. All N in flight at once needs every request to \
reach the server within L − N·c of the first. The server's own CPU per request (its user + \
sys time over the requests it served) is shown too: what it spends beyond c (HTTP, TCP, the \
JSON body) counts against the same L; so the row also gives wall / (2·L + (N+1)·s) with s = \
that measured CPU per request (the ideal against this very server, its HTTP and kernel costs \
included). The goal is judged against the first (c = `BENCH_CPU_US`): it is what the issue \
sets, and it does not move when the mock gets cheaper or dearer; the second says how much of \
the gap is the mock's.
- **Idle RSS**: `team-bench idle-rss`: 1,000 persistent members queued in one team, one \
`team runner --max-agents 50` process runs each one turn (one model call against the \
in-process scripted server, latency 0), then all sit idle; `VmRSS` of the runner 2 s after \
the last went idle, and its CPU use over the next 5 s.
- **Several hosts** (PostgreSQL; root): `team-bench hosts`, each host a set of Linux \
namespaces (its own hostname and pids) made by the bench, one `team runner` per host. \
Scaling: 60 command members of 1 s, `max_agents = 10` per runner, 1, 2 and 3 hosts; wall from \
the first spawn to the last end. Cross-host wake-up: a send on one host to an idle member on \
another, from the send's commit to the start of the member's turn. Recovery: 12 members of \
2 s on 3 hosts of `max_agents = 8` (so the survivors have free slots: what is measured is the \
recovery, not a wait in the queue), heartbeat 500 ms, agent `retries: 1`, `backoff: 10ms`; the \
last host is killed once it runs members (SIGKILL to its namespace's first process); the row is the last \
end of its members, minus the kill, minus their own 2 s, with the loss's notice and the \
restart beside it.
";
