//! The fingerprint of the environment agents run with.
//!
//! A detached runner keeps the environment of the shell that started it. A member spawned
//! later from a shell with another provider environment (another base URL, API key or `PATH`)
//! must not silently run with the runner's old one (issue 14). So `team spawn --background`
//! stores with the member a fingerprint of its own environment, every runner registers with
//! the fingerprint of its environment, a runner claims only members whose fingerprint is its
//! own (or who have none), and a spawn whose fingerprint no live runner has starts a runner
//! of its own (`team-cli`).
//!
//! The fingerprint is an HMAC-SHA256, keyed with the database URL, of the variables that
//! decide how agents run ([`relevant`]), cut to 128 bits: it tells environments apart without
//! holding or revealing a value (a secret never reaches the database).

use std::ffi::OsString;

/// Variables that are part of the fingerprint by their exact name.
pub const FINGERPRINT_VARS: &[&str] = &["PATH", "TEAM_MODEL"];

/// Name prefixes of provider variables that are part of the fingerprint.
pub const FINGERPRINT_PREFIXES: &[&str] =
    &["OPENAI_", "ANTHROPIC_", "OLLAMA_", "OPENROUTER_", "GROQ_"];

/// Name suffixes of variables that are part of the fingerprint (any provider's key or URL).
pub const FINGERPRINT_SUFFIXES: &[&str] = &["_API_KEY", "_BASE_URL", "_API_BASE"];

/// True when variable `name` is part of the fingerprint.
pub fn relevant(name: &str) -> bool {
    FINGERPRINT_VARS.contains(&name)
        || FINGERPRINT_PREFIXES.iter().any(|p| name.starts_with(p))
        || FINGERPRINT_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// The fingerprint of `vars` (name, value pairs; the irrelevant ones are skipped), keyed with
/// `key` (the database URL): `v1:` and 32 hex digits.
pub fn fingerprint_of(key: &str, vars: impl IntoIterator<Item = (OsString, OsString)>) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut picked: Vec<(OsString, OsString)> = vars
        .into_iter()
        .filter(|(n, _)| n.to_str().is_some_and(relevant))
        .collect();
    picked.sort();
    let hmac_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
    let mut ctx = ring::hmac::Context::with_key(&hmac_key);
    for (n, v) in &picked {
        ctx.update(n.as_bytes());
        ctx.update(b"=");
        ctx.update(v.as_bytes());
        ctx.update(b"\0");
    }
    let tag = ctx.sign();
    let hex: String = tag.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("v1:{hex}")
}

/// The fingerprint of this process's environment, keyed with `key` (the database URL,
/// through [`database_key`]).
pub fn env_fingerprint(key: &str) -> String {
    fingerprint_of(&database_key(key), std::env::vars_os())
}

/// The part of a database URL that names the database, not the way to it: a PostgreSQL URL
/// without its user, password, host and port (`postgres:///team?options=…`), anything else
/// as it is. Runners on several machines reach one database by other host names (a
/// machine's own DNS, a proxy, a pooler: README, "Running on several machines"), and a
/// member spawned on one must be claimable on the others: their fingerprints must agree.
pub fn database_key(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    if !matches!(scheme, "postgres" | "postgresql") {
        return url.to_owned();
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    format!("postgres://{}", &rest[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(v: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        v.iter().map(|(n, x)| ((*n).into(), (*x).into())).collect()
    }

    #[test]
    fn relevant_variables_change_it_and_others_do_not() {
        let base = fingerprint_of("db", vars(&[("PATH", "/bin"), ("OPENAI_API_KEY", "k1")]));
        assert_eq!(
            base,
            fingerprint_of(
                "db",
                vars(&[("OPENAI_API_KEY", "k1"), ("PATH", "/bin"), ("TERM", "x")])
            ),
            "order and unrelated variables do not matter"
        );
        for changed in [
            vars(&[("PATH", "/usr/bin"), ("OPENAI_API_KEY", "k1")]),
            vars(&[("PATH", "/bin"), ("OPENAI_API_KEY", "k2")]),
            vars(&[("PATH", "/bin")]),
            vars(&[
                ("PATH", "/bin"),
                ("OPENAI_API_KEY", "k1"),
                ("MY_BASE_URL", "u"),
            ]),
        ] {
            assert_ne!(base, fingerprint_of("db", changed));
        }
        assert_ne!(
            base,
            fingerprint_of(
                "other-db",
                vars(&[("PATH", "/bin"), ("OPENAI_API_KEY", "k1")])
            )
        );
    }

    #[test]
    fn hosts_that_reach_one_database_by_other_names_agree() {
        let key = database_key("postgres://u:pw@db.internal:5432/team?options=-csearch_path%3Dx");
        assert_eq!(key, "postgres:///team?options=-csearch_path%3Dx");
        assert_eq!(
            key,
            database_key("postgresql://10.0.0.5:6432/team?options=-csearch_path%3Dx")
        );
        assert_ne!(key, database_key("postgres://db.internal/other"));
        assert_eq!(database_key("/p/.team/team.db"), "/p/.team/team.db");
    }

    #[test]
    fn it_never_holds_a_value() {
        let f = fingerprint_of("db", vars(&[("OPENAI_API_KEY", "sk-secret-value")]));
        assert!(f.starts_with("v1:") && f.len() == 35, "{f}");
        assert!(!f.contains("secret"));
    }
}
