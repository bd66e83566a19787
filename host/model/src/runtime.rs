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
