//! The Kubernetes target: the host's policy for a cluster, and the mechanics of
//! applying a run's guarded objects under one owner object, listing them back for the
//! runtime's `observe`, watching them for changes, stopping, deleting them and reading
//! their pods' logs.
//!
//! # Overview
//!
//! - [`policy`]: the namespace of a run, the names and labels of its objects, and the
//!   guard ([`policy::admit`]) every planned object passes before it is applied.
//! - [`KubernetesTarget::connect`]: a client from the kubeconfig (`KUBECONFIG` or
//!   `~/.kube/config`, optionally one context) or the in-cluster configuration.
//! - [`KubernetesTarget::apply_run`]: server-side apply, field manager [`FIELD_MANAGER`],
//!   forced, in order, of the run's **owner** (a ConfigMap named [`policy::owner_name`]) and then
//!   of every object with an `ownerReference` to it; the namespace is created first when
//!   missing. Names are deterministic, so applying again (resume, re-attach) creates
//!   nothing twice.
//! - [`KubernetesTarget::track`]: a [`RunTracker`] following one run: its objects of
//!   the kinds its runtime may create, and its Pods (label `runplane.io/run=<id>`, the
//!   owner and Secrets left out) as [`ObservedObject`]s, kept current by **one** watcher
//!   per kind over every object labelled `app.kubernetes.io/managed-by=runplane`, shared
//!   by every run of the process, started with the first run that needs the kind and
//!   stopped with the last; and a wake-up when they change.
//! - [`KubernetesTarget::observe_run`]: the same objects listed from the API server;
//!   [`missing_workload`] tells a workload deleted behind the host's back.
//! - [`KubernetesTarget::stop_run`]: deletes the run's Jobs and bare Pods, scales its
//!   Deployments and StatefulSets to zero; [`KubernetesTarget::wait_for_no_pods`].
//! - [`KubernetesTarget::delete_run`]: deletes the owner, so that the garbage collector
//!   deletes the rest, and waits until no object carries the run's label
//!   ([`KubernetesTarget::remaining_objects`]).
//! - [`KubernetesTarget::logs`]: the log lines of the run's pods, through the API server.
//!
//! Waits are bounded by [`KubernetesTarget::removal_timeout`]; how long a run may stay
//! pending is [`KubernetesTarget::pending_timeout`].
//!
//! By default the target works in every namespace: its watchers watch the whole
//! cluster and it creates a run's namespace when missing. A host deployed with
//! namespaced permissions only ([`KubernetesTarget::with_namespaces`]: a Role per
//! namespace, `deploy/helm/runplane`) watches each of its namespaces apart, creates
//! none, and refuses runs in any other ([`Error::Unmanaged`]).

mod apply;
mod logs;
pub mod policy;
mod removal;
mod tracking;

pub use apply::{AppliedObject, missing_workload};
pub use removal::{Deletion, Stopped};
pub use tracking::{RESYNC, RunTracker, watched_kinds};

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolumeClaim, Pod, Secret, Service,
};
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, Config};
use runplane_model::ObservedObject;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::policy::{PodSecurity, run_selector};
use crate::tracking::Tracking;

/// The field manager of every apply.
pub const FIELD_MANAGER: &str = "runplane";
/// How long a run may stay pending unless configured otherwise: long enough for a slow
/// image pull or a cluster autoscaler, short enough that a typo in an image name ends.
pub const DEFAULT_PENDING_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How long a stop or a delete waits for the run's pods or objects to go unless
/// configured otherwise (graceful termination, finalizers, the garbage collector).
pub const DEFAULT_REMOVAL_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// How many runs are planned and applied at once unless set: a controller's workers
/// (controller-runtime's `MaxConcurrentReconciles`). Every run being applied holds an
/// HTTP connection to the API server (the kube client opens one per request in flight
/// and keeps it idle afterwards) and its plan's objects; without a bound, a burst of
/// submissions opened one connection per run and kept every plan in memory at once.
pub const DEFAULT_APPLY_CONCURRENCY: usize = 32;

