//! A run's life on the real control plane: a service stopped, resumed and deleted through
//! the garbage collector; a restarted host re-attaching to runs in every state; a
//! workload deleted behind the host's back; a run pending too long.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use kube::ResourceExt as _;
use kube::api::{Api, DeleteParams};
use runplane_model::{Run, RunState};
use runplane_target_kubernetes::policy::owner_name;
use serde_json::Value;

use crate::{
    Driven, STEP, connect, control, delete, drop_namespace, example, history, kubeconfig,
    last_reason, list, namespace, new_run, owner, plane_dir, replicas, simulate, target,
};

/// The user the tests' kubeconfig authenticates as (the host, here).
const HOST_USER: &str = "kubernetes-admin";
/// The service account kube-controller-manager's garbage collector acts as.
const GARBAGE_COLLECTOR: &str = "system:serviceaccount:kube-system:generic-garbage-collector";
/// `(user, resource/name)` of every deletion the API server audited in `namespace`
/// (`tests/control-plane/audit-policy.yaml` audits every deletion, and the test user's
/// patches of Jobs and ConfigMaps, which this leaves out).
fn audited_deletions(plane: &Path, namespace: &str) -> BTreeSet<(String, String)> {
    let log = std::fs::read_to_string(plane.join("logs/audit.log")).unwrap_or_default();
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["objectRef"]["namespace"] == namespace)
        .filter(|event| matches!(event["verb"].as_str(), Some("delete" | "deletecollection")))
        .map(|event| {
            let object = &event["objectRef"];
            (
                event["user"]["username"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string(),
                format!(
                    "{}/{}",
                    object["resource"].as_str().unwrap_or("?"),
                    object["name"].as_str().unwrap_or("")
                ),
            )
        })
        .collect()
}

