//! `team task add|list|show|claim|done|fail|release|cancel`.

use team_core::{Task, TaskEvent, Team, delivery};
use team_store::{Actor, NewTask};

use crate::cli::{TaskAddArgs, TaskCmd, TaskIdArgs};
use crate::commands::message::{env_team, lease_ms, member_or_env, own_member, team_or_env};
use crate::doc::{self, TaskDoc};
use crate::error::{CommandError, Result};
use crate::output::one_line;
use crate::project::Ctx;

/// The task table of `team task list` and `team show`.
pub fn task_table(ctx: &Ctx, tasks: &[Task]) -> String {
    let rows = tasks
        .iter()
        .map(|t| {
            vec![
                t.id.to_string(),
                ctx.out.status(t.status.as_str()),
                t.assignee.clone().unwrap_or_else(|| "-".into()),
                if t.blocked_by.is_empty() {
                    "-".into()
                } else {
                    t.blocked_by
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                },
                one_line(&t.title, 70),
            ]
        })
        .collect();
    ctx.out
        .table(&["task", "status", "assignee", "blocked by", "title"], rows)
}

/// Runs a `team task` subcommand.
pub fn run(ctx: &Ctx, cmd: &TaskCmd) -> Result<()> {
    match cmd {
        TaskCmd::Add(a) => add(ctx, a),
        TaskCmd::List { team, status } => {
            let team = ctx.store.resolve_team(team)?;
            let tasks = ctx.store.list_tasks(&team.id, *status)?;
            if ctx.out.json {
                return ctx.out.json(&doc::docs::<_, TaskDoc>(tasks));
            }
            if tasks.is_empty() {
                ctx.out.note(format!("no tasks in team {}", team.name));
                return Ok(());
            }
            println!("{}", task_table(ctx, &tasks));
            Ok(())
        }
        TaskCmd::Show(a) => {
            let (team, id) = team_and_id(ctx, a)?;
            let t = ctx.store.get_task(&team.id, id)?;
            if ctx.out.json {
                return ctx.out.json(&TaskDoc::from(t));
            }
            println!("task {} in team {}: {}", t.id, team.name, t.title);
            println!("status:     {}", ctx.out.status(t.status.as_str()));
            println!("assignee:   {}", t.assignee.as_deref().unwrap_or("-"));
            if !t.blocked_by.is_empty() {
                println!("blocked by: {:?}", t.blocked_by);
            }
            if let Some(d) = &t.description {
                println!("\n{d}");
            }
            if let Some(r) = &t.result {
                println!("\nresult:\n{r}");
            }
            Ok(())
        }
        TaskCmd::Claim {
            team,
            member,
            id,
            lease,
            count,
        } => claim(
            ctx,
            team.as_deref(),
            member.as_deref(),
            *id,
            *lease,
            count.map(usize::from),
        ),
        TaskCmd::Done(a) => step(ctx, a, TaskEvent::Complete),
        TaskCmd::Fail(a) => step(ctx, a, TaskEvent::Fail),
        TaskCmd::Release(a) => step(ctx, a, TaskEvent::Release),
        TaskCmd::Cancel(a) => step(ctx, a, TaskEvent::Cancel),
    }
}

fn print_task(ctx: &Ctx, t: &Task) -> Result<()> {
    if ctx.out.json {
        return ctx.out.json(&TaskDoc::from(t.clone()));
    }
    println!("{}\t{}", t.id, t.title);
    Ok(())
}

fn add(ctx: &Ctx, a: &TaskAddArgs) -> Result<()> {
    let team = ctx.store.resolve_team(&a.team)?;
    let t = ctx.store.add_task(
        &team.id,
        &NewTask {
            title: a.title.clone(),
            description: a.description.clone(),
            blocked_by: a.blocked_by.clone(),
            assignee: a.assignee.clone(),
        },
    )?;
    if ctx.out.json {
        return ctx.out.json(&TaskDoc::from(t));
    }
    println!("{}", t.id);
    Ok(())
}

/// The team and task id of a command on one task: `TEAM ID`, or inside a member (`TEAM_ID`
/// set) just `ID`.
fn team_and_id(ctx: &Ctx, a: &TaskIdArgs) -> Result<(Team, i64)> {
    let (team_ref, id) = match (a.id, env_team()) {
        (Some(id), _) => (a.team.clone(), id),
        (None, Some(env)) => match a.team.parse::<i64>() {
            Ok(id) => (env, id),
            Err(_) => return Err(CommandError::usage("no task id given; pass TEAM ID")),
        },
        (None, None) => {
            return Err(CommandError::usage(format!(
                "no task id given; pass `{} ID`",
                a.team
            )));
        }
    };
    Ok((ctx.store.resolve_team(&team_ref)?, id))
}

/// `team task claim [TEAM] [--as M] [ID] [--lease SECS] [--count K]`.
fn claim(
    ctx: &Ctx,
    team: Option<&str>,
    member: Option<&str>,
    id: Option<i64>,
    lease: Option<std::time::Duration>,
    count: Option<usize>,
) -> Result<()> {
    // Inside a member, `team task claim 7` names the task, not a team.
    let (team_ref, id) = match (team, id, env_team()) {
        (Some(t), None, Some(env)) if t.parse::<i64>().is_ok() => (env, t.parse().ok()),
        (t, id, env) => (team_or_env(t.or(env.as_deref()))?, id),
    };
    let team = ctx.store.resolve_team(&team_ref)?;
    let member = member_or_env(member, &team, "--as")?;
    let requested = lease.map(|s| lease_ms("--lease", s, 0)).transpose()?;
    // No default lease for a member a live runner holds: the runner's end (or its loss,
    // found by reconciliation) settles its tasks.
    let held = requested.is_none() && {
        let m = ctx.store.get_member(&team.id, &member)?;
        m.runner_id.is_some() && m.status.is_live() && {
            let runners = ctx.store.list_runners(false)?;
            runners.iter().any(|r| Some(&r.id) == m.runner_id.as_ref())
        }
    };
    let lease = delivery::claim_lease(requested, held);
    let attempt = super::message::own_attempt(&team, &member);
    if let Some(k) = count {
        let tasks = ctx
            .store
            .claim_tasks(&team.id, &member, k, lease, attempt)?;
        if ctx.out.json {
            let docs: Vec<TaskDoc> = tasks.into_iter().map(TaskDoc::from).collect();
            return ctx.out.json(&docs);
        }
        for t in &tasks {
            println!("{}\t{}", t.id, t.title);
        }
        return Ok(());
    }
    let t = ctx
        .store
        .claim_task_as(&team.id, &member, id, lease, attempt)?;
    print_task(ctx, &t)
}

fn step(ctx: &Ctx, a: &TaskIdArgs, ev: TaskEvent) -> Result<()> {
    let (team, id) = team_and_id(ctx, a)?;
    let actor = a.member.clone().or_else(|| own_member(&team));
    let t = ctx.store.update_task_as(
        &team.id,
        id,
        ev,
        a.result.as_deref(),
        actor
            .as_deref()
            .map(|member| Actor {
                team_id: &team.id,
                member,
                attempt: super::message::own_attempt(&team, member),
            })
            .as_ref(),
    )?;
    if ctx.out.json {
        return ctx.out.json(&TaskDoc::from(t));
    }
    println!("task {} {}", t.id, t.status);
    Ok(())
}
