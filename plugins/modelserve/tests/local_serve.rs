//! A local `sklearnserve` run for real: a model trained with the pinned scikit-learn is
//! planned natively, the plan's files are written into a temp dir as the local target
//! writes them, and its `serve.py` is started as the host would start it, with `PORT`.
//! A client then waits for `/v2/health/ready` and asks the model to predict, once with
//! the model as a local file (linked) and once over HTTP (downloaded).
//!
//! The run needs a Python environment with the plan's requirements
//! ([`plan::LOCAL_REQUIREMENTS`]: MLServer, which downloads a few hundred MB), which
//! the host's target prepares and a test machine does not have, so the test is ignored
//! unless asked for:
//!
//! ```sh
//! python3 -m venv /tmp/mlsv && /tmp/mlsv/bin/pip install mlserver==1.6.1 \
//!     mlserver-sklearn==1.6.1 scikit-learn==1.5.2
//! RUNPLANE_MLSERVER_PYTHON=/tmp/mlsv/bin/python \
//!     cargo test -p runplane-runtime-modelserve --test local_serve -- --ignored
//! ```

use std::fs;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use runplane_runtime_modelserve::{ModelServe, plan};
use runplane_sdk::{
    HostSettings, LocalEnvironment, LocalProcess, Plan, RunContext, Runtime, Target,
};
use serde_json::{Value, json};
use tempfile::TempDir;

/// Trains a classifier of the iris data set (shipped with scikit-learn) and saves it.
const TRAIN: &str = r#"
import sys
import joblib
import sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

X, y = load_iris(return_X_y=True)
joblib.dump(LogisticRegression(max_iter=1000).fit(X, y), sys.argv[1])
print(sklearn.__version__)
"#;

/// Waits until the server is ready, then asks for two predictions; prints the answer.
const CLIENT: &str = r#"
import json
import sys
import time
import urllib.request

base = f"http://127.0.0.1:{sys.argv[1]}"
deadline = time.monotonic() + float(sys.argv[2])
while True:
    try:
        with urllib.request.urlopen(base + "/v2/health/ready", timeout=2) as answer:
            if answer.status == 200:
                break
    except OSError:
        pass
    if time.monotonic() > deadline:
        sys.exit("the server is not ready")
    time.sleep(0.5)
request = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64",
                       "data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}]}
infer = urllib.request.Request(base + "/v2/models/iris/infer",
                               data=json.dumps(request).encode(),
                               headers={"content-type": "application/json"})
with urllib.request.urlopen(infer, timeout=30) as answer:
    print(json.dumps(json.load(answer)))
"#;

/// How long MLServer may take to load the model and answer ready.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

#[test]
#[ignore = "needs a Python environment with MLServer: RUNPLANE_MLSERVER_PYTHON (see the module docs)"]
fn a_local_sklearn_run_serves_a_local_file_and_a_downloaded_one() {
    let python = PathBuf::from(
        std::env::var_os("RUNPLANE_MLSERVER_PYTHON")
            .expect("RUNPLANE_MLSERVER_PYTHON names the Python of an environment with MLServer"),
    );
    let dir = TempDir::new().expect("a temp dir");
    let models = dir.path().join("models");
    fs::create_dir(&models).expect("a models folder");
    let model = models.join("iris.joblib");
    let trained = run(Command::new(&python).args(["-c", TRAIN]).arg(&model));
    let version = String::from_utf8_lossy(&trained.stdout).trim().to_string();
    assert_eq!(
        format!("scikit-learn=={version}"),
        plan::SCIKIT_LEARN,
        "the model must be trained with the scikit-learn a local run installs"
    );

    let linked = serve(&python, &dir.path().join("linked"), model.to_str().unwrap());
    assert_eq!(linked, [0, 2], "setosa and virginica");

    let port = free_port();
    let mut files = Command::new(&python)
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .current_dir(&models)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("a file server starts");
    let url = format!("http://127.0.0.1:{port}/iris.joblib");
    let downloaded = serve(&python, &dir.path().join("downloaded"), &url);
    let _ = files.kill();
    let _ = files.wait();
    assert_eq!(downloaded, [0, 2]);
    assert!(
        dir.path().join("downloaded/iris/iris.joblib").is_file(),
        "the model was downloaded into the run's directory"
    );
}

/// Plans a local run of the model at `path`, starts it in `run_dir` with the host's
/// conventions and `python` for the plan's `python`, and returns its predictions.
fn serve(python: &Path, run_dir: &Path, path: &str) -> Vec<i64> {
    let process = local_plan(path);
    assert_eq!(process.argv, ["python", plan::SERVE_FILE]);
    assert_eq!(
        process.environment,
        Some(LocalEnvironment::PythonVenv(
            plan::LOCAL_REQUIREMENTS.map(String::from).to_vec()
        ))
    );
    fs::create_dir(run_dir).expect("the run's directory");
    for file in &process.files {
        fs::write(run_dir.join(&file.path), &file.contents).expect("a plan file is written");
    }
    let port = free_port();
    let mut server = Command::new(python)
        .args(&process.argv[1..])
        .envs(process.env.iter().map(|(name, value)| (name, value)))
        .env("PORT", port.to_string())
        .current_dir(run_dir)
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(fs::File::create(run_dir.with_extension("log")).expect("a log file"))
        .spawn()
        .expect("serve.py starts");
    let answer = Command::new(python)
        .args([
            "-c",
            CLIENT,
            &port.to_string(),
            &READY_TIMEOUT.as_secs().to_string(),
        ])
        .output()
        .expect("the client runs");
    let status = server.try_wait().expect("the server's status");
    stop(&mut server);
    let log = fs::read_to_string(run_dir.with_extension("log")).unwrap_or_default();
    assert!(
        answer.status.success() && status.is_none(),
        "the server did not answer (exit {status:?}): {}\n--- server log:\n{log}",
        String::from_utf8_lossy(&answer.stderr)
    );
    let body: Value = serde_json::from_slice(&answer.stdout).expect("the answer is JSON");
    body["outputs"][0]["data"]
        .as_array()
        .expect("predictions")
        .iter()
        .map(|label| label.as_i64().expect("a class"))
        .collect()
}

/// The local plan of an `iris` model at `path`.
fn local_plan(path: &str) -> LocalProcess {
    let context = RunContext {
        run_id: "0190f3c2-7a41-7c3e-9d2b-5e8f1a2b3f01".to_string(),
        project: "demo".to_string(),
        namespace: "runplane-demo".to_string(),
        function_name: "iris".to_string(),
        function_kind: "sklearnserve".to_string(),
        action: "serve".to_string(),
        function_spec: json!({"path": path, "model_name": "iris"}).to_string(),
        task_spec: "{}".to_string(),
        run_spec: "{}".to_string(),
        target: Target::Local,
        settings: HostSettings {
            image_registry: None,
            default_images: Vec::new(),
        },
    };
    match ModelServe::plan(context) {
        Ok(Plan::Local(process)) => process,
        other => panic!("a local sklearnserve run plans a local process: {other:?}"),
    }
}

/// Stops the server's process group, as the host stops a run: MLServer replaced
/// serve.py in place, so the group is the server and whatever it started.
fn stop(server: &mut Child) {
    let group = format!("-{}", server.id());
    let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
    let _ = server.wait();
}

fn run(command: &mut Command) -> Output {
    let output = command.output().expect("the command runs");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("an ephemeral port")
        .port()
}
