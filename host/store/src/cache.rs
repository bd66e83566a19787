//! The read cache: runs and pages of runs as last read, so the reads clients poll (the
//! SDK GETs a run until it ends, and lists a project's runs) are answered from memory
//! while nothing changed, instead of a database round trip each.
//!
//! Coherence:
//!
//! - this host's own writes invalidate what they touch before they return, so a client
//!   reads its writes on the host that made them;
//! - other writers on the same database (another replica on PostgreSQL, another process
//!   on a SQLite file) are heard through the database's change signal ([`crate::changes`]);
//!   until the watcher hears it the cache serves nothing and keeps nothing, so a lost
//!   signal costs speed, never truth;
//! - a fill races writes: it takes a [`Ticket`] before its query and is kept only if no
//!   invalidation happened since, so an answer read before a write never outlives it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use bytes::Bytes;
use quick_cache::sync::Cache;
use runplane_model::{RunFilter, RunId, RunPage, StoredRun};

/// Runs kept (a poller's working set: the live runs and those just ended).
const RUNS: usize = 4096;
/// Pages of runs kept (one per filter and page that clients poll).
const PAGES: usize = 256;

/// A value as the store read it, shared by every reader while it is current, with room
/// for the one rendering its readers make of it (the API's JSON document), so that a
/// value polled a thousand times is rendered once.
#[derive(Debug)]
pub struct Shared<T> {
    value: T,
    rendered: OnceLock<Bytes>,
}

impl<T> Shared<T> {
    fn new(value: T) -> Arc<Self> {
        Arc::new(Shared {
            value,
            rendered: OnceLock::new(),
        })
    }

    /// The value.
    pub fn get(&self) -> &T {
        &self.value
    }

    /// The value rendered by `render`, the first caller's rendering for every later one:
    /// a reader must render a value only one way (a page, together with the listing that
    /// asked for it).
    pub fn rendered(&self, render: impl FnOnce(&T) -> Bytes) -> Bytes {
        self.rendered.get_or_init(|| render(&self.value)).clone()
    }
}

/// A listing of runs as asked (what [`crate::Store::list_runs`] takes), and the key of
/// its page in the cache.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RunListing {
    /// Which runs.
    pub filter: RunFilter,
    /// Page size (0: 100; at most 1000).
    pub limit: u32,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
    /// Runs skipped before the page.
    pub offset: u64,
}

/// The invalidations counted when a fill started (see the module documentation).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ticket(u64);

/// Runs and pages of runs as last read (see the module documentation).
pub(crate) struct ReadCache {
    runs: Cache<RunId, Arc<Shared<StoredRun>>>,
    pages: Cache<RunListing, Arc<Shared<RunPage>>>,
    /// Invalidations so far; held while an invalidation or a fill is applied, so a fill
    /// checks its ticket and inserts in one step.
    generation: Mutex<u64>,
    /// Whether other writers' changes reach the cache now.
    hearing: AtomicBool,
}

impl std::fmt::Debug for ReadCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadCache")
            .field("runs", &self.runs.len())
            .field("pages", &self.pages.len())
            .field("hearing", &self.hearing.load(Ordering::Relaxed))
            .finish()
    }
}

impl ReadCache {
    /// An empty cache; `hearing` says whether other writers' changes already reach it
    /// (a database no other writer can open: nothing to hear).
    pub(crate) fn new(hearing: bool) -> Self {
        ReadCache {
            runs: Cache::new(RUNS),
            pages: Cache::new(PAGES),
            generation: Mutex::new(0),
            hearing: AtomicBool::new(hearing),
        }
    }

    /// Run `id` as last read, if it is kept and may be trusted.
    pub(crate) fn run(&self, id: &RunId) -> Option<Arc<Shared<StoredRun>>> {
        self.trusted()?;
        self.runs.get(id)
    }

    /// The page `key` as last read, if it is kept and may be trusted.
    pub(crate) fn page(&self, key: &RunListing) -> Option<Arc<Shared<RunPage>>> {
        self.trusted()?;
        self.pages.get(key)
    }

    /// Taken before reading what a fill will keep.
    pub(crate) fn ticket(&self) -> Ticket {
        Ticket(*self.lock())
    }

    /// Shares `run`, read after `ticket` was taken, and keeps it unless something
    /// changed since.
    pub(crate) fn fill_run(&self, ticket: Ticket, run: StoredRun) -> Arc<Shared<StoredRun>> {
        let id = run.run.id.clone();
        let shared = Shared::new(run);
        self.keep(ticket, || self.runs.insert(id, shared.clone()));
        shared
    }

    /// Shares `page`, read after `ticket` was taken, and keeps it unless something
    /// changed since.
    pub(crate) fn fill_page(
        &self,
        ticket: Ticket,
        key: RunListing,
        page: RunPage,
    ) -> Arc<Shared<RunPage>> {
        let shared = Shared::new(page);
        self.keep(ticket, || self.pages.insert(key, shared.clone()));
        shared
    }

