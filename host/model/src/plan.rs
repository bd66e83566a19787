//! What the host hands a runtime to plan a run, and what the runtime hands back.
//!
//! These are the host's own copies of the records of `wit/types.wit`: the engine converts
//! its generated bindings to and from them in one place, so that the targets, the
//! control and everything above them speak this vocabulary without linking wasmtime.
//! Field names follow the contract's, so a reader of `wit/` finds them here unchanged.

use serde::{Deserialize, Serialize};

use crate::field::FieldError;
use crate::run::Target;

/// Host-level settings a runtime may use when planning: they are the same for every run
/// of a host, which is why they are not part of any spec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSettings {
    /// Registry prefix for images the runtime builds (`registry.example.com/team`);
    /// without one a build has nowhere to push.
    pub image_registry: Option<String>,
    /// Default images by role (`python-3.11`, `kaniko`), overriding the runtime's own,
    /// so an air-gapped cluster can point every runtime at its mirror.
    pub default_images: Vec<(String, String)>,
}

/// Everything a runtime needs to plan or observe one run. Specs travel as JSON text:
/// the envelope is typed, the payload is the runtime's to interpret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunContext {
    /// The run's id; names derived from it make applies idempotent.
    pub run_id: String,
    /// The project the run belongs to.
    pub project: String,
    /// Kubernetes namespace of the run; the host forces every object into it.
    pub namespace: String,
    /// Name of the function being run.
    pub function_name: String,
    /// Function kind (`python`): which of the runtime's kinds this run is.
    pub function_kind: String,
    /// Action (`job`, `serve`), the second half of the task kind.
    pub action: String,
    /// Function spec, a JSON object already validated by the runtime.
    pub function_spec: String,
    /// Task spec (execution settings), a JSON object.
    pub task_spec: String,
    /// Run spec (parameters, inputs), a JSON object.
    pub run_spec: String,
    /// Where the plan will execute; a runtime answers with a plan for this target.
    pub target: Target,
    /// What the host configures for every run alike (image registry, default images).
    pub settings: HostSettings,
}

/// A file the local target writes into the run's private working directory before it
/// starts the process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalFile {
    /// Relative path inside the working directory; the target refuses `..` and absolute
    /// paths, so a plan cannot write outside the run's directory.
    pub path: String,
    /// The bytes to write.
    pub contents: Vec<u8>,
}

/// A language environment the local target prepares before starting the process,
/// cached by the hash of its contents so that the second run with the same
/// requirements starts at once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LocalEnvironment {
    /// A Python virtual environment with these requirement specifiers installed;
    /// `python` in argv then resolves inside it.
    PythonVenv(Vec<String>),
}

/// A process on the host machine: the local target's half of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalProcess {
    /// Program and arguments; `python` resolves inside the prepared environment.
    pub argv: Vec<String>,
    /// Environment variables, on top of a minimal inherited set.
    pub env: Vec<(String, String)>,
    /// Files written into the working directory first.
    pub files: Vec<LocalFile>,
    /// The language environment to prepare, if any.
    pub environment: Option<LocalEnvironment>,
}

/// What a runtime returns for a run: objects for a cluster, or a process for this
/// machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunPlan {
    /// Kubernetes objects as JSON, applied in order after the guard admits them.
    Kubernetes(Vec<String>),
    /// A process for the local target.
    Local(LocalProcess),
}

impl RunPlan {
    /// The target this plan executes on, which the host checks against the run's.
    pub fn target(&self) -> Target {
        match self {
            RunPlan::Kubernetes(_) => Target::Kubernetes,
            RunPlan::Local(_) => Target::Local,
        }
    }
}

/// Why a runtime cannot plan a run: a domain answer (returned as data through the
/// contract), not a failure of the runtime itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanError {
    /// The runtime's explanation.
    pub message: String,
    /// Fields at fault, when the error is about the specs; the host then reports them
    /// like validation errors.
    pub fields: Vec<FieldError>,
}
