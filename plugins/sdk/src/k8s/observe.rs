//! Live Kubernetes objects → run status, for the workloads runtimes plan most: a Job (job
//! and build runs) and a Deployment (deploy and serve runs).
//!
//! The host calls a runtime's `observe` with every object of one run it currently sees
//! (its ConfigMaps, Jobs, Deployments, Services and Pods, status included) whenever one
//! of them changes, and again from time to time. So a status is derived from scratch on
//! each call, from a view that may lag or be partial: a Job not created yet, pods of
//! earlier attempts still listed, a Job controller that has not recorded what its pod
//! already did. An object that does not decode is skipped rather than failing the call.
//!
//! - [`job`]: `Complete` → completed with exit code 0; `Failed` → error with the Job's
//!   reason and the main container's exit code; otherwise running once a pod runs, and
//!   pending before, with Kubernetes' own reason (`Unschedulable`, `ImagePullBackOff`, …).
//! - [`deployment`]: running (with the service's URL, if any) once every desired
//!   replica is ready; error once the Deployment stops progressing; pending otherwise. A
//!   deployment never completes: it runs until stopped.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStateTerminated, Pod};
use serde::de::DeserializeOwned;

use crate::{ObservedObject, RunStatus, status};

/// The objects of `kind`, decoded; one that does not decode (a version skew with the
/// cluster, say) is left out, so that the others still give a status.
pub fn all_of<T: DeserializeOwned>(objects: &[ObservedObject], kind: &str) -> Vec<T> {
    objects
        .iter()
        .filter(|object| object.kind == kind)
        .filter_map(|object| serde_json::from_str(&object.object).ok())
        .collect()
}

/// The status of a run whose workload is one Job: its conditions first, then its pods,
/// which may show the outcome before the Job controller records it. Exit codes are read
/// from the containers named `main_containers` only: a pod may hold sidecars injected by
/// the cluster, whose exit codes say nothing about the run.
pub fn job(objects: &[ObservedObject], main_containers: &[&str]) -> RunStatus {
    let pods: Vec<Pod> = all_of(objects, "Pod");
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
    let completed = || status::completed().with_exit_code(0);
    if holds("Complete").is_some() {
        // A Job completes when a pod succeeded, that is when its containers exited with
        // 0; pods of earlier failed attempts may still be listed.
        return completed();
    }
    if let Some(failed) = holds("Failed") {
        let reason = failed
            .reason
            .clone()
            .unwrap_or_else(|| "Failed".to_string());
        let job_message = failed.message.clone().unwrap_or_default();
        let exit = pods
            .iter()
            .filter_map(|pod| exit_code(pod, main_containers))
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
        return completed();
    }
    pod_progress(&pods)
}

/// The status of a run whose workload is one Deployment. "Ready" is the Deployment's
/// count of pods whose readiness probe passes (all of them, without a probe), so a run
/// is running only once every desired replica is; it then carries `service_url`, where
/// its Service answers. A `Progressing` condition of `False` means Kubernetes gave up
/// waiting (the progress deadline, 10 minutes by default): an error, though the
/// Deployment keeps trying.
pub fn deployment(objects: &[ObservedObject], service_url: Option<String>) -> RunStatus {
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
    let message = format!("{ready}/{desired} replicas ready");
    if desired > 0 && ready >= desired {
        let running = status::running().with_message(message);
        return match service_url {
            Some(url) => running.with_service_url(url),
            None => running,
        };
    }
    let progress = pod_progress(&all_of(objects, "Pod"));
    match progress.message {
        Some(_) => progress,
        None => status::pending().with_message(message),
    }
}

/// The pod's phase (`Pending`, `Running`, `Succeeded`, `Failed`), if reported yet.
fn phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref().and_then(|s| s.phase.as_deref())
}

/// The terminated state of a pod's main container, if it ended.
fn terminated<'a>(pod: &'a Pod, main_containers: &[&str]) -> Option<&'a ContainerStateTerminated> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    statuses.iter().find_map(|container| {
        if !main_containers.contains(&container.name.as_str()) {
            return None;
        }
        container.state.as_ref()?.terminated.as_ref()
    })
}

