//! The MCP server: whom a session acts as (its seat), the team tools, resources,
//! subscriptions and the logging level. One [`McpServer`] per process; each client session
//! (one on stdio, any number over HTTP) gets a [`Session`] sharing its seat and its poller.
#![allow(deprecated)] // Logging is deprecated by SEP-2577 in the newest protocol revision; the
// clients `team mcp` serves (opencode, Claude Code, Codex, the Python SDK) speak 2025-11-25
// and earlier, where it is how a server tells a client something unasked.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::Mutex;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, LoggingLevel,
    PaginatedRequestParams, ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse,
    ServerCapabilities, ServerConfig, SetLevelRequestParams, SubscribeRequestParams, Tool,
    UnsubscribeRequestParams,
};
use rmcp::service::{MaybeSendFuture, NotificationContext, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};
use team_core::{AgentName, Member, Team, TeamName};
use team_runner::{FailureKind, TeamOps, ToolFailure};
use team_store::{NewTeam, StoreError};
use team_tools::registry::{self, TeamCall, ToolKind};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::watch::Notice;
use crate::{EnsureRunner, McpError, Scope};

/// Where a session sits: its team and the member it acts as, and where the poller starts
/// looking (message and event ids it has already seen, so a client is told only of what
/// happens after it connected).
#[derive(Debug, Clone)]
pub struct Seat {
    /// The team.
    pub team: Team,
    /// The member the session acts as (the team's lead in [`Scope::Lead`]).
    pub me: Member,
    /// Messages to `me` with an id above this are new.
    pub since_message: i64,
    /// Events of the team with an id above this are new.
    pub since_event: i64,
}

/// What every session of a process shares.
pub(crate) struct Shared {
    pub ops: TeamOps,
    pub ensure_runner: EnsureRunner,
    /// Whom to act as, and the seat once resolved (`None`: not yet, or its team was deleted).
    state: tokio::sync::Mutex<(Scope, Option<Seat>)>,
    /// The seat as the poller reads it (a copy of `state`'s, without waiting on a resolve).
    pub seat: Mutex<Option<Seat>>,
    /// What the poller saw, for every session's forwarder.
    pub notices: broadcast::Sender<Notice>,
    /// Stops the poller.
    pub stop: CancellationToken,
}

/// The MCP server of one `team mcp` process.
#[derive(Clone)]
pub struct McpServer {
    shared: Arc<Shared>,
}

impl McpServer {
    /// A server acting as `scope`, carrying the tools out with `ops`, calling
    /// `ensure_runner` when `task` queues a member.
    pub fn new(ops: TeamOps, scope: Scope, ensure_runner: EnsureRunner) -> Self {
        let (notices, _) = broadcast::channel(1024);
        Self {
            shared: Arc::new(Shared {
                ops,
                ensure_runner,
                state: tokio::sync::Mutex::new((scope, None)),
                seat: Mutex::new(None),
                notices,
                stop: CancellationToken::new(),
            }),
        }
    }

    /// A new client session of this server (its own subscriptions and logging level).
    pub fn session(&self) -> Session {
        Session {
            shared: self.shared.clone(),
            subscriptions: Arc::new(Mutex::new(HashSet::new())),
            level: Arc::new(Mutex::new(LoggingLevel::Info)),
        }
    }

    /// Serves one client on stdin/stdout until it closes them. Members started with `task`
    /// run in a runner, not here: they go on after the client is gone.
    ///
    /// # Errors
    /// [`McpError::Session`] when the handshake fails; [`McpError::Io`] on a broken pipe.
    pub async fn serve_stdio(self) -> Result<(), McpError> {
        let _poller = self.start_poller();
        let running = self
            .session()
            .serve(rmcp::transport::io::stdio_pipes())
            .await
            .map_err(|e| McpError::Session(e.to_string()))?;
        running
            .waiting()
            .await
            .map_err(|e| McpError::Session(e.to_string()))?;
        Ok(())
    }

    /// Starts the process's poller ([`crate::watch::poll`]); it stops when the guard is
    /// dropped.
    pub(crate) fn start_poller(&self) -> tokio_util::sync::DropGuard {
        tokio::spawn(crate::watch::poll(self.shared.clone()));
        self.shared.stop.clone().drop_guard()
    }
}

