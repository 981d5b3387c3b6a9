//! Database rows and their conversion into `team-core` entities.

use diesel::prelude::*;
use team_core::{
    Approval, ApprovalStatus, Event, Member, MemberStatus, MemoryEntry, Message, MessageKind, Role,
    Task, TaskStatus, Team, TeamStatus,
};

use crate::error::{Result, StoreError};
use crate::schema::*;

fn parse<T: std::str::FromStr<Err = String>>(what: &str, s: &str) -> Result<T> {
    s.parse()
        .map_err(|e: String| StoreError::Corrupt(format!("{what}: {e}")))
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = teams)]
pub(crate) struct TeamRow {
    pub id: String,
    pub name: String,
    pub status: String,
    pub lead_agent: String,
    pub workflow: Option<String>,
    pub project_root: String,
    pub runner_id: Option<String>,
    pub owner_pid: Option<i64>,
    pub owner_host: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    pub reason: Option<String>,
    pub next_task_id: i64,
    pub max_tokens: Option<i64>,
    pub max_usd: Option<f64>,
    pub budget_team_id: Option<String>,
}

impl TeamRow {
    pub fn into_entity(self) -> Result<Team> {
        Ok(Team {
            status: parse::<TeamStatus>("team status", &self.status)?,
            id: self.id,
            name: self.name,
            lead_agent: self.lead_agent,
            workflow: self.workflow,
            project_root: self.project_root,
            runner_id: self.runner_id,
            owner_pid: self.owner_pid,
            owner_host: self.owner_host,
            created_at_ms: self.created_at_ms,
            updated_at_ms: self.updated_at_ms,
            ended_at_ms: self.ended_at_ms,
            reason: self.reason,
        })
    }
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = members)]
pub(crate) struct MemberRow {
    pub id: i64,
    pub team_id: String,
    pub name: String,
    pub agent: String,
    pub role: String,
    pub status: String,
    pub prompt: Option<String>,
    pub persistent: bool,
    pub timeout_secs: Option<i64>,
    pub runner_id: Option<String>,
    pub pid: Option<i64>,
    pub created_at_ms: i64,
    pub started_at_ms: Option<i64>,
    pub updated_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    pub result: Option<String>,
    pub error: Option<String>,
    pub turns: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub busy_ms: i64,
    pub attempt: i64,
    pub max_attempts: i64,
    pub retry_backoff_ms: i64,
}

impl MemberRow {
    pub fn status(&self) -> Result<MemberStatus> {
        parse("member status", &self.status)
    }

    pub fn into_entity(self) -> Result<Member> {
        Ok(Member {
            status: self.status()?,
            role: parse::<Role>("member role", &self.role)?,
            id: self.id,
            team_id: self.team_id,
            name: self.name,
            agent: self.agent,
            prompt: self.prompt,
            persistent: self.persistent,
            timeout_secs: self.timeout_secs,
            runner_id: self.runner_id,
            pid: self.pid,
            created_at_ms: self.created_at_ms,
            started_at_ms: self.started_at_ms,
            updated_at_ms: self.updated_at_ms,
            ended_at_ms: self.ended_at_ms,
            result: self.result,
            error: self.error,
            turns: self.turns,
            tokens_in: self.tokens_in,
            tokens_out: self.tokens_out,
            busy_ms: self.busy_ms,
            attempt: self.attempt,
            max_attempts: self.max_attempts,
        })
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = members)]
pub(crate) struct NewMemberRow<'a> {
    pub team_id: &'a str,
    pub name: &'a str,
    pub agent: &'a str,
    pub role: &'a str,
    pub status: &'a str,
    pub prompt: Option<&'a str>,
    pub persistent: bool,
    pub timeout_secs: Option<i64>,
    pub runner_id: Option<&'a str>,
    pub created_at_ms: i64,
    pub started_at_ms: Option<i64>,
    pub updated_at_ms: i64,
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = tasks)]
pub(crate) struct TaskRow {
    pub team_id: String,
    pub id: i64,
    pub title: String,
    pub description: Option<String>,
    pub status: String,
    pub assignee: Option<String>,
    pub result: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl TaskRow {
    pub fn status(&self) -> Result<TaskStatus> {
        parse("task status", &self.status)
    }

    pub fn into_entity(self, blocked_by: Vec<i64>) -> Result<Task> {
        Ok(Task {
            status: self.status()?,
            team_id: self.team_id,
            id: self.id,
            title: self.title,
            description: self.description,
            assignee: self.assignee,
            blocked_by,
            result: self.result,
            created_at_ms: self.created_at_ms,
            updated_at_ms: self.updated_at_ms,
        })
    }
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = messages)]
pub(crate) struct MessageRow {
    pub id: i64,
    pub team_id: String,
    pub sender: String,
    pub recipient: String,
    pub kind: String,
    pub body: String,
    pub broadcast: bool,
    pub created_at_ms: i64,
    pub delivered_at_ms: Option<i64>,
    /// A broadcast's delivery other than the first: the id of the row holding its body
    /// (its own `body` is empty). Resolved by `resolve_bodies` before it leaves the store.
    pub body_of: Option<i64>,
}

