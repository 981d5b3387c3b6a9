//! Tidy checks of the workspace's layering (in the spirit of rust-analyzer's `tidy` tests): they
//! read every crate's `Cargo.toml` and the sources under its `src/`, and fail with the file and
//! line of every break of the rules of ARCHITECTURE.md ("Layers"):
//!
//! - `team-core` is the pure domain: no IO crate among its dependencies (tokio, Diesel, reqwest,
//!   clap, …) and no `std::fs`, `std::net`, `std::process` in its sources.
//! - Each crate depends only on the crates below it: team-core < team-store <
//!   team-provider, team-tools, team-report < team-agent < team-runner < team-mcp < team-cli;
//!   team-provider, team-tools and team-report depend on no team crate but team-core;
//!   team-testkit only as a dev-dependency.
//! - Only team-cli prints (`println!`, `print!`, `eprintln!`, `eprint!`) or reads argv
//!   (`std::env::args`); the libraries return values and log with `tracing`.
//! - SQL (`SELECT … FROM`, `INSERT INTO`, `UPDATE … SET`, `DELETE FROM`, `CREATE`/`ALTER`/`DROP
//!   TABLE`) is written only in team-store.
//!
//! Test code is exempt: `tests/`, `benches/`, `examples/`, and in `src/` every item under
//! `#[cfg(test)]` (an inline module, or a `mod NAME;` whose file is then skipped). Comments and
//! doc comments never count; string literals count only for SQL.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// The production crates, lowest layer first, with their rank: a crate may depend only on crates
/// of a lower rank.
const LAYERS: &[(&str, u8)] = &[
    ("team-core", 0),
    ("team-store", 1),
    ("team-provider", 2),
    ("team-tools", 2),
    ("team-report", 2),
    ("team-agent", 3),
    ("team-runner", 4),
    ("team-mcp", 5),
    ("team-cli", 6),
];

/// Crates that do IO (files, network, processes, terminals, clocks, randomness, databases):
/// none may be a dependency of team-core.
const IO_CRATES: &[&str] = &[
    "tokio",
    "tokio-util",
    "futures-util",
    "diesel",
    "diesel_migrations",
    "libsqlite3-sys",
    "pq-sys",
    "r2d2",
    "reqwest",
    "axum",
    "hyper",
    "backon",
    "clap",
    "clap_complete",
    "indicatif",
    "comfy-table",
    "anstream",
    "tracing-subscriber",
    "nix",
    "libc",
    "landlock",
    "which",
    "etcetera",
    "ignore",
    "tempfile",
    "gethostname",
    "rand",
    "chrono",
    "anyhow",
];

/// Known breaks of the rules today, each with the reason it is allowed (another change may be
/// removing it): (path relative to the workspace root, rule, a part of the offending line).
/// An entry that no longer matches anything fails the test, so the list only shrinks.
const ALLOWED: &[(&str, Rule, &str)] = &[];

/// One of the rules checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rule {
    /// team-core depends on an IO crate or uses `std::fs`/`std::net`/`std::process`.
    CoreIo,
    /// A crate depends on a crate at its own layer or above.
    Layering,
    /// A library prints.
    Prints,
    /// A library reads argv.
    Argv,
    /// SQL outside team-store.
    Sql,
}

/// A break of a rule, at a file and line (1-based; 0 for a whole file).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Finding {
    path: String,
    line: usize,
    rule: Rule,
    text: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {:?}: {}",
            self.path,
            self.line,
            self.rule,
            self.text.trim()
        )
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("team-testkit lives in the workspace root")
        .to_path_buf()
}

fn rank(krate: &str) -> Option<u8> {
    LAYERS.iter().find(|(c, _)| *c == krate).map(|(_, r)| *r)
}