    /// Runs `insert` if nothing changed since `ticket` was taken, under the lock, so
    /// no invalidation comes between the check and the insert.
    fn keep(&self, ticket: Ticket, insert: impl FnOnce()) {
        let generation = self.lock();
        if *generation == ticket.0 && self.trusted().is_some() {
            insert();
        }
    }

    /// Run `id` was written (or created, or deleted): it and every page go.
    pub(crate) fn run_changed(&self, id: &RunId) {
        let mut generation = self.lock();
        *generation += 1;
        self.runs.remove(id);
        self.pages.clear();
    }

    /// Anything may have changed: everything goes.
    pub(crate) fn clear(&self) {
        let mut generation = self.lock();
        *generation += 1;
        self.runs.clear();
        self.pages.clear();
    }

    /// Whether other writers' changes reach the cache: when they stop (the watcher lost
    /// its connection), everything goes and nothing is served until they reach it again.
    pub(crate) fn hear(&self, hearing: bool) {
        if hearing {
            // What changed while the cache was deaf may be kept: drop it first.
            self.clear();
            self.hearing.store(true, Ordering::Release);
        } else {
            self.hearing.store(false, Ordering::Release);
            self.clear();
        }
    }

    fn trusted(&self) -> Option<()> {
        self.hearing.load(Ordering::Acquire).then_some(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, u64> {
        self.generation
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runplane_model::{Entity, Run, SpecFile, Target};
    use time::OffsetDateTime;

    fn entity(kind: &str) -> Entity {
        Entity {
            name: String::new(),
            kind: kind.to_string(),
            spec: serde_json::json!({}),
        }
    }

    fn stored(id: &str) -> StoredRun {
        let spec = SpecFile {
            project: "demo".into(),
            function: entity("python"),
            task: entity("python+job"),
            run: entity("python+job:run"),
            action: "job".into(),
        };
        let mut run = Run::of(&spec, Target::Local);
        run.id = RunId::from(id.to_string());
        StoredRun {
            run,
            kind: "python+job:run".into(),
            function_ref: "python://demo/hello".into(),
            spec,
            runtime_digest: None,
            status: serde_json::json!({}),
            version: 1,
            created: OffsetDateTime::UNIX_EPOCH,
            updated: OffsetDateTime::UNIX_EPOCH,
            placed_locally: false,
        }
    }

    #[test]
    fn a_fill_that_raced_a_write_is_not_kept() {
        let cache = ReadCache::new(true);
        let ticket = cache.ticket();
        cache.run_changed(&RunId::from("a".to_string()));
        cache.fill_run(ticket, stored("a"));
        assert!(cache.run(&RunId::from("a".to_string())).is_none());

        let ticket = cache.ticket();
        cache.fill_run(ticket, stored("a"));
        let kept = cache.run(&RunId::from("a".to_string())).unwrap();
        assert_eq!(kept.get(), &stored("a"));
    }

    #[test]
    fn a_value_is_rendered_once() {
        let cache = ReadCache::new(true);
        let shared = cache.fill_run(cache.ticket(), stored("a"));
        let first = shared.rendered(|run| Bytes::from(run.run.id.to_string()));
        let again = cache
            .run(&RunId::from("a".to_string()))
            .unwrap()
            .rendered(|_| unreachable!("rendered already"));
        assert_eq!((first.as_ref(), again.as_ref()), (&b"a"[..], &b"a"[..]));
    }

    #[test]
    fn a_deaf_cache_serves_and_keeps_nothing() {
        let cache = ReadCache::new(true);
        cache.fill_run(cache.ticket(), stored("a"));
        cache.hear(false);
        assert!(cache.run(&RunId::from("a".to_string())).is_none());
        cache.fill_run(cache.ticket(), stored("a"));
        cache.hear(true);
        assert!(cache.run(&RunId::from("a".to_string())).is_none());
    }

    #[test]
    fn a_write_drops_the_run_and_every_page() {
        let cache = ReadCache::new(true);
        let key = RunListing {
            filter: RunFilter::default(),
            limit: 20,
            cursor: None,
            offset: 0,
        };
        let page = RunPage {
            runs: vec![stored("b")],
            next: None,
        };
        cache.fill_run(cache.ticket(), stored("a"));
        cache.fill_run(cache.ticket(), stored("b"));
        cache.fill_page(cache.ticket(), key.clone(), page);
        cache.run_changed(&RunId::from("a".to_string()));
        assert!(cache.run(&RunId::from("a".to_string())).is_none());
        assert!(cache.run(&RunId::from("b".to_string())).is_some());
        assert!(cache.page(&key).is_none());
    }
}
