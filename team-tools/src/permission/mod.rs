//! Permission checks for tool calls, made at execution time.
//!
//! Inputs, and the order in which they decide (first match wins):
//! 1. The agent's `tools` setting ([`ToolSelection`]: Claude Code's allow-list or opencode's
//!    toggles): when present, a workspace tool it does not enable is denied, whatever else
//!    says (team tools are always available). Names are already normalized to this crate's
//!    tool names.
//! 2. The agent's `permission` setting (opencode format, see [`PermissionConfig`]), or the
//!    built-in [`default_permission`] when no entry applies. A `deny` here is final: neither
//!    `--allow` nor `--yes` overrides it.
//! 3. The run's `--allow TOOL` flags (tool name, opencode group name, or `*`): that tool allows.
//! 4. `allow` runs.
//! 5. `ask`: `--yes` allows; a tool answered "always" earlier in this run allows; otherwise
//!    what the run's [`OnAsk`] says: `prompt` asks the human through the [`PromptGate`] (one
//!    prompt at a time across all members; with no prompter attached, no terminal: CI, no
//!    stdin, ask means deny), `deny` denies, and `park` answers
//!    [`DecisionSource::NeedsApproval`]: the runner records an approval request, parks the
//!    member until a human decides (`team approve` / `team deny`), then runs the call with
//!    [`crate::WorkspaceTools::execute_approved`] or sends the denial back.
//!
//! Every check yields a [`PermissionDecision`] (member, tool, summary, allow/deny, which input
//! decided, and a sentence for the model) so the runner can record an event for each denial.

mod prompt;
mod rules;
mod selection;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use prompt::{
    PromptAnswer, PromptError, PromptFuture, PromptGate, PromptRequest, Prompter, ScriptedPrompter,
    TerminalPrompter,
};
pub use rules::{
    Permission, PermissionConfig, PermissionRule, default_permission, group_tools, wildcard_match,
};
pub use selection::ToolSelection;

use crate::error::ToolError;
use crate::registry::{self, ToolKind};
use prompt::GateOutcome;

/// One agent's permission settings, as read from its definition file (`team-agent` parses
/// them from agent files; they also deserialize from JSON: `{"permission": …, "tools": …}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AgentPermissions {
    /// opencode's `permission` setting; `None` means built-in defaults only.
    #[serde(default)]
    pub permission: Option<PermissionConfig>,
    /// The `tools` setting (our tool names); `None` means every tool is available.
    #[serde(default)]
    pub tools: Option<ToolSelection>,
}

/// What an `ask` that no flag settles becomes (`--on-ask`, `[team] on_ask`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnAsk {
    /// Ask the human at the terminal; with no terminal (CI), deny. The default.
    #[default]
    Prompt,
    /// Deny without asking (the tool error names `--allow TOOL`).
    Deny,
    /// Park the member until a human decides through `team approve` / `team deny`, from any
    /// shell, now or later (headless runs, CI).
    Park,
}

impl OnAsk {
    /// Every value, in declaration order.
    pub const ALL: [OnAsk; 3] = [OnAsk::Prompt, OnAsk::Deny, OnAsk::Park];

    /// The name on the command line and in the configuration (`park`).
    pub const fn as_str(self) -> &'static str {
        match self {
            OnAsk::Prompt => "prompt",
            OnAsk::Deny => "deny",
            OnAsk::Park => "park",
        }
    }
}

impl std::fmt::Display for OnAsk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for OnAsk {
    type Err = String;

    /// Parses `prompt`, `deny` or `park`; the error lists them.
    fn from_str(s: &str) -> Result<Self, String> {
        OnAsk::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("unknown on-ask `{s}`; expected one of: prompt, deny, park"))
    }
}

/// The run's command-line flags that affect permissions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFlags {
    /// `--allow TOOL` values (tool names, opencode group names such as `edit`, or `*`).
    pub allow: Vec<String>,
    /// `--yes`: every `ask` becomes allow (a `deny` stays deny).
    pub yes: bool,
    /// `--on-ask`: what an `ask` the flags above do not settle becomes.
    pub on_ask: OnAsk,
}

impl RunFlags {
    fn allows(&self, tool: &str) -> bool {
        self.allow.iter().any(|name| rules::name_covers(name, tool))
    }
}

