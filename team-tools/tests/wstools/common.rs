//! Shared test helpers.
#![allow(dead_code)]

use std::fs;
use std::path::Path;

use team_tools::WorkspaceTools;
use team_tools::permission::PermissionChecker;

/// A temporary project directory.
pub fn project() -> tempfile::TempDir {
    tempfile::tempdir().expect("create temp project dir")
}

/// Tools on `root` that allow everything.
pub fn open_tools(root: &Path) -> WorkspaceTools {
    WorkspaceTools::new(root, PermissionChecker::allow_all("tester")).expect("tools on temp dir")
}

/// Writes `content` to `root/rel`, creating parents.
pub fn put(root: &Path, rel: &str, content: &str) {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create parents");
    }
    fs::write(path, content).expect("write test file");
}

/// The JSON text of `value`.
pub fn args(value: serde_json::Value) -> String {
    value.to_string()
}

/// The error text of a failed call (panics with the output when it succeeded).
pub fn err_text(result: Result<String, team_tools::ToolError>) -> String {
    match result {
        Ok(out) => panic!("expected an error, got output:\n{out}"),
        Err(e) => e.to_string(),
    }
}

/// The output of a successful call (panics with the error otherwise).
pub fn ok_text(result: Result<String, team_tools::ToolError>) -> String {
    match result {
        Ok(out) => out,
        Err(e) => panic!("expected success, got error: {e}"),
    }
}
