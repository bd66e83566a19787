//! A test kit for runtimes: what the host hands a runtime, built natively, so a runtime
//! crate tests its `plan` and `observe` with `cargo test` (no wasm, no cluster).
//!
//! - [`context`]: a [`RunContext`] with defaults for everything a test does not care
//!   about (run id, project, namespace, specs `{}`, target `kubernetes`).
//! - `golden` (feature `golden`): a folder of runs with the plan or error each must
//!   give, checked by `cargo test`, rewritten by `BLESS=1 cargo test`.
//! - [`observed`]: any `k8s-openapi` object as `observe` receives it; [`job`], [`pod`]
//!   and [`deployment`] build the usual states (active, succeeded, failed with a reason;
//!   pending for a reason, running, exited with a code; replicas ready or not), as the
//!   controllers and the kubelet report them.
//!
//! ```
//! use runplane_sdk::testing::{self, PodPhase};
//! use runplane_sdk::{ObservedState, k8s};
//!
//! let context = testing::context("python", "job")
//!     .function_spec(&serde_json::json!({"source": {"code": "print(1)"}}))
//!     .build();
//! assert_eq!(context.namespace, "demo");
//!
//! let failed = [
//!     testing::observed(&testing::job("j").failed("BackoffLimitExceeded", "too many tries")),
//!     testing::observed(&testing::pod("j-x").exited("main", 3)),
//! ];
//! let status = k8s::observe::job(&failed, &["main"]);
//! assert_eq!(status.state, ObservedState::Error);
//! assert_eq!(status.exit_code, Some(3));
//! # let _ = PodPhase::Running;
//! ```

#[cfg(feature = "golden")]
pub mod golden;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentSpec, DeploymentStatus,
};
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, Pod, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{Metadata, Resource};
use serde::Serialize;
use serde_json::Value;

use crate::{HostSettings, ObservedObject, RunContext, Target};

/// The run id of [`context`]'s runs.
pub const RUN_ID: &str = "01900000-0000-7000-8000-000000000000";
/// The project (and namespace) of [`context`]'s runs.
pub const PROJECT: &str = "demo";

/// A run of `action` of a function of `function_kind`, named `hello`, in project
/// [`PROJECT`] with run id [`RUN_ID`], on the `kubernetes` target, with empty specs and
/// no host settings; change what the test is about, then [`ContextBuilder::build`].
pub fn context(function_kind: &str, action: &str) -> ContextBuilder {
    ContextBuilder {
        context: RunContext {
            run_id: RUN_ID.to_string(),
            project: PROJECT.to_string(),
            namespace: PROJECT.to_string(),
            function_name: "hello".to_string(),
            function_kind: function_kind.to_string(),
            action: action.to_string(),
            function_spec: "{}".to_string(),
            task_spec: "{}".to_string(),
            run_spec: "{}".to_string(),
            target: Target::Kubernetes,
            settings: HostSettings {
                image_registry: None,
                default_images: Vec::new(),
            },
        },
    }
}

/// A [`RunContext`] being written: see [`context`].
#[derive(Clone, Debug)]
pub struct ContextBuilder {
    context: RunContext,
}

impl ContextBuilder {
    /// The function spec (a JSON object).
    pub fn function_spec(mut self, spec: &Value) -> Self {
        self.context.function_spec = spec.to_string();
        self
    }

    /// The task spec: the action's settings (resources, envs, …).
    pub fn task_spec(mut self, spec: &Value) -> Self {
        self.context.task_spec = spec.to_string();
        self
    }

    /// The run spec: this run's own fields (parameters, inputs, …).
    pub fn run_spec(mut self, spec: &Value) -> Self {
        self.context.run_spec = spec.to_string();
        self
    }

    /// Where the run executes.
    pub fn target(mut self, target: Target) -> Self {
        self.context.target = target;
        self
    }

    /// The project, which is also the namespace.
    pub fn project(mut self, project: &str) -> Self {
        self.context.project = project.to_string();
        self.context.namespace = project.to_string();
        self
    }

    /// The function's name.
    pub fn function_name(mut self, name: &str) -> Self {
        self.context.function_name = name.to_string();
        self
    }

