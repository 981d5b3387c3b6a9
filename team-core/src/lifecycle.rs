//! Lifecycle state machines of teams, members and tasks, as data.
//!
//! Each entity has an enum of states, an enum of events and one `transition(state, event)`
//! function that returns the next state or an [`IllegalTransition`] naming the illegal move.
//! The store mirrors every move in an SQL guard (`UPDATE … SET status = <to> WHERE status =
//! <from>`), so two processes racing on one row cannot both win, and a terminal state never
//! changes (opencode PR #18753 let a failure overwrite `completed`; ours cannot).
//!
//! The tables, as shipped (see ARCHITECTURE.md for the diagrams):
//!
//! | entity | from | event | to |
//! |---|---|---|---|
//! | team | active | complete / fail / disband | completed / failed / disbanded |
//! | team | failed, disbanded | resume | active |
//! | member | pending | start | running |
//! | member | pending | cancel | cancelled |
//! | member | running | sleep | idle |
//! | member | idle | wake | running |
//! | member | running, idle | complete / fail / cancel / time_out | completed / failed / cancelled / timed_out |
//! | member | running, idle, waiting | retry | pending |
//! | member | failed, cancelled, timed_out | resume | pending |
//! | member | running | park | waiting |
//! | member | waiting | continue | running |
//! | member | waiting | fail / cancel / time_out | failed / cancelled / timed_out |
//! | task | pending | claim | in_progress |
//! | task | in_progress | release | pending |
//! | task | in_progress | complete / fail | completed / failed |
//! | task | pending, in_progress | cancel | cancelled |
//! | task | cancelled | reopen | pending |
//! | approval | pending | approve / deny | approved / denied |
//!
//! The three `resume`/`reopen` moves are the only ones out of a terminal state; the store
//! takes them only in `team resume` (`Store::resume_team`), for the team and the members and
//! tasks that `crate::resume` says an interruption ended, never for a `completed` one.

/// A move that a lifecycle does not allow: `entity` in state `from` cannot take `event`.
///
/// The message reads as a sentence a user can act on, e.g.
/// `task in state completed cannot be claimed`; callers that know the entity's id wrap it with
/// that id (the store says `task 7 in team docs is completed; it cannot be claimed`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entity} in state {from} cannot be {verb}")]
pub struct IllegalTransition {
    /// `team`, `member`, `task` or `approval`.
    pub entity: &'static str,
    /// The current state, as its wire name (`completed`).
    pub from: &'static str,
    /// The event, as its wire name (`claim`).
    pub event: &'static str,
    /// The event as a past participle for messages (`claimed`).
    pub verb: &'static str,
}

/// A string form shared by every status and event enum: the wire name used in the database, in
/// `--json` output and on the command line.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire name (`in_progress`), as stored in the database and printed by `--json`.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = String;

            /// Parses a wire name; the error lists the valid names.
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    other => Err(format!(
                        "unknown {} `{}`; expected one of: {}",
                        $what,
                        other,
                        [$($wire),+].join(", ")
                    )),
                }
            }
        }
    };
}
pub(crate) use wire_enum;

wire_enum!(
    /// The state of a team. `active` is the only live state; the others are terminal.
    TeamStatus, "team status" {
        /// The team is running: members may be added, tasks claimed, messages sent.
        Active => "active",
        /// Its workflow finished successfully.
        Completed => "completed",
        /// Its lead failed, or its foreground owner died (reconciliation).
        Failed => "failed",
        /// Disbanded by a user (`team disband`), by Ctrl-C, or by the `team_delete` tool.
        Disbanded => "disbanded",
    }
);

wire_enum!(
    /// What can happen to a team.
    TeamEvent, "team event" {
        /// The team's work is done.
        Complete => "complete",
        /// The team's work failed.
        Fail => "fail",
        /// The team is taken down: every live member and open task is cancelled with it.
        Disband => "disband",
        /// A team ended by an interruption goes on (`team resume`; `crate::resume`).
        Resume => "resume",
    }
);

impl TeamStatus {
    /// True for `completed`, `failed` and `disbanded`: states that never change again.
    pub const fn is_terminal(self) -> bool {
        !matches!(self, TeamStatus::Active)
    }

