//! `read_file`, `write_file` and `edit_file` (blocking; the registry runs them on the blocking
//! pool).

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::beneath;
use super::path::ResolvedPath;
use super::text::{OUTPUT_CAP_BYTES, cut_chars};
use crate::error::ToolError;

/// Default number of lines `read_file` returns.
pub const READ_DEFAULT_LIMIT: u64 = 2000;
/// Longest line `read_file` shows, in characters; longer lines are cut with a marker.
pub const READ_MAX_LINE_CHARS: usize = 2000;

/// Bytes looked at to decide that a file is binary (it has a NUL byte among them).
const BINARY_SNIFF_BYTES: usize = 8192;

fn missing(rel: &str) -> ToolError {
    ToolError::Failed(format!(
        "file `{rel}` does not exist; use list_files to find the right path"
    ))
}

/// Opens the checked file for reading, beneath `root`, following no symlink (see
/// [`beneath`]).
fn open_regular_file(root: &Path, target: &ResolvedPath) -> Result<fs::File, ToolError> {
    if !target.exists {
        return Err(missing(&target.rel));
    }
    let is_dir = |rel: &str| {
        ToolError::Failed(format!(
            "`{rel}` is a directory, not a file; use list_files to see what it holds"
        ))
    };
    if target.rel == "." {
        return Err(is_dir(&target.rel));
    }
    let file =
        beneath::open_read(root, &target.rel).map_err(|e| ToolError::io("open", &target.rel, e))?;
    let meta = file
        .metadata()
        .map_err(|e| ToolError::io("inspect", &target.rel, e))?;
    if meta.is_dir() {
        return Err(is_dir(&target.rel));
    }
    Ok(file)
}

/// Reads lines `offset..offset+limit` (1-based; 0 counts as 1) of a text file, numbered.
///
/// Errors: a missing file, a directory, a binary file, an offset past the end, I/O errors.
pub(crate) fn read_file(
    root: &Path,
    target: &ResolvedPath,
    offset: Option<u64>,
    limit: Option<u64>,
) -> Result<String, ToolError> {
    let file = open_regular_file(root, target)?;
    let rel = &target.rel;
    let first = offset.unwrap_or(1).max(1);
    let limit = limit.unwrap_or(READ_DEFAULT_LIMIT).max(1);
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let head = reader
        .fill_buf()
        .map_err(|e| ToolError::io("read", rel, e))?;
    if head.is_empty() {
        return Ok(format!("(`{rel}` is empty)"));
    }
    if head[..head.len().min(BINARY_SNIFF_BYTES)].contains(&0) {
        return Err(ToolError::Failed(format!(
            "`{rel}` looks like a binary file (it contains NUL bytes); read_file only shows text"
        )));
    }

    let mut out = String::new();
    let mut line = Vec::new();
    let mut number: u64 = 0;
    let mut shown: u64 = 0;
    let mut cut_reason: Option<&str> = None;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| ToolError::io("read", rel, e))?;
        if n == 0 {
            break;
        }
        number += 1;
        if number < first {
            continue;
        }
        if shown == limit {
            cut_reason = Some("line limit");
            break;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches('\n').trim_end_matches('\r');
        let text = cut_chars(text, READ_MAX_LINE_CHARS, "… [line cut]");
        let entry = format!("{number:>6}\t{text}\n");
        if out.len() + entry.len() > OUTPUT_CAP_BYTES && shown > 0 {
            cut_reason = Some("100 KiB output cap");
            break;
        }
        out.push_str(&entry);
        shown += 1;
    }
    if shown == 0 {
        return Err(ToolError::Failed(format!(
            "offset {first} is past the end of `{rel}`, which has {number} lines"
        )));
    }
    if let Some(reason) = cut_reason {
        let last = first + shown - 1;
        out.push_str(&format!(
            "[output cut by the {reason}: showing lines {first}-{last}; more lines follow, \
             continue with offset={}]\n",
            last + 1
        ));
    }
    Ok(out)
}

/// Writes `bytes` to the checked path atomically, following no symlink (see
/// [`beneath::atomic_write`]). Keeps an existing file's permission bits; a new file gets 0644.
fn atomic_write(root: &Path, rel: &str, bytes: &[u8]) -> Result<(), ToolError> {
    beneath::atomic_write(root, rel, bytes).map_err(|e| ToolError::io("write", rel, e))
}

/// Creates or replaces a file with `content`, creating parent directories.
///
/// Errors: the target is a directory, I/O errors.
pub(crate) fn write_file(
    root: &Path,
    target: &ResolvedPath,
    content: &str,
) -> Result<String, ToolError> {
    let rel = &target.rel;
    if target.exists && (rel == "." || target.abs.is_dir()) {
        return Err(ToolError::Failed(format!(
            "`{rel}` is a directory; give the path of a file inside it"
        )));
    }
    atomic_write(root, rel, content.as_bytes())?;
    let what = if target.exists {
        "replaced the existing file"
    } else {
        "created a new file"
    };
    Ok(format!("wrote {} bytes to `{rel}` ({what})", content.len()))
}

/// Replaces `old` by `new` in a text file: exactly one occurrence, or all with `replace_all`.
///
/// Errors: `old` empty or equal to `new`, file missing or not UTF-8, `old` not found, `old`
/// found more than once without `replace_all` (the count is given), I/O errors.
pub(crate) fn edit_file(
    root: &Path,
    target: &ResolvedPath,
    old: &str,
    new: &str,
    replace_all: bool,
) -> Result<String, ToolError> {
    let rel = &target.rel;
    if old.is_empty() {
        return Err(ToolError::Failed(
            "old_string is empty; give the exact text to replace, or use write_file to write a \
             whole file"
                .to_string(),
        ));
    }
    if old == new {
        return Err(ToolError::Failed(
            "old_string and new_string are identical, so the edit would change nothing".to_string(),
        ));
    }
    let mut bytes = Vec::new();
    open_regular_file(root, target)?
        .read_to_end(&mut bytes)
        .map_err(|e| ToolError::io("read", rel, e))?;
    let content = String::from_utf8(bytes).map_err(|_| {
        ToolError::Failed(format!(
            "`{rel}` is not valid UTF-8 text; edit_file only edits text files (use write_file \
             or bash instead)"
        ))
    })?;
    let count = content.matches(old).count();
    if count == 0 {
        return Err(ToolError::Failed(format!(
            "old_string was not found in `{rel}`; read the file again and copy the text exactly, \
             whitespace and indentation included"
        )));
    }
    if count > 1 && !replace_all {
        return Err(ToolError::Failed(format!(
            "old_string occurs {count} times in `{rel}`; include more surrounding text to make it \
             unique, or set replace_all to true to replace all {count}"
        )));
    }
    let updated = if replace_all {
        content.replace(old, new)
    } else {
        content.replacen(old, new, 1)
    };
    atomic_write(root, rel, updated.as_bytes())?;
    let noun = if count == 1 {
        "occurrence"
    } else {
        "occurrences"
    };
    Ok(format!("replaced {count} {noun} in `{rel}`"))
}