    /// The run's id.
    pub fn run_id(mut self, id: &str) -> Self {
        self.context.run_id = id.to_string();
        self
    }

    /// The registry the host names for built images.
    pub fn image_registry(mut self, registry: &str) -> Self {
        self.context.settings.image_registry = Some(registry.to_string());
        self
    }

    /// An image the host names for `role` (`python-3.11`, `kaniko`).
    pub fn default_image(mut self, role: &str, image: &str) -> Self {
        let images = &mut self.context.settings.default_images;
        images.push((role.to_string(), image.to_string()));
        self
    }

    /// The context.
    pub fn build(self) -> RunContext {
        self.context
    }
}

/// `object` as the host hands it to `observe`.
pub fn observed<T>(object: &T) -> ObservedObject
where
    T: Resource + Metadata<Ty = ObjectMeta> + Serialize,
{
    ObservedObject {
        api_version: T::API_VERSION.to_string(),
        kind: T::KIND.to_string(),
        name: object.metadata().name.clone().unwrap_or_default(),
        object: serde_json::to_string(object).expect("k8s-openapi objects serialize"),
    }
}

/// Metadata as the API server returns it: named, in [`PROJECT`]'s namespace.
pub fn metadata(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(PROJECT.to_string()),
        ..ObjectMeta::default()
    }
}

/// A Job called `name`, as the Job controller reports it: see [`JobBuilder`].
pub fn job(name: &str) -> JobBuilder {
    JobBuilder {
        name: name.to_string(),
    }
}

/// The states of a Job (one completion).
#[derive(Clone, Debug)]
pub struct JobBuilder {
    name: String,
}

impl JobBuilder {
    /// Its pods are running (`active` 1), nothing decided.
    pub fn active(self) -> Job {
        self.with(JobStatus {
            active: Some(1),
            ..JobStatus::default()
        })
    }

    /// It completed: condition `Complete`, one pod succeeded.
    pub fn succeeded(self) -> Job {
        self.with(JobStatus {
            succeeded: Some(1),
            conditions: Some(vec![job_condition("Complete", "Completed", "")]),
            ..JobStatus::default()
        })
    }

    /// It failed: condition `Failed` with `reason` (`BackoffLimitExceeded`,
    /// `DeadlineExceeded`) and `message`.
    pub fn failed(self, reason: &str, message: &str) -> Job {
        self.with(JobStatus {
            failed: Some(1),
            conditions: Some(vec![job_condition("Failed", reason, message)]),
            ..JobStatus::default()
        })
    }

    fn with(self, status: JobStatus) -> Job {
        Job {
            metadata: metadata(&self.name),
            status: Some(status),
            ..Job::default()
        }
    }
}

/// A Job condition that holds (`status: "True"`): `Complete`, `Failed`, with the
/// controller's `reason` and `message` (none when empty).
pub fn job_condition(type_: &str, reason: &str, message: &str) -> JobCondition {
    JobCondition {
        type_: type_.to_string(),
        status: "True".to_string(),
        reason: Some(reason.to_string()),
        message: (!message.is_empty()).then(|| message.to_string()),
        ..JobCondition::default()
    }
}

/// A pod's phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodPhase {
    /// Not running yet.
    Pending,
    /// Its containers run.
    Running,
    /// Every container exited 0.
    Succeeded,
    /// A container exited otherwise.
    Failed,
}

/// A pod called `name`, as the kubelet reports it: see [`PodBuilder`].
pub fn pod(name: &str) -> PodBuilder {
    PodBuilder {
        name: name.to_string(),
    }
}

/// The states of a pod with one container.
#[derive(Clone, Debug)]
pub struct PodBuilder {
    name: String,
}

