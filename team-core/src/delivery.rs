//! The rules of "nothing lost, nothing stuck" (issue 14): who may still act as a member
//! (fencing), how long a shell's claim or inbox take holds before it is given back (leases),
//! and how large a message may be.
//!
//! Pure functions: the store calls them inside the transaction of the write they guard.

use crate::lifecycle::MemberStatus;

/// Why a write made as a member is refused (see [`may_act`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FenceReason {
    /// The member has ended: its (terminal) state.
    Ended(MemberStatus),
    /// The write was made by attempt `acting` of the member, which has moved on to attempt
    /// `current` (a retry, on another runner or host, after its runner was found lost).
    Superseded {
        /// The attempt the writer acts as (what its runner claimed; `TEAM_MEMBER_ATTEMPT`).
        acting: i64,
        /// The member's attempt now.
        current: i64,
    },
}

/// Why a write made as a member is refused: the member has ended, or the writer acts for an
/// attempt of it that was superseded. Its text names the member, its team, the reason and
/// what the write was (`send messages`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", fenced_text(self))]
pub struct Fenced {
    /// The member's name.
    pub member: String,
    /// The team's name.
    pub team: String,
    /// Why it may not act.
    pub reason: FenceReason,
    /// What it tried, as a verb phrase (`send messages`, `complete tasks`).
    pub action: String,
}

fn fenced_text(f: &Fenced) -> String {
    match &f.reason {
        FenceReason::Ended(status) => format!(
            "member {} in team {} is {status}; it can no longer {}",
            f.member, f.team, f.action
        ),
        FenceReason::Superseded { acting, current } => format!(
            "member {} in team {} has moved on to attempt {current} (its runner was found lost and it was retried); attempt {acting} can no longer {}: stop this process",
            f.member, f.team, f.action
        ),
    }
}

/// May a member in `status`, on attempt `current`, still act (send, claim, complete or fail
/// a task, write memory, end) for a writer acting as attempt `acting`?
///
/// - Only a live member (`pending`, `running`, `idle`) may: once it is `completed`,
///   `failed`, `cancelled` or `timed_out`, every write made as it is refused. A process that
///   outlived its member (an orphan of a killed runner) so cannot go on acting for it.
/// - A writer that names its attempt (`acting` is `Some`: a runner acting for the member it
///   claimed, or a member's own process through `TEAM_MEMBER_ATTEMPT`) may act only while
///   that attempt is the member's current one: the attempt is a fencing token. A host cut
///   off from the database that comes back after its member was retried elsewhere so cannot
///   complete, send or claim as it. `None` (a person at a shell acting for a member) is
///   checked against the state only.
///
/// # Errors
/// [`Fenced`] with its [`FenceReason`]; `member`, `team` and `action` only fill its text.
pub fn may_act(
    status: MemberStatus,
    current: i64,
    acting: Option<i64>,
    member: &str,
    team: &str,
    action: &str,
) -> Result<(), Fenced> {
    let reason = match acting {
        Some(acting) if acting != current => FenceReason::Superseded { acting, current },
        _ if status.is_terminal() => FenceReason::Ended(status),
        _ => return Ok(()),
    };
    Err(Fenced {
        member: member.to_owned(),
        team: team.to_owned(),
        reason,
        action: action.to_owned(),
    })
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
    fn only_the_current_attempt_may_act() {
        for s in MemberStatus::ALL {
            let e = may_act(*s, 2, Some(1), "a", "demo", "send messages").unwrap_err();
            assert_eq!(
                e.reason,
                FenceReason::Superseded {
                    acting: 1,
                    current: 2
                }
            );
            assert!(may_act(*s, 2, Some(3), "a", "demo", "claim tasks").is_err());
        }
        assert!(may_act(MemberStatus::Running, 2, Some(2), "a", "t", "x").is_ok());
        assert!(may_act(MemberStatus::Running, 2, None, "a", "t", "x").is_ok());
        let e = may_act(
            MemberStatus::Pending,
            2,
            Some(1),
            "a",
            "demo",
            "send messages",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("member a in team demo has moved on to attempt 2"),
            "{e}"
        );
    }

    #[test]
    fn only_live_members_may_act() {
        for s in MemberStatus::ALL {
            for acting in [None, Some(1)] {
                assert_eq!(
                    may_act(*s, 1, acting, "a", "t", "send messages").is_ok(),
                    s.is_live(),
                    "{s}"
                );
            }
        }
        let e = may_act(MemberStatus::Failed, 1, None, "a", "demo", "send messages").unwrap_err();
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
