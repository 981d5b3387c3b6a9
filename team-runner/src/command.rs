//! Command agents: any program can be a member.
//!
//! One turn = one run of the agent's `command`: the turn's input (the prompt, or the messages
//! that woke a persistent member) goes to its stdin (and replaces `{prompt}` in its
//! arguments), its stdout is the turn's result. Exit 0 is success; a non-zero exit or a
//! signal is a failure whose error gives the exit status and the tail of stderr. ANSI escape
//! codes are stripped from both.
//!
//! The program gets an explicit environment ([`agent_environment`]): the runner's minus
//! anything that looks like a secret, plus the names the agent file passes through
//! (`env_passthrough:`), plus its `env:` values, plus `TEAM_DATABASE_URL`, `TEAM_ID`,
//! `TEAM_MEMBER`, `TEAM_LEAD`, `TEAM_PROJECT_ROOT` (so the program can itself call
//! `team send`, `team inbox`, `team task …`), `TEAM_AGENT_PROMPT_FILE` (a file holding the
//! agent file's Markdown body) and `TEAM_USAGE_FILE` (where it may report the tokens a turn
//! used, [`ENV_USAGE_FILE`]). It runs in its own process group, which is killed (SIGTERM,
//! then SIGKILL after [`KILL_GRACE`]) on cancel or timeout.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Time between SIGTERM and SIGKILL when a process group is stopped.
pub const KILL_GRACE: Duration = Duration::from_secs(2);

/// Most bytes of stdout kept as a result (the newest are kept).
pub const MAX_RESULT_BYTES: usize = 1024 * 1024;

/// Characters of stderr quoted in a failure.
pub const STDERR_TAIL_CHARS: usize = 2000;

/// How long to keep reading output after the program exited (a background child may hold the
/// pipe open).
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// What one run needs.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    /// Program and arguments; never empty. `{prompt}` in an argument is replaced by the
    /// turn's input at each turn.
    pub argv: Vec<String>,
    /// Working directory (the project root).
    pub cwd: PathBuf,
    /// The program's whole environment: nothing of the runner's is inherited besides what
    /// is here (see [`agent_environment`]).
    pub env: BTreeMap<String, String>,
    /// The file behind `TEAM_AGENT_PROMPT_FILE` and `{prompt_file}`, removed when the last
    /// clone of the spec is dropped.
    pub prompt_file: Option<Arc<tempfile::TempPath>>,
    /// An agent CLI's output format (`runtime:`, see [`crate::agent_cli`]): stdout is read
    /// as its JSON events for the result, the errors and the token usage, and the argv is
    /// used as built (no `{prompt}`). `None`: stdout is the result.
    pub output: Option<team_agent::runtime::OutputKind>,
    /// A private directory kept while the spec lives (an agent CLI's configuration file),
    /// removed when the last clone is dropped.
    pub keep_dir: Option<Arc<tempfile::TempDir>>,
}

/// The variable that names the file holding the agent file's Markdown body.
pub const ENV_AGENT_PROMPT_FILE: &str = "TEAM_AGENT_PROMPT_FILE";

/// The variable that names the file where a command agent may report the tokens a turn
/// used, as JSON `{"prompt_tokens": N, "completion_tokens": M}` (read after each turn, then
/// removed; a missing or unreadable file counts nothing).
pub const ENV_USAGE_FILE: &str = "TEAM_USAGE_FILE";

/// Whether a variable of the runner's environment looks like a secret and is kept from
/// command agents unless passed through: names ending in `_KEY`, `_TOKEN` or `_SECRET`,
/// containing `PASSWORD`, starting with `AWS_` (compared in upper case), and the provider key
/// variables `team` itself reads (`provider_keys`, the `api_key_env` of each provider).
pub fn is_secret_name(name: &str, provider_keys: &[String]) -> bool {
    let upper = name.to_ascii_uppercase();
    upper.ends_with("_KEY")
        || upper.ends_with("_TOKEN")
        || upper.ends_with("_SECRET")
        || upper.contains("PASSWORD")
        || upper.starts_with("AWS_")
        || provider_keys.iter().any(|k| k == name)
}