impl PodBuilder {
    /// Pending, its container `main` waiting for `reason` (`ContainerCreating`,
    /// `ImagePullBackOff`, `CrashLoopBackOff`) with `message`.
    pub fn waiting(self, reason: &str, message: &str) -> Pod {
        let state = ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(reason.to_string()),
                message: (!message.is_empty()).then(|| message.to_string()),
            }),
            ..ContainerState::default()
        };
        self.with(PodPhase::Pending, "main", state, false)
    }

    /// Running, its container `main` ready.
    pub fn running(self) -> Pod {
        let state = ContainerState {
            running: Some(ContainerStateRunning::default()),
            ..ContainerState::default()
        };
        self.with(PodPhase::Running, "main", state, true)
    }

    /// Its container `container` exited with `code`: Succeeded for 0, Failed otherwise.
    pub fn exited(self, container: &str, code: i32) -> Pod {
        let state = ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: code,
                reason: Some(if code == 0 { "Completed" } else { "Error" }.to_string()),
                ..ContainerStateTerminated::default()
            }),
            ..ContainerState::default()
        };
        let phase = if code == 0 {
            PodPhase::Succeeded
        } else {
            PodPhase::Failed
        };
        self.with(phase, container, state, false)
    }

    fn with(self, phase: PodPhase, container: &str, state: ContainerState, ready: bool) -> Pod {
        Pod {
            metadata: metadata(&self.name),
            status: Some(PodStatus {
                phase: Some(format!("{phase:?}")),
                container_statuses: Some(vec![ContainerStatus {
                    name: container.to_string(),
                    image: "example.invalid/image:1".to_string(),
                    ready,
                    state: Some(state),
                    ..ContainerStatus::default()
                }]),
                ..PodStatus::default()
            }),
            ..Pod::default()
        }
    }
}

/// A Deployment called `name` that wants `replicas`, of which `ready` are ready (and
/// available): Kubernetes' `Available` condition holds once all are.
pub fn deployment(name: &str, replicas: i32, ready: i32) -> Deployment {
    let available = if ready >= replicas { "True" } else { "False" };
    Deployment {
        metadata: metadata(name),
        spec: DeploymentSpec {
            replicas: Some(replicas),
            ..DeploymentSpec::default()
        },
        status: Some(DeploymentStatus {
            replicas: Some(replicas),
            ready_replicas: Some(ready),
            available_replicas: Some(ready),
            conditions: Some(vec![DeploymentCondition {
                type_: Some("Available".to_string()),
                status: Some(available.to_string()),
                ..DeploymentCondition::default()
            }]),
            ..DeploymentStatus::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ObservedState;
    use crate::k8s::observe;

    #[test]
    fn a_context_has_defaults_and_takes_what_the_test_is_about() {
        let context = context("python", "serve")
            .project("team")
            .run_spec(&serde_json::json!({"parameters": {"x": 1}}))
            .target(Target::Local)
            .default_image("python-3.11", "mirror/python:3.11")
            .build();
        assert_eq!(
            (context.project.as_str(), context.namespace.as_str()),
            ("team", "team")
        );
        assert_eq!(context.run_spec, r#"{"parameters":{"x":1}}"#);
        assert_eq!(context.function_spec, "{}");
        assert_eq!(context.target, Target::Local);
        assert_eq!(context.settings.default_images.len(), 1);
    }

    #[test]
    fn the_job_states_read_as_the_sdks_observer_reads_them() {
        let state = |objects: &[ObservedObject]| observe::job(objects, &["main"]).state;
        assert_eq!(
            state(&[observed(&job("j").active())]),
            ObservedState::Pending
        );
        let running = [observed(&job("j").active()), observed(&pod("p").running())];
        assert_eq!(state(&running), ObservedState::Running);
        assert_eq!(
            state(&[observed(&job("j").succeeded())]),
            ObservedState::Completed
        );
        let waiting = [
            observed(&job("j").active()),
            observed(&pod("p").waiting("ImagePullBackOff", "no such image")),
        ];
        assert_eq!(state(&waiting), ObservedState::Pending);
        let failed = [
            observed(&job("j").failed("BackoffLimitExceeded", "tried")),
            observed(&pod("p").exited("main", 2)),
        ];
        let status = observe::job(&failed, &["main"]);
        assert_eq!(
            (status.state, status.exit_code),
            (ObservedState::Error, Some(2))
        );
        assert_eq!(status.reason.as_deref(), Some("BackoffLimitExceeded"));
    }

    #[test]
    fn a_deployment_runs_once_every_replica_is_ready() {
        let state = |ready| {
            let objects = [observed(&deployment("d", 2, ready))];
            observe::deployment(&objects, None).state
        };
        assert_eq!(state(1), ObservedState::Pending);
        assert_eq!(state(2), ObservedState::Running);
    }
}
