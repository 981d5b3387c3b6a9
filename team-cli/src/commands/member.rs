//! `team member add|list|done|fail`.

use team_core::{AgentName, MemberStatus};
use team_store::{NewMember, Outcome, now_ms};

use crate::cli::{MemberCmd, MemberEndArgs};
use crate::doc::{self, MemberDoc, MemberEndDoc};
use crate::error::{CommandError, Result};
use crate::output::{duration, one_line};
use crate::project::Ctx;

/// Runs a `team member` subcommand.
pub fn run(ctx: &Ctx, cmd: &MemberCmd) -> Result<()> {
    match cmd {
        MemberCmd::Add { team, agent } => {
            let agent = AgentName::new(agent).map_err(|e| CommandError::usage(e.to_string()))?;
            let team = ctx.store.resolve_team(team)?;
            let m = ctx.store.add_member(
                &team.id,
                &NewMember {
                    agent,
                    prompt: None,
                    persistent: false,
                    timeout_secs: None,
                    status: MemberStatus::Running,
                    runner_id: None,
                },
            )?;
            if ctx.out.json {
                return ctx.out.json(&MemberDoc::from(m));
            }
            println!("{}", m.name);
            Ok(())
        }
        MemberCmd::List { team } => {
            let team = ctx.store.resolve_team(team)?;
            let members = ctx.store.list_members(&team.id)?;
            if ctx.out.json {
                return ctx.out.json(&doc::docs::<_, MemberDoc>(members));
            }
            let now = now_ms();
            let rows = members
                .iter()
                .map(|m| {
                    vec![
                        m.name.clone(),
                        m.agent.clone(),
                        m.role.to_string(),
                        ctx.out.status(m.status.as_str()),
                        duration(m.elapsed_ms(now)),
                        one_line(m.error.as_deref().or(m.result.as_deref()).unwrap_or(""), 60),
                    ]
                })
                .collect();
            println!(
                "{}",
                ctx.out.table(
                    &[
                        "member",
                        "agent",
                        "role",
                        "status",
                        "elapsed",
                        "result or error"
                    ],
                    rows
                )
            );
            Ok(())
        }
        MemberCmd::Done(a) => end(ctx, a, true),
        MemberCmd::Fail(a) => end(ctx, a, false),
    }
}

fn end(ctx: &Ctx, a: &MemberEndArgs, done: bool) -> Result<()> {
    let outcome = match (done, &a.result, &a.error) {
        (true, _, Some(_)) => {
            return Err(CommandError::usage(
                "`team member done` takes --result, not --error",
            ));
        }
        (false, Some(_), _) => {
            return Err(CommandError::usage(
                "`team member fail` takes --error, not --result",
            ));
        }
        (true, r, None) => Outcome::Completed(r.clone().unwrap_or_default()),
        (false, None, e) => Outcome::Failed(e.clone().unwrap_or_else(|| "failed".into())),
    };
    let team = ctx.store.resolve_team(&a.team)?;
    // Run by the member's own process (`TEAM_MEMBER_ATTEMPT`): the end of a superseded
    // attempt is refused (fencing); from a shell, any attempt.
    let f = match super::message::own_attempt(&team, &a.member) {
        None => ctx.store.finish_member(&team.id, &a.member, &outcome)?,
        attempt => ctx
            .store
            .finish_members(&[team_store::MemberEnd {
                team_id: team.id.clone(),
                name: a.member.clone(),
                outcome,
                progress: team_store::Progress::default(),
                attempt,
            }])?
            .pop()
            .unwrap_or_else(|| Err(team_store::StoreError::Invalid("no end written".into())))?,
    };
    if ctx.out.json {
        return ctx.out.json(&MemberEndDoc::from(f));
    }
    println!("{} {}", f.member.name, f.member.status);
    for (id, status) in &f.tasks_changed {
        ctx.out.note(format!("task {id} is now {status}"));
    }
    Ok(())
}
