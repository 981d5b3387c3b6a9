//! `team init`, `create`, `list`, `show`, `disband`.

use std::path::Path;

use team_core::{AgentName, TeamName};
use team_store::{NewTeam, Store, TeamFilter, now_ms};

use crate::cli::{CreateArgs, DisbandArgs, ListArgs};
use crate::doc::{self, CreateDoc, DisbandDoc, InitDoc, MemberDoc, ShowDoc, TokensDoc};
use crate::error::{CommandError, Result};
use crate::output::{Out, duration, one_line};
use crate::project::{Ctx, DB_FILE, TEAM_DIR};

/// `team init`: creates `.team/` in the working directory (keeping whatever exists).
pub fn init(db: Option<&str>, out: Out) -> Result<()> {
    let root = std::env::current_dir()?;
    let dir = root.join(TEAM_DIR);
    let mut created = create_project_dir(&root)?;
    let db_url = db
        .map(str::to_owned)
        .unwrap_or_else(|| dir.join(DB_FILE).to_string_lossy().into_owned());
    let existed = db.is_some() || dir.join(DB_FILE).exists();
    let store = Store::open(&db_url)?;
    if !existed {
        created.push(format!("{TEAM_DIR}/{DB_FILE}"));
    }
    if out.json {
        return out.json(&InitDoc {
            project_root: root.to_string_lossy().into_owned(),
            database: store.target().to_owned(),
            created,
        });
    }
    if created.is_empty() {
        println!("{TEAM_DIR}/ is already set up in {}", root.display());
    } else {
        println!("initialised {TEAM_DIR}/ in {}", root.display());
        for c in created {
            println!("  created {c}");
        }
    }
    Ok(())
}