/// What went wrong talking to the cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No usable configuration: no kubeconfig, no in-cluster environment.
    #[error("no Kubernetes configuration: {0} (set KUBECONFIG or run inside a cluster)")]
    Config(String),
    /// The client could not be built.
    #[error("cannot build a Kubernetes client: {0}")]
    Client(#[source] Box<kube::Error>),
    /// An object is not a Kubernetes object (no apiVersion, kind or name).
    #[error("object #{index} is not a Kubernetes object: {message}")]
    Malformed {
        /// Its position in the plan.
        index: usize,
        /// What is missing.
        message: String,
    },
    /// The API server does not serve a kind.
    #[error("the API server does not serve {api_version}/{kind}: {source}")]
    UnknownKind {
        /// The object's `apiVersion` (`batch/v1`).
        api_version: String,
        /// The object's `kind` (`Job`).
        kind: String,
        /// What discovery of `api_version` answered (not served, or the server away).
        #[source]
        source: Box<kube::Error>,
    },
    /// The kind is not namespaced: runs only create objects in their namespace.
    #[error("{api_version}/{kind} is cluster-scoped: runs only create objects in their namespace")]
    ClusterScoped {
        /// The object's `apiVersion`.
        api_version: String,
        /// The object's `kind`.
        kind: String,
    },
    /// The host manages a fixed set of namespaces
    /// ([`KubernetesTarget::with_namespaces`]) and a run's is not one of them.
    #[error(
        "namespace {namespace} is not one this host manages ([kubernetes] namespaces: {})",
        .managed.join(", ")
    )]
    Unmanaged {
        /// The run's namespace.
        namespace: String,
        /// The namespaces the host manages.
        managed: Vec<String>,
    },
    /// The namespace could not be read or created.
    #[error("namespace {namespace}: {source}")]
    Namespace {
        /// The run's namespace (its project's name, see [`policy::namespace_of`]).
        namespace: String,
        /// kube's error: the API server's status (403, 409, 422, …) or a transport
        /// failure.
        #[source]
        source: Box<kube::Error>,
    },
    /// An apply was refused.
    #[error("cannot apply {kind}/{name} in namespace {namespace}: {source}")]
    Apply {
        /// The object's `kind` (`Job`).
        kind: String,
        /// The object's `metadata.name`.
        name: String,
        /// The namespace it was applied in, the run's.
        namespace: String,
        /// kube's error: the API server's status (403, 409, 422, …) or a transport
        /// failure.
        #[source]
        source: Box<kube::Error>,
    },
    /// Listing a kind failed.
    #[error("cannot list {kind} of run {run_id} in namespace {namespace}: {source}")]
    List {
        /// The kind listed (`Pod`).
        kind: String,
        /// Id of the run whose objects were listed, by its run label.
        run_id: String,
        /// The run's namespace.
        namespace: String,
        /// kube's error: the API server's status (403, 409, 422, …) or a transport
        /// failure.
        #[source]
        source: Box<kube::Error>,
    },
    /// Deleting objects failed.
    #[error("cannot delete {kind} of run {run_id} in namespace {namespace}: {source}")]
    Delete {
        /// kind (or `Kind/name`).
        kind: String,
        /// Id of the run whose objects were being deleted.
        run_id: String,
        /// The run's namespace.
        namespace: String,
        /// kube's error: the API server's status (403, 409, 422, …) or a transport
        /// failure.
        #[source]
        source: Box<kube::Error>,
    },
    /// Reading one object failed.
    #[error("cannot read {object} in namespace {namespace}: {source}")]
    Get {
        /// `Kind/name`.
        object: String,
        /// The namespace of the object, its run's.
        namespace: String,
        /// kube's error: the API server's status (403, 409, 422, …) or a transport
        /// failure.
        #[source]
        source: Box<kube::Error>,
    },
    /// Scaling a workload to zero failed.
    #[error("cannot scale {object} in namespace {namespace} to zero: {source}")]
    Scale {
        /// `Kind/name`.
        object: String,
        /// The namespace of the object, its run's.
        namespace: String,
        /// kube's error: the API server's status (403, 409, 422, …) or a transport
        /// failure.
        #[source]
        source: Box<kube::Error>,
    },
    /// Asking Argo to stop a workflow (`spec.shutdown`) failed.
    #[error("cannot ask Argo to stop {object} in namespace {namespace}: {source}")]
    Shutdown {
        /// `Kind/name`.
        object: String,
        /// The namespace of the object, its run's.
        namespace: String,
        /// kube's error: the API server's status (403, 409, 422, …) or a transport
        /// failure.
        #[source]
        source: Box<kube::Error>,
    },
    /// An object of the plan exists and is not the run's: a forced apply would take it
    /// over, so nothing of the plan was applied.
    #[error(
        "{object} exists in namespace {namespace} and belongs to {}: a run applies only its own objects",
        .owner.as_deref().map_or_else(|| "no Runplane run".to_string(), |run| format!("run {run}"))
    )]
    Foreign {
        /// `Kind/name` of the object.
        object: String,
        /// The run's namespace.
        namespace: String,
        /// The run its live copy's run label names; `None` when it has none.
        owner: Option<String>,
    },
    /// Objects of a run were still there when a wait gave up.
    #[error("{waiting_for} did not happen within {}s; still there: {}", .waited.as_secs(), .remaining.join(", "))]
    Timeout {
        /// What was waited for, in words.
        waiting_for: String,
        /// How long the wait lasted before giving up: the target's removal timeout.
        waited: Duration,
        /// `Kind/name` of what was still there.
        remaining: Vec<String>,
    },
    /// The run has no pod to read logs from.
    #[error("run {run_id} has no pods in namespace {namespace} (not started yet, or deleted)")]
    NoPods {
        /// Id of the run whose pods were looked for, by its run label.
        run_id: String,
        /// The run's namespace.
        namespace: String,
    },
    /// Opening or reading a container's log failed.
    #[error(
        "cannot read the log of container {container} of Pod/{pod} in namespace {namespace}: {message}"
    )]
    Logs {
        /// `metadata.name` of the Pod the container runs in.
        pod: String,
        /// The container, as named in the Pod's spec (a Pod may run several).
        container: String,
        /// The Pod's namespace, its run's.
        namespace: String,
        /// Why, with a hint when the node's kubelet could not be reached.
        message: String,
    },
}

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A connection to one cluster. Cheap to clone; clones share the watchers.
#[derive(Clone)]
pub struct KubernetesTarget {
    client: Client,
    kinds: Arc<Mutex<HashMap<GroupVersionKind, ApiResource>>>,
    /// Namespaces this target saw exist: not asked for again before every apply.
    namespaces: Arc<Mutex<HashSet<String>>>,
    tracking: Scope,
    pending_timeout: Duration,
    removal_timeout: Duration,
    /// Slots of the runs being planned and applied ([`DEFAULT_APPLY_CONCURRENCY`]).
    applying: Arc<Semaphore>,
    /// The Pod Security level labelled on the namespaces this target creates, so that
    /// the cluster's own admission enforces what the guard checks.
    pod_security: PodSecurity,
}

