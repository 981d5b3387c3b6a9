//! File tools (read, write, edit, list, grep), path confinement and argument errors.

use crate::common;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};

use common::{args, err_text, ok_text, open_tools, project, put};
use serde_json::json;
use team_tools::{ToolError, WorkspaceTools};

#[test]
fn specs_describe_every_tool_with_a_strict_schema() {
    let specs = WorkspaceTools::all_specs();
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "read_file",
            "list_files",
            "grep",
            "write_file",
            "edit_file",
            "bash"
        ]
    );
    for spec in &specs {
        assert_eq!(spec.parameters["type"], "object", "{}", spec.name);
        assert_eq!(
            spec.parameters["additionalProperties"], false,
            "{}",
            spec.name
        );
        assert!(!spec.description.is_empty());
        let required = spec.parameters["required"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!required.is_empty(), "{} has required fields", spec.name);
        for field in required {
            let field = field.as_str().unwrap_or_default();
            assert!(
                spec.parameters["properties"].get(field).is_some(),
                "{}: {field}",
                spec.name
            );
        }
    }
    let bash = &specs[5].parameters["properties"]["timeout_secs"];
    assert_eq!(bash["maximum"], 600);
}

#[tokio::test]
async fn read_file_numbers_lines_and_honours_offset_and_limit() {
    let dir = project();
    put(dir.path(), "src/a.txt", "one\ntwo\r\nthree\nfour\n");
    let tools = open_tools(dir.path());
    let all = ok_text(
        tools
            .execute("read_file", &args(json!({"path": "src/a.txt"})))
            .await,
    );
    assert_eq!(
        all,
        "     1\tone\n     2\ttwo\n     3\tthree\n     4\tfour\n"
    );
    let part = ok_text(
        tools
            .execute(
                "read_file",
                &args(json!({"path": "src/a.txt", "offset": 2, "limit": 2})),
            )
            .await,
    );
    assert!(part.starts_with("     2\ttwo\n     3\tthree\n"), "{part}");
    assert!(part.contains("continue with offset=4"), "{part}");
    put(
        dir.path(),
        "long.txt",
        &format!("{}\nshort\n", "é".repeat(2500)),
    );
    let long = ok_text(
        tools
            .execute("read_file", &args(json!({"path": "long.txt"})))
            .await,
    );
    let first = long.lines().next().unwrap_or_default();
    assert!(
        first.ends_with("… [line cut]"),
        "{}",
        &first[first.len().saturating_sub(40)..]
    );
    assert_eq!(
        first.chars().filter(|c| *c == 'é').count(),
        team_tools::workspace::READ_MAX_LINE_CHARS
    );
    assert!(long.ends_with("     2\tshort\n"), "{long:.40}");
    let past = err_text(
        tools
            .execute(
                "read_file",
                &args(json!({"path": "src/a.txt", "offset": 9})),
            )
            .await,
    );
    assert!(
        past.contains("past the end") && past.contains("4 lines"),
        "{past}"
    );
}

#[tokio::test]
async fn read_file_errors_say_what_is_wrong() {
    let dir = project();
    put(dir.path(), "empty.txt", "");
    fs::write(dir.path().join("blob.bin"), [0u8, 1, 2, 0, 5]).expect("write binary");
    fs::create_dir(dir.path().join("sub")).expect("mkdir");
    let tools = open_tools(dir.path());
    let missing = err_text(
        tools
            .execute("read_file", &args(json!({"path": "nope.rs"})))
            .await,
    );
    assert!(
        missing.contains("does not exist") && missing.contains("list_files"),
        "{missing}"
    );
    let directory = err_text(
        tools
            .execute("read_file", &args(json!({"path": "sub"})))
            .await,
    );
    assert!(directory.contains("is a directory"), "{directory}");
    let binary = err_text(
        tools
            .execute("read_file", &args(json!({"path": "blob.bin"})))
            .await,
    );
    assert!(binary.contains("binary"), "{binary}");
    let empty = ok_text(
        tools
            .execute("read_file", &args(json!({"path": "empty.txt"})))
            .await,
    );
    assert!(empty.contains("is empty"), "{empty}");
}

