//! The lifecycle sweep: runs of a watched function entering a watched state start the
//! trigger's run, once per run and state, whichever host saw the transition and even if
//! that host died right after it.
//!
//! The sweep reads the store, not one host's events: the `transitions` table, joined
//! with the runs of the watched function, from the trigger's cursor (`seen_until`)
//! minus [`WINDOW`]. Transitions are stamped with their writer's clock before they
//! commit, so one may land with a time just before a cursor another host already moved
//! past it; the window reads those again. Each one fires under the key
//! `trigger/<id>/<run id>/<state>`, skipped when a run already carries that key, and
//! only then does the cursor move (conditionally on the trigger's version). Every host
//! sweeps every second, and at once when its own runs change state.
//!
//! [`cycle`] is the check made when a lifecycle trigger is created or changed: the
//! project's lifecycle triggers must not start each other in a loop.

use std::collections::HashMap;
use std::time::Duration;

use runplane_model::reference::run_key;
use runplane_model::{RunId, RunState, Trigger, TriggerKind};
use runplane_store::Watch;
use serde_json::{Value, json};

use super::firing::{self, Firing, Outcome};
use super::spec::{Rule, Spec};
use super::{Triggers, recorded};
use crate::Result;

/// How far before its cursor a trigger reads transitions again (see the module docs).
pub const WINDOW: Duration = Duration::from_secs(60);
/// Transitions read per trigger and pass; the rest wait for the next pass.
const BATCH: u32 = 500;

/// Fires every running lifecycle trigger on the transitions it has not fired on.
pub(crate) async fn pass(triggers: &Triggers) -> Result<()> {
    let running = triggers
        .store()
        .running_triggers(TriggerKind::Lifecycle)
        .await?;
    for trigger in running {
        let id = trigger.id.clone();
        if let Err(error) = sweep(triggers, trigger).await {
            tracing::warn!(trigger = %id, %error, "a lifecycle trigger did not fire; the next pass retries");
        }
    }
    Ok(())
}

