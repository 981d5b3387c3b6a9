//! The command line, as clap definitions. Every command is documented here; `team help CMD`
//! prints it.

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::ArgValueCandidates;
use team_core::{TaskStatus, TeamStatus};
use team_tools::permission::OnAsk;

use crate::complete;

/// Run teams of AI agents from a shell: a lead and members working in parallel, a task board,
/// messages and memory, all in a database you can inspect.
#[derive(Debug, Parser)]
#[command(name = "team", version, about, long_about = None, propagate_version = true)]
#[command(after_help = AFTER_HELP)]
pub struct Cli {
    /// Database: a SQLite file path or a postgres:// URL. Default: `.team/team.db` of the
    /// nearest `.team/` found upward from the working directory.
    #[arg(
        long,
        global = true,
        env = "TEAM_DATABASE_URL",
        value_name = "PATH_OR_URL",
        hide_env_values = true
    )]
    pub db: Option<String>,

    /// Print one JSON document on stdout instead of human output (`team logs --follow`,
    /// `team watch`: JSON Lines; `team run`: the report). Schemas: docs/schemas/.
    #[arg(long, global = true)]
    pub json: bool,

    /// More log output on stderr (-v info, -vv debug, -vvv trace). `TEAM_LOG` or `RUST_LOG`
    /// set the filter too.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The end of `team --help`: the exit codes (`crate::error::exit`; a test checks that every
/// code is here) and the forms of a duration.
pub const AFTER_HELP: &str = "Exit codes: 0 ok, 1 failure, 2 usage or bad input, 3 not found, \
     4 illegal transition or conflict, 10 `team run --fail-on` tripped, 20 needs input \
     (`team run --on-ask park`: approvals wait), 124 timeout, \
     125 token budget spent, 130 cancelled.\n\
     Durations (SECS) take seconds (`90`, `0.5`, `1.5s`) or a duration (`90s`, `1m30s`, `2h`).";

/// The EXAMPLES sections at the end of the main commands' `--help` (`after_help`: shown by
/// `-h` and `--help`). The exit codes stay at the end of `team --help` ([`AFTER_HELP`]).
pub mod examples {
    /// `team create`.
    pub const CREATE: &str = "\
Examples:
  team create docs                        a team whose lead is you (a shell or a script)
  team create docs --lead planner --prompt 'Plan the release notes'
                                          run its lead now; exit with the lead's outcome";

    /// `team list`.
    pub const LIST: &str = "\
Examples:
  team list                               active teams
  team list --all                         with completed, failed and disbanded ones
  team list --status failed";

    /// `team show`.
    pub const SHOW: &str = "\
Examples:
  team show docs                          members (status, elapsed, result) and tasks
  team --json show docs | jq '.members[] | {name, status}'";

    /// `team disband`.
    pub const DISBAND: &str = "\
Examples:
  team disband docs
  team disband docs --reason 'superseded by docs-2'";

    /// `team mcp`.
    pub const MCP: &str = "\
Examples:
  team mcp                                stdio, for an agent CLI's MCP configuration
  team mcp --team docs                    as the lead of team docs
  team mcp --http 127.0.0.1:8765 --token-env TEAM_MCP_TOKEN
                                          streamable HTTP at http://127.0.0.1:8765/mcp";

    /// `team task`.
    pub const TASK: &str = "\
Examples:
  team task add docs 'Write chapter 3' --blocked-by 1
  team task list docs --status pending
  team task claim docs --as writer        the oldest claimable task (exit 3: none)
  team task done docs 3 --result 'merged in #12'
  team task claim 3                       inside a member: TEAM_ID and TEAM_MEMBER
  team task claim docs --as writer --count 10   up to 10 tasks at once";

    /// `team send`.
    pub const SEND: &str = "\
Examples:
  team send docs --from lead --to writer 'Use British spelling'
  git diff | team send docs --from lead --to reviewer
  team send docs --from lead --all 'Wrap up in 5 minutes'
  team send --to lead 'Chapter 2 is done'   inside a member: TEAM_ID and TEAM_MEMBER";

    /// `team inbox`.
    pub const INBOX: &str = "\
Examples:
  team inbox docs lead                    take the lead's unread messages
  team inbox docs lead --peek             read them without taking them
  team inbox docs lead --wait --timeout 60
  team --json inbox docs lead --after 41  every message above id 41 (a cursor)";

    /// `team logs`.
    pub const LOGS: &str = "\
Examples:
  team logs docs -n 20                    the last 20 events
  team logs docs --follow                 and every new one until the team ends
  team logs docs --member writer --kind task. --since 10m";

    /// `team spawn`.
    pub const SPAWN: &str = "\
Examples:
  team spawn docs writer --prompt 'Draft chapter 2' --background
                                          print its name and return; a runner runs it
  team spawn docs reviewer --prompt-file task.md --timeout 10m
                                          in the foreground: exit with its outcome
  team spawn docs helper --prompt 'Answer questions' --background --persistent";

