//! Runplane's store: one interface over SQLite (the embedded default, WAL, one file)
//! and PostgreSQL (several host replicas), with versioned migrations.
//!
//! Both backends run the same SQL through sqlx's `Any` driver (`$n` placeholders, which
//! SQLite accepts too), so a query is written once. To keep that possible the schema
//! only uses types both sides share: text (ids, names, JSON documents) and 64-bit
//! integers (versions, sequence numbers, timestamps as unix nanoseconds, which round-trip
//! an [`OffsetDateTime`] exactly and sort as numbers). Each backend has its own migration
//! directory (`migrations/sqlite`, `migrations/postgres`), embedded in the binary and
//! applied by [`Store::open`].
//!
//! Concurrency: a run carries a `version`; [`Store::record_transition`] is a conditional
//! update on it, so of several writers holding the same version exactly one wins and the
//! others get [`Error::Conflict`]. Every write transaction starts with its write (never
//! read-then-write), which lets SQLite wait on its busy timeout instead of failing with
//! a stale snapshot, and takes the row lock first on PostgreSQL.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> runplane_store::Result<()> {
//! let store = runplane_store::Store::open("sqlite://runplane.db").await?;
//! store.create_project("demo", Some("first steps")).await?;
//! let hello = store
//!     .create_function("demo", "hello", "python", &serde_json::json!({"handler": "main"}))
//!     .await?;
//! assert_eq!(store.get_function("demo", "hello", None).await?.id, hello.id);
//! store.close().await;
//! # Ok(())
//! # }
//! ```

mod cache;
mod catalog;
mod changes;
mod connect;
mod replicas;
mod rows;
mod runs;
mod runtimes;
mod single_host;
mod triggers;

pub use cache::{RunListing, Shared};
pub use replicas::Claimed;
use runplane_model::{AlreadyExists, LiveRuns, NotFound, RunId, SpecFile, Target, VersionInUse};
pub use single_host::HostClaim;
use time::OffsetDateTime;
pub use triggers::{Watch, WatchedTransition};

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No such project, function (version), task or run.
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// A project (or a run id) of that name exists.
    #[error(transparent)]
    AlreadyExists(#[from] AlreadyExists),
    /// Another replica drives the run now (it claimed it after this replica's heartbeat
    /// lapsed, or took it to stop, resume or delete it): this replica must let it go.
    #[error("run {id} is driven by replica {owner}, not by this one")]
    NotOwner {
        /// Id of the run.
        id: String,
        /// The replica that owns it (`none` when nobody does).
        owner: String,
    },
    /// The run changed since it was read (optimistic concurrency): re-read and retry.
    #[error("run {id} changed concurrently (expected version {expected}, found {found})")]
    Conflict {
        /// Id of the run whose row moved on.
        id: String,
        /// The version the writer had read.
        expected: i64,
        /// The version in the store.
        found: i64,
    },
    /// The project still has live runs and deletion was not forced.
    #[error(transparent)]
    LiveRuns(#[from] LiveRuns),
    /// The call cannot succeed as asked, however often it is retried: a transition the
    /// state machine forbids or that does not start from the run's stored state, a status
    /// that is not a JSON object. A caller bug, unlike [`Error::Conflict`].
    #[error("run {id}: {reason}")]
    Invalid {
        /// Id of the run the refused write was for.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// A runtime version cannot be deleted or activated: it is active, runs need it,
    /// or it failed to load.
    #[error(transparent)]
    InUse(#[from] VersionInUse),
    /// The database is too busy to take the call now (SQLite's lock or the write queue
    /// timed out, no connection came free): nothing was written, and a retry later can
    /// succeed.
    #[error("database busy: {0}")]
    Busy(String),
    /// The database failed (connection, I/O, corrupt row).
    #[error("database: {0}")]
    Database(String),
}

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which database backs the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file, in WAL mode.
    Sqlite,
    /// A PostgreSQL server, which several hosts can share (SQLite cannot).
    Postgres,
}

/// A run to insert: everything known when it is accepted, in state CREATED.
#[derive(Clone, Debug, PartialEq)]
pub struct NewRun {
    /// Id chosen by the caller.
    pub id: RunId,
    /// Run kind (`python+job:run`).
    pub kind: String,
    /// Function reference the run was created with (`python://demo/hello:<version>`).
    pub function_ref: String,
    /// Where it executes.
    pub target: Target,
    /// The full, resolved spec: function, task and run.
    pub spec: SpecFile,
    /// Digest of the runtime component that validated it; later calls for the run go
    /// to that component.
    pub runtime_digest: String,
    /// Retries with the same key (per project) get the first run back.
    pub idempotency_key: Option<String>,
    /// The run asked for the cluster and runs on the local target because the host has
    /// none.
    pub placed_locally: bool,
    /// When it was accepted.
    pub created: OffsetDateTime,
    /// The trigger firing that started it (which trigger, which due time or event),
    /// stored as its `status.trigger`; `None` for a run a user started.
    pub trigger: Option<serde_json::Value>,
}

/// The store: connection pools and the backend behind them. Cheap to clone (the pools
/// are shared), so every task of the host can hold one.
#[derive(Clone, Debug)]
pub struct Store {
    /// Reads (and, on PostgreSQL and in-memory SQLite, writes too).
    pool: sqlx::AnyPool,
    /// Writes. On a SQLite file, one connection: SQLite has one writer at a time, and
    /// writers queued here in order wait only for the write ahead of them, where
    /// writers on several connections would poll the file lock in SQLite's busy
    /// handler, unfairly, and some would time out ("database is locked") under load.
    writer: sqlx::AnyPool,
    backend: Backend,
    /// Runs and pages of runs as last read (see `cache`).
    cache: std::sync::Arc<cache::ReadCache>,
    /// Hears other writers' changes for `cache` while any clone of the store lives.
    watcher: std::sync::Arc<changes::Watcher>,
    /// The file of a SQLite store, which one host may serve at a time (`single_host`).
    sqlite_file: Option<std::path::PathBuf>,
    /// This store handle's replica id: the owner of the runs it inserts and claims, the
    /// only writer of their transitions (see `replicas`).
    replica: std::sync::Arc<str>,
    /// Stops asked of runs by other replicas, heard from PostgreSQL (see `replicas`).
    requests: tokio::sync::broadcast::Sender<RunId>,
}
