//! What one state change does to the rest of a team, and the notices it sends.
//!
//! - Disband: every live member (`pending`, `running`, `idle`) becomes `cancelled`, every open
//!   task (`pending`, `in_progress`) becomes `cancelled`, and each live member gets a `system`
//!   message saying so (so a waiting member wakes up at once instead of sitting out its idle
//!   timeout: opencode PR #18753 defect 2).
//! - Member failure: the failed member's `in_progress` tasks become `failed`, and the lead gets
//!   `[AGENT FAILURE] name: error` under the member's own disambiguated name (defect 4).
//! - Member completion: the lead gets `[AGENT COMPLETED] name: result`; when the last of the
//!   lead's members ends, one more notice sums up (`[ALL MEMBERS DONE] 8 completed, 1 failed`).
//! - Member cancellation: its `in_progress` tasks go back to `pending` (without assignee), and
//!   the lead gets `[AGENT CANCELLED] name: reason`.
//!
//! A member's end is planned by [`member_end`] (its next state, what happens to its tasks, the
//! notice to the lead) and [`all_members_done`] (the summary); `team-store` carries the plan
//! out in one transaction, each move behind an SQL guard built from the plan.

use crate::entity::{MessageKind, Role};
use crate::lifecycle::{
    IllegalTransition, MemberEvent, MemberStatus, TaskEvent, TaskStatus, TeamStatus,
};

/// The state a disband moves a member in `status` to, or `None` if it is already terminal.
pub fn disband_member(status: MemberStatus) -> Option<MemberStatus> {
    status.transition(MemberEvent::Cancel).ok()
}

/// The state a disband moves a task in `status` to, or `None` if it is already terminal.
pub fn disband_task(status: TaskStatus) -> Option<TaskStatus> {
    status.transition(TaskEvent::Cancel).ok()
}

/// The state a task held by a member that just failed moves to: `in_progress` → `failed`;
/// `None` for any other state (a pending task assigned up front stays open for others).
pub fn on_assignee_failure(status: TaskStatus) -> Option<TaskStatus> {
    match status {
        TaskStatus::InProgress => status.transition(TaskEvent::Fail).ok(),
        _ => None,
    }
}

/// The state a task held by a member that was just cancelled moves to: `in_progress` →
/// `pending` (released, so another member can claim it); `None` for any other state.
pub fn on_assignee_cancel(status: TaskStatus) -> Option<TaskStatus> {
    match status {
        TaskStatus::InProgress => status.transition(TaskEvent::Release).ok(),
        _ => None,
    }
}

/// The state a task in `task` moves to when its assignee ends in `member` (a terminal state):
/// failed or timed out → [`on_assignee_failure`], cancelled → [`on_assignee_cancel`],
/// completed (or a live state) → `None` (a completed member's tasks are left as they are).
pub fn on_assignee_end(member: MemberStatus, task: TaskStatus) -> Option<TaskStatus> {
    match member {
        MemberStatus::Failed | MemberStatus::TimedOut => on_assignee_failure(task),
        MemberStatus::Cancelled => on_assignee_cancel(task),
        _ => None,
    }
}

/// How a member's life ended (a runner's report, `team member done|fail`, a disband won by a
/// runner's Ctrl-C); re-exported by `team-store` as `team_store::Outcome`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Completed with this result text.
    Completed(String),
    /// Failed with this error text.
    Failed(String),
    /// Cancelled, for this reason.
    Cancelled(String),
    /// Ran past its hard timeout (the text says how long).
    TimedOut(String),
}

impl Outcome {
    /// The member status this outcome leads to.
    pub fn status(&self) -> MemberStatus {
        match self {
            Outcome::Completed(_) => MemberStatus::Completed,
            Outcome::Failed(_) => MemberStatus::Failed,
            Outcome::Cancelled(_) => MemberStatus::Cancelled,
            Outcome::TimedOut(_) => MemberStatus::TimedOut,
        }
    }

    /// The member event this outcome is.
    pub fn event(&self) -> MemberEvent {
        match self {
            Outcome::Completed(_) => MemberEvent::Complete,
            Outcome::Failed(_) => MemberEvent::Fail,
            Outcome::Cancelled(_) => MemberEvent::Cancel,
            Outcome::TimedOut(_) => MemberEvent::TimeOut,
        }
    }

    /// The result text (completed), else `None`.
    pub fn result(&self) -> Option<&str> {
        match self {
            Outcome::Completed(r) => Some(r),
            _ => None,
        }
    }