impl MessageRow {
    pub fn into_entity(self) -> Result<Message> {
        Ok(Message {
            kind: parse::<MessageKind>("message kind", &self.kind)?,
            id: self.id,
            team_id: self.team_id,
            sender: self.sender,
            recipient: self.recipient,
            body: self.body,
            broadcast: self.broadcast,
            created_at_ms: self.created_at_ms,
            delivered_at_ms: self.delivered_at_ms,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = memories)]
pub(crate) struct MemoryRow {
    pub agent: String,
    pub project_root: String,
    pub content: String,
    pub updated_at_ms: i64,
}

impl MemoryRow {
    pub fn into_entity(self) -> MemoryEntry {
        MemoryEntry {
            agent: self.agent,
            project_root: self.project_root,
            content: self.content,
            updated_at_ms: self.updated_at_ms,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events)]
pub(crate) struct EventRow {
    pub id: i64,
    pub team_id: Option<String>,
    pub member: Option<String>,
    pub kind: String,
    pub payload: String,
    pub created_at_ms: i64,
}

impl EventRow {
    pub fn into_entity(self) -> Event {
        Event {
            payload: serde_json::from_str(&self.payload)
                .unwrap_or(serde_json::Value::String(self.payload)),
            id: self.id,
            team_id: self.team_id,
            member: self.member,
            kind: self.kind,
            created_at_ms: self.created_at_ms,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = runners)]
pub(crate) struct RunnerRow {
    pub id: String,
    pub pid: i64,
    pub host: String,
    pub max_agents: i64,
    pub started_at_ms: i64,
    pub heartbeat_at_ms: i64,
    pub stopped_at_ms: Option<i64>,
    pub heartbeat_ms: i64,
    pub env_fingerprint: Option<String>,
    pub version: Option<String>,
    pub stop_requested_at_ms: Option<i64>,
}

#[derive(diesel::QueryableByName)]
pub(crate) struct IdRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub id: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = approvals)]
pub(crate) struct ApprovalRow {
    pub id: i64,
    pub team_id: String,
    pub member: String,
    pub kind: String,
    pub tool: String,
    pub arguments: String,
    pub summary: String,
    pub why: String,
    pub status: String,
    pub decided_by: Option<String>,
    pub reason: Option<String>,
    pub always: bool,
    pub created_at_ms: i64,
    pub decided_at_ms: Option<i64>,
}

impl ApprovalRow {
    pub fn status(&self) -> Result<ApprovalStatus> {
        parse("approval status", &self.status)
    }

    pub fn into_entity(self) -> Result<Approval> {
        Ok(Approval {
            status: self.status()?,
            kind: parse("approval kind", &self.kind)?,
            id: self.id,
            team_id: self.team_id,
            member: self.member,
            tool: self.tool,
            arguments: self.arguments,
            summary: self.summary,
            why: self.why,
            decided_by: self.decided_by,
            reason: self.reason,
            always: self.always,
            created_at_ms: self.created_at_ms,
            decided_at_ms: self.decided_at_ms,
        })
    }
}
