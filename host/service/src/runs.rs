//! Runplane's run service: the one place runs are accepted, driven and changed.
//!
//! Every run is validated by its runtime, stored in state CREATED, then driven by one
//! task per run (the [`Control`] executes it on its target). Every transition the drive
//! reports is persisted before it is announced, with optimistic concurrency on the run
//! row, so a stop from another writer is never overwritten. A restarted host calls
//! [`RunService::reattach`] and picks up every run the store says is live.
//!
//! The HTTP API and the CLI both sit on this service, so a run behaves the same whether
//! it was started with `runplane run` or `POST /api/v1/-/{project}/runs`.

mod driver;
mod logs;
mod recorder;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use runplane_control::Control;
use runplane_model::{RunId, RunState, SpecFile, Target, Transition};
use runplane_store::{LogLine, NewRun, Store, StoredRun};
use time::OffsetDateTime;
use tokio::sync::broadcast;

use crate::driver::Work;
use crate::recorder::{Recorded, Recorder};

/// How many events subscribers may fall behind before they are told they lagged (and
/// re-read the store).
const EVENT_BUFFER: usize = 16 * 1024;

/// How long a stop may take before the caller is answered anyway (the run keeps
/// stopping; its state says where it is).
pub const STOP_WAIT: Duration = Duration::from_secs(60);

