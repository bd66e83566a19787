//! The loaded runtimes as the services see them: which one owns a kind, an action and a
//! target (with errors that list what exists), which one a stored run is pinned to, and
//! what the API lists.

use std::sync::Arc;

use runplane_engine::{LoadedRuntime, Registry};
use runplane_model::{Category, Executable, NotFound, RuntimeVersion, Target};
use runplane_oci::Distribution;
use runplane_store::Store;
use serde_json::Value;

use crate::versions::LoadCounts;
use crate::{Error, Result};

/// The loaded runtimes, and their versions as the store records them
/// (`versions.rs`). Cheap to clone: the registry, the store and the counts are shared.
#[derive(Clone)]
pub struct Runtimes {
    pub(crate) registry: Arc<Registry>,
    pub(crate) store: Store,
    pub(crate) counts: Arc<LoadCounts>,
    /// The registries' client of `oci://` loads (`oci.rs`); `None` until the host sets
    /// one, when loads use HTTPS, anonymous, unverified.
    pub(crate) distribution: Option<Distribution>,
}

impl Runtimes {
    /// The runtimes of `registry`, their versions recorded in `store`.
    pub fn new(registry: Arc<Registry>, store: Store) -> Self {
        Runtimes {
            registry,
            store,
            counts: Arc::default(),
            distribution: None,
        }
    }

    /// These runtimes, loading `oci://` references through `distribution` (its
    /// registries, credentials and the keys their signatures must verify with).
    pub fn with_distribution(self, distribution: Distribution) -> Self {
        Runtimes {
            distribution: Some(distribution),
            ..self
        }
    }

    /// Every current runtime, by name.
    pub fn list(&self) -> Vec<RuntimeVersion> {
        self.registry
            .all()
            .iter()
            .map(|runtime| runtime.version().clone())
            .collect()
    }

    /// Which code new calls of the runtime `name` run on: `baseline` until its
    /// optimized code is ready (see `runplane_engine::Tier`), then `optimized`.
    pub fn code(&self, name: &str) -> Option<&'static str> {
        self.registry
            .get(name)
            .map(|runtime| runtime.tier().as_str())
    }

    /// The current runtime called `name`.
    pub fn get(&self, name: &str) -> Result<RuntimeVersion> {
        self.registry
            .get(name)
            .map(|runtime| runtime.version().clone())
            .ok_or_else(|| {
                Error::NotFound(NotFound {
                    entity: "runtime",
                    name: name.to_string(),
                })
            })
    }

    /// The runtime owning function kind `kind`.
    pub(crate) fn owner(&self, kind: &str) -> Result<Arc<LoadedRuntime>> {
        self.registry
            .for_kind(kind)
            .ok_or_else(|| Error::UnknownKind {
                kind: kind.to_string(),
                known: self.registry.kinds().join(", "),
            })
    }

    /// Whether function kind `kind` is a function or a workflow: a workflow when its
    /// runtime offers an action of category `workflow` (Hera's and KFP's `pipeline`), so
    /// a third party's workflow runtime is served as one too. An unknown kind is a
    /// function.
    pub fn executable(&self, kind: &str) -> Executable {
        let drives_steps = self.registry.for_kind(kind).is_some_and(|runtime| {
            runtime
                .info()
                .actions
                .iter()
                .any(|action| action.category == Category::Workflow)
        });
        if drives_steps {
            Executable::Workflow
        } else {
            Executable::Function
        }
    }

    /// The runtime owning function kind `kind`, checked to offer `action` (and to run it
    /// on `target`, when given).
    pub(crate) fn for_action(
        &self,
        kind: &str,
        action: &str,
        target: Option<Target>,
    ) -> Result<Arc<LoadedRuntime>> {
        let runtime = self.owner(kind)?;
        let info = runtime.info();
        let offered = info.action(action).ok_or_else(|| Error::UnknownAction {
            runtime: info.name.clone(),
            action: action.to_string(),
            known: info.action_names(),
        })?;
        if let Some(target) = target
            && !offered.targets.contains(&target)
        {
            return Err(Error::UnsupportedTarget {
                runtime: info.name.clone(),
                action: action.to_string(),
                target,
            });
        }
        Ok(runtime)
    }

    /// Asks `runtime` to validate `spec` as entity kind `kind` for `project`; bad fields
    /// come back with `prefix` before their paths (`spec.source.handler`).
    pub(crate) async fn check(
        runtime: Arc<LoadedRuntime>,
        project: &str,
        kind: &str,
        spec: Value,
        prefix: &str,
    ) -> Result<()> {
        let answer = runtime.validate(project, kind, &spec.to_string()).await?;
        answer
            .map_err(|fields| Error::Invalid(fields.into_iter().map(|f| f.under(prefix)).collect()))
    }
}
