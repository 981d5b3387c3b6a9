//! Opening a store: choosing the backend from the URL, connection settings, migrations.

use std::path::Path;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool as R2Pool};
use diesel::{PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::{Result, StoreError};
use crate::{Pool, Store};

pub(crate) const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
pub(crate) const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// Session-level advisory lock key that serialises migrations of one PostgreSQL database.
const PG_MIGRATION_LOCK: i64 = 0x7465_616d; // "team"

/// How long a SQLite connection waits for another process's write lock, in ms. Long enough
/// that contention (8 processes claiming in a loop) never surfaces as "database is locked".
pub const SQLITE_BUSY_TIMEOUT_MS: u32 = 30_000;

/// The database engine behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// Settings for [`Store::open_with`].
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Most connections the pool keeps open (default 4; a runner wants more).
    pub max_connections: u32,
    /// How long to wait for a pooled connection (default 30 s).
    pub connection_timeout: Duration,
    /// PostgreSQL: keep each statement prepared under a name on the connection, for the next
    /// time it runs (default `true`: a runner or a pool runs the same statements many times).
    /// `false` for a short command that runs each statement once (`team send`, `team inbox`):
    /// every statement then goes out unnamed, parsed, planned and run in one round trip, where
    /// a named one costs two on its first run (Parse, then Bind/Execute). Nothing changes on
    /// SQLite (no round trips) nor in what a statement does.
    pub prepare_statements: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            max_connections: 4,
            connection_timeout: Duration::from_secs(30),
            prepare_statements: true,
        }
    }
}