    /// The team's next state after `event`, or the illegal move.
    ///
    /// # Errors
    /// [`IllegalTransition`] when the team is already terminal.
    pub fn transition(self, event: TeamEvent) -> Result<TeamStatus, IllegalTransition> {
        match (self, event) {
            (TeamStatus::Active, TeamEvent::Complete) => Ok(TeamStatus::Completed),
            (TeamStatus::Active, TeamEvent::Fail) => Ok(TeamStatus::Failed),
            (TeamStatus::Active, TeamEvent::Disband) => Ok(TeamStatus::Disbanded),
            (TeamStatus::Failed | TeamStatus::Disbanded, TeamEvent::Resume) => {
                Ok(TeamStatus::Active)
            }
            (from, event) => Err(IllegalTransition {
                entity: "team",
                from: from.as_str(),
                event: event.as_str(),
                verb: match event {
                    TeamEvent::Complete => "completed",
                    TeamEvent::Fail => "failed",
                    TeamEvent::Disband => "disbanded",
                    TeamEvent::Resume => "resumed",
                },
            }),
        }
    }
}

wire_enum!(
    /// The state of a member (one running instance of an agent in a team).
    MemberStatus, "member status" {
        /// Waiting for a runner slot (FIFO); holds no slot.
        Pending => "pending",
        /// Working on a turn; holds one of its runner's `max_agents` slots.
        Running => "running",
        /// A persistent member between turns, waiting for a message; holds no slot.
        Idle => "idle",
        /// Parked mid-turn until a human decides on one of its tool calls (an `approvals` row,
        /// `permission: ask` with `--on-ask park`, or its plan under `plan: required`); holds
        /// no slot.
        Waiting => "waiting",
        /// Finished normally (its last turn's output is its result).
        Completed => "completed",
        /// Crashed, exited non-zero, or its runner was lost; the lead got `[AGENT FAILURE]`.
        Failed => "failed",
        /// Cancelled by a disband, Ctrl-C or a user.
        Cancelled => "cancelled",
        /// Hit its hard `timeout`.
        TimedOut => "timed_out",
    }
);

wire_enum!(
    /// What can happen to a member.
    MemberEvent, "member event" {
        /// A runner took it from the queue and started its first turn.
        Start => "start",
        /// A persistent member finished a turn and waits for messages.
        Sleep => "sleep",
        /// A message arrived for an idle member: a new turn starts.
        Wake => "wake",
        /// The member finished (or an idle member reached `member_timeout_secs`).
        Complete => "complete",
        /// The member failed.
        Fail => "fail",
        /// The member was cancelled.
        Cancel => "cancel",
        /// The member ran past its hard timeout.
        TimeOut => "time_out",
        /// Its attempt ended with a retryable failure (`runner lost`, a transient provider
        /// error) and it has attempts left: it goes back to the queue for its next attempt
        /// (`crate::retry::plan_retry` decides).
        Retry => "retry",
        /// A member an interruption ended (`runner lost`, cancelled with its team) is queued
        /// again by `team resume` (`crate::resume::member_resumable`).
        Resume => "resume",
        /// A running member's tool call (or plan) needs a human's approval: it parks and lets
        /// its slot go.
        Park => "park",
        /// The approval it waited for was decided: it takes a slot and goes on.
        Continue => "continue",
    }
);

impl MemberStatus {
    /// True for `completed`, `failed`, `cancelled` and `timed_out`.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            MemberStatus::Completed
                | MemberStatus::Failed
                | MemberStatus::Cancelled
                | MemberStatus::TimedOut
        )
    }

    /// True for `pending`, `running`, `idle` and `waiting`: the states a disband cancels.
    pub const fn is_live(self) -> bool {
        !self.is_terminal()
    }

    /// The member's next state after `event`, or the illegal move.
    ///
    /// # Errors
    /// [`IllegalTransition`] for any move not in the table of this module.
    pub fn transition(self, event: MemberEvent) -> Result<MemberStatus, IllegalTransition> {
        use MemberEvent as E;
        use MemberStatus as S;
        match (self, event) {
            (S::Pending, E::Start) => Ok(S::Running),
            (S::Pending, E::Cancel) => Ok(S::Cancelled),
            (S::Running, E::Sleep) => Ok(S::Idle),
            (S::Idle, E::Wake) => Ok(S::Running),
            (S::Running, E::Park) => Ok(S::Waiting),
            (S::Waiting, E::Continue) => Ok(S::Running),
            (S::Running | S::Idle, E::Complete) => Ok(S::Completed),
            (S::Running | S::Idle | S::Waiting, E::Fail) => Ok(S::Failed),
            (S::Running | S::Idle | S::Waiting, E::Cancel) => Ok(S::Cancelled),
            (S::Running | S::Idle | S::Waiting, E::TimeOut) => Ok(S::TimedOut),
            (S::Running | S::Idle | S::Waiting, E::Retry) => Ok(S::Pending),
            (S::Failed | S::Cancelled | S::TimedOut, E::Resume) => Ok(S::Pending),
            (from, event) => Err(IllegalTransition {
                entity: "member",
                from: from.as_str(),
                event: event.as_str(),
                verb: match event {
                    E::Start => "started",
                    E::Sleep => "put to sleep",
                    E::Wake => "woken",
                    E::Complete => "completed",
                    E::Fail => "failed",
                    E::Cancel => "cancelled",
                    E::TimeOut => "timed out",
                    E::Retry => "retried",
                    E::Resume => "resumed",
                    E::Park => "parked",
                    E::Continue => "continued",
                },
            }),
        }
    }

    /// Every state from which `event` is legal (the `WHERE status IN (…)` of the store's guard).
    pub fn sources(event: MemberEvent) -> Vec<MemberStatus> {
        Self::ALL
            .iter()
            .copied()
            .filter(|s| s.transition(event).is_ok())
            .collect()
    }
}

