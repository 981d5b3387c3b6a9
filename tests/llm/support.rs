//! Test support for the LLM-agent tests: a project in a temp directory (team-testkit's
//! [`team_testkit::Project`], on SQLite) whose `.team/config.toml`
//! points a `mock` provider at a [`ScriptedServer`] started by the test, agent files written into
//! it, the real `team` binary run as a child process (never outliving its test: killed on
//! timeout or drop), and helpers to key scripted replies by member and turn.
//!
//! Every child runs non-interactively (stdin is `/dev/null`, `CI=true`), with the fake API key
//! [`KEY`] in `MOCK_API_KEY`, and with the user's configuration and `TEAM_*` variables out of
//! the way.

use std::ops::Deref;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;
pub use team_testkit::Backend;
pub use team_testkit::process::{code, dump, stderr, stdout};
use team_testkit::process::{output_within, stdout_json};
use team_testkit::{Reply, ScriptRequest, ScriptToolCall};

/// The fake API key every child gets in `MOCK_API_KEY`.
pub const KEY: &str = "sk-test-SECRET123";

/// The distinctive part of [`KEY`]: it must appear in no event, log line, error or database.
pub const KEY_MARK: &str = "SECRET123";

/// Longest any single `team` call may take before the test fails instead of hanging.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(90);

/// Which wire format the `mock` provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// `kind = "openai"`, base URL `server.base_url()`.
    OpenAi,
    /// `kind = "anthropic"`, base URL `server.anthropic_base_url()`.
    Anthropic,
}

/// A project in a temp directory, initialised with `team init`, with a `mock` provider:
/// team-testkit's [`team_testkit::Project`] (root, commands with a clean environment and
/// [`KEY`] in `MOCK_API_KEY`) with the calls below.
pub struct Project(team_testkit::Project);

impl Deref for Project {
    type Target = team_testkit::Project;

    fn deref(&self) -> &team_testkit::Project {
        &self.0
    }
}

impl Project {
    /// `team init` in a fresh temp directory, then a `.team/config.toml` with `[team]`
    /// settings `team_toml` (TOML lines, e.g. `max_agents = 4`) and a `[providers.mock]`
    /// table of kind `wire` at `base_url` (fast retries: base 10 ms, 3 retries).
    pub async fn new(wire: Wire, base_url: &str, team_toml: &str) -> Project {
        match Project::on(Backend::Sqlite, wire, base_url, team_toml).await {
            Some(p) => p,
            None => unreachable!("a SQLite project is never skipped"),
        }
    }

    /// [`Project::new`] on `backend`; `None` when `backend` is PostgreSQL and the PostgreSQL
    /// variants are skipped (`TEAM_TEST_DATABASE_URL` unset).
    pub async fn on(
        backend: Backend,
        wire: Wire,
        base_url: &str,
        team_toml: &str,
    ) -> Option<Project> {
        let mut inner = team_testkit::Project::bare(backend)?;
        inner.env("MOCK_API_KEY", KEY);
        let p = Project(inner);
        let out = p.team(&["init"]).await;
        assert!(out.status.success(), "team init: {}", dump(&out));
        let kind = match wire {
            Wire::OpenAi => "openai",
            Wire::Anthropic => "anthropic",
        };
        let config = format!(
            "[team]\n{team_toml}\n\n[providers.mock]\nkind = \"{kind}\"\nbase_url = \"{base_url}\"\n\
             api_key_env = \"MOCK_API_KEY\"\nmax_concurrent_requests = 16\nretry_base_ms = 10\n\
             retry_max_ms = 50\nmax_retries = 3\nrequest_timeout_secs = 30\n"
        );
        std::fs::write(p.path(".team/config.toml"), config).expect("write config.toml");
        Some(p)
    }