/// One client session: the shared server, and what this client asked for.
#[derive(Clone)]
pub struct Session {
    shared: Arc<Shared>,
    /// The `team://` URIs this client subscribed to.
    subscriptions: Arc<Mutex<HashSet<String>>>,
    /// The least severe logging level this client wants (`logging/setLevel`; default info).
    level: Arc<Mutex<LoggingLevel>>,
}

/// A tool error with the CLI's kind and message: `isError: true`, the message as text, and
/// `{"error": {"kind", "message"}}` as structured content (the shape of `team --json`
/// errors, without the exit code).
fn tool_error(f: &ToolFailure) -> CallToolResult {
    let mut r = CallToolResult::error(vec![ContentBlock::text(f.message.clone())]);
    r.structured_content = Some(json!({"error": {"kind": f.kind.name(), "message": f.message}}));
    r
}

fn store_failure(e: StoreError) -> ToolFailure {
    ToolFailure {
        kind: FailureKind::from(e.kind()),
        message: e.to_string(),
    }
}

/// The id of the newest event of team `team_id` (0: none).
fn last_event_id(store: &team_store::Store, team_id: &str) -> Result<i64, StoreError> {
    let mut after = 0;
    loop {
        let page = store.list_events(Some(team_id), after, 1000)?;
        match page.last() {
            Some(e) if page.len() == 1000 => after = e.id,
            Some(e) => return Ok(e.id),
            None => return Ok(after),
        }
    }
}

impl Shared {
    /// The session's seat, resolving it first if needed: the member of [`Scope::Member`], the
    /// lead of [`Scope::Lead`]'s team, or a new team led by this session.
    ///
    /// # Errors
    /// The store's refusal (an unknown team or member, a database error).
    pub(crate) async fn seat(&self) -> Result<Seat, ToolFailure> {
        let mut state = self.state.lock().await;
        if let Some(seat) = &state.1 {
            return Ok(seat.clone());
        }
        let scope = state.0.clone();
        let store = self.ops.store().clone();
        let root = self.ops.project_root().to_string_lossy().into_owned();
        let seat = blocking(move || {
            let (team, me, fresh) = match &scope {
                Scope::Member {
                    team,
                    member,
                    attempt,
                } => {
                    let t = store.resolve_team(team)?;
                    let mut m = store.get_member(&t.id, member)?;
                    // The process's own attempt, not the member's current one: a late
                    // session of a superseded attempt must not act as the next.
                    if let Some(a) = attempt {
                        m.attempt = *a;
                    }
                    (t, m, false)
                }
                Scope::Lead {
                    team: Some(team), ..
                } => {
                    let t = store.resolve_team(team)?;
                    let m = store.get_member(&t.id, team_core::LEAD_ALIAS)?;
                    (t, m, false)
                }
                Scope::Lead {
                    team: None,
                    lead_agent,
                } => {
                    let (t, m) = create_led_team(&store, None, lead_agent, &root)?;
                    (t, m, true)
                }
            };
            let (since_message, since_event) = if fresh {
                (0, 0)
            } else {
                (store.last_message_id()?, last_event_id(&store, &team.id)?)
            };
            Ok(Seat {
                team,
                me,
                since_message,
                since_event,
            })
        })
        .await?;
        if let Scope::Lead { team, .. } = &mut state.0 {
            *team = Some(seat.team.id.clone());
        }
        state.1 = Some(seat.clone());
        *self.seat.lock() = Some(seat.clone());
        Ok(seat)
    }

    /// Makes the session the lead of a new team `name` (lead mode's `team_create`).
    async fn lead_new_team(&self, name: String) -> Result<Seat, ToolFailure> {
        let mut state = self.state.lock().await;
        let Scope::Lead { lead_agent, .. } = &state.0 else {
            return Err(ToolFailure {
                kind: FailureKind::Usage,
                message: "not the lead: this session acts as a member".into(),
            });
        };
        let (store, agent) = (self.ops.store().clone(), lead_agent.clone());
        let root = self.ops.project_root().to_string_lossy().into_owned();
        let (team, me) =
            blocking(move || create_led_team(&store, Some(&name), &agent, &root)).await?;
        let seat = Seat {
            team,
            me,
            since_message: 0,
            since_event: 0,
        };
        if let Scope::Lead { team, .. } = &mut state.0 {
            *team = Some(seat.team.id.clone());
        }
        state.1 = Some(seat.clone());
        *self.seat.lock() = Some(seat.clone());
        Ok(seat)
    }

