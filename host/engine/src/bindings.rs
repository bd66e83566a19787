//! The host side of `wit/`: the only `bindgen!` in the host.
//!
//! The generated records double as the host's types for runtime descriptions, run
//! contexts and plans, so they derive serde for the API and the CLI.

#[allow(
    missing_docs,
    reason = "generated from wit/, whose comments document it"
)]
mod generated {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "plugin",
        additional_derives: [PartialEq, serde::Serialize, serde::Deserialize],
    });
}

pub(crate) use generated::exports::runplane::runtime::runtime::Guest as RuntimeExports;
pub(crate) use generated::runplane;
pub(crate) use generated::runplane::runtime::log::Level;
pub use generated::runplane::runtime::types::{
    Action, Capabilities, Category, FieldError, FunctionKind, HostSettings, LocalEnvironment,
    LocalFile, LocalProcess, ObservedObject, ObservedState, PlanError, RunContext, RunPlan,
    RunStatus, RuntimeInfo, Target,
};
pub(crate) use generated::{Plugin, PluginPre};
