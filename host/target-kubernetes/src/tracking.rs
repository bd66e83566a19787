//! Tracking runs without asking the API server per run: **one** watcher per kind over
//! every managed object of the process keeps, in memory, the live objects of the runs
//! being followed (and only those), and wakes each run's follower when one of its
//! objects changes. The target's own writes (the objects an apply returns) and direct
//! listings go into the same cache, so an object just applied is there before its watch
//! event arrives.
//!
//! The kinds watched follow the runs: a run is tracked with the kinds its runtime may
//! create ([`watched_kinds`]: Pods always, Secrets never), and a kind's watcher starts
//! with the first run that needs it and stops with the last, so a custom resource a
//! runtime plans (`ray.io/v1/RayJob`) is observed exactly as a Job is, and a kind no
//! live run needs costs no watch. Watchers are dynamic (`DynamicObject`): the JSON is
//! kept as the API server sent it.
//!
//! Which of two versions of an object is newer is told by `metadata.resourceVersion`,
//! compared as an integer: Kubernetes made resource versions of built-in types
//! comparable (KEP-5504, GA in 1.35); an unparsable one counts as newer.
//! When a watcher lists again (its start, a 410 Gone), a followed object the new
//! listing no longer holds was deleted meanwhile, and is recorded so.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Client, ResourceExt as _};
use runplane_model::ObservedObject;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::policy::{MANAGED_SELECTOR, RUN_LABEL, owner_name};

/// How often every followed run is observed again from memory even when nothing
/// changed. Nothing is listed again: a watcher only lists when it (re)starts or its
/// watch expired (410 Gone), as client-go's informers do.
pub const RESYNC: Duration = Duration::from_secs(5 * 60);

/// Kinds a run's objects are watched in whatever its runtime declares: the pods its
/// workloads start, which `observe` reads for their status.
const ALWAYS_WATCHED: &[&str] = &["v1/Pod"];
/// Kinds never watched nor handed to `observe`: a Secret's data is not the runtime's
/// to read back.
const NEVER_WATCHED: &[&str] = &["v1/Secret"];

/// The kinds (`<apiVersion>/<kind>`) the objects of a run of a runtime declaring
/// `declared` are watched in: Pods and `declared`, less Secrets, sorted.
pub fn watched_kinds(declared: &[String]) -> Vec<String> {
    let kinds: BTreeSet<&str> = ALWAYS_WATCHED
        .iter()
        .copied()
        .chain(declared.iter().map(String::as_str))
        .filter(|kind| !NEVER_WATCHED.contains(kind))
        .collect();
    kinds.into_iter().map(str::to_string).collect()
}

/// `<apiVersion>/<kind>` of an API resource.
pub(crate) fn kind_key(resource: &ApiResource) -> String {
    format!("{}/{}", resource.api_version, resource.kind)
}

/// `(namespace, run id)`.
type RunKey = (String, String);
/// `(kind as <apiVersion>/<kind>, name)`.
type ObjectKey = (String, String);

/// The last known version of one object of a followed run.
struct Entry {
    resource_version: Option<u64>,
    /// `None` once the object was deleted (kept, so an older version arriving late does
    /// not bring it back).
    object: Option<ObservedObject>,
}

/// The objects of one followed run.
struct RunObjects {
    objects: BTreeMap<ObjectKey, Entry>,
    changed: watch::Sender<()>,
    /// How many [`RunTracker`]s follow the run; forgotten at zero.
    trackers: usize,
}

/// What every watcher and tracker shares.
#[derive(Default)]
struct Cache {
    runs: HashMap<RunKey, RunObjects>,
    /// Per kind, while its watcher lists again: the followed objects it has not listed
    /// yet (and nobody wrote since it began).
    relisting: HashMap<String, HashSet<(RunKey, String)>>,
}

