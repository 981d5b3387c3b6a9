//! What `team doctor` reports about a database: its engine, the server's version and the
//! migrations applied to it.

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};

use crate::error::{Result, StoreError};
use crate::open::{Backend, PG_MIGRATIONS, SQLITE_MIGRATIONS};
use crate::{Pool, Store};

/// A database as `team doctor` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DatabaseInfo {
    /// The engine.
    pub engine: Backend,
    /// The engine's version (`sqlite_version()`, PostgreSQL's `server_version`).
    pub version: String,
    /// Versions of the migrations applied to the database, oldest first
    /// (`20261101000000`-style date prefixes of the migration folders).
    pub applied: Vec<String>,
    /// Versions of the migrations this binary embeds, oldest first.
    pub known: Vec<String>,
}

impl DatabaseInfo {
    /// Migrations this binary embeds that the database lacks (none after a successful
    /// [`Store::open`], which applies them).
    pub fn pending(&self) -> Vec<&str> {
        self.known
            .iter()
            .filter(|k| !self.applied.contains(k))
            .map(String::as_str)
            .collect()
    }

    /// Migrations applied to the database that this binary does not know: a newer `team`
    /// wrote it.
    pub fn unknown(&self) -> Vec<&str> {
        self.applied
            .iter()
            .filter(|a| !self.known.contains(a))
            .map(String::as_str)
            .collect()
    }
}

fn known(migrations: &EmbeddedMigrations) -> Result<Vec<String>> {
    use diesel::migration::MigrationSource;
    let list = MigrationSource::<diesel::sqlite::Sqlite>::migrations(migrations)
        .map_err(|e| StoreError::Corrupt(format!("cannot list the embedded migrations: {e}")))?;
    let mut v: Vec<String> = list
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    v.sort();
    Ok(v)
}

fn harness_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("cannot read the applied migrations: {e}"))
}

fn versions(v: Vec<diesel::migration::MigrationVersion<'_>>) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(ToString::to_string).collect();
    v.sort();
    v
}

impl Store {
    /// The engine, its version and the migrations applied (one connection, two reads).
    ///
    /// # Errors
    /// A database error (connection or query).
    pub fn database_info(&self) -> Result<DatabaseInfo> {
        let (version, applied, known) = match &self.pool {
            Pool::Sqlite(p) => {
                let c = &mut *p.get()?;
                let version = diesel::select(sql::<Text>("sqlite_version()")).get_result(c)?;
                let applied = versions(c.applied_migrations().map_err(harness_err)?);
                (version, applied, known(&SQLITE_MIGRATIONS)?)
            }
            Pool::Pg(p) => {
                let c = &mut *p.get()?;
                let version = diesel::select(sql::<Text>("current_setting('server_version')"))
                    .get_result(c)?;
                let applied = versions(c.applied_migrations().map_err(harness_err)?);
                (version, applied, known(&PG_MIGRATIONS)?)
            }
        };
        Ok(DatabaseInfo {
            engine: self.backend(),
            version,
            applied,
            known,
        })
    }
}
