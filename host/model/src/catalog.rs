//! What users create before they run anything: projects, versioned functions and tasks.
//! None of them changes in place: an update of a function is a new version, so a run
//! always names exactly the spec it ran.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A project: the namespace of functions and runs, and of their Kubernetes objects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// Unique name; a DNS-1123 label, because it is also the Kubernetes namespace.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}

/// One version of a function. Every create or update makes a new version; the newest
/// is `latest`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionVersion {
    /// Version id: a UUIDv7, so versions sort by creation.
    pub id: String,
    /// The project it belongs to.
    pub project: String,
    /// Function name, shared by all its versions.
    pub name: String,
    /// Function kind, which names the runtime that owns it (`python`).
    pub kind: String,
    /// The function spec, as validated by its runtime when the version was made.
    pub spec: serde_json::Value,
    /// Creation time of this version.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}

/// A task: an action on a function with its execution settings (`python+job`), which
/// runs can name instead of repeating them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Task id (a UUIDv7), also its name.
    pub id: String,
    /// The project it belongs to.
    pub project: String,
    /// Task kind, `<function kind>+<action>`.
    pub kind: String,
    /// Function reference as the client wrote it, `python://demo/hello[:<version>]`.
    pub function: String,
    /// The task spec: resources, envs, node selector, …
    pub spec: serde_json::Value,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}