    /// `team wait`.
    pub const WAIT: &str = "\
Examples:
  team wait docs --timeout 10m            every member but the lead
  team wait docs --member writer --member reviewer
  team --json wait docs | jq '.members[] | select(.status != \"completed\")'";

    /// `team run`.
    pub const RUN: &str = "\
Examples:
  team run spec-review docs/spec.md       the report (Markdown) on stdout
  team run spec-review spec.md -o review.md --fail-on major
  team run spec-review spec.md --format sarif -o review.sarif
  team run spec-review spec.md --set reviewers=security,testing --max-tokens 200000
  t=$(team run spec-review spec.md --detach) && team watch \"$t\" && team report \"$t\"";

    /// `team doctor`.
    pub const DOCTOR: &str = "\
Examples:
  team doctor                             every check, and the next command to run
  team --json doctor | jq '.problems[0]'  the first problem and its fix";

    /// `team runners`.
    pub const RUNNERS: &str = "\
Examples:
  team runners                            alive and lost runners, and what each holds
  team runners --all                      stopped ones too
  team runner stop                        stop the only runner alive (or: RUNNER_ID, --all)";
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create `.team/` here: `config.toml`, `agents/`, `workflows/` and the database.
    Init,
    /// Create a team with a lead.
    #[command(after_help = examples::CREATE)]
    Create(CreateArgs),
    /// List teams (active ones unless --all or --status).
    #[command(after_help = examples::LIST)]
    List(ListArgs),
    /// Show a team: its members (status, elapsed, result or error) and its tasks.
    #[command(after_help = examples::SHOW)]
    Show(TeamArg),
    /// Disband a team: cancel every live member and open task, in one transaction.
    #[command(after_help = examples::DISBAND)]
    Disband(DisbandArgs),
    /// Members of a team.
    #[command(subcommand)]
    Member(MemberCmd),
    /// The team's task board.
    #[command(subcommand)]
    #[command(after_help = examples::TASK)]
    Task(TaskCmd),
    /// Send a message (BODY, or stdin when BODY is absent).
    #[command(after_help = examples::SEND)]
    Send(SendArgs),
    /// Read a member's inbox (consumes the messages unless --peek).
    #[command(after_help = examples::INBOX)]
    Inbox(InboxArgs),
    /// An agent's memory in this project.
    #[command(subcommand)]
    Memory(MemoryCmd),
    /// The event log of a team.
    #[command(after_help = examples::LOGS)]
    Logs(LogsArgs),
    /// Add a member of AGENT and run it: in the foreground (exit with its outcome), or with
    /// --background hand it to a runner and return at once, printing its name.
    #[command(after_help = examples::SPAWN)]
    Spawn(SpawnArgs),
    /// Serve this project's pending members (up to --max-agents at once) until stopped.
    #[command(args_conflicts_with_subcommands = true)]
    Runner(RunnerArgs),
    /// List the runners serving this database: host, pid, version, slots used, heartbeat,
    /// the members each holds, alive or lost (--all: stopped ones too).
    #[command(after_help = examples::RUNNERS)]
    Runners(RunnersArgs),
    /// Block until members are terminal: exit 0 if all completed, 1 if any did not, 124 on
    /// timeout.
    #[command(after_help = examples::WAIT)]
    Wait(WaitArgs),
    /// Watch a team live: members and tasks, until it is terminal (--json: JSON Lines, one
    /// object per change).
    Watch(TeamArg),
    /// A terminal UI: the teams, a team's members, tasks and messages, a member's transcript,
    /// live (arrows or j/k, Enter, Tab, Esc, q). Needs a terminal: elsewhere use `team watch`.
    Top(TopArgs),
    /// Fail the members of runners that died (`runner lost`) and teams whose owner is gone.
    Reconcile,
    /// List approval requests: tool calls and plans waiting for a human (`--on-ask park`,
    /// `plan: required`); pending ones unless --all.
    Approvals(ApprovalsArgs),
    /// Approve request ID: the waiting member runs the call (or its plan) and goes on.
    Approve(ApproveArgs),
    /// Deny request ID: the reason goes back to the model as the tool's error.
    Deny(DenyArgs),
    /// Agent definitions (`.team/agents`, `.opencode/agent`, `.claude/agents`).
    #[command(subcommand)]
    Agents(AgentsCmd),
    /// Run a workflow to its report: `team run spec-review docs/spec.md`. Exit: 0 done,
    /// 1 failed, 10 --fail-on tripped, 20 needs input (`--on-ask park`), 124 timeout, 125 budget
    /// spent, 130 cancelled.
    #[command(after_help = examples::RUN)]
    Run(Box<RunArgs>),
    /// Take up a team an interruption stopped: the members lost with their runner, cancelled
    /// by a stopped run or its timeout go on from their last checkpoint (completed members
    /// and their results are kept; no task is done twice); a workflow team's run is finished
    /// and its report written (as `team run --resume TEAM`).
    Resume(ResumeArgs),
    /// Print the report of a workflow run (`--json`: the run's manifest).
    Report(ReportArgs),
    /// Workflows (bundled, and `.team/workflows/*.toml`).
    #[command(subcommand)]
    Workflows(WorkflowsCmd),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Check this setup: config files, providers (reachable?), the database, agent files,
    /// runners, and what `team run spec-review` would run now. Exit 1 when something is
    /// wrong, naming the next command to run.
    #[command(after_help = examples::DOCTOR)]
    Doctor,
    /// The configuration.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Serve the team tools and the team's state over MCP (stdio, or streamable HTTP with
    /// --http), for opencode, Claude Code, Codex or any MCP client. Inside a member (TEAM_ID
    /// and TEAM_MEMBER set) it acts as that member; otherwise as the lead of --team, or of a
    /// team it creates (`team_create`, or on first use).
    #[command(after_help = examples::MCP)]
    Mcp(McpArgs),
}

