//! `team memory show|set|append|clear`: text from the argument or stdin, per agent and project,
//! capped at 100 KiB keeping the newest content.

use serde_json::json;

use crate::support::*;

/// The memory cap: 100 KiB.
const CAP: usize = 100 * 1024;

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn set_show_append_clear(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    let root = p.root().to_string_lossy().into_owned();
    let out = p.run(&["memory", "show", "bob"]);
    assert_ok(&["memory", "show"], &out);
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), format!("agent bob has no memory in {root}\n"));
    assert_eq!(p.json(&["memory", "show", "bob"]), json!(null));

    let out = p.run(&["memory", "set", "bob", "first"]);
    assert_ok(&["memory", "set"], &out);
    assert_eq!(stderr(&out), "memory of bob: 5 bytes\n");
    assert_eq!(p.ok(&["memory", "show", "bob"]), "first");

    p.ok(&["memory", "append", "bob", "second"]);
    assert_eq!(p.ok(&["memory", "show", "bob"]), "first\nsecond");
    p.ok_stdin(&["memory", "append", "bob"], "third\n");
    assert_eq!(p.ok(&["memory", "show", "bob"]), "first\nsecond\nthird\n");
    p.ok_stdin(&["memory", "append", "bob"], "fourth");
    assert_eq!(
        p.ok(&["memory", "show", "bob"]),
        "first\nsecond\nthird\nfourth"
    );

    let v = p.json(&["memory", "show", "bob"]);
    assert_eq!(
        keys(&v),
        ["agent", "content", "project_root", "updated_at_ms"]
    );
    assert_eq!(v["agent"], "bob");
    assert_eq!(v["project_root"], root.as_str());

    // set replaces, from stdin too.
    let v = serde_json::from_str::<serde_json::Value>(
        &p.ok_stdin(&["--json", "memory", "set", "bob"], "from stdin ✓"),
    )
    .unwrap();
    assert_eq!(keys(&v), ["cut_bytes", "entry"]);
    assert_eq!(v["cut_bytes"], 0);
    assert_eq!(v["entry"]["content"], "from stdin ✓");
    assert_eq!(p.ok(&["memory", "show", "bob"]), "from stdin ✓");

    // Memory belongs to (agent, project): another agent, another project see none.
    p.ok(&["memory", "set", "alice", "hers"]);
    assert_eq!(p.ok(&["memory", "show", "bob"]), "from stdin ✓");
    let elsewhere = tempfile::tempdir().unwrap();
    let mut other = p.std_cmd_in(elsewhere.path());
    if p.backend() == Backend::Sqlite {
        other.args(["--db", &p.db_url()]);
    }
    let o = other
        .args(["--json", "memory", "show", "bob"])
        .output()
        .unwrap();
    assert_ok(&["memory", "show"], &o);
    assert_eq!(stdout(&o).trim(), "null");

    let out = p.run(&["memory", "clear", "bob"]);
    assert_ok(&["memory", "clear"], &out);
    assert_eq!(stderr(&out), "cleared the memory of bob\n");
    assert_eq!(p.json(&["memory", "show", "bob"]), json!(null));
    let out = p.run(&["memory", "clear", "bob"]);
    assert_eq!(stderr(&out), "agent bob had no memory\n");
    assert_eq!(
        p.json(&["memory", "clear", "alice"]),
        json!({"agent": "alice", "cleared": true})
    );
    assert_eq!(
        p.json(&["memory", "clear", "alice"]),
        json!({"agent": "alice", "cleared": false})
    );

    let err = p.fails(&["memory", "set", "bad name", "x"], 2);
    assert!(err.contains("invalid agent name `bad name`"), "{err}");
    p.fails(&["memory", "show"], 2);
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn a_10_mib_append_keeps_the_newest_100_kib(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.ok(&["memory", "set", "bob", "OLDEST-MARKER"]);
    // 10 MiB of 1-, 2-, 3- and 4-byte characters, so the cut lands inside characters.
    let unit = "aé€😀";
    assert_eq!(unit.len(), 10);
    let mut big = String::with_capacity(10 * 1024 * 1024 + 16);
    let mut i = 0u64;
    while big.len() < 10 * 1024 * 1024 {
        big.push_str(unit);
        if i.is_multiple_of(1000) {
            big.push_str(&format!("<{i}>"));
        }
        i += 1;
    }
    big.push_str("THE-NEWEST-END");
    let out = p.run_stdin(&["--json", "memory", "append", "bob"], big.clone());
    assert_ok(&["memory", "append"], &out);
    let w: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let cut = w["cut_bytes"].as_u64().unwrap() as usize;
    assert!(cut > 10 * 1024 * 1024 - CAP, "cut {cut}");

    // `show` prints the stored text as it is: valid UTF-8, at most 100 KiB, the newest kept.
    let raw = p.team().args(["memory", "show", "bob"]).output().unwrap();
    assert!(raw.status.success());
    let content = String::from_utf8(raw.stdout).expect("stored memory is valid UTF-8");
    assert!(content.len() <= CAP, "{} bytes", content.len());
    assert!(
        content.len() >= CAP - 3,
        "only {} bytes kept",
        content.len()
    );
    assert!(content.ends_with("THE-NEWEST-END"));
    assert!(!content.contains("OLDEST-MARKER"));
    assert!(
        big.ends_with(&content),
        "the kept text is the newest suffix of what was sent"
    );
    assert_eq!(w["entry"]["content"].as_str().unwrap(), content);
    let old_len = "OLDEST-MARKER\n".len() + big.len();
    assert_eq!(cut + content.len(), old_len);

    // A further small append still fits under the cap by cutting the oldest bytes.
    p.ok(&["memory", "append", "bob", "one more"]);
    let after = p.ok(&["memory", "show", "bob"]);
    assert!(after.len() <= CAP);
    assert!(
        after.ends_with("THE-NEWEST-END\none more"),
        "{}",
        &after[after.len() - 40..]
    );

    // A 10 MiB set is capped the same way.
    let out = p.run_stdin(&["memory", "set", "carol"], big.clone());
    assert_ok(&["memory", "set"], &out);
    assert!(
        stderr(&out).contains("oldest bytes cut to stay under the 100 KiB cap"),
        "{}",
        stderr(&out)
    );
    let c = p.ok(&["memory", "show", "carol"]);
    assert!(c.len() <= CAP && big.ends_with(&c));
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn invalid_utf8_on_stdin_is_refused_and_writes_nothing(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    let bad: &[u8] = b"valid start \xff\xfe then junk";
    for cmd in ["set", "append"] {
        let args = ["memory", cmd, "bob"];
        let out = p.run_stdin(&args, bad);
        assert_code(&args, &out, 2);
        let err = stderr(&out);
        assert!(err.contains("UTF-8"), "{err}");
        assert_eq!(
            err,
            "error: the memory text on stdin is not valid UTF-8 (invalid byte at offset 12); \
                 nothing was written\n"
        );
        assert_eq!(
            p.json(&["memory", "show", "bob"]),
            json!(null),
            "after memory {cmd}"
        );
    }
    // An existing memory is left as it was.
    p.ok(&["memory", "set", "bob", "keep me"]);
    let out = p.run_stdin(&["--json", "memory", "append", "bob"], bad);
    let msg = json_error(&out, 2);
    assert!(msg.contains("UTF-8"), "{msg}");
    assert_eq!(p.ok(&["memory", "show", "bob"]), "keep me");
}
