//! Findings as the review workflows keep them: built from a member's raw answer, shown to the
//! others as JSON, and merged when two name the same issue (as they are added, and in the
//! groups the lead's synthesis names).

use serde_json::json;

use team_report::{Finding, RawFinding, Severity};

pub(crate) fn finding_json(f: &Finding) -> serde_json::Value {
    json!({"id": f.id, "severity": f.severity.as_str(), "location": f.location, "finding": f.finding, "suggestion": f.suggestion, "raised_by": f.raised_by})
}

pub(crate) fn to_finding(raw: &RawFinding, raised_by: &str, phase: &str) -> Finding {
    Finding {
        id: String::new(),
        severity: Severity::parse(&raw.severity).unwrap_or(Severity::Minor),
        location: raw.location.trim().to_owned(),
        finding: raw.finding.trim().to_owned(),
        suggestion: raw.suggestion.trim().to_owned(),
        raised_by: raised_by.to_owned(),
        also_raised_by: Vec::new(),
        merged: Vec::new(),
        phase: phase.to_owned(),
        agreed_by: Vec::new(),
        disputed_by: Vec::new(),
    }
}

/// Lower-case words of `text` (letters and digits), one space apart: the key under which two
/// findings are the same issue.
fn normalised(text: &str) -> String {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Adds `f` to `findings`, or merges it into the finding with the same location and text
/// (normalised, [`normalised`]): its raiser joins `also_raised_by` and the worse severity
/// is kept. Returns whether it was merged.
pub(crate) fn merge_into(findings: &mut Vec<Finding>, f: Finding) -> bool {
    let key = (normalised(&f.location), normalised(&f.finding));
    if let Some(same) = findings
        .iter_mut()
        .find(|g| (normalised(&g.location), normalised(&g.finding)) == key)
    {
        if !same.raised(&f.raised_by) {
            same.also_raised_by.push(f.raised_by);
        }
        same.severity = same.severity.min(f.severity);
        return true;
    }
    findings.push(f);
    false
}

/// Applies the merges the lead proposed: each group of ids becomes the finding with the lowest
/// id among them, with every raiser, verdict and the worse severity; unknown ids and groups of
/// fewer than two known findings are ignored.
pub(crate) fn merge_groups(findings: &mut Vec<Finding>, groups: &[Vec<String>]) {
    for group in groups {
        let mut ids: Vec<String> = group
            .iter()
            .map(|id| id.trim().to_owned())
            .filter(|id| findings.iter().any(|f| &f.id == id))
            .collect();
        ids.sort_by_key(|id| id_num(id));
        ids.dedup();
        let Some((keep, rest)) = ids.split_first() else {
            continue;
        };
        for id in rest {
            let Some(pos) = findings.iter().position(|f| &f.id == id) else {
                continue;
            };
            let gone = findings.remove(pos);
            let Some(into) = findings.iter_mut().find(|f| &f.id == keep) else {
                continue;
            };
            for who in std::iter::once(gone.raised_by).chain(gone.also_raised_by) {
                if !into.raised(&who) {
                    into.also_raised_by.push(who);
                }
            }
            for v in gone.agreed_by {
                if !into.agreed_by.iter().any(|a| a.member == v.member) {
                    into.agreed_by.push(v);
                }
            }
            for v in gone.disputed_by {
                if !into.disputed_by.iter().any(|a| a.member == v.member) {
                    into.disputed_by.push(v);
                }
            }
            into.severity = into.severity.min(gone.severity);
            into.merged.push(id.clone());
            into.merged.extend(gone.merged);
        }
    }
    findings.sort_by(|a, b| {
        a.severity
            .cmp(&b.severity)
            .then_with(|| id_num(&a.id).cmp(&id_num(&b.id)))
    });
}

/// The number after the highest `F<n>` id in `findings`.
pub(crate) fn next_id(findings: &[Finding]) -> u64 {
    findings
        .iter()
        .map(|f| id_num(&f.id))
        .filter(|n| *n != u64::MAX)
        .max()
        .unwrap_or(0)
        + 1
}

pub(crate) fn id_num(id: &str) -> u64 {
    id.trim_start_matches('F').parse().unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use team_report::{RawFinding, Severity, Verdict};

    fn raw(severity: &str, location: &str, finding: &str) -> RawFinding {
        RawFinding {
            severity: severity.into(),
            location: location.into(),
            finding: finding.into(),
            suggestion: String::new(),
        }
    }

    #[test]
    fn the_same_issue_is_merged_with_every_raiser_and_the_worse_severity() {
        let mut all = Vec::new();
        assert!(!merge_into(
            &mut all,
            to_finding(&raw("minor", "§ 3", "No expiry."), "a", "review")
        ));
        assert!(merge_into(
            &mut all,
            to_finding(&raw("major", "§3", "no  EXPIRY"), "b", "review")
        ));
        // The same member twice: one raiser.
        assert!(merge_into(
            &mut all,
            to_finding(&raw("nit", "§ 3", "No expiry!"), "b", "review")
        ));
        assert!(!merge_into(
            &mut all,
            to_finding(&raw("nit", "§ 4", "No expiry."), "c", "review")
        ));
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].also_raised_by, ["b"]);
        assert_eq!(all[0].severity, Severity::Major);
    }

    #[test]
    fn the_leads_merges_keep_the_lowest_id_and_ignore_unknown_ones() {
        let mut all: Vec<Finding> = ["x", "y", "z"]
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut f = to_finding(&raw("minor", "", t), &format!("m{i}"), "review");
                f.id = format!("F{}", i + 1);
                f
            })
            .collect();
        all[2].severity = Severity::Blocker;
        all[2].agreed_by.push(Verdict {
            member: "m0".into(),
            reason: "yes".into(),
        });
        merge_groups(
            &mut all,
            &[
                vec!["F3".into(), "F2".into()],
                vec!["F1".into(), "F7".into()],
            ],
        );
        let ids: Vec<&str> = all.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["F2", "F1"], "F2 took F3's blocker severity");
        assert_eq!(all[0].merged, ["F3"]);
        assert_eq!(all[0].also_raised_by, ["m2"]);
        assert_eq!(all[0].agreed_by[0].member, "m0");
        assert!(all[1].merged.is_empty());
    }
}