/// The dependencies of a manifest that end up in the crate's own build (not dev-dependencies):
/// `[dependencies]`, `[build-dependencies]` and their `[target.*.…]` forms, as (name, line).
fn normal_dependencies(manifest: &str) -> Vec<(String, usize)> {
    let doc: toml::Table = manifest.parse().expect("Cargo.toml is TOML");
    let mut tables: Vec<&toml::Table> = Vec::new();
    for key in ["dependencies", "build-dependencies"] {
        if let Some(t) = doc.get(key).and_then(|v| v.as_table()) {
            tables.push(t);
        }
    }
    if let Some(targets) = doc.get("target").and_then(|v| v.as_table()) {
        for target in targets.values().filter_map(|v| v.as_table()) {
            for key in ["dependencies", "build-dependencies"] {
                if let Some(t) = target.get(key).and_then(|v| v.as_table()) {
                    tables.push(t);
                }
            }
        }
    }
    let mut deps = Vec::new();
    for table in tables {
        for (name, spec) in table {
            // A renamed dependency names its crate in `package`.
            let krate = spec
                .get("package")
                .and_then(|p| p.as_str())
                .unwrap_or(name)
                .to_owned();
            deps.push((krate, line_of_key(manifest, name)));
        }
    }
    deps
}

/// The line (1-based) where `key` is first given a value in a manifest; 0 when not found.
fn line_of_key(manifest: &str, key: &str) -> usize {
    manifest
        .lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(['=', '.']))
        })
        .map_or(0, |i| i + 1)
}

/// One line of a source file seen two ways: `code` with comments and the contents of string
/// and char literals blanked, and `with_strings` with only comments blanked.
struct SourceLine {
    code: String,
    with_strings: String,
}

/// Splits a Rust source into [`SourceLine`]s. A small lexer: line and (nested) block comments,
/// string literals with escapes, raw strings (`r#"…"#`), byte strings, char literals and
/// lifetimes. Good enough for the checks, not a parser.
fn lex(source: &str) -> Vec<SourceLine> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Code,
        LineComment,
        Block(u32),
        Str,
        Raw(usize),
    }
    let chars: Vec<char> = source.chars().collect();
    let mut lines = Vec::new();
    let mut code = String::new();
    let mut with_strings = String::new();
    let mut state = State::Code;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '\n' {
            lines.push(SourceLine {
                code: std::mem::take(&mut code),
                with_strings: std::mem::take(&mut with_strings),
            });
            if state == State::LineComment {
                state = State::Code;
            }
            i += 1;
            continue;
        }
        match state {
            State::Code => {
                if c == '/' && next == Some('/') {
                    state = State::LineComment;
                    i += 2;
                    continue;
                }
                if c == '/' && next == Some('*') {
                    state = State::Block(1);
                    i += 2;
                    continue;
                }
                // Raw strings: r"…", r#"…"#, br#"…"# (the `b` is copied as code before).
                if c == 'r'
                    && (i == 0 || !is_ident(chars[i - 1]) || chars[i - 1] == 'b')
                    && matches!(next, Some('"' | '#'))
                {
                    let mut j = i + 1;
                    while chars.get(j) == Some(&'#') {
                        j += 1;
                    }
                    if chars.get(j) == Some(&'"') {
                        let hashes = j - i - 1;
                        for &ch in &chars[i..=j] {
                            code.push(ch);
                            with_strings.push(ch);
                        }
                        state = State::Raw(hashes);
                        i = j + 1;
                        continue;
                    }
                }
                if c == '"' {
                    code.push(c);
                    with_strings.push(c);
                    state = State::Str;
                    i += 1;
                    continue;
                }
                if c == '\'' {
                    // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
                    let end = if next == Some('\\') {
                        (i + 3..chars.len()).find(|&j| chars[j] == '\'')
                    } else if chars.get(i + 2) == Some(&'\'') {
                        Some(i + 2)
                    } else {
                        None
                    };
                    if let Some(end) = end {
                        code.push_str("' '");
                        for &ch in &chars[i..=end] {
                            with_strings.push(ch);
                        }
                        i = end + 1;
                        continue;
                    }
                }
                code.push(c);
                with_strings.push(c);
                i += 1;
            }
            State::LineComment => i += 1,
            State::Block(depth) => {
                if c == '*' && next == Some('/') {
                    state = if depth == 1 {
                        State::Code
                    } else {
                        State::Block(depth - 1)
                    };
                    i += 2;
                } else if c == '/' && next == Some('*') {
                    state = State::Block(depth + 1);
                    i += 2;
                } else {
                    i += 1;
                }
            }
            State::Str => {
                if c == '\\' {
                    with_strings.push(c);
                    if let Some(n) = next.filter(|n| *n != '\n') {
                        with_strings.push(n);
                    }
                    code.push_str("  ");
                    i += if next == Some('\n') { 1 } else { 2 };
                } else if c == '"' {
                    code.push(c);
                    with_strings.push(c);
                    state = State::Code;
                    i += 1;
                } else {
                    code.push(' ');
                    with_strings.push(c);
                    i += 1;
                }
            }
            State::Raw(hashes) => {
                if c == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
                    for &ch in &chars[i..=i + hashes] {
                        code.push(ch);
                        with_strings.push(ch);
                    }
                    state = State::Code;
                    i += hashes + 1;
                } else {
                    code.push(' ');
                    with_strings.push(c);
                    i += 1;
                }
            }
        }
    }
    lines.push(SourceLine { code, with_strings });
    lines
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The lines of `lines` that are test code: every item under `#[cfg(test)]` (up to the end of
/// its braces, or its `;`). Also returns the names of `#[cfg(test)] mod NAME;` declarations,
/// whose files are test code.
fn test_code(lines: &[SourceLine]) -> (BTreeSet<usize>, Vec<String>) {
    let mut skip = BTreeSet::new();
    let mut test_mods = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let code = lines[i].code.trim();
        let is_cfg_test = code.starts_with("#[cfg(test)]")
            || code.starts_with("#[cfg(any(test")
            || code.starts_with("#[cfg(all(test");
        if !is_cfg_test {
            i += 1;
            continue;
        }
        // The item: from this line to its closing brace (or to a `;` before any brace).
        let start = i;
        let mut depth = 0i32;
        let mut opened = false;
        let mut j = i;
        // The attribute itself may be followed by the item on the same line.
        let mut first = true;
        'item: while j < lines.len() {
            let text = &lines[j].code;
            let from = if first {
                text.find(")]").map_or(0, |p| p + 2)
            } else {
                0
            };
            first = false;
            for ch in text[from..].chars() {
                match ch {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => {
                        depth -= 1;
                        if opened && depth == 0 {
                            break 'item;
                        }
                    }
                    ';' if !opened => {
                        let decl = text.trim();
                        if let Some(name) =
                            decl.split_whitespace().skip_while(|w| *w != "mod").nth(1)
                        {
                            test_mods.push(name.trim_end_matches(';').to_owned());
                        }
                        break 'item;
                    }
                    _ => {}
                }
            }
            j += 1;
        }
        skip.extend(start..=j.min(lines.len().saturating_sub(1)));
        i = j + 1;
    }
    (skip, test_mods)
}

