//! Output caps and text cutting shared by the tools.

use std::borrow::Cow;

/// Largest output (bytes) `read_file`, `list_files` and `grep` return: 100 KiB.
pub const OUTPUT_CAP_BYTES: usize = 100 * 1024;

/// Cuts `text` to at most `max_chars` characters, appending `marker` when it was cut.
pub(crate) fn cut_chars<'a>(text: &'a str, max_chars: usize, marker: &str) -> Cow<'a, str> {
    match text.char_indices().nth(max_chars) {
        None => Cow::Borrowed(text),
        Some((at, _)) => Cow::Owned(format!("{}{marker}", &text[..at])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_chars_counts_characters_not_bytes() {
        assert_eq!(cut_chars("héllo", 10, "…"), "héllo");
        assert_eq!(cut_chars("héllo", 2, "…"), "hé…");
    }
}
