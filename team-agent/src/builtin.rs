//! Built-in agents, compiled into the binary: the spec-review specialists and their lead.
//! A file of the same name in `.team/agents/` (or `.opencode/`, `.claude/`) overrides one.

use std::path::PathBuf;

use super::{AgentCatalog, AgentDef, AgentSource, SourceKind};

/// `(name, Markdown)` of every built-in agent.
pub const BUILTIN_AGENTS: &[(&str, &str)] = &[
    ("architecture", include_str!("builtin/architecture.md")),
    ("security", include_str!("builtin/security.md")),
    ("reliability", include_str!("builtin/reliability.md")),
    ("testing", include_str!("builtin/testing.md")),
    ("api-usability", include_str!("builtin/api-usability.md")),
    ("spec-lead", include_str!("builtin/spec-lead.md")),
    ("fixer", include_str!("builtin/fixer.md")),
];

/// Adds the built-in agents to `catalog` at the lowest precedence.
pub fn add_builtins(catalog: &mut AgentCatalog) {
    for (name, text) in BUILTIN_AGENTS {
        let source = AgentSource {
            kind: SourceKind::Builtin,
            path: PathBuf::from(format!("builtin/{name}.md")),
        };
        // Built-ins are tested to parse; a failure here is a build defect, never user input.
        if let Ok(mut def) = AgentDef::from_markdown(text, source) {
            def.name = (*name).to_owned();
            catalog.insert_builtin(def);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_and_is_listed() {
        for (name, text) in BUILTIN_AGENTS {
            let source = AgentSource {
                kind: SourceKind::Builtin,
                path: PathBuf::from(format!("builtin/{name}.md")),
            };
            AgentDef::from_markdown(text, source).unwrap();
        }
        let mut c = AgentCatalog::new();
        add_builtins(&mut c);
        assert_eq!(c.len(), BUILTIN_AGENTS.len());
        assert!(c.get("security").is_ok());
    }
}