    /// The error or reason text (failed, cancelled, timed out), else `None`.
    pub fn error(&self) -> Option<&str> {
        match self {
            Outcome::Completed(_) => None,
            Outcome::Failed(e) | Outcome::Cancelled(e) | Outcome::TimedOut(e) => Some(e),
        }
    }
}

/// What a member's end does to the tasks it holds: every task of the member in state `from`
/// takes `event` and becomes `to` (the store's guarded `UPDATE … WHERE assignee = <member> AND
/// status = <from>`); with `result`, the task's result becomes that text. A task that becomes
/// `pending` loses its assignee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskCascade {
    /// The one state of the member's tasks that moves (`in_progress`).
    pub from: TaskStatus,
    /// The move (`fail` or `release`).
    pub event: TaskEvent,
    /// Where they go (`failed` or `pending`).
    pub to: TaskStatus,
    /// The text written as their result (`assignee reviewer-2 failed: exit status 3`), or
    /// `None` to leave it.
    pub result: Option<String>,
}

impl TaskCascade {
    /// True when the tasks lose their assignee (they go back to `pending`).
    pub fn clears_assignee(&self) -> bool {
        self.to == TaskStatus::Pending
    }
}

/// A message to the lead about a member's end: its kind and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// `completion`, `failure` or `system` (a cancellation).
    pub kind: MessageKind,
    /// The text (`[AGENT FAILURE] reviewer-2: exit status 3`).
    pub body: String,
}

/// Everything a member's end does, decided before the store writes any of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndPlan {
    /// The member's terminal state.
    pub to: MemberStatus,
    /// What happens to its tasks; `None` when nothing does (a completion).
    pub tasks: Option<TaskCascade>,
    /// The notice the lead gets, sent by the member under its own name; `None` for the lead
    /// itself. When there is one, the lead may also be due `[ALL MEMBERS DONE]`
    /// ([`all_members_done`]).
    pub notice: Option<Notice>,
}

/// Plans the end of member `name` (of role `role`, now in state `from`) with `outcome`: its
/// terminal state, the cascade on its tasks ([`on_assignee_end`]) and the notice to its lead.
///
/// # Errors
/// [`IllegalTransition`] when `from` cannot take the outcome's event (the member has already
/// ended, or is `pending` and the outcome is not a cancellation): nothing is to be written.
pub fn member_end(
    name: &str,
    role: Role,
    from: MemberStatus,
    outcome: &Outcome,
) -> Result<EndPlan, IllegalTransition> {
    let to = from.transition(outcome.event())?;
    let moved = TaskStatus::ALL
        .iter()
        .copied()
        .find_map(|t| on_assignee_end(to, t).map(|next| (t, next)));
    let tasks = moved.map(|(from_task, next)| {
        let failed = next == TaskStatus::Failed;
        TaskCascade {
            from: from_task,
            event: if failed {
                TaskEvent::Fail
            } else {
                TaskEvent::Release
            },
            to: next,
            result: failed
                .then(|| format!("assignee {name} {to}: {}", outcome.error().unwrap_or(""))),
        }
    });
    let notice = (role == Role::Member).then(|| match outcome {
        Outcome::Completed(r) => Notice {
            kind: MessageKind::Completion,
            body: completion_notice(name, r),
        },
        Outcome::Failed(e) => Notice {
            kind: MessageKind::Failure,
            body: failure_notice(name, e),
        },
        Outcome::TimedOut(e) => Notice {
            kind: MessageKind::Failure,
            body: failure_notice(name, &format!("timed out: {e}")),
        },
        Outcome::Cancelled(e) => Notice {
            kind: MessageKind::System,
            body: cancelled_notice(name, e),
        },
    });
    Ok(EndPlan { to, tasks, notice })
}

/// `[ALL MEMBERS DONE] …` when it is due: the team is still `active` and every one of its
/// members (the lead not counted; the one that just ended included) is terminal. `None`
/// otherwise. The store reads the statuses only after a cheaper look found no live member.
pub fn all_members_done(
    team: TeamStatus,
    members: impl IntoIterator<Item = MemberStatus>,
) -> Option<String> {
    if team != TeamStatus::Active {
        return None;
    }
    let statuses: Vec<MemberStatus> = members.into_iter().collect();
    statuses
        .iter()
        .all(|s| s.is_terminal())
        .then(|| all_done_notice(statuses))
}

/// Longest result or error text quoted in a notice, in characters; the full text stays on the
/// member row (`team show`).
pub const NOTICE_EXCERPT_CHARS: usize = 4000;

