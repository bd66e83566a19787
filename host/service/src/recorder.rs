//! Persisting what a driven run reports: every transition (with optimistic concurrency
//! on the run row), its log lines and its outputs.

use std::time::Duration;

use runplane_model::{LogLine, OutputStream, RunEvent, RunId, RunState, Transition};
use runplane_store::Store;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use tokio::sync::broadcast;

use crate::runs::ServiceEvent;

/// How often a failing database write is retried before the event is given up on (and
/// logged): long enough to ride out a database restart of a few seconds.
const WRITE_ATTEMPTS: u32 = 5;

/// What happened to a transition the recorder was asked to persist.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// Written (the run's version moved on) and then announced to subscribers.
    Stored,
    /// Another writer moved the run first (a stop or delete from elsewhere); the run is
    /// now in this state and this transition was dropped.
    Superseded(RunState),
    /// Another replica owns the run now (it claimed it, or took it to stop, resume or
    /// delete it); this transition was dropped and this replica must let the run go.
    Taken {
        /// The replica that owns it.
        owner: String,
    },
    /// The database kept failing; the transition is only in the log.
    Lost,
}

/// Writes one run's events to the store and announces them to subscribers.
pub(crate) struct Recorder {
    store: Store,
    id: RunId,
    version: i64,
    /// Outputs reported before the transition they belong to (COMPLETED).
    outputs: Option<Value>,
    /// Where the service serves, reported before its RUNNING transition.
    serving: Option<String>,
    events: broadcast::Sender<ServiceEvent>,
}

impl Recorder {
    /// A recorder for run `id`, whose row is at `version`.
    pub(crate) fn new(
        store: Store,
        id: RunId,
        version: i64,
        events: broadcast::Sender<ServiceEvent>,
    ) -> Self {
        Recorder {
            store,
            id,
            version,
            outputs: None,
            serving: None,
            events,
        }
    }

    /// The run whose events this recorder writes.
    pub(crate) fn id(&self) -> &RunId {
        &self.id
    }

    /// Persists a batch of events in order: consecutive log lines in one write. Says
    /// why the driver must let the run go, when a transition could not be stored
    /// because the run moved on elsewhere ([`Recorded::Superseded`],
    /// [`Recorded::Taken`]).
    pub(crate) async fn record(&mut self, batch: Vec<RunEvent>) -> Option<Recorded> {
        let mut lines = Vec::new();
        let mut superseded = None;
        // Outputs not followed by a transition in the batch are written on their own.
        let mut unwritten_outputs = false;
        for event in batch {
            match event {
                RunEvent::Log { stream, line } => lines.push((stream, line)),
                RunEvent::Outputs(outputs) => {
                    self.flush_logs(&mut lines).await;
                    let map: Map<String, Value> = outputs
                        .iter()
                        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
                        .collect();
                    let _ = self.events.send(ServiceEvent::Outputs {
                        run: self.id.clone(),
                        outputs,
                    });
                    self.outputs = Some(Value::Object(map));
                    unwritten_outputs = true;
                }
                RunEvent::Serving(url) => self.serving = Some(url),
                RunEvent::Planned { took, failure } => {
                    let _ = self.events.send(ServiceEvent::Planned {
                        run: self.id.clone(),
                        took,
                        failure,
                    });
                }
                RunEvent::Transition(transition) => {
                    self.flush_logs(&mut lines).await;
                    unwritten_outputs = false;
                    let recorded = self.transition(&transition).await;
                    if matches!(recorded, Recorded::Superseded(_) | Recorded::Taken { .. }) {
                        superseded = Some(recorded);
                    }
                }
            }
        }
        self.flush_logs(&mut lines).await;
        if unwritten_outputs {
            self.write_outputs().await;
        }
        superseded
    }

    /// Writes the latest outputs without a transition (best effort: they are kept for
    /// the next transition, which writes them anyway).
    async fn write_outputs(&mut self) {
        let Some(outputs) = &self.outputs else {
            return;
        };
        if let Err(error) = self
            .store
            .record_outputs(&self.id, self.version, outputs)
            .await
        {
            tracing::warn!(run = %self.id, %error, "outputs not persisted until the next transition");
        }
    }