impl Debug for KubernetesTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesTarget")
            .field("cluster", &self.client.default_namespace())
            .finish_non_exhaustive()
    }
}

impl KubernetesTarget {
    /// Connects with the kubeconfig (`KUBECONFIG`, else `~/.kube/config`), using
    /// `context` or the current one; without a kubeconfig, with the in-cluster
    /// configuration.
    pub async fn connect(context: Option<String>) -> Result<Self> {
        let options = KubeConfigOptions {
            context,
            ..KubeConfigOptions::default()
        };
        let config = match Config::from_kubeconfig(&options).await {
            Ok(config) => config,
            Err(kubeconfig) => match Config::incluster() {
                Ok(config) if options.context.is_none() => config,
                _ => return Err(Error::Config(kubeconfig.to_string())),
            },
        };
        Self::from_config(config)
    }

    /// Connects with the kubeconfig file at `path` (its current context).
    pub async fn from_kubeconfig(path: &std::path::Path) -> Result<Self> {
        let kubeconfig = Kubeconfig::read_from(path)
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        Self::from_config(config)
    }

    /// A target over a client configuration.
    pub fn from_config(config: Config) -> Result<Self> {
        let client = Client::try_from(config).map_err(|e| Error::Client(Box::new(e)))?;
        Ok(Self::from_client(client))
    }

