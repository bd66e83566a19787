//! One task per run: executes it on its target and persists what it reports.

use std::sync::Arc;

use runplane_control::Control;
use runplane_engine::LoadedRuntime;
use runplane_model::{Run, RunEvent, RunState, StoredRun, Target};
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;

use crate::builds;
use crate::recorder::{Recorded, Recorder};
use crate::runs::{Inner, RunService, ServiceEvent};
use crate::runtimes::Runtimes;
use crate::{Error, Result};

/// What the driver does with its run.
pub(crate) enum Work {
    /// Take it from its current state to a final one (start, resume, re-attach), with
    /// the runtime it was accepted with: given when the caller holds it (a new run),
    /// else found by the run's pinned digest.
    Drive(Option<Arc<LoadedRuntime>>),
    /// Remove its workload and end DELETED.
    Delete,
}

/// The service's hold on a driven run.
#[derive(Clone)]
pub(crate) struct Handle {
    target: Target,
    stop: Arc<watch::Sender<bool>>,
    /// Closed (sender dropped) when the driver task ends, however it ends.
    finished: watch::Receiver<()>,
    abort: AbortHandle,
}

impl Handle {
    pub(crate) fn target(&self) -> Target {
        self.target
    }

    pub(crate) fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Stops driving without touching the run (it stays live in the store).
    pub(crate) fn abort(&self) {
        self.abort.abort();
    }

    /// Resolves when the driver task has ended and everything it reported is stored.
    pub(crate) async fn finished(&self) {
        let mut finished = self.finished.clone();
        while finished.changed().await.is_ok() {}
    }
}

impl RunService {
    /// Starts the driver of `stored` and registers it as live on this host.
    pub(crate) fn spawn(&self, stored: StoredRun, work: Work) -> Handle {
        let (stop, stop_requested) = watch::channel(false);
        let (finished_tx, finished) = watch::channel(());
        let id = stored.run.id.clone();
        let target = stored.run.target;
        let inner = self.inner.clone();
        let mut live = self.live();
        let task = tokio::spawn(async move {
            let _finished = finished_tx;
            let run = stored.run.id.clone();
            drive(&inner, stored, work, stop_requested).await;
            inner
                .live
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&run);
            let _ = inner.events.send(ServiceEvent::Finished { run });
        });
        let handle = Handle {
            target,
            stop: Arc::new(stop),
            finished,
            abort: task.abort_handle(),
        };
        live.insert(id, handle.clone());
        handle
    }
}

async fn drive(inner: &Inner, stored: StoredRun, work: Work, stop: watch::Receiver<bool>) {
    let mut recorder = Recorder::new(
        inner.store.clone(),
        stored.run.id.clone(),
        stored.version,
        inner.events.clone(),
    );
    let id = stored.run.id.clone();
    let (events, mut reported) = mpsc::unbounded_channel();
    let mut execution = AbortOnDrop(tokio::spawn(execute(
        inner.control.clone(),
        inner.runtimes.clone(),
        stored,
        work,
        events,
        stop,
    )));
    while let Some(first) = reported.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = reported.try_recv() {
            batch.push(more);
        }
        // Boxed, as every step that is not waiting: a live run's task stays small
        // (a future is as large as its largest step).
        if let Some(moved) = Box::pin(recorder.record(batch)).await {
            // Someone else moved the run (a stop from another host) or owns it now:
            // stop executing it here, so the two never fight over the workload.
            tracing::info!(run = %id, ?moved, "run changed elsewhere; letting go");
            return;
        }
    }
    let failure = match (&mut execution.0).await {
        Ok(Ok(run)) => {
            if run.state == RunState::Completed {
                Box::pin(builds::write_back(inner, &id)).await;
            }
            return;
        }
        Ok(Err(error)) => error.to_string(),
        Err(error) if error.is_cancelled() => return,
        Err(error) => format!("the run's driver failed: {error}"),
    };
    Box::pin(fail(inner, &mut recorder, &failure)).await;
}

/// Aborts the execution when its driver goes (run superseded, host shutting down), so
/// no execution outlives the task that records it.
struct AbortOnDrop(tokio::task::JoinHandle<Result<Run>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Ends the run in ERROR with `reason` when its state allows (an execution that could
/// not even start: no runtime owns its kind any more, no cluster).
async fn fail(inner: &Inner, recorder: &mut Recorder, reason: &str) {
    let id = recorder.id().clone();
    match inner.store.get_run(&id).await {
        Ok(current) if current.run.state.can_become(RunState::Error) => {
            if recorder
                .step(current.run.state, RunState::Error, reason)
                .await
                != Recorded::Stored
            {
                tracing::error!(run = %id, reason, "cannot record the failure");
            }
        }
        Ok(current) => {
            tracing::error!(run = %id, state = %current.run.state, reason, "run failed after it ended")
        }
        Err(error) => tracing::error!(run = %id, %error, reason, "cannot read the failed run"),
    }
}

async fn execute(
    control: Control,
    runtimes: Runtimes,
    stored: StoredRun,
    work: Work,
    events: mpsc::UnboundedSender<RunEvent>,
    stop: watch::Receiver<bool>,
) -> Result<Run> {
    let cluster = || control.kubernetes().ok_or(Error::NoCluster);
    let runtime = match &work {
        Work::Drive(Some(runtime)) => Some(runtime.clone()),
        Work::Drive(None) => Some(Box::pin(runtimes.pinned(&stored)).await?),
        Work::Delete => None,
    };
    let StoredRun { run, spec, .. } = stored;
    // Each way is boxed, so a run's task is as large as its own way, not the largest.
    Ok(match (runtime, run.target) {
        (None, Target::Local) => Box::pin(control.delete_local(run, events)).await?,
        (None, Target::Kubernetes) => {
            Box::pin(control.delete_kubernetes(run, events, cluster()?)).await?
        }
        (Some(runtime), target) => match target {
            Target::Local => {
                Box::pin(control.run_local(&runtime, &spec, run, events, stop)).await?
            }
            Target::Kubernetes => {
                let cluster = cluster()?;
                Box::pin(control.run_kubernetes(&runtime, &spec, run, events, stop, cluster))
                    .await?
            }
        },
    })
}