/// The URL with its password replaced by `***` (`postgres://u:***@host/db`), safe for errors
/// and logs. SQLite paths are returned as they are.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (auth, host) = match rest.rsplit_once('@') {
        Some(parts) => parts,
        None => return url.to_owned(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// How often a SQLite store's checkpointer thread copies the WAL into the database file.
///
/// Where the rule comes from: SQLite checkpoints in the commit that takes the WAL past 1,000
/// pages: that commit copies the pages and fsyncs the database file, ~4-5 ms added to one
/// write, which was the whole p99 of the in-process wake-up (5.6 ms; 1.2-3.2 ms once a
/// thread of the store checkpoints every this often, on a connection of its own, without
/// blocking readers or writers: `PASSIVE`; BENCHMARKS.md § 10). SQLite's own threshold stays
/// as the safety valve for a burst that writes 1,000 pages faster than this: turning it off
/// let the WAL of 8 claiming processes grow and cost 20-30 % of their claims per second.
pub const SQLITE_CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// The checkpointer thread of a SQLite store (see [`SQLITE_CHECKPOINT_EVERY`]), owned by
/// the store's clones together: dropping the last one ends the thread and waits for it (at
/// most one checkpoint: its connection never waits for a lock). Whichever connection closes
/// last (the pool's or the thread's) checkpoints the WAL and deletes it, as SQLite does for
/// the last connection to a database.
pub(crate) struct Checkpointer {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread; its connection opens at its first checkpoint, so a command that
    /// ends sooner never opens it. `None` when no thread can be started (then the WAL is
    /// checkpointed when the last connection closes).
    fn start(path: &str) -> Option<Checkpointer> {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let path = path.to_owned();
        let thread = std::thread::Builder::new()
            .name("team-checkpoint".into())
            .spawn(move || {
                let mut conn: Option<SqliteConnection> = None;
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(SQLITE_CHECKPOINT_EVERY)
                {
                    // A file removed meanwhile is not created again (an empty file would
                    // pass for a new database at the next command).
                    if conn.is_none() && Path::new(&path).is_file() {
                        conn = SqliteConnection::establish(&path).ok().and_then(|mut c| {
                            // No waiting: a round that finds the database busy is skipped
                            // (and a drop of the store never waits on another process).
                            c.batch_execute("PRAGMA busy_timeout = 0;").ok().map(|()| c)
                        });
                    }
                    if let Some(c) = conn.as_mut()
                        && c.batch_execute("PRAGMA wal_checkpoint(PASSIVE);").is_err()
                    {
                        // Busy or failing: the next round reconnects and tries again;
                        // commits never wait for it.
                        conn = None;
                    }
                }
            })
            .ok()?;
        Some(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Per-connection SQLite settings (applied on every pooled connection).
#[derive(Debug, Clone, Copy)]
struct SqlitePragmas;

fn apply_pragmas(c: &mut SqliteConnection) -> QueryResult<()> {
    c.batch_execute(&format!(
        "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA synchronous = NORMAL; \
         PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;"
    ))
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, c: &mut SqliteConnection) -> std::result::Result<(), diesel::r2d2::Error> {
        apply_pragmas(c).map_err(diesel::r2d2::Error::QueryError)
    }
}

impl Store {
    /// Opens (creating if needed) the database at `url` with default [`OpenOptions`] and
    /// applies pending migrations.
    ///
    /// `url` is a PostgreSQL URL (`postgres://…` or `postgresql://…`) or a SQLite file path
    /// (optionally prefixed `sqlite://`). A SQLite file's directory must exist.
    ///
    /// # Errors
    /// [`StoreError::Open`] naming the target (password redacted) and the cause: an empty
    /// URL, a missing directory, a file that is not a SQLite database, a server that refuses
    /// the connection, a failed migration.
    pub fn open(url: &str) -> Result<Store> {
        Store::open_with(url, &OpenOptions::default())
    }

    /// Opens the database at `url` for reading only, and only when it exists and needs no
    /// migration: nothing is created, migrated or written (shell completion reads team names
    /// this way on every Tab). SQLite opens the file with `mode=ro`; PostgreSQL sessions run
    /// with `default_transaction_read_only`. One connection, a 2 s connection timeout.
    ///
    /// # Errors
    /// [`StoreError::Open`] when the file does not exist or the server refuses;
    /// [`StoreError::ReadOnly`] when the schema needs an upgrade. A PostgreSQL schema that is
    /// not there shows in the first query's error instead.
    pub fn open_read_only(url: &str) -> Result<Store> {
        let opts = OpenOptions {
            max_connections: 1,
            connection_timeout: Duration::from_secs(2),
            prepare_statements: true,
        };
        let url = url.trim();
        if is_postgres(url) {
            let target = crate::redact_url(url);
            let url = with_pg_option(url, "-cdefault_transaction_read_only%3Don");
            let url = local_url(&url).into_owned();
            let pool = R2Pool::builder()
                .max_size(1)
                .min_idle(Some(0))
                .test_on_check_out(false)
                .connection_timeout(opts.connection_timeout)
                .build_unchecked(PgManager::new(&url, None, opts.prepare_statements));
            return Ok(Store {
                pool: Pool::Pg(pool),
                target,
                pg_url: Some(url.into()),
                _checkpointer: None,
                max_message_bytes: team_core::delivery::DEFAULT_MAX_MESSAGE_BYTES,
            });
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if !Path::new(path).is_file() {
            return Err(open_err(path, "no such database file"));
        }
        open_sqlite_read_only(path, &opts)
    }

    /// Like [`Store::open`], with pool settings.
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn open_with(url: &str, opts: &OpenOptions) -> Result<Store> {
        let url = url.trim();
        if url.is_empty() {
            return Err(StoreError::Open {
                target: "``".into(),
                message:
                    "the database URL is empty; pass --db PATH_OR_URL or set TEAM_DATABASE_URL"
                        .into(),
            });
        }
        if is_postgres(url) {
            open_pg(url, opts, None)
        } else {
            let path = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or(url);
            open_sqlite(path, opts)
        }
    }
}

/// `url` with the server option `opt` (percent-encoded, `-cNAME%3DVALUE`) added to its
/// `options` parameter, or in a new one: libpq keeps only the last of repeated parameters, so
/// an `options=-csearch_path%3D…` already there is extended, not replaced.
fn with_pg_option(url: &str, opt: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return format!("{url}?options={opt}");
    };
    let mut found = false;
    let mut parts: Vec<String> = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.strip_prefix("options=") {
            Some(v) if !found => {
                found = true;
                format!("options={v}%20{opt}")
            }
            _ => kv.to_owned(),
        })
        .collect();
    if !found {
        parts.push(format!("options={opt}"));
    }
    format!("{base}?{}", parts.join("&"))
}

fn open_err(target: &str, message: impl Into<String>) -> StoreError {
    StoreError::Open {
        target: target.to_owned(),
        message: message.into(),
    }
}

/// When opening `db` failed: [`StoreError::DiskFull`] if its file system has no room left
/// (SQLite only says "disk I/O error" when it cannot create its `-wal` or `-shm` file), found
/// by writing a small probe file next to it.
fn disk_full(db: &Path) -> Option<StoreError> {
    use std::io::Write;
    let dir = db.parent().filter(|d| !d.as_os_str().is_empty())?;
    let probe = dir.join(format!(".team-space-probe-{}", std::process::id()));
    let r = std::fs::File::create(&probe).and_then(|mut f| {
        f.write_all(&[0u8; 64 * 1024])?;
        f.sync_all()
    });
    let _ = std::fs::remove_file(&probe);
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::StorageFull => Some(StoreError::DiskFull(
            format!("cannot open {}: {e}", db.display()),
        )),
        _ => None,
    }
}

/// A SQLite database that cannot be written (a read-only file, directory or mount) is opened
/// read-only, without migrations, so that read commands (`team list`, `show`, `logs`) work;
/// writes then fail with [`StoreError::ReadOnly`]. A WAL database whose `-shm` file cannot be
/// created is opened as immutable (nobody can write it through this mount anyway).
fn open_sqlite_read_only(path: &str, opts: &OpenOptions) -> Result<Store> {
    let mut last = String::new();
    for url in [
        format!("file:{path}?mode=ro"),
        format!("file:{path}?mode=ro&immutable=1"),
    ] {
        let mut c = match SqliteConnection::establish(&url) {
            Ok(c) => c,
            Err(e) => {
                last = e.to_string();
                continue;
            }
        };
        let pending = match apply_pragmas(&mut c)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                c.has_pending_migration(SQLITE_MIGRATIONS)
                    .map_err(|e| e.to_string())
            }) {
            Ok(p) => p,
            Err(e) => {
                last = e;
                continue;
            }
        };
        if pending {
            return Err(StoreError::ReadOnly(format!(
                "{path} needs a schema upgrade, which a read-only database cannot take"
            )));
        }
        let pool = R2Pool::builder()
            .max_size(opts.max_connections.max(1))
            .min_idle(Some(0))
            .connection_timeout(opts.connection_timeout)
            .connection_customizer(Box::new(SqlitePragmas))
            .test_on_check_out(false)
            .build_unchecked(ConnectionManager::<SqliteConnection>::new(&url));
        return Ok(Store {
            pool: Pool::Sqlite(pool),
            target: path.to_owned(),
            pg_url: None,
            _checkpointer: None,
            max_message_bytes: team_core::delivery::DEFAULT_MAX_MESSAGE_BYTES,
        });
    }
    Err(open_err(
        path,
        format!("it cannot be written, nor read: {last}"),
    ))
}

