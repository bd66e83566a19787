//! Live objects → run status: Job and Pod conditions for job and build runs,
//! Deployment readiness for serve runs.

use runplane_sdk::k8s_openapi::api::apps::v1::Deployment;
use runplane_sdk::k8s_openapi::api::batch::v1::Job;
use runplane_sdk::k8s_openapi::api::core::v1::Pod;
use runplane_sdk::spec::decode;
use runplane_sdk::{ObservedObject, RunContext, RunStatus, status};
use serde::de::DeserializeOwned;

use crate::plan::{SERVE_PORT, built_image, service_name};
use crate::spec::ServeTask;

/// Maps a run's live objects to its status.
pub fn observe(context: &RunContext, objects: &[ObservedObject]) -> RunStatus {
    let pods: Vec<Pod> = all_of(objects, "Pod");
    match context.action.as_str() {
        "serve" => observe_service(context, objects, &pods),
        _ => observe_job(context, objects, &pods),
    }
}

fn all_of<T: DeserializeOwned>(objects: &[ObservedObject], kind: &str) -> Vec<T> {
    objects
        .iter()
        .filter(|object| object.kind == kind)
        .filter_map(|object| serde_json::from_str(&object.object).ok())
        .collect()
}

fn observe_job(context: &RunContext, objects: &[ObservedObject], pods: &[Pod]) -> RunStatus {
    let Some(job) = all_of::<Job>(objects, "Job").into_iter().next() else {
        return status::pending()
            .with_reason("Waiting")
            .with_message("the job has not been created yet");
    };
    let job_status = job.status.unwrap_or_default();
    let conditions = job_status.conditions.unwrap_or_default();
    let holds = |kind: &str| {
        conditions
            .iter()
            .find(|c| c.type_ == kind && c.status == "True")
    };
    let exit = pods.iter().find_map(exit_code);
    if holds("Complete").is_some() {
        let mut done = status::completed().with_exit_code(exit.map_or(0, |(code, _)| code));
        if context.action == "build"
            && let Some(image) = built_image(context)
        {
            done.outputs.push((
                "image".to_string(),
                serde_json::Value::String(image).to_string(),
            ));
        }
        return done;
    }
    if let Some(failed) = holds("Failed") {
        let reason = failed
            .reason
            .clone()
            .unwrap_or_else(|| "Failed".to_string());
        let job_message = failed.message.clone().unwrap_or_default();
        return match exit {
            Some((code, container_reason)) => status::error(
                &reason,
                format!("container exited with code {code} ({container_reason}); {job_message}"),
            )
            .with_exit_code(code),
            None => status::error(&reason, job_message),
        };
    }
    pod_progress(pods)
}

/// The exit code and reason of a pod's terminated main container, if it ended.
fn exit_code(pod: &Pod) -> Option<(i32, String)> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    statuses.iter().find_map(|container| {
        let terminated = container.state.as_ref()?.terminated.as_ref()?;
        Some((
            terminated.exit_code,
            terminated.reason.clone().unwrap_or_default(),
        ))
    })
}

/// Running when a pod runs, else pending with the reason Kubernetes gives.
fn pod_progress(pods: &[Pod]) -> RunStatus {
    if pods
        .iter()
        .any(|pod| pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
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
    let stalled = deployment_status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_.as_deref() == Some("Progressing") && c.status.as_deref() == Some("False"));
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