/// `team mcp`.
#[derive(Debug, Args)]
pub struct McpArgs {
    /// The team to act in, by name or id (default: `TEAM_ID`; none: a team it creates).
    #[arg(long, env = "TEAM_ID", add = ArgValueCandidates::new(complete::teams))]
    pub team: Option<String>,
    /// The member to act as (default: `TEAM_MEMBER`; none: the team's lead). Needs --team.
    #[arg(long, env = "TEAM_MEMBER", requires = "team", add = ArgValueCandidates::new(complete::members))]
    pub member: Option<String>,
    /// The agent recorded as the lead of a team it creates (default `lead`: a person).
    #[arg(long, default_value = "lead", add = ArgValueCandidates::new(complete::agents))]
    pub lead: String,
    /// Serve streamable HTTP at http://ADDR/mcp instead of stdio (default address
    /// 127.0.0.1:8765; port 0 picks a free one). Every request needs
    /// `Authorization: Bearer TOKEN`.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8765")]
    pub http: Option<std::net::SocketAddr>,
    /// With --http: the environment variable holding the bearer token (default: a new token,
    /// printed once on stderr).
    #[arg(long, value_name = "NAME", requires = "http")]
    pub token_env: Option<String>,
}

/// `team config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Print the resolved configuration, each value with its source (built-in default, user
    /// file, project file, environment).
    Show,
}

/// `team create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Team name: letters, digits, `_`, `.`, `-`; unique among active teams.
    pub name: String,
    /// The agent the lead runs as (default `lead`: a person or a script).
    #[arg(long, default_value = "lead", add = ArgValueCandidates::new(complete::agents))]
    pub lead: String,
    /// Run the lead agent now with this prompt, in the foreground: its members run here too;
    /// the team completes when the lead does (exit with the lead's outcome).
    #[arg(long, conflicts_with = "prompt_file")]
    pub prompt: Option<String>,
    /// Like --prompt, read from a file (`-` for stdin).
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub prompt_file: Option<String>,
    /// The team's budget in tokens (prompt + completion, every member's, nested ones too;
    /// default `[team] max_tokens`): a member started with `task` reserves its max_tokens and
    /// is refused when the rest cannot cover it.
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u64>,
    /// The team's budget in US dollars at the `[prices]` of the configuration (default
    /// `[team] max_cost`).
    #[arg(long, value_name = "USD", value_parser = usd)]
    pub max_cost: Option<f64>,
    /// Agent run settings.
    #[command(flatten)]
    pub run: RunFlagsArgs,
}

/// Settings of the agents a command runs.
#[derive(Debug, Args, Clone, Default)]
pub struct RunFlagsArgs {
    /// Allow a workspace tool that would ask (`bash`, `edit`, `write_file`, `*`; repeatable).
    #[arg(long = "allow", value_name = "TOOL")]
    pub allow: Vec<String>,
    /// Answer yes to every permission that would ask (`deny` stays deny).
    #[arg(long)]
    pub yes: bool,
    /// The model of every LLM agent, as provider/model.
    #[arg(long, env = "TEAM_MODEL", value_name = "PROVIDER/MODEL")]
    pub model: Option<String>,
    /// What a tool call that would ask becomes: `prompt` (a terminal; deny without one),
    /// `deny`, or `park` (the member waits for `team approve` / `team deny`); default
    /// `[team] on_ask`, else `prompt`.
    #[arg(long = "on-ask", value_name = "MODE", value_parser = parse_wire::<OnAsk>)]
    pub on_ask: Option<OnAsk>,
}

/// `team list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Include completed, failed and disbanded teams.
    #[arg(long)]
    pub all: bool,
    /// Only teams in this state.
    #[arg(long, value_parser = parse_wire::<TeamStatus>)]
    pub status: Option<TeamStatus>,
}

/// A command that takes only a team.
#[derive(Debug, Args)]
pub struct TeamArg {
    /// Team name or id.
    #[arg(add = ArgValueCandidates::new(complete::teams))]
    pub team: String,
}