/// The environment of a command agent: `parent` (the runner's environment) without the
/// secret-looking names ([`is_secret_name`]) except those listed in `passthrough`, then the
/// agent file's `env:` values, then `team_env` (the `TEAM_*` variables, which nothing
/// overrides). Later entries win.
pub fn agent_environment(
    parent: impl IntoIterator<Item = (String, String)>,
    provider_keys: &[String],
    passthrough: &[String],
    agent_env: &BTreeMap<String, String>,
    team_env: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = parent
        .into_iter()
        .filter(|(k, _)| !is_secret_name(k, provider_keys) || passthrough.contains(k))
        .collect();
    env.extend(agent_env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.extend(team_env);
    env
}

/// The runner's environment as text (variables whose name or value is not UTF-8 are left
/// out).
pub fn process_environment() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// The spec of a command agent's member: `argv` with `{member}`, `{team}` and
/// `{prompt_file}` replaced, the agent's instructions written to a private temporary file
/// (named by `TEAM_AGENT_PROMPT_FILE` in `env`), `env` as given.
///
/// # Errors
/// A sentence when the temporary file cannot be written.
pub fn agent_spec(
    argv: &[String],
    instructions: &str,
    cwd: &Path,
    team: &str,
    member: &str,
    mut env: BTreeMap<String, String>,
) -> Result<CommandSpec, String> {
    use std::io::Write;
    let mut file = tempfile::Builder::new()
        .prefix("team-agent-prompt-")
        .suffix(".md")
        .tempfile()
        .map_err(|e| format!("cannot write the agent's prompt file: {e}"))?;
    file.write_all(instructions.as_bytes())
        .and_then(|()| file.flush())
        .map_err(|e| format!("cannot write the agent's prompt file: {e}"))?;
    let path = file.into_temp_path();
    let prompt_file = path.to_string_lossy().into_owned();
    env.insert(ENV_AGENT_PROMPT_FILE.to_owned(), prompt_file.clone());
    let dir = tempfile::Builder::new()
        .prefix("team-agent-")
        .tempdir()
        .map_err(|e| format!("cannot create the agent's private directory: {e}"))?;
    env.insert(
        ENV_USAGE_FILE.to_owned(),
        dir.path().join("usage.json").to_string_lossy().into_owned(),
    );
    let argv = argv
        .iter()
        .map(|a| {
            a.replace("{member}", member)
                .replace("{team}", team)
                .replace("{prompt_file}", &prompt_file)
        })
        .collect();
    Ok(CommandSpec {
        argv,
        cwd: cwd.to_owned(),
        env,
        prompt_file: Some(Arc::new(path)),
        output: None,
        keep_dir: Some(Arc::new(dir)),
    })
}

/// `text` without ANSI escape sequences (colours, cursor moves), as stored.
pub fn strip_ansi(text: &str) -> String {
    strip_ansi_escapes::strip_str(text)
}

/// How a turn ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnEnd {
    /// Exit 0, with stdout.
    Done(String),
    /// Could not start, non-zero exit or signal; the error says which.
    Failed(String),
    /// An LLM member's model provider failed transiently (see
    /// `team_provider::ProviderError::is_transient`): a new attempt may succeed (the agent's
    /// `retries:`); without one left it is a failure with this error.
    Transient(String),
    /// Cancelled: the process group was killed.
    Cancelled,
    /// Ran past the deadline: the process group was killed.
    TimedOut,
    /// Stopped by a rule before its next model call, with the reason the member is cancelled
    /// with (issue 18: `budget spent`, its team's budget is used up).
    Stopped(String),
}

