//! Issue 14: no input makes `team` panic. Absurd numbers and bytes that are not UTF-8 are
//! usage errors (exit 2) with a clear message.

use std::os::unix::ffi::OsStrExt;

use std::time::Duration;

use crate::support::{Backend, Project, stderr, wait_timeout};

#[test]
fn absurd_numbers_and_non_utf8_arguments_are_usage_errors() {
    let p = Project::sqlite();
    p.agent("quick", "cat");
    p.ok(&["create", "crew"]);
    for args in [
        &["wait", "crew", "--timeout", "1e19"][..],
        &["wait", "crew", "--timeout", "1e300"],
        &["wait", "crew", "--timeout", "inf"],
        &["inbox", "crew", "lead", "--wait", "--timeout", "1e19"],
        &[
            "spawn",
            "crew",
            "quick",
            "--prompt",
            "x",
            "--timeout",
            "18446744073709551615",
        ],
        &[
            "spawn",
            "crew",
            "quick",
            "--prompt",
            "x",
            "--timeout",
            "9223372036854775807",
        ],
        &["spawn", "crew", "quick", "--prompt", "x", "--timeout", "0"],
        &["runner", "--max-agents", "0"],
        &["runner", "--idle-exit", "18446744073709551615"],
    ] {
        let o = p.run(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "team {}: {err}", args.join(" "));
        assert!(!err.contains("panicked"), "team {}: {err}", args.join(" "));
        assert!(err.contains("--"), "names the option: {err}");
    }
    // Nothing was added by the refused spawns.
    assert_eq!(p.members("crew").len(), 1);

    let o = p
        .cmd()
        .arg("show")
        .arg(std::ffi::OsStr::from_bytes(b"t\xff"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    let o = p
        .cmd()
        .args(["--json", "show"])
        .arg(std::ffi::OsStr::from_bytes(b"t\xff"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));

    // `--max-agents 0` and `max_agents = 0` behave alike: both refused.
    p.config("[team]\nmax_agents = 0\n");
    let o = p.run(&["runner", "--idle-exit", "1"]);
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("max_agents"), "{}", stderr(&o));
}

/// A detached runner whose database is gone (its PostgreSQL schema dropped under it) exits
/// once every look at its work has failed for its whole idle period, instead of spinning on
/// errors for ever: before, test runners outlived their dropped schemas by hours, each polling
/// a database that no longer had its tables.
#[test]
fn a_runner_whose_database_is_gone_exits_after_its_idle_period() {
    let Some(p) = Project::on(Backend::Postgres) else {
        return;
    };
    let mut runner = p.start_runner("runner", &["--idle-exit", "2"]);
    p.pg_schema().expect("a PostgreSQL project").drop_now();
    let status = wait_timeout(&mut runner.child, Duration::from_secs(30)).unwrap_or_else(|| {
        panic!(
            "the runner still runs 30 s after its database was dropped:\n{}",
            runner.log_text()
        )
    });
    assert!(status.success(), "{status}\n{}", runner.log_text());
    assert!(
        runner.log_text().contains("cannot count the runner's work"),
        "{}",
        runner.log_text()
    );
}
