//! Team budgets (issue 18): what a share of a budget means and whether a member's
//! reservation fits.
//!
//! A team's budget caps its tokens (prompt and completion, every member's) and, with prices
//! in the configuration, its money in US dollars. The rule, stated once here:
//!
//! - **Level**: the most used of the two budgets decides; at [`WARN_PERCENT`] % or more the
//!   team is at [`BudgetLevel::Warning`] (an event and a notice to the lead, once), at 100 %
//!   or more it is [`BudgetLevel::Spent`] (running members stop: `budget spent`).
//! - **Reservation** (before a fan-out): a member started with the `task` tool reserves its
//!   request's `max_tokens` (the most one model call of it may answer with) until it ends;
//!   it may start only when `used + reserved + its reservation <= max_tokens` (and the same
//!   in money, its reservation at its model's output price). Members a workflow or a user
//!   adds reserve nothing: a run's `--max-tokens` stays the cap it always was (the run stops
//!   at 100 %), and a small budget does not refuse the very first member.
//!
//! Pure: the caller reads the spend (members' token counters, `provider.call` events at
//! `[prices]`) and carries the answer out.

use serde::{Deserialize, Serialize};

/// The share of a budget, in percent, at which a team is warned (once).
pub const WARN_PERCENT: u64 = 80;

/// A team's budget: either cap may be absent; with neither there is no budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TeamBudget {
    /// Tokens (prompt + completion) the team's members may use in all.
    pub max_tokens: Option<u64>,
    /// US dollars the team's members may spend in all (at the configuration's prices).
    pub max_usd: Option<f64>,
}

impl TeamBudget {
    /// Whether either cap is set.
    pub fn is_set(&self) -> bool {
        self.max_tokens.is_some() || self.max_usd.is_some()
    }
}

/// What a team has spent (or reserved): tokens and US dollars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Spend {
    /// Tokens, prompt and completion.
    pub tokens: u64,
    /// US dollars (0 when no model has a price).
    pub usd: f64,
}

/// Where a team stands against its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetLevel {
    /// Below [`WARN_PERCENT`] % of every cap (or no budget).
    Under,
    /// At [`WARN_PERCENT`] % of a cap or more, below 100 % of every cap.
    Warning,
    /// At 100 % of a cap or more.
    Spent,
}

/// The share of the most used cap, in percent (`None` without a budget). A cap of 0 is
/// spent at once (100 %).
pub fn percent_used(budget: &TeamBudget, spent: &Spend) -> Option<f64> {
    let share = |used: f64, cap: f64| {
        if cap > 0.0 { used * 100.0 / cap } else { 100.0 }
    };
    let tokens = budget
        .max_tokens
        .map(|cap| share(spent.tokens as f64, cap as f64));
    let usd = budget.max_usd.map(|cap| share(spent.usd, cap));
    match (tokens, usd) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// The level of `spent` against `budget` (see the module's rule).
pub fn level(budget: &TeamBudget, spent: &Spend) -> BudgetLevel {
    match percent_used(budget, spent) {
        Some(p) if p >= 100.0 => BudgetLevel::Spent,
        Some(p) if p >= WARN_PERCENT as f64 => BudgetLevel::Warning,
        _ => BudgetLevel::Under,
    }
}

/// Why a reservation does not fit: which cap, and the numbers, for the refusal's text and
/// the `tool.denied` event's `source`.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum ReservationRefused {
    /// The token cap cannot cover the reservation.
    #[error(
        "the team's token budget is {max} tokens: {used} used and {reserved} reserved by \
         running members leave {left}, and a new member reserves {wanted} (its max_tokens)"
    )]
    Tokens {
        /// The cap.
        max: u64,
        /// Used so far.
        used: u64,
        /// Reserved by the members still running.
        reserved: u64,
        /// What is left (cap − used − reserved, at least 0).
        left: u64,
        /// The new member's reservation.
        wanted: u64,
    },
    /// The money cap cannot cover the reservation.
    #[error(
        "the team's money budget is ${max}: ${used:.4} spent and ${reserved:.4} reserved by \
         running members leave ${left:.4}, and a new member reserves ${wanted:.4} (its \
         max_tokens at its model's output price)"
    )]
    Money {
        /// The cap, US dollars.
        max: f64,
        /// Spent so far.
        used: f64,
        /// Reserved by the members still running.
        reserved: f64,
        /// What is left.
        left: f64,
        /// The new member's reservation.
        wanted: f64,
    },
}

impl ReservationRefused {
    /// The cap that refused, as the `tool.denied` event's `source.limit`.
    pub fn limit(&self) -> serde_json::Value {
        match self {
            Self::Tokens { max, .. } => serde_json::json!({"max_tokens": max}),
            Self::Money { max, .. } => serde_json::json!({"max_usd": max}),
        }
    }
}

