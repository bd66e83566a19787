//! End to end against the REAL test control plane (`tests/control-plane/up`: etcd,
//! kube-apiserver, kube-controller-manager, kube-scheduler, kwok). One plane is shared by
//! the tests of this binary, each test working in its own namespace; the API server
//! outage test has a plane of its own, since stopping the shared API server would break
//! the tests running beside it. Without Go (and outside CI) the tests skip with a printed
//! reason; under `CI=true` they never skip.
//!
//! - `jobs`: Python jobs to COMPLETED and ERROR under their owner object, deleted through
//!   the garbage collector; plans accepted by server-side dry run.
//! - `lifecycle`: a Python service stopped, resumed and deleted; a restarted host
//!   re-attaching to runs in every state; a workload deleted behind the host's back; a
//!   run pending too long.
//! - `container`: container jobs to COMPLETED and ERROR, a deployment and a service
//!   RUNNING, stopped, resumed and deleted.
//! - `flower`: a Flower SuperLink and two SuperNodes RUNNING, stopped and deleted.
//! - `guard`: plans that break the guard's rules create nothing; every fixture plan of
//!   `tests/guard` goes through the guard and a server-side dry run in a namespace that
//!   enforces Pod Security "restricted", and the guard is never the laxer; an object the
//!   run does not own is refused before any forced apply.
//! - `kinds`: a kind's watcher (a custom resource's too) lives as long as a tracked
//!   run needs it.
//! - `logs`: pod logs through the API server (kwok serves them), and the error when a
//!   node's kubelet cannot be reached.
//! - `outage`: runs followed across an API server restart.
//!
//! Every wait is bounded by [`STEP`]; nothing asserts on timing.

mod container;
mod dbt;
mod flower;
mod guard;
mod jobs;
mod kinds;
mod lifecycle;
mod logs;
mod modelserve;
mod outage;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Resource;
use kube::api::{Api, DeleteParams, ListParams};
use runplane_control::Control;
use runplane_engine::{LoadedRuntime, Registry};
use runplane_model::{Run, RunEvent, RunState, SpecFile, Target};
use runplane_target_kubernetes::KubernetesTarget;
use runplane_target_kubernetes::policy::{owner_name, run_selector};
use runplane_test_support::host;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// The longest any one step of a run (reaching a state, stopping, deleting) may take: far
/// more than it needs, for a 2-core machine shared with builds.
const STEP: Duration = Duration::from_secs(240);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

use runplane_test_support::control_plane::{kubeconfig, plane_dir, start as start_plane};

/// A target on the shared plane, or `None` when the tests skip.
async fn target() -> Option<KubernetesTarget> {
    Some(connect(&kubeconfig()?).await)
}

/// A new target (its own client and watchers, as a newly started host has).
async fn connect(kubeconfig: &Path) -> KubernetesTarget {
    KubernetesTarget::from_kubeconfig(kubeconfig)
        .await
        .expect("the test kubeconfig loads")
}

/// The control and the runtimes of a host under test.
#[derive(Clone)]
struct Host {
    control: Control,
    registry: Arc<Registry>,
}

impl Host {
    /// The runtime owning `file`'s kind, once it accepted the file's specs (what the
    /// run service does when it accepts a run).
    async fn validated(&self, file: &SpecFile) -> runplane_control::Result<Arc<LoadedRuntime>> {
        let runtime = self
            .registry
            .for_kind(&file.function.kind)
            .expect("a runtime owns the kind");
        self.control.validate(&runtime, file).await?;
        Ok(runtime)
    }
}

/// A host with the built-in runtimes.
fn control() -> (Host, tempfile::TempDir) {
    control_with(&[])
}

/// A host with the built-in runtimes and the components at `extra` (paths).
fn control_with(extra: &[&str]) -> (Host, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let host = Host {
        control: host::control(dir.path()),
        // Loading is async (off the async threads); the tests run on a multi-thread
        // runtime, whose worker may block for it.
        registry: tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(host::registry(extra))
        }),
    };
    (host, dir)
}