#[tokio::test]
async fn read_file_caps_output_at_100_kib_and_says_so() {
    let dir = project();
    let line = "x".repeat(200);
    let text: String = (0..1500).map(|_| format!("{line}\n")).collect();
    put(dir.path(), "big.txt", &text);
    let tools = open_tools(dir.path());
    let out = ok_text(
        tools
            .execute("read_file", &args(json!({"path": "big.txt"})))
            .await,
    );
    assert!(
        out.len() <= team_tools::workspace::OUTPUT_CAP_BYTES + 200,
        "{}",
        out.len()
    );
    let shown = out.lines().filter(|l| l.contains('\t')).count();
    assert!(shown < 1500 && shown > 100, "{shown}");
    assert!(
        out.contains("100 KiB") && out.contains(&format!("offset={}", shown + 1)),
        "{}",
        &out[out.len() - 200..]
    );
}

#[tokio::test]
async fn write_file_creates_parents_atomically_and_keeps_modes() {
    let dir = project();
    let tools = open_tools(dir.path());
    let out = ok_text(
        tools
            .execute(
                "write_file",
                &args(json!({"path": "a/b/c.txt", "content": "héllo\n"})),
            )
            .await,
    );
    assert!(
        out.contains("wrote 7 bytes") && out.contains("created"),
        "{out}"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("a/b/c.txt"))
            .ok()
            .as_deref(),
        Some("héllo\n")
    );

    put(dir.path(), "run.sh", "echo old\n");
    fs::set_permissions(dir.path().join("run.sh"), fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let out = ok_text(
        tools
            .execute(
                "write_file",
                &args(json!({"path": "run.sh", "content": "echo new\n"})),
            )
            .await,
    );
    assert!(out.contains("replaced"), "{out}");
    let meta = fs::metadata(dir.path().join("run.sh")).expect("stat");
    assert_eq!(meta.permissions().mode() & 0o777, 0o755);
    assert_eq!(
        fs::read_to_string(dir.path().join("run.sh"))
            .ok()
            .as_deref(),
        Some("echo new\n")
    );
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .expect("ls")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".team-write-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind");

    fs::create_dir(dir.path().join("d")).expect("mkdir");
    let onto_dir = err_text(
        tools
            .execute("write_file", &args(json!({"path": "d", "content": "x"})))
            .await,
    );
    assert!(onto_dir.contains("is a directory"), "{onto_dir}");
}

#[tokio::test]
async fn edit_file_enforces_uniqueness_rules() {
    let dir = project();
    let original = "fn a() {}\nfn b() {}\nlet x = 1;\nlet x = 1;\nlet x = 1;\n";
    put(dir.path(), "m.rs", original);
    let tools = open_tools(dir.path());
    let read = || fs::read_to_string(dir.path().join("m.rs")).unwrap_or_default();
    let edit = |old: &str, new: &str, all: Option<bool>| {
        let mut a = json!({"path": "m.rs", "old_string": old, "new_string": new});
        if let Some(all) = all {
            a["replace_all"] = json!(all);
        }
        let tools = tools.clone();
        async move { tools.execute("edit_file", &a.to_string()).await }
    };

    let not_found = err_text(edit("fn c() {}", "x", None).await);
    assert!(not_found.contains("not found"), "{not_found}");
    let many = err_text(edit("let x = 1;", "let x = 2;", None).await);
    assert!(
        many.contains("3 times") && many.contains("replace_all"),
        "{many}"
    );
    let same = err_text(edit("fn a() {}", "fn a() {}", None).await);
    assert!(same.contains("identical"), "{same}");
    let empty = err_text(edit("", "x", None).await);
    assert!(empty.contains("empty"), "{empty}");
    assert_eq!(read(), original, "failed edits leave the file alone");

    let one = ok_text(edit("fn b() {}", "fn b() { 1 }", None).await);
    assert!(one.contains("replaced 1 occurrence"), "{one}");
    let all = ok_text(edit("let x = 1;", "let x = 2;", Some(true)).await);
    assert!(all.contains("replaced 3 occurrences"), "{all}");
    assert_eq!(
        read(),
        "fn a() {}\nfn b() { 1 }\nlet x = 2;\nlet x = 2;\nlet x = 2;\n"
    );
    let missing = err_text(
        tools
            .execute(
                "edit_file",
                &args(json!({"path": "no.rs", "old_string": "a", "new_string": "b"})),
            )
            .await,
    );
    assert!(missing.contains("does not exist"), "{missing}");
}

fn search_fixture() -> tempfile::TempDir {
    let dir = project();
    let root = dir.path();
    put(root, ".gitignore", "target/\n*.log\n");
    put(root, "Cargo.toml", "[package]\nname = \"demo\"\n");
    put(
        root,
        "src/main.rs",
        "fn main() {\n    println!(\"Hello\");\n}\n",
    );
    put(
        root,
        "src/lib.rs",
        "pub fn hello() -> &'static str {\n    \"hello\"\n}\n",
    );
    put(root, "src/deep/mod.rs", "// HELLO from deep\n");
    put(root, "target/debug/gen.rs", "fn hello() {}\n");
    put(root, "notes.log", "hello log\n");
    put(root, ".ci/run", "cargo test # hello\n");
    fs::write(root.join("src/data.bin"), b"hello\0binary").expect("write binary");
    dir
}