/// `team approvals`.
#[derive(Debug, Args)]
pub struct ApprovalsArgs {
    /// Only this team's requests (name or id); every team's when absent.
    #[arg(add = ArgValueCandidates::new(complete::teams))]
    pub team: Option<String>,
    /// Also the requests already decided.
    #[arg(long)]
    pub all: bool,
}

/// `team approve`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The request's id (`team approvals`).
    pub id: i64,
    /// Also allow every later call of the same tool in the team, for the rest of the run.
    #[arg(long)]
    pub always: bool,
}

/// `team deny`.
#[derive(Debug, Args)]
pub struct DenyArgs {
    /// The request's id (`team approvals`).
    pub id: i64,
    /// Why: the model reads it as the tool's error (say what to do instead).
    #[arg(long)]
    pub reason: String,
}

/// `team top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// Open this team (name or id) at once, instead of the list of teams.
    pub team: Option<String>,
}

/// `team disband`.
#[derive(Debug, Args)]
pub struct DisbandArgs {
    /// Team name or id.
    #[arg(add = ArgValueCandidates::new(complete::teams))]
    pub team: String,
    /// Why (kept on the team, told to every member).
    #[arg(long, default_value = "disbanded by user")]
    pub reason: String,
}

/// `team member …`.
#[derive(Debug, Subcommand)]
pub enum MemberCmd {
    /// Add a member of AGENT (prints its disambiguated name: `reviewer`, `reviewer-2`).
    Add {
        /// Team name or id.
        #[arg(add = ArgValueCandidates::new(complete::teams))]
        team: String,
        /// Agent name.
        #[arg(add = ArgValueCandidates::new(complete::agents))]
        agent: String,
    },
    /// List the members of a team.
    List {
        /// Team name or id.
        #[arg(add = ArgValueCandidates::new(complete::teams))]
        team: String,
    },
    /// Mark a member completed (`--result`), telling the lead `[AGENT COMPLETED]`.
    Done(MemberEndArgs),
    /// Mark a member failed (`--error`), telling the lead `[AGENT FAILURE]`; its in-progress
    /// tasks fail with it.
    Fail(MemberEndArgs),
}

/// `team member done|fail`.
#[derive(Debug, Args)]
pub struct MemberEndArgs {
    /// Team name or id.
    #[arg(add = ArgValueCandidates::new(complete::teams))]
    pub team: String,
    /// Member name (`lead` for the lead).
    #[arg(add = ArgValueCandidates::new(complete::members))]
    pub member: String,
    /// The result text (done).
    #[arg(long)]
    pub result: Option<String>,
    /// The error text (fail).
    #[arg(long)]
    pub error: Option<String>,
}

/// `team task …`.
#[derive(Debug, Subcommand)]
pub enum TaskCmd {
    /// Add a task (prints its id).
    Add(TaskAddArgs),
    /// List tasks.
    List {
        /// Team name or id.
        #[arg(add = ArgValueCandidates::new(complete::teams))]
        team: String,
        /// Only tasks in this state.
        #[arg(long, value_parser = parse_wire::<TaskStatus>)]
        status: Option<TaskStatus>,
    },
    /// Show one task.
    Show(TaskIdArgs),
    /// Claim a task atomically: task ID, or the oldest claimable one. Exit 3 when none is
    /// claimable, 4 when ID is taken, blocked or not pending, or the member has ended. A claim
    /// holds for its lease: unless completed, failed or released in time, the task goes back
    /// to `pending` (default: 600 s, none for a member a live runner holds). Inside a member,
    /// TEAM and --as default to `TEAM_ID` and `TEAM_MEMBER`.
    Claim {
        /// Team name or id (default: `TEAM_ID`).
        #[arg(add = ArgValueCandidates::new(complete::teams))]
        team: Option<String>,
        /// The claiming member (default: `TEAM_MEMBER`).
        #[arg(long = "as", value_name = "MEMBER", add = ArgValueCandidates::new(complete::members))]
        member: Option<String>,
        /// Task id (default: the oldest claimable task). Inside a member, `team task claim ID`
        /// takes the team from `TEAM_ID`.
        id: Option<i64>,
        /// The claim's lease (0: none, at most a day).
        #[arg(long, value_name = "SECS", value_parser = duration("--lease"))]
        lease: Option<Duration>,
        /// Claim up to K of the oldest claimable tasks at once (1 to 1000; not with ID): one
        /// write, a `task.claimed` event and the lease for each; prints one line per task
        /// (`--json`: an array). Exit 3 when none is claimable.
        #[arg(long, value_name = "K", conflicts_with = "id",
              value_parser = clap::value_parser!(u16).range(1..=1000))]
        count: Option<u16>,
    },
    /// Complete a task.
    Done(TaskIdArgs),
    /// Fail a task.
    Fail(TaskIdArgs),
    /// Give a claimed task back to the board.
    Release(TaskIdArgs),
    /// Cancel a task.
    Cancel(TaskIdArgs),
}

