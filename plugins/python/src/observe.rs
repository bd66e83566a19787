//! Live objects → run status: Job and Pod conditions for job and build runs,
//! Deployment readiness for serve runs.
//!
//! The host calls [`observe`] with every object of one run it currently sees (its
//! ConfigMaps, Jobs, Deployments, Services and Pods, status included) whenever one of
//! them changes, and again from time to time. So the status is derived from scratch on
//! each call, from a view that may lag or be partial: a Job not created yet, pods of
//! earlier attempts still listed, a Job controller that has not recorded what its pod
//! already did. An object that does not decode is skipped rather than failing the call.
//!
//! - job and build: `Complete` → completed with exit code 0 (and, for a build, the
//!   pushed image as output `image`); `Failed` → error with the Job's reason and the main
//!   container's exit code; otherwise running once a pod runs, and pending before, with
//!   Kubernetes' own reason (`Unschedulable`, `ImagePullBackOff`, …).
//! - serve: running, with the Service's in-cluster URL, once every desired replica is
//!   ready; error once the Deployment stops progressing; pending otherwise. A service
//!   never completes: it runs until stopped.

use runplane_sdk::k8s_openapi::api::apps::v1::Deployment;
use runplane_sdk::k8s_openapi::api::batch::v1::Job;
use runplane_sdk::k8s_openapi::api::core::v1::Pod;
use runplane_sdk::spec::decode;
use runplane_sdk::{ObservedObject, RunContext, RunStatus, status};
use serde::de::DeserializeOwned;

use crate::plan::{BUILD_CONTAINER, CONTAINER, SERVE_PORT, built_image, service_name};
use crate::spec::ServeTask;

/// Maps a run's live objects to its status. Pure, like `plan`: the same objects always
/// give the same status, so the host may call it as often as it likes.
pub fn observe(context: &RunContext, objects: &[ObservedObject]) -> RunStatus {
    let pods: Vec<Pod> = all_of(objects, "Pod");
    match context.action.as_str() {
        "serve" => observe_service(context, objects, &pods),
        _ => observe_job(context, objects, &pods),
    }
}

/// The objects of `kind`, decoded; one that does not decode (a version skew with the
/// cluster, say) is left out, so that the others still give a status.
fn all_of<T: DeserializeOwned>(objects: &[ObservedObject], kind: &str) -> Vec<T> {
    objects
        .iter()
        .filter(|object| object.kind == kind)
        .filter_map(|object| serde_json::from_str(&object.object).ok())
        .collect()
}

/// The status of a job or build run: the Job's conditions first, then its pods, which
/// may show the outcome before the Job controller records it.
fn observe_job(context: &RunContext, objects: &[ObservedObject], pods: &[Pod]) -> RunStatus {
    let Some(job) = all_of::<Job>(objects, "Job").into_iter().next() else {
        return status::pending()
            .with_reason("Waiting")
            .with_message("the job has not been created yet");
    };
    let single_completion = job.spec.as_ref().and_then(|s| s.completions).unwrap_or(1) <= 1;
    let job_status = job.status.unwrap_or_default();
    let conditions = job_status.conditions.unwrap_or_default();
    let holds = |kind: &str| {
        conditions
            .iter()
            .find(|c| c.type_ == kind && c.status == "True")
    };
    if holds("Complete").is_some() {
        // A Job completes when a pod succeeded, that is when its containers exited with
        // 0; pods of earlier failed attempts may still be listed.
        return completed(context);
    }
    if let Some(failed) = holds("Failed") {
        let reason = failed
            .reason
            .clone()
            .unwrap_or_else(|| "Failed".to_string());
        let job_message = failed.message.clone().unwrap_or_default();
        let exit = pods
            .iter()
            .filter_map(exit_code)
            .find(|(code, _)| *code != 0);
        return match exit {
            Some((code, container_reason)) => status::error(
                &reason,
                format!("container exited with code {code} ({container_reason}); {job_message}"),
            )
            .with_exit_code(code),
            None => status::error(&reason, job_message),
        };
    }
    // One succeeded pod is all a single-completion Job needs: the Job controller only
    // records it later (seconds later on a busy cluster), and the work is done. (Only an
    // active deadline passing in between could still make the Job fail.)
    if single_completion && pods.iter().any(|pod| phase(pod) == Some("Succeeded")) {
        return completed(context);
    }
    pod_progress(pods)
}

