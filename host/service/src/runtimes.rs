//! The loaded runtimes as the services see them: which one owns a kind, an action and a
//! target (with errors that list what exists), which one a stored run is pinned to, and
//! what the API lists.

use std::sync::Arc;

use runplane_engine::{LoadedRuntime, Registry};
use runplane_model::{NotFound, RuntimeVersion, StoredRun, Target};
use serde_json::Value;

use crate::{Error, Result};

/// The loaded runtimes. Cheap to clone: the registry is shared.
#[derive(Clone)]
pub struct Runtimes {
    registry: Arc<Registry>,
}

impl Runtimes {
    /// The runtimes of `registry`.
    pub fn new(registry: Arc<Registry>) -> Self {
        Runtimes { registry }
    }

    /// Every current runtime, by name.
    pub fn list(&self) -> Vec<RuntimeVersion> {
        self.registry
            .all()
            .iter()
            .map(|runtime| runtime.version().clone())
            .collect()
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

    /// The runtime `stored` is pinned to: the version of its recorded digest. A run
    /// stored by an older host has none, and a host restarted with other components may
    /// no longer hold that version: then the current runtime of its kind takes over, and
    /// the log says so (docs/decisions.md).
    pub(crate) fn pinned(&self, stored: &StoredRun) -> Result<Arc<LoadedRuntime>> {
        let digest = stored.runtime_digest.as_deref();
        if let Some(runtime) = digest.and_then(|digest| self.registry.by_digest(digest)) {
            return Ok(runtime);
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
