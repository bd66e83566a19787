//! The scheduler pass: every running schedule whose next due time has come fires once
//! per due time, and its cursor (`next_due`) moves past it.
//!
//! Every host runs the pass every second. For each due time the run is started first,
//! under the key `trigger/<id>/<due time>`, and only then is `next_due` advanced, by a
//! write conditional on the trigger's version: a host that loses that race (another
//! advanced it) leaves the trigger to the winner, and one that dies in between leaves
//! a due time whose run the next host's start finds already there.
//!
//! A due time is *missed* when it is more than [`MISSED_AFTER`] old when a host first
//! sees it: no host was up to fire it. `spec.missed` decides: `once` (the default)
//! starts one run for the latest missed due time, `skip` none; either way the schedule
//! goes on from the first due time that is not missed.

use std::time::Duration;

use runplane_model::Trigger;
use serde_json::json;
use time::OffsetDateTime;

use super::firing::{self, Firing, Outcome};
use super::spec::{Missed, Rule, Spec};
use super::{Triggers, recorded};
use crate::{Error, Result};

/// How late a due time may be seen and still fire as itself; older ones are missed.
pub const MISSED_AFTER: Duration = Duration::from_secs(60);

/// Fires every schedule due at `now`.
pub(crate) async fn pass(triggers: &Triggers, now: OffsetDateTime) -> Result<()> {
    for trigger in triggers.store().due_triggers(now).await? {
        let id = trigger.id.clone();
        if let Err(error) = catch_up(triggers, trigger, now).await {
            tracing::warn!(trigger = %id, %error, "a schedule did not fire; the next pass retries");
        }
    }
    Ok(())
}

/// Fires `trigger`'s due times up to `now`, one at a time, until its cursor is past
/// `now` or another host moved it.
async fn catch_up(triggers: &Triggers, mut trigger: Trigger, now: OffsetDateTime) -> Result<()> {
    let spec = match Spec::parse(trigger.kind, &trigger.project, &trigger.spec) {
        Ok(spec) => spec,
        Err(error) => return triggers.refuse(&trigger, &error.to_string()).await,
    };
    let Rule::Schedule { schedule, missed } = &spec.rule else {
        return Ok(());
    };
    let schedule_text = trigger.spec.get("schedule").cloned();
    while let Some(due) = trigger.next_due.filter(|due| *due <= now) {
        let fresh_from = now - MISSED_AFTER;
        let (fire_at, next, note) = if due >= fresh_from {
            (Some(due), schedule.after(due), None)
        } else {
            let latest = schedule.at_or_before(fresh_from).unwrap_or(due).max(due);
            let note = format!(
                "due times from {} to {} were missed while no host was up",
                firing::rfc3339(due),
                firing::rfc3339(latest)
            );
            let fire_at = (*missed == Missed::Once).then_some(latest);
            (fire_at, schedule.after(latest), Some(note))
        };
        let next = next.map_err(Error::Conflict)?;
        if let Some(at) = fire_at {
            let firing = Firing {
                key: format!("trigger/{}/{}", trigger.id, firing::rfc3339(at)),
                timestamp: at,
                details: json!({"timestamp": firing::rfc3339(at), "schedule": schedule_text}),
            };
            let started = triggers.started(&trigger.project, &firing.key).await?;
            let run = match started {
                Some(run) => run,
                None => match firing::fire(triggers.runs(), &trigger, &spec, &firing).await {
                    Outcome::Started(run) => run,
                    Outcome::Refused(message) => return triggers.refuse(&trigger, &message).await,
                    Outcome::Retry(error) => return Err(error),
                },
            };
            trigger.last_fired = Some(recorded(&firing, &run));
        }
        if let Some(note) = note {
            trigger.message = Some(match missed {
                Missed::Once => {
                    format!("{note}: one run started for the latest (spec.missed: once)")
                }
                Missed::Skip => format!("{note}: skipped (spec.missed: skip)"),
            });
        }
        trigger.next_due = Some(next);
        let version = trigger.version;
        match triggers.store().replace_trigger(&trigger, version).await {
            Ok(written) => trigger = written,
            // Another host advanced it (or it was stopped or changed): theirs now.
            Err(runplane_store::Error::Conflict { .. } | runplane_store::Error::NotFound(_)) => {
                return Ok(());
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}
