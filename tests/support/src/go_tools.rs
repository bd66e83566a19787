//! Tools built from their Go modules for the tests that drive them (the OCI registry and
//! cosign of [`oci`](crate::oci), `helm` of the deploy test): `go install
//! module@version`, so the module's own `go.sum` pins what it builds from, once per
//! machine, cached under `~/.cache/runplane/<folder>` with the version in the file name.

use std::fs::File;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// The Go toolchain the tools and the control plane are built with: `RUNPLANE_GO`, else
/// `go` on `PATH`, else `/usr/local/go/bin/go` (what `tests/control-plane/build.sh`
/// looks for).
fn go() -> PathBuf {
    if let Some(go) = std::env::var_os("RUNPLANE_GO") {
        return go.into();
    }
    let installed = PathBuf::from("/usr/local/go/bin/go");
    if Command::new("go").arg("version").output().is_err() && installed.exists() {
        return installed;
    }
    "go".into()
}

/// Whether a Go toolchain is found (in the places `tests/control-plane/build.sh` looks).
pub fn go_installed() -> bool {
    Command::new(go()).arg("version").output().is_ok()
}

/// `folder` under the cache directory of Runplane's test tools.
fn cache(folder: &str) -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache")
        });
    base.join("runplane").join(folder)
}

/// The binary of `(module, version)` (a main package's path, `…/cmd/helm`), built into
/// cache folder `folder` unless it is there. Builds are serialised by a lock file, so
/// parallel test binaries build once. Panics when the build fails.
pub fn built(folder: &str, (module, version): (&str, &str)) -> PathBuf {
    let dir = cache(folder);
    let name = module
        .rsplit('/')
        .next()
        .expect("a module path has a last part");
    let bin = dir.join(format!("{name}-{version}"));
    if bin.exists() {
        return bin;
    }
    std::fs::create_dir_all(&dir).expect("the cache directory can be made");
    let lock = File::create(dir.join(".build.lock")).expect("the lock file opens");
    lock.lock().expect("the build lock is taken");
    if bin.exists() {
        return bin;
    }
    let staging = dir.join(format!(".build-{}", std::process::id()));
    let started = Instant::now();
    eprintln!(
        "building {module}@{version} (cached in {}) …",
        dir.display()
    );
    let output = Command::new(go())
        .args([
            "install",
            "-trimpath",
            "-ldflags=-s -w",
            &format!("{module}@{version}"),
        ])
        .env("GOBIN", &staging)
        .env("CGO_ENABLED", "0")
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-buildvcs=false")
        .output()
        .expect("go runs");
    assert!(
        output.status.success(),
        "go install {module}@{version} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::rename(staging.join(name), &bin).expect("the built binary moves into the cache");
    let _ = std::fs::remove_dir_all(&staging);
    eprintln!("built {name} {version} in {:.0?}", started.elapsed());
    bin
}
