//! The parsers `team` runs on files a user (or an agent) may write, each as a function that
//! takes arbitrary bytes and must return without panicking, whatever they hold: agent files
//! ([`agent_file`]), configuration ([`config`]), workflows ([`workflow`]) and cassettes
//! ([`cassette`]). Used by the libFuzzer targets in `fuzz_targets/` and by the stable
//! fallback `stable-fuzz` (see README.md).

use std::path::{Path, PathBuf};

use team_agent::{AgentDef, AgentSource, SourceKind};
use team_agent::config::Config;
use team_provider::Cassette;

/// The targets, by name.
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("agent_file", agent_file),
    ("config", config),
    ("workflow", workflow),
    ("cassette", cassette),
];

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// An agent file (`.team/agents/fuzz.md`): `AgentDef::from_markdown`, then what a runner
/// asks of a parsed agent (its kind).
pub fn agent_file(data: &[u8]) {
    let source = AgentSource {
        kind: SourceKind::Team,
        path: PathBuf::from("/p/.team/agents/fuzz.md"),
    };
    if let Ok(def) = AgentDef::from_markdown(&text(data), source) {
        let _ = def.kind();
    }
}

/// A `config.toml` as the only layer: `Config::from_toml_str`.
pub fn config(data: &[u8]) {
    let _ = Config::from_toml_str(&text(data), Path::new("/p/.team/config.toml"));
}

/// A project workflow file `.team/workflows/fuzz.toml`, found by name (the project file
/// overrides nothing bundled: `fuzz` is not a bundled name).
pub fn workflow(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else { return };
    let wf = dir.path().join(".team/workflows");
    if std::fs::create_dir_all(&wf).is_err() || std::fs::write(wf.join("fuzz.toml"), data).is_err()
    {
        return;
    }
    let _ = team_runner::workflow::find(dir.path(), "fuzz");
    let _ = team_runner::workflow::list(dir.path());
}

/// A JSON Lines cassette: `Cassette::load`.
pub fn cassette(data: &[u8]) {
    let Ok(mut file) = tempfile::NamedTempFile::new() else { return };
    if std::io::Write::write_all(&mut file, data).is_err() {
        return;
    }
    let _ = Cassette::load(file.path());
}
