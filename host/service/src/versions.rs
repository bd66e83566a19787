//! Runtime versions as live objects: uploaded, hot-loaded from the plugin directory,
//! activated (and rolled back), deleted, and loaded on demand for the runs pinned to
//! them. The store is the record every replica shares (component bytes, info, who,
//! when, state); the registry is what this host has loaded. A change is written to the
//! store first and swapped into the registry second, so a failed write changes nothing
//! that serves.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use runplane_engine::{LoadError, LoadedRuntime, inspect};
use runplane_model::{NotFound, StoredRun, StoredVersion, VersionState};
use runplane_store::Error as StoreError;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::runtimes::Runtimes;
use crate::{Error, Result};

/// Who loads an uploaded version, and what they ask for.
#[derive(Clone, Debug)]
pub struct Upload<'a> {
    /// The caller (a token's name), recorded with the version.
    pub loaded_by: &'a str,
    /// Take the name of a runtime loaded from elsewhere (a built-in, a plugin file):
    /// this version becomes a new version of it. Never allows taking another
    /// runtime's function kinds.
    pub replace: bool,
    /// Make it the active version once loaded (otherwise it is kept inactive, ready to
    /// be activated).
    pub activate: bool,
}

/// Counts of loads and swaps since the host started, for `/metrics`.
#[derive(Debug, Default)]
pub struct LoadCounts {
    /// Versions loaded and kept (uploads, plugin files, versions read from the store).
    pub loaded: AtomicU64,
    /// Loads that failed or were refused.
    pub failed: AtomicU64,
    /// Swaps of a runtime's active version.
    pub swaps: AtomicU64,
    /// Microseconds spent in successful loads, summed (with `loaded`, the mean).
    pub load_micros: AtomicU64,
}

/// Who records the versions the host itself brings.
const HOST: &str = "host";
/// Who records the versions of the plugin directory.
const DIRECTORY: &str = "plugin directory";
/// The origin of uploaded versions.
const UPLOAD: &str = "upload";

impl Runtimes {
    /// Records the runtimes loaded at start (built-ins, plugin files) in the store and
    /// then makes the registry follow the store: a version the store has never seen (a
    /// new binary's built-in, a new file) becomes active; otherwise the version the
    /// store says is active is (an upload activated before a restart), loaded from its
    /// stored bytes. A stored version that no longer loads is logged and skipped: the
    /// host serves what it has.
    pub async fn restore(&self) -> Result<()> {
        for runtime in self.registry.all() {
            // A version the store already keeps as loadable is not written again: its
            // component is the same bytes, and a start-up need not send them.
            let new = match self.store.runtime_version(runtime.digest()).await {
                Ok(kept) if matches!(kept.state, VersionState::Failed | VersionState::Loading) => {
                    false
                }
                Ok(_) => continue,
                Err(StoreError::NotFound(_)) => true,
                Err(error) => return Err(error.into()),
            };
            let by = if runtime.origin().starts_with("built-in ") {
                HOST
            } else {
                DIRECTORY
            };
            self.record(
                &runtime,
                by,
                VersionState::Inactive,
                Some(runtime.component()),
            )
            .await?;
            if new {
                self.store
                    .activate_runtime_version(runtime.name(), runtime.digest())
                    .await?;
            }
        }
        self.follow_store().await
    }

    /// Makes the registry's active versions those the store says are active (another
    /// replica may have activated one), loading any version this host has not loaded.
    pub async fn follow_store(&self) -> Result<()> {
        for version in self.store.runtime_versions(None).await? {
            let current = self.registry.get(&version.name);
            if version.state != VersionState::Active
                || current.is_some_and(|rt| rt.digest() == version.digest)
            {
                continue;
            }
            match self.loaded(&version).await {
                Ok(runtime) => self.swap(&runtime),
                Err(error) => tracing::error!(
                    runtime = version.name,
                    digest = version.digest,
                    %error,
                    "the store's active version does not load here; the current one keeps serving"
                ),
            }
        }
        Ok(())
    }

