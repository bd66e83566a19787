//! The HTTP API in process: every route's success and error paths, against the real
//! built-in runtimes, the real local target (python3) and a real SQLite store.

mod adversarial;
mod auth;
mod compat;
mod errors;
mod failures;
mod functions;
mod host;
mod openapi;
mod projects;
mod runs;
mod runtimes;
mod support;
mod tasks;
mod workflows;