    /// Persists `transition`, reading the row again when another writer got there first.
    pub(crate) async fn transition(&mut self, transition: &Transition) -> Recorded {
        self.write(transition, false).await
    }

    /// Moves a run nobody drives from its stored state to `to` and makes this replica
    /// its owner in the same write (a resume, a delete).
    pub(crate) async fn take(&mut self, from: RunState, to: RunState, reason: &str) -> Recorded {
        self.write(&Self::step_of(from, to, reason), true).await
    }

    /// Persists `transition`: only as the run's owner, or (`take`) taking the run.
    async fn write(&mut self, transition: &Transition, take: bool) -> Recorded {
        let mut status = json!({ "message": transition.reason });
        if let Some(outputs) = self.outputs.take() {
            status["outputs"] = outputs;
        }
        status["service"] = service_status(self.serving.take());
        for attempt in 1..=WRITE_ATTEMPTS {
            let written = if take {
                self.store
                    .take_with_transition(&self.id, self.version, transition, Some(&status))
                    .await
            } else {
                self.store
                    .record_transition(&self.id, self.version, transition, Some(&status))
                    .await
            };
            match written {
                Ok(version) => {
                    self.version = version;
                    let _ = self.events.send(ServiceEvent::Transition {
                        run: self.id.clone(),
                        transition: transition.clone(),
                    });
                    return Recorded::Stored;
                }
                Err(runplane_store::Error::NotOwner { owner, .. }) => {
                    return Recorded::Taken { owner };
                }
                Err(runplane_store::Error::Conflict { .. }) => {
                    match self.store.reread_run(&self.id).await {
                        Ok(fresh) if fresh.run.state == transition.from => {
                            self.version = fresh.version
                        }
                        Ok(fresh) => return Recorded::Superseded(fresh.run.state),
                        Err(error) => self.wait_after(attempt, &error).await,
                    }
                }
                Err(error) => self.wait_after(attempt, &error).await,
            }
        }
        tracing::error!(run = %self.id, to = %transition.to, "transition not persisted: the database keeps failing");
        Recorded::Lost
    }

    /// Moves the run from its stored state to `to` (for the service's own steps: resume,
    /// shutdown, a local run orphaned by a restart).
    pub(crate) async fn step(&mut self, from: RunState, to: RunState, reason: &str) -> Recorded {
        self.transition(&Self::step_of(from, to, reason)).await
    }

    fn step_of(from: RunState, to: RunState, reason: &str) -> Transition {
        Transition {
            from,
            to,
            at: OffsetDateTime::now_utc(),
            reason: Some(reason.to_string()),
        }
    }

    async fn flush_logs(&mut self, lines: &mut Vec<(OutputStream, String)>) {
        if lines.is_empty() {
            return;
        }
        let batch = std::mem::take(lines);
        for attempt in 1..=WRITE_ATTEMPTS {
            match self.store.append_logs(&self.id, &batch).await {
                Ok(last) => {
                    let first = last - batch.len() as i64 + 1;
                    let at = OffsetDateTime::now_utc();
                    for (seq, (stream, line)) in (first..).zip(batch) {
                        let _ = self.events.send(ServiceEvent::Log {
                            run: self.id.clone(),
                            line: LogLine {
                                seq,
                                stream,
                                line,
                                at,
                            },
                        });
                    }
                    return;
                }
                Err(error) => self.wait_after(attempt, &error).await,
            }
        }
        tracing::error!(run = %self.id, lines = batch.len(), "log lines not persisted: the database keeps failing");
    }

    async fn wait_after(&self, attempt: u32, error: &runplane_store::Error) {
        tracing::warn!(run = %self.id, attempt, %error, "cannot write to the store; retrying");
        tokio::time::sleep(Duration::from_millis(100 * 2u64.pow(attempt))).await;
    }
}

/// `status.service` as the original platform's clients read it (its SDK waits for it
/// before a serve run counts as up): `{"url": "host:port/path", "urls": [full URL]}`
/// from where a service serves, reported just before this transition; `null` (the key
/// removed) with any other transition, after which the run no longer serves there.
fn service_status(serving: Option<String>) -> Value {
    match serving {
        Some(url) => {
            let bare = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
            json!({ "url": bare, "urls": [url] })
        }
        None => Value::Null,
    }
}