/// `team task add`.
#[derive(Debug, Args)]
pub struct TaskAddArgs {
    /// Team name or id.
    #[arg(add = ArgValueCandidates::new(complete::teams))]
    pub team: String,
    /// One line saying what to do.
    pub title: String,
    /// More detail.
    #[arg(long)]
    pub description: Option<String>,
    /// A task that must be completed first (repeatable).
    #[arg(long = "blocked-by", value_name = "ID")]
    pub blocked_by: Vec<i64>,
    /// Reserve the task for this member.
    #[arg(long, add = ArgValueCandidates::new(complete::members))]
    pub assignee: Option<String>,
}

/// A command on one task.
#[derive(Debug, Args)]
pub struct TaskIdArgs {
    /// Team name or id (inside a member, `team task done ID` takes the team from `TEAM_ID`).
    #[arg(add = ArgValueCandidates::new(complete::teams))]
    pub team: String,
    /// Task id.
    pub id: Option<i64>,
    /// The outcome text.
    #[arg(long)]
    pub result: Option<String>,
    /// The member acting (default inside a member: `TEAM_MEMBER`): refused with exit 4 once
    /// it has ended.
    #[arg(long = "as", value_name = "MEMBER", add = ArgValueCandidates::new(complete::members))]
    pub member: Option<String>,
}

/// `team send`.
#[derive(Debug, Clone, Args, serde::Serialize, serde::Deserialize)]
pub struct SendArgs {
    /// Team name or id, then the message (read from stdin when absent). Inside a member
    /// (`TEAM_ID` set), a single argument is the message and the team is `TEAM_ID`.
    #[arg(value_name = "TEAM] [BODY", num_args = 0..=2, add = ArgValueCandidates::new(complete::teams))]
    pub args: Vec<String>,
    /// The sending member (`lead` for the lead; default: `TEAM_MEMBER`). Refused with exit 4
    /// once it has ended.
    #[arg(long, add = ArgValueCandidates::new(complete::members))]
    pub from: Option<String>,
    /// The receiving member.
    #[arg(long, conflicts_with = "all", required_unless_present = "all", add = ArgValueCandidates::new(complete::members))]
    pub to: Option<String>,
    /// Every live member but the sender.
    #[arg(long)]
    pub all: bool,
    /// A de-duplication key: a send with a key this sender already used stores nothing new
    /// (a killed `team send` can be retried safely).
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// Interrupt: a recipient LLM member in a model call has that call cancelled and asked
    /// again with this message (without it, the message reaches a running LLM member before
    /// its next model call; a command agent gets it after its turn either way).
    #[arg(long)]
    pub interrupt: bool,
}

/// `team inbox`.
#[derive(Debug, Clone, Args, serde::Serialize, serde::Deserialize)]
pub struct InboxArgs {
    /// Team name or id (default: `TEAM_ID`).
    #[arg(add = ArgValueCandidates::new(complete::teams))]
    pub team: Option<String>,
    /// Member name (`lead` for the lead; default: `TEAM_MEMBER`).
    #[arg(add = ArgValueCandidates::new(complete::members))]
    pub member: Option<String>,
    /// Read without consuming.
    #[arg(long, conflicts_with = "after")]
    pub peek: bool,
    /// Read every message with an id above ID, delivered or not, without consuming: a cursor
    /// the reader keeps (pass the last id it printed).
    #[arg(long, value_name = "ID")]
    pub after: Option<i64>,
    /// Block until at least one message arrives.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after SECS (exit 124).
    #[arg(long, value_name = "SECS", requires = "wait", value_parser = duration("--timeout"))]
    pub timeout: Option<Duration>,
    /// How long taken messages stay hidden from other readers unless this command
    /// acknowledges them (after printing them): default 30 s. A killed `team inbox` so loses
    /// nothing: its messages come back after the lease.
    #[arg(long, value_name = "SECS", conflicts_with_all = ["peek", "after"], value_parser = duration("--lease"))]
    pub lease: Option<Duration>,
}

/// `team memory …`.
#[derive(Debug, Subcommand)]
pub enum MemoryCmd {
    /// Print an agent's memory.
    Show {
        /// Agent name.
        #[arg(add = ArgValueCandidates::new(complete::agents))]
        agent: String,
    },
    /// Replace an agent's memory (TEXT, or stdin).
    Set {
        /// Agent name.
        #[arg(add = ArgValueCandidates::new(complete::agents))]
        agent: String,
        /// The text; read from stdin when absent.
        text: Option<String>,
    },
    /// Append to an agent's memory (TEXT, or stdin).
    Append {
        /// Agent name.
        #[arg(add = ArgValueCandidates::new(complete::agents))]
        agent: String,
        /// The text; read from stdin when absent.
        text: Option<String>,
    },
    /// Delete an agent's memory.
    Clear {
        /// Agent name.
        #[arg(add = ArgValueCandidates::new(complete::agents))]
        agent: String,
    },
}

