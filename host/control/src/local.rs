//! Executing a run on the local target and driving its state machine.
//!
//! A job runs until its process exits: COMPLETED on exit code 0, ERROR otherwise. A
//! service (a plan of an action of category `service`) listens on a port the target
//! reserves: PENDING until its readiness probe passes, RUNNING with its URL (and the
//! outputs it wrote by then) after, until a stop ends it STOPPED; a service that exits
//! by itself ends in ERROR, since it was meant to serve until stopped.

use std::time::Duration;

use runplane_engine::LoadedRuntime;
use runplane_model::{
    Category, LocalProcess, OutputStream, Run, RunEvent, RunPlan, RunState, SpecFile,
};
use runplane_target_kubernetes::policy::Grants;
use runplane_target_local::{Endpoint, Launch, LocalEvent, LocalRun, Subject};
use tokio::sync::{mpsc, watch};

use crate::{Control, Result, delete_with, record};

/// How long a stopped process gets between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// How often a local service's readiness is probed until it passes.
const PROBE_INTERVAL: Duration = Duration::from_millis(250);

/// Set to `true` to ask a run to stop.
pub type StopSignal = watch::Receiver<bool>;

impl Control {
    /// Plans `run` with `runtime` and executes it locally, reporting on `events` until
    /// the run is COMPLETED, ERROR or STOPPED, and returns it. Failures of the runtime
    /// or the target end the run in ERROR with the reason; only a broken state machine
    /// is an `Err`. `events` closes when the run ends.
    pub async fn run_local(
        &self,
        runtime: &std::sync::Arc<LoadedRuntime>,
        file: &SpecFile,
        mut run: Run,
        events: mpsc::UnboundedSender<RunEvent>,
        stop: StopSignal,
    ) -> Result<Run> {
        self.drive_local(runtime, file, &mut run, &events, stop)
            .await?;
        Ok(run)
    }

    /// Checks `process`, planned by `runtime`, against the local target's policy, as
    /// a run's start does first: for previews, which start nothing.
    pub fn admit_local(&self, runtime: &LoadedRuntime, process: &LocalProcess) -> Result<()> {
        self.local
            .admit(&subject_of(runtime), process)
            .map_err(|violation| runplane_target_local::Error::from(violation).into())
    }

    /// Deletes a run that is not live (or was DELETING when the host stopped): its
    /// working directory goes, the record stays, in state DELETED.
    pub async fn delete_local(
        &self,
        run: Run,
        events: mpsc::UnboundedSender<RunEvent>,
    ) -> Result<Run> {
        let id = run.id.clone();
        let removal = async move { self.local.remove(id.as_str()).await };
        delete_with(run, &events, async {
            match removal.await {
                Ok(()) => Ok("working directory removed"),
                Err(error) => Err(format!("cannot remove the working directory: {error}")),
            }
        })
        .await
    }

