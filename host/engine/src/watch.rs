//! Hot-loading: a plugin directory watched while the host runs. A component copied or
//! moved into it, or rewritten, is handed to the host's loader once the directory has
//! been quiet for a moment (the service loads, records and swaps it; a file that fails
//! to load changes nothing). Removing a file unloads nothing: runs may depend on its
//! version.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// How long a file must stay unchanged before it is loaded: a copy arrives in several
/// writes, each an event.
const QUIET: Duration = Duration::from_millis(250);

/// A watched plugin directory; dropping it stops the watch.
pub struct DirectoryWatch {
    /// Held for its `Drop`, which ends the event stream and so the loading task.
    _watcher: RecommendedWatcher,
}

/// Watches `dir` and calls `load` with each `*.wasm` file created, written or moved
/// into it, once the directory has been quiet for 250 ms, one file at a time, on the
/// current tokio runtime, until the returned watch is dropped. A file removed before
/// it was quiet is not loaded.
pub fn watch_directory<F, L>(dir: &Path, load: L) -> notify::Result<DirectoryWatch>
where
    L: Fn(PathBuf) -> F + Send + 'static,
    F: Future<Output = ()> + Send,
{
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
    tokio::spawn(async move {
        while let Some(first) = changes.recv().await {
            let mut paths = BTreeSet::from([first]);
            // Until the directory has been quiet for a while, gather what else changed.
            while let Ok(Some(path)) = tokio::time::timeout(QUIET, changes.recv()).await {
                paths.insert(path);
            }
            // Changed, then removed or moved away before it was quiet: nothing to load.
            for path in paths.into_iter().filter(|path| path.is_file()) {
                load(path).await;
            }
        }
    });
    tracing::info!(dir = %dir.display(), "watching the plugin directory");
    Ok(DirectoryWatch { _watcher: watcher })
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
