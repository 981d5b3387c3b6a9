//! `list_files` and `grep` (blocking; [`super::WorkspaceTools`] runs them on the blocking pool).
//!
//! `grep` searches each file with ripgrep's searcher (`grep-searcher`, `grep-regex`): lines
//! end at `\n` (`$` anchors there), and a file with a NUL byte is binary and skipped.
//!
//! Both walk the project with the `ignore` crate: `.gitignore`, `.git/info/exclude` and `.ignore`
//! files inside the project are respected (even when the project is not a git repository), the
//! user's global git excludes are not (so results do not depend on the machine), hidden files
//! are included, `.git` directories are skipped, and symlinks are not followed.

use std::io;
use std::ops::ControlFlow;
use std::path::Path;

use globset::{GlobBuilder, GlobMatcher};
use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder, Sink, SinkMatch};
use ignore::WalkBuilder;

use super::path::{ProjectRoot, ResolvedPath};
use super::text::{OUTPUT_CAP_BYTES, cut_chars};
use crate::error::ToolError;

/// Most paths `list_files` returns.
pub const LIST_MAX_ENTRIES: usize = 1000;
/// Most matching lines `grep` returns.
pub const GREP_MAX_MATCHES: usize = 500;
/// Longest matching line `grep` shows, in characters.
pub const GREP_MAX_LINE_CHARS: usize = 500;

fn compile_glob(pattern: &str) -> Result<GlobMatcher, ToolError> {
    let pattern = pattern.strip_prefix("./").unwrap_or(pattern);
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| ToolError::Failed(format!("invalid glob pattern `{pattern}`: {e}")))
}

/// Calls `visit` with every non-directory entry under `dir` (which lies inside the root), in
/// path order, honouring ignore files found from the project root down. The flag tells whether
/// the entry is a regular file (false for a symlink, which is listed but never opened).
fn walk_files(
    root: &ProjectRoot,
    dir: &Path,
    mut visit: impl FnMut(&Path, bool) -> ControlFlow<()>,
) {
    let dir_owned = dir.to_path_buf();
    let walker = WalkBuilder::new(root.path())
        .hidden(false)
        .parents(false)
        .git_global(false)
        .git_ignore(true)
        .git_exclude(true)
        .ignore(true)
        .require_git(false)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(move |entry| {
            let path = entry.path();
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            if is_dir && entry.file_name() == ".git" {
                return false;
            }
            // Keep the chain of directories leading to `dir`, and everything under it.
            path.starts_with(&dir_owned) || (is_dir && dir_owned.starts_with(path))
        })
        .build();
    for entry in walker.flatten() {
        let Some(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() || !entry.path().starts_with(dir) {
            continue;
        }
        if visit(entry.path(), kind.is_file()).is_break() {
            break;
        }
    }
}

fn require_dir(target: &ResolvedPath) -> Result<(), ToolError> {
    if !target.exists {
        return Err(ToolError::Failed(format!(
            "directory `{}` does not exist; omit path to search the whole project",
            target.rel
        )));
    }
    Ok(())
}

/// Lists files under `dir` whose path relative to `dir` matches `pattern`; output paths are
/// relative to the project root, sorted, at most [`LIST_MAX_ENTRIES`].
///
/// Errors: `dir` missing or not a directory, invalid glob.
pub(crate) fn list_files(
    root: &ProjectRoot,
    dir: &ResolvedPath,
    pattern: &str,
) -> Result<String, ToolError> {
    require_dir(dir)?;
    if !dir.abs.is_dir() {
        return Err(ToolError::Failed(format!(
            "`{}` is a file, not a directory; give a directory as path",
            dir.rel
        )));
    }
    let glob = compile_glob(pattern)?;
    let mut found = Vec::new();
    walk_files(root, &dir.abs, |path, _| {
        if let Ok(below) = path.strip_prefix(&dir.abs)
            && glob.is_match(below)
        {
            found.push(root.relative(path));
        }
        ControlFlow::Continue(())
    });
    if found.is_empty() {
        return Ok(format!("no files match `{pattern}` in `{}`", dir.rel));
    }
    found.sort();
    let total = found.len();
    let mut out = String::new();
    let mut shown = 0;
    for path in &found {
        if shown == LIST_MAX_ENTRIES || out.len() + path.len() + 1 > OUTPUT_CAP_BYTES {
            break;
        }
        out.push_str(path);
        out.push('\n');
        shown += 1;
    }
    if shown < total {
        out.push_str(&format!(
            "[showing the first {shown} of {total} matching paths; narrow the pattern or path]\n"
        ));
    }
    Ok(out)
}

/// What `grep` looks for and where.
pub(crate) struct GrepQuery<'a> {
    pub pattern: &'a str,
    pub glob: Option<&'a str>,
    pub case_insensitive: bool,
}

