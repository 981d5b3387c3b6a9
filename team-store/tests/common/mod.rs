//! Test databases: a temp SQLite file, or a fresh schema in the PostgreSQL server named by
//! `TEAM_TEST_DATABASE_URL`.
#![allow(dead_code, missing_docs)]

use team_store::Store;
use team_testkit::pg::PgSchema;

/// A database for one test; dropping it removes it.
pub enum TestDb {
    Sqlite(tempfile::TempDir, String),
    /// A schema of its own in the test PostgreSQL server (team-testkit's, which tallies the
    /// variant as run or skipped: see `team_testkit::pg::tally`).
    Pg(PgSchema),
}

impl TestDb {
    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite(_, url) => url,
            TestDb::Pg(schema) => &schema.url,
        }
    }

    pub fn store(&self) -> Store {
        Store::open(self.url()).expect("open test store")
    }
}

pub fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("team.db").to_string_lossy().into_owned();
    TestDb::Sqlite(dir, url)
}

/// A fresh schema in the test PostgreSQL database, or `None` (with a note) when
/// `TEAM_TEST_DATABASE_URL` is unset outside CI. In CI (`CI` set) a missing URL fails.
pub fn pg() -> Option<TestDb> {
    PgSchema::create("t").map(TestDb::Pg)
}

/// Defines `mod NAME { fn sqlite(); fn postgres(); }` running `body(&TestDb)` on each backend.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn sqlite() {
                let db = $crate::common::sqlite();
                ($body)(&db);
            }
            #[test]
            fn postgres() {
                if let Some(db) = $crate::common::pg() {
                    ($body)(&db);
                }
            }
        }
    };
}
