//! Permission resolution, prompting, and permission checks inside tool execution.

use crate::common;

use std::io::{Cursor, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{args, project};
use serde_json::json;
use team_tools::WorkspaceTools;
use team_tools::permission::{
    AgentPermissions, Decision, DecisionSource, PermissionChecker, PermissionRequest, PromptAnswer,
    PromptGate, Prompter, RunFlags, RunPermissions, ScriptedPrompter, TerminalPrompter,
};

fn agent(value: serde_json::Value) -> AgentPermissions {
    serde_json::from_value(value).expect("agent permissions parse")
}

fn flags(allow: &[&str], yes: bool) -> RunFlags {
    RunFlags {
        allow: allow.iter().map(|s| s.to_string()).collect(),
        yes,
        ..RunFlags::default()
    }
}

fn request(tool: &str, subject: &str) -> PermissionRequest {
    PermissionRequest {
        tool: tool.into(),
        subject: subject.into(),
        summary: subject.into(),
    }
}

fn rule(key: Option<&str>, pattern: Option<&str>) -> DecisionSource {
    DecisionSource::AgentRule {
        key: key.map(str::to_string),
        pattern: pattern.map(str::to_string),
    }
}

#[tokio::test]
async fn resolution_table() {
    use Decision::{Allow, Deny};
    use DecisionSource::{AllowFlag, Default, NoTerminal, NotInToolsList, YesFlag};
    let none = json!({});
    #[rustfmt::skip]
    let table: Vec<(serde_json::Value, RunFlags, &str, &str, Decision, DecisionSource)> = vec![
        // Defaults: read tools allow, write tools and bash ask (= deny without a terminal).
        (none.clone(), flags(&[], false), "read_file", "", Allow, Default),
        (none.clone(), flags(&[], false), "list_files", "", Allow, Default),
        (none.clone(), flags(&[], false), "grep", "", Allow, Default),
        (none.clone(), flags(&[], false), "write_file", "a.rs", Deny, NoTerminal),
        (none.clone(), flags(&[], false), "edit_file", "a.rs", Deny, NoTerminal),
        (none.clone(), flags(&[], false), "bash", "ls", Deny, NoTerminal),
        // Permission map: single value, groups, exact names, wildcard, object form.
        (json!({"permission": "allow"}), flags(&[], false), "bash", "ls", Allow, rule(None, None)),
        (json!({"permission": {"edit": "deny"}}), flags(&[], false), "write_file", "a", Deny, rule(Some("edit"), None)),
        (json!({"permission": {"edit": "deny"}}), flags(&[], false), "edit_file", "a", Deny, rule(Some("edit"), None)),
        (json!({"permission": {"edit": "deny"}}), flags(&[], false), "read_file", "a", Allow, Default),
        (json!({"permission": {"*": "deny", "read": "allow"}}), flags(&[], false), "read_file", "a", Allow, rule(Some("read"), None)),
        (json!({"permission": {"*": "deny", "read": "allow"}}), flags(&[], false), "grep", "x", Deny, rule(Some("*"), None)),
        (json!({"permission": {"write_file": "deny", "edit": "allow"}}), flags(&[], false), "write_file", "a", Deny, rule(Some("write_file"), None)),
        (json!({"permission": {"write_file": "deny", "edit": "allow"}}), flags(&[], false), "edit_file", "a", Allow, rule(Some("edit"), None)),
        (json!({"permission": {"glob": "deny"}}), flags(&[], false), "list_files", "*", Deny, rule(Some("glob"), None)),
        (json!({"permission": {"bash": {"*": "ask", "git *": "allow"}}}), flags(&[], false), "bash", "git status", Allow, rule(Some("bash"), Some("git *"))),
        (json!({"permission": {"bash": {"*": "ask", "git *": "allow"}}}), flags(&[], false), "bash", "ls", Deny, NoTerminal),
        (json!({"permission": {"bash": {"git *": "allow"}, "*": "deny"}}), flags(&[], false), "bash", "ls", Deny, rule(Some("*"), None)),
        // tools allow-list (Claude Code): not listed = denied, even with --allow or --yes.
        (json!({"tools": ["read_file", "grep"]}), flags(&[], false), "read_file", "a", Allow, Default),
        (json!({"tools": ["read_file", "grep"]}), flags(&[], false), "list_files", "*", Deny, NotInToolsList),
        (json!({"tools": ["read_file", "grep"]}), flags(&["bash"], true), "bash", "ls", Deny, NotInToolsList),
        (json!({"tools": ["bash"], "permission": {"bash": "allow"}}), flags(&[], false), "bash", "ls", Allow, rule(Some("bash"), None)),
        // --allow: tool, group or *, but never over an agent deny.
        (none.clone(), flags(&["bash"], false), "bash", "ls", Allow, AllowFlag),
        (none.clone(), flags(&["bash"], false), "write_file", "a", Deny, NoTerminal),
        (none.clone(), flags(&["edit"], false), "write_file", "a", Allow, AllowFlag),
        (none.clone(), flags(&["*"], false), "edit_file", "a", Allow, AllowFlag),
        (json!({"permission": {"bash": "ask"}}), flags(&["bash"], false), "bash", "ls", Allow, AllowFlag),
        (json!({"permission": {"bash": "deny"}}), flags(&["bash"], false), "bash", "ls", Deny, rule(Some("bash"), None)),
        // --yes: ask becomes allow; deny stays deny; allow keeps its own source.
        (none.clone(), flags(&[], true), "bash", "ls", Allow, YesFlag),
        (none.clone(), flags(&[], true), "write_file", "a", Allow, YesFlag),
        (none.clone(), flags(&[], true), "read_file", "a", Allow, Default),
        (json!({"permission": {"bash": "deny"}}), flags(&[], true), "bash", "ls", Deny, rule(Some("bash"), None)),
        (json!({"permission": {"bash": {"*": "ask", "rm *": "deny"}}}), flags(&["bash"], true), "bash", "rm -rf x", Deny, rule(Some("bash"), Some("rm *"))),
        (json!({"permission": {"bash": {"*": "ask", "rm *": "deny"}}}), flags(&[], true), "bash", "ls", Allow, YesFlag),
    ];
    for (i, (agent_json, run_flags, tool, subject, want, want_source)) in
        table.into_iter().enumerate()
    {
        let run = Arc::new(RunPermissions::non_interactive(run_flags.clone()));
        let checker = PermissionChecker::new("m", agent(agent_json.clone()), run);
        let got = checker.check(&request(tool, subject)).await;
        assert_eq!(
            (got.decision, &got.source),
            (want, &want_source),
            "row {i}: {agent_json} {run_flags:?} {tool} {subject:?}: {}",
            got.reason
        );
        assert_eq!(got.to_error().is_some(), want == Deny, "row {i}");
    }
}

#[tokio::test]
async fn denial_without_terminal_explains_how_to_allow() {
    let run = Arc::new(RunPermissions::non_interactive(RunFlags::default()));
    let checker = PermissionChecker::new("bob", AgentPermissions::default(), run);
    let decision = checker.check(&request("bash", "cargo test")).await;
    let text = decision
        .to_error()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        text,
        "bash denied: no terminal to ask and the run was not started with --allow bash or --yes"
    );
    let event = serde_json::to_value(&decision).expect("decision serializes");
    assert_eq!(event["decision"], "deny");
    assert_eq!(event["source"]["kind"], "no_terminal");
    assert_eq!(event["member"], "bob");
}

