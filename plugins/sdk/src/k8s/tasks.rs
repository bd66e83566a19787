//! Task specs that several runtimes share as they are.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::TaskSettings;

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
