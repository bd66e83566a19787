//! Constructors for the records a runtime returns from `info`.

use crate::{Action, Capabilities, Category, FunctionKind, RuntimeInfo, Target};

/// A runtime description with no kinds, actions or capabilities yet; fill them in with
/// struct update syntax or by pushing.
pub fn runtime(name: &str, version: &str, description: &str) -> RuntimeInfo {
    RuntimeInfo {
        name: name.to_string(),
        version: version.to_string(),
        description: description.to_string(),
        sdk_version: String::new(),
        function_kinds: Vec::new(),
        actions: Vec::new(),
        capabilities: Capabilities::NONE,
        allowed_kinds: Vec::new(),
    }
}

/// A function kind with the JSON Schema of its function spec.
pub fn function_kind(name: &str, function_schema: String) -> FunctionKind {
    FunctionKind {
        name: name.to_string(),
        function_schema,
    }
}

/// An action with the JSON Schemas of its task and run specs.
pub fn action(
    name: &str,
    category: Category,
    targets: &[Target],
    task_schema: String,
    run_schema: String,
) -> Action {
    Action {
        name: name.to_string(),
        category,
        targets: targets.to_vec(),
        task_schema,
        run_schema,
    }
}

impl Capabilities {
    /// No capability at all; the starting point for a runtime's matrix.
    pub const NONE: Capabilities = Capabilities {
        local_execution: false,
        remote_execution: false,
        workflows: false,
        model_serving: false,
        data_processing: false,
        federated_learning: false,
    };
}