/// Creates `.team/` under `root` with `config.toml`, `agents/`, `workflows/` and a
/// `.gitignore`, keeping whatever exists. Returns what it created (relative paths).
pub fn create_project_dir(root: &Path) -> Result<Vec<String>> {
    let dir = root.join(TEAM_DIR);
    let mut created = Vec::new();
    for sub in ["", "agents", "workflows"] {
        let d = dir.join(sub);
        if !d.is_dir() {
            std::fs::create_dir_all(&d)
                .map_err(|e| CommandError::usage(format!("cannot create {}: {e}", d.display())))?;
            created.push(rel(root, &d));
        }
    }
    for (name, text) in [
        (
            "config.toml",
            team_agent::config::Config::default_file_text(),
        ),
        (".gitignore", "team.db\nteam.db-*\n*.log\n"),
    ] {
        let f = dir.join(name);
        if !f.exists() {
            std::fs::write(&f, text)?;
            created.push(rel(root, &f));
        }
    }
    Ok(created)
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

/// `team create NAME [--lead AGENT]`.
pub fn create(ctx: &Ctx, args: &CreateArgs) -> Result<()> {
    if args.prompt.is_some() || args.prompt_file.is_some() {
        return super::run::create_and_lead(ctx, args);
    }
    let name = TeamName::new(&args.name).map_err(|e| CommandError::usage(e.to_string()))?;
    let lead_agent = AgentName::new(&args.lead).map_err(|e| CommandError::usage(e.to_string()))?;
    let budget = budget_of(ctx, args, None)?;
    let (team, lead) = ctx.store.create_team(&NewTeam {
        name,
        lead_agent,
        workflow: None,
        project_root: ctx.root_str(),
        owner: None,
    })?;
    if budget.is_set() {
        ctx.store.set_team_budget(&team.id, &budget)?;
    }
    if ctx.out.json {
        return ctx.out.json(&CreateDoc {
            team: team.into(),
            lead: lead.into(),
        });
    }
    println!("{}", team.name);
    ctx.out.note(format!(
        "created team {} (id {}), lead agent {}",
        team.name, team.id, team.lead_agent
    ));
    Ok(())
}

/// The budget of the team `team create` makes: `--max-tokens` / `--max-cost`, else
/// `[team] max_tokens` / `max_cost` of `config` (loaded here when `None`); checked before the
/// team is made. A money budget needs `[prices]` (exit 2 otherwise, like `team run
/// --max-cost`).
pub(crate) fn budget_of(
    ctx: &Ctx,
    args: &CreateArgs,
    config: Option<&team_agent::config::Config>,
) -> Result<team_core::budget::TeamBudget> {
    let loaded;
    let config = match config {
        Some(c) => c,
        None => {
            loaded = team_agent::config::Config::load(Some(&ctx.project_root))?;
            &loaded
        }
    };
    let budget = team_core::budget::TeamBudget {
        max_tokens: args.max_tokens.or(config.team.max_tokens),
        max_usd: args.max_cost.or(config.team.max_cost),
    };
    if budget.max_usd.is_some() && config.prices.is_empty() {
        return Err(CommandError::usage(format!(
            "team {}: a money budget (--max-cost or [team] max_cost) needs prices: add              [prices.\"provider/model\"] with input_per_mtok and output_per_mtok to              .team/config.toml",
            args.name
        )));
    }
    Ok(budget)
}

/// `team list [--all] [--status S]`.
pub fn list(ctx: &Ctx, args: &ListArgs) -> Result<()> {
    let teams = ctx.store.list_teams(&TeamFilter {
        all: args.all,
        status: args.status,
    })?;
    if ctx.out.json {
        return ctx.out.json(&doc::docs::<_, doc::TeamSummaryDoc>(teams));
    }
    if teams.is_empty() {
        ctx.out.note(format!(
            "no {}teams; create one with `team create NAME`",
            if args.all || args.status.is_some() {
                ""
            } else {
                "active "
            }
        ));
        return Ok(());
    }
    let now = now_ms();
    let rows = teams
        .iter()
        .map(|t| {
            vec![
                t.team.name.clone(),
                t.team.id.clone(),
                ctx.out.status(t.team.status.as_str()),
                t.team.lead_agent.clone(),
                format!("{}/{}", t.members_live, t.members_total),
                format!("{}/{}", t.tasks_open, t.tasks_total),
                duration(now - t.team.created_at_ms),
            ]
        })
        .collect();
    println!(
        "{}",
        ctx.out.table(
            &[
                "name",
                "id",
                "status",
                "lead",
                "live/members",
                "open/tasks",
                "age"
            ],
            rows
        )
    );
    Ok(())
}

/// The host of the runner holding each of `members` (a live member held by a runner), in
/// order: one read of the runners for them all.
fn member_hosts(ctx: &Ctx, members: &[team_core::Member]) -> Result<Vec<Option<String>>> {
    let held = members
        .iter()
        .any(|m| m.runner_id.is_some() && m.status.is_live());
    let runners: std::collections::HashMap<String, String> = if held {
        ctx.store
            .list_runners(true)?
            .into_iter()
            .map(|r| (r.id, r.host))
            .collect()
    } else {
        Default::default()
    };
    Ok(members
        .iter()
        .map(|m| {
            m.runner_id
                .as_ref()
                .filter(|_| m.status.is_live())
                .and_then(|r| runners.get(r).cloned())
        })
        .collect())
}

/// What the members of team `team_id` spent: each `provider.call` event's tokens at the
/// price `[prices]` gives its `provider/model` (a configuration that does not load prices
/// nothing).
pub fn spend_of(ctx: &Ctx, team_id: &str, members: &[team_core::Member]) -> Result<doc::SpendDoc> {
    spend_at(ctx, team_id, members, &prices(ctx))
}

/// The project config's `[prices]` (none when the config cannot be read).
pub fn prices(ctx: &Ctx) -> std::collections::BTreeMap<String, team_agent::config::Price> {
    team_agent::config::Config::load(Some(&ctx.project_root))
        .map(|c| c.prices)
        .unwrap_or_default()
}

/// [`spend_of`] at `prices`.
pub fn spend_at(
    ctx: &Ctx,
    team_id: &str,
    members: &[team_core::Member],
    prices: &std::collections::BTreeMap<String, team_agent::config::Price>,
) -> Result<doc::SpendDoc> {
    let mut per: std::collections::BTreeMap<String, f64> = Default::default();
    let mut unpriced = std::collections::BTreeSet::new();
    for e in ctx.store.list_events(Some(team_id), 0, i64::MAX)? {
        if e.kind != team_runner::budget::CALL_EVENT {
            continue;
        }
        let member = e.member.clone().unwrap_or_default();
        match team_runner::budget::call_cost(prices, &e.payload) {
            Ok(usd) => *per.entry(member).or_default() += usd,
            Err(model) => {
                per.entry(member).or_default();
                unpriced.insert(model);
            }
        }
    }
    let members: Vec<doc::MemberSpendDoc> = members
        .iter()
        .filter_map(|m| {
            per.get(&m.name).map(|usd| doc::MemberSpendDoc {
                member: m.name.clone(),
                usd: *usd,
            })
        })
        .collect();
    Ok(doc::SpendDoc {
        total_usd: members.iter().map(|m| m.usd).sum(),
        members,
        unpriced_models: unpriced.into_iter().collect(),
    })
}

/// `team show TEAM`.
pub fn show(ctx: &Ctx, team_ref: &str) -> Result<()> {
    let team = ctx.store.resolve_team(team_ref)?;
    let members = ctx.store.list_members(&team.id)?;
    let tasks = ctx.store.list_tasks(&team.id, None)?;
    let hosts = member_hosts(ctx, &members)?;
    let spend = spend_of(ctx, &team.id, &members)?;
    if ctx.out.json {
        let docs = members
            .iter()
            .cloned()
            .zip(&hosts)
            .map(|(m, h)| MemberDoc {
                host: h.clone(),
                ..MemberDoc::from(m)
            })
            .collect();
        return ctx.out.json(&ShowDoc {
            spend,
            tokens: TokensDoc::of(&members),
            team: team.into(),
            members: docs,
            tasks: doc::docs(tasks),
        });
    }
    let now = now_ms();
    println!(
        "team {} ({})  {}  lead agent {}{}",
        team.name,
        team.id,
        ctx.out.status(team.status.as_str()),
        team.lead_agent,
        team.reason
            .as_deref()
            .map(|r| format!("  reason: {r}"))
            .unwrap_or_default()
    );
    println!();
    // The attempt column only when some member may take (or took) more than one.
    let attempts = members.iter().any(|m| m.max_attempts > 1 || m.attempt > 1);
    // The host column when a runner holds a member (it names the machine it runs on).
    let held = hosts.iter().any(Option::is_some);
    let rows = members
        .iter()
        .zip(&hosts)
        .map(|(m, host)| {
            let outcome = m.error.as_deref().or(m.result.as_deref()).unwrap_or("");
            let mut row = vec![
                m.name.clone(),
                m.agent.clone(),
                m.role.to_string(),
                ctx.out.status(m.status.as_str()),
            ];
            if held {
                row.push(host.clone().unwrap_or_else(|| "-".into()));
            }
            if attempts {
                row.push(team_core::retry::attempt_text(
                    m.attempt,
                    m.max_attempts.max(m.attempt),
                ));
            }
            row.extend([
                duration(m.elapsed_ms(now)),
                m.turns.to_string(),
                format!("{}/{}", m.tokens_in, m.tokens_out),
                one_line(outcome, 60),
            ]);
            row
        })
        .collect();
    let mut header = vec!["member", "agent", "role", "status"];
    if held {
        header.push("host");
    }
    if attempts {
        header.push("attempt");
    }
    header.extend(["elapsed", "turns", "tokens in/out", "result or error"]);
    println!("{}", ctx.out.table(&header, rows));
    if !spend.members.is_empty() {
        let each: Vec<String> = spend
            .members
            .iter()
            .map(|m| format!("{} ${:.4}", m.member, m.usd))
            .collect();
        println!();
        println!("spend: ${:.4} ({})", spend.total_usd, each.join(", "));
    }
    if let Some(line) = budget_line(ctx, &team.id)? {
        println!("{line}");
    }
    if !spend.unpriced_models.is_empty() {
        println!(
            "not priced (add [prices.\"MODEL\"] to config.toml): {}",
            spend.unpriced_models.join(", ")
        );
    }
    if !tasks.is_empty() {
        println!();
        println!("{}", super::task::task_table(ctx, &tasks));
    }
    Ok(())
}

/// `budget: 4020 of 5000 tokens (80%), $0.1000 of $2 (5%), 4096 reserved` for a team with a
/// budget (its own or the one it shares), `None` without one.
fn budget_line(ctx: &Ctx, team_id: &str) -> Result<Option<String>> {
    let budget = ctx.store.team_budget(team_id)?;
    if !budget.is_set() {
        return Ok(None);
    }
    let prices = team_agent::config::Config::load(Some(&ctx.project_root))
        .map(|c| c.prices)
        .unwrap_or_default();
    let (used, reserved) =
        team_runner::budget::spend_and_reserved(&ctx.store, team_id, &prices, |m| {
            team_runner::budget::output_price(&prices, m)
        })?;
    let pct = |u: f64, max: f64| if max > 0.0 { u * 100.0 / max } else { 100.0 };
    let mut parts = Vec::new();
    if let Some(max) = budget.max_tokens {
        parts.push(format!(
            "{} of {max} tokens ({:.0}%)",
            used.tokens,
            pct(used.tokens as f64, max as f64)
        ));
    }
    if let Some(max) = budget.max_usd {
        parts.push(format!(
            "${:.4} of ${max} ({:.0}%)",
            used.usd,
            pct(used.usd, max)
        ));
    }
    if reserved.tokens > 0 {
        parts.push(format!("{} reserved", reserved.tokens));
    }
    Ok(Some(format!("budget: {}", parts.join(", "))))
}

/// `team disband TEAM`.
pub fn disband(ctx: &Ctx, args: &DisbandArgs) -> Result<()> {
    let team = ctx.store.resolve_team(&args.team)?;
    let d = ctx.store.disband_team(&team.id, &args.reason)?;
    if ctx.out.json {
        return ctx.out.json(&DisbandDoc::from(d));
    }
    println!(
        "disbanded team {}: {} member(s) and {} task(s) cancelled",
        d.team.name,
        d.cancelled_members.len(),
        d.cancelled_tasks.len()
    );
    Ok(())
}