/// Waits until the audit log shows the garbage collector deleting the run's Deployment
/// (the log is written as requests complete) and returns every audited deletion.
async fn deletions_after_gc(plane: &Path, namespace: &str) -> BTreeSet<(String, String)> {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let deletions = audited_deletions(plane, namespace);
        let collected = deletions
            .iter()
            .any(|(user, object)| user == GARBAGE_COLLECTOR && object.starts_with("deployments/"));
        if collected || tokio::time::Instant::now() > deadline {
            return deletions;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `examples/python/serve.yaml`: a Deployment and a Service, RUNNING with the service URL;
/// stopped (scaled to zero: no pod left, Deployment and Service kept), resumed (RUNNING
/// again, replicas back), stopped again and deleted: the host deletes only the owner,
/// the garbage collector everything else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_stops_resumes_and_is_deleted_through_the_garbage_collector() {
    let Some(target) = target().await else { return };
    let (control, _dir) = control();
    let ns = namespace("serve");
    let file = example("python/serve.yaml", &ns);
    let mut driven = Driven::start(&control, &file, new_run(&file), &target);
    let run_id = driven.run.id.to_string();
    let reason = driven.reach(RunState::Running).await;
    assert!(
        reason.contains("serving at http://") && reason.contains(&ns),
        "{reason}"
    );
    let owner_uid = owner(&target, &ns, &run_id)
        .await
        .expect("the run has an owner")
        .metadata
        .uid
        .expect("stored objects have a uid");
    let deployment = &list::<Deployment>(&target, &ns, &run_id).await[0];
    let service = &list::<Service>(&target, &ns, &run_id).await[0];
    let code = list::<ConfigMap>(&target, &ns, &run_id).await;
    let mut owned = vec![deployment.owner_references(), service.owner_references()];
    owned.extend(
        code.iter()
            .filter(|map| map.name_any() != owner_name(&run_id))
            .map(|map| map.owner_references()),
    );
    assert_eq!(
        owned.len(),
        3,
        "Deployment, Service and the code's ConfigMap"
    );
    for references in owned {
        assert_eq!(references.len(), 1, "{references:?}");
        assert_eq!(references[0].uid, owner_uid);
    }
    assert_eq!(replicas(&target, &ns, &run_id).await, 2);

    let run = driven.stop().await;
    assert_eq!(run.state, RunState::Stopped, "{}", history(&run));
    assert!(
        last_reason(&run).contains("to 0 replicas"),
        "{}",
        history(&run)
    );
    assert!(
        list::<Pod>(&target, &ns, &run_id).await.is_empty(),
        "no pod left"
    );
    assert_eq!(replicas(&target, &ns, &run_id).await, 0);
    assert_eq!(list::<Service>(&target, &ns, &run_id).await.len(), 1);

    let mut run = run;
    run.transition(RunState::Resume, Some("resume requested".into()))
        .expect("STOPPED -> RESUME");
    let mut driven = Driven::start(&control, &file, run, &target);
    driven.reach(RunState::Running).await;
    assert_eq!(
        replicas(&target, &ns, &run_id).await,
        2,
        "the resume's apply"
    );
    assert_eq!(list::<Deployment>(&target, &ns, &run_id).await.len(), 1);
    let run = driven.stop().await;
    assert_eq!(run.state, RunState::Stopped, "{}", history(&run));

    let run = delete(&control, &target, run).await;
    assert_eq!(run.state, RunState::Deleted, "{}", history(&run));
    let left = target.remaining_objects(&ns, &run_id).await.expect("lists");
    assert!(left.is_empty(), "left after the delete: {left:?}");
    let plane = plane_dir(&kubeconfig().expect("the plane is up"));
    let deletions = deletions_after_gc(&plane, &ns).await;
    let by_host: Vec<&String> = deletions
        .iter()
        .filter(|(user, _)| user == HOST_USER)
        .map(|(_, object)| object)
        .collect();
    assert_eq!(
        by_host,
        [&format!("configmaps/{}", owner_name(&run_id))],
        "the host deletes only the owner: {deletions:?}"
    );
    for collected in ["deployments/", "services/", "configmaps/"] {
        assert!(
            deletions
                .iter()
                .any(|(user, object)| user == GARBAGE_COLLECTOR && object.starts_with(collected)),
            "the garbage collector deleted the {collected}: {deletions:?}"
        );
    }
    drop_namespace(&target, &ns).await;
}

/// A restarted host (new control, new target) re-attaches: to a RUNNING run it only
/// follows; a run stored as BUILT although its objects were applied is applied again
/// without creating anything twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_host_follows_running_runs_and_applies_built_ones_again() {
    let Some(path) = kubeconfig() else { return };
    let target = connect(&path).await;
    let (first_host, _dir) = control();
    let ns = namespace("reattach");
    let mut file = example("python/hello.yaml", &ns);
    simulate(&mut file, &[("runplane.io/simulate-delay", "8s")]);
    let mut driven = Driven::start(&first_host, &file, new_run(&file), &target);
    let run_id = driven.run.id.to_string();
    driven.reach(RunState::Running).await;
    let built = driven.snapshot(RunState::Built);
    let running = driven.crash().await;
    let job_uid = list::<Job>(&target, &ns, &run_id).await[0].uid();

    let (restarted, _restarted_dir) = control();
    let target = connect(&path).await;
    let run = Driven::start(&restarted, &file, running.clone(), &target)
        .end()
        .await;
    assert_eq!(run.state, RunState::Completed, "{}", history(&run));
    let after_restart: Vec<RunState> = run.history[running.history.len()..]
        .iter()
        .map(|t| t.to)
        .collect();
    assert_eq!(after_restart, [RunState::Completed], "{}", history(&run));

    let again = Driven::start(&restarted, &file, built, &target).end().await;
    assert_eq!(again.state, RunState::Completed, "{}", history(&again));
    assert!(again.history.iter().any(|t| t.to == RunState::Ready));
    let jobs = list::<Job>(&target, &ns, &run_id).await;
    assert_eq!(jobs.len(), 1, "one Job");
    assert_eq!(jobs[0].uid(), job_uid, "the same Job, applied again");
    let maps = list::<ConfigMap>(&target, &ns, &run_id).await;
    assert_eq!(maps.len(), 2, "the owner and the code: {maps:?}");

    let run = delete(&restarted, &target, again).await;
    assert_eq!(run.state, RunState::Deleted, "{}", history(&run));
    drop_namespace(&target, &ns).await;
}