/// Why the service refused or failed a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Validation, planning or execution refused the run.
    #[error(transparent)]
    Control(#[from] runplane_control::Error),
    /// The store failed or has no such thing.
    #[error(transparent)]
    Store(#[from] runplane_store::Error),
    /// A Kubernetes run, but the host has no cluster.
    #[error(
        "no Kubernetes cluster is configured on this host (set local_execution to run locally, or give the host a kubeconfig)"
    )]
    NoCluster,
    /// The request needs a run in another state.
    #[error("run {id} is {state}: {what}")]
    WrongState {
        /// The run.
        id: RunId,
        /// Its state.
        state: RunState,
        /// What the request needs.
        what: &'static str,
    },
    /// The run's logs could not be read from the cluster.
    #[error(transparent)]
    Kubernetes(#[from] runplane_target_kubernetes::Error),
    /// An idempotency key already started run `first` with another request.
    #[error(
        "idempotency key {key:?} already started run {first} with a different request; use a new key"
    )]
    IdempotencyKeyReused {
        /// The key.
        key: String,
        /// The run it started.
        first: RunId,
    },
}

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the service announces to subscribers (the CLI's follower, SSE streams).
#[derive(Clone, Debug, PartialEq)]
pub enum ServiceEvent {
    /// A run changed state (already persisted).
    Transition {
        /// The run.
        run: RunId,
        /// The transition.
        transition: Transition,
    },
    /// A run printed a line (already persisted).
    Log {
        /// The run.
        run: RunId,
        /// The line.
        line: LogLine,
    },
    /// Named results a run produced (persisted in its status with the transition that
    /// follows).
    Outputs {
        /// The run.
        run: RunId,
        /// Name and value of each output.
        outputs: Vec<(String, String)>,
    },
    /// The runtime planned the run (or failed to): for plan-latency metrics.
    Planned {
        /// The run.
        run: RunId,
        /// How long the `plan` call took.
        took: Duration,
        /// The failure's kind (`timeout`, `trap`, `plan`, …), when it failed.
        failure: Option<&'static str>,
    },
    /// The host stopped driving the run: it reached a final state, or the host shuts
    /// down.
    Finished {
        /// The run.
        run: RunId,
    },
}

impl ServiceEvent {
    /// The run the event is about.
    pub fn run(&self) -> &RunId {
        match self {
            ServiceEvent::Transition { run, .. }
            | ServiceEvent::Log { run, .. }
            | ServiceEvent::Outputs { run, .. }
            | ServiceEvent::Planned { run, .. }
            | ServiceEvent::Finished { run } => run,
        }
    }
}

/// A run to accept.
#[derive(Clone, Debug)]
pub struct Submission {
    /// Function, task and run specs, resolved.
    pub file: SpecFile,
    /// Where it executes.
    pub target: Target,
    /// How the client named the function (`python://demo/hello:<version>`).
    pub function_ref: String,
    /// Retries with the same key get the first run back.
    pub idempotency_key: Option<String>,
}

/// The run service. Cheap to clone.
#[derive(Clone)]
pub struct RunService {
    inner: Arc<Inner>,
}

struct Inner {
    control: Control,
    store: Store,
    events: broadcast::Sender<ServiceEvent>,
    /// Runs driven by this host right now.
    live: Mutex<HashMap<RunId, driver::Handle>>,
}

impl RunService {
    /// A service executing with `control` and persisting to `store`.
    pub fn new(control: Control, store: Store) -> Self {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        RunService {
            inner: Arc::new(Inner {
                control,
                store,
                events,
                live: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The control that validates and executes runs.
    pub fn control(&self) -> &Control {
        &self.inner.control
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Every event from now on, for every run; filter with [`ServiceEvent::run`].
    pub fn subscribe(&self) -> broadcast::Receiver<ServiceEvent> {
        self.inner.events.subscribe()
    }

    /// Validates the run with its runtime, stores it (CREATED), starts driving it and
    /// returns it with `true`. A retry with the same idempotency key returns the first
    /// run with `false` and starts nothing; the same key with another request (spec,
    /// function reference or target) is [`Error::IdempotencyKeyReused`].
    pub async fn submit(&self, submission: Submission) -> Result<(StoredRun, bool)> {
        let Submission {
            file,
            target,
            function_ref,
            idempotency_key,
        } = submission;
        if target == Target::Kubernetes && self.inner.control.kubernetes().is_none() {
            return Err(Error::NoCluster);
        }
        let runtime = self.inner.control.validate(&file, target).await?;
        let new = NewRun {
            id: RunId::generate(),
            kind: file.run.kind.clone(),
            function_ref,
            target,
            spec: file,
            idempotency_key,
            created: OffsetDateTime::now_utc(),
        };
        let (mut stored, created) = self.inner.store.insert_run(&new).await?;
        if !created {
            let same = stored.spec == new.spec
                && stored.function_ref == new.function_ref
                && stored.run.target == new.target;
            if !same {
                return Err(Error::IdempotencyKeyReused {
                    key: new.idempotency_key.unwrap_or_default(),
                    first: stored.run.id,
                });
            }
            return Ok((stored, false));
        }
        self.inner
            .store
            .set_runtime_digest(&stored.run.id, runtime.digest())
            .await?;
        stored.runtime_digest = Some(runtime.digest().to_string());
        self.spawn(stored.clone(), Work::Drive);
        Ok((stored, true))
    }

    /// The run as stored now.
    pub async fn get(&self, id: &RunId) -> Result<StoredRun> {
        Ok(self.inner.store.get_run(id).await?)
    }

    /// Whether this host drives `id` right now.
    pub fn is_driving(&self, id: &RunId) -> bool {
        self.live().contains_key(id)
    }

    /// Asks a live run to stop and waits (at most [`STOP_WAIT`]) until it has.
    pub async fn stop(&self, id: &RunId) -> Result<StoredRun> {
        let handle = self.live().get(id).cloned();
        match handle {
            Some(handle) => {
                handle.stop();
                let _ = tokio::time::timeout(STOP_WAIT, handle.finished()).await;
                self.get(id).await
            }
            None => {
                let run = self.get(id).await?;
                Err(Error::WrongState {
                    id: id.clone(),
                    state: run.run.state,
                    what: "only a live run can be stopped",
                })
            }
        }
    }

    /// Resumes a STOPPED run: RESUME, then planned and executed again.
    pub async fn resume(&self, id: &RunId) -> Result<StoredRun> {
        let stored = self.get(id).await?;
        if stored.run.state != RunState::Stopped {
            return Err(Error::WrongState {
                id: id.clone(),
                state: stored.run.state,
                what: "only a STOPPED run can be resumed",
            });
        }
        let mut recorder = self.recorder(&stored);
        match recorder
            .step(RunState::Stopped, RunState::Resume, "resume requested")
            .await
        {
            Recorded::Stored => {}
            Recorded::Superseded(state) => {
                return Err(Error::WrongState {
                    id: id.clone(),
                    state,
                    what: "only a STOPPED run can be resumed",
                });
            }
            Recorded::Lost => {
                return Err(
                    runplane_store::Error::Database("cannot record the resume".into()).into(),
                );
            }
        }
        let stored = self.get(id).await?;
        self.spawn(stored.clone(), Work::Drive);
        Ok(stored)
    }

    /// Deletes a run: stops it first when live, then removes its workload; the record
    /// stays, in state DELETED.
    pub async fn delete(&self, id: &RunId) -> Result<StoredRun> {
        if self.is_driving(id) {
            self.stop(id).await?;
        }
        let stored = self.get(id).await?;
        if stored.run.state == RunState::Deleted {
            return Ok(stored);
        }
        if stored.run.state.is_live()
            && !matches!(stored.run.state, RunState::Created | RunState::Deleting)
        {
            return Err(Error::WrongState {
                id: id.clone(),
                state: stored.run.state,
                what: "a run driven by another host must be stopped there first",
            });
        }
        let handle = self.spawn(stored, Work::Delete);
        handle.finished().await;
        self.get(id).await
    }

    /// Waits until this host stops driving `id` (at once when it does not drive it).
    pub async fn wait(&self, id: &RunId) {
        let handle = self.live().get(id).cloned();
        if let Some(handle) = handle {
            handle.finished().await;
        }
    }

    /// Picks up every run the store says is live, after a restart. Kubernetes runs are
    /// followed again (and applied again when they were not yet: names are
    /// deterministic, so nothing is duplicated). A local process does not survive its
    /// host, so a local run caught mid-execution ends in ERROR saying so. Returns how
    /// many runs are driven again.
    pub async fn reattach(&self) -> Result<usize> {
        let mut driven = 0;
        for stored in self.inner.store.live_runs().await? {
            if self.is_driving(&stored.run.id) {
                continue;
            }
            let state = stored.run.state;
            match (stored.run.target, state) {
                (Target::Kubernetes, _) if self.inner.control.kubernetes().is_none() => {
                    tracing::warn!(run = %stored.run.id, %state, "Kubernetes run left as is: no cluster configured");
                    continue;
                }
                (_, RunState::Deleting) => self.spawn(stored, Work::Delete),
                (Target::Local, RunState::Stop) => {
                    self.recorder(&stored)
                        .step(
                            state,
                            RunState::Stopped,
                            "the host restarted while the run stopped",
                        )
                        .await;
                    continue;
                }
                (
                    Target::Local,
                    RunState::Built | RunState::Ready | RunState::Pending | RunState::Running,
                ) => {
                    self.recorder(&stored)
                        .step(
                            state,
                            RunState::Error,
                            "the host restarted while the local process ran; local processes end with their host",
                        )
                        .await;
                    continue;
                }
                _ => self.spawn(stored, Work::Drive),
            };
            driven += 1;
        }
        Ok(driven)
    }

    /// Lets go of every run before the host exits: local runs are stopped (they cannot
    /// outlive the host, and a STOPPED run can be resumed); Kubernetes runs keep running
    /// and are re-attached by the next host.
    pub async fn shutdown(&self) {
        let handles: Vec<driver::Handle> = self.live().values().cloned().collect();
        for handle in &handles {
            match handle.target() {
                Target::Local => handle.stop(),
                Target::Kubernetes => handle.abort(),
            }
        }
        for handle in handles {
            let _ = tokio::time::timeout(STOP_WAIT, handle.finished()).await;
        }
    }

    /// The run's output lines: stored ones for local runs (then new ones as they come
    /// when `follow`), the pods' logs through the API server for Kubernetes runs.
    pub async fn logs(&self, id: &RunId, follow: bool) -> Result<logs::LogStream> {
        logs::open(self, id, follow).await
    }

    fn recorder(&self, stored: &StoredRun) -> Recorder {
        Recorder::new(
            self.inner.store.clone(),
            stored.run.id.clone(),
            stored.version,
            self.inner.events.clone(),
        )
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<RunId, driver::Handle>> {
        self.inner
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

pub use logs::LogStream;
