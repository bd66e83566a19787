//! Test support: wasm fixtures and run builders shared by the test tiers.
//!
//! The build script compiles the fixture runtimes to components (through
//! `runplane-wasm-build`, into `target/wasm`) and exposes their paths as constants, so a
//! test names a component instead of building one.
//!
//! # Overview
//!
//! - Component paths: [`MISBEHAVING_RUNTIME`] (plan misbehaves on request, see
//!   `tests/fixtures/misbehaving`), [`PYTHON_RUNTIME`], and the text-format fixtures
//!   [`WRONG_MAJOR_WAT`] and [`NOT_A_RUNTIME_WAT`]. [`component`] reads any of them as
//!   binary component bytes (wasmtime is built without its `wat` feature here).
//!   [`costly_component`] builds one that passes every check made before compiling and
//!   is costly to compile, for the compiler's budgets.
//! - Run builders: [`run_context`] for the misbehaving runtime, [`python`] for a Python
//!   job with realistic specs.
//! - The test Kubernetes control plane: [`control_plane::kubeconfig`] starts (or finds)
//!   the shared plane of `tests/control-plane`.
//! - A real PostgreSQL server: [`postgres::database`] gives each test a fresh database on
//!   a server started once per test binary (skipped without PostgreSQL, unless CI).
//! - Skips: [`skip()`] is how a test that cannot run here says so. Outside CI the reason
//!   is printed and recorded in the skip log that `make test` sums up; under CI
//!   ([`under_ci`]) it is a failure. The control plane and PostgreSQL above skip through
//!   it.
//! - Python tools from PyPI: [`venv::cached`] gives a pinned virtualenv, built once and
//!   kept under `~/.cache/runplane` (the DigitalHub SDK, componentize-py).
//! - A real OCI registry and signer: [`oci::tools`] builds CNCF distribution's `registry`
//!   and `cosign` from their Go modules once (cached), [`oci::Registry`] runs one on a
//!   loopback port for a test. [`go_tools::built`] builds any such tool (`helm` for the
//!   deploy test).
//! - With feature `host`, an in-process host (module `host`): the registry of the built-in
//!   runtimes (plus fixtures), a control on the local target, the run service.
//! - With feature `sdk`, module `native`: a runtime's rlib called through the guest
//!   SDK's types, converted to and from the host's, to compare with the engine's answer.
//! - With feature `golden`, module `golden`: the golden harness of runtime crates, each
//!   case answered by the rlib and by the shipped component, against expected files.
//!
//! # Example
//!
//! ```no_run
//! use runplane_engine::{Limits, PluginEngine};
//! use runplane_test_support::{MISBEHAVING_RUNTIME, component, run_context};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = PluginEngine::new(Limits::default(), None)?;
//! let runtime = engine.load(&component(MISBEHAVING_RUNTIME), "misbehaving").await?;
//! let plan = runtime.plan(&run_context("ok")).await?;
//! assert!(plan.is_ok());
//! # Ok(())
//! # }
//! ```

use runplane_model::{HostSettings, RunContext, Target};

pub mod control_plane;
mod costly;
pub mod go_tools;
#[cfg(feature = "golden")]
pub mod golden;
#[cfg(feature = "host")]
pub mod host;
#[cfg(feature = "sdk")]
pub mod native;
pub mod oci;
pub mod postgres;
pub mod skip;
pub mod venv;

pub use costly::costly_component;
pub use skip::{skip, under_ci};

include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));

/// Run id of every context built here.
pub const RUN_ID: &str = "0197a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
/// Namespace of every context built here.
pub const NAMESPACE: &str = "runplane-test";

/// The bytes of the component at `path`: `.wat` text is parsed to binary, anything else
/// is read as is. Panics when the file is missing or the text does not parse.
pub fn component(path: &str) -> Vec<u8> {
    if path.ends_with(".wat") {
        wat::parse_file(path).unwrap_or_else(|e| panic!("{path} does not parse: {e}"))
    } else {
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
    }
}

