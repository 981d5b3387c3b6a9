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

use crate::lifecycle::{MemberEvent, MemberStatus, TaskEvent, TaskStatus};

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