/// A job or build run that ended well: exit code 0, and the built image of a build.
fn completed(context: &RunContext) -> RunStatus {
    let mut done = status::completed().with_exit_code(0);
    if context.action == "build"
        && let Some(image) = built_image(context)
    {
        done.outputs.push((
            "image".to_string(),
            serde_json::Value::String(image).to_string(),
        ));
    }
    done
}

/// The pod's phase (`Pending`, `Running`, `Succeeded`, `Failed`), if reported yet.
fn phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref().and_then(|s| s.phase.as_deref())
}

/// The exit code and reason of a pod's terminated main container (`python`, or
/// `kaniko` for builds), if it ended; sidecars are ignored.
fn exit_code(pod: &Pod) -> Option<(i32, String)> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    statuses.iter().find_map(|container| {
        if container.name != CONTAINER && container.name != BUILD_CONTAINER {
            return None;
        }
        let terminated = container.state.as_ref()?.terminated.as_ref()?;
        Some((
            terminated.exit_code,
            terminated.reason.clone().unwrap_or_default(),
        ))
    })
}

/// Running when a pod runs (or has succeeded, in a Job of several completions), else
/// pending with the reason Kubernetes gives.
fn pod_progress(pods: &[Pod]) -> RunStatus {
    if pods
        .iter()
        .any(|pod| matches!(phase(pod), Some("Running" | "Succeeded")))
    {
        return status::running();
    }
    pods.iter()
        .find_map(waiting_reason)
        .map_or_else(status::pending, |(reason, message)| {
            status::pending().with_reason(reason).with_message(message)
        })
}

/// Why a pod is not running yet: an unschedulable condition or a waiting container.
fn waiting_reason(pod: &Pod) -> Option<(String, String)> {
    let pod_status = pod.status.as_ref()?;
    let unscheduled = pod_status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False");
    if let Some(condition) = unscheduled {
        return Some((
            condition
                .reason
                .clone()
                .unwrap_or_else(|| "Unschedulable".to_string()),
            condition.message.clone().unwrap_or_default(),
        ));
    }
    pod_status
        .container_statuses
        .iter()
        .flatten()
        .find_map(|container| {
            let waiting = container.state.as_ref()?.waiting.as_ref()?;
            Some((
                waiting
                    .reason
                    .clone()
                    .unwrap_or_else(|| "Waiting".to_string()),
                waiting.message.clone().unwrap_or_default(),
            ))
        })
}

/// The status of a serve run. "Ready" is the Deployment's count of pods whose readiness
/// probe (`/healthz`) passes, so a run is running only once its init function has
/// returned in every desired replica. A `Progressing` condition of `False` means
/// Kubernetes gave up waiting (the progress deadline, 10 minutes by default): an error,
/// though the Deployment keeps trying.
fn observe_service(context: &RunContext, objects: &[ObservedObject], pods: &[Pod]) -> RunStatus {
    let Some(deployment) = all_of::<Deployment>(objects, "Deployment")
        .into_iter()
        .next()
    else {
        return status::pending()
            .with_reason("Waiting")
            .with_message("the deployment has not been created yet");
    };
    let desired = deployment.spec.replicas.unwrap_or(1);
    let deployment_status = deployment.status.unwrap_or_default();
    let stalled = deployment_status.conditions.iter().flatten().find(|c| {
        c.type_.as_deref() == Some("Progressing") && c.status.as_deref() == Some("False")
    });
    if let Some(condition) = stalled {
        return status::error(
            condition
                .reason
                .as_deref()
                .unwrap_or("ProgressDeadlineExceeded"),
            condition.message.clone().unwrap_or_default(),
        );
    }
    let ready = deployment_status.ready_replicas.unwrap_or(0);
    if desired > 0 && ready >= desired {
        let task: ServeTask = decode(&context.task_spec, "task spec").unwrap_or_default();
        let url = format!(
            "http://{}.{}.svc.cluster.local:{SERVE_PORT}",
            service_name(context, &task),
            context.namespace
        );
        return status::running()
            .with_service_url(url)
            .with_message(format!("{ready}/{desired} replicas ready"));
    }
    let progress = pod_progress(pods);
    let message = format!("{ready}/{desired} replicas ready");
    match progress.message {
        Some(_) => progress,
        None => status::pending().with_message(message),
    }
}