fn open_sqlite(path: &str, opts: &OpenOptions) -> Result<Store> {
    if path == ":memory:" || path.contains("mode=memory") {
        return Err(open_err(
            path,
            "an in-memory SQLite database cannot be shared between connections; use a file path",
        ));
    }
    if path.contains("://") {
        return Err(open_err(
            path,
            "unknown URL scheme; use a postgres:// URL or a SQLite file path",
        ));
    }
    let p = Path::new(path);
    if let Some(dir) = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.is_dir())
    {
        return Err(open_err(
            path,
            format!(
                "directory {} does not exist; run `team init` in your project or pass an existing path with --db",
                dir.display()
            ),
        ));
    }
    if p.is_dir() {
        return Err(open_err(path, "it is a directory, not a database file"));
    }
    let mut c = match SqliteConnection::establish(path) {
        Ok(c) => c,
        Err(e) => {
            let text = e.to_string();
            // A read-only mount: SQLite cannot even open a WAL database for writing.
            if text.contains("unable to open") && p.is_file() {
                return open_sqlite_read_only(path, opts);
            }
            return Err(disk_full(p).unwrap_or_else(|| open_err(path, text)));
        }
    };
    let setup = |c: &mut SqliteConnection| -> std::result::Result<(), String> {
        apply_pragmas(c).map_err(|e| e.to_string())?;
        c.batch_execute("PRAGMA journal_mode = WAL;")
            .map_err(|e| e.to_string())?;
        let pending = c
            .has_pending_migration(SQLITE_MIGRATIONS)
            .map_err(|e| e.to_string())?;
        if pending {
            c.immediate_transaction::<_, diesel::result::Error, _>(|c| {
                // Checked again under the write lock: another process may have made it.
                if sqlite_is_blank(c)? {
                    apply_sqlite_schema(c)?;
                } else {
                    c.run_pending_migrations(SQLITE_MIGRATIONS).map_err(|e| {
                        diesel::result::Error::QueryBuilderError(e.to_string().into())
                    })?;
                }
                Ok(())
            })
            .map_err(|e| format!("migration failed: {e}"))?;
        }
        Ok(())
    };
    // Processes opening a brand-new file at once race for the switch to WAL and the first
    // migration; SQLite answers some of those races with "database is locked" at once
    // instead of waiting out `busy_timeout`. Such a race resolves in milliseconds: retry.
    let mut tries = 0;
    let mut setup = |c: &mut SqliteConnection| loop {
        match setup(c) {
            Err(e) if e.contains("database is locked") && tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => break other,
        }
    };
    if let Err(e) = setup(&mut c) {
        let lower = e.to_ascii_lowercase();
        // A file that is not SQLite at all is a wrong path (bad input); a SQLite file that
        // cannot be read is a damaged database (a database error).
        let sqlite_header = std::fs::File::open(p)
            .and_then(|mut f| {
                let mut head = [0u8; 16];
                std::io::Read::read_exact(&mut f, &mut head).map(|()| head)
            })
            .is_ok_and(|h| &h == b"SQLite format 3\0");
        if lower.contains("not a database") && !sqlite_header {
            return Err(open_err(path, "the file is not a SQLite database"));
        }
        if lower.contains("not a database") || lower.contains("malformed") {
            return Err(StoreError::Unreadable {
                target: path.to_owned(),
                message: format!(
                    "the file is not a SQLite database or is damaged ({e}); restore it from a backup, or move it away and run `team init`"
                ),
            });
        }
        if let Some(full) = disk_full(p) {
            return Err(full);
        }
        if !(lower.contains("readonly") || lower.contains("unable to open")) {
            return Err(open_err(path, e));
        }
        return open_sqlite_read_only(path, opts);
    }
    let pool = R2Pool::builder()
        .max_size(opts.max_connections.max(1))
        .min_idle(Some(0))
        .connection_timeout(opts.connection_timeout)
        .connection_customizer(Box::new(SqlitePragmas))
        // A connection to a local file does not go stale: no `SELECT 1` before every use.
        .test_on_check_out(false)
        .build_unchecked(ConnectionManager::<SqliteConnection>::new(path));
    // The pool's first connection opens before the set-up one closes: the last connection to
    // close checkpoints the WAL and deletes it (fsyncs and unlinks), which the pool's first
    // open would undo at once (~2 ms of every command's start; BENCHMARKS.md § 9). A failure
    // here is left for the first real checkout to report.
    drop(
        pool.get_timeout(
            opts.connection_timeout
                .min(std::time::Duration::from_secs(1)),
        ),
    );
    drop(c);
    Ok(Store {
        pool: Pool::Sqlite(pool),
        target: path.to_owned(),
        pg_url: None,
        _checkpointer: Checkpointer::start(path).map(std::sync::Arc::new),
        max_message_bytes: team_core::delivery::DEFAULT_MAX_MESSAGE_BYTES,
    })
}

