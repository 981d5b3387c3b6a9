//! Agent CLIs as members (`runtime: opencode | claude | codex` in an agent file).
//!
//! A member of such an agent is a command agent whose program and arguments come from the
//! runtime's table (`team_agent::runtime`): [`spec`] builds its [`CommandSpec`] with the
//! environment of any command agent (the runner's minus secret-looking names, the file's
//! `env_passthrough` and `env`, the `TEAM_*` variables), plus what the table adds (the
//! configuration file's location, the CLI's quiet settings, the endpoint), and writes the
//! per-member configuration file (its MCP server is `team mcp`, run as this member) into a
//! private directory that lives as long as the member. Each turn is one run of the CLI with
//! the turn's input on stdin; its JSON output gives the result and the token usage
//! (`command::run_turn_counted`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use team_agent::runtime::{COPY_FROM, Endpoint, Facts, Runtime};

use crate::command::CommandSpec;

/// The `team` binary that the CLI starts as `team mcp`: this process's executable (the
/// runner is `team runner`, or `team` itself for a foreground spawn or a workflow).
///
/// # Errors
/// A sentence when the executable cannot be found.
pub(crate) fn team_exe() -> Result<String, String> {
    std::env::current_exe()
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|e| {
            format!("cannot find the `team` executable for the agent CLI's MCP server: {e}")
        })
}

/// Checks that the program of `rt` can be started with `path` (a `PATH` value) from `cwd`.
///
/// # Errors
/// A sentence naming the program and how to install it.
pub fn check_program(
    rt: &Runtime,
    path: Option<std::ffi::OsString>,
    cwd: &Path,
) -> Result<(), String> {
    which::which_in(rt.program, path, cwd)
        .map(|_| ())
        .map_err(|_| {
            format!(
                "runtime `{rt}` runs the program `{}`, which is not on PATH; install it with `{}` \
             (Node.js's npm), or put it on the runner's PATH",
                rt.program,
                rt.install_hint()
            )
        })
}

/// The spec of a member run by the agent CLI `rt`, with the model `model` (as written in the
/// agent file), the agent file's body `instructions`, the endpoint of the model's provider
/// (if configured with a base URL), in `cwd`, with the command-agent environment `env`.
///
/// # Errors
/// A sentence: the program is not on the environment's `PATH`, or the configuration file
/// cannot be written.
pub(crate) fn spec(
    rt: &'static Runtime,
    model: Option<&str>,
    instructions: &str,
    endpoint: Option<&Endpoint>,
    cwd: &Path,
    mut env: BTreeMap<String, String>,
) -> Result<CommandSpec, String> {
    check_program(rt, env.get("PATH").map(Into::into), cwd)?;
    let team_exe = team_exe()?;
    let dir = tempfile::Builder::new()
        .prefix(&format!("team-{}-", rt.name))
        .tempdir()
        .map_err(|e| format!("cannot create the directory of the {rt} configuration: {e}"))?;
    let config_path = dir.path().join("config.json");
    let config_text = config_path.to_string_lossy().into_owned();
    let invocation = rt.invocation(&Facts {
        model,
        instructions,
        team_exe: &team_exe,
        config_path: rt.config.map(|_| config_text.as_str()),
        endpoint,
    });
    if let Some(text) = &invocation.config {
        write_private(&config_path, text)
            .map_err(|e| format!("cannot write the {rt} configuration {config_text}: {e}"))?;
    }
    for (key, value) in invocation.env {
        match value.strip_prefix(COPY_FROM) {
            // Only a key the member was given (its `env_passthrough:`) is copied.
            Some(from) => {
                if let Some(v) = env.get(from).cloned() {
                    env.insert(key, v);
                }
            }
            None => {
                env.insert(key, value);
            }
        }
    }
    Ok(CommandSpec {
        argv: invocation.argv,
        cwd: cwd.to_owned(),
        env,
        prompt_file: None,
        output: Some(rt.output),
        keep_dir: Some(Arc::new(dir)),
    })
}

