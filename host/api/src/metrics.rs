//! Prometheus metrics: runs by state (read from the store at each scrape, so every
//! replica reports the same truth), run submission latency, runtime call failures seen
//! by the API, runtime loads and swaps of this host, and request latency by route and
//! status.
//!
//! Why runs are counted from the store: with several replicas on one PostgreSQL store,
//! each host drives only some runs, so in-memory counters would report each replica's
//! share (and restart at zero); a count at scrape time is the same on every replica, and
//! `max` or any single replica gives the truth. The other metrics are per host:
//! latencies and failures are observed where they happen and summed across replicas.
//!
//! The `route` label is the matched route template (`/api/v1/-/{project}/runs/{id}`)
//! or `unmatched`, never the raw path, so ids and typos cannot grow the series without
//! bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use runplane_service::{RunService, Runtimes, ServiceEvent};
use tokio::sync::broadcast::error::RecvError;

use crate::AppState;
use crate::problem::PluginFailure;

/// Media type of the exposition.
pub(crate) const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `runplane_runs{state="RUNNING"}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

/// A runtime failure's kind: the engine's words for a failed call (`timeout`, `trap`,
/// `memory-limit`, …), or the control's for a failed plan (`plan`, `invalid`, …).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

/// How a runtime load ended: `loaded` or `failed` (refusals included).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// A request's method, matched route and response status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The host's Prometheus metrics, one set per [`router`](crate::router).
pub(crate) struct Metrics {
    /// What `/metrics` encodes; every metric below is registered in it.
    registry: Registry,
    /// `runplane_runs`: set from the store at each scrape, all states (zeros included).
    runs: Family<StateLabels, Gauge>,
    /// `runplane_run_submit_duration_seconds`: accepted runs only.
    submit: Histogram,
    /// `runplane_plan_duration_seconds`: the runtime's `plan` call of each run this
    /// host drives, in 18 buckets from 50 µs to about 6.5 s.
    plan: Histogram,
    /// `runplane_runtime_call_errors`: runtime failures answered by the API, and plan
    /// failures of the runs this host drives.
    runtime_errors: Family<KindLabels, Counter>,
    /// `runplane_api_request_duration_seconds`.
    requests: HistogramFamily<RequestLabels>,
    /// `runplane_runtime_loads_total`: runtime versions loaded or failed on this host,
    /// brought up to the service's counts at each scrape.
    loads: Family<OutcomeLabels, Counter>,
    /// `runplane_runtime_swaps_total`: swaps of a runtime's active version.
    swaps: Counter,
    /// `runplane_runtime_load_seconds_total`: time spent in successful loads.
    load_seconds: Counter<f64, AtomicU64>,
    /// `runplane_runtime_versions_loaded`: versions this host holds, active or not.
    versions: Gauge,
}

/// Latency buckets from 1 ms to about 33 s (16 buckets): a read answers in
/// milliseconds, a stop may wait up to a minute and then lands in `+Inf`.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Metrics {
    /// Every metric registered, before any observation; the help texts are what
    /// `/metrics` shows.
    pub(crate) fn new() -> Self {
        let mut registry = Registry::default();
        let runs = Family::<StateLabels, Gauge>::default();
        registry.register("runplane_runs", "Runs by current state", runs.clone());
        let submit = latency();
        registry.register(
            "runplane_run_submit_duration_seconds",
            "Time to accept a run: resolve, validate with its runtime, persist",
            submit.clone(),
        );
        let plan = Histogram::new(exponential_buckets(0.000_05, 2.0, 18));
        registry.register(
            "runplane_plan_duration_seconds",
            "Time of the runtime's plan call for each run driven by this host",
            plan.clone(),
        );
        let runtime_errors = Family::<KindLabels, Counter>::default();
        registry.register(
            "runplane_runtime_call_errors",
            "Runtime failures, by kind (trap, timeout, memory-limit, plan, …): answered by the API, or met while planning a run",
            runtime_errors.clone(),
        );
        let requests: HistogramFamily<RequestLabels> = Family::new_with_constructor(latency);
        registry.register(
            "runplane_api_request_duration_seconds",
            "API request latency (to the response head) by method, route and status",
            requests.clone(),
        );
        let loads = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "runplane_runtime_loads",
            "Runtime versions loaded (uploads, plugin files, stored versions) or failed, on this host",
            loads.clone(),
        );
        let swaps = Counter::default();
        registry.register(
            "runplane_runtime_swaps",
            "Swaps of a runtime's active version on this host",
            swaps.clone(),
        );
        let load_seconds = Counter::<f64, AtomicU64>::default();
        registry.register(
            "runplane_runtime_load_seconds",
            "Time spent loading runtime versions that loaded (compile or cache, info, checks)",
            load_seconds.clone(),
        );
        let versions = Gauge::default();
        registry.register(
            "runplane_runtime_versions_loaded",
            "Runtime versions this host holds in memory, active or not",
            versions.clone(),
        );
        Metrics {
            registry,
            runs,
            submit,
            plan,
            runtime_errors,
            requests,
            loads,
            swaps,
            load_seconds,
            versions,
        }
    }

    /// Records the time one run submission took.
    pub(crate) fn observe_submit(&self, took: Duration) {
        self.submit.observe(took.as_secs_f64());
    }

    /// Counts the plan calls of the runs `service` drives, until the service goes. Holds
    /// only a subscription (the service handle is dropped at once), so this task never
    /// keeps the service alive; it ends when the service's event channel closes. A
    /// lagging subscription loses those observations rather than blocking the service.
    pub(crate) async fn follow_plans(self: Arc<Self>, service: RunService) {
        let mut events = service.subscribe();
        drop(service);
        loop {
            match events.recv().await {
                Ok(ServiceEvent::Planned { took, failure, .. }) => {
                    self.plan.observe(took.as_secs_f64());
                    if let Some(kind) = failure {
                        self.runtime_errors
                            .get_or_create(&KindLabels { kind })
                            .inc();
                    }
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
        }
    }

    /// The exposition text, with the run gauges refreshed from the store. When the store
    /// cannot be read the scrape still succeeds, with the gauges of the previous one (and
    /// a warning in the log): a scrape failure would hide every other metric too.
    pub(crate) async fn render(&self, state: &AppState) -> String {
        match state.runs.count_by_state().await {
            Ok(counts) => {
                for (run_state, count) in counts {
                    self.runs
                        .get_or_create(&StateLabels {
                            state: run_state.as_str(),
                        })
                        .set(count);
                }
            }
            Err(error) => tracing::warn!(%error, "cannot count runs for the metrics"),
        }
        self.follow_runtimes(&state.runtimes);
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String does not fail");
        text
    }
}

impl Metrics {
    /// Brings the runtime metrics up to the service's counts (which only grow).
    fn follow_runtimes(&self, runtimes: &Runtimes) {
        let counts = runtimes.counts();
        let catch_up = |counter: &Counter, count: &std::sync::atomic::AtomicU64| {
            let count = count.load(Ordering::Relaxed);
            counter.inc_by(count.saturating_sub(counter.get()));
        };
        catch_up(
            &self
                .loads
                .get_or_create(&OutcomeLabels { outcome: "loaded" }),
            &counts.loaded,
        );
        catch_up(
            &self
                .loads
                .get_or_create(&OutcomeLabels { outcome: "failed" }),
            &counts.failed,
        );
        catch_up(&self.swaps, &counts.swaps);
        let seconds = counts.load_micros.load(Ordering::Relaxed) as f64 / 1e6;
        self.load_seconds
            .inc_by((seconds - self.load_seconds.get()).max(0.0));
        self.versions
            .set(i64::try_from(runtimes.loaded_versions()).unwrap_or(i64::MAX));
    }
}

/// Middleware: request latency by route, and the runtime failures problems carry.
/// Latency is measured to the response head: a streamed body (logs, events) counts
/// for the time it took to start, not for how long it was followed.
pub(crate) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_string();
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let metrics = &state.metrics;
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .observe(started.elapsed().as_secs_f64());
    if let Some(PluginFailure(kind)) = response.extensions().get::<PluginFailure>() {
        metrics
            .runtime_errors
            .get_or_create(&KindLabels { kind })
            .inc();
    }
    response
}