/// `url` with `sslmode=disable` added when it plainly names a PostgreSQL server on this
/// machine and leaves TLS to libpq's default. That default, `prefer`, encrypts without
/// verifying the server, which on a loopback connection doubled the time of a multi-statement
/// transaction (0.39 → 0.91 ms for eight round trips on 127.0.0.1; BENCHMARKS.md § 9).
///
/// Kept as given (see [`local_url_given`]): any URL whose hosts are not all loopback
/// (127.0.0.0/8, `::1`, `localhost`); any URL with query parameters other than plain
/// connection settings (`host`, `hostaddr`, `service`, any `ssl…` or `gss…` key, … all keep
/// it); any URL when a libpq environment variable could choose TLS or another server
/// (`PGSSL…`, `PGREQUIRESSL`, `PGHOSTADDR`, `PGSERVICE…`, `PGGSSENCMODE`), or when a default
/// client certificate exists (`~/.postgresql/postgresql.crt`: a client-certificate set-up,
/// e.g. a TLS tunnel on a loopback port).
fn local_url(url: &str) -> std::borrow::Cow<'_, str> {
    let env_says = std::env::vars_os().any(|(k, _)| {
        let k = k.to_string_lossy();
        k.starts_with("PGSSL")
            || k.starts_with("PGSERVICE")
            || matches!(&*k, "PGREQUIRESSL" | "PGHOSTADDR" | "PGGSSENCMODE")
    });
    let client_cert = std::env::var_os("HOME").is_some_and(|home| {
        Path::new(&home)
            .join(".postgresql")
            .join("postgresql.crt")
            .exists()
    });
    local_url_given(url, env_says || client_cert)
}

/// [`local_url`], with whether the environment or the home directory leave TLS to be chosen
/// elsewhere given.
fn local_url_given(url: &str, chosen_elsewhere: bool) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    /// Query keys that name no server and choose nothing about TLS.
    const PLAIN_KEYS: &[&str] = &[
        "user",
        "password",
        "dbname",
        "port",
        "connect_timeout",
        "application_name",
        "fallback_application_name",
        "client_encoding",
        "options",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
        "target_session_attrs",
    ];
    if chosen_elsewhere {
        return Cow::Borrowed(url);
    }
    let Some((_, rest)) = url.split_once("://") else {
        return Cow::Borrowed(url);
    };
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let plain_query = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .all(|kv| PLAIN_KEYS.contains(&kv.split('=').next().unwrap_or("")));
    let authority = before_query.split('/').next().unwrap_or("");
    let hosts = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let loopback = |host: &str| {
        let host = if let Some(v6) = host.strip_prefix('[') {
            v6.split(']').next().unwrap_or("")
        } else {
            host.split(':').next().unwrap_or("")
        };
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    };
    if !plain_query || hosts.is_empty() || !hosts.split(',').all(loopback) {
        return Cow::Borrowed(url);
    }
    let sep = match url.as_bytes().last() {
        _ if !url.contains('?') => "?",
        Some(b'?' | b'&') => "",
        _ => "&",
    };
    Cow::Owned(format!("{url}{sep}sslmode=disable"))
}