/// The `.rs` files under `dir`, recursively, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The production lines of a crate's `src/`: (path relative to the root, 1-based line, line),
/// without test code.
fn production_lines(root: &Path, krate: &str) -> Vec<(String, usize, SourceLine)> {
    let files = rust_files(&root.join(krate).join("src"));
    let mut lexed: Vec<(PathBuf, Vec<SourceLine>)> = files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read a source file");
            (p, lex(&text))
        })
        .collect();
    // Files declared as `#[cfg(test)] mod NAME;` next to or under their parent.
    let mut test_files = BTreeSet::new();
    for (path, lines) in &lexed {
        let (_, mods) = test_code(lines);
        let dir = match path.file_name().and_then(|n| n.to_str()) {
            Some("lib.rs" | "main.rs" | "mod.rs") => path.parent().unwrap().to_path_buf(),
            _ => path.with_extension(""),
        };
        for m in mods {
            test_files.insert(dir.join(format!("{m}.rs")));
            test_files.insert(dir.join(&m).join("mod.rs"));
        }
    }
    let mut out = Vec::new();
    for (path, lines) in lexed.drain(..) {
        if test_files.contains(&path) {
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        let (skip, _) = test_code(&lines);
        for (i, line) in lines.into_iter().enumerate() {
            if !skip.contains(&i) {
                out.push((rel.clone(), i + 1, line));
            }
        }
    }
    out
}

/// True when `code` calls macro `name!` (not as part of a longer name).
fn calls_macro(code: &str, name: &str) -> bool {
    code.match_indices(name).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + name.len()..].trim_start();
        !before.is_some_and(|c| is_ident(c) || c == ':' && !code[..at].ends_with("std::"))
            && after.starts_with('!')
    })
}

