//! Runplane's vocabulary: the entities users create and run, the run state machine, the
//! records a runtime and the host exchange, and the names that refer to all of them.
//!
//! This crate has no I/O, no async and no wasmtime, so everything in it tests in
//! microseconds and every other crate of the host can speak it: the engine converts
//! its wasm bindings to these types in one place, and the targets, the store, the
//! services, the API and the CLI use them as they are.
//!
//! # Overview
//!
//! - Runs: [`RunState`] and its transition table ([`RunState::can_become`]), the
//!   original platform's run lifecycle with illegal transitions rejected; [`Run`], one
//!   execution of an action on a function with the history of its transitions
//!   ([`Transition`]); [`StoredRun`], a run with its spec, status and pinned runtime;
//!   [`RunEvent`], what an execution reports; [`LogLine`] and [`OutputStream`].
//! - The catalog: [`Project`], [`FunctionVersion`], [`Task`], and the references that
//!   name them ([`FunctionRef`], [`TaskRef`], [`reference`](mod@reference)).
//! - Spec files: [`SpecFile`], the YAML a user hands to `runplane run -f`: a function,
//!   an optional task and a run. [`FieldError`] names a bad field by its path.
//! - Triggers: [`Trigger`], which starts runs on a schedule or when runs of a function
//!   reach a state ([`TriggerKind`], [`TriggerState`]).
//! - The runtime contract's records ([`plan`], [`observation`], [`runtime`]): what a
//!   runtime is ([`RuntimeInfo`]), what it is asked ([`RunContext`]), what it plans
//!   ([`RunPlan`]) and how it reads a run's live objects ([`RunStatus`]).
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

mod catalog;
mod event;
mod field;
pub mod observation;
pub mod plan;
mod record;
pub mod reference;
mod run;
pub mod runtime;
mod spec_file;
mod state;
pub mod text;
mod trigger;

pub use catalog::{
    AlreadyExists, Executable, FunctionFilter, FunctionVersion, LiveRuns, NotFound, Project, Task,
    TaskFilter,
};
pub use event::RunEvent;
pub use field::FieldError;
pub use observation::{ObservedObject, ObservedState, RunStatus};
pub use plan::{
    HostSettings, LocalEnvironment, LocalFile, LocalProcess, PlanError, RunContext, RunPlan,
};
pub use record::{LogLine, OutputStream, RunFilter, RunPage, StoredRun};
pub use reference::{FunctionRef, TaskRef};
pub use run::{Run, RunId, Target, Transition};
pub use runtime::{
    Action, Capabilities, Category, FunctionKind, RuntimeInfo, RuntimeVersion, StoredVersion,
    VersionInUse, VersionState,
};
pub use spec_file::{DEFAULT_PROJECT, Entity, SpecFile, SpecFileError};
pub use state::{ALL_STATES, IllegalTransition, RunState};
pub use trigger::{Trigger, TriggerKind, TriggerState, UnknownName};
