//! Who may manage a team: the one rule for taking a team down (`team disband`, the
//! `team_delete` tool).
//!
//! - A person or a script at the command line ([`Manager::User`]) may disband any team.
//! - A member acting through its tools ([`Manager::Member`]) may disband its own team only if it
//!   is that team's lead, and another team only if that team is led by the member's own agent
//!   (a lead that created a team with `team_create` leads it as its agent).
//!
//! Pure: the caller reads the member and the team; the store applies the rule inside the
//! disband's own transaction (`Store::disband_team_as`).

use crate::entity::Role;

/// Who asks to manage a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manager<'a> {
    /// A person or a script (the CLI): may manage every team.
    User,
    /// A member of some team, acting through its tools.
    Member {
        /// The id of the member's own team.
        team_id: &'a str,
        /// Its role in that team.
        role: Role,
        /// The agent it runs as.
        agent: &'a str,
    },
}

/// The team to be managed, as the rule needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManagedTeam<'a> {
    /// Its id.
    pub id: &'a str,
    /// Its name, for messages.
    pub name: &'a str,
    /// The agent its lead runs as.
    pub lead_agent: &'a str,
}

/// Why a member may not disband a team; the text is what the model (or user) reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotManager {
    /// A member of the team that is not its lead.
    #[error("only the lead can disband team {team}")]
    NotLead {
        /// The team's name.
        team: String,
    },
    /// A member of another team, whose agent does not lead this one.
    #[error("team {team} is not led by your agent {agent}")]
    OtherLead {
        /// The team's name.
        team: String,
        /// The member's agent.
        agent: String,
    },
}

/// May `by` disband `team`? See the module docs for the rule.
///
/// # Errors
/// [`NotManager`] saying why not.
pub fn may_disband(by: &Manager<'_>, team: &ManagedTeam<'_>) -> Result<(), NotManager> {
    match *by {
        Manager::User => Ok(()),
        Manager::Member { team_id, role, .. } if team_id == team.id => match role {
            Role::Lead => Ok(()),
            Role::Member => Err(NotManager::NotLead {
                team: team.name.to_owned(),
            }),
        },
        Manager::Member { agent, .. } if agent == team.lead_agent => Ok(()),
        Manager::Member { agent, .. } => Err(NotManager::OtherLead {
            team: team.name.to_owned(),
            agent: agent.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEAM: ManagedTeam<'static> = ManagedTeam {
        id: "t1",
        name: "docs",
        lead_agent: "planner",
    };

    #[test]
    fn every_case_of_the_rule() {
        assert_eq!(may_disband(&Manager::User, &TEAM), Ok(()));
        for own in [true, false] {
            for role in [Role::Lead, Role::Member] {
                for agent in ["planner", "reviewer"] {
                    let by = Manager::Member {
                        team_id: if own { "t1" } else { "t2" },
                        role,
                        agent,
                    };
                    let expect = match (own, role, agent) {
                        (true, Role::Lead, _) | (false, _, "planner") => Ok(()),
                        (true, Role::Member, _) => Err(NotManager::NotLead {
                            team: "docs".into(),
                        }),
                        (false, _, _) => Err(NotManager::OtherLead {
                            team: "docs".into(),
                            agent: agent.into(),
                        }),
                    };
                    assert_eq!(may_disband(&by, &TEAM), expect, "{own} {role:?} {agent}");
                }
            }
        }
    }

    #[test]
    fn refusals_read_as_before() {
        let by = Manager::Member {
            team_id: "t1",
            role: Role::Member,
            agent: "planner",
        };
        assert_eq!(
            may_disband(&by, &TEAM).unwrap_err().to_string(),
            "only the lead can disband team docs"
        );
        let by = Manager::Member {
            team_id: "t2",
            role: Role::Lead,
            agent: "reviewer",
        };
        assert_eq!(
            may_disband(&by, &TEAM).unwrap_err().to_string(),
            "team docs is not led by your agent reviewer"
        );
    }
}