/// True when `text` holds an SQL statement (uppercase keywords, as the store writes them).
fn has_sql(text: &str) -> bool {
    let words: Vec<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '*'))
        .filter(|w| !w.is_empty())
        .collect();
    let at = |i: usize| words.get(i).copied().unwrap_or("");
    (0..words.len()).any(|i| match words[i] {
        "SELECT" => words[i + 1..].contains(&"FROM"),
        "INSERT" => at(i + 1) == "INTO",
        "DELETE" => at(i + 1) == "FROM",
        "UPDATE" => at(i + 2) == "SET",
        "CREATE" | "ALTER" | "DROP" => matches!(at(i + 1), "TABLE" | "INDEX" | "SCHEMA"),
        _ => false,
    })
}

/// Every break of the rules in the workspace at `root`.
fn findings(root: &Path) -> Vec<Finding> {
    let mut found = Vec::new();
    for &(krate, my_rank) in LAYERS {
        let manifest_path = format!("{krate}/Cargo.toml");
        let manifest =
            std::fs::read_to_string(root.join(&manifest_path)).expect("read a Cargo.toml");
        for (dep, line) in normal_dependencies(&manifest) {
            let mut push = |rule, text: String| {
                found.push(Finding {
                    path: manifest_path.clone(),
                    line,
                    rule,
                    text,
                })
            };
            if krate == "team-core" && IO_CRATES.contains(&dep.as_str()) {
                push(
                    Rule::CoreIo,
                    format!("team-core depends on the IO crate {dep}"),
                );
            }
            if dep == "team-testkit" {
                push(
                    Rule::Layering,
                    format!("{krate} depends on team-testkit (a dev-dependency only)"),
                );
            }
            if let Some(dep_rank) = rank(&dep) {
                let provider_or_tools =
                    matches!(krate, "team-provider" | "team-tools" | "team-report");
                if dep_rank >= my_rank || (provider_or_tools && dep != "team-core") {
                    push(
                        Rule::Layering,
                        format!("{krate} depends on {dep}, which is not below it"),
                    );
                }
            }
        }

        for (path, line, src) in production_lines(root, krate) {
            let mut push = |rule, text: &str| {
                found.push(Finding {
                    path: path.clone(),
                    line,
                    rule,
                    text: text.to_owned(),
                })
            };
            let code = &src.code;
            if krate == "team-core"
                && ["std::fs", "std::net", "std::process"]
                    .iter()
                    .any(|m| code.contains(m))
            {
                push(Rule::CoreIo, &src.with_strings);
            }
            if krate != "team-cli" {
                if ["println", "print", "eprintln", "eprint"]
                    .iter()
                    .any(|m| calls_macro(code, m))
                {
                    push(Rule::Prints, &src.with_strings);
                }
                if code.contains("env::args") {
                    push(Rule::Argv, &src.with_strings);
                }
            }
            if krate != "team-store" && has_sql(&src.with_strings) {
                push(Rule::Sql, &src.with_strings);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn the_layers_hold() {
    let root = workspace_root();
    let all = findings(&root);
    let allowed = |f: &Finding| {
        ALLOWED
            .iter()
            .any(|(path, rule, part)| f.path == *path && f.rule == *rule && f.text.contains(part))
    };
    let broken: Vec<String> = all
        .iter()
        .filter(|f| !allowed(f))
        .map(Finding::to_string)
        .collect();
    assert!(
        broken.is_empty(),
        "the layering rules of ARCHITECTURE.md are broken (file:line: rule: text):\n{}",
        broken.join("\n")
    );
    let stale: Vec<String> = ALLOWED
        .iter()
        .filter(|(path, rule, part)| {
            !all.iter()
                .any(|f| f.path == *path && f.rule == *rule && f.text.contains(part))
        })
        .map(|(path, rule, part)| format!("{path}: {rule:?}: {part}"))
        .collect();
    assert!(
        stale.is_empty(),
        "allowed breaks that no longer happen (remove them from ALLOWED):\n{}",
        stale.join("\n")
    );
}

// The checks themselves, on small inputs.

#[test]
fn the_lexer_blanks_comments_and_strings() {
    let lines = lex(
        "let a = \"println!(x) // no\"; // println!(y)\n/* eprintln!(\n */ let b = r#\"SELECT a FROM t\"#;\nlet c = '\"'; let d: &'static str = \"\";",
    );
    assert!(!lines[0].code.contains("println"), "{}", lines[0].code);
    assert!(lines[0].with_strings.contains("println!(x)"));
    assert!(!lines[0].with_strings.contains("(y)"));
    assert!(!lines[1].code.contains("eprintln"));
    assert!(!lines[2].code.contains("SELECT"));
    assert!(lines[2].with_strings.contains("SELECT a FROM t"));
    assert!(
        lines[3].code.contains("let d: &'static str"),
        "{}",
        lines[3].code
    );
}

#[test]
fn test_modules_are_skipped() {
    let lines = lex(
        "fn a() {}\n#[cfg(test)]\nmod tests {\n    fn b() { println!(\"x\"); }\n}\nfn c() {}\n#[cfg(test)]\nmod more;\n",
    );
    let (skip, mods) = test_code(&lines);
    assert_eq!(skip.into_iter().collect::<Vec<_>>(), [1, 2, 3, 4, 6, 7]);
    assert_eq!(mods, ["more"]);
}

#[test]
fn prints_and_sql_are_recognised() {
    assert!(calls_macro("    println!(\"x\");", "println"));
    assert!(calls_macro("std::eprintln!(\"x\")", "eprintln"));
    assert!(calls_macro("print !(\"x\")", "print"));
    assert!(!calls_macro("writeln!(out)", "println"));
    assert!(!calls_macro("fn println(x: u8)", "println"));
    assert!(!calls_macro("my_print!(x)", "print"));
    assert!(has_sql("\"SELECT id FROM members WHERE x\""));
    assert!(has_sql("\"UPDATE members SET status = $1\""));
    assert!(has_sql("\"INSERT INTO events (kind) VALUES ($1)\""));
    assert!(!has_sql("\"select the next task\""));
    assert!(!has_sql("\"SELECT a model\""));
}

#[test]
fn a_workspace_that_breaks_every_rule_is_caught() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let write = |rel: &str, text: &str| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    for &(krate, _) in LAYERS {
        write(
            &format!("{krate}/Cargo.toml"),
            &format!("[package]\nname = \"{krate}\"\n"),
        );
        write(&format!("{krate}/src/lib.rs"), "//! Fine.\n");
    }
    write(
        "team-core/Cargo.toml",
        "[package]\nname = \"team-core\"\n\n[dependencies]\nserde = \"1\"\ntokio.workspace = true\n",
    );
    write(
        "team-core/src/lib.rs",
        "use std::fs::read;\n#[cfg(test)]\nmod tests;\n/// println!(\"doc\")\npub fn f() {}\n",
    );
    write(
        "team-core/src/tests.rs",
        "fn t() { println!(\"ok in a test\"); }\n",
    );
    write(
        "team-tools/Cargo.toml",
        "[package]\nname = \"team-tools\"\n\n[dependencies]\nteam-core.workspace = true\nteam-store = { path = \"../team-store\" }\n",
    );
    write(
        "team-store/Cargo.toml",
        "[package]\nname = \"team-store\"\n\n[dependencies]\nteam-runner.workspace = true\n\n[dev-dependencies]\nteam-cli.workspace = true\n",
    );
    write(
        "team-runner/src/lib.rs",
        "pub fn f() {\n    eprintln!(\"x\");\n    let _ = std::env::args();\n    let _ = \"UPDATE members SET status = 1\";\n}\n",
    );
    write(
        "team-store/src/lib.rs",
        "pub const Q: &str = \"SELECT id FROM members\";\n",
    );
    let got: Vec<String> = findings(root).iter().map(Finding::to_string).collect();
    assert_eq!(
        got,
        [
            "team-core/Cargo.toml:6: CoreIo: team-core depends on the IO crate tokio",
            "team-core/src/lib.rs:1: CoreIo: use std::fs::read;",
            "team-runner/src/lib.rs:2: Prints: eprintln!(\"x\");",
            "team-runner/src/lib.rs:3: Argv: let _ = std::env::args();",
            "team-runner/src/lib.rs:4: Sql: let _ = \"UPDATE members SET status = 1\";",
            "team-store/Cargo.toml:5: Layering: team-store depends on team-runner, which is not below it",
            "team-tools/Cargo.toml:6: Layering: team-tools depends on team-store, which is not below it",
        ],
    );
}

#[test]
fn the_real_workspace_is_read() {
    let root = workspace_root();
    let lines: usize = LAYERS
        .iter()
        .map(|(krate, _)| production_lines(&root, krate).len())
        .sum();
    assert!(lines > 10_000, "only {lines} production lines found");
}