wire_enum!(
    /// The state of a task on a team's board.
    TaskStatus, "task status" {
        /// Open, unclaimed.
        Pending => "pending",
        /// Claimed by a member (its assignee).
        InProgress => "in_progress",
        /// Done.
        Completed => "completed",
        /// Failed (by its assignee, or because its assignee failed).
        Failed => "failed",
        /// Cancelled (by a user or a disband).
        Cancelled => "cancelled",
    }
);

wire_enum!(
    /// What can happen to a task.
    TaskEvent, "task event" {
        /// A member takes the task (atomically: exactly one claimant wins).
        Claim => "claim",
        /// The assignee gives the task back to the board.
        Release => "release",
        /// The task is done.
        Complete => "complete",
        /// The task failed.
        Fail => "fail",
        /// The task is dropped.
        Cancel => "cancel",
        /// A task its team's interruption cancelled goes back on the board (`team resume`).
        Reopen => "reopen",
    }
);

impl TaskStatus {
    /// True for `completed`, `failed` and `cancelled`.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled
        )
    }

    /// True when a task that names this one in `blocked_by` may be claimed: only `completed`
    /// unblocks (a failed or cancelled blocker keeps its dependants blocked, so nobody builds on
    /// work that did not happen).
    pub const fn unblocks_dependants(self) -> bool {
        matches!(self, TaskStatus::Completed)
    }

    /// The task's next state after `event`, or the illegal move.
    ///
    /// # Errors
    /// [`IllegalTransition`] for any move not in the table of this module.
    pub fn transition(self, event: TaskEvent) -> Result<TaskStatus, IllegalTransition> {
        use TaskEvent as E;
        use TaskStatus as S;
        match (self, event) {
            (S::Pending, E::Claim) => Ok(S::InProgress),
            (S::InProgress, E::Release) => Ok(S::Pending),
            (S::InProgress, E::Complete) => Ok(S::Completed),
            (S::InProgress, E::Fail) => Ok(S::Failed),
            (S::Pending | S::InProgress, E::Cancel) => Ok(S::Cancelled),
            (S::Cancelled, E::Reopen) => Ok(S::Pending),
            (from, event) => Err(IllegalTransition {
                entity: "task",
                from: from.as_str(),
                event: event.as_str(),
                verb: match event {
                    E::Claim => "claimed",
                    E::Release => "released",
                    E::Complete => "completed",
                    E::Fail => "failed",
                    E::Cancel => "cancelled",
                    E::Reopen => "reopened",
                },
            }),
        }
    }

    /// Every state from which `event` is legal (the `WHERE status IN (…)` of the store's guard).
    pub fn sources(event: TaskEvent) -> Vec<TaskStatus> {
        Self::ALL
            .iter()
            .copied()
            .filter(|s| s.transition(event).is_ok())
            .collect()
    }
}

wire_enum!(
    /// The state of an approval request (a row of `approvals`): a member's tool call, or its
    /// plan, that waits for a human (`team approve` / `team deny`).
    ApprovalStatus, "approval status" {
        /// Not decided yet; its member is `waiting` (or, its runner gone, will ask again on
        /// `team resume` and find this row).
        Pending => "pending",
        /// Allowed: the call runs (with `--always`, every later call of the tool in the team
        /// is allowed too).
        Approved => "approved",
        /// Refused: the reason goes back to the model as the tool's error.
        Denied => "denied",
    }
);