/// The schema every SQLite migration together makes, as SQLite stores it (`sqlite_master`'s
/// `sql`, tables first): a brand-new database gets it in one script instead of replaying the
/// migrations one by one (each table rebuild re-reads the whole schema: ~10 ms of a fresh
/// project's first command, which every CI job pays). `tests::the_sqlite_schema_is_what_the_migrations_make`
/// keeps it equal to what the migrations make (`TEAM_BLESS=1` rewrites it).
const SQLITE_SCHEMA: &str = include_str!("../../migrations/sqlite-schema.sql");

/// Whether a SQLite database holds nothing yet: no table of ours and no migration recorded
/// (diesel's bookkeeping table may exist, empty: the pending check creates it).
fn sqlite_is_blank(c: &mut SqliteConnection) -> QueryResult<bool> {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let objects = diesel::sql_query(
        "SELECT count(*) AS n FROM sqlite_master \
         WHERE name NOT LIKE 'sqlite_%' AND name <> '__diesel_schema_migrations'",
    )
    .get_result::<Count>(c)?
    .n;
    if objects > 0 {
        return Ok(false);
    }
    let applied = diesel::sql_query("SELECT count(*) AS n FROM __diesel_schema_migrations")
        .get_result::<Count>(c)
        .map_or(0, |r| r.n);
    Ok(applied == 0)
}

/// Makes a blank database's schema from [`SQLITE_SCHEMA`] and records every embedded
/// migration as applied, as `run_pending_migrations` would have (inside the caller's
/// transaction).
fn apply_sqlite_schema(c: &mut SqliteConnection) -> QueryResult<()> {
    use diesel::migration::MigrationSource;
    let known = MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE_MIGRATIONS)
        .map_err(|e| diesel::result::Error::QueryBuilderError(e.to_string().into()))?;
    c.batch_execute(SQLITE_SCHEMA)?;
    c.batch_execute(
        "CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (\
         version VARCHAR(50) PRIMARY KEY NOT NULL, \
         run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    )?;
    for m in &known {
        diesel::sql_query("INSERT INTO __diesel_schema_migrations (version) VALUES (?)")
            .bind::<diesel::sql_types::Text, _>(m.name().version().to_string())
            .execute(c)?;
    }
    Ok(())
}

/// Whether the database has every migration embedded in this binary, in one read of diesel's
/// bookkeeping table (`false` also when the table is not there yet, or on any error: the
/// caller then takes the migration lock and asks diesel).
fn pg_up_to_date(c: &mut PgConnection) -> bool {
    use diesel::migration::MigrationSource;
    #[derive(diesel::QueryableByName)]
    struct Applied {
        #[diesel(sql_type = diesel::sql_types::Text)]
        version: String,
    }
    let Ok(known) = MigrationSource::<diesel::pg::Pg>::migrations(&PG_MIGRATIONS) else {
        return false;
    };
    let Ok(applied) =
        diesel::sql_query("SELECT version FROM __diesel_schema_migrations").load::<Applied>(c)
    else {
        return false;
    };
    let applied: std::collections::HashSet<String> =
        applied.into_iter().map(|a| a.version).collect();
    known
        .iter()
        .all(|m| applied.contains(&m.name().version().to_string()))
}

/// The PostgreSQL pool's connection manager: diesel's, except that its first connection is
/// one already made (the one that checked the migrations), when given, and that a pool for
/// short commands sends its statements unnamed ([`OpenOptions::prepare_statements`]).
pub(crate) struct PgManager {
    inner: ConnectionManager<PgConnection>,
    first: std::sync::Mutex<Option<PgConnection>>,
    prepare_statements: bool,
}

impl PgManager {
    fn new(url: &str, first: Option<PgConnection>, prepare_statements: bool) -> PgManager {
        PgManager {
            inner: ConnectionManager::new(url),
            first: std::sync::Mutex::new(first),
            prepare_statements,
        }
    }
}

/// Sends every statement of `c` unnamed (no statement cache) when `prepare` is false.
fn set_statement_cache(c: &mut PgConnection, prepare: bool) {
    if !prepare {
        c.set_prepared_statement_cache_size(diesel::connection::CacheSize::Disabled);
    }
}

