//! What the host watched of a run on its cluster, and the runtime's reading of it.
//!
//! The runtime owns the meaning of its objects (a Job's conditions, a Deployment's
//! replicas, a custom resource's phase), so the host hands it the live objects as JSON
//! and gets back one of the few states a workload can be in. The host owns every other
//! state of the machine (created, stop, deleting, …).

use serde::{Deserialize, Serialize};

/// A live Kubernetes object the host watched, for the runtime's `observe`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedObject {
    /// `apiVersion` (`batch/v1`).
    pub api_version: String,
    /// `kind` (`Job`).
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// The whole object as JSON, status included (`managedFields` left out).
    pub object: String,
}

/// Run states a runtime can report from what it observes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ObservedState {
    /// Waiting for resources: scheduling, image pull, replicas.
    Pending,
    /// The workload runs (or the service serves).
    Running,
    /// Finished successfully.
    Completed,
    /// Failed.
    Error,
}

/// A runtime's reading of a run's live objects. The host compares it with the last one
/// and records a transition only when the state changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStatus {
    /// Where the run is.
    pub state: ObservedState,
    /// A short machine-friendly reason (`BackoffLimitExceeded`, `Unschedulable`).
    pub reason: Option<String>,
    /// The reason in words, shown in the transition.
    pub message: Option<String>,
    /// The workload's exit code, when it ended.
    pub exit_code: Option<i32>,
    /// Named results (JSON values as text), stored with the run when it completes.
    pub outputs: Vec<(String, String)>,
    /// Where a service answers, for service actions.
    pub service_url: Option<String>,
}
