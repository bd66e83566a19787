//! Hot-loading: a plugin directory watched while the host runs. A component copied or
//! moved into it, or rewritten, is loaded like any plugin ([`Registry::reload_file`]):
//! when it loads and owns its name, it becomes the current version of its runtime in one
//! atomic swap; calls in flight finish on the version they started with, and runs keep
//! the version they are pinned to. A file that fails to load changes nothing. Removing a
//! file unloads nothing: runs may depend on its version.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::engine::PluginEngine;
use crate::registry::Registry;

/// How long a file must stay unchanged before it is loaded: a copy arrives in several
/// writes, each an event.
const QUIET: Duration = Duration::from_millis(250);

/// A watched plugin directory; dropping it stops the watch.
pub struct DirectoryWatch {
    /// Held for its `Drop`, which ends the event stream and so the loading task.
    _watcher: RecommendedWatcher,
}

/// Watches `dir` and hot-loads its `*.wasm` files into `registry` with `engine`, on the
/// engine's threads, until the returned watch is dropped.
pub fn watch_directory(
    registry: Arc<Registry>,
    engine: &PluginEngine,
    dir: &Path,
) -> notify::Result<DirectoryWatch> {
    let (changed, mut changes) = mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        match event {
            Ok(event) if is_a_change(&event.kind) => {
                for path in event.paths.into_iter().filter(|path| is_component(path)) {
                    // The receiver is gone only when the watch is being dropped.
                    let _ = changed.send(path);
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "watching the plugin directory failed"),
        }
    })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    let loader = engine.clone();
    engine.spawn(async move {
        while let Some(first) = changes.recv().await {
            let mut paths = BTreeSet::from([first]);
            // Until the directory has been quiet for a while, gather what else changed.
            while let Ok(Some(path)) = tokio::time::timeout(QUIET, changes.recv()).await {
                paths.insert(path);
            }
            for path in paths {
                reload(&registry, &loader, &path).await;
            }
        }
    });
    tracing::info!(dir = %dir.display(), "watching the plugin directory");
    Ok(DirectoryWatch { _watcher: watcher })
}

/// Loads `path` again, saying what happened.
async fn reload(registry: &Registry, engine: &PluginEngine, path: &Path) {
    if !path.is_file() {
        // Changed, then removed or moved away before it was quiet: nothing to load.
        return;
    }
    match registry.reload_file(engine, path).await {
        Ok(runtime) => tracing::info!(
            runtime = runtime.name(),
            digest = runtime.digest(),
            "hot-loaded {}",
            path.display()
        ),
        Err(error) => {
            let cause = std::error::Error::source(&error).map(ToString::to_string);
            tracing::warn!(path = %path.display(), %error, cause, "not hot-loaded; the current versions keep serving");
        }
    }
}

/// Whether an event may mean new contents: a file created, written, closed after
/// writing or moved in. Reads and removals do not.
fn is_a_change(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_)
            | EventKind::Modify(_)
            | EventKind::Access(notify::event::AccessKind::Close(
                notify::event::AccessMode::Write
            ))
    )
}

fn is_component(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "wasm")
}
