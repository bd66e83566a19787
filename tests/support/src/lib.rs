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
//! - Run builders: [`run_context`] for the misbehaving runtime, [`python`] for a Python
//!   job with realistic specs.
//! - The test Kubernetes control plane: [`control_plane::kubeconfig`] starts (or finds)
//!   the shared plane of `tests/control-plane`.
//! - A real PostgreSQL server: [`postgres::database`] gives each test a fresh database on
//!   a server started once per test binary (skipped without PostgreSQL, unless CI).
//! - With feature `host`, an in-process host ([`host`]): the registry of the built-in
//!   runtimes (plus fixtures), a control on the local target, the run service.
//!
//! # Example
//!
//! ```no_run
//! use runplane_engine::{Limits, PluginEngine};
//! use runplane_test_support::{MISBEHAVING_RUNTIME, component, run_context};
//!
//! let engine = PluginEngine::new(Limits::default(), None)?;
//! let runtime = engine.load(&component(MISBEHAVING_RUNTIME), "misbehaving")?;
//! let plan = runtime.plan(&run_context("ok"))?;
//! assert!(plan.is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use runplane_model::{HostSettings, RunContext, Target};

pub mod control_plane;
#[cfg(feature = "host")]
pub mod host;
pub mod postgres;

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
