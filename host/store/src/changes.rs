//! Other writers' changes, heard by the [`ReadCache`]: what another replica (on
//! PostgreSQL) or another process (on a SQLite file) writes to the database this host
//! reads.
//!
//! - PostgreSQL: a trigger on `runs` notifies channel [`CHANNEL`] with the run's id at
//!   every commit that touches a run (migration `0004_run_changes.sql`); a listener
//!   drops that run and every page.
//! - A SQLite file: `PRAGMA data_version` on a connection of its own, which moves with
//!   every commit of any other connection, is read every [`SQLITE_POLL`]; when it moved,
//!   everything goes. Another process's write is seen within that time.
//!
//! Without a working signal (the listener lost its connection, the poll fails), the
//! cache is deaf ([`ReadCache::hear`]): every read goes to the database until the signal
//! is back.

use std::sync::{Mutex, PoisonError, Weak};
use std::time::Duration;

use runplane_model::RunId;
use sqlx::Connection as _;
use sqlx::postgres::PgListener;
use tokio::sync::{broadcast, oneshot};

use crate::cache::ReadCache;

/// The PostgreSQL channel the `runs` trigger notifies.
const CHANNEL: &str = "runplane_runs";
/// The PostgreSQL channel a stop asked of a run's owner notifies (migration
/// `0005_leases.sql`).
const REQUESTS: &str = "runplane_requests";
/// How often a SQLite file's `data_version` is read.
const SQLITE_POLL: Duration = Duration::from_millis(50);
/// How long a watcher waits before connecting again after a failure.
const RETRY: Duration = Duration::from_secs(1);

/// The watcher task's stop: it ends when this is dropped (the last clone of the store)
/// or [`Watcher::stop`]ped (the store closed).
#[derive(Debug)]
pub(crate) struct Watcher(Mutex<Option<oneshot::Sender<()>>>);

impl Watcher {
    /// Starts hearing the PostgreSQL server at `url` for `cache`.
    /// Stops asked of runs go to `requests`.
    pub(crate) fn postgres(
        url: &str,
        cache: Weak<ReadCache>,
        requests: broadcast::Sender<RunId>,
    ) -> Watcher {
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(listen(url.to_string(), cache, requests, stopped));
        Watcher(Mutex::new(Some(stop)))
    }

    /// Starts polling the SQLite file at `url` for `cache`.
    pub(crate) fn sqlite(url: &str, cache: Weak<ReadCache>) -> Watcher {
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(poll(url.to_string(), cache, stopped));
        Watcher(Mutex::new(Some(stop)))
    }

    /// A store nobody else can write (in-memory SQLite): nothing to hear.
    pub(crate) fn none() -> Watcher {
        Watcher(Mutex::new(None))
    }

    /// Ends the watcher task (and its connection).
    pub(crate) fn stop(&self) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
    }
}

/// Leaves the cache deaf when the watcher task ends, however it ends (stopped, or
/// dropped with the runtime it ran on while the store lives on).
struct Deafen(Weak<ReadCache>);

impl Drop for Deafen {
    fn drop(&mut self) {
        if let Some(cache) = self.0.upgrade() {
            cache.hear(false);
        }
    }
}

/// Listens on [`CHANNEL`] and [`REQUESTS`] until stopped, connecting again after every
/// loss.
async fn listen(
    url: String,
    cache: Weak<ReadCache>,
    requests: broadcast::Sender<RunId>,
    mut stopped: oneshot::Receiver<()>,
) {
    let _deafen = Deafen(cache.clone());
    loop {
        let connected = tokio::select! {
            _ = &mut stopped => return,
            connected = subscribe(&url) => connected,
        };
        match connected {
            Ok(mut listener) => {
                let Some(live) = cache.upgrade() else { return };
                live.hear(true);
                drop(live);
                loop {
                    let received = tokio::select! {
                        _ = &mut stopped => return,
                        received = listener.try_recv() => received,
                    };
                    let Some(live) = cache.upgrade() else { return };
                    match received {
                        Ok(Some(notification)) => {
                            let run = RunId::from(notification.payload().to_string());
                            if notification.channel() == REQUESTS {
                                let _ = requests.send(run);
                            } else {
                                live.run_changed(&run);
                            }
                        }
                        Ok(None) | Err(_) => {
                            tracing::warn!(
                                "store: lost the change listener; reading the database until it is back"
                            );
                            live.hear(false);
                            break;
                        }
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "store: cannot listen for changes; reading the database");
                let Some(live) = cache.upgrade() else { return };
                live.hear(false);
            }
        }
        tokio::select! {
            _ = &mut stopped => return,
            () = tokio::time::sleep(RETRY) => {}
        }
    }
}

async fn subscribe(url: &str) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen_all([CHANNEL, REQUESTS]).await?;
    Ok(listener)
}

/// Reads `data_version` every [`SQLITE_POLL`] until stopped; the cache hears while it
/// can read it.
async fn poll(url: String, cache: Weak<ReadCache>, mut stopped: oneshot::Receiver<()>) {
    let _deafen = Deafen(cache.clone());
    let mut connection: Option<sqlx::AnyConnection> = None;
    let mut seen: Option<i64> = None;
    let mut tick = tokio::time::interval(SQLITE_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            _ = tick.tick() => {}
        }
        let read = data_version(&mut connection, &url).await;
        let Some(live) = cache.upgrade() else { return };
        match read {
            Ok(version) if seen == Some(version) => {}
            Ok(version) => {
                // The first read, or a commit since the last: either way, start over.
                live.hear(true);
                seen = Some(version);
            }
            Err(error) => {
                if seen.is_some() {
                    tracing::warn!(%error, "store: cannot read the database's data version; reading the database");
                }
                live.hear(false);
                connection = None;
                seen = None;
            }
        }
    }
}

async fn data_version(
    connection: &mut Option<sqlx::AnyConnection>,
    url: &str,
) -> sqlx::Result<i64> {
    let connection = match connection {
        Some(connection) => connection,
        None => connection.insert(sqlx::AnyConnection::connect(url).await?),
    };
    sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(&mut *connection)
        .await
}
