//! The runtime swap benchmark (`make bench-swap`, issue 11): what hot-loading and rolling
//! back a runtime cost the calls it serves, and how fast `runplane serve` starts.
//!
//! 1. **Steady:** `validate` + `plan` of `examples/python/hello.yaml` at `--rate` calls
//!    per second (open loop: each call is due at its own time and its latency counts
//!    from then, so a stall is not hidden by the calls it delayed), each call resolving
//!    the active version of `python` in the registry as the run service does, for
//!    `--seconds`.
//! 2. **Swapping:** the same load while two new versions of `python` (the built-in
//!    component with a custom section each, so their digests differ and nothing is
//!    cached for them) are uploaded and made active, then activated back and forth
//!    `--swaps` times. Uploads compile in `runplane compile-worker` processes as the
//!    server does, tiered as the server does: active on baseline code, then moved to
//!    optimized code compiled in the background (both times are reported).
//! 3. **Memory:** the resident set before and after loading two more versions, with no
//!    load running.
//! 4. **Cold start:** `runplane serve` (`--no-kubernetes`, a fresh SQLite file) until
//!    `/readyz` answers 200, with an empty compiled cache and then with the warm one.
//!
//! Failed calls and the p99 latency during swaps against the steady p99 are the figures
//! the issue asks for; everything shares this machine's cores.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use runplane_control::Control;
use runplane_engine::{Compiler, Limits, PluginEngine, Registry, Tier, Tiering};
use runplane_load::bench::{describe_machine, show_warnings, target_dir, write_report};
use runplane_model::{HostSettings, Run, SpecFile, Target};
use runplane_service::{Runtimes, Upload};
use runplane_store::Store;
use runplane_target_local::LocalTarget;
use serde::Serialize;

/// Validate + plan under runtime swaps, memory per version, and serve's cold start.
#[derive(Parser, Debug)]
struct Args {
    /// Calls (validate + plan) per second.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Length of the steady phase, in seconds (the swapping phase lasts as long as the
    /// swaps, at least this).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Activations back and forth between the two uploaded versions.
    #[arg(long, default_value_t = 20)]
    swaps: usize,
    /// Starts of `runplane serve` measured per cache state.
    #[arg(long, default_value_t = 5)]
    starts: usize,
    /// Where the JSON report goes (default: target/bench/swap.json).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Latencies and failures of one load phase.
#[derive(Debug, Serialize)]
struct Calls {
    /// Calls completed (ok or failed).
    calls: u64,
    /// Calls that failed (an error from the registry, validate or plan).
    failed: u64,
    /// Calls completed per second.
    per_second: f64,
    /// Latency percentiles from each call's due time, in microseconds.
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
}

/// The whole report.
#[derive(Debug, Serialize)]
struct Report {
    cores: usize,
    rate: u64,
    steady: Calls,
    swapping: Calls,
    /// p99 while swapping / steady p99.
    p99_ratio: f64,
    /// Upload to active, compile included (not cached, so on baseline code), in
    /// milliseconds, per upload.
    uploads_to_active_ms: Vec<f64>,
    /// Upload to running on optimized code (the tier-up done), in milliseconds.
    uploads_to_optimized_ms: Vec<f64>,
    /// Upload to active with no calls running (the memory phase's uploads).
    idle_uploads_to_active_ms: Vec<f64>,
    /// Activation (the rollback path) to active, in milliseconds: p50, p99, max.
    activations_ms: [f64; 3],
    /// Resident memory each extra loaded version costs, in MiB.
    memory_per_version_mib: f64,
    /// `runplane serve` until `/readyz` is 200, in milliseconds (medians).
    cold_start_empty_cache_ms: f64,
    cold_start_warm_cache_ms: f64,
    /// Empty-cache start / warm-cache start.
    cold_start_ratio: f64,
}

/// The calls of one phase, shared by the tasks making them.
struct Recorder {
    latency: Mutex<Histogram<u64>>,
    failed: AtomicU64,
}

impl Recorder {
    fn new() -> Arc<Recorder> {
        Arc::new(Recorder {
            latency: Mutex::new(
                Histogram::new_with_bounds(1, 60_000_000, 3).expect("1 µs to 60 s, 3 digits"),
            ),
            failed: AtomicU64::new(0),
        })
    }

