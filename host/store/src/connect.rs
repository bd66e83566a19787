//! Opening a store: URL → backend, pool settings per backend, migrations.

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;

use crate::cache::ReadCache;
use crate::changes::Watcher;
use crate::{Backend, Error, Result, Store};

/// Schema of a SQLite store.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
/// Schema of a PostgreSQL store.
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");
/// How many stop requests of other replicas may wait unread before the oldest go (a
/// lagging listener re-reads nothing: the claim of a run reads its request anyway).
const REQUEST_BUFFER: usize = 1024;

/// Readers of a SQLite file (WAL lets them run beside the writer); writes go through
/// one connection of their own (see `Store::writer`).
const SQLITE_READERS: u32 = 8;
/// Connections per host replica to a PostgreSQL server.
const POSTGRES_CONNECTIONS: u32 = 10;
/// How long a call waits for a connection, and `open` for an unreachable server.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a write waits for its turn on a SQLite file's one writer connection.
const WRITE_QUEUE_TIMEOUT: Duration = Duration::from_secs(30);

/// What `open` makes of a URL.
enum Location {
    /// `sqlite::memory:`: private to the pool's single connection.
    SqliteMemory,
    /// A SQLite file; the URL to connect with (created when missing).
    SqliteFile { url: String, path: String },
    /// `postgres://…` or `postgresql://…`.
    Postgres,
}

impl Store {
    /// Connects to `url` and applies pending migrations.
    ///
    /// - `sqlite://path/to/file.db` (relative) or `sqlite:///abs/file.db`: the file and
    ///   its directory are created when missing; WAL journal, foreign keys on, writers
    ///   wait up to 5 s for the lock.
    /// - `sqlite::memory:`: a private in-memory database on one connection (tests).
    /// - `postgres://user:password@host:port/database` (or `postgresql://`; a unix socket
    ///   directory as `?host=/run/postgresql`).
    ///
    /// A bad URL or an unreachable database is an [`Error::Database`] naming the URL
    /// with its password masked.
    pub async fn open(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let failed = |e: &dyn std::fmt::Display| {
            Error::Database(format!("cannot open store {}: {e}", redact(url)))
        };
        let location = locate(url).map_err(|e| failed(&e))?;
        let (pool, writer, backend) = match &location {
            Location::SqliteMemory => {
                // Every connection to `:memory:` is a database of its own: keep exactly
                // one, forever.
                let pool = sqlite_options()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect(url)
                    .await
                    .map_err(|e| failed(&e))?;
                (pool.clone(), pool, Backend::Sqlite)
            }
            Location::SqliteFile { url, path } => {
                if let Some(dir) = std::path::Path::new(path).parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        failed(&format!("cannot create directory {}: {e}", dir.display()))
                    })?;
                }
                probe(url).await.map_err(|e| failed(&e))?;
                let writer = sqlite_options()
                    .max_connections(1)
                    .acquire_timeout(WRITE_QUEUE_TIMEOUT)
                    .connect(url)
                    .await
                    .map_err(|e| failed(&e))?;
                // The journal mode is a property of the file: set once, it sticks.
                let mode: String = sqlx::query_scalar("PRAGMA journal_mode = WAL")
                    .fetch_one(&writer)
                    .await
                    .map_err(|e| failed(&e))?;
                if !mode.eq_ignore_ascii_case("wal") {
                    return Err(failed(&format!("journal mode is {mode}, not WAL")));
                }
                let pool = sqlite_options()
                    .max_connections(SQLITE_READERS)
                    .connect(url)
                    .await
                    .map_err(|e| failed(&e))?;
                (pool, writer, Backend::Sqlite)
            }
            Location::Postgres => {
                probe(url).await.map_err(|e| failed(&e))?;
                let pool = AnyPoolOptions::new()
                    .max_connections(POSTGRES_CONNECTIONS)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect(url)
                    .await
                    .map_err(|e| failed(&e))?;
                (pool.clone(), pool, Backend::Postgres)
            }
        };
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&writer)
            .await
            .map_err(|e| failed(&format!("migration failed: {e}")))?;
        // Nobody else can write a private in-memory database: the cache hears all.
        let cache = Arc::new(ReadCache::new(matches!(location, Location::SqliteMemory)));
        let (requests, _) = tokio::sync::broadcast::channel(REQUEST_BUFFER);
        let watcher = match &location {
            Location::SqliteMemory => Watcher::none(),
            Location::SqliteFile { url, .. } => Watcher::sqlite(url, Arc::downgrade(&cache)),
            Location::Postgres => Watcher::postgres(url, Arc::downgrade(&cache), requests.clone()),
        };
        tracing::debug!(url = %redact(url), ?backend, "store opened");
        let sqlite_file = match location {
            Location::SqliteFile { path, .. } => Some(path.into()),
            Location::SqliteMemory | Location::Postgres => None,
        };
        Ok(Store {
            pool,
            writer,
            backend,
            cache,
            watcher: Arc::new(watcher),
            sqlite_file,
            replica: crate::replicas::new_replica_id().into(),
            requests,
        })
    }

    /// Which database backs the store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection, waiting for calls in flight; later calls fail. For a
    /// SQLite file this also checkpoints the WAL into the main file.
    pub async fn close(&self) {
        self.watcher.stop();
        self.cache.hear(false);
        self.pool.close().await;
        self.writer.close().await;
    }
}

