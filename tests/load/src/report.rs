//! What the benchmark prints, and writes as JSON for whoever compares runs.

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use serde::Serialize;

use crate::load::Measured;

/// The whole run.
#[derive(Debug, Serialize)]
pub struct Report {
    /// How it was run.
    pub settings: Settings,
    /// One entry per backend measured.
    pub backends: Vec<Backend>,
    /// Backends not measured, with why.
    pub skipped: Vec<Skipped>,
}

/// How the benchmark was run.
#[derive(Debug, Serialize)]
pub struct Settings {
    /// Concurrent clients.
    pub clients: usize,
    /// Timed create requests per phase.
    pub requests: u64,
    /// Length of each GET phase, in seconds.
    pub get_seconds: f64,
    /// Cores of the machine (client, servers and runs share them).
    pub cores: usize,
}

/// A backend that was not measured.
#[derive(Debug, Serialize)]
pub struct Skipped {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Why.
    pub reason: String,
}

/// The figures of one store backend.
#[derive(Debug, Serialize)]
pub struct Backend {
    /// `sqlite` or `postgres`.
    pub name: String,
    /// `POST /api/v1/-/bench/runs` through the API.
    pub create: Figures,
    /// The same requests to the plain handler.
    pub create_baseline: Figures,
    /// `GET /api/v1/-/bench/runs/{id}` through the API.
    pub get: Figures,
    /// The same requests to the plain handler.
    pub get_baseline: Figures,
    /// `GET /api/v1/-/bench/runs?state=COMPLETED&page=0&size=20` (a page of 20, as the
    /// original platform's SDK lists runs) through the API.
    pub list: Figures,
    /// The same requests to the plain handler.
    pub list_baseline: Figures,
    /// What became of the runs the create phase started.
    pub runs: Runs,
    /// API / baseline.
    pub ratios: Ratios,
}

/// What became of the created runs (each one a real python process).
#[derive(Debug, Serialize)]
pub struct Runs {
    /// Runs created (timed and warm-up requests).
    pub created: usize,
    /// Runs already over when the last create request was answered.
    pub over_when_creation_ended: usize,
    /// Runs that ended COMPLETED.
    pub completed: usize,
    /// Runs that ended in another state.
    pub not_completed: usize,
    /// Seconds from the end of the create phase until every run was over.
    pub drain_seconds: f64,
    /// CPU time of this process per run, from the first create request until every run
    /// was over: accepting and driving it (with the client's share), milliseconds.
    pub host_cpu_ms_per_run: f64,
    /// CPU time of the run's own processes (python3 and what starts it), milliseconds.
    pub process_cpu_ms_per_run: f64,
}

/// Figures of one phase.
#[derive(Debug, Serialize)]
pub struct Figures {
    /// Timed requests answered as expected.
    pub requests: u64,
    /// Requests answered otherwise.
    pub failed: u64,
    /// Length of the timed part.
    pub seconds: f64,
    /// Requests per second.
    pub per_second: f64,
    /// Median latency, microseconds.
    pub p50_us: u64,
    /// 99th percentile latency, microseconds.
    pub p99_us: u64,
    /// Largest latency, microseconds.
    pub max_us: u64,
    /// CPU time of the whole process (client and servers) per request, microseconds.
    pub cpu_us_per_request: u64,
}

impl From<&Measured> for Figures {
    fn from(measured: &Measured) -> Self {
        Figures {
            requests: measured.ok,
            failed: measured.failed,
            seconds: measured.elapsed.as_secs_f64(),
            per_second: measured.throughput(),
            p50_us: measured.latency.value_at_quantile(0.50),
            p99_us: measured.latency.value_at_quantile(0.99),
            max_us: measured.latency.max(),
            cpu_us_per_request: measured.cpu_per_request().as_micros() as u64,
        }
    }
}

