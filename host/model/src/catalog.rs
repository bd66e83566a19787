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
    /// What the project is for, in the creator's words; shown, never interpreted.
    pub description: Option<String>,
    /// When it was created (UTC); a project never changes afterwards.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}

/// One version of a function. Every create or update makes a new version; the newest
/// is `latest`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionVersion {
    /// Version id: the client's (the original platform's SDK sends a uuid4 hex) or a
    /// UUIDv7; versions sort by `created`.
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
    /// Task id (the client's, or a UUIDv7), also its name.
    pub id: String,
    /// The project it belongs to.
    pub project: String,
    /// Task kind, `<function kind>+<action>`.
    pub kind: String,
    /// Function reference as the client wrote it, `python://demo/hello[:<version>]`.
    pub function: String,
    /// The task spec: resources, envs, node selector, …
    pub spec: serde_json::Value,
    /// When it was created (UTC); a task never changes afterwards.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}

/// What a function kind is to the original platform's API: a function, or a workflow (a
/// kind whose runtime drives several steps: Hera, KFP). Both are versioned alike and kept
/// in one catalog; the API serves each under its own collection, and tasks and runs name
/// them by their own field (`function`, `workflow`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Executable {
    /// Runs as one job, service or build (`python`, `dbt`).
    Function,
    /// Drives several steps (`hera`, `kfp`).
    Workflow,
}

impl Executable {
    /// The entity's name in keys, in the field of tasks and runs that names it, and in
    /// errors: `function`, `workflow`.
    pub fn as_str(self) -> &'static str {
        match self {
            Executable::Function => "function",
            Executable::Workflow => "workflow",
        }
    }
}

/// Filters of a function listing; `None` means any.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FunctionFilter {
    /// Only versions of the function of this name.
    pub name: Option<String>,
    /// Only functions of this kind (`python`).
    pub kind: Option<String>,
    /// Every version, not only the latest of each name.
    pub all_versions: bool,
}

/// Filters of a task listing; `None` means any.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskFilter {
    /// Only tasks of this kind (`python+job`).
    pub kind: Option<String>,
    /// Only tasks of this function reference, exactly as stored.
    pub function: Option<String>,
}

/// No such project, function (version), task, run or runtime.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{entity} {name} not found")]
pub struct NotFound {
    /// What kind of thing: `project`, `function`, `task`, `run`, `runtime`.
    pub entity: &'static str,
    /// What was looked for (`demo/hello:3`).
    pub name: String,
}

/// A project (or another uniquely named thing) of that name exists.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{entity} {name} already exists")]
pub struct AlreadyExists {
    /// What kind of thing: `project`, `run`.
    pub entity: &'static str,
    /// The name that is taken.
    pub name: String,
}

/// A project still has live runs, and its deletion was not forced.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("project {project} has {live} live runs; stop them or force the deletion")]
pub struct LiveRuns {
    /// The project whose deletion was refused.
    pub project: String,
    /// How many of its runs are live.
    pub live: i64,
}
