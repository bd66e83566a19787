//! The run state machine of the original platform, with resume made to work.
//!
//! ```text
//! CREATED ─► BUILT ─► READY ─► PENDING ⇄ RUNNING ─► COMPLETED | ERROR
//!                        any live state ─► STOP ─► STOPPED ─► RESUME ─► READY …
//!                        any state but DELETED ─► DELETING ─► DELETED
//! ```

use serde::{Deserialize, Serialize};

/// The state of a run, named as in the original platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunState {
    /// Accepted and validated; nothing planned yet.
    Created,
    /// Spec resolved and planned by the runtime.
    Built,
    /// Plan accepted by the target (objects applied, process about to start).
    Ready,
    /// Waiting for resources: scheduling, image pull, replicas.
    Pending,
    /// The workload runs (or the service serves).
    Running,
    /// Finished successfully.
    Completed,
    /// Failed; the transition's reason and message say why.
    Error,
    /// Stop requested; the workload is being removed or scaled down.
    Stop,
    /// Stopped by request; can be resumed.
    Stopped,
    /// Resume requested; the plan is being applied again.
    Resume,
    /// Delete requested; the run's objects are being removed.
    Deleting,
    /// Deleted; only the record remains.
    Deleted,
}

/// Every state, in lifecycle order.
pub const ALL_STATES: [RunState; 12] = [
    RunState::Created,
    RunState::Built,
    RunState::Ready,
    RunState::Pending,
    RunState::Running,
    RunState::Completed,
    RunState::Error,
    RunState::Stop,
    RunState::Stopped,
    RunState::Resume,
    RunState::Deleting,
    RunState::Deleted,
];

impl RunState {
    /// The states this one may move to. The match is exhaustive on purpose: a new state
    /// does not compile until its transitions are written down.
    pub fn successors(self) -> &'static [RunState] {
        use RunState::*;
        match self {
            Created => &[Built, Error, Deleting],
            Built => &[Ready, Error, Stop, Deleting],
            Ready => &[Pending, Running, Completed, Error, Stop, Deleting],
            // Resuming applies the plan again: READY once the target accepted it.
            Resume => &[Ready, Pending, Running, Completed, Error, Stop, Deleting],
            Pending => &[Running, Completed, Error, Stop, Deleting],
            // A service whose pods go away falls back to pending.
            Running => &[Pending, Completed, Error, Stop, Deleting],
            Completed | Error => &[Deleting],
            Stop => &[Stopped, Error, Deleting],
            Stopped => &[Resume, Deleting],
            Deleting => &[Deleted, Error],
            Deleted => &[],
        }
    }

    /// Whether the machine allows `self → next`.
    pub fn can_become(self, next: RunState) -> bool {
        self.successors().contains(&next)
    }

    /// Whether nothing more happens to the run by itself (it may still be deleted or,
    /// when stopped, resumed).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunState::Completed | RunState::Error | RunState::Stopped | RunState::Deleted
        )
    }

    /// Whether the run's workload may be live on its target.
    pub fn is_live(self) -> bool {
        !self.is_final()
    }

    /// The name as the API and the CLI print it (`RUNNING`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Created => "CREATED",
            RunState::Built => "BUILT",
            RunState::Ready => "READY",
            RunState::Pending => "PENDING",
            RunState::Running => "RUNNING",
            RunState::Completed => "COMPLETED",
            RunState::Error => "ERROR",
            RunState::Stop => "STOP",
            RunState::Stopped => "STOPPED",
            RunState::Resume => "RESUME",
            RunState::Deleting => "DELETING",
            RunState::Deleted => "DELETED",
        }
    }
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for RunState {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ALL_STATES
            .into_iter()
            .find(|state| state.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| format!("{text:?} is not a run state"))
    }
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a run cannot go from {from} to {to}")]
pub struct IllegalTransition {
    /// Current state.
    pub from: RunState,
    /// Refused next state.
    pub to: RunState,
}

#[cfg(test)]
mod tests {
    use super::RunState::*;
    use super::*;

    /// The whole table, row by row: `from`, then every state it may become.
    const TABLE: [(RunState, &[RunState]); 12] = [
        (Created, &[Built, Error, Deleting]),
        (Built, &[Ready, Error, Stop, Deleting]),
        (Ready, &[Pending, Running, Completed, Error, Stop, Deleting]),
        (Pending, &[Running, Completed, Error, Stop, Deleting]),
        (Running, &[Pending, Completed, Error, Stop, Deleting]),
        (Completed, &[Deleting]),
        (Error, &[Deleting]),
        (Stop, &[Stopped, Error, Deleting]),
        (Stopped, &[Resume, Deleting]),
        (
            Resume,
            &[Ready, Pending, Running, Completed, Error, Stop, Deleting],
        ),
        (Deleting, &[Deleted, Error]),
        (Deleted, &[]),
    ];

    #[test]
    fn every_pair_of_states_follows_the_table() {
        for (from, allowed) in TABLE {
            for to in ALL_STATES {
                assert_eq!(from.can_become(to), allowed.contains(&to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn no_state_moves_to_itself() {
        for state in ALL_STATES {
            assert!(!state.can_become(state), "{state}");
        }
    }

    #[test]
    fn every_state_but_deleted_can_be_deleted() {
        for state in ALL_STATES {
            assert_eq!(
                state.can_become(Deleting),
                !matches!(state, Deleting | Deleted),
                "{state}"
            );
        }
    }

    #[test]
    fn the_happy_path_and_stop_resume_are_allowed() {
        let path = [
            Created, Built, Ready, Pending, Running, Stop, Stopped, Resume, Ready, Running,
            Completed, Deleting, Deleted,
        ];
        for pair in path.windows(2) {
            assert!(pair[0].can_become(pair[1]), "{} -> {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn names_round_trip_through_text_and_json() {
        for state in ALL_STATES {
            assert_eq!(state.as_str().parse::<RunState>(), Ok(state));
            assert_eq!(
                serde_json::to_string(&state).unwrap(),
                format!("\"{state}\"")
            );
        }
    }
}
