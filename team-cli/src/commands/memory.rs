//! `team memory show|set|append|clear AGENT [TEXT]`: memory of an agent in this project.

use team_core::AgentName;

use team_store::{Actor, MemoryOp};

use crate::cli::MemoryCmd;
use crate::commands::message::{env_member, env_team};
use crate::doc::{MemoryClearDoc, MemoryEntryDoc, MemoryWriteDoc};
use crate::error::{CommandError, Result};
use crate::project::{Ctx, text_or_stdin};

fn agent(name: &str) -> Result<AgentName, CommandError> {
    AgentName::new(name).map_err(|e| CommandError::usage(e.to_string()))
}

/// Inside a member (`TEAM_ID` and `TEAM_MEMBER` set), the member a memory write is made as:
/// (team id, member name). Its writes are refused once it has ended (fencing).
fn acting_member(ctx: &Ctx) -> Result<Option<(String, String)>> {
    let (Some(team), Some(member)) = (env_team(), env_member()) else {
        return Ok(None);
    };
    let team = ctx.store.resolve_team(&team)?;
    Ok(Some((team.id, member)))
}

/// A memory write made as the member `acting` (team id, member name), refused once it has
/// ended (see [`acting_member`]).
fn write_as(
    ctx: &Ctx,
    (team, member): &(String, String),
    agent: &str,
    root: &str,
    op: MemoryOp<'_>,
) -> Result<Option<team_store::MemoryWrite>> {
    // The attempt of this member's process (`TEAM_MEMBER_ATTEMPT`): `acting_member` took
    // the team and member from its environment.
    let attempt = std::env::var(super::message::ENV_MEMBER_ATTEMPT)
        .ok()
        .and_then(|a| a.trim().parse().ok());
    let actor = Actor {
        team_id: team,
        member,
        attempt,
    };
    Ok(ctx.store.memory_write_as(&actor, agent, root, op)?)
}

/// Runs a `team memory` subcommand.
pub fn run(ctx: &Ctx, cmd: &MemoryCmd) -> Result<()> {
    let root = ctx.root_str();
    match cmd {
        MemoryCmd::Show { agent: a } => {
            let a = agent(a)?;
            let entry = ctx.store.memory_get(a.as_str(), &root)?;
            if ctx.out.json {
                return ctx.out.json(&entry.map(MemoryEntryDoc::from));
            }
            match entry {
                Some(e) => print!("{}", e.content),
                None => ctx.out.note(format!("agent {a} has no memory in {root}")),
            }
            Ok(())
        }
        MemoryCmd::Set { agent: a, text } | MemoryCmd::Append { agent: a, text } => {
            let a = agent(a)?;
            let text = text_or_stdin(text.clone(), "memory text")?;
            let op = if matches!(cmd, MemoryCmd::Set { .. }) {
                MemoryOp::Set(&text)
            } else {
                MemoryOp::Append(&text)
            };
            let w = match acting_member(ctx)? {
                Some(acting) => {
                    write_as(ctx, &acting, a.as_str(), &root, op)?.ok_or_else(|| {
                        CommandError::failure(format!("memory of {a} was not written"))
                    })?
                }
                None => match op {
                    MemoryOp::Set(t) => ctx.store.memory_set(a.as_str(), &root, t)?,
                    _ => ctx.store.memory_append(a.as_str(), &root, &text)?,
                },
            };
            if ctx.out.json {
                return ctx.out.json(&MemoryWriteDoc::from(w));
            }
            ctx.out.note(format!(
                "memory of {a}: {} bytes{}",
                w.entry.content.len(),
                if w.cut_bytes > 0 {
                    format!(
                        " ({} oldest bytes cut to stay under the 100 KiB cap)",
                        w.cut_bytes
                    )
                } else {
                    String::new()
                }
            ));
            Ok(())
        }
        MemoryCmd::Clear { agent: a } => {
            let a = agent(a)?;
            let cleared = match acting_member(ctx)? {
                Some(acting) => {
                    write_as(ctx, &acting, a.as_str(), &root, MemoryOp::Clear)?.is_some()
                }
                None => ctx.store.memory_clear(a.as_str(), &root)?,
            };
            if ctx.out.json {
                return ctx.out.json(&MemoryClearDoc {
                    agent: a.as_str().to_owned(),
                    cleared,
                });
            }
            ctx.out.note(if cleared {
                format!("cleared the memory of {a}")
            } else {
                format!("agent {a} had no memory")
            });
            Ok(())
        }
    }
}