/// `team logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Team name or id.
    #[arg(add = ArgValueCandidates::new(complete::teams))]
    pub team: String,
    /// Keep printing new events until the team is terminal (JSON Lines with --json).
    #[arg(long, short)]
    pub follow: bool,
    /// Only the events of this member (`lead` for the lead).
    #[arg(long, value_name = "MEMBER", add = ArgValueCandidates::new(complete::members))]
    pub member: Option<String>,
    /// Only events whose kind starts with PREFIX (`member.`, `task.claimed`).
    #[arg(long, value_name = "PREFIX")]
    pub kind: Option<String>,
    /// Only events since WHEN: a duration before now (`10m`, `1h30m`), a time in ms since
    /// the epoch, or an RFC 3339 time.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only the last N of the (filtered) events there are now; with --follow, then every new
    /// one.
    #[arg(long, short = 'n', value_name = "N")]
    pub tail: Option<usize>,
}

/// `team spawn`.
#[derive(Debug, Args)]
pub struct SpawnArgs {
    /// Team name or id.
    #[arg(add = ArgValueCandidates::new(complete::teams))]
    pub team: String,
    /// Agent name.
    #[arg(add = ArgValueCandidates::new(complete::agents))]
    pub agent: String,
    /// The prompt of its first turn.
    #[arg(
        long,
        conflicts_with = "prompt_file",
        required_unless_present = "prompt_file"
    )]
    pub prompt: Option<String>,
    /// Read the prompt from a file (`-` for stdin).
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub prompt_file: Option<String>,
    /// Return at once; a runner runs the member (one is started if none is serving).
    #[arg(long)]
    pub background: bool,
    /// After each turn, go idle and wait for messages instead of completing.
    #[arg(long)]
    pub persistent: bool,
    /// Hard timeout (overrides the agent's `timeout:`); kept in whole seconds, rounded up.
    #[arg(long, value_name = "SECS", value_parser = hard_timeout)]
    pub timeout: Option<Duration>,
    /// Agent run settings.
    #[command(flatten)]
    pub run: RunFlagsArgs,
}

/// `team runner`.
#[derive(Debug, Args)]
pub struct RunnerArgs {
    /// `team runner stop`.
    #[command(subcommand)]
    pub command: Option<RunnerCmd>,
    /// Members running at once (default: `[team] max_agents`, 10).
    #[arg(long, value_name = "N", value_parser = max_agents)]
    pub max_agents: Option<usize>,
    /// Start a runner in the background and return (it exits by itself after --idle-exit).
    #[arg(long)]
    pub detach: bool,
    /// Exit after SECS with nothing pending, running or idle (default: never; 30 s for
    /// --detach).
    #[arg(long, value_name = "SECS", value_parser = duration("--idle-exit"))]
    pub idle_exit: Option<Duration>,
    /// Agent run settings.
    #[command(flatten)]
    pub run: RunFlagsArgs,
}

/// `team runner …`.
#[derive(Debug, Subcommand)]
pub enum RunnerCmd {
    /// Stop a runner cleanly: it stops claiming, cancels the members it runs (their leads are
    /// told), marks itself stopped and exits. The stop is recorded in the database, where a
    /// runner reads it at its next heartbeat (a runner on another host stops so); a runner of
    /// this host also gets SIGTERM. Waits until it stopped: exit 0, 124 after --timeout, 3
    /// for an unknown id.
    Stop(RunnerStopArgs),
}

/// `team runner stop`.
#[derive(Debug, Args)]
pub struct RunnerStopArgs {
    /// The runner's id (`team runners` lists them). Default: the only runner alive.
    #[arg(value_name = "RUNNER_ID", conflicts_with = "all", add = ArgValueCandidates::new(complete::runners))]
    pub id: Option<String>,
    /// Stop every runner alive.
    #[arg(long)]
    pub all: bool,
    /// Send no signal to a runner of this host: only record the stop in the database (it
    /// stops at its next heartbeat, as a runner on another host does).
    #[arg(long)]
    pub no_signal: bool,
    /// How long to wait for the runners to stop (exit 124 after).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = duration("--timeout"))]
    pub timeout: Duration,
}

/// `team runners`.
#[derive(Debug, Args)]
pub struct RunnersArgs {
    /// Include stopped runners.
    #[arg(long)]
    pub all: bool,
}

/// `team wait`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Team name or id.
    #[arg(add = ArgValueCandidates::new(complete::teams))]
    pub team: String,
    /// A member to wait for (repeatable; default: every member but the lead).
    #[arg(long = "member", value_name = "MEMBER", add = ArgValueCandidates::new(complete::members))]
    pub members: Vec<String>,
    /// Give up after SECS (exit 124).
    #[arg(long, value_name = "SECS", value_parser = duration("--timeout"))]
    pub timeout: Option<Duration>,
}

