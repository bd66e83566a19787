//! The host side of `wit/`: the only `bindgen!` in the host.
//!
//! The generated records stay inside this crate: [`crate::convert`] turns them into the
//! host's vocabulary ([`runplane_model`]) and back, so no other crate links wasmtime to
//! read a plan or a run status.

#[allow(
    missing_docs,
    unreachable_pub,
    reason = "generated from wit/, whose comments document it; private to the crate"
)]
mod generated {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "plugin",
        // Exports are called async, so a call's timeout can drop a guest that waits in
        // a host call; the host's own import (`log`) stays a plain function.
        exports: { default: async },
    });
}

pub(crate) use generated::exports::runplane::runtime::runtime::Guest as RuntimeExports;
pub(crate) use generated::runplane;
pub(crate) use generated::runplane::runtime::log::Level;
/// The contract's records, as generated: converted at the boundary, never exported.
pub(crate) use generated::runplane::runtime::types as wit;
pub(crate) use generated::{Plugin, PluginPre};
