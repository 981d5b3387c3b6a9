//! Support of the MCP tests: a project (team-testkit's, with `team init` done and the runners
//! it started killed on drop), an rmcp client that records the server's notifications, and
//! calls that return what a tool said.

use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, LoggingMessageNotificationParam,
    ResourceUpdatedNotificationParam,
};
use rmcp::service::{MaybeSendFuture, NotificationContext, RunningService};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::Value;
pub use team_testkit::Backend;
use tokio::sync::Notify;

/// How long a test waits for something the server should do soon (generous: the machine is
/// shared and loaded).
pub const SOON: Duration = Duration::from_secs(60);

/// A project with `team init` done. Dropping it kills the runners `team mcp` started in it
/// (detached, they would otherwise idle on for 30 s).
pub struct Project {
    inner: team_testkit::Project,
}

impl Deref for Project {
    type Target = team_testkit::Project;

    fn deref(&self) -> &team_testkit::Project {
        &self.inner
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let Ok(out) = self
            .std_command()
            .args(["--json", "runners", "--all"])
            .output()
        else {
            return;
        };
        let runners: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        for r in runners.as_array().into_iter().flatten() {
            let Some(pid) = r["pid"].as_i64() else {
                continue;
            };
            // Only a process of this project (its working directory is the root).
            let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
            if cwd.as_deref() == Some(self.root()) {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
    }
}

impl Project {
    /// A project on `backend`; `None` when PostgreSQL is skipped.
    pub fn on(backend: Backend) -> Option<Project> {
        let inner = team_testkit::Project::on(backend)?;
        inner.init();
        Some(Project { inner })
    }

    /// Writes agent `name`: a command agent running `sh -c SCRIPT` (its prompt on stdin).
    pub fn agent(&self, name: &str, script: &str) {
        let argv = serde_json::to_string(&["sh", "-c", script]).expect("argv");
        std::fs::write(
            self.path(&format!(".team/agents/{name}.md")),
            format!("---\ndescription: test agent {name}\ncommand: {argv}\n---\nA test agent.\n"),
        )
        .expect("write agent file");
    }

    /// `team ARGS` to its end; its stdout, which must be a success.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.std_command().args(args).output().expect("run team");
        assert!(
            out.status.success(),
            "team {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8")
    }

    /// `team --json ARGS` as JSON.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).expect("JSON")
    }

    /// `team mcp ARGS` as a tokio command (clean environment, the project's database, killed
    /// on drop), with `env` added.
    pub fn mcp_command(&self, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
        let mut cmd = self.command();
        cmd.arg("mcp").args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// An rmcp client of `team mcp ARGS` over stdio (a child process).
    pub async fn stdio(&self, args: &[&str], env: &[(&str, &str)]) -> Client {
        let cmd = self.mcp_command(args, env);
        let (transport, _) = rmcp::transport::TokioChildProcess::builder(cmd)
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("start team mcp");
        let notes = Notes::default();
        let service = tokio::time::timeout(SOON, notes.clone().serve(transport))
            .await
            .expect("initialize in time")
            .expect("initialize");
        Client { service, notes }
    }
}

/// What the server told the client unasked.
#[derive(Clone, Default)]
pub struct Notes {
    inner: Arc<NotesInner>,
}

#[derive(Default)]
struct NotesInner {
    logs: Mutex<Vec<LoggingMessageNotificationParam>>,
    updated: Mutex<Vec<String>>,
    changed: Notify,
}

impl ClientHandler for Notes {
    fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.logs.lock().unwrap().push(params);
        self.inner.changed.notify_waiters();
        std::future::ready(())
    }

    fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.updated.lock().unwrap().push(params.uri);
        self.inner.changed.notify_waiters();
        std::future::ready(())
    }
}

impl Notes {
    /// Waits (at most [`SOON`]) for a logging message whose text contains `needle`; returns
    /// it.
    pub async fn log_containing(&self, needle: &str) -> LoggingMessageNotificationParam {
        self.until(&format!("a logging message with {needle:?}"), || {
            self.inner
                .logs
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.data.as_str().is_some_and(|t| t.contains(needle)))
                .cloned()
        })
        .await
    }

    /// Waits (at most [`SOON`]) for a `resources/updated` of `uri`.
    pub async fn updated(&self, uri: &str) {
        self.until(&format!("an update of {uri}"), || {
            self.inner
                .updated
                .lock()
                .unwrap()
                .iter()
                .any(|u| u == uri)
                .then_some(())
        })
        .await
    }

    async fn until<T>(&self, what: &str, mut found: impl FnMut() -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + SOON;
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(t) = found() {
                return t;
            }
            let logs: Vec<Value> = self
                .inner
                .logs
                .lock()
                .unwrap()
                .iter()
                .map(|l| l.data.clone())
                .collect();
            tokio::select! {
                _ = &mut changed => {}
                _ = tokio::time::sleep_until(deadline) => {
                    panic!("no {what} within {SOON:?}; logging messages: {logs:?}")
                }
            }
        }
    }
}

/// An rmcp client session and the notes of its notifications.
pub struct Client {
    /// The running client.
    pub service: RunningService<RoleClient, Notes>,
    /// What the server told it unasked.
    pub notes: Notes,
}

/// What a tool call returned: its text, whether it is an error, and its structured content.
#[derive(Debug)]
pub struct Said {
    /// The text content.
    pub text: String,
    /// `isError`.
    pub error: bool,
    /// The structured content (`Null` when none).
    pub json: Value,
}

impl Said {
    /// The error kind of a tool error (`not_found`, `usage`, …).
    #[track_caller]
    pub fn kind(&self) -> &str {
        assert!(self.error, "expected a tool error, got {}", self.text);
        self.json["error"]["kind"].as_str().expect("error.kind")
    }

    /// The structured content of a success.
    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert!(!self.error, "expected a success, got {}", self.text);
        &self.json
    }
}

fn said(r: CallToolResult) -> Said {
    let text = r
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("");
    Said {
        text,
        error: r.is_error == Some(true),
        json: r.structured_content.unwrap_or(Value::Null),
    }
}

impl Client {
    /// Calls tool `name` with `args` (a JSON object); panics on a protocol error.
    pub async fn call(&self, name: &str, args: Value) -> Said {
        let Value::Object(args) = args else {
            panic!("arguments must be an object")
        };
        let r = tokio::time::timeout(
            SOON,
            self.service
                .call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(args)),
        )
        .await
        .unwrap_or_else(|_| panic!("{name} answered within {SOON:?}"))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        said(r)
    }
}