impl diesel::r2d2::ManageConnection for PgManager {
    type Connection = PgConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> std::result::Result<PgConnection, diesel::r2d2::Error> {
        let first = self
            .first
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let mut c = match first {
            Some(c) => c,
            None => self.inner.connect()?,
        };
        set_statement_cache(&mut c, self.prepare_statements);
        Ok(c)
    }

    fn is_valid(&self, c: &mut PgConnection) -> std::result::Result<(), diesel::r2d2::Error> {
        self.inner.is_valid(c)
    }

    fn has_broken(&self, c: &mut PgConnection) -> bool {
        self.inner.has_broken(c)
    }
}

/// A PostgreSQL connection being made on a thread of its own while the process does the rest
/// of its start-up (a command parses its arguments, finds its project, reads its
/// configuration); [`Store::open_preconnected`] takes it over. A new connection is a server
/// process forked, authenticated and set up (diesel's two `SET`s), then the migration check:
/// ~3 ms on a loopback server, which a short command (`team send`) otherwise spends waiting
/// after its own start-up instead of during it. The thread only connects and reads the
/// applied migrations; migrating, when needed, and the pool are the open's.
pub struct Preconnect {
    /// The URL as given (trimmed): the open takes the connection only for the same URL.
    url: String,
    thread: std::thread::JoinHandle<Early>,
}

/// What the thread of a [`Preconnect`] made.
struct Early {
    /// The connection, or why it could not be made (diesel's text).
    conn: std::result::Result<PgConnection, String>,
    /// Whether the database had every embedded migration ([`pg_up_to_date`]).
    up_to_date: bool,
}

impl std::fmt::Debug for Preconnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preconnect")
            .field("target", &redact_url(&self.url))
            .finish_non_exhaustive()
    }
}

impl Preconnect {
    /// Starts connecting to `url` on a new thread. `None` when `url` is not a PostgreSQL URL
    /// (a SQLite file opens in-process: nothing to overlap) or no thread can be started.
    /// An unused `Preconnect` is dropped without waiting: its thread closes the connection
    /// when it has made it.
    pub fn start(url: &str) -> Option<Preconnect> {
        let url = url.trim();
        if !is_postgres(url) {
            return None;
        }
        let local = url.to_owned();
        let thread = std::thread::Builder::new()
            .name("team-connect".into())
            .spawn(move || match PgConnection::establish(&local_url(&local)) {
                Ok(mut c) => {
                    let up_to_date = pg_up_to_date(&mut c);
                    Early {
                        conn: Ok(c),
                        up_to_date,
                    }
                }
                Err(e) => Early {
                    conn: Err(e.to_string()),
                    up_to_date: false,
                },
            })
            .ok()?;
        Some(Preconnect {
            url: url.to_owned(),
            thread,
        })
    }
}

impl Store {
    /// Like [`Store::open_with`], with the connection `early` made meanwhile as the pool's
    /// first when it was started for this same `url` (then its migration check counts, and
    /// its connection error is the open's, worded as `open`'s); otherwise `early` is dropped
    /// unused and the store opens as [`Store::open_with`] does.
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn open_preconnected(
        url: &str,
        opts: &OpenOptions,
        early: Option<Preconnect>,
    ) -> Result<Store> {
        let trimmed = url.trim();
        match early {
            Some(e) if is_postgres(trimmed) && e.url == trimmed => open_pg(trimmed, opts, Some(e)),
            _ => Store::open_with(url, opts),
        }
    }
}

/// The open error of a connection that could not be made (`message`: diesel's text).
fn connect_err(target: &str, message: &str) -> StoreError {
    open_err(
        target,
        format!(
            "{}; is the server running and the URL right?",
            message.trim()
        ),
    )
}

