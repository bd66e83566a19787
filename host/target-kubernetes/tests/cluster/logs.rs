//! Pod logs through the API server. kwok serves every simulated container's log from
//! `tests/control-plane/container-logs/simulated.log` as the nodes' kubelet; a node whose
//! kubelet cannot be reached gives a clear error.

use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use runplane_model::RunState;
use runplane_target_kubernetes::{Error, KubernetesTarget};
use serde_json::json;

use crate::{
    Driven, STEP, control, delete, drop_namespace, example, history, namespace, new_run, simulate,
    target,
};

/// The lines of `container-logs/simulated.log`, as `kubectl logs` prints them.
const SIMULATED: [&str; 3] = [
    "runplane simulated container: started",
    "Hello from the kwok-simulated container log",
    "runplane simulated container: a line on stderr",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_logs_through_the_api_server() {
    let Some(target) = target().await else { return };
    let (control, _dir) = control();
    let ns = namespace("logs");
    let mut file = example("python/hello.yaml", &ns);
    simulate(&mut file, &[("runplane.io/simulate", "run")]);
    let mut driven = Driven::start(&control, &file, new_run(&file), &target);
    let run_id = driven.run.id.to_string();
    let no_pods = target.logs(&ns, "no-such-run", false).await.err();
    driven.reach(RunState::Running).await;

    let lines: Vec<String> = target
        .logs(&ns, &run_id, false)
        .await
        .expect("opens")
        .try_collect()
        .await
        .expect("reads");
    assert_eq!(lines, SIMULATED);

    // Following: the lines so far come at once; the stream then waits for more.
    let mut following = target.logs(&ns, &run_id, true).await.expect("opens");
    for expected in SIMULATED {
        let line = tokio::time::timeout(STEP, following.next())
            .await
            .expect("a line comes")
            .expect("the stream goes on")
            .expect("reads");
        assert_eq!(line, expected);
    }
    let more = tokio::time::timeout(Duration::from_secs(1), following.next()).await;
    assert!(more.is_err(), "a followed log waits for more: {more:?}");
    drop(following);

    let run = driven.stop().await;
    assert_eq!(run.state, RunState::Stopped, "{}", history(&run));
    let after_stop = target.logs(&ns, &run_id, false).await.err();
    for error in [no_pods, after_stop] {
        assert!(matches!(error, Some(Error::NoPods { .. })), "{error:?}");
    }
    let run = delete(&control, &target, run).await;
    assert_eq!(run.state, RunState::Deleted, "{}", history(&run));
    drop_namespace(&target, &ns).await;
}

/// A node whose kubelet endpoint refuses connections (no kwok behind it), never used by
/// the scheduler (unschedulable, tainted), and a pod bound to it directly.
async fn pod_on_unreachable_node(target: &KubernetesTarget, ns: &str, run_id: &str) -> String {
    let node_name = format!("{ns}-unreachable");
    let nodes: Api<Node> = Api::all(target.client().clone());
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": node_name},
        "spec": {
            "unschedulable": true,
            "taints": [{"key": "runplane.io/unreachable", "effect": "NoSchedule"}],
        },
    }))
    .expect("a node");
    nodes
        .create(&PostParams::default(), &node)
        .await
        .expect("creates the node");
    // Port 1 on the loopback address: connections are refused.
    let status = json!({"status": {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 1}},
    }});
    nodes
        .patch_status(
            &node_name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&status),
        )
        .await
        .expect("sets the node's kubelet endpoint");
    target.ensure_namespace(ns).await.expect("namespace");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "stranded", "labels": {"runplane.io/run": run_id}},
        "spec": {
            "nodeName": node_name,
            // The namespace enforces Pod Security "restricted" (the target labels it).
            "securityContext": {
                "runAsNonRoot": true, "runAsUser": 1000,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [{
                "name": "main", "image": "busybox:1.36",
                "securityContext": {
                    "allowPrivilegeEscalation": false,
                    "capabilities": {"drop": ["ALL"]},
                },
            }],
        },
    }))
    .expect("a pod");
    Api::<Pod>::namespaced(target.client().clone(), ns)
        .create(&PostParams::default(), &pod)
        .await
        .expect("creates the pod");
    node_name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_from_a_node_whose_kubelet_is_unreachable_fail_clearly() {
    let Some(target) = target().await else { return };
    let ns = namespace("nokubelet");
    let run_id = "0197a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    let node = pod_on_unreachable_node(&target, &ns, run_id).await;
    let error = target.logs(&ns, run_id, false).await.err();
    let message = error.as_ref().map(ToString::to_string).unwrap_or_default();
    assert!(matches!(error, Some(Error::Logs { .. })), "{error:?}");
    assert!(message.contains("Pod/stranded"), "{message}");
    assert!(message.contains("connection refused"), "{message}");
    assert!(
        message.contains(&format!("kubelet of node {node}")),
        "{message}"
    );

    let force = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    let _ = Api::<Pod>::namespaced(target.client().clone(), &ns)
        .delete("stranded", &force)
        .await;
    let _ = Api::<Node>::all(target.client().clone())
        .delete(&node, &DeleteParams::default())
        .await;
    drop_namespace(&target, &ns).await;
}
