//! The precompiled-component cache: compiling a runtime takes ≈ 170 ms, loading its
//! precompiled form ≈ 120 µs. Entries are keyed by the engine's compatibility hash and
//! the component's sha256, so a new wasmtime or new settings never load stale code.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// Where a loaded component's compiled code came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CacheOutcome {
    /// Read back from the precompiled cache.
    Hit,
    /// Compiled now (and stored, when the cache is writable).
    Compiled,
}

/// Where precompiled components live; `None` compiles every time.
pub(crate) struct CompiledCache {
    dir: Option<PathBuf>,
}

impl CompiledCache {
    /// A cache under `root/<engine compatibility hash>/`.
    pub(crate) fn new(engine: &Engine, root: Option<&Path>) -> Self {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let dir = root.map(|root| root.join(format!("{:016x}", hasher.finish())));
        CompiledCache { dir }
    }

    /// The component for `bytes`, from the cache when present, else compiled and stored.
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
        digest: &str,
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let Some(dir) = &self.dir else {
            return Ok((Component::new(engine, bytes)?, CacheOutcome::Compiled));
        };
        let path = dir.join(format!("{digest}.cwasm"));
        if path.exists() {
            match load_precompiled(engine, &path) {
                Ok(component) => return Ok((component, CacheOutcome::Hit)),
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "ignoring unusable precompiled component")
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(error) = store(dir, &path, &component) {
            tracing::warn!(path = %path.display(), %error, "cannot write the precompiled component cache");
        }
        Ok((component, CacheOutcome::Compiled))
    }
}

#[expect(
    unsafe_code,
    reason = "loading precompiled code trusts the file; see the comment"
)]
fn load_precompiled(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file was produced by `Component::serialize` of this same engine
    // configuration (the directory is keyed by its compatibility hash), written
    // atomically under a name that is the sha256 of the source, in a directory only
    // this user can write. The cache is treated as code, like the binary itself.
    unsafe { Component::deserialize_file(engine, path) }
}

fn store(dir: &Path, path: &Path, component: &Component) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let bytes = component.serialize().map_err(std::io::Error::other)?;
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    std::fs::write(&partial, bytes)?;
    std::fs::rename(partial, path)
}
