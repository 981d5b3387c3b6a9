//! A PostgreSQL schema of its own for each test, on the server named by
//! `TEAM_TEST_DATABASE_URL` (feature `pg`).
//!
//! The rule comes from the README ("Run the tests"): every store and end-to-end test runs on
//! SQLite and on the PostgreSQL server named by `TEAM_TEST_DATABASE_URL`, each test in its own
//! schema; without the variable the PostgreSQL variants are skipped locally, and in CI (`CI`
//! set, as `.ci/run` runs) they are required.
//!
//! ```no_run
//! use team_testkit::pg::PgSchema;
//! // `None`: TEAM_TEST_DATABASE_URL is unset (outside CI); skip the PostgreSQL variant.
//! if let Some(schema) = PgSchema::create("it") {
//!     // Give `schema.url` to the code under test (e.g. as `TEAM_DATABASE_URL`).
//!     println!("{}", schema.url);
//! } // dropped: `DROP SCHEMA … CASCADE`
//! ```

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

/// The variable that names the test PostgreSQL server: a libpq URL such as
/// `postgres://postgres@127.0.0.1:5432/test` (what `.ci/run` sets when it is unset).
pub const TEST_DATABASE_URL_VAR: &str = "TEAM_TEST_DATABASE_URL";

/// The base URL of the test PostgreSQL server: the value of [`TEST_DATABASE_URL_VAR`], or
/// `None` when it is unset or blank outside CI (the skip is recorded by [`tally`], and the
/// caller skips its PostgreSQL variant).
///
/// # Panics
/// When the variable is unset or blank while `CI` is set (to anything): the PostgreSQL
/// variants are required in CI (README, "Run the tests").
pub fn base_url() -> Option<String> {
    match std::env::var(TEST_DATABASE_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "TEAM_TEST_DATABASE_URL must be set in CI (the PostgreSQL variants are required there)"
            );
            tally("skipped");
            None
        }
    }
}

/// The variable that names a file where every PostgreSQL variant appends one line, `ran` or
/// `skipped`, so a run can count them (`.ci/run` prints the counts after the tests): a skipped
/// variant passes as far as the test harness can tell, so the count is what shows it.
pub const TALLY_VAR: &str = "TEAM_TEST_PG_TALLY";

/// Records one PostgreSQL variant as `ran` or `skipped`: a line in the file named by
/// [`TALLY_VAR`] (when set; appended in one write, so parallel tests do not interleave), and
/// for a skip a note written straight to stderr. The harness captures `eprintln!` of passing
/// tests and would hide the note; a direct write is not captured, so every skip is seen.
pub fn tally(outcome: &str) {
    use std::io::Write;
    if outcome == "skipped" {
        let _ = std::io::stderr().write_all(
            b"note: TEAM_TEST_DATABASE_URL unset: a PostgreSQL variant was skipped (it passes without running)\n",
        );
    }
    if let Some(path) = std::env::var_os(TALLY_VAR) {
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(format!("{outcome}\n").as_bytes()));
    }
}

/// A fresh, empty schema in the test PostgreSQL server (see [`base_url`]); dropping it drops
/// the schema with everything in it (`DROP SCHEMA IF EXISTS NAME CASCADE`; errors, such as the
/// server being gone, are ignored).
///
/// Drop it only after every process that uses [`PgSchema::url`] has ended, or their
/// connections will hold locks on the schema's tables.
#[derive(Debug)]
pub struct PgSchema {
    base: String,
    name: String,
    /// The base URL with the schema as `search_path`:
    /// `BASE?options=-csearch_path%3DNAME` (`&` instead of `?` when `BASE` already has a
    /// query). Every connection made from it creates and finds its tables in the schema.
    pub url: String,
}

impl PgSchema {
    /// Creates a new schema named `PREFIX_PID_N_NANOS`: `PID` this process's id, `N` a counter
    /// of the schemas this process made, `NANOS` the clock's sub-second nanoseconds modulo
    /// 1,000,000 (which tells apart two runs that got the same pid). The prefix says which test
    /// binary left a schema behind after a crash.
    ///
    /// `None` when the PostgreSQL variants are skipped (see [`base_url`]).
    ///
    /// # Panics
    /// When `prefix` is not a lowercase SQL identifier (`[a-z_][a-z0-9_]*`: the name goes into
    /// SQL unquoted), when `CI` is set without the URL (see [`base_url`]), when the server
    /// cannot be reached (`connect to TEAM_TEST_DATABASE_URL`), or when it refuses
    /// `CREATE SCHEMA` (`create a test schema`).
    pub fn create(prefix: &str) -> Option<PgSchema> {
        assert!(
            prefix.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && prefix
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "schema prefix {prefix:?} is not a lowercase SQL identifier"
        );
        let base = base_url()?;
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .subsec_nanos();
        let name = format!(
            "{prefix}_{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            nanos % 1_000_000
        );
        let mut c = PgConnection::establish(&base).expect("connect to TEAM_TEST_DATABASE_URL");
        c.batch_execute(&format!("CREATE SCHEMA {name}"))
            .expect("create a test schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-csearch_path%3D{name}");
        tally("ran");
        Some(PgSchema { base, name, url })
    }
}

impl PgSchema {
    /// Drops the schema now, with everything in it, while processes may still use
    /// [`PgSchema::url`]: a database whose tables vanish under a running `team` (the drop at
    /// the end of the test then finds nothing).
    ///
    /// # Panics
    /// When the server cannot be reached or refuses the drop.
    pub fn drop_now(&self) {
        let mut c = PgConnection::establish(&self.base).expect("connect to TEAM_TEST_DATABASE_URL");
        c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name))
            .expect("drop the test schema");
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if let Ok(mut c) = PgConnection::establish(&self.base) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}
