//! Triggers: what starts runs without a user, on a schedule (`scheduler`) or when runs of
//! a function reach a state (`lifecycle`), as in the original platform.
//!
//! A trigger keeps its spec as the client wrote it (JSON, checked by the service) and the
//! state of its firing: for a schedule the next due time, for a lifecycle trigger how far
//! it has read the runs' transitions. Both only ever move forward, by a conditional
//! write on [`Trigger::version`], so of several hosts firing the same trigger one
//! advances it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What fires a trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TriggerKind {
    /// Due times of a cron schedule.
    Scheduler,
    /// Runs of a function reaching one of some states.
    Lifecycle,
}

/// Whether a trigger fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum TriggerState {
    /// It fires (a created trigger starts here).
    Running,
    /// Stopped by a user; `POST …/run` starts it again.
    Stopped,
    /// A firing failed in a way a retry cannot mend (its function was deleted, its
    /// template no longer validates): `message` says why; `POST …/run` starts it again.
    Error,
}

/// An unknown name of a [`TriggerKind`] or a [`TriggerState`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{given:?} is not one of {known}")]
pub struct UnknownName {
    /// The name given.
    pub given: String,
    /// The names there are, comma-separated.
    pub known: &'static str,
}

impl TriggerKind {
    /// The name in documents and in the store (`scheduler`).
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Scheduler => "scheduler",
            TriggerKind::Lifecycle => "lifecycle",
        }
    }
}

impl FromStr for TriggerKind {
    type Err = UnknownName;

    fn from_str(name: &str) -> Result<Self, UnknownName> {
        match name {
            "scheduler" => Ok(TriggerKind::Scheduler),
            "lifecycle" => Ok(TriggerKind::Lifecycle),
            _ => Err(UnknownName {
                given: name.to_string(),
                known: "scheduler, lifecycle",
            }),
        }
    }
}

impl fmt::Display for TriggerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TriggerState {
    /// The name in documents and in the store (`RUNNING`).
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerState::Running => "RUNNING",
            TriggerState::Stopped => "STOPPED",
            TriggerState::Error => "ERROR",
        }
    }
}

impl FromStr for TriggerState {
    type Err = UnknownName;

    fn from_str(name: &str) -> Result<Self, UnknownName> {
        match name {
            "RUNNING" => Ok(TriggerState::Running),
            "STOPPED" => Ok(TriggerState::Stopped),
            "ERROR" => Ok(TriggerState::Error),
            _ => Err(UnknownName {
                given: name.to_string(),
                known: "RUNNING, STOPPED, ERROR",
            }),
        }
    }
}

impl fmt::Display for TriggerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A trigger as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    /// Id: the client's (the original platform's SDK sends a uuid4 hex) or a UUIDv7.
    pub id: String,
    /// The project whose functions it starts.
    pub project: String,
    /// Name, for people (the id when the client gave none).
    pub name: String,
    /// What fires it.
    pub kind: TriggerKind,
    /// The spec as checked when it was created or last changed: `task`, `function` (or
    /// `workflow`), `template`, then `schedule`, `timezone`, `missed` or `key`, `states`.
    pub spec: serde_json::Value,
    /// Whether it fires.
    pub state: TriggerState,
    /// Why it is in ERROR, or what went wrong with its last firing.
    pub message: Option<String>,
    /// Scheduler: the next due time not yet fired (the firing cursor).
    pub next_due: Option<OffsetDateTime>,
    /// Lifecycle: transitions stamped up to this time have been fired (the firing
    /// cursor; a safety window before it is read again).
    pub seen_until: Option<OffsetDateTime>,
    /// When it was last started (created, or `run` again): nothing before fires.
    pub activated: OffsetDateTime,
    /// The last firing: its key, due time or event, and the run it started.
    pub last_fired: Option<serde_json::Value>,
    /// Bumped by every write; writes are conditional on it.
    pub version: i64,
    /// When it was created.
    pub created: OffsetDateTime,
    /// When it last changed (a firing included).
    pub updated: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_list_the_known() {
        for kind in [TriggerKind::Scheduler, TriggerKind::Lifecycle] {
            assert_eq!(kind.as_str().parse::<TriggerKind>(), Ok(kind));
        }
        for state in [
            TriggerState::Running,
            TriggerState::Stopped,
            TriggerState::Error,
        ] {
            assert_eq!(state.as_str().parse::<TriggerState>(), Ok(state));
        }
        let error = "cron".parse::<TriggerKind>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "\"cron\" is not one of scheduler, lifecycle"
        );
    }
}
