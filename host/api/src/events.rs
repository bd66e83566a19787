//! A run's event stream: its stored transitions, then the live ones as the service
//! announces them, then `end` once the host no longer drives the run.
//!
//! The subscription is taken before the run is read, so no transition falls between
//! the two; transitions already sent are skipped when they come again live. A
//! subscriber that falls behind re-reads the store.
//!
//! Live transitions come from this host's service only. A run that this host does not
//! drive (finished, or driven by another replica sharing the store) gets its stored
//! transitions and `end` at once: a client that wants a live view of such a run asks
//! the replica driving it, or polls. On shutdown ([`Draining`]) the stream ends with
//! `end` too, carrying the state as stored, so a client never waits on a host that is
//! going away.

use std::collections::VecDeque;
use std::convert::Infallible;

use axum::response::sse::Event;
use futures::stream::{self, Stream};
use runplane_model::{RunId, StoredRun, Transition};
use runplane_service::{RunService, ServiceEvent};
use serde::Serialize;
use tokio::sync::broadcast::{self, error::RecvError};
use utoipa::ToSchema;

use crate::Draining;
use crate::dto::TransitionDto;

/// One event of a run's stream, as the document describes it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StreamEvent {
    /// What the event is.
    event: EventName,
    /// JSON: a transition (`{"status", "time", "message"}`) or, for `end`, the run's
    /// state (`{"state"}`).
    data: String,
}

/// Names of a run stream's events.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum EventName {
    /// The run entered a state.
    Transition,
    /// The host no longer drives the run: nothing follows.
    End,
}

impl StreamEvent {
    fn into_sse(self) -> Event {
        let name = match self.event {
            EventName::Transition => "transition",
            EventName::End => "end",
        };
        Event::default().event(name).data(self.data)
    }
}

/// Where a run's stream is.
struct Follow {
    /// Read again on lag and for the state of `end`.
    service: RunService,
    id: RunId,
    /// Every run's events, subscribed before the run was read; others' are skipped.
    events: broadcast::Receiver<ServiceEvent>,
    /// Transitions sent so far, to skip them when a re-read of the store or the live
    /// feed brings them again (searched linearly: quadratic in the history's length).
    sent: Vec<Transition>,
    /// Transitions to send before waiting for more.
    pending: VecDeque<Transition>,
    /// Whether to wait for live transitions once `pending` is empty: true while the
    /// host drives the run, false after its `Finished` event (or a closed feed).
    live: bool,
    /// Set when served by [`serve`](crate::serve): the shutdown that ends the stream.
    draining: Option<Draining>,
    /// `end` was sent: the stream yields nothing more.
    ended: bool,
}

/// The events of `stored`, with `events` subscribed before it was read and `driving`
/// whether the host drove the run before it was read. The caller must keep that order
/// (subscribe, ask, read): it is what guarantees no transition and no end is missed.
pub(crate) fn follow(
    service: RunService,
    stored: StoredRun,
    events: broadcast::Receiver<ServiceEvent>,
    driving: bool,
    draining: Option<Draining>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let follow = Follow {
        service,
        id: stored.run.id.clone(),
        events,
        sent: Vec::new(),
        pending: stored.run.history.into(),
        live: driving,
        draining,
        ended: false,
    };
    stream::unfold(follow, |mut follow| async move {
        let event = follow.next().await?;
        Some((Ok(event), follow))
    })
}

impl Follow {
    /// The next event: a pending transition not sent yet, else (while live) the next
    /// one of this run from the feed, else `end`; `None` once `end` was sent.
    async fn next(&mut self) -> Option<Event> {
        if self.ended {
            return None;
        }
        loop {
            if let Some(transition) = self.pending.pop_front() {
                if self.sent.contains(&transition) {
                    continue;
                }
                let event = transition_event(&transition);
                self.sent.push(transition);
                return Some(event);
            }
            if !self.live {
                return Some(self.end().await);
            }
            let received = match self.draining.clone() {
                Some(draining) => tokio::select! {
                    received = self.events.recv() => received,
                    () = draining.started() => return Some(self.end().await),
                },
                None => self.events.recv().await,
            };
            match received {
                Ok(ServiceEvent::Transition { run, transition }) if run == self.id => {
                    self.pending.push_back(transition);
                }
                Ok(ServiceEvent::Finished { run }) if run == self.id => self.live = false,
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => match self.service.get(&self.id).await {
                    Ok(stored) => self.pending.extend(stored.run.history),
                    Err(error) => {
                        tracing::warn!(run = %self.id, %error, "event stream cannot catch up");
                        self.live = false;
                    }
                },
                Err(RecvError::Closed) => self.live = false,
            }
        }
    }

    /// The `end` event, with the run's state as stored now (`{}` when it cannot be read:
    /// the stream ends either way).
    async fn end(&mut self) -> Event {
        self.ended = true;
        let data = match self.service.get(&self.id).await {
            Ok(stored) => serde_json::json!({ "state": stored.run.state }),
            Err(_) => serde_json::json!({}),
        };
        StreamEvent {
            event: EventName::End,
            data: data.to_string(),
        }
        .into_sse()
    }
}

/// A `transition` event whose data is the transition as `GET …/runs/{id}` shows it in
/// `status.transitions`.
fn transition_event(transition: &Transition) -> Event {
    StreamEvent {
        event: EventName::Transition,
        data: serde_json::to_string(&TransitionDto::from(transition))
            .expect("a transition serializes: strings and a time"),
    }
    .into_sse()
}