#[tokio::test]
async fn list_files_globs_sorts_and_respects_gitignore() {
    let dir = search_fixture();
    let tools = open_tools(dir.path());
    let rs = ok_text(
        tools
            .execute("list_files", &args(json!({"pattern": "src/**/*.rs"})))
            .await,
    );
    assert_eq!(rs, "src/deep/mod.rs\nsrc/lib.rs\nsrc/main.rs\n");
    let top = ok_text(
        tools
            .execute("list_files", &args(json!({"pattern": "*.toml"})))
            .await,
    );
    assert_eq!(top, "Cargo.toml\n");
    let under = ok_text(
        tools
            .execute(
                "list_files",
                &args(json!({"pattern": "*.rs", "path": "src"})),
            )
            .await,
    );
    assert_eq!(
        under, "src/lib.rs\nsrc/main.rs\n",
        "paths are relative to the root"
    );
    let everything = ok_text(
        tools
            .execute("list_files", &args(json!({"pattern": "**"})))
            .await,
    );
    assert!(
        everything.contains(".ci/run") && everything.contains(".gitignore"),
        "{everything}"
    );
    assert!(
        !everything.contains("target/") && !everything.contains("notes.log"),
        "{everything}"
    );
    let none = ok_text(
        tools
            .execute("list_files", &args(json!({"pattern": "**/*.py"})))
            .await,
    );
    assert!(none.contains("no files match"), "{none}");
    let bad = err_text(
        tools
            .execute("list_files", &args(json!({"pattern": "src/[a"})))
            .await,
    );
    assert!(bad.contains("invalid glob"), "{bad}");
}

#[tokio::test]
async fn list_files_caps_the_number_of_paths() {
    let dir = project();
    for i in 0..1005 {
        put(dir.path(), &format!("f/{i:04}.txt"), "");
    }
    let tools = open_tools(dir.path());
    let out = ok_text(
        tools
            .execute("list_files", &args(json!({"pattern": "f/*.txt"})))
            .await,
    );
    let paths: Vec<&str> = out.lines().filter(|l| l.starts_with("f/")).collect();
    assert_eq!(paths.len(), team_tools::workspace::LIST_MAX_ENTRIES);
    assert_eq!(paths[0], "f/0000.txt");
    assert!(
        out.contains("first 1000 of 1005"),
        "{}",
        out.lines().last().unwrap_or_default()
    );
}

#[tokio::test]
async fn grep_reports_path_line_text() {
    let dir = search_fixture();
    let tools = open_tools(dir.path());
    let plain = ok_text(
        tools
            .execute("grep", &args(json!({"pattern": "hello"})))
            .await,
    );
    assert_eq!(
        plain,
        ".ci/run:1:cargo test # hello\nsrc/lib.rs:1:pub fn hello() -> &'static str {\nsrc/lib.rs:2:    \"hello\"\n"
    );
    let ci = ok_text(
        tools
            .execute(
                "grep",
                &args(json!({"pattern": "hello", "case_insensitive": true, "path": "src"})),
            )
            .await,
    );
    assert_eq!(
        ci,
        "src/deep/mod.rs:1:// HELLO from deep\nsrc/lib.rs:1:pub fn hello() -> &'static str {\nsrc/lib.rs:2:    \"hello\"\nsrc/main.rs:2:    println!(\"Hello\");\n"
    );
    let globbed = ok_text(
        tools
            .execute(
                "grep",
                &args(json!({"pattern": "(?i)hello", "glob": "main.rs"})),
            )
            .await,
    );
    assert_eq!(globbed, "src/main.rs:2:    println!(\"Hello\");\n");
    let by_path = ok_text(
        tools
            .execute(
                "grep",
                &args(json!({"pattern": "(?i)hello", "glob": "src/deep/*.rs"})),
            )
            .await,
    );
    assert_eq!(by_path, "src/deep/mod.rs:1:// HELLO from deep\n");
    let one_file = ok_text(
        tools
            .execute(
                "grep",
                &args(json!({"pattern": "ello", "path": "notes.log"})),
            )
            .await,
    );
    assert_eq!(
        one_file, "notes.log:1:hello log\n",
        "an explicit file is searched even if ignored"
    );
    let none = ok_text(
        tools
            .execute("grep", &args(json!({"pattern": "zzz"})))
            .await,
    );
    assert!(none.contains("no matches"), "{none}");
    let bad = err_text(tools.execute("grep", &args(json!({"pattern": "("}))).await);
    assert!(bad.contains("invalid regex"), "{bad}");
}

