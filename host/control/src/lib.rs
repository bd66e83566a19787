//! Runplane's command side: a run goes validate → persist → plan → guard → execute.
//!
//! Control is handed the runtime of a run (the run service resolves it once and pins
//! its digest); it never looks a runtime up itself, so every call for a run goes to the
//! component that accepted it.
//!
//! # Overview
//!
//! - [`Control`] holds the local target, the cluster (when there is one) and the host
//!   settings runtimes plan with.
//! - [`Control::validate`] asks the run's runtime to check the function, task and run
//!   specs and reports every bad field with its full path (`function.spec.source`).
//! - [`Control::plan`] asks the runtime for a plan; [`Control::admit`] passes
//!   Kubernetes objects through the cluster policy's guard
//!   ([`runplane_target_kubernetes::policy`]), the host's last word on what reaches a
//!   cluster.
//! - [`Control::run_local`] executes a local plan, drives the run's state machine and
//!   reports every transition and output line as a [`RunEvent`].
//! - [`Control::run_kubernetes`] guards and applies a Kubernetes plan, then follows the
//!   cluster's watch notifications through the runtime's `observe` to the end.
//!
//! Runtime calls are async and run on the engine's own threads within their budget
//! (see `runplane_engine`), so awaiting one never stalls the async workers.

mod kubernetes;
mod local;

use std::sync::Arc;
use std::time::Duration;

use runplane_engine::{CallError, LoadedRuntime};
use runplane_model::{
    FieldError, HostSettings, IllegalTransition, PlanError, Run, RunContext, RunEvent, RunPlan,
    RunState, SpecFile, Target,
};
use runplane_target_kubernetes::KubernetesTarget;
use runplane_target_kubernetes::policy::{self, HostPolicy, Violation};
use runplane_target_local::LocalTarget;

pub use local::{STOP_GRACE, StopSignal};

/// How long, in all, a run's plan waits for a busy runtime before the run fails.
pub const BUSY_PATIENCE: Duration = Duration::from_secs(60);

