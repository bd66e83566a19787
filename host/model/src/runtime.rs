//! What a runtime says it is: its function kinds, actions, schemas and capabilities
//! (the contract's `runtime-info`), and how the host names a loaded version of it.

use serde::{Deserialize, Serialize};

use crate::run::Target;

/// What an action does once started; clients and the CLI group actions by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Category {
    /// Ends by itself (a batch job).
    Job,
    /// Runs until stopped (a model server).
    Service,
    /// Drives several steps (a pipeline).
    Workflow,
    /// Produces an artifact (an image).
    Build,
}

impl Category {
    /// The name as the API prints it (`job`).
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Job => "job",
            Category::Service => "service",
            Category::Workflow => "workflow",
            Category::Build => "build",
        }
    }
}

/// The capability matrix of the original platform's runtime guide, so that a user of it
/// finds the same columns (the API serves it as it is).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Capabilities {
    /// Runs on the host machine.
    pub local_execution: bool,
    /// Runs on Kubernetes.
    pub remote_execution: bool,
    /// Drives multi-step workflows.
    pub workflows: bool,
    /// Serves models.
    pub model_serving: bool,
    /// Transforms data.
    pub data_processing: bool,
    /// Runs federated learning.
    pub federated_learning: bool,
}

/// One action a runtime offers on its function kinds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// Action name, as in the task kind `<function kind>+<action>`: `job`, `serve`.
    pub name: String,
    /// What it does once started.
    pub category: Category,
    /// The targets it runs on; a run on another one is refused before it is stored.
    pub targets: Vec<Target>,
    /// JSON Schema of the task spec of this action; its top-level properties also say
    /// which fields of a run request belong to the task.
    pub task_schema: String,
    /// JSON Schema of the run spec of this action.
    pub run_schema: String,
}

/// A function kind a runtime owns, with the JSON Schema of its function spec.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionKind {
    /// The kind (`python`).
    pub name: String,
    /// JSON Schema of the function spec.
    pub function_schema: String,
}

/// What a runtime is, as it describes itself once when it is loaded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeInfo {
    /// Unique name (`python`); the registry keys runtimes by it.
    pub name: String,
    /// The runtime's own version.
    pub version: String,
    /// What it runs, in a sentence.
    pub description: String,
    /// Version of the guest SDK that built the component (empty when none).
    pub sdk_version: String,
    /// The function kinds it owns.
    pub function_kinds: Vec<FunctionKind>,
    /// What its function kinds can be run as (`job`, `serve`), each with its targets
    /// and the schemas of its task and run specs.
    pub actions: Vec<Action>,
    /// Its row of the capability matrix.
    pub capabilities: Capabilities,
    /// Kubernetes kinds it may ask for, as `<apiVersion>/<kind>` (`batch/v1/Job`); the
    /// host caps this list by its own policy.
    pub allowed_kinds: Vec<String>,
}

impl RuntimeInfo {
    /// The action called `name`, if the runtime offers it.
    pub fn action(&self, name: &str) -> Option<&Action> {
        self.actions.iter().find(|action| action.name == name)
    }

    /// The names of its actions, comma-separated, for messages that list them.
    pub fn action_names(&self) -> String {
        self.actions
            .iter()
            .map(|action| action.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One loaded version of a runtime: its description and where its bytes came from.
/// Runs pin the digest, so a run is planned and observed by the version it was
/// accepted with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeVersion {
    /// What the component said about itself at load time.
    pub info: RuntimeInfo,
    /// `sha256:<hex>` of the component bytes.
    pub digest: String,
    /// Where the component came from: a path, or `built-in python`.
    pub origin: String,
}

/// Where a stored runtime version stands on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionState {
    /// Its `info` answered and the last checks (name and kinds owned, schemas) run.
    Loading,
    /// The version new runs of its name use; one per name.
    Active,
    /// Loaded or loadable, not used by new runs; runs pinned to it still are.
    Inactive,
    /// It did not load; `reason` says why. The active version keeps serving.
    Failed,
}

impl VersionState {
    /// The state's name as stored and printed (`active`).
    pub fn as_str(self) -> &'static str {
        match self {
            VersionState::Loading => "loading",
            VersionState::Active => "active",
            VersionState::Inactive => "inactive",
            VersionState::Failed => "failed",
        }
    }

    /// The state named `name` (as [`Self::as_str`] writes it).
    pub fn parse(name: &str) -> Option<Self> {
        [
            VersionState::Loading,
            VersionState::Active,
            VersionState::Inactive,
            VersionState::Failed,
        ]
        .into_iter()
        .find(|state| state.as_str() == name)
    }
}

/// A runtime version as the store keeps it: content-addressed by the sha256 of its
/// component, with who loaded it, when, and what became of it. The component bytes
/// are kept beside it (every replica on one database loads the same set).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredVersion {
    /// `sha256:<hex>` of the component bytes.
    pub digest: String,
    /// The runtime's name (from its `info`; for a file that never answered, the name
    /// last loaded from that file, or the file's stem).
    pub name: String,
    /// Where the bytes came from: `built-in python`, a path, `upload`.
    pub origin: String,
    /// Who loaded it: a token's name, `host` (built-ins), `plugin directory`.
    pub loaded_by: String,
    /// When it was first recorded.
    #[serde(with = "time::serde::rfc3339")]
    pub loaded_at: time::OffsetDateTime,
    /// What became of it.
    pub state: VersionState,
    /// Why it failed, when it did.
    pub reason: Option<String>,
    /// Size of the component, in bytes.
    pub size: u64,
    /// What the component said about itself; `None` when it never answered.
    pub info: Option<RuntimeInfo>,
}

/// A runtime version cannot be deleted: it is active, or runs depend on it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{digest} of runtime {name} {why}")]
pub struct VersionInUse {
    /// The runtime's name.
    pub name: String,
    /// The version asked to be deleted.
    pub digest: String,
    /// Why not, for the message: `is its active version; activate another first`, or
    /// `is pinned by live runs 0193…, 0194…`.
    pub why: String,
}