fn open_pg(url: &str, opts: &OpenOptions, early: Option<Preconnect>) -> Result<Store> {
    let target = crate::redact_url(url);
    let local = &*local_url(url);
    // The early thread's connection and migration check, if it got that far (a thread that
    // panicked counts as never started).
    let early = early.and_then(|e| e.thread.join().ok());
    let (mut c, checked) = match early {
        Some(Early {
            conn: Ok(c),
            up_to_date,
        }) => (c, Some(up_to_date)),
        Some(Early { conn: Err(e), .. }) => return Err(connect_err(&target, &e)),
        None => (
            PgConnection::establish(local).map_err(|e| connect_err(&target, &e.to_string()))?,
            None,
        ),
    };
    set_statement_cache(&mut c, opts.prepare_statements);
    // The lock comes first: even the pending-migration check creates diesel's bookkeeping
    // table, which concurrent first opens would race on. A database that has every embedded
    // migration (every open but the first) is seen in one read and needs neither.
    let migrate = |c: &mut PgConnection| -> std::result::Result<(), String> {
        if checked.unwrap_or_else(|| pg_up_to_date(c)) {
            return Ok(());
        }
        c.batch_execute(&format!("SELECT pg_advisory_lock({PG_MIGRATION_LOCK})"))
            .map_err(|e| e.to_string())?;
        let run = c
            .has_pending_migration(PG_MIGRATIONS)
            .map_err(|e| e.to_string())
            .and_then(|pending| {
                if pending {
                    c.run_pending_migrations(PG_MIGRATIONS)
                        .map(|_| ())
                        .map_err(|e| format!("migration failed: {e}"))
                } else {
                    Ok(())
                }
            });
        let _ = c.batch_execute(&format!("SELECT pg_advisory_unlock({PG_MIGRATION_LOCK})"));
        run
    };
    migrate(&mut c).map_err(|e| open_err(&target, e))?;
    // The connection that migrated is the pool's first: a short-lived command (`team send`)
    // so connects once, not twice (a PostgreSQL connection is a server process: ~2-4 ms).
    // No `SELECT 1` on checkout: it was a round trip before every operation. A connection
    // the server dropped (a restart) fails its next statement with an error, which marks it
    // broken; the pool then discards it (`has_broken`) and the next checkout connects anew.
    let pool = R2Pool::builder()
        .max_size(opts.max_connections.max(1))
        .min_idle(Some(0))
        .test_on_check_out(false)
        .connection_timeout(opts.connection_timeout)
        .build_unchecked(PgManager::new(local, Some(c), opts.prepare_statements));
    Ok(Store {
        pool: Pool::Pg(pool),
        target,
        pg_url: Some(local.into()),
        _checkpointer: None,
        max_message_bytes: team_core::delivery::DEFAULT_MAX_MESSAGE_BYTES,
    })
}

#[cfg(test)]
mod tests {
    use super::{local_url_given, redact_url, with_pg_option};

    /// `sqlite_master` of a database: (type, name, table, sql), ordered; and the migration
    /// versions it records.
    fn sqlite_shape(path: &std::path::Path) -> master::Shape {
        master::read(path)
    }

    /// The rows of `sqlite_master` and of diesel's bookkeeping table, read with diesel.
    mod master {
        use diesel::prelude::*;
        #[derive(diesel::QueryableByName)]
        struct Obj {
            #[diesel(sql_type = diesel::sql_types::Text)]
            kind: String,
            #[diesel(sql_type = diesel::sql_types::Text)]
            name: String,
            #[diesel(sql_type = diesel::sql_types::Text)]
            tbl: String,
            #[diesel(sql_type = diesel::sql_types::Text)]
            sql: String,
        }
        #[derive(diesel::QueryableByName)]
        struct Version {
            #[diesel(sql_type = diesel::sql_types::Text)]
            version: String,
        }
        /// The objects (type, name, table, sql), ordered, and the migration versions.
        pub type Shape = (Vec<(String, String, String, String)>, Vec<String>);

        pub fn read(path: &std::path::Path) -> Shape {
            let mut c = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
            super::super::apply_pragmas(&mut c).unwrap();
            let objs = diesel::sql_query(
                "SELECT type AS kind, name, tbl_name AS tbl, coalesce(sql, '') AS sql \
                 FROM sqlite_master WHERE name <> '__diesel_schema_migrations' \
                 ORDER BY type, name",
            )
            .load::<Obj>(&mut c)
            .unwrap();
            let versions = diesel::sql_query(
                "SELECT version FROM __diesel_schema_migrations ORDER BY version",
            )
            .load::<Version>(&mut c)
            .unwrap();
            (
                objs.into_iter()
                    .map(|o| (o.kind, o.name, o.tbl, o.sql))
                    .collect(),
                versions.into_iter().map(|v| v.version).collect(),
            )
        }
    }

    /// The schema script for the database at `path`: its objects' `sql`, tables first (in
    /// the order SQLite made them), then indexes, triggers and views.
    fn schema_script(path: &std::path::Path) -> String {
        let (objs, _) = sqlite_shape(path);
        let rank = |k: &str| match k {
            "table" => 0,
            "index" => 1,
            "trigger" => 2,
            _ => 3,
        };
        let mut objs: Vec<_> = objs
            .into_iter()
            .filter(|o| !o.3.is_empty() && !o.1.starts_with("sqlite_"))
            .collect();
        objs.sort_by(|a, b| rank(&a.0).cmp(&rank(&b.0)).then(a.1.cmp(&b.1)));
        let mut out = String::from(
            "-- The schema the SQLite migrations (migrations/sqlite) make, as SQLite stores it.\n\
             -- A brand-new database is made from this file in one script (team-store/src/open.rs,\n\
             -- SQLITE_SCHEMA). Generated: TEAM_BLESS=1 cargo test -p team-store --lib sqlite_schema\n",
        );
        for o in objs {
            out.push_str(&o.3);
            out.push_str(";\n");
        }
        out
    }

