//! Runplane's use-cases: the catalog (projects, function versions, tasks), runs
//! (accepted, driven, changed) and the loaded runtimes, over one store, one registry
//! and one [`Control`](runplane_control::Control).
//!
//! The HTTP API and the CLI both sit on these services, so a run behaves the same
//! whether it was started with `runplane run` or `POST /api/v1/-/{project}/runs`; they
//! only parse, authorize, call a method here and map its answer.
//!
//! # Overview
//!
//! - [`RunService`]: the one place runs are accepted, driven and changed. A run's
//!   runtime is resolved **once**, when it is accepted, and its digest is stored with
//!   the run in the same write that creates it; every later call for the run (plan,
//!   observe, re-attach) goes to that pinned component. Every transition the drive
//!   reports is persisted before it is announced ([`ServiceEvent`]), with optimistic
//!   concurrency on the run row, so a stop from another writer is never overwritten. A
//!   restarted host calls [`RunService::reattach`] and picks up every live run.
//! - [`Catalog`]: projects, function versions and tasks, each spec checked by the
//!   runtime owning its kind before it is stored, and [`Catalog::resolve`], which turns
//!   a run request as the original platform's clients send it ([`RunRequest`]) into a
//!   [`Submission`]: references resolved (`latest` included), the task merged, the spec
//!   split between task and run by the runtime's published task schema.
//! - [`Runtimes`]: the loaded runtimes as the API lists them, and the lookups of the
//!   runtime owning a kind, an action and a target, with errors that name the known
//!   ones.
//! - [`Triggers`]: runs started on a schedule or when runs of a function reach a state,
//!   each firing exactly once across replicas ([`triggers::start`] runs the loops).
//! - [`preview`]: a run's guarded plan, rendered and applied nowhere (`runplane plan`).
//! - [`Error`]: every failure a caller can act upon, in the services' terms (the store's
//!   and the control's errors are translated at this boundary).

mod builds;
mod catalog;
mod driver;
mod leases;
mod logs;
mod oci;
mod preview;
mod recorder;
mod request;
mod runs;
mod runtimes;
pub mod triggers;
mod versions;

use runplane_engine::CallError;
use runplane_model::{AlreadyExists, FieldError, LiveRuns, NotFound, RunId, RunState, Target};

pub use catalog::{Catalog, check_id};
pub use leases::{LeaseKeeper, Leases};
pub use logs::LogStream;
pub use preview::{Preview, preview};
pub use request::RunRequest;
pub use runplane_oci::Error as DistributionError;
pub use runplane_store::{RunListing, Shared};
pub use runs::{RunService, STOP_WAIT, ServiceEvent, Submission};
pub use runtimes::Runtimes;
pub use triggers::{NewTrigger, Triggers};
pub use versions::{LoadCounts, Upload};

