//! The loaded runtimes, by name, by function kind and by digest, swapped atomically so
//! that readers never wait and in-flight calls keep the version they started with.
//!
//! A run pins the digest of the runtime that accepted it ([`Registry::by_digest`]), so
//! a version replaced by [`Registry::insert`] stays reachable by digest: the runs it
//! accepted are still planned and observed by it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::engine::PluginEngine;
use crate::error::LoadError;
use crate::runtime::LoadedRuntime;

/// Runtimes by name; function kinds resolve to the runtime that declares them. It
/// holds the engine it loads with, so a version can be loaded into it at any time (a
/// plugin file changed, an upload, a run pinned to a version not loaded yet).
pub struct Registry {
    engine: PluginEngine,
    current: ArcSwap<Index>,
}

#[derive(Clone, Default)]
struct Index {
    by_name: BTreeMap<String, Arc<LoadedRuntime>>,
    by_kind: BTreeMap<String, Arc<LoadedRuntime>>,
    /// Every version inserted, current or replaced.
    by_digest: BTreeMap<String, Arc<LoadedRuntime>>,
}

/// A component of a plugin directory that did not load, and why.
#[derive(Debug)]
pub struct Skipped {
    /// The `*.wasm` file of the directory that did not load.
    pub path: PathBuf,
    /// Why it was not loaded.
    pub error: LoadError,
}

impl Registry {
    /// An empty registry loading with `engine`.
    pub fn new(engine: &PluginEngine) -> Self {
        Registry {
            engine: engine.clone(),
            current: ArcSwap::default(),
        }
    }

    /// A registry holding the built-in runtimes, given as `(name, component bytes)`
    /// (`runplane_builtins::COMPONENTS`); each is loaded with origin `built-in <name>`.
    /// A built-in that does not load is a broken build, reported with its name.
    pub async fn with_builtins(
        engine: &PluginEngine,
        builtins: &[(&str, &[u8])],
    ) -> Result<Self, LoadError> {
        let registry = Registry::new(engine);
        for (name, bytes) in builtins {
            registry.insert(engine.load(bytes, &format!("built-in {name}")).await?);
        }
        Ok(registry)
    }

    /// The engine this registry loads with.
    pub fn engine(&self) -> &PluginEngine {
        &self.engine
    }

