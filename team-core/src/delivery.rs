//! The rules of "nothing lost, nothing stuck" (issue 14): who may still act as a member
//! (fencing), how long a shell's claim or inbox take holds before it is given back (leases),
//! and how large a message may be.
//!
//! Pure functions: the store calls them inside the transaction of the write they guard.

use crate::lifecycle::MemberStatus;

/// Why a write made as a member is refused: the member has ended. Its text names the member,
/// its team and its state, and what the write was (`send messages`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("member {member} in team {team} is {status}; it can no longer {action}")]
pub struct Fenced {
    /// The member's name.
    pub member: String,
    /// The team's name.
    pub team: String,
    /// Its (terminal) state.
    pub status: MemberStatus,
    /// What it tried, as a verb phrase (`send messages`, `complete tasks`).
    pub action: String,
}

/// May a member in `status` still act (send, claim, complete or fail a task, write memory)?
/// Only a live member (`pending`, `running`, `idle`) may: once it is `completed`, `failed`,
/// `cancelled` or `timed_out`, every write made as it is refused (fencing). A process that
/// outlived its member (an orphan of a killed runner) so cannot go on acting for it.
///
/// # Errors
/// [`Fenced`] when `status` is terminal; `member`, `team` and `action` only fill its text.
pub fn may_act(status: MemberStatus, member: &str, team: &str, action: &str) -> Result<(), Fenced> {
    if status.is_terminal() {
        return Err(Fenced {
            member: member.to_owned(),
            team: team.to_owned(),
            status,
            action: action.to_owned(),
        });
    }
    Ok(())
}

/// The lease of a task claimed from a shell (`team task claim`) when none is asked for:
/// 10 minutes. Past it, an `in_progress` task not completed, failed or released goes back to
/// `pending` (its claimant was presumably killed).
pub const DEFAULT_CLAIM_LEASE_MS: i64 = 10 * 60 * 1000;

/// How long messages taken by `team inbox` stay invisible to other takes before they come
/// back unless acknowledged: 30 seconds.
pub const DEFAULT_INBOX_LEASE_MS: i64 = 30 * 1000;

/// The longest lease accepted (a day), so a lease cannot overflow a time or hide a task for
/// good.
pub const MAX_LEASE_MS: i64 = 24 * 60 * 60 * 1000;

/// The lease of a claim: `requested` (ms; `Some(0)` asks for none) when given, else none for a
/// member that a live runner holds (its runner's death is noticed by reconciliation, which
/// fails or releases its tasks), else [`DEFAULT_CLAIM_LEASE_MS`]. `None` means no lease.
pub fn claim_lease(requested: Option<i64>, held_by_live_runner: bool) -> Option<i64> {
    match requested {
        Some(0) => None,
        Some(ms) => Some(ms.min(MAX_LEASE_MS)),
        None if held_by_live_runner => None,
        None => Some(DEFAULT_CLAIM_LEASE_MS),
    }
}

/// The largest message body accepted by default: 1 MiB (`max_message_bytes`). A larger one
/// is refused as bad input, so a member cannot fill the database.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// Why a message is refused: it is larger than the limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the message is {size} bytes, more than max_message_bytes = {limit}; send less (e.g. a path to a file) or raise max_message_bytes"
)]
pub struct TooLarge {
    /// The body's size in bytes.
    pub size: usize,
    /// The limit in bytes.
    pub limit: usize,
}

/// Checks a message body against the size limit (`limit` bytes of UTF-8).
///
/// # Errors
/// [`TooLarge`] when the body is longer.
pub fn check_message_size(body: &str, limit: usize) -> Result<(), TooLarge> {
    if body.len() > limit {
        return Err(TooLarge {
            size: body.len(),
            limit,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_live_members_may_act() {
        for s in MemberStatus::ALL {
            assert_eq!(
                may_act(*s, "a", "t", "send messages").is_ok(),
                s.is_live(),
                "{s}"
            );
        }
        let e = may_act(MemberStatus::Failed, "a", "demo", "send messages").unwrap_err();
        assert_eq!(
            e.to_string(),
            "member a in team demo is failed; it can no longer send messages"
        );
    }

    #[test]
    fn claim_leases() {
        assert_eq!(claim_lease(Some(0), false), None);
        assert_eq!(claim_lease(Some(5), true), Some(5));
        assert_eq!(claim_lease(Some(i64::MAX), false), Some(MAX_LEASE_MS));
        assert_eq!(claim_lease(None, true), None);
        assert_eq!(claim_lease(None, false), Some(DEFAULT_CLAIM_LEASE_MS));
    }

    #[test]
    fn message_size() {
        assert!(check_message_size("abc", 3).is_ok());
        let e = check_message_size("abcd", 3).unwrap_err();
        assert_eq!((e.size, e.limit), (4, 3));
    }
}