impl Cache {
    /// Follows `run` (once more): its wake-ups.
    fn follow(&mut self, run: &RunKey) -> watch::Receiver<()> {
        let objects = self.runs.entry(run.clone()).or_insert_with(|| RunObjects {
            objects: BTreeMap::new(),
            changed: watch::channel(()).0,
            trackers: 0,
        });
        objects.trackers += 1;
        objects.changed.subscribe()
    }

    /// Follows `run` once less, forgetting it when nobody does any more.
    fn unfollow(&mut self, run: &RunKey) {
        if let Some(objects) = self.runs.get_mut(run) {
            objects.trackers -= 1;
            if objects.trackers == 0 {
                self.runs.remove(run);
            }
        }
    }

    /// The objects of `run` that exist as last seen.
    fn objects(&self, run: &RunKey) -> Vec<ObservedObject> {
        self.runs.get(run).map_or_else(Vec::new, |objects| {
            objects
                .objects
                .values()
                .filter_map(|entry| entry.object.clone())
                .collect()
        })
    }

    /// Records `object` (or its deletion) if its run is followed and it is newer than
    /// what is known; wakes the run's follower when it is.
    fn record(
        &mut self,
        run: &RunKey,
        key: ObjectKey,
        version: Option<u64>,
        object: Option<ObservedObject>,
    ) {
        if let Some(pending) = self.relisting.get_mut(&key.0) {
            pending.remove(&(run.clone(), key.1.clone()));
        }
        let Some(objects) = self.runs.get_mut(run) else {
            return;
        };
        let newer = match objects.objects.get(&key) {
            Some(known) => match (version, known.resource_version) {
                (Some(incoming), Some(known)) => incoming >= known,
                _ => true,
            },
            None => true,
        };
        if newer {
            objects.objects.insert(
                key,
                Entry {
                    resource_version: version,
                    object,
                },
            );
            objects.changed.send_replace(());
        }
    }

    /// A watcher of `kind` begins listing again: every followed object of that kind is
    /// unconfirmed until listed (or written).
    fn relist_begins(&mut self, kind: &str) {
        let present = self
            .runs
            .iter()
            .flat_map(|(run, objects)| {
                objects
                    .objects
                    .iter()
                    .filter(|((k, _), entry)| k == kind && entry.object.is_some())
                    .map(move |((_, name), _)| (run.clone(), name.clone()))
            })
            .collect();
        self.relisting.insert(kind.to_string(), present);
    }

    /// The listing of `kind` is complete: what it did not hold was deleted meanwhile.
    fn relist_ends(&mut self, kind: &str) {
        for (run, name) in self.relisting.remove(kind).unwrap_or_default() {
            if let Some(objects) = self.runs.get_mut(&run)
                && let Some(entry) = objects.objects.get_mut(&(kind.to_string(), name))
            {
                entry.object = None;
                objects.changed.send_replace(());
            }
        }
    }
}

/// The running watchers: one per kind some tracked run needs, with how many trackers
/// need it, and the resync. Dropped with the last target clone and tracker, which
/// stops them all.
#[derive(Default)]
struct Watchers {
    by_kind: HashMap<String, Watcher>,
    resync: Option<JoinHandle<()>>,
}

/// The watcher of one kind and how many trackers need it.
struct Watcher {
    task: JoinHandle<()>,
    users: usize,
}

impl Drop for Watchers {
    fn drop(&mut self) {
        for watcher in self.by_kind.values() {
            watcher.task.abort();
        }
        if let Some(resync) = &self.resync {
            resync.abort();
        }
    }
}

/// The shared watchers, the resync and their cache.
pub(crate) struct Tracking {
    cache: Arc<Mutex<Cache>>,
    watchers: Arc<Mutex<Watchers>>,
    /// The one namespace the watchers watch; every namespace when `None`. A host with
    /// a Role per namespace (no cluster-wide list or watch) has one `Tracking` each.
    namespace: Option<String>,
}

impl Tracking {
    pub(crate) fn new(namespace: Option<String>) -> Self {
        Tracking {
            cache: Arc::default(),
            watchers: Arc::default(),
            namespace,
        }
    }