    /// Loads an uploaded component as a version of the runtime its `info` names:
    /// compiled off the request path (the engine's threads, a compiler worker), its
    /// contract, `info` and schemas checked, its name and kinds owned, then recorded
    /// and, when asked, made active in one swap. A component that does not load is
    /// refused with the reason and nothing is stored; one whose name or kinds belong
    /// to another runtime is recorded `failed`, with the reason.
    pub async fn upload(&self, component: &[u8], upload: Upload<'_>) -> Result<StoredVersion> {
        self.upload_from(component, UPLOAD, upload).await
    }

    /// [`Self::upload`] of a component that came from `origin` (a pinned `oci://`
    /// reference), which the version records.
    pub(crate) async fn upload_from(
        &self,
        component: &[u8],
        origin: &str,
        upload: Upload<'_>,
    ) -> Result<StoredVersion> {
        let started = Instant::now();
        let runtime = match self.registry.engine().load(component, origin).await {
            Ok(runtime) => runtime,
            Err(error) => return Err(self.failed_load(error)),
        };
        let (runtime, version) = self
            .keep(runtime, upload.loaded_by, upload.replace, started)
            .await?;
        if upload.activate {
            return self.activate(runtime.name(), runtime.digest()).await;
        }
        Ok(version)
    }

    /// Loads the plugin file at `path` again (a watched directory changed) and makes it
    /// the active version of its runtime, as the directory rules allow (a file replaces
    /// its own earlier version, never a runtime from elsewhere). A file that does not
    /// load is recorded `failed` under the name last loaded from it (or its stem).
    pub async fn load_file(&self, path: &Path) -> Result<StoredVersion> {
        let started = Instant::now();
        let origin = path.display().to_string();
        let runtime = match self.registry.engine().load_file(path).await {
            Ok(runtime) => runtime,
            Err(error) => {
                let reason = chain(&error);
                self.record_failed_file(path, &origin, &reason).await;
                return Err(self.failed_load(error));
            }
        };
        let (runtime, _) = self.keep(runtime, DIRECTORY, false, started).await?;
        self.activate(runtime.name(), runtime.digest()).await
    }

    /// The versions of runtime `name`, oldest first: those recorded in the store, and
    /// any loaded here that are not (a host that never restored).
    pub async fn versions(&self, name: &str) -> Result<Vec<StoredVersion>> {
        let versions = self.versions_of(Some(name)).await?;
        if versions.is_empty() {
            return Err(Error::NotFound(NotFound {
                entity: "runtime",
                name: name.to_string(),
            }));
        }
        Ok(versions)
    }

    /// The versions of every runtime, by name, oldest first (as [`Self::versions`]).
    pub async fn all_versions(&self) -> Result<Vec<StoredVersion>> {
        self.versions_of(None).await
    }

    async fn versions_of(&self, name: Option<&str>) -> Result<Vec<StoredVersion>> {
        let mut versions = self.store.runtime_versions(name).await?;
        for runtime in self.registry.versions() {
            let wanted = name.is_none_or(|name| runtime.name() == name);
            if wanted && !versions.iter().any(|v| v.digest == runtime.digest()) {
                let current = self.registry.get(runtime.name());
                let state = if current.is_some_and(|c| c.digest() == runtime.digest()) {
                    VersionState::Active
                } else {
                    VersionState::Inactive
                };
                versions.push(unrecorded(&runtime, state));
            }
        }
        versions.sort_by(|a, b| (&a.name, a.loaded_at).cmp(&(&b.name, b.loaded_at)));
        Ok(versions)
    }

    /// The largest component an upload may send, in bytes.
    pub fn upload_limit(&self) -> usize {
        self.registry.engine().limits().component_bytes
    }

    /// Makes version `digest` the active version of runtime `name` (also the rollback):
    /// loaded first when this host has not loaded it, then switched in the store and
    /// swapped in the registry. Calls in flight finish on the version they hold; runs
    /// stay pinned to theirs.
    pub async fn activate(&self, name: &str, digest: &str) -> Result<StoredVersion> {
        let version = self.store.runtime_version(digest).await?;
        if version.name != name {
            return Err(Error::NotFound(NotFound {
                entity: "runtime version",
                name: format!("{name} {digest}"),
            }));
        }
        let runtime = self.loaded(&version).await?;
        self.store.activate_runtime_version(name, digest).await?;
        self.swap(&runtime);
        tracing::info!(runtime = name, digest, "activated");
        Ok(self.store.runtime_version(digest).await?)
    }