/// Writes `text` to a new file at `path` readable by its owner only.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use team_agent::runtime::{EndpointKind, OutputKind, find};
    use tokio_util::sync::CancellationToken;

    /// A fake `claude` on PATH that prints its argv, its config and its environment's
    /// ANTHROPIC_* values as the stream-json `result` event.
    fn fake_cli(dir: &Path, name: &str, script: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let bin = dir.join(name);
        std::fs::write(&bin, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        format!("{}:/usr/bin:/bin", dir.display())
    }

    #[tokio::test]
    async fn a_claude_member_gets_its_config_key_and_usage() {
        let bin = tempfile::tempdir().unwrap();
        let script = r#"cfg=""; prev=""
for a in "$@"; do [ "$prev" = "--mcp-config" ] && cfg="$a"; prev="$a"; done
input=$(cat)
mode=$(stat -c %a "$cfg")
team_id=$(grep -c '${TEAM_ID}' "$cfg")
printf '{"type":"system","subtype":"init"}\n'
printf '{"type":"result","subtype":"success","is_error":false,"result":"%s|%s|%s|%s|%s","usage":{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":3},"total_cost_usd":0.5,"num_turns":2}\n' "$input" "$ANTHROPIC_API_KEY" "$ANTHROPIC_BASE_URL" "$mode" "$team_id""#;
        let path = fake_cli(bin.path(), "claude", script);
        let env = BTreeMap::from([
            ("PATH".to_owned(), path),
            ("SCRIPTED_KEY".to_owned(), "k-123".to_owned()),
        ]);
        let endpoint = Endpoint {
            provider: "scripted".into(),
            kind: EndpointKind::Anthropic,
            base_url: "http://127.0.0.1:9/v1".into(),
            api_key_env: Some("SCRIPTED_KEY".into()),
        };
        let rt = find("claude").unwrap();
        let spec = spec(
            rt,
            Some("scripted/claude-x"),
            "Be brief.",
            Some(&endpoint),
            bin.path(),
            env,
        )
        .unwrap();
        assert_eq!(spec.output, Some(OutputKind::ClaudeJson));
        let dir = spec.keep_dir.as_ref().unwrap().path().to_owned();
        let (end, usage) = crate::command::run_turn_counted(
            &spec,
            "review {prompt}",
            &CancellationToken::new(),
            None,
            |_| {},
        )
        .await;
        assert_eq!(
            end,
            crate::command::TurnEnd::Done("review {prompt}|k-123|http://127.0.0.1:9|600|1".into())
        );
        let usage = usage.unwrap();
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (15, 3));
        assert!(
            !spec.argv.iter().any(|a| a.contains("k-123")),
            "no key in argv"
        );
        drop(spec);
        assert!(
            !dir.exists(),
            "the configuration is removed with the member"
        );
    }

    #[tokio::test]
    async fn a_failed_cli_quotes_its_reported_error() {
        let bin = tempfile::tempdir().unwrap();
        let script = r#"cat >/dev/null
printf '{"type":"thread.started","thread_id":"t"}\n'
printf '{"type":"turn.failed","error":{"message":"unexpected status 401 Unauthorized"}}\n'
exit 1"#;
        let path = fake_cli(bin.path(), "codex", script);
        let env = BTreeMap::from([("PATH".to_owned(), path)]);
        let spec = spec(find("codex").unwrap(), None, "", None, bin.path(), env).unwrap();
        let (end, _) =
            crate::command::run_turn_counted(&spec, "x", &CancellationToken::new(), None, |_| {})
                .await;
        assert_eq!(
            end,
            crate::command::TurnEnd::Failed(
                "command `codex` failed: exit status 1: unexpected status 401 Unauthorized".into()
            )
        );
    }

    #[test]
    fn a_missing_cli_names_its_npm_package() {
        let dir = tempfile::tempdir().unwrap();
        let e = spec(
            find("opencode").unwrap(),
            None,
            "",
            None,
            dir.path(),
            BTreeMap::from([("PATH".to_owned(), dir.path().display().to_string())]),
        )
        .unwrap_err();
        assert!(
            e.contains("`opencode`, which is not on PATH")
                && e.contains("npm install -g opencode-ai"),
            "{e}"
        );
    }
}
