//! The workloads of the original platform's Kubernetes frameworks, as typed objects: a
//! Job (`k8sjob`, also `k8sbuild`), a Deployment (`k8sdeployment`, `k8sserve`) and the
//! Service of a serve run, around a pod the runtime builds.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Container, PodSpec, PodTemplateSpec, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::{DeployTask, JobTask, Manifests, meta, run_object_name};
use crate::{Plan, PlanError, RunContext};

/// The kinds a runtime planning these workloads creates (with a ConfigMap of its files),
/// for its `info`'s `allowed_kinds`.
pub fn kinds() -> Vec<String> {
    [
        "v1/ConfigMap",
        "batch/v1/Job",
        "apps/v1/Deployment",
        "v1/Service",
    ]
    .map(String::from)
    .to_vec()
}

/// The original platform's job deadline: three days. Past it Kubernetes stops the Job's
/// pods and fails the Job (`DeadlineExceeded`), so a stuck workload cannot hold its
/// resources for ever.
pub const ACTIVE_DEADLINE_SECONDS: i64 = 259_200;

/// A Job named `name` running `pod` once. Its pods never restart in place
/// (`restartPolicy: Never`): a failed attempt stays a failed pod, whose exit code
/// [`super::observe::job`] reports, and retries (`backoff_limit`, 0 in the original
/// unless set) are new pods. `pod_metadata` labels (and annotates) the pods.
pub fn job(
    name: &str,
    labels: &BTreeMap<String, String>,
    pod_metadata: ObjectMeta,
    pod: PodSpec,
    backoff_limit: i32,
) -> Job {
    Job {
        metadata: meta(name, labels),
        spec: Some(JobSpec {
            backoff_limit: Some(backoff_limit),
            active_deadline_seconds: Some(ACTIVE_DEADLINE_SECONDS),
            template: PodTemplateSpec {
                metadata: Some(pod_metadata),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".to_string()),
                    ..pod
                }),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    }
}

/// The Job of a job or build run, named as the original names it (`j-<kind><action>-<run
/// id>`): [`job`] with the task's pod metadata (`labels` and its annotations) and retries
/// (`backoff_limit`, 0 when unset, as in the original).
pub fn run_job(
    context: &RunContext,
    labels: &BTreeMap<String, String>,
    task: &JobTask,
    pod: PodSpec,
) -> Job {
    let name = run_object_name("j", context);
    job(
        &name,
        labels,
        task.settings.pod_metadata(&name, labels),
        pod,
        task.backoff_limit.unwrap_or(0),
    )
}

/// The plan of a job or build run of `runtime` whose pod is `container`: the task's
/// settings applied to the pod and the container (resources, envs, security, …), the
/// run's labels, one Job ([`run_job`]).
pub fn job_plan(
    runtime: &str,
    context: &RunContext,
    task: &JobTask,
    mut container: Container,
) -> Result<Plan, PlanError> {
    let mut pod = PodSpec::default();
    task.settings.apply(&mut pod, &mut container);
    pod.containers = vec![container];
    let labels = super::run_labels(runtime, context, &task.settings);
    Ok(Manifests::of(&run_job(context, &labels, task, pod))?.into_plan())
}

/// The selector of a run's pods: its run id alone. A Deployment's selector cannot change
/// once created, and the run id is the one label that identifies the run's pods
/// whatever the task adds (`app.kubernetes.io/instance`, see [`super::app_labels`]).
pub fn run_selector(run_id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("app.kubernetes.io/instance".to_string(), run_id.to_string())])
}

/// A Deployment named `name` keeping `replicas` copies of `pod` running, the pods of
/// run `run_id` selected by [`run_selector`] (so `pod_metadata` must carry that label).
pub fn deployment(
    name: &str,
    labels: &BTreeMap<String, String>,
    run_id: &str,
    pod_metadata: ObjectMeta,
    pod: PodSpec,
    replicas: i32,
) -> Deployment {
    Deployment {
        metadata: meta(name, labels),
        spec: DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(run_selector(run_id)),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(pod_metadata),
                spec: Some(pod),
            },
            ..DeploymentSpec::default()
        },
        ..Deployment::default()
    }
}

/// The Deployment of a deploy or serve run, named as the original names it
/// (`d-<kind><action>-<run id>`): [`deployment`] of `task.replicas` copies of `pod` (1
/// when unset), with the task's pod metadata.
pub fn run_deployment(
    context: &RunContext,
    labels: &BTreeMap<String, String>,
    task: &DeployTask,
    pod: PodSpec,
) -> Deployment {
    let name = run_object_name("d", context);
    deployment(
        &name,
        labels,
        &context.run_id,
        task.settings.pod_metadata(&name, labels),
        pod,
        task.replicas.unwrap_or(1),
    )
}

/// A Service named `name` of `service_type` (`ClusterIP`, `NodePort`, `LoadBalancer`)
/// in front of the pods of run `run_id`, on `ports`.
pub fn service(
    name: &str,
    labels: &BTreeMap<String, String>,
    run_id: &str,
    service_type: &str,
    ports: Vec<ServicePort>,
) -> Service {
    Service {
        metadata: meta(name, labels),
        spec: Some(ServiceSpec {
            type_: Some(service_type.to_string()),
            selector: Some(run_selector(run_id)),
            ports: Some(ports),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// The in-cluster URL of Service `name` in `namespace` on `port`.
pub fn service_url(name: &str, namespace: &str, port: i32) -> String {
    format!("http://{name}.{namespace}.svc.cluster.local:{port}")
}