    /// Forgets the seat of lead mode when its team was disbanded: the next call that needs a
    /// team creates a new one.
    async fn forget_team(&self, team_id: &str) {
        let mut state = self.state.lock().await;
        let lead = matches!(state.0, Scope::Lead { .. });
        if lead && state.1.as_ref().is_some_and(|s| s.team.id == team_id) {
            if let Scope::Lead { team, .. } = &mut state.0 {
                *team = None;
            }
            state.1 = None;
            *self.seat.lock() = None;
        }
    }

    async fn ensure_runner(&self) {
        let ensure = self.ensure_runner.clone();
        match tokio::task::spawn_blocking(move || ensure()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("cannot start a runner for the new member: {e}"),
            Err(e) => tracing::warn!("cannot start a runner for the new member: {e}"),
        }
    }
}

/// Runs a store call on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ToolFailure> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(store_failure),
        Err(e) => Err(ToolFailure {
            kind: FailureKind::Failure,
            message: format!("a store call did not finish: {e}"),
        }),
    }
}

/// Creates a team led by this session: named `name`, or `mcp-PID` (then `mcp-PID-2`, … when
/// an active team has the name).
fn create_led_team(
    store: &team_store::Store,
    name: Option<&str>,
    lead_agent: &str,
    root: &str,
) -> Result<(Team, Member), StoreError> {
    let invalid = |e: String| StoreError::Invalid(e);
    let lead_agent = AgentName::new(lead_agent).map_err(|e| invalid(e.to_string()))?;
    let new = |name: &str| -> Result<NewTeam, StoreError> {
        Ok(NewTeam {
            name: TeamName::new(name).map_err(|e| invalid(e.to_string()))?,
            lead_agent: lead_agent.clone(),
            workflow: None,
            project_root: root.to_owned(),
            owner: None,
        })
    };
    if let Some(name) = name {
        return store.create_team(&new(name)?);
    }
    let base = format!("mcp-{}", std::process::id());
    let mut n = 1;
    loop {
        let name = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        match store.create_team(&new(&name)?) {
            Err(StoreError::Conflict(_)) if n < 100 => n += 1,
            r => return r,
        }
    }
}

/// The team tools as MCP tools, in registry order.
pub fn tools() -> Vec<Tool> {
    registry::tools_of(ToolKind::Team)
        .map(|t| {
            let schema = match t.schema() {
                Value::Object(o) => o,
                _ => serde_json::Map::new(),
            };
            Tool::new(t.name, t.description, Arc::new(schema))
        })
        .collect()
}

impl Session {
    async fn call(&self, name: &str, args: String, ct: &CancellationToken) -> CallToolResult {
        match self.call_inner(name, args, ct).await {
            Ok(text) => {
                let mut r = CallToolResult::success(vec![ContentBlock::text(text.clone())]);
                if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(&text) {
                    r.structured_content = Some(v);
                }
                r
            }
            Err(f) => tool_error(&f),
        }
    }

    async fn call_inner(
        &self,
        name: &str,
        args: String,
        ct: &CancellationToken,
    ) -> Result<String, ToolFailure> {
        let shared = &self.shared;
        let parsed = TeamCall::parse(name, &args);
        let lead_mode = matches!(shared.state.lock().await.0, Scope::Lead { .. });
        // Lead mode's `team_create`: the session leads the new team from now on.
        if let (true, Some(Ok(TeamCall::TeamCreate(a)))) = (lead_mode, &parsed) {
            let seat = shared.lead_new_team(a.name.clone()).await?;
            return Ok(json!({"team": seat.team.name, "id": seat.team.id}).to_string());
        }
        let seat = shared.seat().await?;
        let waiting_task = matches!(&parsed, Some(Ok(TeamCall::Task(a))) if !a.background);
        let background_task = matches!(&parsed, Some(Ok(TeamCall::Task(a))) if a.background);
        if waiting_task {
            shared.ensure_runner().await;
        }
        let out = shared
            .ops
            .call(&seat.me, name, &args, ct)
            .await
            .unwrap_or_else(|| {
                Err(ToolFailure {
                    kind: FailureKind::Usage,
                    message: format!("unknown tool `{name}`: `tools/list` lists the team tools"),
                })
            })?;
        if background_task {
            shared.ensure_runner().await;
        }
        if let Some(Ok(TeamCall::TeamDelete(_))) = &parsed
            && let Ok(v) = serde_json::from_str::<Value>(&out)
            && v["team"].as_str() == Some(seat.team.name.as_str())
        {
            shared.forget_team(&seat.team.id).await;
        }
        Ok(out)
    }

