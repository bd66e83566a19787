//! A run and the history of its transitions.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::spec_file::SpecFile;
use crate::state::{IllegalTransition, RunState};

/// Identifier of a run: a UUIDv7, so ids sort by creation time.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(String);

impl RunId {
    /// A new, time-ordered id.
    pub fn generate() -> Self {
        RunId(uuid::Uuid::now_v7().to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for RunId {
    fn from(id: String) -> Self {
        RunId(id)
    }
}

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a run executes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// A process on the host machine (the embedded default).
    Local,
    /// A Kubernetes cluster reached through kubeconfig or in-cluster config.
    Kubernetes,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Target::Local => "local",
            Target::Kubernetes => "kubernetes",
        })
    }
}

/// One step of a run's life, kept forever so a finished run can be debugged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// State before.
    pub from: RunState,
    /// State after.
    pub to: RunState,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Why, in words (an exit code, a Kubernetes reason, "stopped by user").
    pub reason: Option<String>,
}

/// One execution of an action on a function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// A UUIDv7 given when the run is accepted, also its name in the API and the CLI.
    pub id: RunId,
    /// Project the run belongs to.
    pub project: String,
    /// Name of the function run (`hello`), in the run's project.
    pub function: String,
    /// Function kind, which names the runtime's kind (`python`).
    pub function_kind: String,
    /// Action (`job`, `serve`).
    pub action: String,
    /// Where it executes.
    pub target: Target,
    /// The state now (CREATED for a new run); [`Run::transition`] moves it and `history`
    /// together.
    pub state: RunState,
    /// Every transition so far, oldest first.
    pub history: Vec<Transition>,
}

impl Run {
    /// A new run in state CREATED.
    pub fn new(
        project: &str,
        function: &str,
        function_kind: &str,
        action: &str,
        target: Target,
    ) -> Self {
        Run {
            id: RunId::generate(),
            project: project.to_string(),
            function: function.to_string(),
            function_kind: function_kind.to_string(),
            action: action.to_string(),
            target,
            state: RunState::Created,
            history: Vec::new(),
        }
    }

    /// A new run, CREATED, of the action `file` names on its function, on `target`.
    pub fn of(file: &SpecFile, target: Target) -> Self {
        Run::new(
            &file.project,
            &file.function.name,
            &file.function.kind,
            &file.action,
            target,
        )
    }

    /// The task kind, `<function kind>+<action>`.
    pub fn task_kind(&self) -> String {
        format!("{}+{}", self.function_kind, self.action)
    }

    /// Moves the run to `to`, recording when and why; refuses what the state machine
    /// forbids and leaves the run untouched then.
    pub fn transition(
        &mut self,
        to: RunState,
        reason: Option<String>,
    ) -> Result<&Transition, IllegalTransition> {
        if !self.state.can_become(to) {
            return Err(IllegalTransition {
                from: self.state,
                to,
            });
        }
        self.history.push(Transition {
            from: self.state,
            to,
            at: OffsetDateTime::now_utc(),
            reason,
        });
        self.state = to;
        Ok(self.history.last().expect("a transition was just pushed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_are_recorded_in_order() {
        let mut run = Run::new("p", "f", "python", "job", Target::Local);
        run.transition(RunState::Built, None).unwrap();
        run.transition(RunState::Ready, Some("planned".into()))
            .unwrap();
        let states: Vec<_> = run.history.iter().map(|t| (t.from, t.to)).collect();
        assert_eq!(
            states,
            [
                (RunState::Created, RunState::Built),
                (RunState::Built, RunState::Ready)
            ]
        );
        assert_eq!(run.history[1].reason.as_deref(), Some("planned"));
    }

    #[test]
    fn an_illegal_transition_changes_nothing() {
        let mut run = Run::new("p", "f", "python", "job", Target::Local);
        let error = run.transition(RunState::Completed, None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "a run cannot go from CREATED to COMPLETED"
        );
        assert_eq!(run.state, RunState::Created);
        assert!(run.history.is_empty());
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let first = RunId::generate();
        let second = RunId::generate();
        assert!(first < second);
    }
}