#[cfg(test)]
mod tests {
    use runplane_sdk::k8s_openapi::api::apps::v1::{
        DeploymentCondition, DeploymentSpec, DeploymentStatus,
    };
    use runplane_sdk::k8s_openapi::api::batch::v1::{JobCondition, JobSpec, JobStatus};
    use runplane_sdk::k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus,
        PodCondition, PodStatus,
    };
    use runplane_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use runplane_sdk::k8s_openapi::{Metadata, Resource};
    use runplane_sdk::{HostSettings, ObservedState, Target};
    use serde::Serialize;

    use super::*;

    const RUN_ID: &str = "0190f3c2-7a41-7c3e-9d2b-5e8f1a2b3c4d";
    const NAMESPACE: &str = "runplane-demo";

    /// A Kubernetes run of `action` with an image registry and an empty task spec.
    fn context(action: &str) -> RunContext {
        RunContext {
            run_id: RUN_ID.to_string(),
            project: "demo".to_string(),
            namespace: NAMESPACE.to_string(),
            function_name: "fetch".to_string(),
            function_kind: "python".to_string(),
            action: action.to_string(),
            function_spec: r#"{"source":{"code":"def main(): pass","handler":"main"}}"#.to_string(),
            task_spec: "{}".to_string(),
            run_spec: "{}".to_string(),
            target: Target::Kubernetes,
            settings: HostSettings {
                image_registry: Some("registry.example.com/team".to_string()),
                default_images: Vec::new(),
            },
        }
    }

    /// A live object as the host hands it to `observe`.
    fn observed<T>(object: &T) -> ObservedObject
    where
        T: Resource + Metadata<Ty = ObjectMeta> + Serialize,
    {
        ObservedObject {
            api_version: T::API_VERSION.to_string(),
            kind: T::KIND.to_string(),
            name: object.metadata().name.clone().unwrap_or_default(),
            object: serde_json::to_string(object).expect("k8s objects serialize"),
        }
    }

    /// Metadata as the API server returns it: named, in the run's namespace.
    fn metadata(name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(NAMESPACE.to_string()),
            ..ObjectMeta::default()
        }
    }

    /// A Job with `active` pods and `conditions`, as the Job controller reports it; no
    /// spec, which Kubernetes reads as one completion.
    fn job(active: i32, conditions: Vec<JobCondition>) -> Job {
        Job {
            metadata: metadata("j-pythonjob-run"),
            status: Some(JobStatus {
                active: Some(active),
                conditions: Some(conditions),
                ..JobStatus::default()
            }),
            ..Job::default()
        }
    }

    /// A Job condition that holds (`status: "True"`).
    fn job_condition(type_: &str, reason: &str, message: &str) -> JobCondition {
        JobCondition {
            type_: type_.to_string(),
            status: "True".to_string(),
            reason: Some(reason.to_string()),
            message: Some(message.to_string()),
            ..JobCondition::default()
        }
    }

    fn pod(phase: &str, containers: Vec<ContainerStatus>, conditions: Vec<PodCondition>) -> Pod {
        Pod {
            metadata: metadata("j-pythonjob-run-abcde"),
            status: Some(PodStatus {
                phase: Some(phase.to_string()),
                container_statuses: Some(containers),
                conditions: Some(conditions),
                ..PodStatus::default()
            }),
            ..Pod::default()
        }
    }

    fn container(name: &str, state: ContainerState) -> ContainerStatus {
        ContainerStatus {
            name: name.to_string(),
            image: "python:3.11-slim".to_string(),
            state: Some(state),
            ..ContainerStatus::default()
        }
    }

    /// A container that ended with `exit_code`.
    fn terminated(name: &str, exit_code: i32, reason: &str) -> ContainerStatus {
        container(
            name,
            ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code,
                    reason: Some(reason.to_string()),
                    ..ContainerStateTerminated::default()
                }),
                ..ContainerState::default()
            },
        )
    }

    /// A container not started yet, with the kubelet's reason (`ImagePullBackOff`, …).
    fn waiting(name: &str, reason: &str, message: &str) -> ContainerStatus {
        container(
            name,
            ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some(reason.to_string()),
                    message: Some(message.to_string()),
                }),
                ..ContainerState::default()
            },
        )
    }

    /// A Deployment that wants `replicas` pods, `ready` of which pass their readiness
    /// probe.
    fn deployment(replicas: i32, ready: i32, conditions: Vec<DeploymentCondition>) -> Deployment {
        Deployment {
            metadata: metadata("d-pythonserve-run"),
            spec: DeploymentSpec {
                replicas: Some(replicas),
                ..DeploymentSpec::default()
            },
            status: Some(DeploymentStatus {
                replicas: Some(replicas),
                ready_replicas: Some(ready),
                conditions: Some(conditions),
                ..DeploymentStatus::default()
            }),
        }
    }

    #[test]
    fn complete_job_is_completed_with_exit_code_0() {
        let objects = [
            observed(&job(0, vec![job_condition("Complete", "", "")])),
            observed(&pod(
                "Succeeded",
                vec![terminated(CONTAINER, 0, "Completed")],
                vec![],
            )),
        ];
        let status = observe(&context("job"), &objects);
        assert_eq!(status.state, ObservedState::Completed);
        assert_eq!(status.exit_code, Some(0));
        assert!(status.outputs.is_empty());
    }

    #[test]
    fn complete_job_ignores_the_pods_of_failed_attempts() {
        let objects = [
            observed(&job(0, vec![job_condition("Complete", "", "")])),
            observed(&pod(
                "Failed",
                vec![terminated(CONTAINER, 1, "Error")],
                vec![],
            )),
            observed(&pod(
                "Succeeded",
                vec![terminated(CONTAINER, 0, "Completed")],
                vec![],
            )),
        ];
        let status = observe(&context("job"), &objects);
        assert_eq!(status.state, ObservedState::Completed);
        assert_eq!(status.exit_code, Some(0));
    }

    #[test]
    fn failed_job_reports_the_reason_and_the_main_container_exit_code() {
        let failed = job_condition(
            "Failed",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        );
        let containers = vec![
            terminated("istio-proxy", 0, "Completed"),
            terminated(CONTAINER, 3, "Error"),
        ];
        let objects = [
            observed(&job(0, vec![failed])),
            observed(&pod("Failed", containers, vec![])),
        ];
        let status = observe(&context("job"), &objects);
        assert_eq!(status.state, ObservedState::Error);
        assert_eq!(status.reason.as_deref(), Some("BackoffLimitExceeded"));
        assert_eq!(status.exit_code, Some(3));
        let message = status.message.unwrap_or_default();
        assert!(message.contains("code 3"), "{message}");
        assert!(message.contains("backoff limit"), "{message}");
    }

    #[test]
    fn active_job_with_a_running_pod_is_running() {
        let objects = [
            observed(&job(1, vec![])),
            observed(&pod("Running", vec![], vec![])),
        ];
        let status = observe(&context("job"), &objects);
        assert_eq!(status.state, ObservedState::Running);
    }

    #[test]
    fn a_succeeded_pod_completes_a_single_completion_job_before_the_job_controller_does() {
        let succeeded = observed(&pod(
            "Succeeded",
            vec![terminated(CONTAINER, 0, "Completed")],
            vec![],
        ));
        let objects = [observed(&job(0, vec![])), succeeded.clone()];
        let status = observe(&context("job"), &objects);
        assert_eq!(status.state, ObservedState::Completed);
        assert_eq!(status.exit_code, Some(0));

        let mut of_three = job(0, vec![]);
        of_three.spec = Some(JobSpec {
            completions: Some(3),
            ..JobSpec::default()
        });
        let status = observe(&context("job"), &[observed(&of_three), succeeded]);
        assert_eq!(status.state, ObservedState::Running);
    }

    #[test]
    fn unschedulable_pod_is_pending_with_the_scheduler_reason() {
        let unscheduled = PodCondition {
            type_: "PodScheduled".to_string(),
            status: "False".to_string(),
            reason: Some("Unschedulable".to_string()),
            message: Some("0/3 nodes are available: 3 Insufficient nvidia.com/gpu.".to_string()),
            ..PodCondition::default()
        };
        let objects = [
            observed(&job(1, vec![])),
            observed(&pod("Pending", vec![], vec![unscheduled])),
        ];
        let status = observe(&context("job"), &objects);
        assert_eq!(status.state, ObservedState::Pending);
        assert_eq!(status.reason.as_deref(), Some("Unschedulable"));
        assert!(
            status
                .message
                .is_some_and(|m| m.contains("Insufficient nvidia.com/gpu"))
        );
    }

    #[test]
    fn image_pull_back_off_is_pending_with_that_reason() {
        let pulling = waiting(
            CONTAINER,
            "ImagePullBackOff",
            "Back-off pulling image \"python:3.99-slim\"",
        );
        let objects = [
            observed(&job(1, vec![])),
            observed(&pod("Pending", vec![pulling], vec![])),
        ];
        let status = observe(&context("job"), &objects);
        assert_eq!(status.state, ObservedState::Pending);
        assert_eq!(status.reason.as_deref(), Some("ImagePullBackOff"));
    }

    #[test]
    fn no_job_yet_is_pending() {
        let status = observe(&context("job"), &[]);
        assert_eq!(status.state, ObservedState::Pending);
        assert_eq!(status.exit_code, None);
    }

    #[test]
    fn ready_deployment_is_running_with_the_service_url() {
        let objects = [observed(&deployment(2, 2, vec![]))];
        let status = observe(&context("serve"), &objects);
        assert_eq!(status.state, ObservedState::Running);
        assert_eq!(
            status.service_url.as_deref(),
            Some(
                "http://s-pythonserve-0190f3c2-7a41-7c3e-9d2b-5e8f1a2b3c4d.runplane-demo\
                 .svc.cluster.local:8080"
            )
        );

        let named = RunContext {
            task_spec: r#"{"service_name":"predict-api"}"#.to_string(),
            ..context("serve")
        };
        let status = observe(&named, &objects);
        assert_eq!(
            status.service_url.as_deref(),
            Some("http://predict-api.runplane-demo.svc.cluster.local:8080")
        );
    }

    #[test]
    fn deployment_not_ready_yet_is_pending() {
        let objects = [observed(&deployment(2, 1, vec![]))];
        let status = observe(&context("serve"), &objects);
        assert_eq!(status.state, ObservedState::Pending);
        assert_eq!(status.message.as_deref(), Some("1/2 replicas ready"));
        assert_eq!(status.service_url, None);
    }

    #[test]
    fn stalled_deployment_is_an_error() {
        let stalled = DeploymentCondition {
            type_: Some("Progressing".to_string()),
            status: Some("False".to_string()),
            reason: Some("ProgressDeadlineExceeded".to_string()),
            message: Some("ReplicaSet has timed out progressing.".to_string()),
            ..DeploymentCondition::default()
        };
        let objects = [observed(&deployment(1, 0, vec![stalled]))];
        let status = observe(&context("serve"), &objects);
        assert_eq!(status.state, ObservedState::Error);
        assert_eq!(status.reason.as_deref(), Some("ProgressDeadlineExceeded"));
        assert_eq!(status.service_url, None);
    }

    #[test]
    fn complete_build_outputs_the_pushed_image() {
        let objects = [
            observed(&job(0, vec![job_condition("Complete", "", "")])),
            observed(&pod(
                "Succeeded",
                vec![terminated(BUILD_CONTAINER, 0, "Completed")],
                vec![],
            )),
        ];
        let status = observe(&context("build"), &objects);
        assert_eq!(status.state, ObservedState::Completed);
        assert_eq!(
            status.outputs,
            [(
                "image".to_string(),
                r#""registry.example.com/team/demo-fetch:0190f3c2""#.to_string()
            )]
        );
    }
}