/// `team agents …`.
#[derive(Debug, Subcommand)]
pub enum AgentsCmd {
    /// List the agents this project can run, with where each was found, and the agent files
    /// that are broken (warned about; exit 0).
    List,
    /// Show what one agent resolves to: model and provider (and the rule that chose it),
    /// tools offered and those team cannot provide, permissions, memory, timeout.
    Show {
        /// Agent name.
        #[arg(add = ArgValueCandidates::new(complete::agents))]
        name: String,
    },
    /// Lint every agent file: broken files, warnings, tools team cannot provide, models that
    /// do not resolve. Exit 2 when any file is broken (for CI).
    Check,
}

/// `team run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The workflow (`spec-review`).
    #[arg(add = ArgValueCandidates::new(complete::workflows), required_unless_present = "resume")]
    pub workflow: Option<String>,
    /// Its inputs, in order (`spec-review`: the specification's path).
    #[arg(value_hint = clap::ValueHint::FilePath)]
    pub inputs: Vec<String>,
    /// Set a workflow parameter (repeatable), e.g. `--set reviewers=security,testing`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub output: Option<String>,
    /// Report format (`--json` is `--format json`): md, json, sarif (SARIF 2.1.0, for code scanning), html (one
    /// self-contained page).
    #[arg(long, value_enum, default_value = "md")]
    pub format: ReportFormat,
    /// In GitHub Actions (`GITHUB_ACTIONS=true`): annotate each finding at or above SEVERITY
    /// (blocker, major, minor, nit; `none`: no annotations) on the reviewed file and line; the
    /// Markdown report is also appended to `$GITHUB_STEP_SUMMARY`.
    #[arg(long, value_name = "SEVERITY", default_value = "minor")]
    pub annotate_level: String,
    /// Write every event as JSON Lines to FILE (`-`: stderr).
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub events: Option<String>,
    /// Return at once, printing the team name; `team watch`, `team wait`, `team report` work
    /// on it later.
    #[arg(long)]
    pub detach: bool,
    /// Give up after SECS (the team is disbanded; exit 124).
    #[arg(long, value_name = "SECS", value_parser = duration("--timeout"))]
    pub timeout: Option<Duration>,
    /// Members running at once (default: `[team] max_agents`).
    #[arg(long, value_name = "N", value_parser = max_agents)]
    pub max_agents: Option<usize>,
    /// Stop cleanly once the team used N tokens (exit 125; the report says so).
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u64>,
    /// Stop cleanly once the team spent USD US dollars at the `[prices]` of the configuration
    /// (exit 125; the report says so).
    #[arg(long, value_name = "USD", value_parser = usd)]
    pub max_cost: Option<f64>,
    /// Exit 10 when the report holds a finding at or above SEVERITY (blocker, major, minor,
    /// nit).
    #[arg(long, value_name = "SEVERITY")]
    pub fail_on: Option<String>,
    /// Record every provider exchange to a cassette FILE.
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath, conflicts_with = "replay")]
    pub record: Option<String>,
    /// Serve provider exchanges from a cassette FILE (no network, no API key).
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub replay: Option<String>,
    /// The team's name (default: WORKFLOW-xxxx).
    #[arg(long)]
    pub name: Option<String>,
    /// self-review-loop: commit each round's fixes (sets the `commit` parameter).
    #[arg(long)]
    pub commit: bool,
    /// Agent run settings.
    #[command(flatten)]
    pub run: RunFlagsArgs,
    /// Finish the run of TEAM that an interruption stopped (a kill, a crash, a signal, its
    /// `--timeout`): its members that did not finish go on from their last checkpoint, the
    /// answers already given are kept, and the report an uninterrupted run writes is written.
    /// The workflow, its input and its settings are the interrupted run's; the report's
    /// format and destination (and a `--record` or `--replay` cassette, `--timeout`,
    /// `--max-agents` when given) are this command's.
    #[arg(long, value_name = "TEAM", conflicts_with_all = ["workflow", "inputs", "detach"], add = ArgValueCandidates::new(complete::teams))]
    pub resume: Option<String>,
}

/// `team resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Team name or id.
    #[arg(add = ArgValueCandidates::new(complete::teams))]
    pub team: String,
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Markdown.
    Md,
    /// JSON (see docs/report.schema.json).
    Json,
    /// SARIF 2.1.0: one result per finding, on the reviewed file and line (GitHub code
    /// scanning).
    Sarif,
    /// One self-contained HTML page: findings by severity with filters, the cross-review, the
    /// specialists, tokens and timings.
    Html,
}

impl ReportFormat {
    /// The file extension of the format (`md`, `json`, `sarif`, `html`).
    pub fn extension(self) -> &'static str {
        match self {
            ReportFormat::Md => "md",
            ReportFormat::Json => "json",
            ReportFormat::Sarif => "sarif",
            ReportFormat::Html => "html",
        }
    }
}

/// `team report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Team name or id.
    #[arg(add = ArgValueCandidates::new(complete::teams))]
    pub team: String,
    /// Report format (human output; `--json` prints the manifest).
    #[arg(long, value_enum, default_value = "md")]
    pub format: ReportFormat,
}

