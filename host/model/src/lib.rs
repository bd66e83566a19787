//! Runplane's domain model: runs, their state machine, and the spec envelopes users write.
//!
//! This crate has no I/O and no async, so everything in it tests in microseconds.
//!
//! # Overview
//!
//! - [`RunState`] and its transition table ([`RunState::can_become`]): the original
//!   platform's run lifecycle, with illegal transitions rejected.
//! - [`Run`]: one execution of an action on a function, with the history of its
//!   transitions ([`Transition`]).
//! - [`SpecFile`]: the YAML a user hands to `runplane run -f`: a function, an optional
//!   task and a run. [`FieldError`] names a bad field by its path.
//!
//! # Example
//!
//! ```
//! use runplane_model::{Run, RunState, Target};
//!
//! let mut run = Run::new("default", "hello", "python", "job", Target::Local);
//! run.transition(RunState::Built, None).unwrap();
//! assert!(run.transition(RunState::Completed, None).is_err()); // not ready yet
//! ```

mod field;
mod run;
mod spec_file;
mod state;

pub use field::FieldError;
pub use run::{Run, RunId, Target, Transition};
pub use spec_file::{DEFAULT_PROJECT, Entity, SpecFile, SpecFileError};
pub use state::{ALL_STATES, IllegalTransition, RunState};