/// Why a run could not be validated, planned or executed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The specs have bad fields.
    #[error("invalid spec:\n{}", .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<FieldError>),
    /// The runtime could not plan the run.
    #[error("runtime {runtime} cannot plan the run: {message}")]
    Plan {
        /// Name of the runtime that refused (`python`).
        runtime: String,
        /// Its [`PlanError`]'s message (a plan error naming fields is
        /// [`Error::Invalid`] instead).
        message: String,
    },
    /// The runtime call failed (trap, limit).
    #[error(transparent)]
    Call(#[from] CallError),
    /// The host refused the plan.
    #[error(transparent)]
    Guard(#[from] Violation),
    /// The plan is for another target than the one asked for.
    #[error("runtime {runtime} returned a {returned} plan for the {target} target")]
    WrongPlan {
        /// Name of the runtime that planned (`python`).
        runtime: String,
        /// Which kind of plan came back.
        returned: Target,
        /// The target asked for.
        target: Target,
    },
    /// The local target failed.
    #[error(transparent)]
    Local(#[from] runplane_target_local::Error),
    /// The Kubernetes target failed.
    #[error(transparent)]
    Kubernetes(#[from] runplane_target_kubernetes::Error),
    /// A state transition the machine forbids.
    #[error(transparent)]
    Transition(#[from] IllegalTransition),
}

impl Error {
    /// A short name of the failure, for metrics labels (`timeout`, `trap`, `invalid`).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Invalid(_) => "invalid",
            Error::Plan { .. } => "plan",
            Error::Call(error) => error.kind(),
            Error::Guard(_) => "guard",
            Error::WrongPlan { .. } => "wrong-plan",
            Error::Local(_) => "local",
            Error::Kubernetes(_) => "kubernetes",
            Error::Transition(_) => "transition",
        }
    }
}

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The command side of the host: where runs execute and with which settings.
#[derive(Clone)]
pub struct Control {
    local: LocalTarget,
    settings: HostSettings,
    kubernetes: Option<KubernetesTarget>,
    policy: Arc<HostPolicy>,
}

impl Control {
    /// A control executing local plans on `local`, with `settings` for every plan.
    pub fn new(local: LocalTarget, settings: HostSettings) -> Self {
        Control {
            local,
            settings,
            kubernetes: None,
            policy: Arc::default(),
        }
    }

    /// The same control, with `policy` deciding which kinds each runtime may create and
    /// how strictly each run's pods are checked (the default: the built-in kinds, Pod
    /// Security "restricted" for every run).
    pub fn with_host_policy(mut self, policy: HostPolicy) -> Self {
        self.policy = Arc::new(policy);
        self
    }

    /// The host policy plans are guarded with.
    pub fn host_policy(&self) -> &HostPolicy {
        &self.policy
    }

    /// The same control, with a cluster to run Kubernetes plans on.
    pub fn with_kubernetes(mut self, target: KubernetesTarget) -> Self {
        self.kubernetes = Some(target);
        self
    }

    /// The cluster Kubernetes plans run on, when one was given.
    pub fn kubernetes(&self) -> Option<&KubernetesTarget> {
        self.kubernetes.as_ref()
    }

    /// Validates the function, task and run specs of `file` with `runtime`, the one that
    /// owns its function kind. Every bad field is reported, with paths from the file's
    /// root (`run.spec.parameters`).
    pub async fn validate(&self, runtime: &Arc<LoadedRuntime>, file: &SpecFile) -> Result<()> {
        let checks = [
            (
                "function.spec",
                file.function.kind.clone(),
                file.function.spec.to_string(),
            ),
            (
                "task.spec",
                file.task.kind.clone(),
                file.task.spec.to_string(),
            ),
            ("run.spec", file.run.kind.clone(), file.run.spec.to_string()),
        ];
        let mut errors = Vec::new();
        for (prefix, kind, spec) in checks {
            if let Err(fields) = runtime.validate(&file.project, &kind, &spec).await? {
                errors.extend(fields.into_iter().map(|error| error.under(prefix)));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(errors))
        }
    }

    /// The context a runtime plans and observes `run` with.
    pub fn context(&self, file: &SpecFile, run: &Run) -> RunContext {
        RunContext {
            run_id: run.id.to_string(),
            project: run.project.clone(),
            namespace: policy::namespace_of(run).to_string(),
            function_name: file.function.name.clone(),
            function_kind: file.function.kind.clone(),
            action: file.action.clone(),
            function_spec: file.function.spec.to_string(),
            task_spec: file.task.spec.to_string(),
            run_spec: file.run.spec.to_string(),
            target: run.target,
            settings: self.settings.clone(),
        }
    }

    /// Asks `runtime` for the plan of `run`.
    pub async fn plan(&self, runtime: &Arc<LoadedRuntime>, context: RunContext) -> Result<RunPlan> {
        let planned = runtime.plan(&context).await?;
        planned.map_err(|PlanError { message, fields }| {
            if fields.is_empty() {
                Error::Plan {
                    runtime: runtime.name().to_string(),
                    message,
                }
            } else {
                Error::Invalid(fields)
            }
        })
    }

    /// [`Self::plan`], waiting for the runtime while it is busy (`when_free`).
    pub async fn plan_when_free(
        &self,
        runtime: &Arc<LoadedRuntime>,
        context: RunContext,
    ) -> Result<RunPlan> {
        when_free(&context.run_id, || self.plan(runtime, context.clone())).await
    }

    /// Moves `run` to `to` and returns the event announcing it.
    pub fn transition(run: &mut Run, to: RunState, reason: Option<String>) -> Result<RunEvent> {
        let transition = run.transition(to, reason)?;
        Ok(RunEvent::Transition(transition.clone()))
    }

    /// Checks and stamps `objects` planned by `runtime` for `run` of `file` with the host
    /// policy for its runtime and action, granting the service account and Secrets its
    /// task names: what may be applied, in order, or the rule the plan breaks.
    pub fn admit(
        &self,
        runtime: &LoadedRuntime,
        run: &Run,
        file: &SpecFile,
        objects: &[String],
    ) -> Result<Vec<serde_json::Value>, Violation> {
        let subject = policy::Subject {
            run_id: run.id.as_str(),
            project: &run.project,
            namespace: policy::namespace_of(run),
            runtime: runtime.name(),
            runtime_kinds: &runtime.info().allowed_kinds,
        };
        // Service accounts and Secrets only as the run's task names them.
        let grants = policy::Grants::from_task_spec(&file.task.spec);
        let policy = self.policy.for_run(runtime.name(), &file.action);
        policy::admit_granted(objects, &subject, &grants, &policy)
    }

    /// Refuses a new Kubernetes `run` of `file` whose plan the guard would refuse, before
    /// it is accepted: a kind the host policy does not allow, a pod its Pod Security
    /// level forbids. A plan that fails for another reason is left to the run, which
    /// plans again and ends in ERROR saying why; a busy runtime is an error (try again).
    pub async fn check_admission(
        &self,
        runtime: &Arc<LoadedRuntime>,
        file: &SpecFile,
        run: &Run,
    ) -> Result<()> {
        match self.plan(runtime, self.context(file, run)).await {
            Ok(RunPlan::Kubernetes(objects)) => {
                self.admit(runtime, run, file, &objects)?;
                Ok(())
            }
            Err(Error::Call(busy @ CallError::Busy { .. })) => Err(Error::Call(busy)),
            Ok(RunPlan::Local(_)) | Err(_) => Ok(()),
        }
    }

    /// Plans `run` for its target and records BUILT when the run is CREATED (a resumed or
    /// re-attached run is planned again but keeps its state: plans are deterministic).
    /// A failed plan, or a plan for another target, ends the run in ERROR instead and
    /// gives `None`.
    async fn plan_run(
        &self,
        runtime: &Arc<LoadedRuntime>,
        file: &SpecFile,
        run: &mut Run,
        events: &tokio::sync::mpsc::UnboundedSender<RunEvent>,
    ) -> Result<Option<RunPlan>> {
        let started = std::time::Instant::now();
        let planned = self.plan_when_free(runtime, self.context(file, run)).await;
        let _ = events.send(RunEvent::Planned {
            took: started.elapsed(),
            failure: planned.as_ref().err().map(Error::kind),
        });
        let planned = match planned {
            Ok(plan) if plan.target() == run.target => Ok(plan),
            Ok(plan) => Err(Error::WrongPlan {
                runtime: runtime.name().to_string(),
                returned: plan.target(),
                target: run.target,
            }),
            Err(error) => Err(error),
        };
        match planned {
            Ok(plan) => {
                if run.state == RunState::Created {
                    let reason = format!("planned by {} {}", runtime.name(), runtime.digest());
                    record(events, run, RunState::Built, Some(reason))?;
                }
                Ok(Some(plan))
            }
            Err(error) => {
                record(events, run, RunState::Error, Some(error.to_string()))?;
                Ok(None)
            }
        }
    }
}

/// Moves `run` to `to` and sends the transition to whoever follows the run (a closed
/// channel is fine: nobody is following).
fn record(
    events: &tokio::sync::mpsc::UnboundedSender<RunEvent>,
    run: &mut Run,
    to: RunState,
    reason: Option<String>,
) -> Result<()> {
    let _ = events.send(Control::transition(run, to, reason)?);
    Ok(())
}

/// Deletes a run that is not live: DELETING (unless it already is), then `removal`
/// takes its workload away: DELETED with what it says, or ERROR with why it failed.
async fn delete_with(
    mut run: Run,
    events: &tokio::sync::mpsc::UnboundedSender<RunEvent>,
    removal: impl std::future::Future<Output = Result<impl ToString, impl ToString>>,
) -> Result<Run> {
    if run.state != RunState::Deleting {
        record(
            events,
            &mut run,
            RunState::Deleting,
            Some("delete requested".into()),
        )?;
    }
    let (to, reason) = match removal.await {
        Ok(done) => (RunState::Deleted, done.to_string()),
        Err(error) => (RunState::Error, error.to_string()),
    };
    record(events, &mut run, to, Some(reason))?;
    Ok(run)
}

/// Runs `call` for run `run_id` until the runtime is not busy (every slot of the run's
/// project, or of the runtime, in use): a run is not lost to a burst of other calls. A
/// request answered 503 can be sent again by its client; a run's own `plan` and
/// `observe` have no client, so they try again here after 0.25 s, then twice as long
/// each time up to 8 s, for at most [`BUSY_PATIENCE`]. The wait ends with the run's
/// task when the run is stopped.
async fn when_free<T, F>(run_id: &str, mut call: impl FnMut() -> F) -> Result<T>
where
    F: std::future::Future<Output = Result<T>>,
{
    let started = std::time::Instant::now();
    let mut pause = Duration::from_millis(250);
    loop {
        match call().await {
            Err(Error::Call(CallError::Busy { runtime, .. }))
                if started.elapsed() + pause < BUSY_PATIENCE =>
            {
                tracing::info!(
                    run = run_id,
                    runtime,
                    "the runtime is busy; calling again in {pause:?}"
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(8));
            }
            answered => return answered,
        }
    }
}