/// Checks that a command agent's program can be started: an existing executable path, or a
/// name found on `PATH`.
///
/// # Errors
/// A sentence naming the program and what to do.
pub fn check_program(argv: &[String], cwd: &Path) -> Result<PathBuf, String> {
    let Some(program) = argv.first() else {
        return Err("the agent's `command` is empty".into());
    };
    which::which_in(program, std::env::var_os("PATH"), cwd).map_err(|_| {
        format!(
            "command `{program}` not found (not an executable path, and not on PATH); fix the agent's `command:`"
        )
    })
}

fn tail(bytes: &[u8], max_chars: usize) -> String {
    let text = strip_ansi(&String::from_utf8_lossy(bytes));
    let text = text.trim_end();
    let n = text.chars().count();
    if n <= max_chars {
        text.to_owned()
    } else {
        let skip = text.char_indices().nth(n - max_chars).map_or(0, |(i, _)| i);
        format!("…{}", &text[skip..])
    }
}

fn spawn_reader<R: AsyncRead + Unpin + Send + 'static>(
    mut r: R,
    keep: usize,
) -> (Arc<Mutex<Vec<u8>>>, tokio::task::JoinHandle<()>) {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let b = buf.clone();
    let h = tokio::spawn(async move {
        let mut chunk = vec![0u8; 64 * 1024];
        while let Ok(n) = r.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            let mut v = b.lock();
            v.extend_from_slice(&chunk[..n]);
            if v.len() > keep * 2 {
                let cut = v.len() - keep;
                v.drain(..cut);
            }
        }
    });
    (buf, h)
}

/// The process groups of the command agents this process runs now. Process groups belong
/// to the process, not to an engine, so the registry is process-wide: it lets a second
/// Ctrl-C kill every agent at once ([`kill_all_now`]) instead of leaving them orphaned.
static LIVE_GROUPS: parking_lot::Mutex<std::collections::BTreeSet<i32>> =
    parking_lot::Mutex::new(std::collections::BTreeSet::new());

/// Keeps a process group in [`LIVE_GROUPS`] while the turn that started it runs.
struct LiveGroup(i32);

impl LiveGroup {
    fn new(pgid: i32) -> Self {
        LIVE_GROUPS.lock().insert(pgid);
        LiveGroup(pgid)
    }
}

impl Drop for LiveGroup {
    fn drop(&mut self) {
        LIVE_GROUPS.lock().remove(&self.0);
    }
}