    /// Whether this client wants messages of `level` (at or above its `logging/setLevel`).
    pub(crate) fn wants(&self, level: LoggingLevel) -> bool {
        rank(level) >= rank(*self.level.lock())
    }

    /// The `team://` URIs this client subscribed to.
    pub(crate) fn subscribed(&self) -> Vec<String> {
        self.subscriptions.lock().iter().cloned().collect()
    }
}

/// Severity order of the logging levels (RFC 5424, as MCP uses them).
fn rank(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

const INSTRUCTIONS: &str = "The tools of a `team` of agents. `task` starts a member in the \
    background (default) and returns its name; when it ends you get a notice \
    (`[AGENT COMPLETED] name: result` or `[AGENT FAILURE] name: error`) as a logging message \
    and in your inbox (`wait_for_messages`, `read_inbox`). `team_task` is the shared task \
    board, `send_message` talks to members. Resources: team://TEAM, team://TEAM/members, \
    team://TEAM/tasks, team://TEAM/events.";

impl ServerHandler for Session {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_logging()
                .build(),
        )
        .with_server_info(Implementation::new("team", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
    }

    /// Up to 2025-11-25: the revisions with `initialize`, sessions, logging and
    /// `resources/subscribe`, which the notices use and which the agent CLIs speak.
    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::known_up_to(&ProtocolVersion::V_2025_11_25))
    }

    fn on_initialized(
        &self,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        tokio::spawn(crate::watch::forward(
            self.clone(),
            self.shared.notices.subscribe(),
            context.peer,
        ));
        std::future::ready(())
    }

    fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), ErrorData>> + MaybeSendFuture + '_ {
        *self.level.lock() = request.level;
        std::future::ready(Ok(()))
    }

    fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListToolsResult, ErrorData>> + MaybeSendFuture + '_ {
        std::future::ready(Ok(ListToolsResult::with_all_items(tools())))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        if !registry::tools_of(ToolKind::Team).any(|t| t.name == name) {
            return Err(ErrorData::invalid_params(
                format!("unknown tool `{name}`: `tools/list` lists the team tools"),
                None,
            ));
        }
        let args = Value::Object(request.arguments.unwrap_or_default()).to_string();
        Ok(CallToolResponse::Complete(
            self.call(&name, args, &context.ct).await,
        ))
    }

    fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListResourcesResult, ErrorData>> + MaybeSendFuture + '_ {
        let seat = self.shared.seat.lock().clone();
        std::future::ready(Ok(ListResourcesResult::with_all_items(
            seat.map(|s| crate::resources::list(&s.team))
                .unwrap_or_default(),
        )))
    }

    fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListResourceTemplatesResult, ErrorData>> + MaybeSendFuture + '_
    {
        std::future::ready(Ok(ListResourceTemplatesResult::with_all_items(
            crate::resources::templates(),
        )))
    }

    fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ReadResourceResponse, ErrorData>> + MaybeSendFuture + '_ {
        let store = self.shared.ops.store().clone();
        async move {
            let uri = request.uri;
            let r = tokio::task::spawn_blocking(move || crate::resources::read(&store, &uri))
                .await
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))??;
            Ok(ReadResourceResponse::Complete(r))
        }
    }

    fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), ErrorData>> + MaybeSendFuture + '_ {
        let r = crate::resources::parse_uri(&request.uri).map(|_| {
            self.subscriptions.lock().insert(request.uri);
        });
        std::future::ready(r)
    }

    fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), ErrorData>> + MaybeSendFuture + '_ {
        self.subscriptions.lock().remove(&request.uri);
        std::future::ready(Ok(()))
    }
}