#[tokio::test]
async fn scripted_prompter_yes_no_and_always() {
    let prompter = Arc::new(ScriptedPrompter::new([
        PromptAnswer::Yes,
        PromptAnswer::No,
        PromptAnswer::Always,
    ]));
    let run = Arc::new(RunPermissions::new(
        RunFlags::default(),
        PromptGate::new(Some(prompter.clone())),
    ));
    let alice = PermissionChecker::new("alice", AgentPermissions::default(), run.clone());
    let bob = PermissionChecker::new("bob", AgentPermissions::default(), run.clone());
    let carol = PermissionChecker::new(
        "carol",
        agent(json!({"permission": {"bash": "deny"}})),
        run.clone(),
    );

    let yes = alice.check(&request("bash", "make")).await;
    assert_eq!(
        (yes.decision, &yes.source),
        (
            Decision::Allow,
            &DecisionSource::Human {
                answer: PromptAnswer::Yes
            }
        )
    );
    let no = alice.check(&request("bash", "rm -rf /")).await;
    assert_eq!(no.decision, Decision::Deny);
    assert!(no.reason.contains("refused"), "{}", no.reason);
    let always = bob.check(&request("bash", "ls")).await;
    assert_eq!(always.decision, Decision::Allow);
    // "always" covers later calls of that tool by any member, without asking again …
    let later = alice.check(&request("bash", "pwd")).await;
    assert_eq!(
        (later.decision, &later.source),
        (Decision::Allow, &DecisionSource::AlwaysThisRun)
    );
    // … but not other tools, and not over an agent's own deny.
    let write = alice.check(&request("write_file", "a.rs")).await;
    assert_eq!(
        write.decision,
        Decision::Deny,
        "the script is exhausted, so asking fails"
    );
    assert!(
        matches!(write.source, DecisionSource::PromptFailed { .. }),
        "{:?}",
        write.source
    );
    let denied = carol.check(&request("bash", "ls")).await;
    assert_eq!(denied.decision, Decision::Deny);

    let asked = prompter.asked();
    let asked: Vec<(&str, &str, &str)> = asked
        .iter()
        .map(|r| (r.member.as_str(), r.tool.as_str(), r.summary.as_str()))
        .collect();
    assert_eq!(
        asked,
        [
            ("alice", "bash", "make"),
            ("alice", "bash", "rm -rf /"),
            ("bob", "bash", "ls"),
            ("alice", "write_file", "a.rs")
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompts_never_overlap_across_members() {
    let prompter = Arc::new(
        ScriptedPrompter::new([PromptAnswer::Yes; 4]).with_delay(Duration::from_millis(30)),
    );
    let run = Arc::new(RunPermissions::new(
        RunFlags::default(),
        PromptGate::new(Some(prompter.clone())),
    ));
    let mut handles = Vec::new();
    for i in 0..4 {
        let checker =
            PermissionChecker::new(format!("m{i}"), AgentPermissions::default(), run.clone());
        handles.push(tokio::spawn(async move {
            checker.check(&request("edit_file", "x")).await
        }));
    }
    for handle in handles {
        let decision = handle.await.expect("check task");
        assert_eq!(decision.decision, Decision::Allow);
    }
    assert_eq!(prompter.asked().len(), 4);
    assert_eq!(prompter.max_concurrent(), 1);
}

/// A writer whose bytes the test can read afterwards.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn terminal_prompter_reads_answers_and_shows_the_call() {
    let screen = Shared::default();
    let prompter =
        TerminalPrompter::from_streams(Cursor::new(b"maybe\nA\n".to_vec()), screen.clone());
    let req = team_tools::permission::PromptRequest {
        member: "alice".into(),
        tool: "bash".into(),
        summary: "echo hi\necho \u{1b}[2J".into(),
    };
    let answer = prompter.ask(&req).await.expect("answered");
    assert_eq!(answer, PromptAnswer::Always);
    let shown = String::from_utf8(screen.0.lock().map(|b| b.clone()).unwrap_or_default())
        .unwrap_or_default();
    assert!(
        shown.contains("member `alice` wants to use bash: echo hi⏎echo �[2J"),
        "{shown}"
    );
    assert!(shown.contains("please answer y, n or a"), "{shown}");

    let closed = TerminalPrompter::from_streams(Cursor::new(Vec::new()), Shared::default());
    let run = Arc::new(RunPermissions::new(
        RunFlags::default(),
        PromptGate::new(Some(Arc::new(closed))),
    ));
    let checker = PermissionChecker::new("alice", AgentPermissions::default(), run);
    let decision = checker.check(&request("bash", "ls")).await;
    assert_eq!(decision.decision, Decision::Deny);
    assert!(decision.reason.contains("closed"), "{}", decision.reason);
}

#[tokio::test]
async fn execute_checks_permissions_and_returns_the_decision() {
    let dir = project();
    let run = Arc::new(RunPermissions::non_interactive(RunFlags::default()));
    let tools = WorkspaceTools::new(
        dir.path(),
        PermissionChecker::new("m", AgentPermissions::default(), run),
    )
    .expect("tools");
    let outcome = tools
        .execute_with_decision(
            "write_file",
            &args(json!({"path": "x.txt", "content": "hi"})),
        )
        .await;
    let decision = outcome.decision.expect("a check was made");
    assert_eq!(
        (decision.decision, &decision.source),
        (Decision::Deny, &DecisionSource::NoTerminal)
    );
    assert_eq!(decision.summary, "`x.txt` (2 bytes)");
    assert!(outcome.result.as_ref().is_err_and(|e| e.is_denied()));
    assert!(
        !dir.path().join("x.txt").exists(),
        "a denied write writes nothing"
    );
    let read = tools
        .execute_with_decision("list_files", &args(json!({"pattern": "*"})))
        .await;
    assert!(read.decision.is_some_and(|d| d.is_allowed()) && read.result.is_ok());

    // A human "no" stops the command before it runs. (The sandbox lets bash write in existing
    // subdirectories, not at the top level.)
    std::fs::create_dir(dir.path().join("src")).expect("src dir");
    let prompter = Arc::new(ScriptedPrompter::new([PromptAnswer::No, PromptAnswer::Yes]));
    let run = Arc::new(RunPermissions::new(
        RunFlags::default(),
        PromptGate::new(Some(prompter.clone())),
    ));
    let tools = WorkspaceTools::new(
        dir.path(),
        PermissionChecker::new("m", AgentPermissions::default(), run),
    )
    .expect("tools");
    let refused = tools
        .execute("bash", &args(json!({"command": "touch src/ran"})))
        .await;
    assert!(
        refused.as_ref().is_err_and(|e| e.is_denied()),
        "{refused:?}"
    );
    assert!(!dir.path().join("src/ran").exists());
    let allowed = tools
        .execute("bash", &args(json!({"command": "touch src/ran"})))
        .await;
    assert!(allowed.is_ok(), "{allowed:?}");
    assert!(dir.path().join("src/ran").exists(), "{allowed:?}");
    assert_eq!(prompter.asked()[0].summary, "touch src/ran (timeout 120 s)");
}

#[tokio::test]
async fn specs_leave_out_tools_missing_from_the_allow_list() {
    let dir = project();
    let run = Arc::new(RunPermissions::non_interactive(RunFlags::default()));
    let checker = PermissionChecker::new("m", agent(json!({"tools": ["read_file", "grep"]})), run);
    let tools = WorkspaceTools::new(dir.path(), checker).expect("tools");
    let names: Vec<String> = tools.specs().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["read_file", "grep"]);
    let denied = tools
        .execute("bash", &args(json!({"command": "true"})))
        .await;
    let text = denied.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        text.starts_with("bash denied: the agent's `tools` list does not include bash"),
        "{text}"
    );
}

