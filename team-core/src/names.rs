//! Names a person types: team, member and agent names, and member-name disambiguation.
//!
//! All three share one syntax: 1 to 64 characters from `A-Z a-z 0-9 _ . -`, starting with a
//! letter or digit. That keeps them safe in a shell, a file name and a URL without quoting.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{ALL_ALIAS, LEAD_ALIAS};

/// Longest name accepted, in characters (all ASCII, so also bytes).
pub const MAX_NAME_LEN: usize = 64;

/// A name that breaks the syntax rule; the message says which rule and shows the name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} name `{name}`: {reason}")]
pub struct InvalidName {
    /// `team`, `member` or `agent`.
    pub kind: &'static str,
    /// The rejected input (cut to 80 characters).
    pub name: String,
    /// Which rule it breaks.
    pub reason: &'static str,
}

fn check(kind: &'static str, name: &str) -> Result<(), InvalidName> {
    let fail = |reason| InvalidName {
        kind,
        name: name.chars().take(80).collect(),
        reason,
    };
    let first = name.chars().next().ok_or_else(|| fail("it is empty"))?;
    if name.len() > MAX_NAME_LEN {
        return Err(fail("it is longer than 64 characters"));
    }
    if !first.is_ascii_alphanumeric() {
        return Err(fail("it must start with a letter or a digit"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(fail("use only letters, digits, `_`, `.` and `-`"));
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps a name.
            ///
            /// # Errors
            /// [`InvalidName`] when `s` breaks the syntax rule of this module.
            pub fn new(s: impl Into<String>) -> Result<Self, InvalidName> {
                let s = s.into();
                check($kind, &s)?;
                Ok(Self(s))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidName;
            fn try_from(s: String) -> Result<Self, InvalidName> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

name_type!(
    /// A team's name: unique among active teams (a disbanded team's name can be reused).
    TeamName,
    "team"
);
name_type!(
    /// A member's name: unique within its team for the team's whole life. The lead is always
    /// `lead`; other members are named after their agent and disambiguated (`reviewer`,
    /// `reviewer-2`).
    MemberName,
    "member"
);
name_type!(
    /// An agent definition's name (the file stem of `.team/agents/NAME.md` or its `name` field).
    AgentName,
    "agent"
);

/// Names no member other than the lead may take: `lead` (the alias of the team's lead in every
/// command) and `all` (the broadcast recipient).
pub const RESERVED_MEMBER_NAMES: &[&str] = &[LEAD_ALIAS, ALL_ALIAS];

/// The member name for a new member of agent `base`, given the names already `taken` in the
/// team: `base` itself when free, else the first free `base-2`, `base-3`, … (the convention of
/// opencode PR #18753). Reserved names ([`RESERVED_MEMBER_NAMES`]) count as taken.
///
/// When `base` is 64 characters long the numeric suffix would overflow the name limit, so the
/// base is shortened (on a character boundary; names are ASCII) to make room for it.
pub fn disambiguate<'a>(base: &AgentName, taken: impl IntoIterator<Item = &'a str>) -> MemberName {
    NameAllocator::new(taken.into_iter().map(str::to_owned)).allocate(base)
}

/// Names several members in a row, as [`disambiguate`] called for each with every name given
/// so far added to `taken`, in O(1) per name instead of O(names taken): a batch of 1 000
/// members of one agent cost 500 000 candidate names with a fresh [`disambiguate`] per member.
///
/// It remembers, per base, the lowest suffix not known to be taken; names are only ever added,
/// so every candidate below it stays taken.
#[derive(Debug, Clone)]
pub struct NameAllocator {
    taken: HashSet<String>,
    /// Base → the lowest suffix (≥ 2) not yet known to be taken.
    next: HashMap<String, u32>,
}

impl NameAllocator {
    /// An allocator over the names already taken in the team (reserved names are always
    /// taken).
    pub fn new(taken: impl IntoIterator<Item = String>) -> Self {
        let mut taken: HashSet<String> = taken.into_iter().collect();
        taken.extend(RESERVED_MEMBER_NAMES.iter().map(|s| (*s).to_owned()));
        Self {
            taken,
            next: HashMap::new(),
        }
    }

    /// The name [`disambiguate`] gives `base` now; it is taken from then on.
    pub fn allocate(&mut self, base: &AgentName) -> MemberName {
        let base = base.as_str();
        if !self.taken.contains(base) {
            self.taken.insert(base.to_owned());
            return MemberName(base.to_owned());
        }
        // With n names taken, one of the n + 1 candidates 2..=n+2 is always free.
        let mut n = self.next.get(base).copied().unwrap_or(2);
        loop {
            let suffix = format!("-{n}");
            let keep = base.len().min(MAX_NAME_LEN - suffix.len());
            let candidate = format!("{}{}", &base[..keep], suffix);
            if self.taken.insert(candidate.clone()) {
                self.next.insert(base.to_owned(), n + 1);
                return MemberName(candidate);
            }
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // One allocator names a batch exactly as a fresh `disambiguate` per member does: the
        // remembered next suffix never skips a free name.
        #[test]
        fn allocator_matches_disambiguate(
            taken in proptest::collection::vec("(a|b|lead|a-[2-6]|b-[2-4])", 0..8),
            bases in proptest::collection::vec("(a|b|lead-x)", 1..12),
        ) {
            let mut alloc = NameAllocator::new(taken.iter().cloned());
            let mut names: Vec<String> = taken.clone();
            for base in &bases {
                let base = agent(base);
                let one = disambiguate(&base, names.iter().map(String::as_str));
                let got = alloc.allocate(&base);
                prop_assert_eq!(got.as_str(), one.as_str());
                names.push(one.as_str().to_owned());
            }
        }
    }

    fn agent(s: &str) -> AgentName {
        AgentName::new(s).unwrap()
    }

    #[test]
    fn first_member_keeps_the_agent_name_then_numbers_from_two() {
        let a = agent("reviewer");
        assert_eq!(disambiguate(&a, []).as_str(), "reviewer");
        assert_eq!(disambiguate(&a, ["reviewer"]).as_str(), "reviewer-2");
        assert_eq!(
            disambiguate(&a, ["reviewer", "reviewer-2"]).as_str(),
            "reviewer-3"
        );
        // A gap is filled: names are never reused only while they are taken.
        assert_eq!(
            disambiguate(&a, ["reviewer", "reviewer-3"]).as_str(),
            "reviewer-2"
        );
    }

    #[test]
    fn reserved_names_are_never_given_to_members() {
        assert_eq!(disambiguate(&agent("lead"), []).as_str(), "lead-2");
        assert_eq!(disambiguate(&agent("all"), []).as_str(), "all-2");
    }

    #[test]
    fn syntax_errors_say_why() {
        let e = TeamName::new("").unwrap_err();
        assert_eq!(e.to_string(), "invalid team name ``: it is empty");
        assert!(TeamName::new("-x").is_err());
        assert!(
            TeamName::new("a b")
                .unwrap_err()
                .to_string()
                .contains("only letters")
        );
        assert!(TeamName::new("x".repeat(65)).is_err());
        assert!(TeamName::new("spec-review.v2_1").is_ok());
        assert!(MemberName::new("rëviewer").is_err());
    }

    #[test]
    fn serde_validates() {
        assert!(serde_json::from_str::<TeamName>("\"ok\"").is_ok());
        assert!(serde_json::from_str::<TeamName>("\"not ok\"").is_err());
    }

    proptest! {
        /// The chosen name is valid, not taken, derived from the base, and the smallest free one.
        #[test]
        fn disambiguation_is_fresh_and_minimal(
            base in "[a-z][a-z0-9-]{0,63}",
            suffixes in proptest::collection::vec(0u32..12, 0..12),
        ) {
            let base = agent(&base);
            let mut taken: Vec<String> = suffixes.iter().map(|n| match n {
                0 | 1 => base.as_str().to_owned(),
                n => {
                    let s = format!("-{n}");
                    let keep = base.as_str().len().min(MAX_NAME_LEN - s.len());
                    format!("{}{}", &base.as_str()[..keep], s)
                }
            }).collect();
            taken.sort();
            taken.dedup();
            let got = disambiguate(&base, taken.iter().map(String::as_str));
            prop_assert!(MemberName::new(got.as_str()).is_ok());
            prop_assert!(!taken.iter().any(|t| t == got.as_str()));
            prop_assert!(!RESERVED_MEMBER_NAMES.contains(&got.as_str()));
            let stem: String = base.as_str().chars().take(10).collect();
            prop_assert!(got.as_str().starts_with(&stem));
            // Minimal: every smaller candidate is taken.
            if got.as_str() != base.as_str() {
                prop_assert!(taken.iter().any(|t| t == base.as_str()) || RESERVED_MEMBER_NAMES.contains(&base.as_str()));
                let n: u32 = got.as_str().rsplit('-').next().unwrap().parse().unwrap();
                for k in 2..n {
                    let s = format!("-{k}");
                    let keep = base.as_str().len().min(MAX_NAME_LEN - s.len());
                    let c = format!("{}{}", &base.as_str()[..keep], s);
                    prop_assert!(taken.contains(&c), "{} was free", c);
                }
            }
        }

        /// Repeatedly adding members of one agent never yields a duplicate.
        #[test]
        fn repeated_adds_are_all_distinct(base in "[a-z]{1,64}", n in 1usize..60) {
            let base = agent(&base);
            let mut names: Vec<String> = Vec::new();
            for _ in 0..n {
                let next = disambiguate(&base, names.iter().map(String::as_str));
                names.push(next.into());
            }
            let unique: HashSet<_> = names.iter().collect();
            prop_assert_eq!(unique.len(), n);
        }
    }
}