/// Sends SIGKILL to the process group of every command agent this process runs, at once and
/// without waiting: for a second Ctrl-C, just before the process exits. Returns how many
/// groups were signalled.
pub fn kill_all_now() -> usize {
    let groups = LIVE_GROUPS.lock();
    for &pgid in groups.iter() {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
    groups.len()
}

/// Sends SIGTERM to the group, then SIGKILL after [`KILL_GRACE`] unless it exited.
async fn kill_group(pgid: i32, child: &mut tokio::process::Child) {
    let _ = killpg(Pid::from_raw(pgid), Signal::SIGTERM);
    if tokio::time::timeout(KILL_GRACE, child.wait())
        .await
        .is_err()
    {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        let _ = child.wait().await;
    } else {
        // The leader is gone; make sure nothing of its group is left either.
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
}

/// Runs one turn of a command agent. `on_start` receives the pid (also the process group id)
/// once the program runs.
pub async fn run_turn(
    spec: &CommandSpec,
    input: &str,
    cancel: &CancellationToken,
    deadline: Option<Instant>,
    on_start: impl FnOnce(u32),
) -> TurnEnd {
    run_turn_counted(spec, input, cancel, deadline, on_start)
        .await
        .0
}

/// [`run_turn`], with the token usage an agent CLI reported (`spec.output` set and its
/// output read; `None` otherwise). For an agent CLI the result is the answer its JSON
/// events carry, and a failure quotes the errors they report (else the stderr tail).
pub async fn run_turn_counted(
    spec: &CommandSpec,
    input: &str,
    cancel: &CancellationToken,
    deadline: Option<Instant>,
    on_start: impl FnOnce(u32),
) -> (TurnEnd, Option<team_agent::runtime::Usage>) {
    let Some((program, args)) = spec.argv.split_first() else {
        return (
            TurnEnd::Failed("the agent's `command` is empty".into()),
            None,
        );
    };
    // The usage file of a command agent (`TEAM_USAGE_FILE`): empty before each turn.
    let usage_file = spec
        .output
        .is_none()
        .then(|| spec.env.get(ENV_USAGE_FILE).map(PathBuf::from))
        .flatten();
    if let Some(f) = &usage_file {
        let _ = std::fs::remove_file(f);
    }
    let mut cmd = Command::new(program);
    if spec.output.is_some() {
        cmd.args(args);
    } else {
        cmd.args(args.iter().map(|a| a.replace("{prompt}", input)));
    }
    cmd.current_dir(&spec.cwd)
        .env_clear()
        .envs(&spec.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    team_tools::lifeline::die_with_runner(&mut cmd);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return (
                TurnEnd::Failed(format!("cannot start command `{program}`: {e}")),
                None,
            );
        }
    };
    let Some(pid) = child.id() else {
        return (
            TurnEnd::Failed(format!(
                "command `{program}` exited before it could be watched"
            )),
            None,
        );
    };
    on_start(pid);
    let pgid = pid as i32;
    let _live = LiveGroup::new(pgid);
    if let Some(mut stdin) = child.stdin.take() {
        let input = input.as_bytes().to_vec();
        tokio::spawn(async move {
            // A program that does not read its stdin closes the pipe: not an error.
            let _ = stdin.write_all(&input).await;
            let _ = stdin.shutdown().await;
        });
    }
    let (out, out_h) = match child.stdout.take() {
        Some(s) => spawn_reader(s, MAX_RESULT_BYTES),
        None => (Arc::default(), tokio::spawn(async {})),
    };
    let (err, err_h) = match child.stderr.take() {
        Some(s) => spawn_reader(s, 64 * 1024),
        None => (Arc::default(), tokio::spawn(async {})),
    };
    let deadline_sleep = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    let status = tokio::select! {
        s = child.wait() => s,
        _ = cancel.cancelled() => {
            kill_group(pgid, &mut child).await;
            return (TurnEnd::Cancelled, None);
        }
        _ = deadline_sleep => {
            kill_group(pgid, &mut child).await;
            return (TurnEnd::TimedOut, None);
        }
    };
    let _ = tokio::time::timeout(DRAIN_GRACE, async {
        let _ = out_h.await;
        let _ = err_h.await;
    })
    .await;
    let stdout = std::mem::take(&mut *out.lock());
    let stderr = std::mem::take(&mut *err.lock());
    let stdout = strip_ansi(&String::from_utf8_lossy(&stdout));
    let parsed = spec
        .output
        .map(|kind| team_agent::runtime::parse_output(kind, &stdout));
    let usage = parsed
        .as_ref()
        .map(|p| p.usage)
        .or_else(|| usage_file.as_deref().and_then(read_usage_file));
    let end = match status {
        Ok(s) if s.success() => match parsed {
            None => TurnEnd::Done(stdout),
            Some(p) => match (p.text, p.errors.is_empty()) {
                (Some(text), _) => TurnEnd::Done(strip_ansi(&text)),
                (None, true) => TurnEnd::Done(String::new()),
                (None, false) => TurnEnd::Failed(format!(
                    "command `{program}` reported: {}",
                    strip_ansi(&p.errors.join("; "))
                )),
            },
        },
        Ok(s) => {
            use std::os::unix::process::ExitStatusExt;
            let how = match (s.code(), s.signal()) {
                (Some(code), _) => format!("exit status {code}"),
                (None, Some(sig)) => format!(
                    "killed by signal {}",
                    Signal::try_from(sig).map_or(sig.to_string(), |s| s.to_string())
                ),
                _ => "ended abnormally".to_owned(),
            };
            let reported = parsed
                .map(|p| p.errors.join("; "))
                .filter(|e| !e.is_empty());
            let stderr = match reported {
                Some(errors) => tail(errors.as_bytes(), STDERR_TAIL_CHARS),
                None => tail(&stderr, STDERR_TAIL_CHARS),
            };
            if stderr.is_empty() {
                TurnEnd::Failed(format!("command `{program}` failed: {how}"))
            } else {
                TurnEnd::Failed(format!("command `{program}` failed: {how}: {stderr}"))
            }
        }
        Err(e) => TurnEnd::Failed(format!("cannot wait for command `{program}`: {e}")),
    };
    (end, usage)
}

/// The usage a command agent wrote to its `TEAM_USAGE_FILE` (then removed), if any.
fn read_usage_file(path: &Path) -> Option<team_agent::runtime::Usage> {
    let text = std::fs::read_to_string(path).ok();
    let _ = std::fs::remove_file(path);
    let v: serde_json::Value = serde_json::from_str(text?.trim()).ok()?;
    let n = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
    Some(team_agent::runtime::Usage {
        prompt_tokens: n("prompt_tokens"),
        completion_tokens: n("completion_tokens"),
        cost_usd: v.get("cost_usd").and_then(serde_json::Value::as_f64),
        calls: n("calls").max(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(script: &str) -> CommandSpec {
        CommandSpec {
            argv: vec!["bash".into(), "-c".into(), script.into()],
            cwd: std::env::temp_dir(),
            env: BTreeMap::from([
                ("GREETING".into(), "hi".into()),
                ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            ]),
            prompt_file: None,
            output: None,
            keep_dir: None,
        }
    }

    #[test]
    fn secrets_are_dropped_unless_passed_through() {
        let parent = [
            ("PATH", "/bin"),
            ("HOME", "/home/u"),
            ("OPENAI_API_KEY", "sk-1"),
            ("GITHUB_TOKEN", "gh"),
            ("AWS_SECRET_ACCESS_KEY", "aws"),
            ("AWS_REGION", "eu"),
            ("PGPASSWORD", "pg"),
            ("MY_SECRET", "s"),
            ("CUSTOM_CRED", "c"),
            ("OPENCODE_API_KEY", "oc"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let env = agent_environment(
            parent,
            &["CUSTOM_CRED".to_owned()],
            &["OPENCODE_API_KEY".to_owned()],
            &BTreeMap::from([("MODE".to_owned(), "fast".to_owned())]),
            BTreeMap::from([("TEAM_ID".to_owned(), "t1".to_owned())]),
        );
        let names: Vec<&str> = env.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            ["HOME", "MODE", "OPENCODE_API_KEY", "PATH", "TEAM_ID"],
            "{env:?}"
        );
    }

    #[tokio::test]
    async fn placeholders_prompt_file_and_ansi() {
        let env = BTreeMap::from([("PATH".into(), std::env::var("PATH").unwrap_or_default())]);
        let argv: Vec<String> = [
            "bash",
            "-c",
            "printf '\\033[31m%s|%s|%s|\\033[0m' \"$1\" \"$2\" \"$3\"; cat \"$4\"",
            "x",
            "{prompt}",
            "{member}@{team}",
            "{prompt_file}",
            "{prompt_file}",
        ]
        .map(String::from)
        .to_vec();
        let spec = agent_spec(&argv, "Be brief.", &std::env::temp_dir(), "t1", "m1", env).unwrap();
        let file = spec.env[ENV_AGENT_PROMPT_FILE].clone();
        let end = run_turn(&spec, "do it", &CancellationToken::new(), None, |_| {}).await;
        assert_eq!(end, TurnEnd::Done(format!("do it|m1@t1|{file}|Be brief.")));
        drop(spec);
        assert!(!Path::new(&file).exists(), "the prompt file is removed");
    }

    #[tokio::test]
    async fn a_command_agent_reports_tokens_in_its_usage_file() {
        let env = BTreeMap::from([("PATH".into(), std::env::var("PATH").unwrap_or_default())]);
        let argv: Vec<String> = [
            "sh",
            "-c",
            r#"[ -e "$TEAM_USAGE_FILE" ] && exit 9; echo '{"prompt_tokens": 120, "completion_tokens": 7}' > "$TEAM_USAGE_FILE"; echo ok"#,
        ]
        .map(String::from)
        .to_vec();
        let agent = agent_spec(&argv, "", &std::env::temp_dir(), "t1", "m1", env).unwrap();
        for _ in 0..2 {
            // Each turn starts without the last one's file.
            let (end, usage) =
                run_turn_counted(&agent, "", &CancellationToken::new(), None, |_| {}).await;
            assert_eq!(end, TurnEnd::Done("ok\n".into()));
            let usage = usage.expect("the usage it reported");
            assert_eq!((usage.prompt_tokens, usage.completion_tokens), (120, 7));
        }
        let plain = spec("echo hi");
        let (_, usage) =
            run_turn_counted(&plain, "", &CancellationToken::new(), None, |_| {}).await;
        assert_eq!(usage, None, "no file, no usage");
    }

    #[tokio::test]
    async fn stdin_in_stdout_out() {
        let end = run_turn(
            &spec("echo \"$GREETING $(cat)\""),
            "there",
            &CancellationToken::new(),
            None,
            |_| {},
        )
        .await;
        assert_eq!(end, TurnEnd::Done("hi there\n".into()));
    }

    #[tokio::test]
    async fn failure_reports_status_and_stderr_tail() {
        let end = run_turn(
            &spec("echo oops >&2; exit 3"),
            "",
            &CancellationToken::new(),
            None,
            |_| {},
        )
        .await;
        assert_eq!(
            end,
            TurnEnd::Failed("command `bash` failed: exit status 3: oops".into())
        );
    }

    #[tokio::test]
    async fn missing_program_is_a_clear_failure() {
        let s = CommandSpec {
            argv: vec!["no-such-program-xyz".into()],
            cwd: std::env::temp_dir(),
            env: BTreeMap::new(),
            prompt_file: None,
            output: None,
            keep_dir: None,
        };
        match run_turn(&s, "", &CancellationToken::new(), None, |_| {}).await {
            TurnEnd::Failed(e) => assert!(
                e.contains("cannot start command `no-such-program-xyz`"),
                "{e}"
            ),
            other => panic!("{other:?}"),
        }
        assert!(check_program(&s.argv, &s.cwd).is_err());
        assert!(check_program(&["bash".into()], &s.cwd).is_ok());
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("child.pid");
        let script = format!("sleep 100 & echo $! > {}; wait", pidfile.display());
        let deadline = Instant::now() + Duration::from_millis(500);
        let end = run_turn(
            &spec(&script),
            "",
            &CancellationToken::new(),
            Some(deadline),
            |_| {},
        )
        .await;
        assert_eq!(end, TurnEnd::TimedOut);
        let child: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The background grandchild is gone too (a signal is delivered asynchronously, so
        // allow it a moment to die).
        let mut alive = true;
        for _ in 0..40 {
            alive = crate::reconcile::pid_alive(child as i64);
            if !alive {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!alive, "grandchild {child} survived the timeout");
    }

    #[tokio::test]
    async fn cancel_kills() {
        let cancel = CancellationToken::new();
        let c2 = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            c2.cancel();
        });
        let end = run_turn(&spec("sleep 100"), "", &cancel, None, |_| {}).await;
        assert_eq!(end, TurnEnd::Cancelled);
    }
}
