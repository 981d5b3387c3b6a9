//! Issue 14: no input makes `team` panic. Absurd numbers and bytes that are not UTF-8 are
//! usage errors (exit 2) with a clear message.

use std::os::unix::ffi::OsStrExt;

use crate::support::{Project, stderr};

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