/// What the whole run shares: its flags and its prompt gate. Build one per run and give every
/// member's [`PermissionChecker`] the same `Arc`.
#[derive(Debug)]
pub struct RunPermissions {
    /// The run's flags.
    pub flags: RunFlags,
    /// The run-wide prompt gate (shared with [`RunPermissions::with_on_ask`]'s copies).
    pub gate: Arc<PromptGate>,
}

impl RunPermissions {
    /// Flags plus a gate.
    pub fn new(flags: RunFlags, gate: PromptGate) -> Self {
        Self {
            flags,
            gate: Arc::new(gate),
        }
    }

    /// These permissions with `on_ask` instead of the flags' (a member spawned with its own
    /// `--on-ask`), sharing the prompt gate: still one prompt at a time.
    pub fn with_on_ask(&self, on_ask: OnAsk) -> Self {
        Self {
            flags: RunFlags {
                on_ask,
                ..self.flags.clone()
            },
            gate: self.gate.clone(),
        }
    }

    /// Flags with no prompter: every `ask` that the flags do not settle is denied.
    pub fn non_interactive(flags: RunFlags) -> Self {
        Self::new(flags, PromptGate::new(None))
    }
}

/// One call to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionRequest {
    /// The tool name.
    pub tool: String,
    /// What object-form patterns are matched against: the bash command, the project-relative
    /// path for file tools, the pattern for `list_files`/`grep`; `""` when the tool has none.
    pub subject: String,
    /// One-line argument summary shown to the human and kept in the decision.
    pub summary: String,
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The call may run.
    Allow,
    /// The call is refused.
    Deny,
}

/// Which input decided (serialized with a `kind` tag, snake_case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DecisionSource {
    /// The agent has a `tools` list and this tool is not on it.
    NotInToolsList,
    /// An entry of the agent's `permission` setting (`key` is `None` for the single-value form;
    /// `pattern` is set for object-form entries).
    AgentRule {
        /// The map key that applied.
        key: Option<String>,
        /// The pattern that matched the subject.
        pattern: Option<String>,
    },
    /// The built-in default for the tool.
    Default,
    /// The run's `--allow` flag.
    AllowFlag,
    /// The run's `--yes` flag.
    YesFlag,
    /// An earlier "always" answer in this run.
    AlwaysThisRun,
    /// The human answered the prompt (`answer` is yes, no or always).
    Human {
        /// The answer given.
        answer: PromptAnswer,
    },
    /// `ask` with no terminal to ask on.
    NoTerminal,
    /// `ask` in a run with `--on-ask deny`.
    OnAskDeny,
    /// `ask` in a run with `--on-ask park`: a human decides later (`team approve`); the
    /// runner parks the member. `why` is the sentence saying which rule asked.
    NeedsApproval {
        /// Which rule said `ask` (for the approval request).
        why: String,
    },
    /// A human approved the call through `team approve` (approval request `id`).
    Approved {
        /// The approval request.
        id: i64,
    },
    /// A human refused the call through `team deny` (approval request `id`; the decision's
    /// `reason` carries the human's words).
    HumanDenied {
        /// The approval request.
        id: i64,
    },
    /// Asking failed (closed input, I/O error).
    PromptFailed {
        /// What went wrong.
        error: String,
    },
    /// The call would write a protected path (`.team/`, an agent folder, a config file
    /// `team` reads, `.git/hooks`, `.git/config`): refused before any rule, flag or prompt.
    ProtectedPath {
        /// The protected path (relative to the project root) the call would write.
        path: String,
    },
    /// `bash` needs its Landlock sandbox and this kernel has none (and `sandbox = "off"` is
    /// not set).
    SandboxUnavailable,
}

/// The outcome of one check, for the runner's event log and for the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PermissionDecision {
    /// The member that made the call.
    pub member: String,
    /// The tool.
    pub tool: String,
    /// The argument summary.
    pub summary: String,
    /// Allow or deny.
    pub decision: Decision,
    /// Which input decided.
    pub source: DecisionSource,
    /// A sentence saying why, e.g. "no terminal to ask and the run was not started with
    /// --allow bash or --yes".
    pub reason: String,
}

impl PermissionDecision {
    /// Whether the call may run.
    pub fn is_allowed(&self) -> bool {
        self.decision == Decision::Allow
    }

    /// True when the run parks this call for a human's decision (`--on-ask park`).
    pub fn needs_approval(&self) -> bool {
        matches!(self.source, DecisionSource::NeedsApproval { .. })
    }

    /// [`ToolError::Denied`] for a denial, `None` for an allow.
    pub fn to_error(&self) -> Option<ToolError> {
        (self.decision == Decision::Deny).then(|| ToolError::Denied {
            tool: self.tool.clone(),
            reason: self.reason.clone(),
        })
    }
}

