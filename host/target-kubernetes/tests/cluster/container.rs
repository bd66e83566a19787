//! Container runs on the real control plane, from `examples/container/`: a job to
//! COMPLETED and, with its pod failing with exit code 3, to ERROR; a deployment and a
//! service to RUNNING (the service with its URL), stopped (scaled to 0), resumed and
//! deleted with nothing left.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use runplane_model::RunState;

use crate::{
    Driven, control, delete, drop_namespace, example, history, last_reason, list, namespace,
    new_run, replicas, simulate, target,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_jobs_complete_and_fail_with_their_exit_code() {
    let Some(target) = target().await else { return };
    let (control, _dir) = control();
    let ns = namespace("ctrjob");
    let file = example("container/job.yaml", &ns);
    let run = Driven::run_to_end(&control, &file, &target).await;
    assert_eq!(run.state, RunState::Completed, "{}", history(&run));
    let run_id = run.id.to_string();
    let jobs = list::<Job>(&target, &ns, &run_id).await;
    let pod = jobs[0]
        .spec
        .as_ref()
        .and_then(|spec| spec.template.spec.as_ref())
        .expect("the Job has a pod template");
    let container = &pod.containers[0];
    assert_eq!(container.image.as_deref(), Some("busybox:1.37"));
    assert_eq!(
        container.command.as_deref(),
        Some(&["/bin/sh".to_string()][..])
    );
    let script = list::<ConfigMap>(&target, &ns, &run_id).await;
    assert!(
        script.iter().any(|map| map
            .data
            .as_ref()
            .is_some_and(|data| data.contains_key("wordcount.sh"))),
        "the script ships in a ConfigMap"
    );
    let run = delete(&control, &target, run).await;
    assert_eq!(run.state, RunState::Deleted, "{}", history(&run));

    let mut failing = example("container/job.yaml", &ns);
    simulate(
        &mut failing,
        &[
            ("runplane.io/simulate", "fail"),
            ("runplane.io/simulate-exit-code", "3"),
        ],
    );
    let run = Driven::run_to_end(&control, &failing, &target).await;
    assert_eq!(run.state, RunState::Error, "{}", history(&run));
    let reason = last_reason(&run);
    assert!(reason.contains("exited with code 3"), "{reason}");
    let run = delete(&control, &target, run).await;
    assert_eq!(run.state, RunState::Deleted, "{}", history(&run));
    drop_namespace(&target, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_deployments_and_services_stop_resume_and_delete() {
    let Some(target) = target().await else { return };
    let (control, _dir) = control();
    for (example_path, with_service) in [
        ("container/deploy.yaml", false),
        ("container/serve.yaml", true),
    ] {
        let ns = namespace(if with_service {
            "ctrserve"
        } else {
            "ctrdeploy"
        });
        let file = example(example_path, &ns);
        let mut driven = Driven::start(&control, &file, new_run(&file), &target);
        let run_id = driven.run.id.to_string();
        let reason = driven.reach(RunState::Running).await;
        let services = list::<Service>(&target, &ns, &run_id).await;
        if with_service {
            assert!(
                reason.contains(&format!("serving at http://s-containerserve-{run_id}.{ns}")),
                "{example_path}: {reason}"
            );
            assert_eq!(services.len(), 1, "{example_path}: one Service");
        } else {
            assert!(services.is_empty(), "{example_path}: no Service");
        }
        assert_eq!(replicas(&target, &ns, &run_id).await, 2, "{example_path}");

        let run = driven.stop().await;
        assert_eq!(
            run.state,
            RunState::Stopped,
            "{example_path}: {}",
            history(&run)
        );
        assert_eq!(replicas(&target, &ns, &run_id).await, 0, "{example_path}");
        assert!(
            list::<Pod>(&target, &ns, &run_id).await.is_empty(),
            "{example_path}: no pod left"
        );

        let mut run = run;
        run.transition(RunState::Resume, Some("resume requested".into()))
            .expect("STOPPED -> RESUME");
        let mut driven = Driven::start(&control, &file, run, &target);
        driven.reach(RunState::Running).await;
        assert_eq!(replicas(&target, &ns, &run_id).await, 2, "{example_path}");
        let run = driven.stop().await;
        assert_eq!(
            run.state,
            RunState::Stopped,
            "{example_path}: {}",
            history(&run)
        );

        let run = delete(&control, &target, run).await;
        assert_eq!(
            run.state,
            RunState::Deleted,
            "{example_path}: {}",
            history(&run)
        );
        let left = target.remaining_objects(&ns, &run_id).await.expect("lists");
        assert!(
            left.is_empty(),
            "{example_path}: left after the delete: {left:?}"
        );
        assert!(list::<Deployment>(&target, &ns, &run_id).await.is_empty());
        drop_namespace(&target, &ns).await;
    }
}
