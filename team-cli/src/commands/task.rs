//! `team task add|list|show|claim|done|fail|release|cancel`.

use team_core::{Task, TaskEvent};
use team_store::NewTask;

use crate::cli::{TaskAddArgs, TaskCmd, TaskIdArgs};
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
pub fn run(ctx: &Ctx, cmd: &TaskCmd) -> anyhow::Result<()> {
    match cmd {
        TaskCmd::Add(a) => add(ctx, a),
        TaskCmd::List { team, status } => {
            let team = ctx.store.resolve_team(team)?;
            let tasks = ctx.store.list_tasks(&team.id, *status)?;
            if ctx.out.json {
                return ctx.out.json(&tasks);
            }
            if tasks.is_empty() {
                ctx.out.note(format!("no tasks in team {}", team.name));
                return Ok(());
            }
            println!("{}", task_table(ctx, &tasks));
            Ok(())
        }
        TaskCmd::Show(a) => {
            let team = ctx.store.resolve_team(&a.team)?;
            let t = ctx.store.get_task(&team.id, a.id)?;
            if ctx.out.json {
                return ctx.out.json(&t);
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
        TaskCmd::Claim { team, member, id } => {
            let team = ctx.store.resolve_team(team)?;
            let t = ctx.store.claim_task(&team.id, member, *id)?;
            print_task(ctx, &t)
        }
        TaskCmd::Done(a) => step(ctx, a, TaskEvent::Complete),
        TaskCmd::Fail(a) => step(ctx, a, TaskEvent::Fail),
        TaskCmd::Release(a) => step(ctx, a, TaskEvent::Release),
        TaskCmd::Cancel(a) => step(ctx, a, TaskEvent::Cancel),
    }
}

fn print_task(ctx: &Ctx, t: &Task) -> anyhow::Result<()> {
    if ctx.out.json {
        return ctx.out.json(t);
    }
    println!("{}\t{}", t.id, t.title);
    Ok(())
}

fn add(ctx: &Ctx, a: &TaskAddArgs) -> anyhow::Result<()> {
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
        return ctx.out.json(&t);
    }
    println!("{}", t.id);
    Ok(())
}

fn step(ctx: &Ctx, a: &TaskIdArgs, ev: TaskEvent) -> anyhow::Result<()> {
    let team = ctx.store.resolve_team(&a.team)?;
    let t = ctx
        .store
        .update_task(&team.id, a.id, ev, a.result.as_deref())?;
    if ctx.out.json {
        return ctx.out.json(&t);
    }
    println!("task {} {}", t.id, t.status);
    Ok(())
}
