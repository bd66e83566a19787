//! The KFP compiler's workflows run: a pipeline whose second component consumes the
//! first one's output is built with the real kfp (the runtime's local build plan, run as
//! the host runs it: the plan's files in a directory, its argv in a virtual environment
//! with the plan's requirements), then `tests/executor/argo.py` plays Argo Workflows on
//! the compiled spec, running each step's command as its container would, with the real
//! kfp executor. Under kwok no step runs, so this is where the steps themselves are
//! tested.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use runplane_runtime_kfp::{Kfp, REQUIREMENTS};
use runplane_sdk::{HostSettings, LocalEnvironment, Plan, RunContext, Runtime, Target};
use serde_json::{Value, json};

/// A virtual environment with the build's requirements, kept in the target directory.
fn venv() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kfp-executor-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 runs");
        assert!(made.success(), "python3 -m venv failed");
        let installed = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(REQUIREMENTS)
            .status()
            .expect("pip runs");
        assert!(installed.success(), "pip install {REQUIREMENTS:?} failed");
    }
    venv
}

#[test]
fn a_compiled_pipeline_passes_one_components_output_to_the_next() {
    let source = include_str!("executor/passes.py");
    let context = RunContext {
        run_id: "0190f3c2-7a41-7c3e-9d2b-5e8f1a2b3c30".to_string(),
        project: "demo".to_string(),
        namespace: "runplane-demo".to_string(),
        function_name: "passes".to_string(),
        function_kind: "kfp".to_string(),
        action: "build".to_string(),
        function_spec: json!({"source": {"code": source, "handler": "pipeline"}}).to_string(),
        task_spec: "{}".to_string(),
        run_spec: json!({"parameters": {"b": 4.0}}).to_string(),
        target: Target::Local,
        settings: HostSettings {
            image_registry: None,
            default_images: Vec::new(),
        },
    };
    let Ok(Plan::Local(process)) = Kfp::plan(context) else {
        panic!("a local build plans a process");
    };
    assert!(matches!(
        process.environment,
        Some(LocalEnvironment::PythonVenv(ref requirements)) if requirements == REQUIREMENTS
    ));
    let venv = venv();
    let dir = tempfile::tempdir().unwrap();
    for file in &process.files {
        std::fs::write(dir.path().join(&file.path), &file.contents).unwrap();
    }
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let built = Command::new(&process.argv[0])
        .args(&process.argv[1..])
        .current_dir(dir.path())
        .envs(process.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let outputs: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("outputs.json")).unwrap()).unwrap();
    let encoded = outputs["build"]["base64"].as_str().expect("output build");
    let spec = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    std::fs::write(dir.path().join("workflow.yaml"), spec).unwrap();

    let ran = Command::new(venv.join("bin/python"))
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/executor/argo.py"
        ))
        .arg(dir.path().join("workflow.yaml"))
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let steps: Value = serde_json::from_slice(&ran.stdout).unwrap();
    assert_eq!(
        steps,
        json!({"add": {"Output": "5.5"}, "report": {"Output": "the \"sum\": 5.5"}}),
        "the build's b replaced the default; add's output reached report"
    );
}
