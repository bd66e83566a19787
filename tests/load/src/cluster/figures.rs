//! The benchmark's figures: lag histograms, one table per size, the JSON file.

use std::time::Instant;

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::cluster::memory::Memory;
use crate::cluster::metrics::Counts;

/// The whole run.
#[derive(Debug, Serialize)]
pub struct Report {
    /// How it was run.
    pub settings: Settings,
    /// Before the host opened anything.
    pub baseline: Baseline,
    /// One entry per number of runs.
    pub sizes: Vec<Size>,
}

/// How the benchmark was run.
#[derive(Debug, Serialize)]
pub struct Settings {
    /// Runs between submission and READY at once (host), runs being applied at once
    /// (baseline).
    pub concurrency: usize,
    /// How long kwok keeps each pod Running (`runplane.io/simulate-delay`).
    pub pod_runs_for: String,
    /// Cores of the machine (host, benchmark and the whole control plane share them).
    pub cores: usize,
    /// The plane's run dir.
    pub plane_dir: String,
    /// Whether the runtime components were compiled first (no cache yet), by worker
    /// processes as `runplane serve` compiles them.
    pub components_compiled: bool,
}

/// The process and the API server before the host's first run.
#[derive(Debug, Serialize)]
pub struct Baseline {
    /// The host's process: runtimes loaded, no cluster opened yet.
    pub memory: Memory,
    /// The process of the benchmark's own watchers ([`crate::cluster::seen`]).
    pub watchers_memory: Memory,
    /// Open watches of the kinds the host watches, every client's (these are taken
    /// off the later counts).
    pub watches: Counts,
}

/// The figures of one number of runs.
#[derive(Debug, Serialize)]
pub struct Size {
    /// Runs submitted (and manifests applied by the baseline).
    pub runs: usize,
    /// The host's side.
    pub host: HostFigures,
    /// The plain apply loop.
    pub raw: RawFigures,
    /// Host runs/s over raw runs/s.
    pub throughput_ratio: f64,
    /// Pod Succeeded (seen by the benchmark's watcher) to the run's COMPLETED event.
    pub lag_from_pod_succeeded: Lag,
    /// Pod Succeeded to Job Complete, both seen by the benchmark's watchers: the Job
    /// controller's share of the lag above (the python runtime reads a job's end from
    /// its Job's `Complete` condition).
    pub lag_job_controller: Lag,
    /// Job Complete (seen by the benchmark's watcher) to the run's COMPLETED event: the
    /// host's own share.
    pub lag_from_job_complete: Lag,
    /// The host's process when every run was READY (submission over): the host and
    /// the benchmark's driver of the runs (a task and an outcome per run).
    pub memory_all_ready: Memory,
    /// The host's process when every run had ended.
    pub memory_end: Memory,
    /// The process of the benchmark's own watchers when every run was READY.
    pub watchers_all_ready: Memory,
    /// The same when every run had ended.
    pub watchers_end: Memory,
    /// Watches the host opened, per resource, when every run was READY: the API
    /// server's open watches minus the baseline.
    pub host_watches: Counts,
    /// Requests the API server served during the host phase (submission to the last
    /// run's end), by verb, every client's.
    pub host_requests: Counts,
    /// Requests the API server served during the baseline's applies, by verb, every
    /// client's.
    pub raw_requests: Counts,
    /// Seconds the namespace deletions after the phases took (`null`: timed out).
    pub cleanup_seconds: Vec<Option<f64>>,
}

/// The host's submission and runs.
#[derive(Debug, Serialize)]
pub struct HostFigures {
    /// Runs submitted.
    pub submitted: usize,
    /// Runs that reached READY by the end of the submission.
    pub ready: usize,
    /// Runs that ended COMPLETED.
    pub completed: usize,
    /// Runs that ended otherwise.
    pub not_completed: usize,
    /// Runs still going at the timeout.
    pub abandoned: usize,
    /// First submission to the moment every run was READY (or over, or the timeout).
    pub seconds_to_ready: f64,
    /// READY runs per second over that time.
    pub runs_per_second: f64,
    /// First submission to the last run's end.
    pub seconds_to_end: f64,
    /// The most runs live (READY, not yet over) at once.
    pub peak_live: usize,
    /// Why the first run that did not complete ended as it did.
    pub first_failure: Option<String>,
}

