//! ModelServe runs on the real control plane, from `examples/modelserve/`: a scikit-learn
//! model served by MLServer behind a Service reaches RUNNING once its Deployment is
//! available, and its status carries the Open Inference Protocol (V2) URLs; stopped,
//! resumed and deleted with nothing left.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use runplane_model::RunState;
use serde_json::Value;

use crate::{
    Driven, control, delete, drop_namespace, example, history, list, namespace, new_run, target,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sklearn_model_serves_with_its_v2_urls_until_stopped() {
    let Some(target) = target().await else { return };
    let (control, _dir) = control();
    let ns = namespace("sklearn");
    let file = example("modelserve/sklearn-serve.yaml", &ns);
    let mut driven = Driven::start(&control, &file, new_run(&file), &target);
    let run_id = driven.run.id.to_string();
    let reason = driven.reach(RunState::Running).await;
    let service = format!("s-sklearnserveserve-{run_id}");
    assert!(
        reason.contains(&format!(
            "serving at http://{service}.{ns}.svc.cluster.local:8080"
        )),
        "{reason}"
    );
    let outputs: Value = serde_json::from_str(
        &driven
            .outputs
            .iter()
            .find(|(name, _)| name == "inference_v2")
            .unwrap_or_else(|| panic!("no inference_v2 in {:?}", driven.outputs))
            .1,
    )
    .unwrap();
    let model = outputs["model"].as_str().expect("the model is named");
    for (key, path) in [
        ("inferenceUrl", format!("/v2/models/{model}/infer")),
        ("modelMetadataUrl", format!("/v2/models/{model}")),
        ("modelReadinessUrl", format!("/v2/models/{model}/ready")),
        ("readinessUrl", "/v2/health/ready".to_string()),
        ("livenessUrl", "/v2/health/live".to_string()),
    ] {
        let url = outputs[key].as_str().unwrap_or_default();
        assert!(
            url.contains(&service) && url.ends_with(&path),
            "{key}: {url} in {outputs:#}"
        );
    }
    assert!(
        outputs["baseUrl"]
            .as_str()
            .unwrap_or_default()
            .contains(&service),
        "{outputs:#}"
    );
    assert_eq!(list::<Service>(&target, &ns, &run_id).await.len(), 1);
    let deployments = list::<Deployment>(&target, &ns, &run_id).await;
    let pod = deployments[0]
        .spec
        .template
        .spec
        .as_ref()
        .expect("the Deployment has a pod template");
    assert!(
        pod.init_containers
            .as_ref()
            .is_some_and(|init| !init.is_empty()),
        "an init step fetches the model"
    );

    let run = driven.stop().await;
    assert_eq!(run.state, RunState::Stopped, "{}", history(&run));
    let mut run = run;
    run.transition(RunState::Resume, Some("resume requested".into()))
        .expect("STOPPED -> RESUME");
    let mut resumed = Driven::start(&control, &file, run, &target);
    resumed.reach(RunState::Running).await;
    let run = resumed.stop().await;
    let run = delete(&control, &target, run).await;
    assert_eq!(run.state, RunState::Deleted, "{}", history(&run));
    let left = target.remaining_objects(&ns, &run_id).await.expect("lists");
    assert!(left.is_empty(), "left after the delete: {left:?}");
    drop_namespace(&target, &ns).await;
}