fn rule_text(key: &Option<String>, pattern: &Option<String>) -> String {
    match (key, pattern) {
        (None, _) => "`permission` (one value for all tools)".to_string(),
        (Some(key), None) => format!("`{key}`"),
        (Some(key), Some(pattern)) => format!("`{key}` pattern `{pattern}`"),
    }
}

/// Checks one member's tool calls. Cheap to clone; share the [`RunPermissions`] across members.
#[derive(Debug, Clone)]
pub struct PermissionChecker {
    member: String,
    agent: AgentPermissions,
    run: Arc<RunPermissions>,
}

impl PermissionChecker {
    /// A checker for `member` with its agent settings and the run's shared state.
    pub fn new(
        member: impl Into<String>,
        agent: AgentPermissions,
        run: Arc<RunPermissions>,
    ) -> Self {
        Self {
            member: member.into(),
            agent,
            run,
        }
    }

    /// A checker that allows every call (agent `permission: allow`, no prompter); for trusted
    /// callers and tests.
    pub fn allow_all(member: impl Into<String>) -> Self {
        Self::new(
            member,
            AgentPermissions {
                permission: Some(PermissionConfig {
                    default: Some(Permission::Allow),
                    rules: Vec::new(),
                }),
                tools: None,
            },
            Arc::new(RunPermissions::non_interactive(RunFlags::default())),
        )
    }

    /// The member name.
    pub fn member(&self) -> &str {
        &self.member
    }

    /// The permission the agent's settings give this call before flags and prompting (steps 1
    /// and 2 of the module rules), with its source.
    pub fn configured(&self, tool: &str, subject: &str) -> (Permission, DecisionSource) {
        if let Some(tools) = &self.agent.tools
            && registry::find(tool).is_none_or(|t| t.kind != ToolKind::Team)
            && !tools.allows(tool)
        {
            return (Permission::Deny, DecisionSource::NotInToolsList);
        }
        match self
            .agent
            .permission
            .as_ref()
            .and_then(|c| c.lookup(tool, subject))
        {
            Some(hit) => (
                hit.permission,
                DecisionSource::AgentRule {
                    key: hit.key,
                    pattern: hit.pattern,
                },
            ),
            None => (default_permission(tool), DecisionSource::Default),
        }
    }

    /// Decides one call, asking the human when needed (waits for the run-wide prompt lock).
    pub async fn check(&self, request: &PermissionRequest) -> PermissionDecision {
        let tool = request.tool.as_str();
        let (configured, source) = self.configured(tool, &request.subject);
        let (decision, source) = match configured {
            Permission::Deny => (Decision::Deny, source),
            _ if self.run.flags.allows(tool) => (Decision::Allow, DecisionSource::AllowFlag),
            Permission::Allow => (Decision::Allow, source),
            Permission::Ask if self.run.flags.yes => (Decision::Allow, DecisionSource::YesFlag),
            Permission::Ask if self.run.flags.on_ask == OnAsk::Deny => {
                (Decision::Deny, DecisionSource::OnAskDeny)
            }
            Permission::Ask if self.run.flags.on_ask == OnAsk::Park => {
                let why = match &source {
                    DecisionSource::AgentRule { key, pattern } => {
                        format!(
                            "the agent's permission rule {} asks",
                            rule_text(key, pattern)
                        )
                    }
                    _ => format!("{tool} asks by default"),
                };
                (Decision::Deny, DecisionSource::NeedsApproval { why })
            }
            Permission::Ask => {
                let prompt = PromptRequest {
                    member: self.member.clone(),
                    tool: tool.to_string(),
                    summary: request.summary.clone(),
                };
                match self.run.gate.ask(&prompt).await {
                    GateOutcome::AlwaysThisRun => (Decision::Allow, DecisionSource::AlwaysThisRun),
                    GateOutcome::NoTerminal => (Decision::Deny, DecisionSource::NoTerminal),
                    GateOutcome::Answered(answer) => {
                        let decision = if answer == PromptAnswer::No {
                            Decision::Deny
                        } else {
                            Decision::Allow
                        };
                        (decision, DecisionSource::Human { answer })
                    }
                    GateOutcome::Failed(e) => (
                        Decision::Deny,
                        DecisionSource::PromptFailed {
                            error: e.to_string(),
                        },
                    ),
                }
            }
        };
        let reason = self.reason(tool, decision, &source);
        if decision == Decision::Deny {
            tracing::info!(member = %self.member, tool, %reason, "tool call denied");
        }
        PermissionDecision {
            member: self.member.clone(),
            tool: tool.to_string(),
            summary: request.summary.clone(),
            decision,
            source,
            reason,
        }
    }

