//! Against the REAL test control plane (`tests/control-plane/up`: etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler, kwok). Started once per test binary; each
//! test works in its own namespace. Without Go (and outside CI) the tests skip with a
//! printed reason; under `CI=true` they never skip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use runplane_control::{Control, RunEvent};
use runplane_engine::{HostSettings, Limits, PluginEngine, Registry, RunPlan};
use runplane_model::{Run, RunState, SpecFile, Target};
use runplane_target_kubernetes::KubernetesTarget;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The kubeconfig of the shared control plane, or `None` (with the reason printed) when
/// it cannot be built here outside CI.
fn kubeconfig() -> Option<PathBuf> {
    static KUBECONFIG: OnceLock<Option<PathBuf>> = OnceLock::new();
    KUBECONFIG
        .get_or_init(|| {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            let go = std::env::var_os("RUNPLANE_GO").is_some()
                || Command::new("go").arg("version").output().is_ok()
                || Path::new("/usr/local/go/bin/go").exists();
            if !go && !ci {
                eprintln!(
                    "SKIP: Go is not installed, so the test control plane cannot be built \
                     (set CI=true to make this a failure)"
                );
                return None;
            }
            let output = Command::new(workspace().join("tests/control-plane/up"))
                .current_dir(workspace())
                .output()
                .expect("tests/control-plane/up runs");
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "tests/control-plane/up failed: {}\n{stdout}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
            let line = stdout.lines().last().unwrap_or_default();
            let path = line
                .strip_prefix("KUBECONFIG=")
                .unwrap_or_else(|| panic!("last line of up is not KUBECONFIG=: {line:?}"));
            Some(PathBuf::from(path))
        })
        .clone()
}

async fn target() -> Option<KubernetesTarget> {
    let path = kubeconfig()?;
    Some(
        KubernetesTarget::from_kubeconfig(&path)
            .await
            .expect("the test kubeconfig loads"),
    )
}

