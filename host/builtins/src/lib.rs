//! The runtimes that ship inside the `runplane` binary, so that a fresh machine has
//! them without any set-up. Built from `plugins/` by this crate's build script.

include!(concat!(env!("OUT_DIR"), "/components.rs"));
