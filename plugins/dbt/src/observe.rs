//! Live objects → run status: the SDK's reading of the run's Job
//! ([`runplane_sdk::k8s::observe::job`]), and once it completed, the output table's
//! description the runner left in its container's termination message, as output
//! `output_table`.

use runplane_sdk::k8s::observe::{job, termination_outputs};
use runplane_sdk::{ObservedObject, ObservedState, RunContext, RunStatus};

use crate::plan::CONTAINER;

/// Maps a run's live objects to its status. Pure: the same objects always give the same
/// status.
pub fn observe(_context: &RunContext, objects: &[ObservedObject]) -> RunStatus {
    let mut status = job(objects, &[CONTAINER]);
    if status.state == ObservedState::Completed {
        status.outputs = termination_outputs(objects, CONTAINER);
    }
    status
}
