//! Task specs that several runtimes share as they are.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ServiceType, TaskSettings, build, check_service_name};
use crate::{FieldError, RunContext};

/// Task spec of a job action (`<kind>+job`; also `python+build`): the shared Kubernetes
/// settings and the Job's retries.
///
/// Unknown fields are refused by the schema (at validation) rather than by serde: serde
/// cannot deny unknown fields of a struct with a flattened member, and `plan` decodes
/// specs that were already validated anyway.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct JobTask {
    /// The function reference (`<kind>://<project>/<name>:<id>`), set by the API when the
    /// task is created; planning reads the function spec the host passes, not this.
    #[serde(default)]
    pub function: Option<String>,
    /// How many times Kubernetes retries a failed pod before the Job fails. 0 by default,
    /// as in the original: a failed attempt is not run again unasked, and the run ends
    /// with that attempt's exit code.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub backoff_limit: Option<i32>,
    /// The settings every Kubernetes action of the original shares (resources, envs,
    /// secrets, volumes, scheduling, security, labels), applied to the pod by
    /// [`TaskSettings::apply`]. Flattened: they sit at the top level of the task spec, as
    /// in the original.
    #[serde(flatten)]
    pub settings: TaskSettings,
}

/// Task spec of a deploy action (`container+deploy`), and the part every serve task
/// shares (flattened into it): the shared Kubernetes settings and the replicas.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct DeployTask {
    /// The function reference, set by the API; not read by `plan`, as for jobs.
    #[serde(default)]
    pub function: Option<String>,
    /// Pods kept running; 1 when unset. 0 is accepted (the original's minimum) and
    /// keeps the run pending with no pod.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub replicas: Option<i32>,
    /// The shared Kubernetes settings, as in [`JobTask::settings`].
    #[serde(flatten)]
    pub settings: TaskSettings,
}

/// Task spec of a serve action without its ports (`python+serve`, the model serving
/// runtimes' serve tasks; `container+serve` adds `service_ports`): a Deployment behind
/// one Service, the original's `replicas`, `service_type` and `service_name` beside
/// the shared Kubernetes settings.
///
/// The Service type a runtime falls back to differs as in the original (`ClusterIP`
/// for the container and model serving runtimes, `NodePort` for Python), so it stays
/// an `Option` for the runtime to resolve.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ServeTask {
    /// The function reference, the pods behind the Service and the shared Kubernetes
    /// settings, at the top level as in the original.
    #[serde(flatten)]
    pub deployment: DeployTask,
    /// Kubernetes Service type; the runtime's default when unset.
    #[serde(default)]
    pub service_type: Option<ServiceType>,
    /// Name of the Service, instead of the derived `s-<kind><action>-<run id>`; the
    /// run's service URL uses it. The original keeps its derived name and adds alias
    /// Services under this one; Runplane plans a single Service per run, so it takes
    /// the name.
    #[serde(default)]
    pub service_name: Option<String>,
}

impl ServeTask {
    /// Checks what the schema cannot: the settings, and a chosen Service name that
    /// Kubernetes accepts (a DNS-1035 label), so the mistake shows before anything is
    /// applied.
    pub fn check(&self) -> Vec<FieldError> {
        let mut errors = self.deployment.settings.check("");
        errors.extend(check_service_name(
            "service_name",
            self.service_name.as_deref(),
        ));
        errors
    }

    /// The name of the run's Service ([`super::service_name`]).
    pub fn service_name(&self, context: &RunContext) -> String {
        super::service_name(context, self.service_name.as_deref())
    }
}

/// Task spec of an image build (`container+build`, `mlflowserve+build`): a kaniko Job,
/// as a [`JobTask`], whose Dockerfile the runtime writes, with the task's extra
/// instructions.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct BuildTask {
    /// The function reference, the build pod's retries (none when unset) and the shared
    /// Kubernetes settings, at the top level as in the original.
    #[serde(flatten)]
    pub job: JobTask,
    /// Dockerfile lines the runtime adds to its own (`RUN apt-get install -y jq`), one
    /// instruction each, of [`build::ALLOWED_INSTRUCTIONS`].
    #[serde(default)]
    pub instructions: Vec<String>,
}

impl BuildTask {
    /// Checks what the schema cannot: the settings, and instructions that are one
    /// allowed instruction each ([`build::check_instructions`]).
    pub fn check(&self) -> Vec<FieldError> {
        let mut errors = self.job.settings.check("");
        errors.extend(build::check_instructions(
            "instructions",
            &self.instructions,
        ));
        errors
    }

    /// The task's instructions as Dockerfile lines (trimmed).
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        self.instructions
            .iter()
            .map(|instruction| instruction.trim().to_string())
    }
}
