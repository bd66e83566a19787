//! Python jobs on the real control plane: to COMPLETED under their owner object (host
//! labels, owner references), to ERROR with the pod's exit code, deleted through the
//! garbage collector; a namespace deleted between runs created again; planned manifests
//! accepted by server-side dry run.

use k8s_openapi::api::batch::v1::Job;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use runplane_control::Control;
use runplane_model::{RunPlan, RunState, SpecFile};
use runplane_target_kubernetes::policy::owner_name;
use serde_json::Value;

use crate::{
    Driven, Host, control, delete, drop_namespace, example, history, last_reason, list, namespace,
    new_run, owner, simulate, target,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_job_completes_under_its_owner_and_is_deleted() {
    let Some(target) = target().await else { return };
    let (control, _dir) = control();
    let ns = namespace("job");
    let file = example("hello.yaml", &ns);
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
    let objects = target.observe_run(&ns, &run_id).await.expect("lists");
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
    let mut file = example("hello.yaml", &ns);
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
    let file = example("hello.yaml", &ns);
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

/// The guarded plan of `file`, as `runplane plan --target kubernetes` prints it.
async fn guarded_plan(host: &Host, file: &SpecFile) -> (String, Vec<Value>) {
    let runtime = host.validated(file).await.expect("valid");
    let run = new_run(file);
    let context = host.control.context(file, &run);
    let RunPlan::Kubernetes(objects) = host.control.plan(&runtime, context).await.expect("plans")
    else {
        panic!("a kubernetes plan");
    };
    let admitted = Control::admit(&runtime, &run, &objects).expect("admitted");
    (run.id.to_string(), admitted)
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
        let (run_id, objects) = guarded_plan(&control, &file).await;
        assert!(!objects.is_empty());
        target
            .dry_run(&ns, &objects)
            .await
            .unwrap_or_else(|e| panic!("{example_file}: {e}"));
        let left = target.remaining_objects(&ns, &run_id).await.expect("lists");
        assert!(
            left.is_empty(),
            "{example_file}: dry run persisted {left:?}"
        );
        drop_namespace(&target, &ns).await;
    }
}