    /// Follows run `run_id` of `namespace` in `kinds` until the tracker is dropped,
    /// starting the watchers of the kinds no other tracker needed yet.
    pub(crate) fn track(
        &self,
        client: &Client,
        namespace: &str,
        run_id: &str,
        kinds: Vec<ApiResource>,
    ) -> RunTracker {
        {
            let mut watchers = self.watchers.lock().expect("not poisoned");
            if watchers.resync.is_none() {
                watchers.resync = Some(spawn_resync(&self.cache));
            }
            for resource in &kinds {
                let key = kind_key(resource);
                let watcher = watchers.by_kind.entry(key).or_insert_with(|| {
                    tracing::info!(kind = %kind_key(resource), "watching a kind");
                    Watcher {
                        task: spawn_watcher(
                            client,
                            self.namespace.as_deref(),
                            resource,
                            &self.cache,
                        ),
                        users: 0,
                    }
                });
                watcher.users += 1;
            }
        }
        let key = (namespace.to_string(), run_id.to_string());
        let changes = self.cache.lock().expect("not poisoned").follow(&key);
        RunTracker {
            changes,
            cache: self.cache.clone(),
            watchers: self.watchers.clone(),
            kinds,
            key,
        }
    }

    /// The kinds watched now, sorted.
    pub(crate) fn watched(&self) -> Vec<String> {
        let watchers = self.watchers.lock().expect("not poisoned");
        let mut kinds: Vec<String> = watchers.by_kind.keys().cloned().collect();
        kinds.sort();
        kinds
    }

    /// Records an object of kind `resource` the target wrote or listed itself, as the
    /// API server returned it, and returns its observed form; `None` for a kind never
    /// watched, an object of no run, or a run's owner.
    pub(crate) fn record(
        &self,
        resource: &ApiResource,
        object: &DynamicObject,
    ) -> Option<ObservedObject> {
        let (run, version, observed) = observed_object(resource, object)?;
        let key = (kind_key(resource), observed.name.clone());
        self.cache
            .lock()
            .expect("not poisoned")
            .record(&run, key, version, Some(observed.clone()));
        Some(observed)
    }
}

/// The run of a managed object, its resource version and its observed form (without
/// `managedFields`); `None` for a kind never watched, an object of no run, or a run's
/// owner.
fn observed_object(
    resource: &ApiResource,
    object: &DynamicObject,
) -> Option<(RunKey, Option<u64>, ObservedObject)> {
    if NEVER_WATCHED.contains(&kind_key(resource).as_str()) {
        return None;
    }
    let meta = &object.metadata;
    let run = (
        meta.namespace.clone()?,
        meta.labels.as_ref()?.get(RUN_LABEL)?.clone(),
    );
    let name = meta.name.clone()?;
    if resource.kind == "ConfigMap" && resource.api_version == "v1" && name == owner_name(&run.1) {
        return None;
    }
    let version = meta
        .resource_version
        .as_deref()
        .and_then(|v| v.parse().ok());
    let mut json = serde_json::to_value(object).expect("API objects serialize");
    json["apiVersion"] = resource.api_version.clone().into();
    json["kind"] = resource.kind.clone().into();
    if let Some(meta) = json.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        meta.remove("managedFields");
    }
    // Kept while the run lives: without the room the serializer grew into (up to
    // twice the text), which every live run's Pod and workload would hold.
    let mut text = json.to_string();
    text.shrink_to_fit();
    let observed = ObservedObject {
        api_version: resource.api_version.clone(),
        kind: resource.kind.clone(),
        name,
        object: text,
    };
    Some((run, version, observed))
}

/// Follows one run: its objects as the watchers last saw them, and a wake-up when they
/// change. Dropping it forgets the run (unless another tracker follows it) and stops the
/// watchers no other tracker needs.
pub struct RunTracker {
    cache: Arc<Mutex<Cache>>,
    watchers: Arc<Mutex<Watchers>>,
    kinds: Vec<ApiResource>,
    key: RunKey,
    changes: watch::Receiver<()>,
}