    /// Deletes inactive version `digest` of runtime `name`: refused while it is active,
    /// while runs may still use it (naming them), and for a built-in of this host
    /// (it would come back at the next start).
    pub async fn delete(&self, name: &str, digest: &str) -> Result<()> {
        if let Some(runtime) = self.registry.by_digest(digest)
            && runtime.origin().starts_with("built-in ")
        {
            return Err(Error::Conflict(format!(
                "{digest} is runtime {name} as built into this host ({}); it cannot be deleted",
                runtime.origin()
            )));
        }
        self.store.delete_runtime_version(name, digest).await?;
        self.registry.remove(digest);
        tracing::info!(runtime = name, digest, "deleted");
        Ok(())
    }

    /// Counts of loads and swaps, for `/metrics`.
    pub fn counts(&self) -> &LoadCounts {
        &self.counts
    }

    /// How many versions this host has loaded (active or not).
    pub fn loaded_versions(&self) -> usize {
        self.registry.versions().len()
    }

    /// The runtime `stored` is pinned to: the version of its recorded digest, loaded
    /// from the store when this host has not loaded it (after a restart, or a version
    /// another replica activated). A run stored without a digest, or whose version is
    /// gone from the store, falls back to the current runtime of its kind, and the log
    /// says so (docs/decisions.md).
    pub(crate) async fn pinned(&self, stored: &StoredRun) -> Result<Arc<LoadedRuntime>> {
        let digest = stored.runtime_digest.as_deref();
        if let Some(runtime) = digest.and_then(|digest| self.registry.by_digest(digest)) {
            return Ok(runtime);
        }
        if let Some(digest) = digest {
            match self.store.runtime_version(digest).await {
                Ok(version) => match self.loaded(&version).await {
                    Ok(runtime) => return Ok(runtime),
                    Err(error) => {
                        tracing::warn!(run = %stored.run.id, digest, %error, "the run's runtime version does not load")
                    }
                },
                Err(StoreError::NotFound(_)) => {}
                Err(error) => return Err(error.into()),
            }
        }
        let spec = &stored.spec;
        let current =
            self.for_action(&spec.function.kind, &spec.action, Some(stored.run.target))?;
        tracing::warn!(
            run = %stored.run.id,
            pinned = digest.unwrap_or("none"),
            current = current.digest(),
            "the runtime version that accepted the run is not loaded; its current version takes over"
        );
        Ok(current)
    }

    /// `version`, as loaded on this host: from the registry, or from its stored bytes
    /// (then added, inactive, after the ownership checks).
    async fn loaded(&self, version: &StoredVersion) -> Result<Arc<LoadedRuntime>> {
        if let Some(runtime) = self.registry.by_digest(&version.digest) {
            return Ok(runtime);
        }
        if version.state == VersionState::Failed {
            return Err(Error::Conflict(format!(
                "{} of runtime {} failed to load: {}",
                version.digest,
                version.name,
                version.reason.as_deref().unwrap_or("no reason recorded")
            )));
        }
        let started = Instant::now();
        let component = self.store.runtime_component(&version.digest).await?;
        let runtime = self
            .registry
            .engine()
            .load(&component, &version.origin)
            .await
            .map_err(|error| self.failed_load(error))?;
        self.loaded_in(started);
        // The store's record says it may own its name; its kinds are checked again.
        self.registry
            .admit(runtime, true)
            .map_err(|error| Error::Conflict(chain(&error)))
    }

    /// Adds `runtime` (inactive) when it may own its name and kinds; otherwise records
    /// it `failed` with the reason (naming the owner) and refuses it.
    async fn admit(
        &self,
        runtime: LoadedRuntime,
        replace: bool,
        loaded_by: &str,
    ) -> Result<Arc<LoadedRuntime>> {
        let version = unrecorded(&runtime, VersionState::Failed);
        match self.registry.admit(runtime, replace) {
            Ok(runtime) => Ok(runtime),
            Err(error) => {
                self.counts.failed.fetch_add(1, Ordering::Relaxed);
                let reason = chain(&error);
                let failed = StoredVersion {
                    reason: Some(reason.clone()),
                    loaded_by: loaded_by.to_string(),
                    ..version
                };
                self.store.record_runtime_version(&failed, None).await?;
                tracing::warn!(
                    runtime = failed.name,
                    digest = failed.digest,
                    reason,
                    "refused"
                );
                Err(Error::Conflict(reason))
            }
        }
    }

