//! Test databases: a temp SQLite file, or a fresh schema in the PostgreSQL server named by
//! `TEAM_TEST_DATABASE_URL`.
#![allow(dead_code, missing_docs)]

use std::sync::atomic::{AtomicU32, Ordering};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use team_store::Store;

/// A database for one test; dropping it removes it.
pub enum TestDb {
    Sqlite(tempfile::TempDir, String),
    Pg {
        base: String,
        schema: String,
        url: String,
    },
}

impl TestDb {
    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite(_, url) => url,
            TestDb::Pg { url, .. } => url,
        }
    }

    pub fn store(&self) -> Store {
        Store::open(self.url()).expect("open test store")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Pg { base, schema, .. } = self
            && let Ok(mut c) = PgConnection::establish(base)
        {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
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
    let Ok(base) = std::env::var("TEAM_TEST_DATABASE_URL") else {
        if std::env::var_os("CI").is_some() {
            panic!("TEAM_TEST_DATABASE_URL must be set in CI");
        }
        eprintln!("TEAM_TEST_DATABASE_URL unset: skipping the PostgreSQL variant");
        return None;
    };
    static N: AtomicU32 = AtomicU32::new(0);
    let schema = format!(
        "t_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        team_store::now_ms() % 1_000_000
    );
    let mut c = PgConnection::establish(&base).expect("connect to TEAM_TEST_DATABASE_URL");
    c.batch_execute(&format!("CREATE SCHEMA {schema}")).unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
    Some(TestDb::Pg { base, schema, url })
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