/// `--on-ask`: `deny` denies an ask without a prompt even with a prompter attached; `park`
/// answers "needs approval" (naming the rule that asked), and a deny or an allow stays as
/// it was; `--allow` and `--yes` still win over both.
#[tokio::test]
async fn on_ask_deny_and_park() {
    use team_tools::permission::OnAsk;
    let with = |on_ask: OnAsk, allow: &[&str]| RunFlags {
        on_ask,
        ..flags(allow, false)
    };
    let prompter: Arc<dyn Prompter> = Arc::new(ScriptedPrompter::new([PromptAnswer::Yes]));
    let run = Arc::new(RunPermissions::new(
        with(OnAsk::Deny, &[]),
        PromptGate::new(Some(prompter)),
    ));
    let c = PermissionChecker::new("m", agent(json!({})), run);
    let d = c.check(&request("bash", "ls")).await;
    assert_eq!(
        (d.decision, d.source.clone()),
        (Decision::Deny, DecisionSource::OnAskDeny)
    );
    assert!(d.reason.contains("--on-ask deny"), "{}", d.reason);

    let perms = json!({"permission": {"bash": {"*": "ask", "rm *": "deny"}}});
    let run = Arc::new(RunPermissions::non_interactive(with(OnAsk::Park, &[])));
    let c = PermissionChecker::new("m", agent(perms.clone()), run.clone());
    let d = c.check(&request("bash", "ls")).await;
    assert!(d.needs_approval(), "{d:?}");
    assert_eq!(d.decision, Decision::Deny, "not run before a human decides");
    assert!(d.reason.contains("`bash` pattern `*`"), "{}", d.reason);
    let d = c.check(&request("bash", "rm -rf x")).await;
    assert!(!d.needs_approval() && d.decision == Decision::Deny, "{d:?}");
    let d = c.check(&request("read_file", "a")).await;
    assert!(d.is_allowed());
    let allowed = PermissionChecker::new(
        "m",
        agent(perms),
        Arc::new(RunPermissions::non_interactive(with(
            OnAsk::Park,
            &["bash"],
        ))),
    );
    assert!(allowed.check(&request("bash", "ls")).await.is_allowed());
    // A member spawned with its own mode shares the gate.
    let prompting = run.with_on_ask(OnAsk::Prompt);
    assert!(Arc::ptr_eq(&prompting.gate, &run.gate));
    assert_eq!(prompting.flags.on_ask, OnAsk::Prompt);
}

