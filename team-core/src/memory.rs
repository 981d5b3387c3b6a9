//! Agent memory: the cap and the truncation rule.
//!
//! Each agent keeps one memory text per project (keyed by agent name and project root). It is
//! injected into the agent's system prompt, so it is capped: [`MEMORY_CAP_BYTES`] = 100 KiB
//! (102,400 bytes, the cap of opencode PR #18753). When a write or an append would exceed it, the
//! oldest content is dropped and the newest kept, cut on a UTF-8 character boundary so the stored
//! text is always valid UTF-8.

/// The memory cap in bytes: 100 KiB = 102,400 bytes.
pub const MEMORY_CAP_BYTES: usize = 100 * 1024;

/// The result of fitting a text under a cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncated<'a> {
    /// The newest part of the text, at most `cap` bytes, starting on a character boundary.
    pub kept: &'a str,
    /// How many bytes of the oldest content were dropped (0 when the text fit).
    pub cut_bytes: usize,
}

/// Keeps the newest `cap` bytes of `text` at most, starting on a UTF-8 character boundary (so
/// the kept part may be up to 3 bytes shorter than `cap`).
pub fn truncate_to_newest(text: &str, cap: usize) -> Truncated<'_> {
    if text.len() <= cap {
        return Truncated {
            kept: text,
            cut_bytes: 0,
        };
    }
    let mut start = text.len() - cap;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    Truncated {
        kept: &text[start..],
        cut_bytes: start,
    }
}

/// The memory after appending `addition` to `existing`, capped at `cap` bytes: a newline is put
/// between the two when `existing` is non-empty and does not end with one. Returns the new text
/// and how many bytes of the oldest content were cut.
pub fn append(existing: &str, addition: &str, cap: usize) -> (String, usize) {
    let mut joined = String::with_capacity(existing.len() + addition.len() + 1);
    joined.push_str(existing);
    if !existing.is_empty() && !existing.ends_with('\n') && !addition.is_empty() {
        joined.push('\n');
    }
    joined.push_str(addition);
    let t = truncate_to_newest(&joined, cap);
    if t.cut_bytes == 0 {
        (joined, 0)
    } else {
        (t.kept.to_owned(), t.cut_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_text_is_untouched() {
        let t = truncate_to_newest("hello", 10);
        assert_eq!(
            t,
            Truncated {
                kept: "hello",
                cut_bytes: 0
            }
        );
    }

    #[test]
    fn keeps_the_newest_part_on_a_char_boundary() {
        // "é" is two bytes; a cut in its middle moves forward past it.
        let t = truncate_to_newest("aéb", 2);
        assert_eq!(t.kept, "b");
        assert_eq!(t.cut_bytes, 3);
        let t = truncate_to_newest("abc€", 4);
        assert_eq!(t.kept, "c€");
    }

    #[test]
    fn append_adds_a_separator_and_caps() {
        assert_eq!(append("a", "b", 100), ("a\nb".to_owned(), 0));
        assert_eq!(append("a\n", "b", 100), ("a\nb".to_owned(), 0));
        assert_eq!(append("", "b", 100), ("b".to_owned(), 0));
        let (text, cut) = append(&"x".repeat(MEMORY_CAP_BYTES), "new", MEMORY_CAP_BYTES);
        assert_eq!(text.len(), MEMORY_CAP_BYTES);
        assert!(text.ends_with("\nnew"));
        assert_eq!(cut, 4);
    }

    proptest! {
        /// Truncation keeps a suffix of the text, within the cap, losing at most 3 bytes more
        /// than needed, and reports exactly what it cut.
        #[test]
        fn truncation_keeps_a_valid_suffix(text in "\\PC{0,300}", cap in 0usize..400) {
            let t = truncate_to_newest(&text, cap);
            prop_assert!(t.kept.len() <= cap);
            prop_assert!(text.ends_with(t.kept));
            prop_assert_eq!(t.cut_bytes + t.kept.len(), text.len());
            if text.len() > cap {
                prop_assert!(cap - t.kept.len() <= 3);
            } else {
                prop_assert_eq!(t.cut_bytes, 0);
            }
        }

        /// Appends never exceed the cap and always keep the whole addition when it fits.
        #[test]
        fn appends_stay_under_the_cap(parts in proptest::collection::vec("\\PC{0,80}", 0..20), cap in 1usize..200) {
            let mut mem = String::new();
            for p in &parts {
                let (next, _) = append(&mem, p, cap);
                prop_assert!(next.len() <= cap);
                if p.len() <= cap.saturating_sub(1) {
                    prop_assert!(next.ends_with(p.as_str()));
                }
                mem = next;
            }
        }
    }
}
