//! A run's event stream: its stored transitions, then the live ones as the service
//! announces them, then `end` once the host no longer drives the run.
//!
//! The subscription is taken before the run is read, so no transition falls between
//! the two; transitions already sent are skipped when they come again live. A
//! subscriber that falls behind re-reads the store.

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
    service: RunService,
    id: RunId,
    events: broadcast::Receiver<ServiceEvent>,
    /// Transitions sent so far.
    sent: Vec<Transition>,
    /// Transitions to send before waiting for more.
    pending: VecDeque<Transition>,
    /// Whether to wait for live transitions once `pending` is empty.
    live: bool,
    draining: Option<Draining>,
    ended: bool,
}

/// The events of `stored`, with `events` subscribed before it was read and `driving`
/// whether the host drove the run before it was read.
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

    /// The `end` event, with the run's state as stored now.
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

fn transition_event(transition: &Transition) -> Event {
    StreamEvent {
        event: EventName::Transition,
        data: serde_json::to_string(&TransitionDto::from(transition))
            .expect("a transition serializes: strings and a time"),
    }
    .into_sse()
}
