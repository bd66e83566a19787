//! What an execution reports about the run it drives, in order, before anything is
//! stored: the run service persists each event and only then announces it.

use std::time::Duration;

use crate::record::OutputStream;
use crate::run::Transition;

/// One thing that happened to a run being executed.
#[derive(Clone, Debug, PartialEq)]
pub enum RunEvent {
    /// The run changed state.
    Transition(Transition),
    /// The process printed a line (local runs; a Kubernetes run's lines stay in its
    /// pods).
    Log {
        /// The stream it printed on.
        stream: OutputStream,
        /// The line, without its newline.
        line: String,
    },
    /// Named results the run produced; stored with the transition that follows.
    Outputs(Vec<(String, String)>),
    /// Where a service run serves (`http://host:port`), reported before its RUNNING
    /// transition and stored with it as `status.service`.
    Serving(String),
    /// The runtime planned the run (or failed to), which the API's metrics time.
    Planned {
        /// How long the runtime's `plan` call took.
        took: Duration,
        /// The kind of failure (`timeout`, `trap`, `plan`, …), when it failed.
        failure: Option<&'static str>,
    },
}