/// A host that died while stopping a job finishes the stop when it comes back; the
/// stopped job resumes (its Job applied again) and is stopped again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_is_finished_after_a_restart_and_a_job_resumes() {
    let Some(path) = kubeconfig() else { return };
    let target = connect(&path).await;
    let (control, _dir) = control();
    let ns = namespace("stopjob");
    let mut file = example("python/hello.yaml", &ns);
    simulate(&mut file, &[("runplane.io/simulate", "run")]);
    let mut driven = Driven::start(&control, &file, new_run(&file), &target);
    let run_id = driven.run.id.to_string();
    driven.reach(RunState::Running).await;
    let mut run = driven.crash().await;
    run.transition(RunState::Stop, Some("stop requested".into()))
        .expect("RUNNING -> STOP");

    let target = connect(&path).await;
    let run = Driven::start(&control, &file, run, &target).end().await;
    assert_eq!(run.state, RunState::Stopped, "{}", history(&run));
    assert!(
        list::<Job>(&target, &ns, &run_id).await.is_empty(),
        "Job deleted"
    );
    assert!(
        list::<Pod>(&target, &ns, &run_id).await.is_empty(),
        "no pod left"
    );

    let mut run = run;
    run.transition(RunState::Resume, Some("resume requested".into()))
        .expect("STOPPED -> RESUME");
    let mut driven = Driven::start(&control, &file, run, &target);
    driven.reach(RunState::Running).await;
    assert_eq!(list::<Job>(&target, &ns, &run_id).await.len(), 1);
    let run = driven.stop().await;
    assert_eq!(run.state, RunState::Stopped, "{}", history(&run));
    let run = delete(&control, &target, run).await;
    assert_eq!(run.state, RunState::Deleted, "{}", history(&run));
    drop_namespace(&target, &ns).await;
}

/// Deleting the Job behind the host's back ends the run in ERROR, saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_deleted_externally_ends_the_run_in_error() {
    let Some(target) = target().await else { return };
    let (control, _dir) = control();
    let ns = namespace("external");
    let mut file = example("python/hello.yaml", &ns);
    simulate(&mut file, &[("runplane.io/simulate", "run")]);
    let mut driven = Driven::start(&control, &file, new_run(&file), &target);
    let run_id = driven.run.id.to_string();
    driven.reach(RunState::Running).await;
    let job = list::<Job>(&target, &ns, &run_id).await[0].name_any();
    Api::<Job>::namespaced(target.client().clone(), &ns)
        .delete(&job, &DeleteParams::background())
        .await
        .expect("deletes");
    let run = driven.end().await;
    assert_eq!(run.state, RunState::Error, "{}", history(&run));
    assert_eq!(
        last_reason(&run),
        format!("Job/{job} was deleted externally")
    );
    let run = delete(&control, &target, run).await;
    assert_eq!(run.state, RunState::Deleted, "{}", history(&run));
    drop_namespace(&target, &ns).await;
}

/// A pod that never starts (kwok keeps it waiting with ImagePullBackOff) ends the run
/// in ERROR once the pending timeout passed, with the Kubernetes reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_pending_too_long_ends_in_error_with_the_reason() {
    let Some(target) = target().await else { return };
    let target = target.with_pending_timeout(Duration::from_secs(8));
    let (control, _dir) = control();
    let ns = namespace("pending");
    let mut file = example("python/hello.yaml", &ns);
    simulate(
        &mut file,
        &[
            ("runplane.io/simulate", "pending"),
            ("runplane.io/simulate-reason", "ImagePullBackOff"),
            (
                "runplane.io/simulate-message",
                "Back-off pulling image \"python:3.11-slim\"",
            ),
        ],
    );
    let run: Run = Driven::run_to_end(&control, &file, &target).await;
    assert_eq!(run.state, RunState::Error, "{}", history(&run));
    let reason = last_reason(&run);
    assert!(reason.starts_with("still pending after 8s"), "{reason}");
    assert!(reason.contains("ImagePullBackOff"), "{reason}");
    assert!(reason.contains("Back-off pulling image"), "{reason}");
    let run = delete(&control, &target, run).await;
    assert_eq!(run.state, RunState::Deleted, "{}", history(&run));
    drop_namespace(&target, &ns).await;
}
