//! The system prompt of an LLM member: its instructions, the team context, its memory.

use team_core::{Member, Role};

use team_agent::AgentDef;

/// Members listed by name in a system prompt; a larger team is summarised (`team_members`
/// lists them all).
pub const MAX_LISTED_MEMBERS: i64 = 20;

/// Builds the system prompt: the agent's instructions, then who the member is in which team,
/// the other members, how to use the team tools, and (for `memory: local` agents) the
/// agent's memory in this project.
pub fn system_prompt(
    def: &AgentDef,
    me: &Member,
    team_name: &str,
    members: &[Member],
    total_members: i64,
    memory: Option<&str>,
) -> String {
    let mut s = String::new();
    if !def.instructions.trim().is_empty() {
        s.push_str(def.instructions.trim());
        s.push_str("\n\n");
    }
    s.push_str("# Your team\n");
    s.push_str(&format!(
        "You are `{}` (agent `{}`), {} of team `{team_name}`. The lead is `lead`.\n",
        me.name,
        me.agent,
        if me.role == Role::Lead {
            "the lead"
        } else {
            "a member"
        }
    ));
    let others: Vec<String> = members
        .iter()
        .filter(|m| m.id != me.id)
        .map(|m| format!("- `{}` (agent `{}`, {})", m.name, m.agent, m.status))
        .collect();
    if others.is_empty() {
        s.push_str("No other members yet.\n");
    } else {
        s.push_str("Other members:\n");
        s.push_str(&others.join("\n"));
        s.push('\n');
        let unlisted = total_members - members.len() as i64;
        if unlisted > 0 {
            s.push_str(&format!("- … and {unlisted} more (see `team_members`)\n"));
        }
    }
    s.push_str(
        "\nTeam tools: `send_message` (to a member name, \"lead\" or \"all\"), \
         `wait_for_messages` (block until your inbox has messages), `team_task` (the shared \
         task board: list, add, claim, complete, fail, release), `team_members` (who is on \
         the team, with their exact names), `agent_memory` (notes kept across runs), and \
         `task` (start another member, in the background or waiting for its result). \
         Members you start report back to you automatically: `[AGENT COMPLETED] name: result` \
         or `[AGENT FAILURE] name: error` arrive in your inbox.\n\
         When you are done, answer with your final result as plain text: it is your result \
         and goes to the lead.\n",
    );
    if let Some(mem) = memory.filter(|m| !m.trim().is_empty()) {
        s.push_str("\n# Your memory (notes you kept in earlier runs)\n");
        s.push_str(mem.trim_end());
        s.push('\n');
    }
    s
}