/// Why a service refused or failed a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No such project, function (version), task, run or runtime.
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// A project of that name exists.
    #[error(transparent)]
    AlreadyExists(#[from] AlreadyExists),
    /// The project still has live runs and deletion was not forced.
    #[error(transparent)]
    LiveRuns(#[from] LiveRuns),
    /// Fields of the request are wrong: a bad spec (as its runtime says), a bad
    /// reference, an envelope field of the wrong shape. Paths run from the request's
    /// root (`spec.source.handler`).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// No loaded runtime owns the function kind.
    #[error("no runtime handles function kind {kind:?} (known kinds: {known})")]
    UnknownKind {
        /// The kind asked for.
        kind: String,
        /// The kinds that have a runtime.
        known: String,
    },
    /// The runtime has no such action.
    #[error("runtime {runtime} has no action {action:?} (actions: {known})")]
    UnknownAction {
        /// The runtime owning the function kind (`python`).
        runtime: String,
        /// The action asked for.
        action: String,
        /// The actions it has, comma-separated (`job, serve, build`), for the message.
        known: String,
    },
    /// The action does not run on the requested target.
    #[error("action {action} of runtime {runtime} does not run on the {target} target")]
    UnsupportedTarget {
        /// The runtime owning the function kind (`python`).
        runtime: String,
        /// The action asked for (`serve`), which the runtime has.
        action: String,
        /// The target asked for.
        target: Target,
    },
    /// A call into a runtime failed (a trap, its time budget, its memory): the runtime
    /// is at fault, not the request.
    #[error(transparent)]
    Runtime(#[from] CallError),
    /// A runtime component that does not load (not a component, another contract,
    /// it does not compile, its `info` fails or is refused): nothing was kept.
    #[error("{0}")]
    Component(String),
    /// A runtime asked for by an `oci://` reference could not be fetched, or its
    /// signature does not pass the configured keys: nothing was loaded.
    #[error(transparent)]
    Distribution(#[from] runplane_oci::Error),
    /// The engine could not judge a component (its compiler worker failed).
    #[error("{0}")]
    Engine(String),
    /// A runtime version cannot be deleted: it is active, or runs need it.
    #[error(transparent)]
    InUse(#[from] runplane_model::VersionInUse),
    /// The host policy refuses what the run would create (a kind it does not allow, a
    /// pod its Pod Security level forbids): the message names the object, the rule and
    /// the setting that decides it.
    #[error("the host policy refuses the run: {0}")]
    Policy(runplane_target_kubernetes::policy::Violation),
    /// A Kubernetes run, but the host has no cluster.
    #[error(
        "no Kubernetes cluster is configured on this host (set local_execution to run locally, or give the host a kubeconfig)"
    )]
    NoCluster,
    /// The request needs a run in another state.
    #[error("run {id} is {state}: {what}")]
    WrongState {
        /// The run the request was about.
        id: RunId,
        /// The state it was in when the request was refused (`COMPLETED` for a stop).
        state: RunState,
        /// What the request needs.
        what: &'static str,
    },
    /// The run's logs could not be read from the cluster.
    #[error(transparent)]
    Kubernetes(#[from] runplane_target_kubernetes::Error),
    /// An idempotency key already started run `first` with another request.
    #[error(
        "idempotency key {key:?} already started run {first} with a different request; use a new key"
    )]
    IdempotencyKeyReused {
        /// The `Idempotency-Key` as the client sent it.
        key: String,
        /// The run it started.
        first: RunId,
    },
    /// A write raced another one (the run changed concurrently) or cannot succeed as
    /// asked; the message says which.
    #[error("{0}")]
    Conflict(String),
    /// The store is too busy to take the request now: nothing was written, and a retry
    /// later can succeed.
    #[error("the store is busy: {0}")]
    Busy(String),
    /// The store failed (connection, I/O, a corrupt row).
    #[error("the store failed: {0}")]
    Store(String),
    /// Executing a run failed in a way only the host can explain (a plan, the guard, a
    /// target); callers see it only when they drive a run themselves.
    #[error(transparent)]
    Execution(runplane_control::Error),
}

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<runplane_store::Error> for Error {
    fn from(error: runplane_store::Error) -> Self {
        use runplane_store::Error as Store;
        match error {
            Store::NotFound(missing) => Error::NotFound(missing),
            Store::AlreadyExists(taken) => Error::AlreadyExists(taken),
            Store::LiveRuns(live) => Error::LiveRuns(live),
            Store::Conflict { .. } | Store::Invalid { .. } => Error::Conflict(error.to_string()),
            Store::Busy(message) => Error::Busy(message),
            Store::InUse(in_use) => Error::InUse(in_use),
            other => Error::Store(other.to_string()),
        }
    }
}

impl From<runplane_control::Error> for Error {
    fn from(error: runplane_control::Error) -> Self {
        use runplane_control::Error as Control;
        match error {
            Control::Invalid(fields) => Error::Invalid(fields),
            Control::Call(call) => Error::Runtime(call),
            Control::Guard(violation) => Error::Policy(violation),
            other => Error::Execution(other),
        }
    }
}

impl Error {
    /// One bad field of the request.
    pub(crate) fn field(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid(vec![FieldError::new(path, message)])
    }

    /// A referenced entity that does not exist is a bad field of the request (`path`),
    /// not a missing resource of the URL.
    pub(crate) fn at_reference(self, path: &str) -> Self {
        match self {
            Error::NotFound(_) => Error::field(path, self.to_string()),
            other => other,
        }
    }
}
