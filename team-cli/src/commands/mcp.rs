//! `team mcp`: the team tools over MCP (crate `team-mcp`), on stdio or streamable HTTP.
//!
//! Whom it acts as: `--team`/`--member` (defaults `TEAM_ID`/`TEAM_MEMBER`, which a runner
//! sets for every member's process, so an agent CLI started as a member finds `team mcp`
//! acting as that member with no flags); `--team` alone: that team's lead; neither: the lead
//! of a team it creates (`team_create`, or on the first call that needs one).
//!
//! Members started with the `task` tool are queued in the database and run by a runner: a
//! detached one is started when none is live (as `team spawn --background` does), so they
//! keep running when the MCP client (and this process) goes away.

use std::sync::Arc;

use team_mcp::{McpServer, Scope};
use team_provider::CassetteMode;
use team_runner::TeamOps;

use crate::cli::{McpArgs, RunFlagsArgs};
use crate::error::{CommandError, Result};
use crate::project::Ctx;

use super::run::{engine_options, ensure_any_runner, load_project, runtime_threads};

/// `team mcp`.
pub fn run(ctx: Ctx, a: &McpArgs) -> Result<()> {
    let (config, runtime) = load_project(
        &ctx.project_root,
        &RunFlagsArgs::default(),
        CassetteMode::Off,
    )?;
    let opts = engine_options(&ctx, &config, None)?;
    let scope = match (&a.team, &a.member) {
        (Some(team), Some(member)) => Scope::Member {
            team: team.clone(),
            member: member.clone(),
            // Inside the member's own process (`TEAM_ID`/`TEAM_MEMBER` naming it): the
            // attempt its runner gave it, so a superseded attempt's CLI is fenced.
            attempt: (super::message::env_team().as_deref() == Some(team.as_str())
                && super::message::env_member().as_deref() == Some(member.as_str()))
            .then(|| std::env::var(super::message::ENV_MEMBER_ATTEMPT).ok())
            .flatten()
            .and_then(|v| v.trim().parse().ok()),
        },
        (team, _) => Scope::Lead {
            team: team.clone(),
            lead_agent: a.lead.clone(),
        },
    };
    let token = match (&a.http, &a.token_env) {
        (None, _) => None,
        (Some(_), Some(name)) => Some(
            std::env::var(name)
                .ok()
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| {
                    CommandError::usage(format!(
                        "--token-env {name}: the variable is not set or empty"
                    ))
                    .hint(format!("export {name}=… (any long random string), or leave --token-env out to get a new token"))
                })?
                .trim()
                .to_owned(),
        ),
        (Some(_), None) => None,
    };
    let ops = TeamOps::new(ctx.store.clone(), runtime, opts);
    let ctx = Arc::new(ctx);
    let for_runner = ctx.clone();
    let server = McpServer::new(
        ops,
        scope,
        Arc::new(move || ensure_any_runner(&for_runner).map_err(|e| e.to_string())),
    );
    let rt = runtime_threads()?;
    rt.block_on(async {
        match a.http {
            None => server.serve_stdio().await.map_err(|e| CommandError::failure(e.to_string())),
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                    CommandError::usage(format!("cannot listen on {addr}: {e}"))
                        .hint("pick another address or port (port 0: any free one)")
                })?;
                let bound = listener.local_addr()?;
                let token = match token {
                    Some(t) => t,
                    None => {
                        let t = team_mcp::http::new_token();
                        // Once, on stderr, for the person who started it: never logged.
                        eprintln!("team mcp: bearer token {t}");
                        t
                    }
                };
                eprintln!(
                    "team mcp: serving MCP at http://{bound}{} (Authorization: Bearer TOKEN); Ctrl-C stops",
                    team_mcp::http::PATH
                );
                let shutdown = tokio_util::sync::CancellationToken::new();
                let stop = shutdown.clone();
                tokio::spawn(async move {
                    super::run::first_signal().await;
                    stop.cancel();
                });
                server
                    .serve_http(listener, token, shutdown)
                    .await
                    .map_err(|e| CommandError::failure(e.to_string()))
            }
        }
    })
}