    /// Sets `key` to `value` in the environment of every child started from now on.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.0.env(key, value);
    }

    /// Like [`Project::team`], failing the test only after `limit`.
    pub async fn team_within(&self, args: &[&str], limit: Duration) -> Output {
        let mut cmd = self.command();
        cmd.args(args);
        output_within(cmd, limit, &format!("team {}", args.join(" "))).await
    }

    /// Writes `.team/agents/NAME.md` with `front` (YAML lines) as front matter and `body` as
    /// instructions.
    pub fn agent(&self, name: &str, front: &str, body: &str) {
        let path = self.path(".team/agents").join(format!("{name}.md"));
        std::fs::write(path, format!("---\n{front}\n---\n{body}\n")).expect("write agent file");
    }

    /// Runs `team ARGS` in the project root (stdin `/dev/null`, `CI=true`, the fake key) and
    /// returns its output; fails the test if it runs longer than [`CALL_TIMEOUT`].
    pub async fn team(&self, args: &[&str]) -> Output {
        self.team_env(args, &[]).await
    }

    /// Like [`Project::team`] with extra environment variables.
    pub async fn team_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = self.command();
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        output_within(cmd, CALL_TIMEOUT, &format!("team {}", args.join(" "))).await
    }

    /// `team --json ARGS`, which must succeed, parsed.
    pub async fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.team(&all).await;
        stdout_json(&format!("team {}", all.join(" ")), &out)
    }

    /// `team create NAME` (a team whose lead is a person: nothing runs).
    pub async fn create_team(&self, name: &str) {
        let out = self.team(&["create", name]).await;
        assert!(out.status.success(), "team create {name}: {}", dump(&out));
    }

    /// The members of `team` (`team show --json`).
    pub async fn members(&self, team: &str) -> Vec<Value> {
        let show = self.json(&["show", team]).await;
        show["members"].as_array().cloned().unwrap_or_default()
    }

    /// One member of `team` by name.
    pub async fn member(&self, team: &str, name: &str) -> Value {
        self.members(team)
            .await
            .into_iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("no member {name} in team {team}"))
    }

    /// The events of `team` (`team logs --json`).
    pub async fn events(&self, team: &str) -> Vec<Value> {
        let v = self.json(&["logs", team]).await;
        v.as_array().cloned().expect("logs --json is an array")
    }

    /// The bytes of the SQLite database and its side files (`-wal`, `-shm`, `-journal`).
    pub fn db_bytes(&self) -> Vec<u8> {
        let dir = self.path(".team");
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("list .team") {
            let path = entry.expect("dir entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with("team.db") {
                bytes.extend(std::fs::read(&path).unwrap_or_default());
            }
        }
        assert!(!bytes.is_empty(), "no database file in {}", dir.display());
        bytes
    }
}

/// True when `haystack` contains `needle` as bytes.
pub fn bytes_contain(haystack: &[u8], needle: &str) -> bool {
    let n = needle.as_bytes();
    haystack.windows(n.len()).any(|w| w == n)
}

/// True when the request comes from the member named `name` (its system prompt says so).
pub fn from_member(req: &ScriptRequest, name: &str) -> bool {
    req.system.contains(&format!("You are `{name}`"))
}

/// True when the request comes from a member running agent `agent`.
pub fn from_agent(req: &ScriptRequest, agent: &str) -> bool {
    req.system.contains(&format!("(agent `{agent}`)"))
}

/// The texts of the tool-result messages of a request, in order.
pub fn tool_texts(req: &ScriptRequest) -> Vec<&str> {
    req.messages
        .iter()
        .filter(|m| m.role == "tool")
        .map(|m| m.text.as_str())
        .collect()
}

/// The text of the first user message (the member's prompt).
pub fn prompt_of(req: &ScriptRequest) -> &str {
    req.messages
        .iter()
        .find(|m| m.role == "user")
        .map(|m| m.text.as_str())
        .unwrap_or("")
}

/// A scripted tool call with raw `arguments` text.
pub fn call(name: &str, arguments: &str) -> ScriptToolCall {
    ScriptToolCall {
        name: name.into(),
        arguments: arguments.into(),
        id: None,
    }
}

/// A reply with several tool calls.
pub fn calls(calls: Vec<ScriptToolCall>) -> Reply {
    Reply::ToolCalls {
        calls,
        text: None,
        usage: None,
    }
}

/// The requests of member `name`, in arrival order.
pub fn requests_of(all: &[ScriptRequest], name: &str) -> Vec<ScriptRequest> {
    all.iter()
        .filter(|r| from_member(r, name))
        .cloned()
        .collect()
}

/// Events of `kind` (optionally only those of `member`).
pub fn events_of<'a>(events: &'a [Value], kind: &str, member: Option<&str>) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["kind"] == kind && member.is_none_or(|m| e["member"] == m))
        .collect()
}

/// Asserts that `text` does not contain the API key (nor its distinctive part).
#[track_caller]
pub fn assert_no_key(what: &str, text: &str) {
    assert!(
        !text.contains(KEY_MARK),
        "the API key leaked into {what}:\n{text}"
    );
}
