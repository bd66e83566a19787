//! A run's output lines, wherever they are: in the store for local runs (the host read
//! them from the process), in the pods for Kubernetes runs (read through the API server).

use std::collections::VecDeque;

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use runplane_model::{RunId, Target};
use runplane_store::Store;
use runplane_target_kubernetes::policy;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::runs::{RunService, ServiceEvent};
use crate::{Error, Result};

/// A run's output, line by line (without newlines).
pub type LogStream = BoxStream<'static, Result<String>>;

pub(crate) async fn open(service: &RunService, id: &RunId, follow: bool) -> Result<LogStream> {
    let stored = service.get(id).await?;
    if stored.run.target == Target::Kubernetes {
        let cluster = service.inner.control.kubernetes().ok_or(Error::NoCluster)?;
        let lines = cluster
            .logs(policy::namespace_of(&stored.run), id.as_str(), follow)
            .await?;
        return Ok(lines.map_err(Error::from).boxed());
    }
    // Subscribe before reading the store, so no line falls between the two.
    let events = service.subscribe();
    let store = service.inner.store.clone();
    let written = store.logs(id, 0, 0).await?;
    let last = written.last().map_or(0, |line| line.seq);
    let head = stream::iter(written.into_iter().map(|line| Ok(line.line)));
    if !follow || !service.is_driving(id) {
        return Ok(head.boxed());
    }
    let tail = Tail {
        id: id.clone(),
        store,
        events,
        last,
        pending: VecDeque::new(),
    };
    Ok(head.chain(stream::unfold(tail, Tail::next)).boxed())
}

/// Follows new lines of a live local run until its driver finishes.
struct Tail {
    id: RunId,
    store: Store,
    events: broadcast::Receiver<ServiceEvent>,
    /// Sequence number of the last line given out.
    last: i64,
    /// Lines read back from the store after falling behind.
    pending: VecDeque<String>,
}

impl Tail {
    async fn next(mut self) -> Option<(Result<String>, Tail)> {
        loop {
            if let Some(line) = self.pending.pop_front() {
                return Some((Ok(line), self));
            }
            match self.events.recv().await {
                Ok(ServiceEvent::Log { run, line }) if run == self.id && line.seq > self.last => {
                    self.last = line.seq;
                    return Some((Ok(line.line), self));
                }
                Ok(ServiceEvent::Finished { run }) if run == self.id => return None,
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => {
                    // Missed events: the store has every line.
                    match self.store.logs(&self.id, self.last, 0).await {
                        Ok(lines) => {
                            self.last = lines.last().map_or(self.last, |line| line.seq);
                            self.pending.extend(lines.into_iter().map(|line| line.line));
                        }
                        Err(error) => return Some((Err(error.into()), self)),
                    }
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}
