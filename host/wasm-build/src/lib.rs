//! Build-script helper that compiles workspace crates into wasm32-wasip2 components.
//!
//! Build scripts of the crates that embed or test runtimes call [`build`]. It runs a
//! nested `cargo build --target wasm32-wasip2 --profile plugin` in its own target
//! directory (so it never waits on the outer build's lock) and returns the paths of
//! the `.wasm` files. A fresh machine needs nothing but rustup: the wasm target is
//! added on first use.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The wasm target runtimes are built for.
pub const TARGET: &str = "wasm32-wasip2";
/// The Cargo profile runtimes are built with (size-optimised, see the workspace).
pub const PROFILE: &str = "plugin";

/// The workspace root, from a crate's `CARGO_MANIFEST_DIR` two levels down.
pub fn workspace_root(manifest_dir: &Path) -> PathBuf {
    manifest_dir
        .ancestors()
        .find(|dir| dir.join("wit").is_dir() && dir.join("plugins").is_dir())
        .expect("the crate lives inside the Runplane workspace, which has wit/")
        .to_path_buf()
}

/// Builds `packages` to components and returns `(package, path)` pairs. Panics with
/// the compiler's output on failure: build scripts report errors by panicking.
pub fn build(workspace: &Path, packages: &[String]) -> Vec<(String, PathBuf)> {
    ensure_target();
    // Beside the outer build's artifacts (CARGO_TARGET_DIR when set, as CI does to
    // cache them), in a folder of its own.
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace.join("target"), PathBuf::from)
        .join("wasm");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args([
            "build",
            "--target",
            TARGET,
            "--profile",
            PROFILE,
            "--target-dir",
        ])
        .arg(&target_dir);
    for package in packages {
        command.args(["-p", package]);
    }
    // The outer build's flags and target settings must not leak into the wasm build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_LLVM_COV",
    ] {
        command.env_remove(var);
    }
    let status = command
        .status()
        .expect("cargo can be started from a build script");
    assert!(
        status.success(),
        "building {packages:?} for {TARGET} failed"
    );
    packages
        .iter()
        .map(|package| {
            let file = format!("{}.wasm", package.replace('-', "_"));
            (
                package.clone(),
                target_dir.join(TARGET).join(PROFILE).join(file),
            )
        })
        .collect()
}

/// Tells Cargo to rebuild when anything under these workspace folders changes.
pub fn rerun_if_changed(workspace: &Path, folders: &[&str]) {
    for folder in folders {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(folder).display()
        );
    }
}

/// The runtime crates under `plugins/` (every folder but the SDK), as package names.
pub fn runtime_packages(workspace: &Path) -> Vec<String> {
    let mut packages: Vec<String> = std::fs::read_dir(workspace.join("plugins"))
        .expect("the workspace has plugins/")
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("Cargo.toml").exists())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name != "sdk")
        .map(|name| format!("runplane-runtime-{name}"))
        .collect();
    packages.sort();
    packages
}

/// Adds the wasm target with rustup when the toolchain lacks it.
fn ensure_target() {
    let installed = Command::new("rustc")
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        .is_some_and(|dir| dir.exists());
    if !installed {
        let status = Command::new("rustup")
            .args(["target", "add", TARGET])
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "the {TARGET} target is missing and `rustup target add {TARGET}` failed"
        );
    }
}