wire_enum!(
    /// What can happen to an approval request.
    ApprovalEvent, "approval event" {
        /// A human allowed it.
        Approve => "approve",
        /// A human refused it.
        Deny => "deny",
    }
);

impl ApprovalStatus {
    /// True for `approved` and `denied`: a decision never changes.
    pub const fn is_terminal(self) -> bool {
        !matches!(self, ApprovalStatus::Pending)
    }

    /// The request's next state after `event`, or the illegal move (deciding twice).
    ///
    /// # Errors
    /// [`IllegalTransition`] when the request is already decided.
    pub fn transition(self, event: ApprovalEvent) -> Result<ApprovalStatus, IllegalTransition> {
        match (self, event) {
            (ApprovalStatus::Pending, ApprovalEvent::Approve) => Ok(ApprovalStatus::Approved),
            (ApprovalStatus::Pending, ApprovalEvent::Deny) => Ok(ApprovalStatus::Denied),
            (from, event) => Err(IllegalTransition {
                entity: "approval",
                from: from.as_str(),
                event: event.as_str(),
                verb: match event {
                    ApprovalEvent::Approve => "approved",
                    ApprovalEvent::Deny => "denied",
                },
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The member table written out pair by pair: the oracle the transition function must match.
    fn member_oracle(from: MemberStatus, ev: MemberEvent) -> Option<MemberStatus> {
        use MemberEvent as E;
        use MemberStatus as S;
        let table: &[(S, E, S)] = &[
            (S::Pending, E::Start, S::Running),
            (S::Pending, E::Cancel, S::Cancelled),
            (S::Running, E::Sleep, S::Idle),
            (S::Idle, E::Wake, S::Running),
            (S::Running, E::Complete, S::Completed),
            (S::Running, E::Fail, S::Failed),
            (S::Running, E::Cancel, S::Cancelled),
            (S::Running, E::TimeOut, S::TimedOut),
            (S::Idle, E::Complete, S::Completed),
            (S::Idle, E::Fail, S::Failed),
            (S::Idle, E::Cancel, S::Cancelled),
            (S::Idle, E::TimeOut, S::TimedOut),
            (S::Running, E::Retry, S::Pending),
            (S::Idle, E::Retry, S::Pending),
            (S::Failed, E::Resume, S::Pending),
            (S::Cancelled, E::Resume, S::Pending),
            (S::TimedOut, E::Resume, S::Pending),
            (S::Waiting, E::Retry, S::Pending),
            (S::Running, E::Park, S::Waiting),
            (S::Waiting, E::Continue, S::Running),
            (S::Waiting, E::Fail, S::Failed),
            (S::Waiting, E::Cancel, S::Cancelled),
            (S::Waiting, E::TimeOut, S::TimedOut),
        ];
        table
            .iter()
            .find(|(f, e, _)| *f == from && *e == ev)
            .map(|(_, _, t)| *t)
    }

    fn task_oracle(from: TaskStatus, ev: TaskEvent) -> Option<TaskStatus> {
        use TaskEvent as E;
        use TaskStatus as S;
        let table: &[(S, E, S)] = &[
            (S::Pending, E::Claim, S::InProgress),
            (S::InProgress, E::Release, S::Pending),
            (S::InProgress, E::Complete, S::Completed),
            (S::InProgress, E::Fail, S::Failed),
            (S::Pending, E::Cancel, S::Cancelled),
            (S::InProgress, E::Cancel, S::Cancelled),
            (S::Cancelled, E::Reopen, S::Pending),
        ];
        table
            .iter()
            .find(|(f, e, _)| *f == from && *e == ev)
            .map(|(_, _, t)| *t)
    }

    #[test]
    fn member_table_is_exactly_the_oracle() {
        for &s in MemberStatus::ALL {
            for &e in MemberEvent::ALL {
                assert_eq!(s.transition(e).ok(), member_oracle(s, e), "{s} + {e}");
            }
        }
    }

    #[test]
    fn task_table_is_exactly_the_oracle() {
        for &s in TaskStatus::ALL {
            for &e in TaskEvent::ALL {
                assert_eq!(s.transition(e).ok(), task_oracle(s, e), "{s} + {e}");
            }
        }
    }

    #[test]
    fn an_approval_is_decided_once() {
        for &s in ApprovalStatus::ALL {
            for &e in ApprovalEvent::ALL {
                assert_eq!(
                    s.transition(e).is_ok(),
                    s == ApprovalStatus::Pending,
                    "{s} + {e}"
                );
            }
        }
        let err = ApprovalStatus::Denied
            .transition(ApprovalEvent::Approve)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "approval in state denied cannot be approved"
        );
    }

    #[test]
    fn team_terminal_states_never_change() {
        for &s in TeamStatus::ALL {
            for &e in TeamEvent::ALL {
                let expect = match e {
                    TeamEvent::Resume => matches!(s, TeamStatus::Failed | TeamStatus::Disbanded),
                    _ => s == TeamStatus::Active,
                };
                assert_eq!(s.transition(e).is_ok(), expect, "{s} + {e}");
            }
        }
    }

    #[test]
    fn illegal_move_names_state_and_event() {
        let err = TaskStatus::Completed
            .transition(TaskEvent::Claim)
            .unwrap_err();
        assert_eq!(err.to_string(), "task in state completed cannot be claimed");
        assert_eq!(err.from, "completed");
        assert_eq!(err.event, "claim");
    }

    #[test]
    fn wire_names_round_trip_and_reject_unknown() {
        for &s in MemberStatus::ALL {
            assert_eq!(s.as_str().parse::<MemberStatus>().unwrap(), s);
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        for &s in TaskStatus::ALL {
            assert_eq!(s.as_str().parse::<TaskStatus>().unwrap(), s);
        }
        let err = "done".parse::<TaskStatus>().unwrap_err();
        assert!(err.contains("in_progress"), "{err}");
    }

    #[test]
    fn guard_sources_match_the_table() {
        assert_eq!(
            MemberStatus::sources(MemberEvent::Cancel),
            vec![
                MemberStatus::Pending,
                MemberStatus::Running,
                MemberStatus::Idle,
                MemberStatus::Waiting
            ]
        );
        assert_eq!(
            TaskStatus::sources(TaskEvent::Cancel),
            vec![TaskStatus::Pending, TaskStatus::InProgress]
        );
    }

    fn member_status() -> impl Strategy<Value = MemberStatus> {
        proptest::sample::select(MemberStatus::ALL)
    }
    /// The events of a walk: all but `resume`/`reopen`, the one way out of a terminal
    /// state (taken only by `team resume`, tested in `crate::resume`).
    fn member_event() -> impl Strategy<Value = MemberEvent> {
        proptest::sample::select(
            MemberEvent::ALL
                .iter()
                .copied()
                .filter(|e| *e != MemberEvent::Resume)
                .collect::<Vec<_>>(),
        )
    }
    fn task_event() -> impl Strategy<Value = TaskEvent> {
        proptest::sample::select(
            TaskEvent::ALL
                .iter()
                .copied()
                .filter(|e| *e != TaskEvent::Reopen)
                .collect::<Vec<_>>(),
        )
    }

    proptest! {
        /// Along any sequence of events (illegal ones are refused and change nothing), a member
        /// that reached a terminal state stays in it, and every accepted move is in the table.
        #[test]
        fn member_walks_respect_the_table(start in member_status(), events in proptest::collection::vec(member_event(), 0..40)) {
            let mut state = start;
            let mut terminal_seen: Option<MemberStatus> = None;
            for ev in events {
                match state.transition(ev) {
                    Ok(next) => {
                        prop_assert_eq!(Some(next), member_oracle(state, ev));
                        prop_assert!(terminal_seen.is_none(), "left terminal state {:?}", terminal_seen);
                        state = next;
                    }
                    Err(e) => {
                        prop_assert!(member_oracle(state, ev).is_none());
                        prop_assert_eq!(e.from, state.as_str());
                    }
                }
                if state.is_terminal() { terminal_seen = Some(state); }
            }
        }

        /// A task walk never leaves a terminal state and is claimed only from `pending`.
        #[test]
        fn task_walks_respect_the_table(events in proptest::collection::vec(task_event(), 0..40)) {
            let mut state = TaskStatus::Pending;
            let mut was_terminal = false;
            for ev in events {
                if let Ok(next) = state.transition(ev) {
                    prop_assert!(!was_terminal);
                    prop_assert_eq!(Some(next), task_oracle(state, ev));
                    if ev == TaskEvent::Claim { prop_assert_eq!(state, TaskStatus::Pending); }
                    state = next;
                }
                was_terminal |= state.is_terminal();
            }
        }
    }
}