    fn reason(&self, tool: &str, decision: Decision, source: &DecisionSource) -> String {
        let verb = if decision == Decision::Allow {
            "allows"
        } else {
            "denies"
        };
        match source {
            DecisionSource::NotInToolsList => {
                let allowed = self
                    .agent
                    .tools
                    .as_ref()
                    .map(ToolSelection::workspace_tools)
                    .unwrap_or_default();
                if allowed.is_empty() {
                    format!("the agent's `tools` list is empty, so {tool} is not available")
                } else {
                    format!(
                        "the agent's `tools` list does not include {tool}; use one of: {}",
                        allowed.join(", ")
                    )
                }
            }
            DecisionSource::AgentRule { key, pattern } => {
                format!(
                    "the agent's permission rule {} {verb} it",
                    rule_text(key, pattern)
                )
            }
            DecisionSource::Default => format!("{tool} is allowed by default"),
            DecisionSource::AllowFlag => format!("the run was started with --allow {tool}"),
            DecisionSource::YesFlag => "the run was started with --yes".to_string(),
            DecisionSource::AlwaysThisRun => {
                format!("the human allowed {tool} for the rest of this run")
            }
            DecisionSource::Human {
                answer: PromptAnswer::No,
            } => "the human refused this call at the prompt; do not retry it unchanged".to_string(),
            DecisionSource::Human {
                answer: PromptAnswer::Always,
            } => {
                format!("the human approved this call and allowed {tool} for the rest of this run")
            }
            DecisionSource::Human { .. } => "the human approved this call".to_string(),
            DecisionSource::NoTerminal => format!(
                "no terminal to ask and the run was not started with --allow {tool} or --yes"
            ),
            DecisionSource::OnAskDeny => format!(
                "the run was started with --on-ask deny and not with --allow {tool} or --yes"
            ),
            DecisionSource::NeedsApproval { why } => format!(
                "{why}; the call waits for a human's approval (`team approvals`, `team approve`)"
            ),
            DecisionSource::Approved { id } => {
                format!("a human approved this call (approval {id})")
            }
            DecisionSource::HumanDenied { id } => {
                format!("a human refused this call (approval {id})")
            }
            DecisionSource::PromptFailed { error } => {
                format!("the human could not be asked ({error})")
            }
            DecisionSource::ProtectedPath { path } => protected_reason(tool, path),
            DecisionSource::SandboxUnavailable => {
                crate::workspace::SandboxError::Unsupported.to_string()
            }
        }
    }

    /// The decision for a call a human approved through approval request `id`
    /// ([`DecisionSource::Approved`]): an allow.
    pub fn approved(&self, request: &PermissionRequest, id: i64) -> PermissionDecision {
        let source = DecisionSource::Approved { id };
        PermissionDecision {
            member: self.member.clone(),
            tool: request.tool.clone(),
            summary: request.summary.clone(),
            decision: Decision::Allow,
            reason: self.reason(&request.tool, Decision::Allow, &source),
            source,
        }
    }

    /// A denial that no rule, flag or prompt can lift: `source` is
    /// [`DecisionSource::ProtectedPath`] or [`DecisionSource::SandboxUnavailable`]. Logged like
    /// any denial.
    pub fn refuse(
        &self,
        request: &PermissionRequest,
        source: DecisionSource,
    ) -> PermissionDecision {
        let reason = self.reason(&request.tool, Decision::Deny, &source);
        tracing::info!(member = %self.member, tool = %request.tool, %reason, "tool call refused");
        PermissionDecision {
            member: self.member.clone(),
            tool: request.tool.clone(),
            summary: request.summary.clone(),
            decision: Decision::Deny,
            source,
            reason,
        }
    }
}

fn protected_reason(tool: &str, path: &str) -> String {
    let what = if tool == "bash" {
        "the command names"
    } else {
        "it would write"
    };
    format!(
        "{what} `{path}`, a protected path: `.team/`, the agent folders (.claude/agents, \
         .opencode/agent), team's config files and .git/hooks and .git/config are never \
         writable by agents, whatever permission, --allow or --yes say; change files elsewhere \
         in the project"
    )
}