    #[test]
    fn the_sqlite_schema_is_what_the_migrations_make() {
        use diesel::prelude::*;
        use diesel_migrations::MigrationHarness;
        let dir = tempfile::tempdir().unwrap();
        // One database through the migrations, one through `Store::open` (the script).
        let migrated = dir.path().join("migrated.db");
        let mut c = diesel::SqliteConnection::establish(migrated.to_str().unwrap()).unwrap();
        c.run_pending_migrations(super::SQLITE_MIGRATIONS).unwrap();
        drop(c);
        let script = schema_script(&migrated);
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../migrations/sqlite-schema.sql");
        if std::env::var_os("TEAM_BLESS").is_some() {
            std::fs::write(&file, &script).unwrap();
        }
        assert_eq!(
            super::SQLITE_SCHEMA,
            script,
            "migrations/sqlite-schema.sql is not what the migrations make; after a new \
             migration run `TEAM_BLESS=1 cargo test -p team-store --lib sqlite_schema` and \
             rebuild"
        );
        let fresh = dir.path().join("fresh.db");
        let store = crate::Store::open(fresh.to_str().unwrap()).unwrap();
        drop(store);
        assert_eq!(sqlite_shape(&fresh), sqlite_shape(&migrated));
        // And a database made from the script is one the migrations see as up to date.
        let mut c = diesel::SqliteConnection::establish(fresh.to_str().unwrap()).unwrap();
        super::apply_pragmas(&mut c).unwrap();
        assert!(!c.has_pending_migration(super::SQLITE_MIGRATIONS).unwrap());
    }

    #[test]
    fn a_server_option_extends_the_options_given() {
        let ro = "-cdefault_transaction_read_only%3Don";
        assert_eq!(
            with_pg_option("postgres://h/db", ro),
            format!("postgres://h/db?options={ro}")
        );
        assert_eq!(
            with_pg_option("postgres://h/db?", ro),
            format!("postgres://h/db?options={ro}")
        );
        assert_eq!(
            with_pg_option("postgres://h/db?sslmode=disable", ro),
            format!("postgres://h/db?sslmode=disable&options={ro}")
        );
        assert_eq!(
            with_pg_option("postgres://h/db?options=-csearch_path%3Dt1&x=1", ro),
            format!("postgres://h/db?options=-csearch_path%3Dt1%20{ro}&x=1")
        );
    }

    #[test]
    fn loopback_servers_skip_tls_unless_asked() {
        let off = |url: &str| local_url_given(url, false).into_owned();
        assert_eq!(
            off("postgres://u@127.0.0.1:5432/db"),
            "postgres://u@127.0.0.1:5432/db?sslmode=disable"
        );
        assert_eq!(
            off("postgresql://u:p@localhost/db?connect_timeout=3"),
            "postgresql://u:p@localhost/db?connect_timeout=3&sslmode=disable"
        );
        assert_eq!(
            off("postgres://[::1]:5433/db"),
            "postgres://[::1]:5433/db?sslmode=disable"
        );
        assert_eq!(
            off("postgres://u@127.0.0.2/db?"),
            "postgres://u@127.0.0.2/db?sslmode=disable"
        );
        assert_eq!(
            off("postgres://u@localhost/db?application_name=x&"),
            "postgres://u@localhost/db?application_name=x&sslmode=disable"
        );
        // Kept as given: an explicit TLS choice of any kind, a server named in the query,
        // a service, a remote or mixed host list, a socket path, no host.
        for url in [
            "postgres://u@127.0.0.1/db?sslmode=require",
            "postgres://u@127.0.0.1/db?ssl=true",
            "postgres://u@127.0.0.1/db?sslrootcert=system",
            "postgres://u@127.0.0.1/db?sslcert=/c.crt&sslkey=/c.key",
            "postgres://u@localhost/db?host=db.example.com",
            "postgres://u@localhost/db?hostaddr=10.0.0.5",
            "postgres://u@localhost/db?service=prod",
            "postgres://u@localhost/db?gssencmode=require",
            "postgres://u@db.example.com/db",
            "postgres://u@127.0.0.1,db.example.com/db",
            "postgres://u@%2Fvar%2Frun%2Fpostgresql/db",
            "postgres:///db",
            "host=127.0.0.1 dbname=db",
        ] {
            assert_eq!(off(url), url);
        }
        // The environment or a client certificate chose.
        assert_eq!(
            local_url_given("postgres://u@127.0.0.1/db", true),
            "postgres://u@127.0.0.1/db"
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url(".team/team.db"), ".team/team.db");
    }
}