fn control() -> (Control, tempfile::TempDir) {
    let engine = PluginEngine::new(Limits::default(), None).expect("engine starts");
    let registry = Registry::new();
    for (name, bytes) in runplane_builtins::COMPONENTS {
        registry.insert(engine.load(bytes, name).expect("built-in runtime loads"));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let local =
        runplane_target_local::LocalTarget::new(dir.path().join("runs"), dir.path().join("cache"));
    let control = Control::new(
        Arc::new(registry),
        local,
        HostSettings {
            image_registry: None,
            default_images: Vec::new(),
        },
    );
    (control, dir)
}

/// An example spec file, moved to `namespace` (the project is the namespace).
fn example(name: &str, namespace: &str) -> SpecFile {
    let text = std::fs::read_to_string(workspace().join("examples/python").join(name))
        .expect("example exists");
    let mut file = SpecFile::parse(&text).expect("example parses");
    file.project = namespace.to_string();
    file
}

fn new_run(file: &SpecFile) -> Run {
    Run::new(
        &file.project,
        &file.function.name,
        &file.function.kind,
        &file.action,
        Target::Kubernetes,
    )
}

/// Validates `file`, runs it on `target` to its end (two minutes at most) and returns
/// the run with the events it produced.
async fn run_to_end(
    control: &Control,
    target: &KubernetesTarget,
    file: &SpecFile,
) -> (Run, mpsc::UnboundedReceiver<RunEvent>) {
    let runtime = control
        .validate(file, Target::Kubernetes)
        .await
        .expect("valid");
    let (events, received) = mpsc::unbounded_channel();
    let (_stop, stop_requested) = watch::channel(false);
    let run = tokio::time::timeout(
        Duration::from_secs(120),
        control.run_kubernetes(
            &runtime,
            file,
            new_run(file),
            events,
            stop_requested,
            target,
        ),
    )
    .await
    .expect("the run ends within 2 minutes")
    .expect("the state machine holds");
    (run, received)
}

/// A fresh namespace name for one test.
fn namespace(test: &str) -> String {
    let unique = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis()
        % 1_000_000_000;
    format!("rp-{test}-{unique}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_job_completes_with_host_labels() {
    let Some(target) = target().await else { return };
    let (control, _dir) = control();
    let ns = namespace("job");
    let file = example("hello.yaml", &ns);
    let (run, mut received) = run_to_end(&control, &target, &file).await;
    let run_id = run.id.to_string();
    let mut states = Vec::new();
    while let Ok(event) = received.try_recv() {
        if let RunEvent::Transition(t) = event {
            eprintln!("{} -> {}: {}", t.from, t.to, t.reason.unwrap_or_default());
            states.push(t.to);
        }
    }
    assert_eq!(run.state, RunState::Completed, "history: {:?}", run.history);
    assert_eq!(states.first(), Some(&RunState::Built));
    assert!(states.contains(&RunState::Ready));
    assert_eq!(states.last(), Some(&RunState::Completed));

    let objects = target.observe_run(&ns, &run_id).await.expect("lists");
    let kinds: Vec<&str> = objects.iter().map(|o| o.kind.as_str()).collect();
    assert!(kinds.contains(&"ConfigMap"), "{kinds:?}");
    assert!(kinds.contains(&"Job"), "{kinds:?}");
    assert!(kinds.contains(&"Pod"), "{kinds:?}");
    for object in objects.iter().filter(|o| o.kind != "Pod") {
        let value: Value = serde_json::from_str(&object.object).expect("json");
        let labels = &value["metadata"]["labels"];
        assert_eq!(
            labels["app.kubernetes.io/managed-by"], "runplane",
            "{}",
            object.name
        );
        assert_eq!(labels["runplane.io/run"], run_id.as_str());
        assert_eq!(labels["runplane.io/project"], ns.as_str());
        assert_eq!(labels["runplane.io/runtime"], "python");
        assert_eq!(value["metadata"]["namespace"], ns.as_str());
    }

    assert!(target.delete_run(&ns, &run_id).await.expect("deletes") >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_failing_with_exit_code_3_ends_the_run_in_error() {
    let Some(target) = target().await else { return };
    let (control, _dir) = control();
    let ns = namespace("fail");
    let mut file = example("hello.yaml", &ns);
    // kwok's stages read these pod annotations (tests/control-plane/README.md).
    file.task.spec["annotations"] = serde_json::json!([
        {"name": "runplane.io/simulate", "value": "fail"},
        {"name": "runplane.io/simulate-exit-code", "value": "3"},
    ]);
    let (run, _received) = run_to_end(&control, &target, &file).await;
    let run_id = run.id.to_string();
    assert_eq!(run.state, RunState::Error, "history: {:?}", run.history);
    let reason = run
        .history
        .last()
        .and_then(|t| t.reason.clone())
        .unwrap_or_default();
    assert!(reason.contains("exited with code 3"), "{reason}");
    assert!(reason.contains("BackoffLimitExceeded"), "{reason}");
    target.delete_run(&ns, &run_id).await.expect("deletes");
}

/// The guarded plan of `file`, as `runplane plan --target kubernetes` prints it.
async fn guarded_plan(control: &Control, file: &SpecFile) -> (Run, Vec<Value>) {
    let runtime = control
        .validate(file, Target::Kubernetes)
        .await
        .expect("valid");
    let run = new_run(file);
    let context = control.context(file, &run);
    let RunPlan::Kubernetes(objects) = control
        .plan(&runtime, context.clone())
        .await
        .expect("plans")
    else {
        panic!("a kubernetes plan");
    };
    let admitted = Control::admit(&runtime, &run, &context.namespace, &objects).expect("admitted");
    (run, admitted)
}

/// `runplane plan --target kubernetes` output passes the API server's own validation
/// (server-side apply with `dryRun=All`), and nothing is persisted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planned_objects_pass_server_side_dry_run() {
    let Some(target) = target().await else { return };
    let (control, _dir) = control();
    for example_file in ["hello.yaml", "serve.yaml"] {
        let ns = namespace("dryrun");
        let file = example(example_file, &ns);
        let (run, objects) = guarded_plan(&control, &file).await;
        let run_id = run.id.to_string();
        assert!(!objects.is_empty());
        target
            .dry_run(&ns, &objects)
            .await
            .unwrap_or_else(|e| panic!("{example_file}: {e}"));
        let left = target.observe_run(&ns, &run_id).await.expect("lists");
        assert!(
            left.is_empty(),
            "{example_file}: dry run persisted {left:?}"
        );
    }
}