#[tokio::test]
async fn grep_caps_matches() {
    let dir = project();
    put(dir.path(), "many.txt", &"match me\n".repeat(700));
    let tools = open_tools(dir.path());
    let out = ok_text(
        tools
            .execute("grep", &args(json!({"pattern": "match"})))
            .await,
    );
    let hits = out.lines().filter(|l| l.starts_with("many.txt:")).count();
    assert_eq!(hits, team_tools::workspace::GREP_MAX_MATCHES);
    assert!(
        out.contains("500-match limit"),
        "{}",
        out.lines().last().unwrap_or_default()
    );
}

#[tokio::test]
async fn paths_escaping_through_dotdot_or_absolute_are_refused() {
    let outer = project();
    let root = outer.path().join("proj");
    fs::create_dir(&root).expect("mkdir");
    put(outer.path(), "secret.txt", "top secret\n");
    let tools = open_tools(&root);
    for path in ["../secret.txt", "src/../../secret.txt"] {
        let read = err_text(
            tools
                .execute("read_file", &args(json!({"path": path})))
                .await,
        );
        assert!(read.contains("refused") && read.contains(".."), "{read}");
        let write = err_text(
            tools
                .execute("write_file", &args(json!({"path": path, "content": "x"})))
                .await,
        );
        assert!(write.contains("refused"), "{write}");
    }
    let abs_out = outer.path().join("secret.txt").display().to_string();
    let read = err_text(
        tools
            .execute("read_file", &args(json!({"path": abs_out})))
            .await,
    );
    assert!(read.contains("absolute paths must lie inside"), "{read}");
    assert_eq!(
        fs::read_to_string(outer.path().join("secret.txt"))
            .ok()
            .as_deref(),
        Some("top secret\n")
    );

    put(&root, "in.txt", "inside\n");
    let abs_in = root.join("in.txt").display().to_string();
    let ok = ok_text(
        tools
            .execute("read_file", &args(json!({"path": abs_in})))
            .await,
    );
    assert!(ok.contains("inside"), "{ok}");
    let inner = ok_text(
        tools
            .execute("read_file", &args(json!({"path": "sub/../in.txt"})))
            .await,
    );
    assert!(inner.contains("inside"), "{inner}");
}

#[tokio::test]
async fn symlinks_leading_outside_are_refused_for_read_and_write() {
    let outer = project();
    let root = outer.path().join("proj");
    let elsewhere = outer.path().join("elsewhere");
    fs::create_dir_all(&root).expect("mkdir root");
    fs::create_dir_all(&elsewhere).expect("mkdir elsewhere");
    put(&elsewhere, "secret.txt", "SECRET\n");
    symlink(&elsewhere, root.join("linkdir")).expect("symlink dir");
    symlink(elsewhere.join("secret.txt"), root.join("linkfile")).expect("symlink file");
    symlink(elsewhere.join("missing.txt"), root.join("dangling")).expect("symlink dangling");
    let tools = open_tools(&root);

    for path in ["linkfile", "linkdir/secret.txt"] {
        let read = err_text(
            tools
                .execute("read_file", &args(json!({"path": path})))
                .await,
        );
        assert!(read.contains("outside the project root"), "{path}: {read}");
        let edit = err_text(
            tools
                .execute(
                    "edit_file",
                    &args(json!({"path": path, "old_string": "SECRET", "new_string": "x"})),
                )
                .await,
        );
        assert!(edit.contains("outside the project root"), "{path}: {edit}");
    }
    for path in ["linkfile", "linkdir/new.txt", "linkdir/deeper/new.txt"] {
        let write = err_text(
            tools
                .execute(
                    "write_file",
                    &args(json!({"path": path, "content": "pwned"})),
                )
                .await,
        );
        assert!(
            write.contains("outside the project root"),
            "{path}: {write}"
        );
    }
    let dangling = err_text(
        tools
            .execute(
                "write_file",
                &args(json!({"path": "dangling", "content": "pwned"})),
            )
            .await,
    );
    assert!(dangling.contains("symlink"), "{dangling}");
    assert!(!elsewhere.join("new.txt").exists() && !elsewhere.join("deeper").exists());
    assert!(!elsewhere.join("missing.txt").exists());
    assert_eq!(
        fs::read_to_string(elsewhere.join("secret.txt"))
            .ok()
            .as_deref(),
        Some("SECRET\n")
    );

    let grep = ok_text(
        tools
            .execute("grep", &args(json!({"pattern": "SECRET"})))
            .await,
    );
    assert!(
        grep.contains("no matches"),
        "grep must not follow symlinks out: {grep}"
    );
    let list_in = err_text(
        tools
            .execute(
                "list_files",
                &args(json!({"pattern": "*", "path": "linkdir"})),
            )
            .await,
    );
    assert!(list_in.contains("outside the project root"), "{list_in}");
}

