//! Every `runplane` command with a plugin directory written by an attacker (issue 10):
//! each command does its work with the runtimes that load, and names each file it
//! skipped with the reason; a component built to make the compiler spend memory is
//! stopped in its compiler worker, at the memory budget, and the host goes on.

mod hostile;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use hostile::{LOADED, assert_each_skip_explained, write_hostile_directory};
use runplane_test_support::costly_component;

/// `runplane args…` with a private home and the shared compiled-component cache.
fn runplane(home: &Path, args: &[&str], environment: &[(&str, &str)]) -> (Output, String) {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_runplane"))
        .args(args)
        .env("RUNPLANE_HOME", home)
        .env(
            "XDG_CACHE_HOME",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("cache"),
        )
        .env_remove("RUNPLANE_PLUGINS")
        .env_remove("RUNPLANE_SERVER")
        .envs(environment.iter().copied())
        .output()
        .expect("runplane starts");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    println!("runplane {} took {:?}", args.join(" "), started.elapsed());
    assert!(
        output.status.success(),
        "runplane {args:?} failed ({}):\n{stderr}",
        output.status
    );
    (output, stderr)
}

fn hello() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/python/hello.yaml")
}

#[test]
fn every_command_skips_each_hostile_plugin_with_its_reason_and_goes_on() {
    let home = tempfile::tempdir().unwrap();
    let plugins = tempfile::tempdir().unwrap();
    write_hostile_directory(plugins.path());
    let dir = plugins.path().to_str().unwrap();

    let (output, stderr) = runplane(home.path(), &["--plugins", dir, "runtimes"], &[]);
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        table.contains("python") && table.contains(LOADED),
        "{table}"
    );
    assert_each_skip_explained(&stderr);

    let hello = hello();
    let hello = hello.to_str().unwrap();
    let (output, stderr) = runplane(home.path(), &["--plugins", dir, "plan", "-f", hello], &[]);
    assert!(String::from_utf8_lossy(&output.stdout).contains("kind: Job"));
    assert_each_skip_explained(&stderr);

    let (output, stderr) = runplane(home.path(), &["--plugins", dir, "run", "-f", hello], &[]);
    assert!(String::from_utf8_lossy(&output.stdout).contains("→ COMPLETED"));
    assert_each_skip_explained(&stderr);
}

/// The compiler's memory budget, in MiB, for the costly component: the runtimes that
/// load are compiled (and cached) before it is lowered to this.
const LOW_COMPILE_MEMORY_MIB: &str = "160";

#[test]
fn a_component_costly_to_compile_is_stopped_at_the_memory_budget() {
    let home = tempfile::tempdir().unwrap();
    // Python compiled and cached with the default budget (≈ 450 MiB in a debug build).
    runplane(home.path(), &["runtimes"], &[]);
    let plugins = tempfile::tempdir().unwrap();
    // ≈ 230 MiB to compile in a debug build; every check made before compiling passes.
    std::fs::write(
        plugins.path().join("costly.wasm"),
        costly_component(4, 30_000),
    )
    .unwrap();
    let (output, stderr) = runplane(
        home.path(),
        &["--plugins", plugins.path().to_str().unwrap(), "runtimes"],
        &[("RUNPLANE_COMPILE_MEMORY_MIB", LOW_COMPILE_MEMORY_MIB)],
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("python"));
    let warning = stderr
        .lines()
        .find(|line| line.contains("costly.wasm"))
        .unwrap_or_else(|| panic!("no warning for costly.wasm in:\n{stderr}"));
    assert!(
        warning.contains(&format!(
            "did not compile within the {LOW_COMPILE_MEMORY_MIB} MiB memory budget"
        )),
        "{warning}"
    );
}