    /// Loads every `*.wasm` file of `dir`, all at once ([`PluginEngine::load_files`]),
    /// adds them in name order, and returns those that did not load: one bad plugin
    /// never stops the others (nor the host), and ten whose `info` sleeps cost one budget,
    /// not ten. `Err` only when the directory itself cannot be read.
    ///
    /// Names and function kinds have one owner: a file whose runtime name or kinds
    /// belong to a runtime already loaded from elsewhere (a built-in) is refused, naming
    /// it, and so is every file of a name or kind that two files of `dir` claim, naming
    /// them all. Nothing is replaced silently; the same file loaded again replaces itself.
    pub async fn load_directory(&self, dir: &Path) -> std::io::Result<Vec<Skipped>> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "wasm"))
            .collect();
        paths.sort();
        let mut skipped = Vec::new();
        let mut loaded = Vec::new();
        for (path, outcome) in paths
            .iter()
            .cloned()
            .zip(self.engine.load_files(&paths).await)
        {
            match outcome {
                Ok(runtime) => loaded.push((path, runtime)),
                Err(error) => skipped.push(Skipped { path, error }),
            }
        }
        let claims = Claims::of(&loaded);
        for (path, runtime) in loaded {
            if let Some(reason) = self.conflict(&runtime, &claims, false) {
                let error = LoadError::Refused {
                    origin: runtime.origin().to_string(),
                    reason,
                };
                skipped.push(Skipped { path, error });
                continue;
            }
            tracing::info!(
                runtime = runtime.name(),
                digest = runtime.digest(),
                "loaded {}",
                path.display()
            );
            self.insert(runtime);
        }
        skipped.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(skipped)
    }

    /// Loads the file at `path` again (a new or changed file of a watched directory) and,
    /// when it loads and may own its name and kinds (the rules of
    /// [`Self::load_directory`], against the runtimes loaded now), makes it the current
    /// version of its runtime. Otherwise nothing changes.
    pub async fn reload_file(&self, path: &Path) -> Result<Arc<LoadedRuntime>, LoadError> {
        let runtime = self.engine.load_file(path).await?;
        self.admit(runtime, false).inspect(|runtime| {
            self.activate(runtime);
        })
    }

    /// Adds `runtime` as an inactive version when it may own its name and kinds: a
    /// function kind of another runtime is never taken, and the name of a runtime loaded
    /// from elsewhere only when `replace` asks for a new version of it. Nothing changes
    /// when it is refused ([`LoadError::Refused`], naming the owner).
    pub fn admit(
        &self,
        runtime: LoadedRuntime,
        replace: bool,
    ) -> Result<Arc<LoadedRuntime>, LoadError> {
        let loaded = [(PathBuf::from(runtime.origin()), runtime)];
        let claims = Claims::of(&loaded);
        let [(_, runtime)] = loaded;
        if let Some(reason) = self.conflict(&runtime, &claims, replace) {
            return Err(LoadError::Refused {
                origin: runtime.origin().to_string(),
                reason,
            });
        }
        Ok(self.add(runtime))
    }

    /// Why `runtime` may not be added beside the runtimes loaded from elsewhere and the
    /// other files of its directory (`claims`), if it may not; `replace` lets it take
    /// the name of a runtime from elsewhere (never a kind of another name).
    fn conflict(&self, runtime: &LoadedRuntime, claims: &Claims, replace: bool) -> Option<String> {
        let name = runtime.name();
        let others = |owners: &[String]| -> Vec<String> {
            owners
                .iter()
                .filter(|origin| *origin != runtime.origin())
                .cloned()
                .collect()
        };
        let rivals = others(&claims.names[name]);
        if !rivals.is_empty() {
            return Some(format!(
                "runtime name {name} is also claimed by {}; keep one file per runtime",
                rivals.join(", ")
            ));
        }
        if let Some(owner) = self
            .get(name)
            .filter(|rt| !replace && rt.origin() != runtime.origin())
        {
            return Some(format!(
                "runtime name {name} belongs to {} (load it as a new version of {name} to replace it)",
                owner.origin()
            ));
        }
        for kind in &runtime.info().function_kinds {
            let kind = &kind.name;
            let rivals = others(&claims.kinds[kind]);
            if !rivals.is_empty() {
                return Some(format!(
                    "function kind {kind} is also declared by {}",
                    rivals.join(", ")
                ));
            }
            if let Some(owner) = self.for_kind(kind).filter(|rt| rt.name() != name) {
                return Some(format!(
                    "function kind {kind} belongs to runtime {} ({})",
                    owner.name(),
                    owner.origin()
                ));
            }
        }
        None
    }

    /// Adds `runtime` and makes it the current version of its name ([`Self::add`],
    /// [`Self::activate`]); returns the runtime it replaced.
    pub fn insert(&self, runtime: LoadedRuntime) -> Option<Arc<LoadedRuntime>> {
        let runtime = self.add(runtime);
        self.activate(&runtime)
    }

    /// Adds `runtime` as a version reachable by digest only (an inactive version, or
    /// one a run is pinned to); a version of that digest already here is kept.
    pub fn add(&self, runtime: LoadedRuntime) -> Arc<LoadedRuntime> {
        let runtime = Arc::new(runtime);
        let mut kept = runtime.clone();
        self.current.rcu(|index| {
            let mut by_digest = index.by_digest.clone();
            kept = by_digest
                .entry(runtime.digest().to_string())
                .or_insert_with(|| runtime.clone())
                .clone();
            Index {
                by_digest,
                ..index.as_ref().clone()
            }
        });
        kept
    }

    /// Makes `runtime` (a version added before) the current version of its name, in
    /// one atomic swap: its function kinds now resolve to it; calls in flight finish
    /// on the version they hold. Returns the version it replaced.
    pub fn activate(&self, runtime: &Arc<LoadedRuntime>) -> Option<Arc<LoadedRuntime>> {
        let mut replaced = None;
        self.current.rcu(|index| {
            let mut by_name = index.by_name.clone();
            replaced = by_name.insert(runtime.name().to_string(), runtime.clone());
            let mut by_digest = index.by_digest.clone();
            by_digest
                .entry(runtime.digest().to_string())
                .or_insert_with(|| runtime.clone());
            Index {
                by_kind: kinds_of(&by_name),
                by_name,
                by_digest,
            }
        });
        replaced.filter(|old| old.digest() != runtime.digest())
    }

    /// Forgets version `digest` unless it is the current version of its name; says
    /// whether it was forgotten. Runs still holding it finish their calls.
    pub fn remove(&self, digest: &str) -> bool {
        let mut removed = false;
        self.current.rcu(|index| {
            let current = index.by_digest.get(digest).is_some_and(|rt| {
                index
                    .by_name
                    .get(rt.name())
                    .is_some_and(|c| c.digest() == digest)
            });
            let mut by_digest = index.by_digest.clone();
            removed = !current && by_digest.remove(digest).is_some();
            if !removed {
                return index.as_ref().clone();
            }
            Index {
                by_digest,
                ..index.as_ref().clone()
            }
        });
        removed
    }

    /// Every version loaded, current or not, by digest.
    pub fn versions(&self) -> Vec<Arc<LoadedRuntime>> {
        self.current.load().by_digest.values().cloned().collect()
    }

    /// The runtime called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<LoadedRuntime>> {
        self.current.load().by_name.get(name).cloned()
    }

    /// The runtime owning function kind `kind`.
    pub fn for_kind(&self, kind: &str) -> Option<Arc<LoadedRuntime>> {
        self.current.load().by_kind.get(kind).cloned()
    }

    /// The version whose component has digest `digest` (`sha256:<hex>`), current or
    /// replaced.
    pub fn by_digest(&self, digest: &str) -> Option<Arc<LoadedRuntime>> {
        self.current.load().by_digest.get(digest).cloned()
    }

    /// Every current runtime, by name.
    pub fn all(&self) -> Vec<Arc<LoadedRuntime>> {
        self.current.load().by_name.values().cloned().collect()
    }

    /// Every function kind with a runtime, sorted.
    pub fn kinds(&self) -> Vec<String> {
        self.current.load().by_kind.keys().cloned().collect()
    }
}

/// The function kinds of the current runtimes, each to its runtime.
fn kinds_of(
    by_name: &BTreeMap<String, Arc<LoadedRuntime>>,
) -> BTreeMap<String, Arc<LoadedRuntime>> {
    by_name
        .values()
        .flat_map(|rt| {
            rt.info()
                .function_kinds
                .iter()
                .map(|kind| (kind.name.clone(), rt.clone()))
        })
        .collect()
}

/// Which files of one directory claim each runtime name and function kind.
struct Claims {
    names: BTreeMap<String, Vec<String>>,
    kinds: BTreeMap<String, Vec<String>>,
}

impl Claims {
    fn of(loaded: &[(PathBuf, LoadedRuntime)]) -> Self {
        let mut claims = Claims {
            names: BTreeMap::new(),
            kinds: BTreeMap::new(),
        };
        for (_, runtime) in loaded {
            let origin = runtime.origin().to_string();
            claims
                .names
                .entry(runtime.name().to_string())
                .or_default()
                .push(origin.clone());
            for kind in &runtime.info().function_kinds {
                claims
                    .kinds
                    .entry(kind.name.clone())
                    .or_default()
                    .push(origin.clone());
            }
        }
        claims
    }
}
