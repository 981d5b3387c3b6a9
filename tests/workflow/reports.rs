//! The reports CI reads, from a real `team run spec-review` of PEP 765 against the scripted
//! model: SARIF 2.1.0 valid against the official schema (OASIS, errata 01, vendored as
//! `tests/data/sarif-schema-2.1.0.json`) with one result per finding on the right line;
//! GitHub Actions annotations and the step summary (only under `GITHUB_ACTIONS=true`); the
//! HTML page rendered in headless Chromium (its text, its filters, no HTML injection from the
//! models' text) and its screenshot; and the report that names a disputer once.
//!
//! Chromium (Debian's `chromium` package) is looked for on `PATH`; without it the rendering
//! checks are skipped with a message, except in CI (`CI` set), where they fail. Set
//! `TEAM_UPDATE_SCREENSHOT=1` to write the screenshot to `docs/report.png`.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use team_testkit::ScriptedServer;
use team_testkit::process::output_within;

use crate::support::{
    CALL_TIMEOUT, Dispute, Faults, Project, Raw, code, data_file, dump, pep_0765, run_args, script,
    stderr, stdout,
};

const LATENCY_MS: u64 = 20;

/// `team ARGS` in `p` with the extra environment `env`.
async fn team_env(p: &Project, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = p.command(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    output_within(cmd, CALL_TIMEOUT, &format!("team {}", args.join(" "))).await
}

/// The 1-based line of the heading `title` (a line of its own, underlined) in `text`.
fn heading_line(text: &str, title: &str) -> u64 {
    let lines: Vec<&str> = text.lines().collect();
    let i = lines
        .windows(2)
        .position(|w| w[0] == title && w[1].starts_with("==="))
        .unwrap_or_else(|| panic!("no heading {title}"));
    i as u64 + 1
}

/// The errors of `log` against the SARIF 2.1.0 schema.
fn sarif_errors(log: &Value) -> Vec<String> {
    let text = std::fs::read_to_string(data_file("sarif-schema-2.1.0.json")).expect("schema");
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the SARIF schema compiles");
    validator
        .iter_errors(log)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn the_schema_check_rejects_what_is_not_sarif() {
    // The vendored schema is the real one: it is strict about what it knows.
    let bad = serde_json::json!({"version": "2.1.0", "runs": [{"tool": {"driver": {}}, "results": [{"level": "fatal", "message": {"text": "x"}}]}]});
    let errors = sarif_errors(&bad);
    assert!(errors.iter().any(|e| e.contains("name")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("fatal")), "{errors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sarif_annotations_and_the_step_summary_in_github_actions() {
    let review = pep_0765();
    let server = ScriptedServer::start(script(&review, &Faults::default(), LATENCY_MS))
        .await
        .unwrap();
    let p = Project::new(&server.base_url()).await;
    let spec = p.spec(review.spec);
    let spec_text = p.read(&spec);
    let summary = p.path("step-summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let out = team_env(
        &p,
        &run_args(
            &spec,
            "review",
            &["--format", "sarif", "-o", "report.sarif"],
        ),
        &[
            ("GITHUB_ACTIONS", Path::new("true")),
            ("GITHUB_STEP_SUMMARY", &summary),
        ],
    )
    .await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let exp = review.expected(&[]);

    // SARIF: valid, one result per finding, levels, lines, attribution.
    let log: Value = serde_json::from_str(&p.read("report.sarif")).expect("SARIF is JSON");
    let errors = sarif_errors(&log);
    assert!(errors.is_empty(), "{}\n{log:#}", errors.join("\n"));
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "team");
    let results = run["results"].as_array().expect("results");
    assert_eq!(results.len(), exp.findings.len(), "{log:#}");
    for e in &exp.findings {
        let r = results
            .iter()
            .find(|r| {
                r["message"]["text"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with(e.raw.finding)
            })
            .unwrap_or_else(|| panic!("no result for `{}`: {log:#}", e.raw.finding));
        let level = match e.raw.severity {
            "blocker" | "major" => "error",
            "minor" => "warning",
            _ => "note",
        };
        assert_eq!(r["level"], level, "{r:#}");
        assert_eq!(
            r["ruleId"],
            format!("spec-review/{}", e.raw.severity),
            "{r:#}"
        );
        let loc = &r["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "pep-0765.rst", "{r:#}");
        // Every location of this review names a section of the PEP but `Examples`, which
        // points at the first line that speaks of examples.
        let line = if e.raw.location == "Examples" {
            spec_text
                .lines()
                .position(|l| l.to_lowercase().contains("examples"))
                .map(|i| i as u64 + 1)
                .expect("a line about examples")
        } else {
            heading_line(&spec_text, e.raw.location)
        };
        assert_eq!(
            loc["region"]["startLine"], line,
            "the line of {}: {r:#}",
            e.raw.location
        );
        let props = &r["properties"];
        assert_eq!(props["raised_by"], e.raised_by.as_str(), "{r:#}");
        assert_eq!(props["phase"], e.phase, "{r:#}");
        assert_eq!(props["suggestion"], e.raw.suggestion, "{r:#}");
        let agreed: Vec<&str> = props["agreed_by"]
            .as_array()
            .expect("agreed_by")
            .iter()
            .map(|v| v["member"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(agreed, e.agreed, "{r:#}");
        let disputed: Vec<(String, String)> = props["disputed_by"]
            .as_array()
            .expect("disputed_by")
            .iter()
            .map(|v| {
                let s = |k: &str| v[k].as_str().unwrap_or("").to_owned();
                (s("member"), s("reason"))
            })
            .collect();
        assert_eq!(disputed, e.disputed, "{r:#}");
    }
    assert_eq!(
        run["invocations"][0]["executionSuccessful"], true,
        "{log:#}"
    );

    // The same SARIF from the stored report.
    let again = p.team(&["report", "review", "--format", "sarif"]).await;
    assert_eq!(code(&again), 0, "{}", dump(&again));
    assert_eq!(stdout(&again), p.read("report.sarif"));

    // Annotations on stderr: every finding at or above minor (the default), worst first.
    let err = stderr(&out);
    let annotations: Vec<&str> = err.lines().filter(|l| l.starts_with("::")).collect();
    let wanted = exp
        .findings
        .iter()
        .filter(|f| f.raw.severity != "nit")
        .count();
    assert_eq!(annotations.len(), wanted, "{err}");
    let spec_line = heading_line(&spec_text, "Specification");
    let timeline = annotations
        .iter()
        .find(|a| a.contains("no release timeline"))
        .unwrap_or_else(|| panic!("no annotation of the timeline finding: {err}"));
    assert!(
        timeline.starts_with(&format!(
            "::error file=pep-0765.rst,line={spec_line},title=F1 major (Specification) by architecture::The change is specified as a SyntaxWarning first"
        )),
        "{timeline}"
    );
    assert!(
        timeline.contains(
            "%0ASuggestion: State the release in which the warning becomes a SyntaxError."
        ),
        "{timeline}"
    );
    let study = annotations
        .iter()
        .find(|a| a.contains("corpus study"))
        .unwrap_or_else(|| panic!("no annotation of the corpus study: {err}"));
    assert!(
        study.starts_with("::warning file=pep-0765.rst,line="),
        "{study}"
    );
    assert!(
        study.contains("%0ADisputed by testing: the corpus numbers are reproducible"),
        "{study}"
    );
    assert!(!err.contains("::notice"), "nits are below the level: {err}");

    // The step summary: what was there, then the Markdown report.
    let md = p.read("step-summary.md");
    assert!(
        md.starts_with("earlier step\n# spec-review report: pep-0765.rst\n"),
        "{md}"
    );
    assert!(md.contains("## Findings"), "{md}");
    assert!(
        md.contains("  - Disputed by testing: the corpus numbers are reproducible"),
        "{md}"
    );

    // HTML from the stored report, with the run's tokens and timings.
    let html = p.team(&["report", "review", "--format", "html"]).await;
    assert_eq!(code(&html), 0, "{}", dump(&html));
    let page = stdout(&html);
    assert!(page.contains("Tokens and timings"), "{page}");
    std::fs::write(p.path("report.html"), &page).unwrap();
    let Some(chromium) = Chromium::find() else {
        return;
    };
    let dom = chromium.dump_dom(&p.path("report.html"), "").await;
    for e in &exp.findings {
        assert!(
            dom.contains(e.raw.finding),
            "`{}` on the page",
            e.raw.finding
        );
    }
    let all = exp.findings.len();
    let shown = format!("{all} of {all} findings shown");
    for text in [
        "spec-review report: pep-0765.rst",
        shown.as_str(),
        "Disputed by testing: the corpus numbers are reproducible from the linked discussion",
        "In which release does the SyntaxWarning become a SyntaxError?",
        "Cross-review",
        "Tokens and timings",
        "api-usability",
    ] {
        assert!(dom.contains(text), "`{text}` on the page:\n{dom}");
    }
    let filtered = chromium
        .dump_dom(
            &p.path("report.html"),
            "#severity=major,minor&specialist=testing",
        )
        .await;
    assert!(
        filtered.contains(&format!("1 of {all} findings shown")),
        "the filters from the address:\n{filtered}"
    );
    let png = p.path("report.png");
    chromium.screenshot(&p.path("report.html"), &png).await;
    let bytes = std::fs::read(&png).expect("the screenshot");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert!(
        bytes.len() > 20_000,
        "a page, not a blank: {} bytes",
        bytes.len()
    );
    if std::env::var_os("TEAM_UPDATE_SCREENSHOT").is_some_and(|v| v == "1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/report.png");
        std::fs::copy(&png, docs).expect("write docs/report.png");
    }
}

/// What the injected finding says: markup that would run if it were not escaped.
const INJECTED: &str = "The spec is <script>document.title='pwned'</script><img src=x onerror=\"document.body.dataset.pwned=1\"> unclear.";

/// What the injected dispute says: it tries to close the tooltip attribute.
const INJECTED_REASON: &str = "\"><script>document.body.dataset.pwned=2</script> is not a reason";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_escapes_what_models_write() {
    let mut review = pep_0765();
    review.findings[1].1[0] = Raw {
        severity: "major",
        location: "Motivation <b>",
        finding: INJECTED,
        suggestion: "Close the </style> and <!-- comment",
    };
    review.disputes.push(Dispute {
        who: "testing",
        of: "document.title",
        reason: INJECTED_REASON,
    });
    let server = ScriptedServer::start(script(&review, &Faults::default(), LATENCY_MS))
        .await
        .unwrap();
    let p = Project::new(&server.base_url()).await;
    let spec = p.spec(review.spec);
    // Outside GitHub Actions a step summary is not written.
    let summary = p.path("step-summary.md");
    let out = team_env(
        &p,
        &run_args(&spec, "review", &["--format", "html", "-o", "report.html"]),
        &[("GITHUB_STEP_SUMMARY", &summary)],
    )
    .await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    assert!(!summary.exists(), "no step summary outside GitHub Actions");
    assert!(
        !stderr(&out).lines().any(|l| l.starts_with("::")),
        "no annotations outside GitHub Actions: {}",
        dump(&out)
    );
    let page = p.read("report.html");
    assert!(!page.contains("<script>document"), "{page}");
    assert!(!page.contains("<img"), "{page}");
    assert!(!page.contains("</style> and"), "{page}");
    assert!(page.contains("&lt;script&gt;document.title="), "{page}");
    assert_eq!(
        page.matches("<script").count(),
        1,
        "only the page's own script"
    );

    let Some(chromium) = Chromium::find() else {
        return;
    };
    let dom = chromium.dump_dom(&p.path("report.html"), "").await;
    assert!(
        !dom.contains("data-pwned"),
        "no injected script ran:\n{dom}"
    );
    assert!(
        dom.contains("<title>spec-review report: pep-0765.rst</title>"),
        "{dom}"
    );
    // The text is on the page as text.
    assert!(
        dom.contains("The spec is &lt;script&gt;document.title='pwned'&lt;/script&gt;&lt;img src=x onerror=\"document.body.dataset.pwned=1\"&gt; unclear."),
        "{dom}"
    );
    assert!(dom.contains("Motivation &lt;b&gt;"), "{dom}");
    assert!(
        dom.contains("Disputed by testing: \"&gt;&lt;script&gt;document.body.dataset.pwned=2&lt;/script&gt; is not a reason"),
        "{dom}"
    );
    let all = review.expected(&[]).findings.len();
    assert!(
        dom.contains(&format!("{all} of {all} findings shown")),
        "the page's script ran:\n{dom}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_replay_names_each_disputer_once() {
    // The cassette in examples/ was recorded from a scripted model that signs its reasons
    // ("testing: see the corpus numbers"): the report prints the name once.
    let p = Project::bare();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    std::fs::create_dir_all(p.path("examples")).unwrap();
    for f in ["pep-0765.rst", "pep-0765.cassette.jsonl"] {
        std::fs::copy(examples.join(f), p.path(&format!("examples/{f}"))).unwrap();
    }
    let out = p
        .team(&[
            "run",
            "spec-review",
            "examples/pep-0765.rst",
            "--replay",
            "examples/pep-0765.cassette.jsonl",
            "--name",
            "example",
        ])
        .await;
    assert_eq!(code(&out), 0, "{}", dump(&out));
    let md = stdout(&out);
    assert!(
        md.contains("  - Disputed by testing: see the corpus numbers\n"),
        "{md}"
    );
    for s in crate::support::SPECIALISTS {
        assert!(!md.contains(&format!("{s}: {s}:")), "`{s}` twice:\n{md}");
    }
    let json = p.team(&["report", "example", "--format", "json"]).await;
    let v: Value = serde_json::from_slice(&json.stdout).expect("JSON report");
    let reasons: Vec<&str> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .flat_map(|f| {
            f["agreed_by"]
                .as_array()
                .into_iter()
                .chain(f["disputed_by"].as_array())
                .flatten()
        })
        .map(|v| v["reason"].as_str().unwrap_or(""))
        .collect();
    assert!(!reasons.is_empty());
    for r in reasons {
        assert!(
            !crate::support::SPECIALISTS
                .iter()
                .any(|s| r.starts_with(&format!("{s}:"))),
            "a stored reason still starts with its speaker: {r}"
        );
    }
}

/// Debian's `chromium`, headless.
struct Chromium {
    bin: PathBuf,
    profile: tempfile::TempDir,
}

impl Chromium {
    /// Chromium from `PATH`; `None` (after saying so) when it is missing outside CI. In CI
    /// (`CI` set and not `0` or `false`) a missing Chromium fails the test: `.ci/run`
    /// installs it.
    fn find() -> Option<Chromium> {
        let found = ["chromium", "chromium-browser", "google-chrome"]
            .iter()
            .find_map(|name| {
                std::env::var_os("PATH").and_then(|paths| {
                    std::env::split_paths(&paths)
                        .map(|d| d.join(name))
                        .find(|p| p.is_file())
                })
            });
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
        match found {
            Some(bin) => Some(Chromium {
                bin,
                profile: tempfile::tempdir().expect("a profile directory"),
            }),
            None if ci => panic!(
                "chromium is not installed, and CI must render the HTML report: apt-get install -y chromium"
            ),
            None => {
                eprintln!(
                    "skipped: the HTML report's rendering checks need chromium (apt-get install -y chromium)"
                );
                None
            }
        }
    }

    async fn run(&self, args: &[String]) -> Output {
        let mut cmd = team_testkit::process::command(&self.bin, self.profile.path());
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", self.profile.path().display()))
        .args(args);
        let out = output_within(cmd, CALL_TIMEOUT, "chromium").await;
        assert!(out.status.success(), "chromium: {}", dump(&out));
        out
    }

    /// The page's DOM after its script ran, opened with `fragment` (`#…`) in its address.
    async fn dump_dom(&self, page: &Path, fragment: &str) -> String {
        let url = format!("file://{}{fragment}", page.display());
        stdout(&self.run(&["--dump-dom".into(), url]).await)
    }

    /// A PNG of the page at 1280×1600 written to `png`.
    async fn screenshot(&self, page: &Path, png: &Path) {
        let url = format!("file://{}", page.display());
        self.run(&[
            "--window-size=1280,1600".into(),
            format!("--screenshot={}", png.display()),
            url,
        ])
        .await;
    }
}

#[test]
fn the_fixture_spec_has_the_headings_the_test_expects() {
    let text = std::fs::read_to_string(data_file("pep-0765.rst")).unwrap();
    for h in [
        "Abstract",
        "Motivation",
        "Rationale",
        "Specification",
        "How to Teach This",
    ] {
        heading_line(&text, h);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_annotate_level_is_a_usage_error_before_anything_runs() {
    let p = Project::bare();
    let spec = p.spec("pep-0765.rst");
    let out = p
        .team(&[
            "run",
            "spec-review",
            &spec,
            "--model",
            "mock/review-model",
            "--annotate-level",
            "loud",
        ])
        .await;
    assert_eq!(code(&out), 2, "{}", dump(&out));
    assert!(
        stderr(&out)
            .contains("--annotate-level takes blocker, major, minor, nit or none, not `loud`"),
        "{}",
        dump(&out)
    );
    assert!(!p.path(".team").exists(), "nothing left behind");
}