/// Another build of the component `wasm`: the same code with a custom section
/// (`runplane-test-note`) holding `note` appended, so it behaves the same under a
/// different digest (a new version of a runtime, for the version tests).
pub fn rebuilt(wasm: &[u8], note: &str) -> Vec<u8> {
    const NAME: &[u8] = b"runplane-test-note";
    let mut payload = leb128(NAME.len());
    payload.extend_from_slice(NAME);
    payload.extend_from_slice(note.as_bytes());
    let mut rebuilt = wasm.to_vec();
    rebuilt.push(0); // custom section id
    rebuilt.extend(leb128(payload.len()));
    rebuilt.extend(payload);
    rebuilt
}

/// `value` as unsigned LEB128, as the binary format writes sizes.
fn leb128(mut value: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            bytes.push(byte);
            return bytes;
        }
        bytes.push(byte | 0x80);
    }
}

/// A run of the misbehaving runtime's `job` on Kubernetes whose plan does `behaviour`
/// (`loop`, `memory`, `trap`, `huge-output`, `many-objects`, `ok`, …).
pub fn run_context(behaviour: &str) -> RunContext {
    let run_spec = serde_json::json!({"parameters": {"behaviour": behaviour}}).to_string();
    context(
        "misbehaving",
        "job",
        "{}",
        "{}",
        &run_spec,
        Target::Kubernetes,
    )
}

/// A run context with the test run id, project and namespace, and no host settings.
pub fn context(
    function_kind: &str,
    action: &str,
    function_spec: &str,
    task_spec: &str,
    run_spec: &str,
    target: Target,
) -> RunContext {
    RunContext {
        run_id: RUN_ID.to_string(),
        project: "test".to_string(),
        namespace: NAMESPACE.to_string(),
        function_name: format!("{function_kind}-fn"),
        function_kind: function_kind.to_string(),
        action: action.to_string(),
        function_spec: function_spec.to_string(),
        task_spec: task_spec.to_string(),
        run_spec: run_spec.to_string(),
        target,
        settings: HostSettings::default(),
    }
}

/// A Python job with the specs a user typically writes: inline code, requirements,
/// resources, envs, a node selector and parameters.
pub mod python {
    use runplane_model::{RunContext, Target};

    /// Function spec: inline code, a handler and requirements.
    pub const FUNCTION_SPEC: &str = r#"{"source":{"code":"import numpy as np\n\ndef train(alpha, rounds=3):\n    return {\"score\": float(np.mean([alpha] * rounds))}\n","handler":"train","lang":"python"},"python_version":"PYTHON3_11","requirements":["numpy==2.1.0","pandas>=2"]}"#;
    /// Task spec of `python+job`: resources, envs, a node selector, retries.
    pub const TASK_SPEC: &str = r#"{"backoff_limit":2,"resources":{"cpu":{"requests":"500m","limits":"1"},"mem":{"requests":"256Mi"}},"envs":[{"name":"MODE","value":"fast"},{"name":"SEED","value":"42"}],"node_selector":[{"key":"pool","value":"cpu"}],"labels":[{"name":"team","value":"ml"}]}"#;
    /// Run spec: parameters and an input.
    pub const RUN_SPEC: &str = r#"{"parameters":{"alpha":0.5,"rounds":10},"inputs":{"data":"store://test/dataitem/iris"}}"#;

    /// The `job` run of these specs on `target`.
    pub fn job_context(target: Target) -> RunContext {
        super::context("python", "job", FUNCTION_SPEC, TASK_SPEC, RUN_SPEC, target)
    }
}