/// API figure / baseline figure: how much the API costs over bare HTTP and JSON.
#[derive(Debug, Serialize)]
pub struct Ratios {
    /// Create p99, API / baseline.
    pub create_p99: f64,
    /// Create throughput, API / baseline.
    pub create_throughput: f64,
    /// GET p99, API / baseline.
    pub get_p99: f64,
    /// GET throughput, API / baseline.
    pub get_throughput: f64,
    /// List p99, API / baseline.
    pub list_p99: f64,
    /// List throughput, API / baseline.
    pub list_throughput: f64,
}

impl Ratios {
    /// The ratios of a backend's figures, each phase's `(API, baseline)`.
    pub fn of(
        (create, create_baseline): (&Figures, &Figures),
        (get, get_baseline): (&Figures, &Figures),
        (list, list_baseline): (&Figures, &Figures),
    ) -> Ratios {
        let ratio = |api: f64, baseline: f64| api / baseline.max(f64::MIN_POSITIVE);
        Ratios {
            create_p99: ratio(create.p99_us as f64, create_baseline.p99_us as f64),
            create_throughput: ratio(create.per_second, create_baseline.per_second),
            get_p99: ratio(get.p99_us as f64, get_baseline.p99_us as f64),
            get_throughput: ratio(get.per_second, get_baseline.per_second),
            list_p99: ratio(list.p99_us as f64, list_baseline.p99_us as f64),
            list_throughput: ratio(list.per_second, list_baseline.per_second),
        }
    }
}

impl Backend {
    /// The backend's table, its ratios and what became of its runs.
    pub fn render(&self) -> String {
        let mut table = Table::new();
        table.load_preset(UTF8_BORDERS_ONLY).set_header([
            "phase",
            "requests",
            "failed",
            "req/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "CPU µs/req",
        ]);
        let ms = |us: u64| format!("{:.3}", us as f64 / 1000.0);
        for (phase, figures) in [
            ("create run (API)", &self.create),
            ("create run (baseline)", &self.create_baseline),
            ("GET run (API)", &self.get),
            ("GET run (baseline)", &self.get_baseline),
            ("list runs (API)", &self.list),
            ("list runs (baseline)", &self.list_baseline),
        ] {
            table.add_row([
                phase.to_string(),
                figures.requests.to_string(),
                figures.failed.to_string(),
                format!("{:.0}", figures.per_second),
                ms(figures.p50_us),
                ms(figures.p99_us),
                ms(figures.max_us),
                figures.cpu_us_per_request.to_string(),
            ]);
        }
        let mut text = format!("{}\n{table}\n", self.name);
        let ratios = &self.ratios;
        text.push_str(&format!(
            "  API / baseline: create p99 {}, create throughput {}, GET p99 {}, GET \
             throughput {}, list p99 {}, list throughput {}\n",
            significant(ratios.create_p99),
            significant(ratios.create_throughput),
            significant(ratios.get_p99),
            significant(ratios.get_throughput),
            significant(ratios.list_p99),
            significant(ratios.list_throughput),
        ));
        let runs = &self.runs;
        text.push_str(&format!(
            "  runs: {} created, {} over when the create phase ended, {} COMPLETED and {} not \
             after {:.1} s more\n  CPU per run: host {:.1} ms (accept and drive, client \
             included), the run's processes {:.1} ms\n",
            runs.created,
            runs.over_when_creation_ended,
            runs.completed,
            runs.not_completed,
            runs.drain_seconds,
            runs.host_cpu_ms_per_run,
            runs.process_cpu_ms_per_run,
        ));
        text
    }
}

/// `value` with three significant digits (ratios span from 0.001 to 10000).
fn significant(value: f64) -> String {
    let decimals = if value > 0.0 {
        (2 - value.log10().floor() as i32).max(0) as usize
    } else {
        2
    };
    format!("{value:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::significant;

    #[test]
    fn ratios_keep_three_significant_digits() {
        assert_eq!(significant(0.000_244), "0.000244");
        assert_eq!(significant(0.123_4), "0.123");
        assert_eq!(significant(4.567), "4.57");
        assert_eq!(significant(3721.78), "3722");
        assert_eq!(significant(0.0), "0.00");
    }
}