struct GrepState {
    out: String,
    matches: usize,
    cut: Option<&'static str>,
}

/// Collects one file's matching lines; they join the output only when the file turns out to
/// be text (a NUL byte anywhere the search reached makes it binary: ripgrep's rule for files
/// found by a walk).
struct FileSink<'a> {
    rel: &'a str,
    state: &'a GrepState,
    lines: String,
    count: usize,
    cut: Option<&'static str>,
    binary: bool,
}

impl Sink for FileSink<'_> {
    type Error = io::Error;

    fn matched(&mut self, _searcher: &Searcher, mat: &SinkMatch<'_>) -> Result<bool, io::Error> {
        if self.state.matches + self.count == GREP_MAX_MATCHES {
            self.cut = Some("the 500-match limit");
            return Ok(false);
        }
        let text = String::from_utf8_lossy(mat.bytes());
        let text = text.trim_end_matches('\n').trim_end_matches('\r');
        let entry = format!(
            "{}:{}:{}\n",
            self.rel,
            mat.line_number().unwrap_or(0),
            cut_chars(text, GREP_MAX_LINE_CHARS, "… [line cut]")
        );
        if self.state.out.len() + self.lines.len() + entry.len() > OUTPUT_CAP_BYTES {
            self.cut = Some("the 100 KiB output cap");
            return Ok(false);
        }
        self.lines.push_str(&entry);
        self.count += 1;
        Ok(true)
    }

    fn binary_data(&mut self, _searcher: &Searcher, _offset: u64) -> Result<bool, io::Error> {
        self.binary = true;
        Ok(false)
    }
}

/// Searches one file with ripgrep's searcher; skips it when it is binary or unreadable.
fn grep_one(
    root: &ProjectRoot,
    path: &Path,
    matcher: &RegexMatcher,
    searcher: &mut Searcher,
    state: &mut GrepState,
) -> ControlFlow<()> {
    let rel = root.relative(path);
    let mut sink = FileSink {
        rel: &rel,
        state,
        lines: String::new(),
        count: 0,
        cut: None,
        binary: false,
    };
    let searched = searcher.search_path(matcher, path, &mut sink);
    let (lines, count, cut, binary) = (sink.lines, sink.count, sink.cut, sink.binary);
    if searched.is_err() || binary {
        return ControlFlow::Continue(());
    }
    state.out.push_str(&lines);
    state.matches += count;
    match cut {
        Some(reason) => {
            state.cut = Some(reason);
            ControlFlow::Break(())
        }
        None => ControlFlow::Continue(()),
    }
}

/// Searches `target` (a file, or every non-ignored text file under a directory) for lines
/// matching the regex; returns `path:line:text` lines, at most [`GREP_MAX_MATCHES`].
///
/// Errors: `target` missing, invalid regex, invalid glob.
pub(crate) fn grep(
    root: &ProjectRoot,
    target: &ResolvedPath,
    query: &GrepQuery<'_>,
) -> Result<String, ToolError> {
    require_dir(target)?;
    let matcher = RegexMatcherBuilder::new()
        .case_insensitive(query.case_insensitive)
        .line_terminator(Some(b'\n'))
        .build(query.pattern)
        .map_err(|e| ToolError::Failed(format!("invalid regex `{}`: {e}", query.pattern)))?;
    let mut searcher = SearcherBuilder::new()
        .line_number(true)
        .binary_detection(BinaryDetection::quit(b'\0'))
        .bom_sniffing(false)
        .build();
    let filter = query
        .glob
        .map(|g| Ok::<_, ToolError>((compile_glob(g)?, g.contains('/'))))
        .transpose()?;
    let mut state = GrepState {
        out: String::new(),
        matches: 0,
        cut: None,
    };
    if target.abs.is_file() {
        let _ = grep_one(root, &target.abs, &matcher, &mut searcher, &mut state);
    } else {
        walk_files(root, &target.abs, |path, is_file| {
            if !is_file {
                return ControlFlow::Continue(());
            }
            if let Some((glob, by_path)) = &filter {
                let subject = if *by_path {
                    path.strip_prefix(&target.abs).unwrap_or(path)
                } else {
                    Path::new(path.file_name().unwrap_or_default())
                };
                if !glob.is_match(subject) {
                    return ControlFlow::Continue(());
                }
            }
            grep_one(root, path, &matcher, &mut searcher, &mut state)
        });
    }
    if state.matches == 0 {
        return Ok(format!(
            "no matches for `{}` in `{}`",
            query.pattern, target.rel
        ));
    }
    if let Some(reason) = state.cut {
        state.out.push_str(&format!(
            "[output cut by {reason} after {} matches; narrow the pattern, path or glob]\n",
            state.matches
        ));
    }
    Ok(state.out)
}