// The tests of `skip` live here rather than in skip.rs: plugins/python compiles skip.rs
// into its own tests, which would run them a second time.
#[cfg(test)]
mod tests {
    use std::ffi::{OsStr, OsString};
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output};

    use crate::skip::{LOG_FILE, LOG_VAR, ci_value_means_ci, line, log_path_from};

    #[test]
    fn ci_is_what_ci_systems_set_and_not_empty_zero_or_false() {
        for value in [
            "true",
            "TRUE",
            "True",
            "1",
            "yes",
            "YES",
            " true\n",
            "on",
            "woodpecker",
        ] {
            assert!(ci_value_means_ci(Some(OsStr::new(value))), "{value:?}");
        }
        for value in ["", " ", "0", "false", "FALSE", "False", "no", "off"] {
            assert!(!ci_value_means_ci(Some(OsStr::new(value))), "{value:?}");
        }
        assert!(!ci_value_means_ci(None), "unset");
    }

    #[test]
    fn a_skip_is_one_line_naming_binary_test_and_reason() {
        assert_eq!(
            line(
                "store",
                "postgres::projects",
                "PostgreSQL is not installed:\n  no initdb"
            ),
            "store postgres::projects: PostgreSQL is not installed: no initdb"
        );
    }

    #[test]
    fn the_skip_log_is_named_or_in_the_target_directory() {
        let root = Path::new("/work/ws");
        let os = |s: &str| Some(OsString::from(s));
        assert_eq!(
            log_path_from(os("/tmp/skips"), os("/ci/target"), root),
            PathBuf::from("/tmp/skips")
        );
        assert_eq!(
            log_path_from(None, os("/ci/target"), root),
            PathBuf::from("/ci/target").join(LOG_FILE)
        );
        assert_eq!(
            log_path_from(os(""), os("out"), root),
            PathBuf::from("/work/ws/out").join(LOG_FILE)
        );
        assert_eq!(
            log_path_from(None, os(""), root),
            PathBuf::from("/work/ws/target").join(LOG_FILE)
        );
    }

    /// Runs [`skips_when_asked`] alone in a child process of this test binary, with the
    /// skip log at `log` and `CI` set to `ci` (unset when `None`).
    fn run_skipping_test(log: &Path, ci: Option<&str>) -> Output {
        let mut child = Command::new(std::env::current_exe().expect("the test binary"));
        child
            .args(["--exact", "tests::skips_when_asked", "--test-threads=2"])
            .env("RUNPLANE_TEST_SUPPORT_SKIP", "1")
            .env(LOG_VAR, log);
        match ci {
            Some(ci) => child.env("CI", ci),
            None => child.env_remove("CI"),
        };
        child.output().expect("the test binary runs")
    }

    /// Skips when its parent test asks it to (and passes otherwise).
    #[test]
    fn skips_when_asked() {
        if std::env::var_os("RUNPLANE_TEST_SUPPORT_SKIP").is_some() {
            crate::skip("asked to skip");
        }
    }

    #[test]
    fn a_skip_is_recorded_outside_ci_and_fails_under_ci() {
        let log = std::env::temp_dir().join(format!("runplane-skips-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&log);

        let output = run_skipping_test(&log, None);
        assert!(output.status.success(), "{output:?}");
        let output = run_skipping_test(&log, Some("false"));
        assert!(output.status.success(), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("SKIPPED runplane_test_support tests::skips_when_asked: asked to skip"),
            "printed past the capture: {stderr}"
        );
        let recorded = std::fs::read_to_string(&log).expect("the skip log");
        assert_eq!(
            recorded,
            "runplane_test_support tests::skips_when_asked: asked to skip\n".repeat(2)
        );

        for ci in ["true", "1", "YES"] {
            let output = run_skipping_test(&log, Some(ci));
            assert!(!output.status.success(), "CI={ci}: {output:?}");
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(stdout.contains("asked to skip"), "CI={ci}: {stdout}");
        }
        let after = std::fs::read_to_string(&log).expect("the skip log");
        assert_eq!(after, recorded, "a skip under CI is not recorded");
        let _ = std::fs::remove_file(&log);
    }
}