/// The plain apply loop.
#[derive(Debug, Serialize)]
pub struct RawFigures {
    /// Runs whose every object was applied.
    pub applied: usize,
    /// Runs with a refused apply.
    pub failed: usize,
    /// First apply to the last run applied.
    pub seconds: f64,
    /// Runs applied per second.
    pub runs_per_second: f64,
    /// The first refusal.
    pub first_error: Option<String>,
}

/// A lag distribution, milliseconds.
#[derive(Debug, Default, Serialize)]
pub struct Lag {
    /// Runs measured.
    pub runs: u64,
    /// Runs whose reference event the benchmark never saw.
    pub without_reference: usize,
    /// Runs whose end came before their reference event reached the benchmark (counted
    /// as 0).
    pub negative: usize,
    /// The most an end came before its reference: how far the benchmark's own watcher
    /// trailed the host's, the noise of the reference itself.
    pub most_before_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl Lag {
    /// The lag from `reference` to `end` of every pair (a run's); a missing reference is
    /// counted apart.
    pub fn of(pairs: impl IntoIterator<Item = (Option<Instant>, Instant)>) -> Lag {
        let mut histogram =
            Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds");
        let mut lag = Lag::default();
        for (reference, end) in pairs {
            let Some(reference) = reference else {
                lag.without_reference += 1;
                continue;
            };
            if end < reference {
                lag.negative += 1;
                let before = (reference - end).as_secs_f64() * 1000.0;
                lag.most_before_ms = lag.most_before_ms.max(before);
            }
            let micros = end.saturating_duration_since(reference).as_micros();
            histogram.saturating_record(u64::try_from(micros).unwrap_or(u64::MAX).max(1));
        }
        let ms = |us: u64| us as f64 / 1000.0;
        lag.runs = histogram.len();
        if lag.runs > 0 {
            lag.p50_ms = ms(histogram.value_at_quantile(0.50));
            lag.p99_ms = ms(histogram.value_at_quantile(0.99));
            lag.max_ms = ms(histogram.max());
        }
        lag
    }

    /// `p50 …, p99 …, max … (n runs, …)`, or `not measured`.
    pub fn render(&self) -> String {
        if self.runs == 0 {
            return "not measured".into();
        }
        let mut text = format!(
            "p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} runs",
            self.p50_ms, self.p99_ms, self.max_ms, self.runs
        );
        if self.without_reference > 0 {
            text.push_str(&format!(", {} unseen", self.without_reference));
        }
        if self.negative > 0 {
            text.push_str(&format!(
                ", {} before it, by up to {:.0} ms",
                self.negative, self.most_before_ms
            ));
        }
        text + ")"
    }
}

impl Size {
    /// The size's table: figure, value, goal.
    pub fn render(&self) -> String {
        let mut table = Table::new();
        table
            .load_preset(UTF8_BORDERS_ONLY)
            .set_header(["figure", "value", "goal"]);
        let (host, raw) = (&self.host, &self.raw);
        let rows = [
            (
                "runs",
                format!(
                    "{} submitted: {} READY, {} COMPLETED, {} not, {} abandoned at the \
                     timeout; at most {} live",
                    host.submitted,
                    host.ready,
                    host.completed,
                    host.not_completed,
                    host.abandoned,
                    host.peak_live
                ),
                "",
            ),
            (
                "submission, host",
                format!(
                    "{:.1} runs/s ({:.1} s until every run was READY)",
                    host.runs_per_second, host.seconds_to_ready
                ),
                "",
            ),
            (
                "submission, plain kube SSA",
                format!(
                    "{:.1} runs/s ({:.1} s, {} failed)",
                    raw.runs_per_second, raw.seconds, raw.failed
                ),
                "",
            ),
            (
                "throughput host / raw",
                format!("{:.2}", self.throughput_ratio),
                "≥ 0.8",
            ),
            (
                "lag pod Succeeded → COMPLETED",
                self.lag_from_pod_succeeded.render(),
                "p99 < 1 s",
            ),
            (
                "  pod Succeeded → Job Complete",
                self.lag_job_controller.render(),
                "",
            ),
            (
                "  Job Complete → COMPLETED",
                self.lag_from_job_complete.render(),
                "",
            ),
            (
                "host RSS, every run READY",
                render_memory(&self.memory_all_ready),
                "< 300 MiB at 10,000",
            ),
            ("  by mapping", render_mappings(&self.memory_all_ready), ""),
            (
                "host RSS, every run over",
                render_memory(&self.memory_end),
                "",
            ),
            ("  by mapping", render_mappings(&self.memory_end), ""),
            (
                "benchmark's watchers RSS, READY / over",
                format!(
                    "{} / {}",
                    render_memory(&self.watchers_all_ready),
                    render_memory(&self.watchers_end)
                ),
                "",
            ),
            (
                "host watches",
                render_counts(&self.host_watches, None),
                "≤ 1 per kind",
            ),
            (
                "API requests, host phase",
                render_counts(&self.host_requests, Some(host.submitted)),
                "",
            ),
            (
                "API requests, plain SSA",
                render_counts(&self.raw_requests, Some(raw.applied + raw.failed)),
                "",
            ),
        ];
        for (figure, value, goal) in rows {
            table.add_row([figure.to_string(), value, goal.to_string()]);
        }
        let mut text = format!("{} runs\n{table}\n", self.runs);
        if let Some(failure) = &host.first_failure {
            text.push_str(&format!("  first run not COMPLETED: {failure}\n"));
        }
        if let Some(error) = &raw.first_error {
            text.push_str(&format!("  first refused raw apply: {error}\n"));
        }
        text
    }
}

/// `RSS (anon, file; peak)`.
pub(crate) fn render_memory(memory: &Memory) -> String {
    format!(
        "{:.0} MiB ({:.0} anonymous, {:.0} files; peak {:.0})",
        memory.rss_mib, memory.anon_mib, memory.file_mib, memory.peak_mib
    )
}

/// Resident MiB by kind of mapping.
pub(crate) fn render_mappings(memory: &Memory) -> String {
    let parts = &memory.by_mapping;
    format!(
        "malloc {:.0} (main {:.0}, arenas {:.0}), wasm pools {:.0}, code in anonymous memory \
         {:.0}, other anonymous {:.0}, files {:.0}",
        parts.malloc_main_mib + parts.malloc_arenas_mib,
        parts.malloc_main_mib,
        parts.malloc_arenas_mib,
        parts.wasm_pools_mib,
        parts.anon_code_mib,
        parts.other_anon_mib,
        parts.files_mib
    )
}

/// `KEY n, …`, largest first; with `per` (runs), each also per run.
pub(crate) fn render_counts(counts: &Counts, per: Option<usize>) -> String {
    if counts.is_empty() {
        return "none".into();
    }
    let mut sorted: Vec<(&String, &i64)> = counts.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    sorted
        .into_iter()
        .map(|(key, n)| match per {
            Some(runs) if runs > 0 => format!("{key} {n} ({:.1}/run)", *n as f64 / runs as f64),
            _ => format!("{key} {n}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn lag_counts_what_it_cannot_measure() {
        let now = Instant::now();
        let later = now + Duration::from_millis(200);
        let lag = Lag::of([(Some(now), later), (None, later), (Some(later), now)]);
        assert_eq!((lag.runs, lag.without_reference, lag.negative), (2, 1, 1));
        assert!((lag.most_before_ms - 200.0).abs() < 1.0, "{lag:?}");
        assert!((lag.max_ms - 200.0).abs() < 1.0, "{lag:?}");
    }
}
