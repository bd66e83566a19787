//! Constructors for the [`RunStatus`] a runtime returns from `observe`.

use crate::{ObservedState, RunStatus};

fn status(state: ObservedState) -> RunStatus {
    RunStatus {
        state,
        reason: None,
        message: None,
        exit_code: None,
        outputs: Vec::new(),
        service_url: None,
    }
}

/// Waiting for resources: not scheduled, image being pulled, nothing observed yet.
pub fn pending() -> RunStatus {
    status(ObservedState::Pending)
}

/// The workload runs (or the service is ready).
pub fn running() -> RunStatus {
    status(ObservedState::Running)
}

/// The workload finished successfully.
pub fn completed() -> RunStatus {
    status(ObservedState::Completed)
}

/// The workload failed.
pub fn error(reason: &str, message: impl Into<String>) -> RunStatus {
    RunStatus {
        reason: Some(reason.to_string()),
        message: Some(message.into()),
        ..status(ObservedState::Error)
    }
}

impl RunStatus {
    /// Sets the machine-friendly reason.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Sets the human message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Sets the exit code of the main container or process.
    pub fn with_exit_code(mut self, exit_code: i32) -> Self {
        self.exit_code = Some(exit_code);
        self
    }

    /// Sets where the service answers.
    pub fn with_service_url(mut self, url: impl Into<String>) -> Self {
        self.service_url = Some(url.into());
        self
    }
}