/// A call parked for approval runs with `execute_approved`, and the protected paths stay
/// refused even then.
#[tokio::test]
async fn an_approved_call_runs_but_protected_paths_stay_refused() {
    use team_tools::permission::OnAsk;
    let dir = project();
    let root = dir.path().to_path_buf();
    std::fs::create_dir_all(root.join(".team")).expect("mkdir .team");
    let run = Arc::new(RunPermissions::non_interactive(RunFlags {
        on_ask: OnAsk::Park,
        ..flags(&[], false)
    }));
    let tools = WorkspaceTools::new(&root, PermissionChecker::new("m", agent(json!({})), run))
        .expect("tools");
    let call = args(json!({"path": "out.txt", "content": "hi"}));
    let parked = tools.execute_with_decision("write_file", &call).await;
    assert!(parked.decision.as_ref().is_some_and(|d| d.needs_approval()));
    assert!(parked.result.is_err());
    assert!(!root.join("out.txt").exists());
    let ran = tools.execute_approved("write_file", &call, 7).await;
    assert!(ran.result.is_ok(), "{:?}", ran.result);
    assert_eq!(
        ran.decision.map(|d| d.source),
        Some(DecisionSource::Approved { id: 7 })
    );
    assert_eq!(std::fs::read_to_string(root.join("out.txt")).unwrap(), "hi");
    let protected = args(json!({"path": ".team/config.toml", "content": "x"}));
    let refused = tools.execute_approved("write_file", &protected, 8).await;
    assert!(matches!(
        refused.decision.map(|d| d.source),
        Some(DecisionSource::ProtectedPath { .. })
    ));
}