    fn figures(&self, took: Duration) -> Calls {
        let latency = self.latency.lock().expect("not poisoned");
        Calls {
            calls: latency.len(),
            failed: self.failed.load(Ordering::Relaxed),
            per_second: latency.len() as f64 / took.as_secs_f64(),
            p50_us: latency.value_at_quantile(0.5),
            p99_us: latency.value_at_quantile(0.99),
            max_us: latency.max(),
        }
    }
}

/// What every call needs.
#[derive(Clone)]
struct Caller {
    registry: Arc<Registry>,
    control: Control,
    file: Arc<SpecFile>,
}

impl Caller {
    /// One validate + plan through the active version; `Err` says why it failed.
    async fn call(&self) -> anyhow::Result<()> {
        let file = &self.file;
        let runtime = self
            .registry
            .for_kind(&file.function.kind)
            .context("no runtime owns the kind")?;
        self.control.validate(&runtime, file).await?;
        let run = Run::of(file, Target::Kubernetes);
        self.control
            .plan(&runtime, self.control.context(file, &run))
            .await?;
        Ok(())
    }

    /// Calls at `rate` per second until `until` says stop; latencies from due times.
    async fn load(&self, rate: u64, until: impl Fn() -> bool) -> (Arc<Recorder>, Duration) {
        let recorder = Recorder::new();
        let period = Duration::from_secs_f64(1.0 / rate as f64);
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        let mut due = started;
        while !until() {
            tokio::time::sleep_until(due.into()).await;
            let (caller, recorder) = (self.clone(), recorder.clone());
            let scheduled = due;
            tasks.spawn(async move {
                let outcome = caller.call().await;
                let micros = scheduled.elapsed().as_micros() as u64;
                if let Err(error) = outcome {
                    recorder.failed.fetch_add(1, Ordering::Relaxed);
                    eprintln!("failed call: {error:#}");
                }
                let mut latency = recorder.latency.lock().expect("not poisoned");
                latency.saturating_record(micros.max(1));
            });
            due += period;
            while tasks.try_join_next().is_some() {}
        }
        while tasks.join_next().await.is_some() {}
        (recorder, started.elapsed())
    }
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The `p`-quantile of `values` (sorted here), nearest rank.
fn quantile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

/// Milliseconds of `duration`.
fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// The built-in python component, with a custom section saying `note`: the same code
/// under another digest.
fn python_variant(note: &str) -> anyhow::Result<Vec<u8>> {
    let (_, python) = runplane_builtins::COMPONENTS
        .iter()
        .find(|(name, _)| *name == "python")
        .context("python is built in")?;
    Ok(runplane_test_support::rebuilt(python, note))
}

/// How long an upload took to serve calls.
struct Uploaded {
    digest: String,
    /// Until it was the active version (on baseline code when it was compiled).
    active: Duration,
    /// Until it ran on optimized code.
    optimized: Duration,
}

/// Uploads `component` as the active version of its runtime, then waits for its
/// optimized code.
async fn upload(
    runtimes: &Runtimes,
    registry: &Registry,
    component: &[u8],
) -> anyhow::Result<Uploaded> {
    let asked = Instant::now();
    let upload = Upload {
        loaded_by: "bench",
        replace: true,
        activate: true,
    };
    let version = runtimes.upload(component, upload).await?;
    let active = asked.elapsed();
    until_optimized(registry, &version.digest).await?;
    Ok(Uploaded {
        digest: version.digest,
        active,
        optimized: asked.elapsed(),
    })
}

/// Waits until the loaded version `digest` runs on optimized code (the tier-up in the
/// background, see `runplane_engine::Tier`).
async fn until_optimized(registry: &Registry, digest: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let runtime = registry
            .by_digest(digest)
            .with_context(|| format!("{digest} is not loaded"))?;
        if runtime.tier() == Tier::Optimized {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{digest} still runs on baseline code after 2 minutes");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Starts `runplane serve` with the cache under `cache` and a fresh database in
/// `work`; how long until `/readyz` answered 200. With `optimized`, it then waits until
/// every runtime runs on optimized code, which is then in the cache.
fn serve_until_ready(
    runplane: &Path,
    cache: &Path,
    work: &Path,
    optimized: bool,
) -> anyhow::Result<Duration> {
    let database = format!("sqlite://{}", work.join("runplane.db").display());
    let started = Instant::now();
    let mut child = Command::new(runplane)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-kubernetes",
            "--insecure",
        ])
        .args(["--database", &database])
        .env("XDG_CACHE_HOME", cache)
        .env("RUNPLANE_HOME", work.join("home"))
        .env_remove("RUNPLANE_PLUGINS")
        .env_remove("RUNPLANE_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", runplane.display()))?;
    let stderr = child.stderr.take().context("stderr is piped")?;
    let ready = (|| {
        use std::io::BufRead as _;
        let mut lines = std::io::BufReader::new(stderr).lines();
        let address = loop {
            let line = lines.next().context("serve exited before listening")??;
            if let Some(address) = line
                .strip_prefix("runplane serving http://")
                .and_then(|rest| rest.strip_suffix("/api/v1"))
            {
                break address.to_string();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        while get(&address, "/readyz").is_none() {
            if started.elapsed() > Duration::from_secs(120) {
                bail!("/readyz never answered 200");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let ready = started.elapsed();
        while optimized && !all_optimized(&address) {
            if started.elapsed() > Duration::from_secs(300) {
                bail!("the runtimes never ran on optimized code");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(ready)
    })();
    let _ = child.kill();
    let _ = child.wait();
    ready
}

/// The body of `GET path` at `address` if it answers 200.
fn get(address: &str, path: &str) -> Option<String> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let body = answer
        .strip_prefix("HTTP/1.1 200")?
        .split_once("\r\n\r\n")?
        .1;
    Some(body.to_string())
}

/// Whether every runtime of the server at `address` runs on optimized code.
fn all_optimized(address: &str) -> bool {
    let Some(body) = get(address, "/api/v1/runtimes") else {
        return false;
    };
    let page: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    page["content"].as_array().is_some_and(|runtimes| {
        runtimes
            .iter()
            .all(|runtime| runtime["code"] == "optimized")
    })
}

/// Median start time over `starts` starts, each with a fresh database; `fresh_cache`
/// gives every start an empty compiled cache, else they share `cache`.
fn starts(runplane: &Path, dir: &Path, starts: usize, fresh_cache: bool) -> anyhow::Result<f64> {
    let mut times = Vec::new();
    for start in 0..starts {
        let work = tempfile::tempdir_in(dir)?;
        let cache = if fresh_cache {
            work.path().join("cache")
        } else {
            dir.join("warm-cache")
        };
        times.push(ms(serve_until_ready(runplane, &cache, work.path(), false)?));
        eprintln!(
            "  start {} with {} cache: {:.1} ms",
            start + 1,
            if fresh_cache { "an empty" } else { "the warm" },
            times[start]
        );
    }
    Ok(quantile(&mut times, 0.5))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    show_warnings();
    let args = Args::parse();
    let cores = describe_machine();
    let target = target_dir()?;
    let runplane = target.join("release/runplane");
    if !runplane.is_file() {
        bail!(
            "{} is missing: build it first (`cargo build --release -p runplane-cli`, as \
             `make bench-swap` does)",
            runplane.display()
        );
    }
    let dir = tempfile::tempdir()?;
    let compiler = Compiler::Worker {
        program: runplane.clone(),
        args: vec!["compile-worker".into()],
    };
    let engine = PluginEngine::with_compiler(
        Limits::default(),
        Some(&dir.path().join("compiled")),
        compiler,
        Tiering::Background,
    )?;
    let registry = Arc::new(Registry::with_builtins(&engine, runplane_builtins::COMPONENTS).await?);
    for runtime in registry.all() {
        until_optimized(&registry, runtime.digest()).await?;
    }
    let url = format!("sqlite://{}", dir.path().join("runplane.db").display());
    let runtimes = Runtimes::new(registry.clone(), Store::open(&url).await?);
    runtimes.restore().await?;
    let local = LocalTarget::new(dir.path().join("runs"), dir.path().join("cache"));
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/python");
    let text = std::fs::read_to_string(examples.join("hello.yaml"))?;
    let caller = Caller {
        registry,
        control: Control::new(local, HostSettings::default()),
        file: Arc::new(SpecFile::parse(&text)?),
    };
    caller.call().await.context("a first call")?;

    eprintln!("steady: {} calls/s for {} s", args.rate, args.seconds);
    let end = Instant::now() + Duration::from_secs_f64(args.seconds);
    let (recorder, took) = caller.load(args.rate, || Instant::now() >= end).await;
    let steady = recorder.figures(took);

    eprintln!("swapping: 2 uploads, then {} activations", args.swaps);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (runtimes, registry, done, swaps) = (
            runtimes.clone(),
            caller.registry.clone(),
            done.clone(),
            args.swaps,
        );
        let least = Instant::now() + Duration::from_secs_f64(args.seconds);
        tokio::spawn(async move {
            let swapped: anyhow::Result<([Uploaded; 2], Vec<f64>)> = async {
                let first = upload(&runtimes, &registry, &python_variant("swap-a")?).await?;
                let second = upload(&runtimes, &registry, &python_variant("swap-b")?).await?;
                let mut activations = Vec::new();
                for swap in 0..swaps {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let digest = if swap % 2 == 0 {
                        &first.digest
                    } else {
                        &second.digest
                    };
                    let asked = Instant::now();
                    runtimes.activate("python", digest).await?;
                    activations.push(ms(asked.elapsed()));
                }
                Ok(([first, second], activations))
            }
            .await;
            tokio::time::sleep_until(least.into()).await;
            done.store(true, Ordering::Relaxed);
            swapped
        })
    };
    let (recorder, took) = caller
        .load(args.rate, || done.load(Ordering::Relaxed))
        .await;
    let swapping = recorder.figures(took);
    let (uploads, mut activations) = swapper.await??;

    let before = rss_kib();
    let mut idle_uploads = Vec::new();
    for note in ["memory-c", "memory-d"] {
        idle_uploads.push(upload(&runtimes, &caller.registry, &python_variant(note)?).await?);
    }
    let memory_per_version_mib = (rss_kib().saturating_sub(before)) as f64 / 2.0 / 1024.0;

    eprintln!("cold start of runplane serve ({} starts each)", args.starts);
    let empty = starts(&runplane, dir.path(), args.starts, true)?;
    serve_until_ready(&runplane, &dir.path().join("warm-cache"), dir.path(), true)?;
    let warm = starts(&runplane, dir.path(), args.starts, false)?;

    let report = Report {
        cores,
        rate: args.rate,
        p99_ratio: swapping.p99_us as f64 / steady.p99_us.max(1) as f64,
        steady,
        swapping,
        uploads_to_active_ms: uploads.iter().map(|upload| ms(upload.active)).collect(),
        uploads_to_optimized_ms: uploads.iter().map(|upload| ms(upload.optimized)).collect(),
        idle_uploads_to_active_ms: idle_uploads
            .iter()
            .map(|upload| ms(upload.active))
            .collect(),
        activations_ms: [
            quantile(&mut activations, 0.5),
            quantile(&mut activations, 0.99),
            quantile(&mut activations, 1.0),
        ],
        memory_per_version_mib,
        cold_start_empty_cache_ms: empty,
        cold_start_warm_cache_ms: warm,
        cold_start_ratio: empty / warm,
    };
    print(&report);
    let out = args.out.unwrap_or_else(|| target.join("bench/swap.json"));
    write_report(&report, &out)
}

/// The figures, as the closing notes quote them.
fn print(report: &Report) {
    let phase = |name: &str, calls: &Calls| {
        println!(
            "{name:>9}: {} calls ({:.0}/s), {} failed, latency p50 {} µs, p99 {} µs, max {} µs",
            calls.calls, calls.per_second, calls.failed, calls.p50_us, calls.p99_us, calls.max_us
        );
    };
    println!(
        "validate + plan at {} calls/s on {} cores",
        report.rate, report.cores
    );
    phase("steady", &report.steady);
    phase("swapping", &report.swapping);
    println!("p99 during swaps / steady p99: {:.2}", report.p99_ratio);
    let times = |values: &[f64]| {
        let shown: Vec<String> = values.iter().map(|ms| format!("{ms:.0} ms")).collect();
        shown.join(", ")
    };
    println!(
        "upload to active (compiled, not cached; baseline code): {}",
        times(&report.uploads_to_active_ms)
    );
    println!(
        "upload to optimized code (tier-up in the background): {}",
        times(&report.uploads_to_optimized_ms)
    );
    println!(
        "upload to active with no calls running: {}",
        times(&report.idle_uploads_to_active_ms)
    );
    let [p50, p99, max] = report.activations_ms;
    println!("activation to active: p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms");
    println!(
        "memory per extra loaded version: {:.1} MiB",
        report.memory_per_version_mib
    );
    println!(
        "serve ready (/readyz 200): empty cache {:.0} ms, warm cache {:.0} ms, ratio {:.1}",
        report.cold_start_empty_cache_ms, report.cold_start_warm_cache_ms, report.cold_start_ratio
    );
}