/// Fires `trigger` on the transitions since its cursor (less the window).
async fn sweep(triggers: &Triggers, mut trigger: Trigger) -> Result<()> {
    let spec = match Spec::parse(trigger.kind, &trigger.project, &trigger.spec) {
        Ok(spec) => spec,
        Err(error) => return triggers.refuse(&trigger, &error.to_string()).await,
    };
    let Rule::Lifecycle { watched, states } = &spec.rule else {
        return Ok(());
    };
    let seen = trigger.seen_until.unwrap_or(trigger.activated);
    let after = (seen - WINDOW).max(trigger.activated);
    let watch = Watch {
        project: &trigger.project,
        kind: &watched.kind,
        function: &watched.name,
        version: watched.version.as_deref(),
        states,
    };
    let store = triggers.store();
    let transitions = store.watched_transitions(&watch, after, BATCH).await?;
    let Some(last) = transitions.last().map(|transition| transition.at) else {
        return Ok(());
    };
    let key = |run: &str, state: RunState| format!("trigger/{}/{run}/{state}", trigger.id);
    let keys: Vec<String> = transitions.iter().map(|t| key(&t.run_id, t.to)).collect();
    let started = store.started_keys(&trigger.project, &keys).await?;
    let mut fired = false;
    for transition in &transitions {
        let key = key(&transition.run_id, transition.to);
        if started.iter().any(|(done, _)| *done == key) {
            continue;
        }
        let Ok(input) = triggers
            .runs()
            .get(&RunId::from(transition.run_id.clone()))
            .await
        else {
            continue; // deleted since
        };
        let firing = Firing {
            key,
            timestamp: transition.at,
            details: json!({
                "timestamp": firing::rfc3339(transition.at),
                "key": run_key(&input.run.project, &input.kind, input.run.id.as_str()),
                "state": transition.to,
                "input": document(&input),
            }),
        };
        match firing::fire(triggers.runs(), &trigger, &spec, &firing).await {
            Outcome::Started(run) => trigger.last_fired = Some(recorded(&firing, &run)),
            Outcome::Refused(message) => return triggers.refuse(&trigger, &message).await,
            Outcome::Retry(error) => return Err(error),
        }
        fired = true;
    }
    if fired || last > seen {
        trigger.seen_until = Some(last.max(seen));
        let version = trigger.version;
        match store.replace_trigger(&trigger, version).await {
            Ok(_)
            | Err(runplane_store::Error::Conflict { .. } | runplane_store::Error::NotFound(_)) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// The watched run as a template reads it (`input`): `id`, `kind`, `project`, `key`,
/// `function`, `spec` (the run's own fields) and `status` (`state`, `outputs`, …).
fn document(stored: &runplane_model::StoredRun) -> Value {
    let mut status = stored.status.clone();
    if let Value::Object(fields) = &mut status {
        fields.insert("state".into(), json!(stored.run.state));
    }
    json!({
        "id": stored.run.id.as_str(),
        "kind": stored.kind,
        "project": stored.run.project,
        "key": run_key(&stored.run.project, &stored.kind, stored.run.id.as_str()),
        "function": stored.function_ref,
        "spec": stored.spec.run.spec,
        "status": status,
    })
}

/// An edge of the project's trigger graph: runs of `watched` start `started`.
#[derive(Clone, Debug)]
pub(crate) struct Edge {
    /// The trigger's name (for the message).
    pub(crate) trigger: String,
    /// The watched function's name.
    pub(crate) watched: String,
    /// The started function's name.
    pub(crate) started: String,
}

impl Edge {
    /// The edge of a lifecycle trigger's spec; `None` for a schedule.
    pub(crate) fn of(trigger: &str, spec: &Spec) -> Option<Edge> {
        match &spec.rule {
            Rule::Lifecycle { watched, .. } => Some(Edge {
                trigger: trigger.to_string(),
                watched: watched.name.clone(),
                started: spec.function.name.clone(),
            }),
            Rule::Schedule { .. } => None,
        }
    }
}

/// The loop `new` would close among `edges` (the project's other lifecycle triggers),
/// as text: `train → evaluate (trigger a) → train (trigger b)`.
pub(crate) fn cycle(edges: &[Edge], new: &Edge) -> Option<String> {
    let mut from: HashMap<&str, Vec<&Edge>> = HashMap::new();
    for edge in edges {
        from.entry(edge.watched.as_str()).or_default().push(edge);
    }
    // Depth-first from what `new` starts, looking for what it watches.
    let mut stack: Vec<Vec<&Edge>> = vec![vec![new]];
    let mut visited = Vec::new();
    while let Some(path) = stack.pop() {
        let tip = path.last().expect("a path has an edge").started.as_str();
        if tip == new.watched {
            let mut text = new.watched.clone();
            for edge in &path {
                text.push_str(&format!(" → {} (trigger {})", edge.started, edge.trigger));
            }
            return Some(text);
        }
        if visited.contains(&tip) {
            continue;
        }
        visited.push(tip);
        for edge in from.get(tip).into_iter().flatten() {
            let mut longer = path.clone();
            longer.push(edge);
            stack.push(longer);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(trigger: &str, watched: &str, started: &str) -> Edge {
        Edge {
            trigger: trigger.into(),
            watched: watched.into(),
            started: started.into(),
        }
    }

    #[test]
    fn a_trigger_closing_a_loop_is_named_with_the_loop() {
        let edges = [
            edge("a", "train", "evaluate"),
            edge("c", "report", "archive"),
        ];
        assert_eq!(
            cycle(&edges, &edge("b", "evaluate", "train")).as_deref(),
            Some("evaluate → train (trigger b) → evaluate (trigger a)")
        );
        assert_eq!(
            cycle(&[], &edge("self", "train", "train")).as_deref(),
            Some("train → train (trigger self)")
        );
        assert_eq!(cycle(&edges, &edge("d", "evaluate", "report")), None);
        let chain = [
            edge("a", "a", "b"),
            edge("b", "b", "c"),
            edge("c", "c", "d"),
        ];
        assert!(cycle(&chain, &edge("d", "d", "a")).is_some());
        assert!(cycle(&chain, &edge("e", "d", "e")).is_none());
    }
}