fn excerpt(text: &str) -> String {
    let mut chars = text.char_indices();
    match chars.nth(NOTICE_EXCERPT_CHARS) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}… [cut; see `team show`]", &text[..cut]),
    }
}

/// `[AGENT COMPLETED] name: result`, the body of the `completion` message to the lead.
pub fn completion_notice(member: &str, result: &str) -> String {
    format!("[AGENT COMPLETED] {member}: {}", excerpt(result.trim_end()))
}

/// `[AGENT FAILURE] name: error`, the body of the `failure` message to the lead.
pub fn failure_notice(member: &str, error: &str) -> String {
    format!("[AGENT FAILURE] {member}: {}", excerpt(error.trim_end()))
}

/// `[AGENT CANCELLED] name: reason`, the body of the `system` message to the lead when a
/// member is cancelled (the reason as given, not cut).
pub fn cancelled_notice(member: &str, reason: &str) -> String {
    format!("[AGENT CANCELLED] {member}: {reason}")
}

/// The end state of a member as counted by [`all_done_notice`].
pub fn outcome_word(status: MemberStatus) -> &'static str {
    match status {
        MemberStatus::Completed => "completed",
        MemberStatus::Failed => "failed",
        MemberStatus::Cancelled => "cancelled",
        MemberStatus::TimedOut => "timed out",
        _ => "live",
    }
}

