//! Flower runs on the real control plane, from `examples/flower/`: a SuperLink behind
//! its Service and two SuperNodes pointed at it reach RUNNING (kwok runs their pods), the
//! SuperLink's run says where to connect; all three stopped, then deleted with nothing
//! left.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use runplane_model::RunState;
use serde_json::{Value, json};

use crate::{
    Driven, control, delete, drop_namespace, example, history, list, namespace, new_run, replicas,
    target,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_superlink_and_two_supernodes_run_stop_and_delete() {
    let Some(target) = target().await else { return };
    let (control, _dir) = control();
    let ns = namespace("flower");
    let server = example("flower/server.yaml", &ns);
    let mut superlink = Driven::start(&control, &server, new_run(&server), &target);
    let server_id = superlink.run.id.to_string();
    superlink.reach(RunState::Running).await;
    let service = format!("s-flower-serverdeploy-{server_id}");
    let output = |name: &str| -> String {
        let value = &superlink
            .outputs
            .iter()
            .find(|(output, _)| output == name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", superlink.outputs))
            .1;
        serde_json::from_str::<Value>(value)
            .unwrap()
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let fleet = output("fleet_api_address");
    assert_eq!(fleet, format!("{service}.{ns}:9092"));
    assert_eq!(output("exec_api_address"), format!("{service}.{ns}:9093"));
    let services = list::<Service>(&target, &ns, &server_id).await;
    let ports: Vec<i32> = services[0]
        .spec
        .as_ref()
        .and_then(|spec| spec.ports.as_ref())
        .expect("the Service has ports")
        .iter()
        .map(|port| port.port)
        .collect();
    assert_eq!(ports, [9091, 9092, 9093]);

    let mut supernodes = Vec::new();
    for partition in 0..2 {
        let mut client = example("flower/client.yaml", &ns);
        client.run.spec["superlink"] = json!(fleet);
        client.run.spec["node_config"] = json!({"partition-id": partition, "num-partitions": 2});
        let mut driven = Driven::start(&control, &client, new_run(&client), &target);
        driven.reach(RunState::Running).await;
        let id = driven.run.id.to_string();
        assert!(
            list::<Service>(&target, &ns, &id).await.is_empty(),
            "no Service"
        );
        let deployments = list::<Deployment>(&target, &ns, &id).await;
        let container = &deployments[0]
            .spec
            .template
            .spec
            .as_ref()
            .expect("the Deployment has a pod template")
            .containers[0];
        let args = container.args.clone().unwrap_or_default();
        let config = format!("num-partitions=2 partition-id={partition}");
        assert!(
            args.windows(2)
                .any(|pair| pair == ["--superlink", fleet.as_str()])
                && args
                    .windows(2)
                    .any(|pair| pair == ["--node-config", config.as_str()]),
            "{args:?}"
        );
        supernodes.push((driven, id));
    }

    let mut runs = Vec::new();
    for (driven, id) in supernodes {
        let run = driven.stop().await;
        assert_eq!(run.state, RunState::Stopped, "{}", history(&run));
        assert_eq!(replicas(&target, &ns, &id).await, 0);
        runs.push((run, id));
    }
    let run = superlink.stop().await;
    assert_eq!(run.state, RunState::Stopped, "{}", history(&run));
    runs.push((run, server_id));
    for (run, id) in runs {
        let run = delete(&control, &target, run).await;
        assert_eq!(run.state, RunState::Deleted, "{}", history(&run));
        let left = target.remaining_objects(&ns, &id).await.expect("lists");
        assert!(left.is_empty(), "left after the delete: {left:?}");
    }
    drop_namespace(&target, &ns).await;
}
