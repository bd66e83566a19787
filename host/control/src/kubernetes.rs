//! Executing a run on a Kubernetes cluster from whatever state it is in: plan, guard and
//! apply it under its owner object, follow its objects as the target's shared watchers
//! see them through the runtime's `observe` until it ends, stop it, resume it and
//! delete it.

use std::sync::Arc;
use std::time::Duration;

use runplane_engine::LoadedRuntime;
use runplane_model::{
    ObservedObject, ObservedState, Run, RunContext, RunEvent, RunPlan, RunState, RunStatus,
    SpecFile, Target,
};
use runplane_target_kubernetes::policy::{self, owner_name};
use runplane_target_kubernetes::{AppliedObject, KubernetesTarget, RunTracker, missing_workload};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::local::{StopSignal, stop_requested};
use crate::{Control, Error, Result, delete_with, record};

/// How often the objects of a run applied by an earlier host are listed again while
/// the API server does not answer (until then its tracker may know none of them).
const RETRY: Duration = Duration::from_secs(5);

impl Control {
    /// Drives `run` on `target` from the state it is in, reporting on `events` until it
    /// is COMPLETED, ERROR or STOPPED, and returns it. A restarted host calls this for
    /// the runs it loads from its store, so every state has its way on:
    ///
    /// - CREATED: plan (BUILT), guard, apply (READY), follow;
    /// - BUILT, RESUME: plan again, guard, apply again (server-side apply of the same
    ///   names: nothing is created twice), follow;
    /// - READY, PENDING, RUNNING: follow; nothing is applied;
    /// - STOP: finish the stop;
    /// - COMPLETED, ERROR, STOPPED, DELETING, DELETED: nothing to do.
    ///
    /// A guard violation ends the run in ERROR with the rule before anything is applied.
    /// A failure of the runtime or the cluster, a workload deleted behind the host's back
    /// and a run pending longer than the target's
    /// [`pending_timeout`](KubernetesTarget::pending_timeout) end it in ERROR with the
    /// reason; only a broken state machine is an `Err`. A stop deletes a job's Job,
    /// scales a service's Deployment to zero and ends STOPPED once no pod of the run is
    /// left. `events` closes when the run ends.
    pub async fn run_kubernetes(
        &self,
        runtime: &Arc<LoadedRuntime>,
        file: &SpecFile,
        mut run: Run,
        events: mpsc::UnboundedSender<RunEvent>,
        stop: StopSignal,
        target: &KubernetesTarget,
    ) -> Result<Run> {
        let driver = Driver {
            control: self,
            runtime,
            events: &events,
            target,
            context: self.context(file, &run),
            run_id: run.id.to_string(),
            file,
        };
        driver.drive(&mut run, stop).await?;
        Ok(run)
    }

    /// Deletes `run`, which is not live (COMPLETED, ERROR, STOPPED, CREATED, or DELETING
    /// after a restart), from `target`: DELETING (unless it is already), then its owner
    /// object is deleted, the garbage collector deletes the rest, and once no object
    /// carrying the run's label is left (at most the target's
    /// [`removal_timeout`](KubernetesTarget::removal_timeout)), DELETED. A cluster that
    /// refuses or does not finish in time ends it in ERROR with the reason.
    pub async fn delete_kubernetes(
        &self,
        run: Run,
        events: mpsc::UnboundedSender<RunEvent>,
        target: &KubernetesTarget,
    ) -> Result<Run> {
        let (namespace, id) = (policy::namespace_of(&run).to_string(), run.id.clone());
        let removal = async move { target.delete_run(&namespace, id.as_str()).await };
        delete_with(run, &events, async {
            removal.await.map(|deletion| deletion.to_string())
        })
        .await
    }
}

/// One run being driven on a cluster: what every step needs.
struct Driver<'a> {
    control: &'a Control,
    runtime: &'a Arc<LoadedRuntime>,
    file: &'a SpecFile,
    events: &'a mpsc::UnboundedSender<RunEvent>,
    target: &'a KubernetesTarget,
    context: RunContext,
    run_id: String,
}