/// The exit code of a pod's terminated main container, with its reason and, when the
/// container left a termination message (its own, or the tail of its log with the
/// `FallbackToLogsOnError` policy), what it says went wrong: the `error` of a JSON
/// object (a runner's outputs, see [`termination_outputs`]), else the message's last
/// line, the error a program prints last.
fn exit_code(pod: &Pod, main_containers: &[&str]) -> Option<(i32, String)> {
    let terminated = terminated(pod, main_containers)?;
    let mut reason = terminated.reason.clone().unwrap_or_default();
    let error = terminated.message.as_deref().and_then(|message| {
        match json_object(message).and_then(|object| object.get("error").cloned()) {
            Some(serde_json::Value::String(error)) => Some(error),
            _ => message
                .lines()
                .rfind(|line| !line.trim().is_empty())
                .map(|line| line.trim().to_string()),
        }
    });
    if let Some(error) = error {
        reason = format!("{reason}: {error}");
    }
    Some((terminated.exit_code, reason))
}

/// Named results that the main container of a pod left in its termination message as a
/// JSON object: how a job's pod hands outputs back, since the host reads no file of a
/// pod. The pod that succeeded counts, else the newest that ended, so a runner that
/// failed can still report what it learnt, with its `error` (which [`job`] quotes).
/// Kubernetes keeps up to 4 KiB of `/dev/termination-log`; a message that is not a JSON
/// object gives none.
pub fn termination_outputs(
    objects: &[ObservedObject],
    main_container: &str,
) -> Vec<(String, String)> {
    let pods: Vec<Pod> = all_of(objects, "Pod");
    let succeeded = pods.iter().filter(|pod| phase(pod) == Some("Succeeded"));
    succeeded
        .chain(pods.iter().rev())
        .filter_map(|pod| terminated(pod, &[main_container])?.message.as_deref())
        .find_map(json_object)
        .map(|outputs| {
            outputs
                .into_iter()
                .map(|(name, value)| (name, value.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// `message` read as a JSON object, if it is one.
fn json_object(message: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    serde_json::from_str(message).ok()
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

/// Why a pod is not running yet: an unschedulable condition or a waiting container,
/// init containers first (one that keeps failing, a model that cannot be fetched, says
/// `CrashLoopBackOff` while the main containers only say `PodInitializing`).
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
        .init_container_statuses
        .iter()
        .flatten()
        .chain(pod_status.container_statuses.iter().flatten())
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

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::{DeploymentCondition, DeploymentSpec, DeploymentStatus};
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateWaiting, ContainerStatus, PodStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;
    use crate::ObservedState;

    /// A Deployment wanting `replicas`, `ready` of them ready, as the host hands it over.
    fn deployment_object(
        replicas: i32,
        ready: i32,
        conditions: Vec<DeploymentCondition>,
    ) -> ObservedObject {
        let deployment = Deployment {
            metadata: ObjectMeta {
                name: Some("d-containerdeploy-run".to_string()),
                ..ObjectMeta::default()
            },
            spec: DeploymentSpec {
                replicas: Some(replicas),
                ..DeploymentSpec::default()
            },
            status: Some(DeploymentStatus {
                ready_replicas: Some(ready),
                conditions: Some(conditions),
                ..DeploymentStatus::default()
            }),
        };
        ObservedObject {
            api_version: "apps/v1".to_string(),
            kind: "Deployment".to_string(),
            name: "d-containerdeploy-run".to_string(),
            object: serde_json::to_string(&deployment).expect("serializes"),
        }
    }

    /// A pod of the run with `init` and `main` container statuses.
    fn pod_object(init: Vec<ContainerStatus>, main: Vec<ContainerStatus>) -> ObservedObject {
        let pod = Pod {
            status: Some(PodStatus {
                phase: Some("Pending".to_string()),
                init_container_statuses: Some(init),
                container_statuses: Some(main),
                ..PodStatus::default()
            }),
            ..Pod::default()
        };
        ObservedObject {
            api_version: "v1".to_string(),
            kind: "Pod".to_string(),
            name: "d-containerdeploy-run-1".to_string(),
            object: serde_json::to_string(&pod).expect("serializes"),
        }
    }

    fn waiting(name: &str, reason: &str, message: &str) -> ContainerStatus {
        ContainerStatus {
            name: name.to_string(),
            state: Some(ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some(reason.to_string()),
                    message: Some(message.to_string()),
                }),
                ..ContainerState::default()
            }),
            ..ContainerStatus::default()
        }
    }

    /// An object of `kind` read from JSON, as the host hands it over.
    fn observed(kind: &str, api_version: &str, object: &serde_json::Value) -> ObservedObject {
        ObservedObject {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            name: "j-run".to_string(),
            object: object.to_string(),
        }
    }

    /// A failed Job whose runner wrote its outputs and `error` as the termination
    /// message: the run's message quotes the error, and the outputs are still read.
    #[test]
    fn a_failed_runner_reports_its_error_and_what_it_learnt() {
        let message = serde_json::json!({"run_id": "42", "error": "ValueError: no rounds"});
        let objects = [
            observed(
                "Job",
                "batch/v1",
                &serde_json::json!({"status": {"conditions": [{"type": "Failed",
                    "status": "True", "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit"}]}}),
            ),
            observed(
                "Pod",
                "v1",
                &serde_json::json!({"status": {"phase": "Failed", "containerStatuses": [
                    {"name": "main", "image": "i", "imageID": "", "ready": false,
                     "restartCount": 0, "state": {"terminated": {"exitCode": 1,
                     "reason": "Error", "message": message.to_string()}}}]}}),
            ),
        ];
        let status = job(&objects, &["main"]);
        assert_eq!(status.state, ObservedState::Error);
        assert_eq!(
            status.message.as_deref(),
            Some(
                "container exited with code 1 (Error: ValueError: no rounds); Job has \
                 reached the specified backoff limit"
            )
        );
        assert_eq!(
            termination_outputs(&objects, "main"),
            [
                ("error".to_string(), "\"ValueError: no rounds\"".to_string()),
                ("run_id".to_string(), "\"42\"".to_string()),
            ]
        );
    }

    #[test]
    fn an_init_container_failing_over_and_over_is_the_reason_a_pod_waits() {
        let pod = pod_object(
            vec![waiting(
                "fetch",
                "CrashLoopBackOff",
                "back-off 20s restarting failed container=fetch",
            )],
            vec![waiting("server", "PodInitializing", "")],
        );
        let status = deployment(&[deployment_object(1, 0, Vec::new()), pod], None);
        assert_eq!(status.state, ObservedState::Pending);
        assert_eq!(status.reason.as_deref(), Some("CrashLoopBackOff"));
        assert!(status.message.unwrap().contains("container=fetch"));
    }

    #[test]
    fn a_ready_deployment_without_a_service_runs_with_no_url() {
        let status = deployment(&[deployment_object(2, 2, Vec::new())], None);
        assert_eq!(status.state, ObservedState::Running);
        assert_eq!(status.service_url, None);
        assert_eq!(status.message.as_deref(), Some("2/2 replicas ready"));
        let url = Some("http://web.demo.svc.cluster.local:80".to_string());
        let serving = deployment(&[deployment_object(2, 2, Vec::new())], url.clone());
        assert_eq!(serving.service_url, url);
    }

    #[test]
    fn a_deployment_short_of_replicas_is_pending_and_one_that_gave_up_is_an_error() {
        let waiting = deployment(&[deployment_object(2, 1, Vec::new())], None);
        assert_eq!(waiting.state, ObservedState::Pending);
        assert_eq!(waiting.message.as_deref(), Some("1/2 replicas ready"));
        let stalled = DeploymentCondition {
            type_: Some("Progressing".to_string()),
            status: Some("False".to_string()),
            reason: Some("ProgressDeadlineExceeded".to_string()),
            message: Some("d-containerdeploy-run has timed out progressing".to_string()),
            ..DeploymentCondition::default()
        };
        let failed = deployment(&[deployment_object(2, 0, vec![stalled])], None);
        assert_eq!(failed.state, ObservedState::Error);
        assert_eq!(failed.reason.as_deref(), Some("ProgressDeadlineExceeded"));
        let nothing = deployment(&[], None);
        assert_eq!(nothing.state, ObservedState::Pending);
    }
}