impl Debug for RunTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunTracker")
            .field("namespace", &self.key.0)
            .field("run", &self.key.1)
            .field(
                "kinds",
                &self.kinds.iter().map(kind_key).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl RunTracker {
    /// Resolves when an object of the run changed since the last call.
    pub async fn changed(&mut self) {
        if self.changes.changed().await.is_err() {
            // The sender lives as long as any tracker of the run: cannot happen.
            std::future::pending::<()>().await;
        }
    }

    /// The run's objects of the watched kinds (not its owner) as last seen, for the
    /// runtime's `observe`; deleted ones are left out.
    pub fn objects(&self) -> Vec<ObservedObject> {
        self.cache.lock().expect("not poisoned").objects(&self.key)
    }

    /// The namespace of the run.
    pub fn namespace(&self) -> &str {
        &self.key.0
    }

    /// The id of the run.
    pub fn run_id(&self) -> &str {
        &self.key.1
    }

    /// The kinds the run's objects are watched in.
    pub(crate) fn kinds(&self) -> &[ApiResource] {
        &self.kinds
    }
}

impl Drop for RunTracker {
    fn drop(&mut self) {
        self.cache.lock().expect("not poisoned").unfollow(&self.key);
        let mut watchers = self.watchers.lock().expect("not poisoned");
        for resource in &self.kinds {
            let key = kind_key(resource);
            let Some(watcher) = watchers.by_kind.get_mut(&key) else {
                continue;
            };
            watcher.users -= 1;
            if watcher.users == 0 {
                watcher.task.abort();
                watchers.by_kind.remove(&key);
                self.cache
                    .lock()
                    .expect("not poisoned")
                    .relisting
                    .remove(&key);
                tracing::info!(kind = %key, "no run needs the kind: its watcher stopped");
            }
        }
    }
}

/// One watcher over every managed object of kind `resource`, in `namespace` (all
/// namespaces when `None`), recording those of followed runs into `cache`.
fn spawn_watcher(
    client: &Client,
    namespace: Option<&str>,
    resource: &ApiResource,
    cache: &Arc<Mutex<Cache>>,
) -> JoinHandle<()> {
    let api: Api<DynamicObject> = match namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, resource),
        None => Api::all_with(client.clone(), resource),
    };
    let (cache, resource) = (cache.clone(), resource.clone());
    tokio::spawn(async move {
        let config = watcher::Config::default().labels(MANAGED_SELECTOR);
        let mut stream = std::pin::pin!(watcher(api, config).default_backoff());
        while let Some(event) = stream.next().await {
            on_event(&cache, &resource, event);
        }
    })
}

/// Every [`RESYNC`], wakes the follower of every run, which observes it again from
/// memory (an informer's resync: nothing is asked of the API server).
fn spawn_resync(cache: &Arc<Mutex<Cache>>) -> JoinHandle<()> {
    let cache = cache.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RESYNC);
        tick.tick().await;
        loop {
            tick.tick().await;
            let cache = cache.lock().expect("not poisoned");
            for objects in cache.runs.values() {
                objects.changed.send_replace(());
            }
        }
    })
}