/// What one look at the cluster told.
enum Observation {
    /// Nothing now (the API server is away): look again later.
    Unavailable,
    /// The run cannot go on: why.
    Ended(String),
    /// The runtime's reading of the run's objects.
    Status(RunStatus),
}

impl Driver<'_> {
    fn namespace(&self) -> &str {
        &self.context.namespace
    }

    fn step(&self, run: &mut Run, to: RunState, reason: impl Into<String>) -> Result<()> {
        record(self.events, run, to, Some(reason.into()))
    }

    async fn drive(&self, run: &mut Run, mut stop: StopSignal) -> Result<()> {
        // Track before applying or observing, so that no change after it is missed.
        let kinds = &self.runtime.info().allowed_kinds;
        let tracker = self
            .target
            .track(self.namespace(), &self.run_id, kinds)
            .await;
        // The steps that run once are boxed: a future is as large as its largest
        // step, and the one that lasts (following) is small, so a live run holds a
        // small task rather than the room of a plan and an apply it no longer needs.
        let applied = match run.state {
            RunState::Created | RunState::Built | RunState::Resume => {
                match Box::pin(self.plan_and_apply(run, &mut stop)).await? {
                    Some(applied) => Some(applied),
                    None => return Ok(()),
                }
            }
            // Applied by an earlier host: its owner object says what.
            RunState::Ready | RunState::Pending | RunState::Running => None,
            RunState::Stop => return Box::pin(self.stop(run)).await,
            RunState::Completed
            | RunState::Error
            | RunState::Stopped
            | RunState::Deleting
            | RunState::Deleted => return Ok(()),
        };
        self.follow(run, applied, tracker, stop).await
    }

    /// Plans (or plans again), guards and applies the run in one of the target's apply
    /// slots (waiting for one first); `None` when the run ended instead (ERROR, or
    /// STOPPED when a stop came during the apply).
    async fn plan_and_apply(
        &self,
        run: &mut Run,
        stop: &mut StopSignal,
    ) -> Result<Option<Vec<AppliedObject>>> {
        // A stop asked meanwhile stays asked: the apply below sees it at once.
        let _slot = self.target.apply_slot().await;
        let Some(objects) = self.plan(run).await? else {
            return Ok(None);
        };
        let admitted = match self.control.admit(self.runtime, run, self.file, &objects) {
            Ok(admitted) => admitted,
            Err(violation) => {
                self.step(run, RunState::Error, Error::from(violation).to_string())?;
                return Ok(None);
            }
        };
        let labels = policy::host_labels(&self.run_id, &run.project, self.runtime.name());
        let applied = tokio::select! {
            applied = self.target.apply_run(self.namespace(), &self.run_id, &labels, &admitted) => applied,
            () = stop_requested(stop) => {
                self.step(run, RunState::Stop, "stop requested")?;
                self.stop(run).await?;
                return Ok(None);
            }
        };
        let applied = match applied {
            Ok(applied) => applied,
            Err(error) => {
                self.step(run, RunState::Error, error.to_string())?;
                return Ok(None);
            }
        };
        // BUILT and RESUME become READY; a state that cannot goes on to what it is
        // observed to be.
        if run.state.can_become(RunState::Ready) {
            let reason = format!(
                "applied {} to namespace {} under ConfigMap/{}",
                describe_objects(&applied),
                self.namespace(),
                owner_name(&self.run_id)
            );
            self.step(run, RunState::Ready, reason)?;
        }
        Ok(Some(applied))
    }

    /// The Kubernetes objects planned for the run: a new run is planned (BUILT), a
    /// built or resumed one planned again (plans are deterministic: the same names).
    /// `None` when the run ended in ERROR (a failed plan, or one for another target).
    async fn plan(&self, run: &mut Run) -> Result<Option<Vec<String>>> {
        let planned = self
            .control
            .plan_run(self.runtime, self.file, run, self.events);
        match planned.await? {
            Some(RunPlan::Kubernetes(objects)) => Ok(Some(objects)),
            // Only a local run gets a local plan: not one for this target.
            Some(RunPlan::Local(_)) => {
                let error = Error::WrongPlan {
                    runtime: self.runtime.name().to_string(),
                    returned: Target::Local,
                    target: Target::Kubernetes,
                };
                self.step(run, RunState::Error, error.to_string())?;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Follows the run's objects until the run ends: whenever its tracker reports a
    /// change, checks that its workload is still there and asks the runtime what the
    /// objects mean. `applied` is what the run applied (its tracker knows the objects),
    /// or `None` for a run applied by an earlier host: then the owner says what, and the
    /// objects are listed once from the API server (every [`RETRY`] until it answers).
    async fn follow(
        &self,
        run: &mut Run,
        mut applied: Option<Vec<AppliedObject>>,
        mut tracker: RunTracker,
        mut stop: StopSignal,
    ) -> Result<()> {
        let mut last: Option<RunStatus> = None;
        let mut pending_since = pending_since(run);
        let pending_timeout = self.target.pending_timeout();
        loop {
            match Box::pin(self.observe(&tracker, &mut applied)).await {
                Observation::Unavailable => {}
                Observation::Ended(reason) => return self.step(run, RunState::Error, reason),
                Observation::Status(status) if last.as_ref() != Some(&status) => {
                    let new_outputs = last
                        .as_ref()
                        .is_none_or(|last| last.outputs != status.outputs);
                    last = Some(status.clone());
                    let to = run_state(status.state);
                    let moves = to != run.state && run.state.can_become(to);
                    // A job's results come with its completion, a service's endpoints
                    // (`inference_v2`) once it runs, a workflow's nodes as they go on.
                    if !status.outputs.is_empty() && (moves || new_outputs) {
                        let _ = self.events.send(RunEvent::Outputs(status.outputs.clone()));
                    }
                    if moves {
                        if let Some(url) = status
                            .service_url
                            .clone()
                            .filter(|_| to == RunState::Running)
                        {
                            let _ = self.events.send(RunEvent::Serving(url));
                        }
                        self.step(run, to, describe_status(&status))?;
                        pending_since = (to == RunState::Pending).then(Instant::now);
                        if matches!(to, RunState::Completed | RunState::Error) {
                            return Ok(());
                        }
                    }
                }
                Observation::Status(_) => {}
            }
            let listed = applied.is_some();
            let deadline = pending_since.map(|since| since + pending_timeout);
            tokio::select! {
                () = tracker.changed(), if listed => {}
                () = tokio::time::sleep(RETRY), if !listed => {}
                () = until(deadline) => {
                    let why = last.as_ref().map_or_else(|| "pending".to_string(), describe_status);
                    let reason = format!("still pending after {pending_timeout:?}: {why}");
                    return self.step(run, RunState::Error, reason);
                }
                () = stop_requested(&mut stop) => {
                    self.step(run, RunState::Stop, "stop requested")?;
                    return Box::pin(self.stop(run)).await;
                }
            }
        }
    }

    /// The run's objects as its tracker knows them, a workload deleted behind the
    /// host's back told, and the runtime's reading of them. `applied`, when unknown, is
    /// read from the run's owner (a missing owner means the run was deleted externally
    /// too) and the objects are listed from the API server, which teaches the tracker.
    async fn observe(
        &self,
        tracker: &RunTracker,
        applied: &mut Option<Vec<AppliedObject>>,
    ) -> Observation {
        let (namespace, run_id) = (self.namespace(), self.run_id.as_str());
        if applied.is_none() {
            let owner = match self.target.applied_objects(namespace, run_id).await {
                Ok(Some(objects)) => objects,
                Ok(None) => {
                    return Observation::Ended(format!(
                        "ConfigMap/{} (the run's owner) was deleted externally",
                        owner_name(run_id)
                    ));
                }
                Err(error) => {
                    // The API server may be briefly away: try again later.
                    tracing::warn!(run = %run_id, %error, "cannot read the run's owner");
                    return Observation::Unavailable;
                }
            };
            if let Err(error) = self.target.observe_run(tracker).await {
                tracing::warn!(run = %run_id, %error, "cannot list the run's objects");
                return Observation::Unavailable;
            }
            *applied = Some(owner);
        }
        let observed = tracker.objects();
        let applied = applied.as_deref().unwrap_or_default();
        if let Some(missing) = missing_workload(applied, &observed) {
            return Observation::Ended(format!("{missing} was deleted externally"));
        }
        match observe(self.runtime, &self.context, observed).await {
            Ok(status) => Observation::Status(status),
            Err(error) => Observation::Ended(error.to_string()),
        }
    }

    /// Stops a run in STOP: its Jobs and bare Pods are deleted, its Deployments and
    /// StatefulSets scaled to zero; STOPPED once no pod of it is left, else ERROR.
    async fn stop(&self, run: &mut Run) -> Result<()> {
        let (namespace, run_id) = (self.namespace(), self.run_id.as_str());
        let stopped = match self.target.stop_run(namespace, run_id).await {
            Ok(stopped) => stopped,
            Err(error) => return self.step(run, RunState::Error, error.to_string()),
        };
        match self.target.wait_for_no_pods(namespace, run_id).await {
            Ok(()) => self.step(run, RunState::Stopped, stopped.to_string()),
            Err(error) => self.step(run, RunState::Error, format!("{stopped}, but {error}")),
        }
    }
}

/// When a PENDING run became pending: now for a run that just did, earlier for one a
/// restarted host re-attaches to (it keeps the time already spent pending).
fn pending_since(run: &Run) -> Option<Instant> {
    if run.state != RunState::Pending {
        return None;
    }
    let now = Instant::now();
    let spent = run.history.last().map_or(Duration::ZERO, |transition| {
        Duration::try_from(OffsetDateTime::now_utc() - transition.at).unwrap_or_default()
    });
    Some(now.checked_sub(spent).unwrap_or(now))
}

/// Resolves at `deadline`, never without one.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn observe(
    runtime: &Arc<LoadedRuntime>,
    context: &RunContext,
    objects: Vec<ObservedObject>,
) -> Result<RunStatus> {
    crate::when_free(&context.run_id, || async {
        Ok(runtime.observe(context, objects.clone()).await?)
    })
    .await
}

/// The run state an observed state moves the run to.
fn run_state(observed: ObservedState) -> RunState {
    match observed {
        ObservedState::Pending => RunState::Pending,
        ObservedState::Running => RunState::Running,
        ObservedState::Completed => RunState::Completed,
        ObservedState::Error => RunState::Error,
    }
}

/// `ConfigMap/name, Job/name` of what was applied.
fn describe_objects(objects: &[AppliedObject]) -> String {
    objects
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The transition reason of an observed status: `reason: message (exit code N)`, plus
/// the service URL.
fn describe_status(status: &RunStatus) -> String {
    let mut text = match (&status.reason, &status.message) {
        (Some(reason), Some(message)) if !message.is_empty() => format!("{reason}: {message}"),
        (Some(reason), _) => reason.clone(),
        (None, Some(message)) => message.clone(),
        (None, None) => String::new(),
    };
    if let Some(code) = status.exit_code {
        let mentioned = text.contains(&format!("code {code}"));
        if !mentioned {
            if text.is_empty() {
                text = format!("exit code {code}");
            } else {
                text.push_str(&format!(" (exit code {code})"));
            }
        }
    }
    if let Some(url) = &status.service_url {
        if !text.is_empty() {
            text.push_str("; ");
        }
        text.push_str(&format!("serving at {url}"));
    }
    if text.is_empty() {
        text = match status.state {
            ObservedState::Pending => "pending",
            ObservedState::Running => "running",
            ObservedState::Completed => "completed",
            ObservedState::Error => "failed",
        }
        .to_string();
    }
    text
}
