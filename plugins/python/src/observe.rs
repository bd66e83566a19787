//! Live objects → run status, with the SDK's readings of a Job (job and build runs) and
//! of a Deployment (serve runs, whose URL is the Service's), see
//! [`runplane_sdk::k8s::observe`]. A completed build adds the pushed image as output
//! `image`; a service never completes: it runs until stopped.

use runplane_sdk::k8s::build::{BUILD_CONTAINER, with_built_image};
use runplane_sdk::k8s::{observe as workload, service_name, workload::service_url};
use runplane_sdk::spec::decode;
use runplane_sdk::{ObservedObject, RunContext, RunStatus};

use crate::plan::{CONTAINER, SERVE_PORT};
use crate::spec::ServeTask;

/// Maps a run's live objects to its status. Pure, like `plan`: the same objects always
/// give the same status, so the host may call it as often as it likes.
pub fn observe(context: &RunContext, objects: &[ObservedObject]) -> RunStatus {
    if context.action == "serve" {
        let task: ServeTask = decode(&context.task_spec, "task spec").unwrap_or_default();
        let url = service_url(
            &service_name(context, task.service_name.as_deref()),
            &context.namespace,
            SERVE_PORT,
        );
        return workload::deployment(objects, Some(url));
    }
    let status = workload::job(objects, &[CONTAINER, BUILD_CONTAINER]);
    if context.action == "build" {
        return with_built_image(status, context);
    }
    status
}

#[cfg(test)]
mod tests {
    use runplane_sdk::ObservedState;
    use runplane_sdk::k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition};
    use runplane_sdk::k8s_openapi::api::batch::v1::{Job, JobCondition, JobSpec, JobStatus};
    use runplane_sdk::k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, Pod,
        PodCondition, PodStatus,
    };
    use runplane_sdk::testing::{self, job_condition, metadata, observed};

    use super::*;

    /// A Kubernetes run of `action` with an image registry and an empty task spec.
    fn context(action: &str) -> RunContext {
        testing::context("python", action)
            .function_name("fetch")
            .function_spec(
                &serde_json::json!({"source": {"code": "def main(): pass", "handler": "main"}}),
            )
            .image_registry("registry.example.com/team")
            .build()
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

    /// The run's Deployment that wants `replicas` pods, `ready` of which pass their
    /// readiness probe.
    fn deployment(replicas: i32, ready: i32) -> Deployment {
        testing::deployment("d-pythonserve-run", replicas, ready)
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
        let objects = [observed(&deployment(2, 2))];
        let status = observe(&context("serve"), &objects);
        assert_eq!(status.state, ObservedState::Running);
        assert_eq!(
            status.service_url.as_deref(),
            Some(
                "http://s-pythonserve-01900000-0000-7000-8000-000000000000.demo\
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
            Some("http://predict-api.demo.svc.cluster.local:8080")
        );
    }

    #[test]
    fn deployment_not_ready_yet_is_pending() {
        let objects = [observed(&deployment(2, 1))];
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
        let mut stalling = deployment(1, 0);
        stalling.status.as_mut().expect("a status").conditions = Some(vec![stalled]);
        let objects = [observed(&stalling)];
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
                r#""registry.example.com/team/demo-fetch:01900000""#.to_string()
            )]
        );
    }
}
