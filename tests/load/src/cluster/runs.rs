//! The host's side: N runs submitted through `Control::run_kubernetes` as the run
//! service submits them: each validated, then driven from CREATED by a task of its own
//! whose events are consumed as they come. At most `concurrency` runs are between their
//! submission and READY at any time, like the baseline's bounded apply loop.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use runplane_model::RunEvent;

use crate::host::Wiring;
use runplane_model::{Run, RunState, SpecFile, Target};
use runplane_target_kubernetes::KubernetesTarget;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

/// What became of one run, as its events told it.
#[derive(Debug)]
pub struct Outcome {
    /// The run.
    pub run_id: String,
    /// When its READY event arrived (everything applied).
    pub ready: Option<Instant>,
    /// When its COMPLETED event arrived.
    pub completed: Option<Instant>,
    /// Its last state and that transition's reason (`None` when it never moved).
    pub last: Option<(RunState, String)>,
    /// Set when the driver failed instead of ending the run in a state.
    pub error: Option<String>,
}

/// Counters shared by the run tasks, for progress lines while a phase goes on.
#[derive(Debug, Default)]
pub struct Progress {
    /// Runs that reached READY or ended without.
    settled: AtomicUsize,
    /// Runs that reached READY.
    ready: AtomicUsize,
    /// Runs now between READY and their end.
    live: AtomicUsize,
    /// The most runs ever live at once.
    peak_live: AtomicUsize,
    /// Runs over.
    ended: AtomicUsize,
}

impl Progress {
    /// Runs that reached READY or ended without.
    pub fn settled(&self) -> usize {
        self.settled.load(Ordering::Relaxed)
    }

    /// Runs that reached READY.
    pub fn ready(&self) -> usize {
        self.ready.load(Ordering::Relaxed)
    }

    /// Runs live (READY and not over) now.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// The most runs live at once so far.
    pub fn peak_live(&self) -> usize {
        self.peak_live.load(Ordering::Relaxed)
    }

    /// Runs over.
    pub fn ended(&self) -> usize {
        self.ended.load(Ordering::Relaxed)
    }
}

/// The end of a phase's submission.
#[derive(Clone, Copy, Debug)]
pub struct Settled {
    /// When every run was READY or over (or the deadline passed).
    pub at: Instant,
    /// Runs READY or over by then.
    pub settled: usize,
    /// Runs READY by then.
    pub ready: usize,
}

/// N runs being submitted and followed.
pub struct Submission {
    /// When the first run was submitted.
    pub started: Instant,
    /// How many runs got READY or ended without: the phase's submission is over when
    /// every run has.
    settled: watch::Receiver<usize>,
    submitter: JoinHandle<Vec<JoinHandle<Outcome>>>,
    progress: Arc<Progress>,
    runs: usize,
}

impl Submission {
    /// Starts submitting `runs` runs of `file` (its project is the namespace).
    pub fn start(
        wiring: &Wiring,
        target: &KubernetesTarget,
        file: SpecFile,
        runs: usize,
        concurrency: usize,
    ) -> Submission {
        let (settle, settled) = watch::channel(0);
        let settle = Arc::new(settle);
        let progress = Arc::new(Progress::default());
        let submitting = Arc::new(Semaphore::new(concurrency));
        let (wiring, target, file) = (wiring.clone(), target.clone(), Arc::new(file));
        let shared = progress.clone();
        let submitter = tokio::spawn(async move {
            let mut tasks = Vec::with_capacity(runs);
            for _ in 0..runs {
                let permit = submitting
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                let driven = Driven {
                    wiring: wiring.clone(),
                    target: target.clone(),
                    file: file.clone(),
                    settle: settle.clone(),
                    progress: shared.clone(),
                };
                tasks.push(tokio::spawn(driven.drive(permit)));
            }
            tasks
        });
        Submission {
            started: Instant::now(),
            settled,
            submitter,
            progress,
            runs,
        }
    }

