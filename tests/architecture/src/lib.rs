//! No code: this crate holds `tests/crate_graph.rs`, which reads the dependency rule of
//! `host/README.md` and checks the workspace's crate graph against it.