/// An example spec file (`python/hello.yaml`, under `examples/`), moved to `namespace`
/// (the project is the namespace).
fn example(path: &str, namespace: &str) -> SpecFile {
    let text =
        std::fs::read_to_string(workspace().join("examples").join(path)).expect("example exists");
    let mut file = SpecFile::parse(&text).expect("example parses");
    file.project = namespace.to_string();
    file
}

/// Sets the task's pod annotations, which kwok's stages read to choose the pod's fate
/// (`tests/control-plane/README.md`).
fn simulate(file: &mut SpecFile, annotations: &[(&str, &str)]) {
    file.task.spec["annotations"] = annotations
        .iter()
        .map(|(name, value)| serde_json::json!({"name": name, "value": value}))
        .collect();
}

fn new_run(file: &SpecFile) -> Run {
    Run::of(file, Target::Kubernetes)
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

/// `FROM -> TO: reason` lines of a run's history, for failure messages.
fn history(run: &Run) -> String {
    run.history
        .iter()
        .map(|t| {
            format!(
                "\n  {} -> {}: {}",
                t.from,
                t.to,
                t.reason.as_deref().unwrap_or("")
            )
        })
        .collect()
}

/// The reason of the run's last transition.
fn last_reason(run: &Run) -> String {
    run.history
        .last()
        .and_then(|t| t.reason.clone())
        .unwrap_or_default()
}

/// A run driven in the background, as a host drives it, with the events it reports.
struct Driven {
    task: JoinHandle<runplane_control::Result<Run>>,
    events: mpsc::UnboundedReceiver<RunEvent>,
    stop: watch::Sender<bool>,
    /// The run as its events tell it: what the host's store would hold.
    run: Run,
    /// The run at each transition, oldest first: what the store held at that moment.
    snapshots: Vec<Run>,
    /// The outputs the run reported last (the runtime's `observe` says them).
    outputs: Vec<(String, String)>,
}

impl Driven {
    /// Validates `file` and drives `run` with `host` on `target`, from whatever state
    /// `run` is in.
    fn start(host: &Host, file: &SpecFile, run: Run, target: &KubernetesTarget) -> Driven {
        let (host, file, target, start) = (host.clone(), file.clone(), target.clone(), run.clone());
        let (events, received) = mpsc::unbounded_channel();
        let (stop, stop_requested) = watch::channel(false);
        let task = tokio::spawn(async move {
            let runtime = host.validated(&file).await?;
            host.control
                .run_kubernetes(&runtime, &file, start, events, stop_requested, &target)
                .await
        });
        Driven {
            task,
            events: received,
            stop,
            run,
            snapshots: Vec::new(),
            outputs: Vec::new(),
        }
    }

    /// Drives a new run of `file` to its end and returns it.
    async fn run_to_end(host: &Host, file: &SpecFile, target: &KubernetesTarget) -> Run {
        Driven::start(host, file, new_run(file), target).end().await
    }

    /// Waits until the run reaches `state` and returns that transition's reason. Panics,
    /// with the history, when the run ends elsewhere or takes longer than [`STEP`].
    async fn reach(&mut self, state: RunState) -> String {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!("{state} not reached within {STEP:?};{}", history(&self.run))
                });
            match event {
                Some(RunEvent::Transition(transition)) => {
                    self.record(&transition);
                    if transition.to == state {
                        return transition.reason.unwrap_or_default();
                    }
                }
                Some(RunEvent::Outputs(outputs)) => self.outputs = outputs,
                Some(_) => {}
                None => panic!(
                    "the run ended in {} without reaching {state};{}",
                    self.run.state,
                    history(&self.run)
                ),
            }
        }
    }

    fn record(&mut self, transition: &runplane_model::Transition) {
        eprintln!(
            "{} {} -> {}: {}",
            self.run.id,
            transition.from,
            transition.to,
            transition.reason.as_deref().unwrap_or("")
        );
        self.run
            .transition(transition.to, transition.reason.clone())
            .expect("events follow the state machine");
        self.snapshots.push(self.run.clone());
    }

    /// The run as it was stored when it had just reached `state`.
    fn snapshot(&self, state: RunState) -> Run {
        self.snapshots
            .iter()
            .find(|run| run.state == state)
            .unwrap_or_else(|| panic!("never {state};{}", history(&self.run)))
            .clone()
    }

    /// Asks the run to stop and returns it once its driver returned.
    async fn stop(self) -> Run {
        self.stop.send(true).expect("the driver listens");
        self.end().await
    }

    /// The run once its driver returned (within [`STEP`]).
    async fn end(self) -> Run {
        let run = tokio::time::timeout(STEP, self.task)
            .await
            .unwrap_or_else(|_| panic!("the run did not end within {STEP:?}"))
            .expect("the driver does not panic")
            .expect("the state machine holds");
        eprintln!("{} ended {};{}", run.id, run.state, history(&run));
        run
    }

    /// The host dies: its driver is dropped wherever it was. Returns the run as stored
    /// (every transition reported so far).
    async fn crash(mut self) -> Run {
        self.task.abort();
        let _ = (&mut self.task).await;
        while let Ok(event) = self.events.try_recv() {
            if let RunEvent::Transition(transition) = event {
                self.record(&transition);
            }
        }
        self.run
    }
}