/// Whether a new member's reservation `wanted` fits in `budget` beside what was `used` and
/// what the members still running have `reserved` (each its reservation less what it used).
///
/// A spent cap (nothing left) refuses any member, even one that reserves nothing (a command
/// agent).
///
/// # Errors
/// [`ReservationRefused`] naming the first cap (tokens, then money) that cannot cover it.
pub fn reservation_fits(
    budget: &TeamBudget,
    used: &Spend,
    reserved: &Spend,
    wanted: &Spend,
) -> Result<(), ReservationRefused> {
    if let Some(max) = budget.max_tokens {
        let left = max
            .saturating_sub(used.tokens)
            .saturating_sub(reserved.tokens);
        if wanted.tokens > left || left == 0 {
            return Err(ReservationRefused::Tokens {
                max,
                used: used.tokens,
                reserved: reserved.tokens,
                left,
                wanted: wanted.tokens,
            });
        }
    }
    if let Some(max) = budget.max_usd {
        let left = (max - used.usd - reserved.usd).max(0.0);
        if wanted.usd > left || left <= 0.0 {
            return Err(ReservationRefused::Money {
                max,
                used: used.usd,
                reserved: reserved.usd,
                left,
                wanted: wanted.usd,
            });
        }
    }
    Ok(())
}

/// What a running member still holds of its reservation: `reservation` less the tokens it
/// used (`used_tokens`), at least 0; its real spend counts in `used` instead.
pub fn still_reserved(reservation: u64, used_tokens: u64) -> u64 {
    reservation.saturating_sub(used_tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(n: u64) -> Spend {
        Spend {
            tokens: n,
            usd: 0.0,
        }
    }

    #[test]
    fn levels_at_80_and_100_percent_of_the_most_used_cap() {
        let b = TeamBudget {
            max_tokens: Some(100),
            max_usd: Some(10.0),
        };
        assert_eq!(level(&b, &tokens(79)), BudgetLevel::Under);
        assert_eq!(level(&b, &tokens(80)), BudgetLevel::Warning);
        assert_eq!(level(&b, &tokens(100)), BudgetLevel::Spent);
        let money = Spend {
            tokens: 1,
            usd: 9.0,
        };
        assert_eq!(level(&b, &money), BudgetLevel::Warning);
        assert_eq!(percent_used(&b, &money), Some(90.0));
        assert_eq!(
            level(&TeamBudget::default(), &tokens(1 << 40)),
            BudgetLevel::Under
        );
        assert_eq!(percent_used(&TeamBudget::default(), &tokens(5)), None);
        let zero = TeamBudget {
            max_tokens: Some(0),
            max_usd: None,
        };
        assert_eq!(level(&zero, &tokens(0)), BudgetLevel::Spent);
    }

    #[test]
    fn a_reservation_fits_only_in_what_is_neither_used_nor_reserved() {
        let b = TeamBudget {
            max_tokens: Some(10_000),
            max_usd: None,
        };
        assert_eq!(
            reservation_fits(&b, &tokens(1_000), &tokens(4_096), &tokens(4_096)),
            Ok(())
        );
        let refused = reservation_fits(&b, &tokens(2_000), &tokens(4_096), &tokens(4_096));
        assert_eq!(
            refused,
            Err(ReservationRefused::Tokens {
                max: 10_000,
                used: 2_000,
                reserved: 4_096,
                left: 3_904,
                wanted: 4_096
            })
        );
        assert!(refused.unwrap_err().to_string().contains("leave 3904"));
        // Overspent: nothing is left, never a negative number.
        assert!(matches!(
            reservation_fits(&b, &tokens(20_000), &tokens(0), &tokens(1)),
            Err(ReservationRefused::Tokens { left: 0, .. })
        ));
        // Spent: even a member that reserves nothing does not start.
        assert!(reservation_fits(&b, &tokens(10_000), &tokens(0), &tokens(0)).is_err());
        // No budget: everything fits.
        assert_eq!(
            reservation_fits(
                &TeamBudget::default(),
                &tokens(9),
                &tokens(9),
                &tokens(u64::MAX)
            ),
            Ok(())
        );
    }

    #[test]
    fn money_reservations_and_what_a_running_member_still_holds() {
        let b = TeamBudget {
            max_tokens: None,
            max_usd: Some(1.0),
        };
        let used = Spend {
            tokens: 0,
            usd: 0.5,
        };
        let wanted = Spend {
            tokens: 4096,
            usd: 0.6,
        };
        assert!(matches!(
            reservation_fits(&b, &used, &Spend::default(), &wanted),
            Err(ReservationRefused::Money { .. })
        ));
        assert_eq!(still_reserved(4096, 1000), 3096);
        assert_eq!(still_reserved(4096, 9000), 0);
    }
}
