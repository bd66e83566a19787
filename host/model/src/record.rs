//! A run as the host keeps it (spec, status, the pinned runtime, its row version), the
//! lines it printed, and how runs are listed.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::run::Run;
use crate::spec_file::SpecFile;
use crate::state::RunState;

/// A run with everything the host keeps of it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRun {
    /// The run: id, project, function, kind, action, target, state, history.
    pub run: Run,
    /// Run kind (`python+job:run`), as the client named it.
    pub kind: String,
    /// Function reference the run was created with (`python://demo/hello:<version>`).
    pub function_ref: String,
    /// The full, resolved spec: function, task and run.
    pub spec: SpecFile,
    /// `sha256:<hex>` of the runtime component that validated the run; every later call
    /// for the run (plan, observe, re-attach) goes to that component. Written with the
    /// run itself, so it is there from the first read; `None` only for runs stored by
    /// an older host.
    pub runtime_digest: Option<String>,
    /// Status beyond the state: message, outputs, service URL (a free-form JSON object).
    pub status: serde_json::Value,
    /// Row version for optimistic concurrency: 1 when inserted, +1 on every recorded
    /// transition (so it is always 1 + the length of the history). Appending logs does
    /// not change it: that write cannot contradict a concurrent transition, and a
    /// writer's version stays valid across it.
    pub version: i64,
    /// When the run was accepted.
    pub created: OffsetDateTime,
    /// Time of the last transition (the creation time before the first).
    pub updated: OffsetDateTime,
    /// The run asked for the cluster (`local_execution` false) and runs on the local
    /// target because the host that accepted it has none.
    pub placed_locally: bool,
}

/// Filters of a run listing; `None` means any.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RunFilter {
    /// Only runs of this project.
    pub project: Option<String>,
    /// Only runs of this function (its name).
    pub function: Option<String>,
    /// Only runs created with this function reference (`python://demo/hello:<id>`).
    pub function_ref: Option<String>,
    /// Only runs of this action (`job`).
    pub action: Option<String>,
    /// Only runs of this run kind (`python+job:run`).
    pub kind: Option<String>,
    /// Only runs in this state.
    pub state: Option<RunState>,
    /// Only runs of this function kind (`python`).
    pub runtime: Option<String>,
    /// Only runs created at or after this time.
    pub created_after: Option<OffsetDateTime>,
    /// Only runs created before this time.
    pub created_before: Option<OffsetDateTime>,
}

/// One page of runs, newest first, and the cursor of the next page.
#[derive(Clone, Debug, PartialEq)]
pub struct RunPage {
    /// The runs of this page.
    pub runs: Vec<StoredRun>,
    /// Pass back to get the next page; `None` on the last page.
    pub next: Option<String>,
}

/// Which stream of a process a line came from; kept with every line so that a reader
/// can tell a run's errors from its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One stored line of a run's output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// Position in the run's log, from 1 and without gaps, so a follower that read up
    /// to `seq` knows exactly what it has not seen.
    pub seq: i64,
    /// The stream it came from.
    pub stream: OutputStream,
    /// The line, without its newline.
    pub line: String,
    /// When the host read it.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}