    async fn drive_local(
        &self,
        runtime: &std::sync::Arc<LoadedRuntime>,
        file: &SpecFile,
        run: &mut Run,
        events: &mpsc::UnboundedSender<RunEvent>,
        mut stop: StopSignal,
    ) -> Result<()> {
        let step =
            |run: &mut Run, to: RunState, reason: Option<String>| record(events, run, to, reason);
        let Some(RunPlan::Local(plan)) = self.plan_run(runtime, file, run, events).await? else {
            return Ok(());
        };
        let subject = subject_of(runtime);
        let serves = runtime
            .info()
            .action(&run.action)
            .is_some_and(|action| action.category == Category::Service);
        // The task's secrets, as the Kubernetes target grants them to the run's pods; an
        // environment's preparation is the run's log.
        let secrets = Grants::from_task_spec(&file.task.spec).secrets;
        let progress = |line: &str| {
            let _ = events.send(RunEvent::Log {
                stream: OutputStream::Stdout,
                line: line.to_string(),
            });
        };
        let launch = Launch {
            secrets: &secrets,
            progress: Some(&progress),
        };
        let started = tokio::select! {
            started = self.start_process(run.id.as_str(), &subject, plan, serves, launch) => started,
            _ = stop.wait_for(|stop| *stop) => {
                step(run, RunState::Stop, Some("stop requested".into()))?;
                return step(run, RunState::Stopped, Some("stopped before it started".into()));
            }
        };
        let (mut process, endpoint) = match started {
            Ok(started) => started,
            Err(error) => return step(run, RunState::Error, Some(error.to_string())),
        };
        step(
            run,
            RunState::Ready,
            Some(format!(
                "working directory {}",
                self.local.workdir(run.id.as_str()).display()
            )),
        )?;
        let pid = process.pid();
        match &endpoint {
            None => step(run, RunState::Running, Some(format!("process {pid}")))?,
            Some(endpoint) => step(
                run,
                RunState::Pending,
                Some(format!(
                    "process {pid}; waiting for {} to answer",
                    endpoint.readiness_url()
                )),
            )?,
        }
        let stopper = process.stopper();
        let outputs = process.outputs();
        // The stop under way: the run is STOPPED once it is done, that is once the whole
        // process group is gone, not only its leader.
        let mut stopping: Option<tokio::task::JoinHandle<()>> = None;
        let mut waiting = endpoint.is_some();
        let mut probe = tokio::time::interval(PROBE_INTERVAL);
        // What the process last wrote to stderr: the error a failed program prints last
        // (a Python exception, dbt's message), which explains its exit code.
        let mut last_error_line = String::new();
        loop {
            tokio::select! {
                event = process.next_event() => match event {
                    Some(LocalEvent::Log { stream, line }) => {
                        if stream == OutputStream::Stderr && !line.trim().is_empty() {
                            last_error_line.clone_from(&line);
                        }
                        let _ = events.send(RunEvent::Log { stream, line });
                    }
                    Some(LocalEvent::Exited(exit)) => {
                        if !exit.outputs.is_empty() {
                            let _ = events.send(RunEvent::Outputs(exit.outputs.clone()));
                        }
                        let failure = describe_failure(exit.code, exit.signal, &last_error_line);
                        if let Some(stop) = stopping.take() {
                            let _ = stop.await;
                            return step(run, RunState::Stopped, Some("process terminated".into()));
                        }
                        return match (&endpoint, exit.success()) {
                            (Some(_), _) if waiting => step(run, RunState::Error, Some(format!("the service exited before it was ready ({failure})"))),
                            (Some(_), _) => step(run, RunState::Error, Some(format!("the service exited ({failure})"))),
                            (None, true) => step(run, RunState::Completed, Some("exit code 0".into())),
                            (None, false) => step(run, RunState::Error, Some(failure)),
                        };
                    }
                    None => return step(run, RunState::Error, Some("lost track of the process".into())),
                },
                _ = probe.tick(), if waiting && stopping.is_none() => {
                    if let Some(endpoint) = &endpoint
                        && endpoint.is_ready().await
                    {
                        waiting = false;
                        // A service may say where it serves (its other ports) by then.
                        let described = outputs.read().await;
                        if !described.is_empty() {
                            let _ = events.send(RunEvent::Outputs(described));
                        }
                        let _ = events.send(RunEvent::Serving(endpoint.url()));
                        step(run, RunState::Running, Some(format!("process {pid}; serving at {}", endpoint.url())))?;
                    }
                }
                () = stop_requested(&mut stop), if stopping.is_none() => {
                    step(run, RunState::Stop, Some("stop requested".into()))?;
                    let stopper = stopper.clone();
                    stopping = Some(tokio::spawn(async move { stopper.stop(STOP_GRACE).await }));
                }
            }
        }
    }

    /// Starts `plan` on the local target with what `launch` brings: as a service (on a
    /// port of its own, with the endpoint that tells when it is ready) when `serves`,
    /// else as a job.
    async fn start_process(
        &self,
        run_id: &str,
        subject: &Subject<'_>,
        plan: LocalProcess,
        serves: bool,
        launch: Launch<'_>,
    ) -> Result<(LocalRun, Option<Endpoint>), runplane_target_local::Error> {
        if serves {
            let (process, endpoint) = self.local.serve(run_id, subject, plan, launch).await?;
            Ok((process, Some(endpoint)))
        } else {
            Ok((self.local.start(run_id, subject, plan, launch).await?, None))
        }
    }
}

/// Resolves when a stop is asked for (never when nobody can ask any more). Unlike
/// `wait_for`, holds no borrow of the signal afterwards, so the caller may await.
pub(crate) async fn stop_requested(stop: &mut StopSignal) {
    if stop.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Who planned a local process, for the local target's policy.
fn subject_of(runtime: &LoadedRuntime) -> Subject<'_> {
    Subject {
        runtime: runtime.name(),
        origin: runtime.origin(),
    }
}

/// Longest part of the last stderr line a failure's reason quotes.
const QUOTED_LINE: usize = 500;

/// Why a process failed: its exit code or signal, then the last line it wrote to stderr
/// (cut to [`QUOTED_LINE`] characters).
fn describe_failure(code: Option<i32>, signal: Option<i32>, last_error_line: &str) -> String {
    let status = match (code, signal) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "ended without an exit status".to_string(),
    };
    let line = last_error_line.trim();
    if line.is_empty() {
        return status;
    }
    let quoted: String = line.chars().take(QUOTED_LINE).collect();
    let cut = if quoted.len() < line.len() { "…" } else { "" };
    format!("{status}: {quoted}{cut}")
}
