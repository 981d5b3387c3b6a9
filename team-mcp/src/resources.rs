//! The team's state as MCP resources, JSON documents read from the store at each read:
//!
//! | URI | document |
//! |---|---|
//! | `team://TEAM` | `{"team": Team, "members": [{name, agent, role, status}], "tasks": {status: count}}` |
//! | `team://TEAM/members` | `[Member]` (as `team --json member list`'s entities) |
//! | `team://TEAM/tasks` | `[Task]` |
//! | `team://TEAM/events` | the newest [`MAX_EVENTS`] events, oldest first: `[Event]` |
//!
//! `TEAM` is a team's name or id (as the CLI takes it). The session's own team is listed
//! (`resources/list`); any team of the database can be read.

use std::collections::BTreeMap;

use rmcp::ErrorData;
use rmcp::model::{ReadResourceResult, Resource, ResourceContents, ResourceTemplate};
use serde_json::json;
use team_core::Team;
use team_store::Store;

/// The most events `team://TEAM/events` returns (the newest).
pub const MAX_EVENTS: usize = 500;

/// The URI scheme.
pub const SCHEME: &str = "team://";

/// One of a team's resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// `team://TEAM`.
    Team,
    /// `team://TEAM/members`.
    Members,
    /// `team://TEAM/tasks`.
    Tasks,
    /// `team://TEAM/events`.
    Events,
}

/// Reads `team://TEAM[/members|/tasks|/events]` into the team reference and the part.
///
/// # Errors
/// An MCP `resource not found` error naming the URI and the forms it may take.
pub fn parse_uri(uri: &str) -> Result<(String, Part), ErrorData> {
    let bad = || {
        ErrorData::resource_not_found(
            format!(
                "no resource {uri}: the resources are team://TEAM, team://TEAM/members, \
                 team://TEAM/tasks and team://TEAM/events"
            ),
            None,
        )
    };
    let rest = uri.strip_prefix(SCHEME).ok_or_else(bad)?;
    let (team, part) = match rest.split_once('/') {
        None => (rest, Part::Team),
        Some((t, "members")) => (t, Part::Members),
        Some((t, "tasks")) => (t, Part::Tasks),
        Some((t, "events")) => (t, Part::Events),
        Some(_) => return Err(bad()),
    };
    if team.is_empty() {
        return Err(bad());
    }
    Ok((team.to_owned(), part))
}

fn json_resource(uri: String, name: String, description: &str) -> Resource {
    Resource::new(uri, name)
        .with_description(description)
        .with_mime_type("application/json")
}

/// The resources of `team` (`resources/list`).
pub fn list(team: &Team) -> Vec<Resource> {
    let n = &team.name;
    vec![
        json_resource(
            format!("{SCHEME}{n}"),
            format!("team {n}"),
            "The team: its state, members and task counts.",
        ),
        json_resource(
            format!("{SCHEME}{n}/members"),
            format!("members of {n}"),
            "Every member: name, agent, role, status, result or error.",
        ),
        json_resource(
            format!("{SCHEME}{n}/tasks"),
            format!("tasks of {n}"),
            "The task board.",
        ),
        json_resource(
            format!("{SCHEME}{n}/events"),
            format!("events of {n}"),
            "The event log, newest 500.",
        ),
    ]
}

/// The URI templates of any team's resources (`resources/templates/list`).
pub fn templates() -> Vec<ResourceTemplate> {
    [
        ("", "team", "A team: its state, members and task counts."),
        ("/members", "members", "A team's members."),
        ("/tasks", "tasks", "A team's task board."),
        ("/events", "events", "A team's event log, newest 500."),
    ]
    .into_iter()
    .map(|(tail, name, description)| {
        ResourceTemplate::new(format!("{SCHEME}{{team}}{tail}"), name)
            .with_description(description)
            .with_mime_type("application/json")
    })
    .collect()
}

/// Reads resource `uri` from the store (blocking).
///
/// # Errors
/// `resource not found` for a URI of no resource or an unknown team; `internal error` when
/// the database fails.
pub fn read(store: &Store, uri: &str) -> Result<ReadResourceResult, ErrorData> {
    let (reference, part) = parse_uri(uri)?;
    let failed = |e: team_store::StoreError| match e.kind() {
        team_store::ErrorKind::NotFound => ErrorData::resource_not_found(e.to_string(), None),
        _ => ErrorData::internal_error(e.to_string(), None),
    };
    let team = store.resolve_team(&reference).map_err(failed)?;
    let doc = match part {
        Part::Team => {
            let members = store.list_members(&team.id).map_err(failed)?;
            let tasks = store.list_tasks(&team.id, None).map_err(failed)?;
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            for t in &tasks {
                *counts.entry(t.status.to_string()).or_default() += 1;
            }
            let members: Vec<_> = members
                .iter()
                .map(|m| json!({"name": m.name, "agent": m.agent, "role": m.role, "status": m.status}))
                .collect();
            json!({"team": team, "members": members, "tasks": counts})
        }
        Part::Members => json!(store.list_members(&team.id).map_err(failed)?),
        Part::Tasks => json!(store.list_tasks(&team.id, None).map_err(failed)?),
        Part::Events => {
            let mut events = Vec::new();
            let mut after = 0;
            loop {
                let page = store
                    .list_events(Some(&team.id), after, 1000)
                    .map_err(failed)?;
                let full = page.len() == 1000;
                if let Some(e) = page.last() {
                    after = e.id;
                }
                events.extend(page);
                if events.len() > MAX_EVENTS {
                    events.drain(..events.len() - MAX_EVENTS);
                }
                if !full {
                    break;
                }
            }
            json!(events)
        }
    };
    let text = serde_json::to_string_pretty(&doc)
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
    Ok(ReadResourceResult::new(vec![
        ResourceContents::text(text, uri).with_mime_type("application/json"),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_name_a_team_and_a_part() {
        assert_eq!(
            parse_uri("team://docs").unwrap(),
            ("docs".into(), Part::Team)
        );
        assert_eq!(
            parse_uri("team://k3v9x2ab/members").unwrap(),
            ("k3v9x2ab".into(), Part::Members)
        );
        assert_eq!(parse_uri("team://docs/tasks").unwrap().1, Part::Tasks);
        assert_eq!(parse_uri("team://docs/events").unwrap().1, Part::Events);
        for bad in [
            "team://",
            "team:///tasks",
            "team://docs/other",
            "file:///etc/passwd",
            "",
        ] {
            let e = parse_uri(bad).unwrap_err();
            assert!(
                e.message.contains("team://TEAM/members"),
                "{bad}: {}",
                e.message
            );
        }
    }

    #[test]
    fn a_teams_resources_and_templates() {
        let templates: Vec<String> = templates().into_iter().map(|t| t.uri_template).collect();
        assert_eq!(
            templates,
            [
                "team://{team}",
                "team://{team}/members",
                "team://{team}/tasks",
                "team://{team}/events"
            ]
        );
    }
}