    /// Waits (at most until `deadline`) until every run is READY or over.
    pub async fn settled(&mut self, deadline: Instant) -> Settled {
        let runs = self.runs;
        let _ =
            tokio::time::timeout_at(deadline.into(), self.settled.wait_for(|n| *n >= runs)).await;
        Settled {
            at: Instant::now(),
            settled: *self.settled.borrow(),
            ready: self.progress.ready(),
        }
    }

    /// The phase's counters.
    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    /// Waits (at most until `deadline`) for every run to end and returns the outcomes;
    /// runs still going at the deadline are abandoned (their drivers aborted, their
    /// objects left to the namespace's deletion) and counted apart.
    pub async fn finish(self, deadline: Instant) -> (Vec<Outcome>, usize) {
        let mut submitter = self.submitter;
        let tasks = match tokio::time::timeout_at(deadline.into(), &mut submitter).await {
            Ok(tasks) => tasks.expect("the submitter does not panic"),
            Err(_) => {
                submitter.abort();
                return (Vec::new(), self.runs);
            }
        };
        let mut outcomes = Vec::with_capacity(tasks.len());
        let mut abandoned = self.runs - tasks.len();
        for mut task in tasks {
            match tokio::time::timeout_at(deadline.into(), &mut task).await {
                Ok(outcome) => outcomes.push(outcome.expect("run tasks do not panic")),
                Err(_) => {
                    task.abort();
                    abandoned += 1;
                }
            }
        }
        (outcomes, abandoned)
    }
}

/// What one run's task needs.
struct Driven {
    wiring: Wiring,
    target: KubernetesTarget,
    file: Arc<SpecFile>,
    settle: Arc<watch::Sender<usize>>,
    progress: Arc<Progress>,
}

impl Driven {
    /// Validates and drives a new run to its end, consuming its events meanwhile;
    /// `permit` is given back when the run is READY (or over without).
    async fn drive(self, permit: OwnedSemaphorePermit) -> Outcome {
        let file = &self.file;
        let run = Run::of(file, Target::Kubernetes);
        let mut outcome = Outcome {
            run_id: run.id.to_string(),
            ready: None,
            completed: None,
            last: None,
            error: None,
        };
        let (events, mut received) = mpsc::unbounded_channel();
        // Nobody stops these runs; the sender must live for the signal to stay quiet.
        let (_stop, stop_requested) = watch::channel(false);
        let driving = async {
            let runtime = self.wiring.validated(file).await?;
            let run = self
                .wiring
                .control
                .run_kubernetes(&runtime, file, run, events, stop_requested, &self.target)
                .await?;
            anyhow::Ok(run)
        };
        let mut permit = Some(permit);
        let following = async {
            while let Some(event) = received.recv().await {
                let RunEvent::Transition(transition) = event else {
                    continue;
                };
                let now = Instant::now();
                match transition.to {
                    RunState::Ready => {
                        outcome.ready = Some(now);
                        self.progress.ready.fetch_add(1, Ordering::Relaxed);
                        self.settle_one(&mut permit);
                        let live = self.progress.live.fetch_add(1, Ordering::Relaxed) + 1;
                        self.progress.peak_live.fetch_max(live, Ordering::Relaxed);
                    }
                    RunState::Completed => outcome.completed = Some(now),
                    _ => {}
                }
                outcome.last = Some((transition.to, transition.reason.unwrap_or_default()));
            }
        };
        let (driven, ()) = tokio::join!(driving, following);
        if outcome.ready.is_some() {
            self.progress.live.fetch_sub(1, Ordering::Relaxed);
        } else {
            self.settle_one(&mut permit);
        }
        self.progress.ended.fetch_add(1, Ordering::Relaxed);
        if let Err(error) = driven {
            outcome.error = Some(error.to_string());
        }
        outcome
    }

    /// Counts the run as settled and frees its submission slot (once).
    fn settle_one(&self, permit: &mut Option<OwnedSemaphorePermit>) {
        if permit.take().is_some() {
            self.progress.settled.fetch_add(1, Ordering::Relaxed);
            self.settle.send_modify(|n| *n += 1);
        }
    }
}

/// Seconds between two instants, as a float.
pub fn seconds(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64()
}