    /// Keeps a runtime just loaded (since `started`): recorded `loading` with its
    /// component, its name and kinds checked ([`Self::admit`]), then recorded
    /// `inactive` (the component is stored once) and counted.
    async fn keep(
        &self,
        runtime: LoadedRuntime,
        loaded_by: &str,
        replace: bool,
        started: Instant,
    ) -> Result<(Arc<LoadedRuntime>, StoredVersion)> {
        self.record(
            &runtime,
            loaded_by,
            VersionState::Loading,
            Some(runtime.component()),
        )
        .await?;
        let runtime = self.admit(runtime, replace, loaded_by).await?;
        let version = self
            .record(&runtime, loaded_by, VersionState::Inactive, None)
            .await?;
        self.loaded_in(started);
        Ok((runtime, version))
    }

    /// Records `runtime` in `state` unless the store knows it, with `component` when
    /// given (a row written before keeps its own).
    async fn record(
        &self,
        runtime: &LoadedRuntime,
        loaded_by: &str,
        state: VersionState,
        component: Option<&[u8]>,
    ) -> Result<StoredVersion> {
        let version = StoredVersion {
            loaded_by: loaded_by.to_string(),
            ..unrecorded(runtime, state)
        };
        match self.store.record_runtime_version(&version, component).await {
            Ok(stored) => Ok(stored),
            Err(error) => {
                // Not recorded, so not kept: the registry forgets it unless it serves.
                self.registry.remove(runtime.digest());
                Err(error.into())
            }
        }
    }

    /// Records a plugin file that did not load as a `failed` version, when it can be
    /// read at all (its digest is what identifies it).
    async fn record_failed_file(&self, path: &Path, origin: &str, reason: &str) {
        let limit = self.registry.engine().limits().component_bytes;
        let Ok(bytes) = inspect::read_component(path, limit) else {
            return;
        };
        let name = self
            .registry
            .versions()
            .iter()
            .find(|runtime| runtime.origin() == origin)
            .map(|runtime| runtime.name().to_string())
            .or_else(|| {
                path.file_stem()
                    .map(|stem| stem.to_string_lossy().into_owned())
            })
            .unwrap_or_default();
        let failed = StoredVersion {
            digest: format!("sha256:{}", hex::encode(Sha256::digest(&bytes))),
            name,
            origin: origin.to_string(),
            loaded_by: DIRECTORY.to_string(),
            loaded_at: OffsetDateTime::now_utc(),
            state: VersionState::Failed,
            reason: Some(reason.to_string()),
            size: bytes.len() as u64,
            info: None,
        };
        if let Err(error) = self.store.record_runtime_version(&failed, None).await {
            tracing::error!(%error, origin, "cannot record the failed plugin file");
        }
    }

    /// Makes `runtime` the current version of its name in the registry, counted.
    fn swap(&self, runtime: &Arc<LoadedRuntime>) {
        if self.registry.activate(runtime).is_some() {
            self.counts.swaps.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a successful load that started at `started`.
    fn loaded_in(&self, started: Instant) {
        self.counts.loaded.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.counts.load_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Counts a failed load and says why, in the services' terms: the component's fault
    /// (a bad component, a refused `info`) or the host's (its compiler, its engine).
    fn failed_load(&self, error: LoadError) -> Error {
        self.counts.failed.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(error = chain(&error), "a runtime component did not load");
        match error {
            LoadError::CompilerWorker { .. } | LoadError::Engine(_) => Error::Engine(chain(&error)),
            other => Error::Component(chain(&other)),
        }
    }
}

/// `runtime` as a version record, not yet stored.
fn unrecorded(runtime: &LoadedRuntime, state: VersionState) -> StoredVersion {
    StoredVersion {
        digest: runtime.digest().to_string(),
        name: runtime.name().to_string(),
        origin: runtime.origin().to_string(),
        loaded_by: HOST.to_string(),
        loaded_at: OffsetDateTime::now_utc(),
        state,
        reason: None,
        size: runtime.component().len() as u64,
        info: Some(runtime.info().clone()),
    }
}

/// An error with its causes, one line: "… failed its info() smoke call: runtime …
/// trapped …".
fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