/// Deletes `run` with `host` and returns it.
async fn delete(host: &Host, target: &KubernetesTarget, run: Run) -> Run {
    let (events, _received) = mpsc::unbounded_channel();
    let run = tokio::time::timeout(STEP, host.control.delete_kubernetes(run, events, target))
        .await
        .expect("the delete ends")
        .expect("the state machine holds");
    eprintln!("{} {};{}", run.id, run.state, history(&run));
    run
}

/// The run's objects of kind `K`, listed from the API server.
async fn list<K>(target: &KubernetesTarget, namespace: &str, run_id: &str) -> Vec<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    Api::<K>::namespaced(target.client().clone(), namespace)
        .list(&ListParams::default().labels(&run_selector(run_id)))
        .await
        .expect("lists")
        .items
}

/// The replicas of the run's one Deployment.
async fn replicas(target: &KubernetesTarget, namespace: &str, run_id: &str) -> i32 {
    let deployments = list::<Deployment>(target, namespace, run_id).await;
    assert_eq!(deployments.len(), 1, "one Deployment");
    deployments[0].spec.replicas.unwrap_or(1)
}

/// The run's owner object.
async fn owner(target: &KubernetesTarget, namespace: &str, run_id: &str) -> Option<ConfigMap> {
    Api::<ConfigMap>::namespaced(target.client().clone(), namespace)
        .get_opt(&owner_name(run_id))
        .await
        .expect("reads")
}

/// Deletes a test's namespace (without waiting).
async fn drop_namespace(target: &KubernetesTarget, namespace: &str) {
    let _ = Api::<Namespace>::all(target.client().clone())
        .delete(namespace, &DeleteParams::background())
        .await;
}

/// What Pod Security admission judges: the objects, and each pod template in them as a
/// bare Pod (admission enforces on Pods only; a workload's template only warns), named
/// after its object. Templates are found as the guard finds them: any object with a
/// `containers` array, with the metadata beside it.
fn with_pods(objects: &[Value]) -> Vec<Value> {
    fn templates<'a>(value: &'a Value, parent: Option<&'a Value>, found: &mut Vec<(Value, Value)>) {
        match value {
            Value::Object(fields) => {
                if fields.get("containers").is_some_and(Value::is_array) {
                    let metadata = parent
                        .and_then(|p| p.get("metadata"))
                        .cloned()
                        .unwrap_or_else(|| json!({}));
                    found.push((metadata, value.clone()));
                }
                for (key, child) in fields {
                    templates(child, (key == "spec").then_some(value), found);
                }
            }
            Value::Array(items) => items.iter().for_each(|item| templates(item, None, found)),
            _ => {}
        }
    }
    let mut all = objects.to_vec();
    for object in objects {
        if object["kind"] == "Pod" {
            continue;
        }
        let mut found = Vec::new();
        templates(object, None, &mut found);
        for (index, (metadata, spec)) in found.into_iter().enumerate() {
            let name = format!(
                "{}-pod{index}",
                object["metadata"]["name"].as_str().unwrap_or("x")
            );
            let mut pod =
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec});
            pod["metadata"]["name"] = json!(name);
            all.push(pod);
        }
    }
    all
}