    /// A target over an existing client.
    pub fn from_client(client: Client) -> Self {
        KubernetesTarget {
            client,
            kinds: Arc::default(),
            namespaces: Arc::default(),
            tracking: Scope::Cluster(Arc::new(Tracking::new(None))),
            pending_timeout: DEFAULT_PENDING_TIMEOUT,
            removal_timeout: DEFAULT_REMOVAL_TIMEOUT,
            applying: Arc::new(Semaphore::new(DEFAULT_APPLY_CONCURRENCY)),
            pod_security: PodSecurity::default(),
        }
    }

    /// The same target (sharing its watchers), labelling the namespaces it creates from
    /// now on with Pod Security admission level `level` (`restricted` unless set, the
    /// guard's default). A host whose policy admits privileged build pods must say so
    /// here too, or the cluster refuses their pods. Existing namespaces keep their labels:
    /// they are the cluster admin's.
    pub fn with_pod_security(mut self, level: PodSecurity) -> Self {
        self.pod_security = level;
        self
    }

    /// The same target, working in `namespaces` only, which must exist: one set of
    /// watchers per namespace (so that the host needs no permission outside them: a
    /// Role in each is enough), no namespace created, and a run in any other namespace
    /// refused with [`Error::Unmanaged`]. Call it before the first run is tracked: the
    /// watchers of the previous scope are not shared.
    pub fn with_namespaces(mut self, namespaces: impl IntoIterator<Item = String>) -> Self {
        let scoped = namespaces
            .into_iter()
            .map(|namespace| {
                let tracking = Tracking::new(Some(namespace.clone()));
                (namespace, tracking)
            })
            .collect();
        self.tracking = Scope::Namespaces(Arc::new(scoped));
        self
    }

    /// The watchers of `namespace`, unless the target is limited to other namespaces.
    fn tracking(&self, namespace: &str) -> Result<&Tracking> {
        match &self.tracking {
            Scope::Cluster(tracking) => Ok(tracking),
            Scope::Namespaces(scoped) => scoped.get(namespace).ok_or_else(|| Error::Unmanaged {
                namespace: namespace.to_string(),
                managed: scoped.keys().cloned().collect(),
            }),
        }
    }

    /// The same target (sharing its watchers), ending runs that stay pending longer than
    /// `timeout` in ERROR.
    pub fn with_pending_timeout(mut self, timeout: Duration) -> Self {
        self.pending_timeout = timeout;
        self
    }

    /// How long a run may stay pending ([`DEFAULT_PENDING_TIMEOUT`] unless set).
    pub fn pending_timeout(&self) -> Duration {
        self.pending_timeout
    }

    /// The same target (sharing its watchers), waiting at most `timeout` for a stopped
    /// run's pods or a deleted run's objects to go.
    pub fn with_removal_timeout(mut self, timeout: Duration) -> Self {
        self.removal_timeout = timeout;
        self
    }

    /// How long stops and deletes wait ([`DEFAULT_REMOVAL_TIMEOUT`] unless set).
    pub fn removal_timeout(&self) -> Duration {
        self.removal_timeout
    }

