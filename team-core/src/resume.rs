//! Resume: which ended team, members and tasks `team resume` (and `team run --resume`) takes
//! up again.
//!
//! **A team** may be resumed when it is `active`, or when it ended by an *interruption*
//! ([`team_interrupted`]): failed because its foreground owner (`team run`) died
//! ([`owner_lost`], written by reconciliation), or disbanded by a run cut short (a signal,
//! [`RUN_CANCELLED`]; its `--timeout`, [`run_timed_out`]). A `completed` team, a team whose lead
//! failed, and a team a user disbanded are not resumable ([`may_resume_team`]). The move is
//! `resume` (failed | disbanded → active).
//!
//! **A member** is queued again (`resume`: failed | cancelled | timed_out → pending, with its
//! next attempt) when an interruption ended it ([`member_resumable`]): it failed with
//! [`RUNNER_LOST`], or it was cancelled by its runner's stop ([`RUNNER_STOPPED`]) or with the
//! team's interrupted end (its error is the team's end reason). Completed members and their
//! results are kept; members that failed or timed out on their own stay as they are. The lead
//! of a resumed team goes back to `running` (it is driven by the resuming process).
//!
//! **A task** the team's interrupted end cancelled goes back to `pending` (`reopen`), without
//! an assignee; a completed task is never reopened, so no task is done twice.
//!
//! What the interruption said is withdrawn with it: the notices its ends sent the lead
//! (`[AGENT FAILURE] name: runner lost`, `[AGENT CANCELLED] name: …`, `[ALL MEMBERS DONE]`)
//! and the unread `[TEAM FAILED]` notices to the members, so that a resumed run reads the same
//! inbox an uninterrupted one would have.

use crate::entity::Role;
use crate::lifecycle::{MemberStatus, TeamStatus};

/// The error of a member whose runner was lost (see [`crate::runner`]).
pub const RUNNER_LOST: &str = "runner lost";

/// The reason of a member cancelled because its runner stopped (Ctrl-C, `team runner stop`).
pub const RUNNER_STOPPED: &str = "runner stopped";

/// The end reason of a team whose workflow run was cut short by a signal.
pub const RUN_CANCELLED: &str = "cancelled by a signal";

/// The end reason of a team whose foreground owner (pid `pid`) is gone.
pub fn owner_lost(pid: i64) -> String {
    format!("owner process {pid} is gone")
}

/// The end reason of a team whose workflow run passed its `--timeout` (`secs`, as given).
pub fn run_timed_out(secs: f64) -> String {
    format!("timed out after {secs}s")
}

/// True when a team's end `reason` is an interruption (see the module docs).
pub fn team_interrupted(reason: &str) -> bool {
    reason == RUN_CANCELLED
        || (reason.starts_with("owner process ") && reason.ends_with(" is gone"))
        || (reason.starts_with("timed out after ") && reason.ends_with('s'))
}

/// Why a team cannot be resumed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotResumable {
    /// It completed: its work is done.
    #[error("it completed; there is nothing to resume")]
    Completed,
    /// It ended for a reason that is not an interruption (its lead failed, a user disbanded
    /// it).
    #[error("it {status} ({reason}), which is not an interruption; start a new run")]
    NotInterrupted {
        /// `failed` or `disbanded`.
        status: TeamStatus,
        /// The end reason.
        reason: String,
    },
}

/// Whether a team in `status` that ended with `reason` may be resumed (see the module docs).
///
/// # Errors
/// [`NotResumable`] saying why not.
pub fn may_resume_team(status: TeamStatus, reason: Option<&str>) -> Result<(), NotResumable> {
    match status {
        TeamStatus::Active => Ok(()),
        TeamStatus::Completed => Err(NotResumable::Completed),
        TeamStatus::Failed | TeamStatus::Disbanded => match reason {
            Some(r) if team_interrupted(r) => Ok(()),
            r => Err(NotResumable::NotInterrupted {
                status,
                reason: r.unwrap_or("no reason").to_owned(),
            }),
        },
    }
}

/// Whether a member (of `role`, in `status`, with `error`) of a team that ended with
/// `team_reason` is taken up again by a resume (see the module docs). The lead is, whenever
/// it is not `completed` (it goes back to `running`).
pub fn member_resumable(
    role: Role,
    status: MemberStatus,
    error: Option<&str>,
    team_reason: Option<&str>,
) -> bool {
    if role == Role::Lead {
        return status != MemberStatus::Completed;
    }
    match status {
        MemberStatus::Failed => error == Some(RUNNER_LOST),
        MemberStatus::Cancelled => {
            error == Some(RUNNER_STOPPED)
                || (error.is_some()
                    && error == team_reason
                    && team_reason.is_some_and(team_interrupted))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_interrupted_teams_resume() {
        assert_eq!(may_resume_team(TeamStatus::Active, None), Ok(()));
        assert_eq!(
            may_resume_team(TeamStatus::Completed, Some("the report is written")),
            Err(NotResumable::Completed)
        );
        for r in [owner_lost(42), RUN_CANCELLED.to_owned(), run_timed_out(2.5)] {
            assert!(team_interrupted(&r), "{r}");
            assert_eq!(may_resume_team(TeamStatus::Failed, Some(&r)), Ok(()));
            assert_eq!(may_resume_team(TeamStatus::Disbanded, Some(&r)), Ok(()));
        }
        for r in ["the lead failed: boom", "disbanded by user"] {
            assert!(may_resume_team(TeamStatus::Failed, Some(r)).is_err(), "{r}");
        }
        assert!(may_resume_team(TeamStatus::Disbanded, None).is_err());
    }

    #[test]
    fn members_an_interruption_ended_resume() {
        let why = owner_lost(7);
        let m = |s, e: Option<&str>| member_resumable(Role::Member, s, e, Some(&why));
        assert!(m(MemberStatus::Failed, Some(RUNNER_LOST)));
        assert!(!m(MemberStatus::Failed, Some("exit status 3")));
        assert!(m(MemberStatus::Cancelled, Some(&why)));
        assert!(m(MemberStatus::Cancelled, Some(RUNNER_STOPPED)));
        assert!(!m(MemberStatus::Cancelled, Some("disbanded by user")));
        assert!(!m(MemberStatus::Completed, None));
        assert!(!m(
            MemberStatus::TimedOut,
            Some("hard timeout of 5s reached")
        ));
        assert!(!m(MemberStatus::Running, None));
        // Cancelled with a team that ended by a user: not an interruption.
        assert!(!member_resumable(
            Role::Member,
            MemberStatus::Cancelled,
            Some("disbanded by user"),
            Some("disbanded by user")
        ));
        assert!(member_resumable(
            Role::Lead,
            MemberStatus::Cancelled,
            Some(&why),
            Some(&why)
        ));
        assert!(!member_resumable(
            Role::Lead,
            MemberStatus::Completed,
            None,
            None
        ));
    }
}