#[tokio::test]
async fn symlinks_inside_the_root_are_followed() {
    let dir = project();
    put(dir.path(), "real/file.txt", "real\n");
    symlink(
        dir.path().join("real/file.txt"),
        dir.path().join("alias.txt"),
    )
    .expect("symlink");
    let tools = open_tools(dir.path());
    let read = ok_text(
        tools
            .execute("read_file", &args(json!({"path": "alias.txt"})))
            .await,
    );
    assert!(read.contains("real"), "{read}");
    ok_text(
        tools
            .execute(
                "write_file",
                &args(json!({"path": "alias.txt", "content": "new\n"})),
            )
            .await,
    );
    assert!(
        fs::symlink_metadata(dir.path().join("alias.txt"))
            .is_ok_and(|m| m.file_type().is_symlink())
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("real/file.txt"))
            .ok()
            .as_deref(),
        Some("new\n")
    );
}

#[tokio::test]
async fn bad_arguments_come_back_as_tool_errors_with_the_expected_shape() {
    let dir = project();
    let tools = open_tools(dir.path());
    let cases = [
        ("read_file", "{not json", "not valid JSON"),
        ("read_file", "{}", "missing field `path`"),
        (
            "read_file",
            r#"{"path": "a", "lines": 3}"#,
            "unknown field `lines`",
        ),
        ("read_file", r#"{"path": 7}"#, "invalid type"),
        ("read_file", r#"["a"]"#, "must be a JSON object"),
        (
            "edit_file",
            r#"{"path": "a", "old_string": "x"}"#,
            "missing field `new_string`",
        ),
        (
            "bash",
            r#"{"command": "true", "timeout_secs": 601}"#,
            "between 1 and 600",
        ),
        ("bash", r#"{"command": "  "}"#, "command is empty"),
        (
            "grep",
            r#"{"pattern": "x", "case_insensitive": "yes"}"#,
            "invalid type",
        ),
    ];
    for (tool, raw, fragment) in cases {
        let outcome = tools.execute_with_decision(tool, raw).await;
        assert!(
            outcome.decision.is_none(),
            "no permission check for bad args"
        );
        let err = match outcome.result {
            Err(e @ ToolError::InvalidArgs { .. }) => e.to_string(),
            other => panic!("{tool} {raw}: expected InvalidArgs, got {other:?}"),
        };
        assert!(err.contains(fragment), "{tool} {raw}: {err}");
        assert!(err.contains("expected arguments shaped like {"), "{err}");
    }
    let shape = err_text(tools.execute("read_file", "{}").await);
    assert!(
        shape.contains(r#"{"path": string, "offset"?: integer >= 0, "limit"?: integer >= 1}"#),
        "{shape}"
    );
    let unknown = err_text(tools.execute("delete_everything", "{}").await);
    assert!(
        unknown.contains("unknown tool `delete_everything`") && unknown.contains("read_file"),
        "{unknown}"
    );
}

#[tokio::test]
async fn grep_searches_lines_as_ripgrep_does() {
    let dir = project();
    put(dir.path(), "a.txt", "say hello\nhello there\r\n");
    // A NUL byte past the first 8 KiB still makes the file binary: it is skipped whole.
    let mut late = "hello early\n".repeat(1000).into_bytes();
    late.extend_from_slice(b"\0tail\n");
    fs::write(dir.path().join("late.bin"), late).expect("write binary");
    let tools = open_tools(dir.path());
    // `$` anchors at the end of each line (the line terminator, `\r\n` too, is not part of it).
    let anchored = ok_text(
        tools
            .execute("grep", &args(json!({"pattern": "hello$"})))
            .await,
    );
    assert_eq!(anchored, "a.txt:1:say hello\n");
    let starts = ok_text(
        tools
            .execute("grep", &args(json!({"pattern": "^hello"})))
            .await,
    );
    assert_eq!(starts, "a.txt:2:hello there\n");
}