/// `[ALL MEMBERS DONE] 8 completed, 1 failed`: sent to the lead when the last of its members
/// ends. Counts of zero are left out, except `completed`, which is always shown.
pub fn all_done_notice(statuses: impl IntoIterator<Item = MemberStatus>) -> String {
    let mut counts = [0usize; 4];
    for s in statuses {
        match s {
            MemberStatus::Completed => counts[0] += 1,
            MemberStatus::Failed => counts[1] += 1,
            MemberStatus::Cancelled => counts[2] += 1,
            MemberStatus::TimedOut => counts[3] += 1,
            _ => {}
        }
    }
    let mut parts = vec![format!("{} completed", counts[0])];
    for (n, word) in counts[1..].iter().zip(["failed", "cancelled", "timed out"]) {
        if *n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    format!("[ALL MEMBERS DONE] {}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disband_cancels_exactly_the_live_states() {
        for &s in MemberStatus::ALL {
            assert_eq!(disband_member(s).is_some(), s.is_live(), "{s}");
        }
        for &s in TaskStatus::ALL {
            assert_eq!(disband_task(s).is_some(), !s.is_terminal(), "{s}");
        }
    }

    #[test]
    fn failure_fails_only_in_progress_tasks() {
        for &s in TaskStatus::ALL {
            let expect = (s == TaskStatus::InProgress).then_some(TaskStatus::Failed);
            assert_eq!(on_assignee_failure(s), expect, "{s}");
        }
    }

    #[test]
    fn an_assignees_end_moves_only_in_progress_tasks() {
        for &m in MemberStatus::ALL {
            for &t in TaskStatus::ALL {
                let expect = match (m, t) {
                    (MemberStatus::Failed | MemberStatus::TimedOut, TaskStatus::InProgress) => {
                        Some(TaskStatus::Failed)
                    }
                    (MemberStatus::Cancelled, TaskStatus::InProgress) => Some(TaskStatus::Pending),
                    _ => None,
                };
                assert_eq!(on_assignee_end(m, t), expect, "{m} {t}");
            }
        }
        for &t in TaskStatus::ALL {
            let expect = (t == TaskStatus::InProgress).then_some(TaskStatus::Pending);
            assert_eq!(on_assignee_cancel(t), expect, "{t}");
        }
    }

    fn outcomes() -> [Outcome; 4] {
        [
            Outcome::Completed("done\n".into()),
            Outcome::Failed("exit status 3".into()),
            Outcome::Cancelled("disbanded".into()),
            Outcome::TimedOut("after 5s".into()),
        ]
    }

    #[test]
    fn member_end_follows_the_member_table_for_every_state_and_outcome() {
        for &from in MemberStatus::ALL {
            for role in [Role::Lead, Role::Member] {
                for o in outcomes() {
                    let plan = member_end("rev-2", role, from, &o);
                    match from.transition(o.event()) {
                        Err(e) => assert_eq!(plan, Err(e), "{from} {o:?}"),
                        Ok(to) => {
                            let plan = plan.unwrap_or_else(|e| panic!("{from} {o:?}: {e}"));
                            assert_eq!(plan.to, to);
                            assert_eq!(plan.to, o.status());
                            assert_eq!(plan.notice.is_some(), role == Role::Member);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn member_end_plans_tasks_and_notices() {
        let plan = |o: &Outcome| member_end("rev-2", Role::Member, MemberStatus::Running, o);
        let [done, failed, cancelled, timed_out] = outcomes();

        let p = plan(&done).unwrap();
        assert_eq!(p.tasks, None);
        assert_eq!(
            p.notice,
            Some(Notice {
                kind: MessageKind::Completion,
                body: "[AGENT COMPLETED] rev-2: done".into()
            })
        );

        let p = plan(&failed).unwrap();
        let t = p.tasks.unwrap();
        assert_eq!(
            (t.from, t.event, t.to),
            (TaskStatus::InProgress, TaskEvent::Fail, TaskStatus::Failed)
        );
        assert_eq!(
            t.result.as_deref(),
            Some("assignee rev-2 failed: exit status 3")
        );
        assert!(!t.clears_assignee());
        assert_eq!(
            p.notice,
            Some(Notice {
                kind: MessageKind::Failure,
                body: "[AGENT FAILURE] rev-2: exit status 3".into()
            })
        );

        let p = plan(&timed_out).unwrap();
        let t = p.tasks.unwrap();
        assert_eq!(t.to, TaskStatus::Failed);
        assert_eq!(
            t.result.as_deref(),
            Some("assignee rev-2 timed_out: after 5s")
        );
        assert_eq!(
            p.notice.unwrap().body,
            "[AGENT FAILURE] rev-2: timed out: after 5s"
        );

        let p = plan(&cancelled).unwrap();
        let t = p.tasks.unwrap();
        assert_eq!(
            (t.from, t.event, t.to),
            (
                TaskStatus::InProgress,
                TaskEvent::Release,
                TaskStatus::Pending
            )
        );
        assert_eq!(t.result, None);
        assert!(t.clears_assignee());
        assert_eq!(
            p.notice,
            Some(Notice {
                kind: MessageKind::System,
                body: "[AGENT CANCELLED] rev-2: disbanded".into()
            })
        );

        // The lead sends itself nothing, but its tasks cascade like anyone's.
        let p = member_end("lead", Role::Lead, MemberStatus::Idle, &failed).unwrap();
        assert_eq!(p.notice, None);
        assert_eq!(p.tasks.map(|t| t.to), Some(TaskStatus::Failed));
    }

    #[test]
    fn all_members_done_only_in_an_active_team_with_no_live_member() {
        for &team in TeamStatus::ALL {
            for &a in MemberStatus::ALL {
                for &b in MemberStatus::ALL {
                    let due = all_members_done(team, [a, b]);
                    let expect = team == TeamStatus::Active && a.is_terminal() && b.is_terminal();
                    assert_eq!(due.is_some(), expect, "{team} {a} {b}");
                    if let Some(text) = due {
                        assert_eq!(text, all_done_notice([a, b]));
                    }
                }
            }
        }
        assert_eq!(
            all_members_done(TeamStatus::Active, []),
            Some("[ALL MEMBERS DONE] 0 completed".into())
        );
    }

    #[test]
    fn outcome_texts() {
        let [done, failed, cancelled, timed_out] = outcomes();
        assert_eq!((done.result(), done.error()), (Some("done\n"), None));
        for o in [failed, cancelled, timed_out] {
            assert_eq!(o.result(), None);
            assert!(o.error().is_some());
        }
    }

    #[test]
    fn notices_use_the_members_own_name() {
        assert_eq!(
            failure_notice("general-2", "exit status 3"),
            "[AGENT FAILURE] general-2: exit status 3"
        );
        assert_eq!(
            completion_notice("reviewer-2", "ok\n"),
            "[AGENT COMPLETED] reviewer-2: ok"
        );
        let long = "é".repeat(NOTICE_EXCERPT_CHARS + 10);
        assert!(completion_notice("a", &long).ends_with("[cut; see `team show`]"));
        assert_eq!(
            cancelled_notice("reviewer-2", "team demo was disbanded\n"),
            "[AGENT CANCELLED] reviewer-2: team demo was disbanded\n"
        );
    }

    #[test]
    fn summary_counts_outcomes() {
        use MemberStatus::*;
        let mut v = vec![Completed; 8];
        v.push(Failed);
        assert_eq!(
            all_done_notice(v),
            "[ALL MEMBERS DONE] 8 completed, 1 failed"
        );
        assert_eq!(
            all_done_notice([Cancelled, TimedOut]),
            "[ALL MEMBERS DONE] 0 completed, 1 cancelled, 1 timed out"
        );
    }
}