/// Records one watch event of kind `resource` into `cache`.
fn on_event(
    cache: &Mutex<Cache>,
    resource: &ApiResource,
    event: Result<watcher::Event<DynamicObject>, watcher::Error>,
) {
    let kind = kind_key(resource);
    let (object, deleted) = match event {
        Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object)) => (object, false),
        Ok(watcher::Event::Delete(object)) => (object, true),
        Ok(watcher::Event::Init) => {
            return cache.lock().expect("not poisoned").relist_begins(&kind);
        }
        Ok(watcher::Event::InitDone) => {
            return cache.lock().expect("not poisoned").relist_ends(&kind);
        }
        Err(error) => {
            return tracing::warn!(kind, %error, "watch failed; retrying with backoff");
        }
    };
    // Objects of runs nobody follows are skipped before anything is serialized.
    let run = object
        .namespace()
        .zip(object.labels().get(RUN_LABEL).cloned());
    let Some(run) = run else {
        return;
    };
    if !cache.lock().expect("not poisoned").runs.contains_key(&run) {
        return;
    }
    if let Some((run, version, observed)) = observed_object(resource, &object) {
        let key = (kind, observed.name.clone());
        let object = (!deleted).then_some(observed);
        cache
            .lock()
            .expect("not poisoned")
            .record(&run, key, version, object);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> RunKey {
        ("ns".to_string(), "run-1".to_string())
    }

    fn object(name: &str, text: &str) -> Option<ObservedObject> {
        Some(ObservedObject {
            api_version: "batch/v1".to_string(),
            kind: "Job".to_string(),
            name: name.to_string(),
            object: text.to_string(),
        })
    }

    fn job(name: &str) -> ObjectKey {
        ("batch/v1/Job".to_string(), name.to_string())
    }

    fn texts(cache: &Cache) -> Vec<String> {
        cache
            .objects(&run())
            .into_iter()
            .map(|o| o.object)
            .collect()
    }

    #[test]
    fn the_newest_version_wins_whatever_order_it_arrives_in() {
        let mut cache = Cache::default();
        let mut changes = cache.follow(&run());
        cache.record(&run(), job("j"), Some(7), object("j", "v7"));
        cache.record(&run(), job("j"), Some(5), object("j", "v5"));
        assert_eq!(texts(&cache), ["v7"]);
        assert!(changes.has_changed().unwrap());
        changes.mark_unchanged();
        cache.record(&run(), job("j"), Some(6), None);
        assert!(
            !changes.has_changed().unwrap(),
            "an older deletion is no change"
        );
        cache.record(&run(), job("j"), Some(8), None);
        assert!(texts(&cache).is_empty());
        cache.record(&run(), job("j"), Some(7), object("j", "v7"));
        assert!(
            texts(&cache).is_empty(),
            "a late older version does not resurrect it"
        );
        cache.record(&run(), job("j"), Some(9), object("j", "v9"));
        assert_eq!(texts(&cache), ["v9"]);
    }

    #[test]
    fn a_relisting_deletes_what_it_no_longer_holds() {
        let mut cache = Cache::default();
        let _changes = cache.follow(&run());
        cache.record(&run(), job("gone"), Some(1), object("gone", "gone"));
        cache.record(&run(), job("kept"), Some(2), object("kept", "kept"));
        cache.relist_begins("batch/v1/Job");
        cache.record(&run(), job("kept"), Some(2), object("kept", "kept"));
        // Applied while the listing ran: not in its snapshot, not deleted.
        cache.record(&run(), job("new"), Some(4), object("new", "new"));
        cache.relist_ends("batch/v1/Job");
        assert_eq!(texts(&cache), ["kept", "new"]);
    }

    #[test]
    fn only_followed_runs_are_kept_and_the_last_tracker_forgets() {
        let mut cache = Cache::default();
        cache.record(&run(), job("j"), Some(1), object("j", "v1"));
        assert!(cache.runs.is_empty());
        let (_first, _second) = (cache.follow(&run()), cache.follow(&run()));
        cache.record(&run(), job("j"), Some(1), object("j", "v1"));
        cache.unfollow(&run());
        assert_eq!(texts(&cache), ["v1"]);
        cache.unfollow(&run());
        assert!(cache.runs.is_empty());
    }

    #[test]
    fn runs_watch_pods_and_what_their_runtime_declares_but_never_secrets() {
        let declared = [
            "v1/Secret".to_string(),
            "example.runplane.dev/v1/Widget".to_string(),
            "batch/v1/Job".to_string(),
        ];
        assert_eq!(
            watched_kinds(&declared),
            ["batch/v1/Job", "example.runplane.dev/v1/Widget", "v1/Pod"]
        );
        assert_eq!(watched_kinds(&[]), ["v1/Pod"]);
    }
}