/// Connects once, without the pool: a pool retries a refused connection until its
/// acquire timeout and then reports only the timeout, while this fails at once with the
/// cause (refused, unknown host, bad password, unknown database).
async fn probe(url: &str) -> std::result::Result<(), sqlx::Error> {
    use sqlx::Connection as _;
    sqlx::AnyConnection::connect(url).await?.close().await
}

/// Pool settings every SQLite connection gets: foreign keys (the cascades rely on them),
/// synchronous NORMAL, and a 5 s busy timeout (how long a writer waits for the lock before "database is
/// locked"). They are the driver's defaults today, set again so the store does not
/// depend on them.
fn sqlite_options() -> AnyPoolOptions {
    AnyPoolOptions::new()
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(|connection, _| {
            Box::pin(async move {
                sqlx::query("PRAGMA foreign_keys = ON")
                    .execute(&mut *connection)
                    .await?;
                sqlx::query("PRAGMA busy_timeout = 5000")
                    .execute(&mut *connection)
                    .await?;
                // In WAL mode NORMAL still never corrupts the file; it only skips the
                // fsync of each commit (a power cut may lose the last transactions,
                // not a process crash), which is what made every transition cost a
                // disk flush.
                sqlx::query("PRAGMA synchronous = NORMAL")
                    .execute(&mut *connection)
                    .await?;
                Ok(())
            })
        })
}

/// Tells the backend from the URL and, for a SQLite file, adds `mode=rwc` (create when
/// missing) unless the URL sets a mode.
fn locate(url: &str) -> std::result::Result<Location, String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Location::Postgres);
    }
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return Err(
            "unsupported URL: use sqlite://FILE, sqlite::memory: or postgres://…".to_string(),
        );
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path == ":memory:" {
        return Ok(Location::SqliteMemory);
    }
    if path.is_empty() {
        return Err("the URL names no file".to_string());
    }
    let has_mode = query.split('&').any(|pair| pair.starts_with("mode="));
    let url = match (query.is_empty(), has_mode) {
        (true, _) => format!("{url}?mode=rwc"),
        (false, false) => format!("{url}&mode=rwc"),
        (false, true) => url.to_string(),
    };
    Ok(Location::SqliteFile {
        url,
        path: path.to_string(),
    })
}

/// The URL with its password replaced by `***`, for messages and logs.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((credentials, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    match credentials.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            redact("postgres://runplane:s3cr@t@db:5432/runplane?sslmode=require"),
            "postgres://runplane:***@db:5432/runplane?sslmode=require"
        );
        assert_eq!(
            redact("postgres://runplane@db/runplane"),
            "postgres://runplane@db/runplane"
        );
        assert_eq!(redact("sqlite://a/b.db"), "sqlite://a/b.db");
        assert_eq!(redact("sqlite::memory:"), "sqlite::memory:");
    }

    #[test]
    fn sqlite_files_are_created_unless_a_mode_is_given() {
        let Ok(Location::SqliteFile { url, path }) = locate("sqlite://data/run.db") else {
            panic!("not a file");
        };
        assert_eq!(
            (url.as_str(), path.as_str()),
            ("sqlite://data/run.db?mode=rwc", "data/run.db")
        );
        let Ok(Location::SqliteFile { url, .. }) = locate("sqlite:///x.db?mode=ro") else {
            panic!("not a file");
        };
        assert_eq!(url, "sqlite:///x.db?mode=ro");
        assert!(matches!(
            locate("sqlite::memory:"),
            Ok(Location::SqliteMemory)
        ));
        assert!(locate("mysql://db/x").is_err());
        assert!(locate("sqlite://").is_err());
    }
}