/// `team workflows …`.
#[derive(Debug, Subcommand)]
pub enum WorkflowsCmd {
    /// List the workflows.
    List,
    /// Print a workflow's definition (copy it to .team/workflows/NAME.toml to change it).
    Show {
        /// Workflow name.
        #[arg(add = ArgValueCandidates::new(complete::workflows))]
        name: String,
    },
}

/// `team completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: Shell,
}

/// Shells with completion scripts.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    /// Bash.
    Bash,
    /// Zsh.
    Zsh,
    /// Fish.
    Fish,
    /// PowerShell.
    Powershell,
    /// Elvish.
    Elvish,
}

/// Parses a lifecycle wire name (`in_progress`), listing the valid ones on error.
/// A `--max-cost` amount: a finite number ≥ 0.
fn usd(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("`{s}` is not an amount of US dollars (a number ≥ 0, e.g. 2.50)"))
}

fn parse_wire<T: std::str::FromStr<Err = String>>(s: &str) -> Result<T, String> {
    s.parse()
}

/// The longest duration any `SECS` option takes: 10 years (315,360,000 s). Larger values
/// (`1e19`, `18446744073709551615`) would overflow the clock or the database's 64-bit
/// columns; they are refused at the edge (exit 2) instead.
pub const MAX_SECS: u64 = 315_360_000;

/// The most members a runner runs at once (`--max-agents`): `[team] max_agents`'s range.
pub const MAX_AGENTS: u64 = u32::MAX as u64;

/// Parses a duration: a number of seconds (`90`, `0.5`, `1.5s`: finite, not negative) or a
/// humantime duration (`90s`, `1m30s`, `2h`, `500ms`), from 0 to [`MAX_SECS`].
///
/// # Errors
/// The message names `flag` and the accepted forms.
pub fn parse_duration(flag: &str, text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "{flag} must be a number of seconds (`90`, `0.5`, `1.5s`) or a duration (`90s`, `1m30s`, `2h`) \
             from 0 to {MAX_SECS} s (10 years), not `{text}`"
        )
    };
    let t = text.trim();
    // `1.5s`: seconds with a fraction, which humantime does not read.
    let secs = t
        .parse::<f64>()
        .ok()
        .or_else(|| t.strip_suffix('s')?.parse::<f64>().ok());
    let d = match secs {
        Some(v) if v.is_finite() && (0.0..=MAX_SECS as f64).contains(&v) => {
            Duration::try_from_secs_f64(v).map_err(|_| bad())?
        }
        Some(_) => return Err(bad()),
        // `inf`, `NaN` parse as numbers above; what is left is humantime's.
        None => humantime::parse_duration(t).map_err(|_| bad())?,
    };
    if d > Duration::from_secs(MAX_SECS) {
        return Err(bad());
    }
    Ok(d)
}

/// A clap value parser of [`parse_duration`] for `flag`.
fn duration(
    flag: &'static str,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    move |text| parse_duration(flag, text)
}

/// `team spawn --timeout`: a hard timeout of at least 1 s ([`parse_duration`]).
fn hard_timeout(text: &str) -> Result<Duration, String> {
    let d = parse_duration("--timeout", text)?;
    if d.is_zero() {
        return Err(
            "a timeout of 0 seconds would end the member before it starts: give 1 or more".into(),
        );
    }
    Ok(d)
}

/// `--max-agents N`: 1 to [`MAX_AGENTS`], the same range as `[team] max_agents` in the
/// configuration (so `--max-agents 0` and `max_agents = 0` are both refused).
fn max_agents(text: &str) -> Result<usize, String> {
    let v: u64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number ≥ 1"))?;
    if !(1..=MAX_AGENTS).contains(&v) {
        return Err(format!(
            "{text} is out of range: between 1 and {MAX_AGENTS}"
        ));
    }
    usize::try_from(v).map_err(|_| format!("{text} is too large for this machine"))
}

#[cfg(test)]
mod number_tests {
    use super::*;

    #[test]
    fn seconds_are_checked_at_the_edge() {
        for bad in [
            "1e19",
            "1e300",
            "inf",
            "NaN",
            "-1",
            "x",
            "18446744073709551615",
            "9223372036854775807",
            "400000000s",
        ] {
            assert!(parse_duration("--timeout", bad).is_err(), "{bad}");
        }
        assert!(
            parse_duration("--timeout", "NaN")
                .unwrap_err()
                .contains("--timeout must be a number of seconds")
        );
        assert!(hard_timeout("0").is_err());
        assert_eq!(hard_timeout("30"), Ok(Duration::from_secs(30)));
        assert!(max_agents("0").is_err());
        assert_eq!(max_agents("3"), Ok(3));
    }

    #[test]
    fn durations_take_seconds_and_humantime_forms() {
        let d = |t| parse_duration("--timeout", t);
        assert_eq!(d("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(d("90"), Ok(Duration::from_secs(90)));
        assert_eq!(d("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(d("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(d("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(d("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(d("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(d("-1s").is_err() && d("infs").is_err());
        assert_eq!(d(" 0 "), Ok(Duration::ZERO));
    }
}
