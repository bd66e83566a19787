//! The precompiled-component cache: compiling the Python runtime takes seconds (4.7 s
//! in `cargo bench -p runplane-engine --bench plan` on 2 cores), a cold start from its
//! precompiled form ≈ 5 ms. Entries are keyed by the engine's compatibility hash and
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

/// Where precompiled components live; without a directory every load compiles.
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

    /// The cached component for `digest`, if there is a usable one.
    pub(crate) fn lookup(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let path = self.path(digest)?;
        if !path.exists() {
            return None;
        }
        load_precompiled(engine, &path)
            .inspect_err(|error| {
                tracing::warn!(path = %path.display(), %error, "ignoring unusable precompiled component")
            })
            .ok()
    }

    /// Keeps `code` (a component compiled for this engine) for the next load of `digest`
    /// and returns the file it is in; a cache that cannot be written is only a warning.
    pub(crate) fn keep(&self, digest: &str, code: &[u8]) -> Option<PathBuf> {
        let (Some(dir), Some(path)) = (&self.dir, self.path(digest)) else {
            return None;
        };
        match store(dir, &path, code) {
            Ok(()) => Some(path),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot write the precompiled component cache");
                None
            }
        }
    }

    /// Keeps `code` (compiled for `engine`) under `digest` when given and loads it: from
    /// the cache file when it was written, so that the code is a mapping of that file
    /// (shared, and given back to the kernel under pressure, as on a cache hit) rather
    /// than ≈ 6 MiB of anonymous memory per runtime version for the host's lifetime.
    pub(crate) fn keep_and_load(
        &self,
        engine: &Engine,
        digest: Option<&str>,
        code: &[u8],
    ) -> wasmtime::Result<Component> {
        if let Some(path) = digest.and_then(|digest| self.keep(digest, code)) {
            match load_precompiled(engine, &path) {
                Ok(component) => return Ok(component),
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "cannot map the code just cached; loading it from memory");
                }
            }
        }
        load_compiled(engine, code)
    }

    fn path(&self, digest: &str) -> Option<PathBuf> {
        Some(self.dir.as_ref()?.join(format!("{digest}.cwasm")))
    }
}

#[expect(
    unsafe_code,
    reason = "loading precompiled code trusts the file; see the comment"
)]
fn load_precompiled(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file was written by `keep` from code that `Compiler::compile` produced
    // for this same engine configuration (the directory is keyed by its compatibility
    // hash), atomically, under a name that is the sha256 of the source, in a directory
    // only this user can write. The cache is treated as code, like the binary itself.
    unsafe { Component::deserialize_file(engine, path) }
}

/// Loads code that [`crate::compiler::Compiler::compile`] just produced for `engine`.
#[expect(
    unsafe_code,
    reason = "loading compiled code trusts its producer; see the comment"
)]
fn load_compiled(engine: &Engine, code: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `code` is wasmtime's serialized form of a component, made by
    // `Engine::precompile_component` either on this engine or in a worker running this
    // same executable with the same code settings; wasmtime checks those settings and
    // its version before using it. Its producer is as trusted as the host's binary.
    unsafe { Component::deserialize(engine, code) }
}

fn store(dir: &Path, path: &Path, code: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    std::fs::write(&partial, code)?;
    std::fs::rename(partial, path)
}
