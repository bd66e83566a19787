//! Python jobs on the real control plane: to COMPLETED under their owner object (host
//! labels, owner references), to ERROR with the pod's exit code, deleted through the
//! garbage collector; a namespace deleted between runs created again; every Kubernetes
//! golden plan of every runtime accepted by server-side dry run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::Api;
use kube::api::PostParams;
use runplane_engine::Registry;
use runplane_model::{RunId, RunState};
use runplane_target_kubernetes::KubernetesTarget;
use runplane_target_kubernetes::policy::{
    Grants, PodSecurity, Policy, Subject, admit_granted, owner_name,
};
use runplane_test_support::host;
use serde::Deserialize;
use serde_json::Value;

use crate::{
    Driven, control, delete, drop_namespace, example, history, last_reason, list, namespace, owner,
    simulate, target, with_pods, workspace,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_job_completes_under_its_owner_and_is_deleted() {
    let Some(target) = target().await else { return };
    let (control, _dir) = control();
    let ns = namespace("job");
    let file = example("python/hello.yaml", &ns);
    let run = Driven::run_to_end(&control, &file, &target).await;
    let run_id = run.id.to_string();
    let states: Vec<RunState> = run.history.iter().map(|t| t.to).collect();
    assert_eq!(run.state, RunState::Completed, "{}", history(&run));
    assert_eq!(states.first(), Some(&RunState::Built));
    assert!(states.contains(&RunState::Ready));

    let owner = owner(&target, &ns, &run_id)
        .await
        .expect("the run has an owner");
    let owner_uid = owner
        .metadata
        .uid
        .clone()
        .expect("stored objects have a uid");
    let kinds = ["v1/ConfigMap".to_string(), "batch/v1/Job".to_string()];
    let tracker = target.track(&ns, &run_id, &kinds).await;
    let objects = target.observe_run(&tracker).await.expect("lists");
    let kinds: Vec<&str> = objects.iter().map(|o| o.kind.as_str()).collect();
    assert!(kinds.contains(&"ConfigMap"), "{kinds:?}");
    assert!(kinds.contains(&"Job"), "{kinds:?}");
    assert!(kinds.contains(&"Pod"), "{kinds:?}");
    assert!(
        objects.iter().all(|o| o.name != owner_name(&run_id)),
        "the owner is the host's, not the runtime's to observe"
    );
    let mut labelled: Vec<Value> = objects
        .iter()
        .filter(|o| o.kind != "Pod")
        .map(|o| serde_json::from_str(&o.object).expect("json"))
        .collect();
    for value in &labelled {
        let references = &value["metadata"]["ownerReferences"];
        assert_eq!(references.as_array().map(Vec::len), Some(1), "{value}");
        assert_eq!(references[0]["kind"], "ConfigMap");
        assert_eq!(references[0]["name"], owner_name(&run_id).as_str());
        assert_eq!(references[0]["uid"], owner_uid.as_str());
    }
    labelled.push(serde_json::to_value(&owner).expect("json"));
    for value in &labelled {
        let labels = &value["metadata"]["labels"];
        let name = &value["metadata"]["name"];
        assert_eq!(labels["app.kubernetes.io/managed-by"], "runplane", "{name}");
        assert_eq!(labels["runplane.io/run"], run_id.as_str(), "{name}");
        assert_eq!(labels["runplane.io/project"], ns.as_str(), "{name}");
        assert_eq!(labels["runplane.io/runtime"], "python", "{name}");
        assert_eq!(value["metadata"]["namespace"], ns.as_str(), "{name}");
    }

    let run = delete(&control, &target, run).await;
    assert_eq!(run.state, RunState::Deleted, "{}", history(&run));
    assert!(
        last_reason(&run).contains("garbage collector"),
        "{}",
        history(&run)
    );
    let left = target.remaining_objects(&ns, &run_id).await.expect("lists");
    assert!(left.is_empty(), "left after the delete: {left:?}");
    drop_namespace(&target, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_failing_with_exit_code_3_ends_the_run_in_error() {
    let Some(target) = target().await else { return };
    let (control, _dir) = control();
    let ns = namespace("fail");
    let mut file = example("python/hello.yaml", &ns);
    simulate(
        &mut file,
        &[
            ("runplane.io/simulate", "fail"),
            ("runplane.io/simulate-exit-code", "3"),
        ],
    );
    let run = Driven::run_to_end(&control, &file, &target).await;
    assert_eq!(run.state, RunState::Error, "{}", history(&run));
    let reason = last_reason(&run);
    assert!(reason.contains("exited with code 3"), "{reason}");
    assert!(reason.contains("BackoffLimitExceeded"), "{reason}");
    // A failed run keeps its objects for inspection until it is deleted.
    let run_id = run.id.to_string();
    assert_eq!(list::<Job>(&target, &ns, &run_id).await.len(), 1);
    let run = delete(&control, &target, run).await;
    assert_eq!(run.state, RunState::Deleted, "{}", history(&run));
    assert!(list::<ConfigMap>(&target, &ns, &run_id).await.is_empty());
    drop_namespace(&target, &ns).await;
}

/// The target remembers namespaces it saw instead of asking before every apply: one
/// deleted meanwhile is created again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_deleted_between_runs_is_created_again() {
    let Some(target) = target().await else { return };
    let (control, _dir) = control();
    let ns = namespace("renamespace");
    let file = example("python/hello.yaml", &ns);
    let run = Driven::run_to_end(&control, &file, &target).await;
    assert_eq!(run.state, RunState::Completed, "{}", history(&run));
    drop_namespace(&target, &ns).await;
    let namespaces = Api::<Namespace>::all(target.client().clone());
    let deadline = Instant::now() + Duration::from_secs(180);
    while namespaces.get_opt(&ns).await.expect("reads").is_some() {
        assert!(Instant::now() < deadline, "namespace {ns} was not deleted");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let run = Driven::run_to_end(&control, &file, &target).await;
    assert_eq!(run.state, RunState::Completed, "{}", history(&run));
    drop_namespace(&target, &ns).await;
}

/// Golden plans the default Pod Security "restricted" policy refuses by design, the
/// level that lets them through, and why: they are dry-run at that level, as a host
/// whose policy relaxes the runtime's action to it would apply them, in a namespace
/// that enforces it. Each must still be refused by "restricted", so an entry that is no
/// longer needed fails instead of hiding a regression.
const RELAXED: &[(&str, PodSecurity, &str)] = &[
    (
        "python/build-kubernetes",
        PodSecurity::Baseline,
        "the kaniko build runs as root (docs/decisions.md, entries 9 and 42)",
    ),
    (
        "container/build-dockerfile",
        PodSecurity::Baseline,
        "the kaniko build runs as root (docs/decisions.md, entries 9 and 42)",
    ),
    (
        "container/build-base-image",
        PodSecurity::Baseline,
        "the kaniko build runs as root (docs/decisions.md, entries 9 and 42)",
    ),
    (
        "modelserve/mlflow-build",
        PodSecurity::Baseline,
        "the kaniko build runs as root (docs/decisions.md, entries 9 and 42)",
    ),
    (
        "flower/server-build",
        PodSecurity::Baseline,
        "the kaniko build runs as root (docs/decisions.md, entries 9 and 42)",
    ),
    (
        "flower/client-build-base-image",
        PodSecurity::Baseline,
        "the kaniko build runs as root (docs/decisions.md, entries 9 and 42)",
    ),
    (
        "container/job-image-user",
        PodSecurity::Baseline,
        "no run_as_user: the pod runs as the image's USER, as in the original (entry 41)",
    ),
];

/// A Kubernetes golden case of a runtime crate: `plugins/<dir>/tests/golden/<case>/`
/// whose `input.yaml` has `target: kubernetes` and which plans (`plan.yaml`).
struct GoldenPlan {
    /// `<dir>/<case>`, for messages and [`RELAXED`].
    name: String,
    /// `function_kind` of `input.yaml`: the runtime that owns it planned the case.
    function_kind: String,
    /// The documents of `plan.yaml` as JSON text, in apply order: what the runtime's
    /// `plan` returned.
    objects: Vec<String>,
    /// What `task_spec` of `input.yaml` grants (its Secrets), as the host reads it.
    grants: Grants,
}

/// Every Kubernetes golden plan of every runtime crate under `plugins/`, found by
/// walking the folders, so a new runtime's cases are dry-run without being listed.
fn golden_kubernetes_plans() -> Vec<GoldenPlan> {
    let mut plans = Vec::new();
    for crate_dir in folders(&workspace().join("plugins")) {
        let golden = crate_dir.join("tests/golden");
        if !golden.is_dir() {
            continue;
        }
        for case in folders(&golden) {
            let plan = case.join("plan.yaml");
            if !plan.exists() {
                continue;
            }
            let input: serde_yaml::Value = serde_yaml::from_str(&read(&case.join("input.yaml")))
                .unwrap_or_else(|e| panic!("{}/input.yaml: {e}", case.display()));
            if input["target"].as_str() != Some("kubernetes") {
                continue;
            }
            let function_kind = input["function_kind"]
                .as_str()
                .unwrap_or_else(|| panic!("{}/input.yaml has no function_kind", case.display()))
                .to_string();
            let objects = serde_yaml::Deserializer::from_str(&read(&plan))
                .map(|document| {
                    Value::deserialize(document)
                        .map(|object| object.to_string())
                        .unwrap_or_else(|e| panic!("{}: {e}", plan.display()))
                })
                .collect();
            let task_spec = serde_json::to_value(&input["task_spec"])
                .unwrap_or_else(|e| panic!("{}/input.yaml task_spec: {e}", case.display()));
            plans.push(GoldenPlan {
                name: format!("{}/{}", file_name(&crate_dir), file_name(&case)),
                function_kind,
                objects,
                grants: Grants::from_task_spec(&task_spec),
            });
        }
    }
    plans
}

/// The folders directly under `dir`, sorted.
fn folders(dir: &Path) -> Vec<PathBuf> {
    let mut folders: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_dir())
        .collect();
    folders.sort();
    folders
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Stamps `plan`'s objects with the host's guard for a made-up run in namespace `ns`,
/// then server-side applies them with `dryRun=All`, and checks that nothing was
/// persisted. `Err` carries the guard's or the API server's message.
async fn dry_run(
    target: &KubernetesTarget,
    registry: &Registry,
    plan: &GoldenPlan,
    ns: &str,
) -> Result<(), String> {
    let runtime = registry
        .for_kind(&plan.function_kind)
        .ok_or_else(|| format!("no loaded runtime owns kind {}", plan.function_kind))?;
    let run_id = RunId::generate();
    let subject = Subject {
        run_id: run_id.as_str(),
        project: ns,
        namespace: ns,
        runtime: runtime.name(),
        runtime_kinds: &runtime.info().allowed_kinds,
    };
    let restricted = admit_granted(&plan.objects, &subject, &plan.grants, &Policy::default());
    let (objects, level) = match RELAXED.iter().find(|(name, ..)| *name == plan.name) {
        None => (
            restricted.map_err(|e| format!("the guard refuses it: {e}"))?,
            PodSecurity::Restricted,
        ),
        Some((_, level, why)) => {
            match restricted {
                Err(violation) if violation.rule.starts_with("Pod Security restricted") => {}
                Err(violation) => return Err(format!("the guard refuses it: {violation}")),
                Ok(_) => {
                    return Err(format!(
                        "listed as refused by Pod Security restricted ({why}), but admitted: \
                         remove it from RELAXED"
                    ));
                }
            }
            let label = level.label();
            eprintln!("{}: dry-run with Pod Security {label}: {why}", plan.name);
            let relaxed = Policy {
                pod_security: *level,
                ..Policy::default()
            };
            let admitted = admit_granted(&plan.objects, &subject, &plan.grants, &relaxed)
                .map_err(|e| format!("the guard refuses it even at {label}: {e}"))?;
            (admitted, *level)
        }
    };
    // The host whose policy admits a relaxed pod must create its namespace with that
    // level too, or the API server's own Pod Security admission refuses the pod.
    let target = target.clone().with_pod_security(level);
    // Pod Security admission enforces on Pods only: each pod template is dry-run as a
    // Pod too, so the namespace's level judges what the workload would create.
    target
        .dry_run(ns, &with_pods(&objects))
        .await
        .map_err(|e| format!("the API server refuses it: {e}"))?;
    let left = target
        .remaining_objects(ns, run_id.as_str())
        .await
        .map_err(|e| format!("cannot list what is left: {e}"))?;
    if !left.is_empty() {
        return Err(format!("the dry run persisted {left:?}"));
    }
    Ok(())
}

/// Every Kubernetes plan of the runtimes' golden cases, stamped by the host's guard as
/// it would be applied, passes the API server's own validation (server-side apply with
/// `dryRun=All`), each in a namespace of its own, and nothing is persisted. The
/// bootstrap's text stands as its golden placeholder in the ConfigMaps' data, which the
/// API server does not interpret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_golden_kubernetes_plan_passes_server_side_dry_run() {
    let Some(target) = target().await else { return };
    let registry = host::registry(&[]).await;
    let plans = golden_kubernetes_plans();
    assert!(
        !plans.is_empty(),
        "no Kubernetes golden plans under plugins/*/tests/golden"
    );
    for (name, ..) in RELAXED {
        assert!(
            plans.iter().any(|plan| plan.name == *name),
            "RELAXED lists {name}, which is not a Kubernetes golden plan"
        );
    }
    ensure_cluster_classes(&target, &plans).await;
    let mut namespaces = Vec::new();
    let mut failures = Vec::new();
    for (index, plan) in plans.iter().enumerate() {
        let ns = namespace(&format!("dryrun{index}"));
        namespaces.push(ns.clone());
        match dry_run(&target, &registry, plan, &ns).await {
            Ok(()) => eprintln!("{}: passes server-side dry run in {ns}", plan.name),
            Err(message) => failures.push(format!("{}: {message}", plan.name)),
        }
    }
    for ns in &namespaces {
        drop_namespace(&target, ns).await;
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden plan(s) fail server-side dry run:\n{}",
        failures.len(),
        plans.len(),
        failures.join("\n")
    );
}

/// Creates the PriorityClasses and RuntimeClasses the plans name (a task's
/// `priority_class` and `runtime_class`), as the cluster's admin provides them: the
/// Priority and RuntimeClass admission plugins refuse a pod naming a class that does not
/// exist, which says nothing about the plan.
async fn ensure_cluster_classes(target: &KubernetesTarget, plans: &[GoldenPlan]) {
    let mut classes = BTreeSet::new();
    for text in plans.iter().flat_map(|plan| &plan.objects) {
        let object: Value = serde_json::from_str(text).expect("json");
        cluster_classes(&object, &mut classes);
    }
    let client = target.client().clone();
    for (field, name) in classes {
        let created = if field == "priorityClassName" {
            let mut class = PriorityClass::default();
            class.metadata.name = Some(name.clone());
            class.value = Some(1000);
            Api::<PriorityClass>::all(client.clone())
                .create(&PostParams::default(), &class)
                .await
                .map(drop)
        } else {
            let mut class = RuntimeClass::default();
            class.metadata.name = Some(name.clone());
            class.handler = name.clone();
            Api::<RuntimeClass>::all(client.clone())
                .create(&PostParams::default(), &class)
                .await
                .map(drop)
        };
        match created {
            Ok(()) => {}
            Err(kube::Error::Api(status)) if status.is_already_exists() => {}
            Err(error) => panic!("cannot create the class {name} of {field}: {error}"),
        }
    }
}

/// Every `(priorityClassName | runtimeClassName, value)` in `value`.
fn cluster_classes(value: &Value, found: &mut BTreeSet<(String, String)>) {
    match value {
        Value::Object(fields) => {
            for (key, child) in fields {
                match (key.as_str(), child.as_str()) {
                    ("priorityClassName" | "runtimeClassName", Some(name)) => {
                        found.insert((key.clone(), name.to_string()));
                    }
                    _ => cluster_classes(child, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| cluster_classes(item, found)),
        _ => {}
    }
}