    /// The same target, planning and applying at most `runs` runs at once (at least
    /// one; [`DEFAULT_APPLY_CONCURRENCY`] unless set). Clones made before share the old
    /// bound.
    pub fn with_apply_concurrency(mut self, runs: usize) -> Self {
        self.applying = Arc::new(Semaphore::new(runs.max(1)));
        self
    }

    /// A slot to plan and apply one run in, waited for while
    /// [`with_apply_concurrency`](Self::with_apply_concurrency) runs hold theirs; the
    /// run keeps it until its objects are applied (dropping it frees the slot).
    pub async fn apply_slot(&self) -> OwnedSemaphorePermit {
        self.applying
            .clone()
            .acquire_owned()
            .await
            .expect("the apply semaphore is never closed")
    }

    /// The kube client this target talks through, for what the target does not wrap
    /// (the cluster tests read objects with it).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates `namespace` unless it exists (or this target saw it exist before),
    /// labelled `pod-security.kubernetes.io/enforce` with this target's level
    /// ([`with_pod_security`](Self::with_pod_security)): the API server then refuses
    /// any pod the guard should have refused and did not.
    ///
    /// A target limited to some namespaces ([`with_namespaces`](Self::with_namespaces))
    /// only checks that `namespace` is one of them: they are the cluster admin's.
    pub async fn ensure_namespace(&self, namespace: &str) -> Result<()> {
        if let Scope::Namespaces(_) = self.tracking {
            return self.tracking(namespace).map(drop);
        }
        if self
            .namespaces
            .lock()
            .expect("not poisoned")
            .contains(namespace)
        {
            return Ok(());
        }
        let api: Api<Namespace> = Api::all(self.client.clone());
        let failed = |source| Error::Namespace {
            namespace: namespace.to_string(),
            source: Box::new(source),
        };
        if api.get_opt(namespace).await.map_err(failed)?.is_none() {
            let mut created = Namespace::default();
            created.metadata.name = Some(namespace.to_string());
            created.metadata.labels = Some(
                [(
                    policy::POD_SECURITY_ENFORCE_LABEL.to_string(),
                    self.pod_security.label().to_string(),
                )]
                .into(),
            );
            match api.create(&PostParams::default(), &created).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.is_already_exists() => {}
                Err(error) => return Err(failed(error)),
            }
        }
        self.namespaces
            .lock()
            .expect("not poisoned")
            .insert(namespace.to_string());
        Ok(())
    }

    /// Forgets that `namespace` exists: an apply found it gone.
    fn forget_namespace(&self, namespace: &str) {
        self.namespaces
            .lock()
            .expect("not poisoned")
            .remove(namespace);
    }

    /// The API resource of a namespaced kind: the built-in kinds as k8s-openapi knows
    /// them, any other discovered once. A cluster-scoped kind is an error: runs only
    /// create objects in their own namespace.
    async fn resource(&self, api_version: &str, kind: &str) -> Result<ApiResource> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        if let Some(found) = self.kinds.lock().expect("not poisoned").get(&gvk) {
            return Ok(found.clone());
        }
        let resource = match builtin_resource(api_version, kind) {
            Some(resource) => resource,
            None => {
                let (resource, capabilities) = kube::discovery::pinned_kind(&self.client, &gvk)
                    .await
                    .map_err(|source| Error::UnknownKind {
                        api_version: api_version.to_string(),
                        kind: kind.to_string(),
                        source: Box::new(source),
                    })?;
                if capabilities.scope != kube::discovery::Scope::Namespaced {
                    return Err(Error::ClusterScoped {
                        api_version: api_version.to_string(),
                        kind: kind.to_string(),
                    });
                }
                resource
            }
        };
        self.kinds
            .lock()
            .expect("not poisoned")
            .insert(gvk, resource.clone());
        Ok(resource)
    }

    /// The run of `tracker`'s live objects of the kinds it watches, status included
    /// (without `managedFields`), for the runtime's `observe`. The owner object is the
    /// host's, not the runtime's: it is left out. Listed from the API server (a quorum
    /// read), never from a cache, so an object applied just before is always there; the
    /// run's trackers learn them too.
    pub async fn observe_run(&self, tracker: &RunTracker) -> Result<Vec<ObservedObject>> {
        let (namespace, run_id) = (tracker.namespace(), tracker.run_id());
        let tracking = self.tracking(namespace)?;
        let mut objects = Vec::new();
        for resource in tracker.kinds() {
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.client.clone(), namespace, resource);
            let list = api
                .list(&ListParams::default().labels(&run_selector(run_id)))
                .await
                .map_err(|source| Error::List {
                    kind: resource.kind.clone(),
                    run_id: run_id.to_string(),
                    namespace: namespace.to_string(),
                    source: Box::new(source),
                })?;
            objects.extend(
                list.items
                    .iter()
                    .filter_map(|item| tracking.record(resource, item)),
            );
        }
        Ok(objects)
    }

    /// Follows run `run_id` of `namespace` from now on (until the tracker is dropped)
    /// in the kinds a runtime declaring `declared` may create ([`watched_kinds`]): what
    /// the shared watchers (one per kind, started with the first run that needs it and
    /// stopped with the last) see of it, and what this target applies or lists of it.
    /// Objects that existed before and do not change are only known after an
    /// [`observe_run`](Self::observe_run). A kind the API server does not serve (its
    /// CustomResourceDefinition is not installed) or keeps outside namespaces is not
    /// watched, with a warning: applying an object of it fails, naming it. A run in a
    /// namespace the target does not manage is tracked in no kind (applying fails).
    pub async fn track(&self, namespace: &str, run_id: &str, declared: &[String]) -> RunTracker {
        let tracking = match self.tracking(namespace) {
            Ok(tracking) => tracking,
            Err(error) => {
                tracing::warn!(run = run_id, %error, "not watching the run");
                return Tracking::new(None).track(&self.client, namespace, run_id, Vec::new());
            }
        };
        let mut kinds = Vec::new();
        for key in watched_kinds(declared) {
            let Some((api_version, kind)) = key.rsplit_once('/') else {
                continue;
            };
            match self.resource(api_version, kind).await {
                Ok(resource) => kinds.push(resource),
                Err(error) => tracing::warn!(run = run_id, %error, "not watching {key}"),
            }
        }
        tracking.track(&self.client, namespace, run_id, kinds)
    }

    /// The kinds watched now (`batch/v1/Job`), sorted: those the tracked runs need (in
    /// any of the target's namespaces).
    pub fn watched(&self) -> Vec<String> {
        match &self.tracking {
            Scope::Cluster(tracking) => tracking.watched(),
            Scope::Namespaces(scoped) => {
                let kinds: BTreeSet<String> = scoped.values().flat_map(Tracking::watched).collect();
                kinds.into_iter().collect()
            }
        }
    }
}

/// Where a target's watchers watch: the whole cluster, or each managed namespace apart
/// (each with its own watchers and cache).
#[derive(Clone)]
enum Scope {
    Cluster(Arc<Tracking>),
    Namespaces(Arc<BTreeMap<String, Tracking>>),
}

/// The resource of a namespaced kind k8s-openapi knows, without asking discovery (so a
/// run of the built-in kinds is tracked even while the API server is away).
fn builtin_resource(api_version: &str, kind: &str) -> Option<ApiResource> {
    let known = [
        ApiResource::erase::<ConfigMap>(&()),
        ApiResource::erase::<Secret>(&()),
        ApiResource::erase::<Service>(&()),
        ApiResource::erase::<Pod>(&()),
        ApiResource::erase::<PersistentVolumeClaim>(&()),
        ApiResource::erase::<Job>(&()),
        ApiResource::erase::<CronJob>(&()),
        ApiResource::erase::<Deployment>(&()),
        ApiResource::erase::<StatefulSet>(&()),
    ];
    known
        .into_iter()
        .find(|resource| resource.api_version == api_version && resource.kind == kind)
}
