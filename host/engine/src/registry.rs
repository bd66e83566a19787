//! The loaded runtimes, by name and by function kind, swapped atomically so that
//! readers never wait and in-flight calls keep the version they started with.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::engine::LoadedRuntime;

/// Runtimes by name; function kinds resolve to the runtime that declares them.
#[derive(Default)]
pub struct Registry {
    current: ArcSwap<Index>,
}

#[derive(Default)]
struct Index {
    by_name: BTreeMap<String, Arc<LoadedRuntime>>,
    by_kind: BTreeMap<String, Arc<LoadedRuntime>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `runtime`, replacing a runtime of the same name. Its function kinds now
    /// resolve to it. Returns the runtime it replaced.
    pub fn insert(&self, runtime: LoadedRuntime) -> Option<Arc<LoadedRuntime>> {
        let runtime = Arc::new(runtime);
        let mut replaced = None;
        self.current.rcu(|index| {
            let mut by_name = index.by_name.clone();
            replaced = by_name.insert(runtime.name().to_string(), runtime.clone());
            let by_kind = by_name
                .values()
                .flat_map(|rt| {
                    rt.info()
                        .function_kinds
                        .iter()
                        .map(|kind| (kind.name.clone(), rt.clone()))
                })
                .collect();
            Index { by_name, by_kind }
        });
        replaced
    }

    /// The runtime called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<LoadedRuntime>> {
        self.current.load().by_name.get(name).cloned()
    }

    /// The runtime owning function kind `kind`.
    pub fn for_kind(&self, kind: &str) -> Option<Arc<LoadedRuntime>> {
        self.current.load().by_kind.get(kind).cloned()
    }

    /// Every runtime, by name.
    pub fn all(&self) -> Vec<Arc<LoadedRuntime>> {
        self.current.load().by_name.values().cloned().collect()
    }

    /// Every function kind with a runtime, sorted.
    pub fn kinds(&self) -> Vec<String> {
        self.current.load().by_kind.keys().cloned().collect()
    }
}
