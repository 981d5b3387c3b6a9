//! Test databases: a temp SQLite file, or a fresh schema in the PostgreSQL server named by
//! `TEAM_TEST_DATABASE_URL`. A test that runs on both engines is an `rstest` with one case
//! per [`Backend`]:
//!
//! ```ignore
//! #[rstest]
//! #[case::sqlite(Backend::Sqlite)]
//! #[case::postgres(Backend::Postgres)]
//! fn name(#[case] backend: Backend) {
//!     // `None`: the PostgreSQL variant is skipped (and tallied as such).
//!     let Some(db) = &TestDb::on(backend) else { return };
//!     let s = db.store();
//! }
//! ```
#![allow(dead_code, missing_docs)]

use team_store::Store;
pub use team_testkit::Backend;
use team_testkit::pg::PgSchema;

/// A database for one test; dropping it removes it.
pub enum TestDb {
    Sqlite(tempfile::TempDir, String),
    /// A schema of its own in the test PostgreSQL server (team-testkit's, which tallies the
    /// variant as run or skipped: see `team_testkit::pg::tally`).
    Pg(PgSchema),
}

impl TestDb {
    /// A database on `backend`, or `None` when it is PostgreSQL and the PostgreSQL variants
    /// are skipped (`TEAM_TEST_DATABASE_URL` unset outside CI; in CI that fails).
    pub fn on(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => Some(sqlite()),
            Backend::Postgres => team_testkit::project::pg_schema().map(TestDb::Pg),
        }
    }

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
