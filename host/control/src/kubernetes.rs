//! Executing a run on a Kubernetes cluster: guard, apply, then follow the cluster's
//! watch notifications through the runtime's `observe` until the run ends.

use std::sync::Arc;
use std::time::Duration;

use runplane_engine::{LoadedRuntime, ObservedState, RunContext, RunPlan, RunStatus};
use runplane_model::{Run, RunState, SpecFile};
use runplane_target_kubernetes::KubernetesTarget;
use tokio::sync::{broadcast, mpsc};

use crate::local::{RunEvent, StopSignal};
use crate::{Control, Error, Result, blocking, record};

/// How often a run is observed even when no watch notification came (a backstop for
/// missed or coalesced events).
pub const RESYNC: Duration = Duration::from_secs(5);

impl Control {
    /// Plans `run` with `runtime`, guards the objects, applies them to `target` and
    /// follows them, reporting on `events` until the run is COMPLETED, ERROR or
    /// STOPPED, and returns it. A guard violation ends the run in ERROR with the rule
    /// before anything is applied; failures of the runtime or the cluster end it in
    /// ERROR with the reason; only a broken state machine is an `Err`. Stopping
    /// deletes the run's objects. `events` closes when the run ends.
    pub async fn run_kubernetes(
        &self,
        runtime: &Arc<LoadedRuntime>,
        file: &SpecFile,
        mut run: Run,
        events: mpsc::UnboundedSender<RunEvent>,
        stop: StopSignal,
        target: &KubernetesTarget,
    ) -> Result<Run> {
        self.drive_kubernetes(runtime, file, &mut run, &events, stop, target)
            .await?;
        Ok(run)
    }

    async fn drive_kubernetes(
        &self,
        runtime: &Arc<LoadedRuntime>,
        file: &SpecFile,
        run: &mut Run,
        events: &mpsc::UnboundedSender<RunEvent>,
        mut stop: StopSignal,
        target: &KubernetesTarget,
    ) -> Result<()> {
        let step =
            |run: &mut Run, to: RunState, reason: Option<String>| record(events, run, to, reason);
        let Some(RunPlan::Kubernetes(objects)) = self.plan_run(runtime, file, run, events).await?
        else {
            return Ok(());
        };
        let context = self.context(file, run);
        let namespace = context.namespace.clone();
        let run_id = run.id.to_string();
        let admitted = match Control::admit(runtime, run, &namespace, &objects) {
            Ok(admitted) => admitted,
            Err(violation) => {
                return step(
                    run,
                    RunState::Error,
                    Some(Error::from(violation).to_string()),
                );
            }
        };
        // Subscribe before applying so that no change after the apply is missed.
        let mut changes = target.subscribe();
        let applied = tokio::select! {
            applied = target.apply(&namespace, &admitted) => applied,
            _ = stop_requested(&mut stop) => {
                step(run, RunState::Stop, Some("stop requested".into()))?;
                return stop_run(run, target, &namespace, &run_id, &step).await;
            }
        };
        if let Err(error) = applied {
            return step(run, RunState::Error, Some(error.to_string()));
        }
        step(
            run,
            RunState::Ready,
            Some(format!(
                "applied {} to namespace {namespace}",
                describe_objects(&admitted)
            )),
        )?;
        let mut resync = tokio::time::interval(RESYNC);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last: Option<RunStatus> = None;
        loop {
            // The first tick is immediate: observe once right after the apply.
            tokio::select! {
                change = changes.recv() => match change {
                    Ok(change) if change.run_id == run_id && change.namespace == namespace => {}
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::debug!(run = %run_id, missed, "change notifications lagged; observing");
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        // Cannot happen while the target lives; the resync still runs.
                        changes = target.subscribe();
                        continue;
                    }
                },
                _ = resync.tick() => {}
                _ = stop_requested(&mut stop) => {
                    step(run, RunState::Stop, Some("stop requested".into()))?;
                    return stop_run(run, target, &namespace, &run_id, &step).await;
                }
            }
            let observed = match target.observe_run(&namespace, &run_id).await {
                Ok(observed) => observed,
                Err(error) => {
                    // The API server may be briefly away: the next resync tries again.
                    tracing::warn!(run = %run_id, %error, "cannot list the run's objects");
                    continue;
                }
            };
            let status = match observe(runtime, &context, observed).await {
                Ok(status) => status,
                Err(error) => return step(run, RunState::Error, Some(error.to_string())),
            };
            if last.as_ref() == Some(&status) {
                continue;
            }
            last = Some(status.clone());
            let to = match status.state {
                ObservedState::Pending => RunState::Pending,
                ObservedState::Running => RunState::Running,
                ObservedState::Completed => RunState::Completed,
                ObservedState::Error => RunState::Error,
            };
            if to == run.state || !run.state.can_become(to) {
                continue;
            }
            if to == RunState::Completed && !status.outputs.is_empty() {
                let _ = events.send(RunEvent::Outputs(status.outputs.clone()));
            }
            step(run, to, Some(describe_status(&status)))?;
            if matches!(to, RunState::Completed | RunState::Error) {
                return Ok(());
            }
        }
    }
}

/// Resolves when a stop is asked for (never when nobody can ask any more). Unlike
/// `wait_for`, holds no borrow of the signal afterwards, so the caller may await.
async fn stop_requested(stop: &mut StopSignal) {
    if stop.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Deletes the run's objects after a STOP and ends it STOPPED (or ERROR).
async fn stop_run(
    run: &mut Run,
    target: &KubernetesTarget,
    namespace: &str,
    run_id: &str,
    step: &impl Fn(&mut Run, RunState, Option<String>) -> Result<()>,
) -> Result<()> {
    match target.delete_run(namespace, run_id).await {
        Ok(deleted) => step(
            run,
            RunState::Stopped,
            Some(format!("deleted {deleted} objects")),
        ),
        Err(error) => step(run, RunState::Error, Some(error.to_string())),
    }
}

async fn observe(
    runtime: &Arc<LoadedRuntime>,
    context: &RunContext,
    objects: Vec<runplane_engine::ObservedObject>,
) -> Result<RunStatus> {
    let (calling, context) = (runtime.clone(), context.clone());
    Ok(blocking(move || calling.observe(&context, &objects)).await?)
}

/// `Job/name, ConfigMap/name` of what was applied.
fn describe_objects(objects: &[serde_json::Value]) -> String {
    objects
        .iter()
        .map(|object| {
            format!(
                "{}/{}",
                object["kind"].as_str().unwrap_or("?"),
                object["metadata"]["name"].as_str().unwrap_or("?")
            )
        })
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
