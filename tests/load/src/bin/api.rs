//! The HTTP API benchmark (`make bench-api`): create-run and GET-run throughput and
//! latency through the real API, on SQLite and on PostgreSQL, each against a plain axum
//! handler answering the same bytes in the same process.
//!
//! Per backend, in order:
//!
//! 1. the API over a fresh store; project `bench` and a python function whose handler
//!    does nothing;
//! 2. create runs: `--clients` clients POST `--requests` local runs. Every accepted run
//!    really executes a python3 process in the background, competing with the API for
//!    the cores: that is the host at work, so it is measured, and how many runs were
//!    already over when the phase ended is reported;
//! 3. every run is waited for (so the next phases are not disturbed by them) and its
//!    final state counted;
//! 4. the same POSTs to the baseline, which parses the body and answers the captured
//!    201 document;
//! 5. GET runs: the clients GET the created runs for `--get-seconds`, through the API
//!    and then through the baseline answering a captured run document;
//! 6. list runs: the clients GET a page of 20 COMPLETED runs (as the original platform's
//!    SDK lists them) for `--get-seconds`, through the API and the baseline.
//!
//! Client, servers, database and runs share this process's machine: the ratios to the
//! baseline are the figures to compare across machines, not the absolute ones.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use clap::{Parser, ValueEnum};
use hyper::body::Bytes;
use hyper::{Method, StatusCode};
use runplane_load::bench::{describe_machine, show_warnings, target_dir, write_report};
use runplane_load::cpu::Cpu;
use runplane_load::host::{self, Host};
use runplane_load::load::{self, Phase, Stop};
use runplane_load::report::{Backend, Figures, Ratios, Report, Runs, Settings, Skipped};
use runplane_load::{Served, baseline};
use runplane_model::RunId;

/// Where the runs are created.
const RUNS: &str = "/api/v1/-/bench/runs";
/// A local job of the no-op function.
const RUN: &str = r#"{"kind":"python+job:run","spec":{"function":"python://bench/noop","task":"python+job","local_execution":true}}"#;
/// The no-op handler: the run's own cost is python3 starting and stopping.
const NOOP: &str = "def main():\n    pass\n";

/// Create-run and GET-run load through the API, against a plain axum baseline.
#[derive(Parser, Debug)]
struct Args {
    /// Concurrent clients, one kept-alive connection each.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Timed create requests per backend (each one also starts a python3 process).
    #[arg(long, default_value_t = 2000)]
    requests: u64,
    /// Length of each GET phase, in seconds.
    #[arg(long, default_value_t = 10.0)]
    get_seconds: f64,
    /// Store backends to measure.
    #[arg(long = "backend", value_enum, default_values_t = [Store::Sqlite, Store::Postgres])]
    backends: Vec<Store>,
    /// Where the JSON report goes (default: target/bench/api.json).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// A store backend.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Store {
    Sqlite,
    Postgres,
}

impl Store {
    fn name(self) -> &'static str {
        match self {
            Store::Sqlite => "sqlite",
            Store::Postgres => "postgres",
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let target = target_dir()?;
    let scratch = tempfile::Builder::new()
        .prefix("runplane-bench-")
        .tempdir()?;
    show_warnings();
    let cores = describe_machine();
    eprintln!("loading the built-in runtimes…");
    let wiring = host::wiring(&target.join("bench").join("compiled"), scratch.path())?;

    let mut report = Report {
        settings: Settings {
            clients: args.clients,
            requests: args.requests,
            get_seconds: args.get_seconds,
            cores,
        },
        backends: Vec::new(),
        skipped: Vec::new(),
    };
    for &store in &args.backends {
        let url = match store {
            Store::Sqlite => Ok(format!(
                "sqlite://{}",
                scratch.path().join("bench.db").display()
            )),
            Store::Postgres => postgres().await,
        };
        let url = match url {
            Ok(url) => url,
            Err(reason) => {
                eprintln!("{}: skipped: {reason}", store.name());
                report.skipped.push(Skipped {
                    backend: store.name().into(),
                    reason,
                });
                continue;
            }
        };
        let backend = measure(store.name(), wiring.clone(), &url, &args).await?;
        println!("{}", backend.render());
        report.backends.push(backend);
    }
    println!(
        "Every created run executes a real python3 process in the background during the \
         create phase; client, servers, database and runs share {cores} cores."
    );
    let out = args
        .out
        .unwrap_or_else(|| target.join("bench").join("api.json"));
    write_report(&report, &out)?;
    Ok(())
}

/// The phases of one backend (see the module documentation).
async fn measure(
    name: &str,
    wiring: host::Wiring,
    url: &str,
    args: &Args,
) -> anyhow::Result<Backend> {
    let host = Host::start(wiring, url).await?;
    let api = host.served.addr;
    setup(api).await?;
    let phase = |addr, method, paths: Vec<String>, body: &str, expect, stop| Phase {
        addr,
        method,
        paths,
        body: Bytes::copy_from_slice(body.as_bytes()),
        expect,
        clients: args.clients,
        stop,
        keep_bodies: false,
    };
    let creating = phase(
        api,
        Method::POST,
        vec![RUNS.into()],
        RUN,
        StatusCode::CREATED,
        Stop::Requests(args.requests),
    );

    eprintln!(
        "{name}: creating {} runs from {} clients…",
        args.requests, args.clients
    );
    let cpu = Cpu::now();
    let create = load::run(Phase {
        keep_bodies: true,
        ..creating.clone()
    })
    .await?;
    failures(name, "create run", &create);
    let ids = create
        .bodies
        .iter()
        .map(|body| {
            let run: serde_json::Value = serde_json::from_slice(body)?;
            let id = run["id"].as_str().context("a created run has an id")?;
            Ok(RunId::from(id.to_string()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let over = ids.len() - host.live(&ids);
    eprintln!("{name}: waiting for {} runs to end…", ids.len() - over);
    let drained = host.drain(&ids).await?;
    let cpu = Cpu::now().since(cpu);
    let per_run = |time: Duration| time.as_secs_f64() * 1000.0 / ids.len().max(1) as f64;
    if let Some((id, state)) = drained.other.first() {
        eprintln!(
            "{name}: {} runs did not complete, the first: {id} {state}",
            drained.other.len()
        );
    }

    let paths: Vec<String> = ids.iter().map(|id| format!("{RUNS}/{id}")).collect();
    let (status, document) = load::request(api, Method::GET, &paths[0], Bytes::new()).await?;
    if status != StatusCode::OK {
        bail!("GET {}: {status}", paths[0]);
    }
    let listing = format!("{RUNS}?state=COMPLETED&page=0&size=20");
    let (status, page) = load::request(api, Method::GET, &listing, Bytes::new()).await?;
    if status != StatusCode::OK {
        bail!("GET {listing}: {status}");
    }
    let plain = baseline::start(document, page, create.bodies[0].clone()).await?;

    eprintln!("{name}: the same creates against the baseline…");
    let create_baseline = load::run(Phase {
        addr: plain.addr,
        ..creating
    })
    .await?;
    failures(name, "create run baseline", &create_baseline);
    let seconds = Stop::Duration(Duration::from_secs_f64(args.get_seconds));
    let mut reads = Vec::new();
    for (phase_name, paths) in [("GET run", paths), ("list runs", vec![listing])] {
        for (what, addr) in [("API", api), ("baseline", plain.addr)] {
            eprintln!("{name}: {phase_name} for {} s ({what})…", args.get_seconds);
            let measured = load::run(phase(
                addr,
                Method::GET,
                paths.clone(),
                "",
                StatusCode::OK,
                seconds,
            ))
            .await?;
            failures(name, &format!("{phase_name} {what}"), &measured);
            reads.push(Figures::from(&measured));
        }
    }
    stop(plain, host).await?;

    let (create, create_baseline) = (Figures::from(&create), Figures::from(&create_baseline));
    let [get, get_baseline, list, list_baseline]: [Figures; 4] = reads
        .try_into()
        .map_err(|_| anyhow::anyhow!("four read phases"))?;
    Ok(Backend {
        name: name.into(),
        ratios: Ratios::of(
            (&create, &create_baseline),
            (&get, &get_baseline),
            (&list, &list_baseline),
        ),
        create,
        create_baseline,
        get,
        get_baseline,
        list,
        list_baseline,
        runs: Runs {
            created: ids.len(),
            over_when_creation_ended: over,
            completed: drained.completed,
            not_completed: drained.other.len(),
            drain_seconds: drained.waited.as_secs_f64(),
            host_cpu_ms_per_run: per_run(cpu.own),
            process_cpu_ms_per_run: per_run(cpu.children),
        },
    })
}

/// Creates project `bench` and its no-op python function.
async fn setup(api: std::net::SocketAddr) -> anyhow::Result<()> {
    let source = base64::engine::general_purpose::STANDARD.encode(NOOP);
    let function = serde_json::json!({"name": "noop", "kind": "python", "spec": {
        "source": {"base64": source, "handler": "main", "lang": "python"}}});
    for (path, body) in [
        ("/api/v1/projects", serde_json::json!({"name": "bench"})),
        ("/api/v1/-/bench/functions", function),
    ] {
        let body = Bytes::from(body.to_string());
        let (status, answer) = load::request(api, Method::POST, path, body).await?;
        if status != StatusCode::CREATED {
            bail!(
                "POST {path}: {status}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
    }
    Ok(())
}

/// Says when requests of a phase failed, with the first reason.
fn failures(backend: &str, phase: &str, measured: &load::Measured) {
    if measured.failed > 0 {
        eprintln!(
            "{backend}: {phase}: {} requests failed, the first: {}",
            measured.failed,
            measured.first_failure.as_deref().unwrap_or("?")
        );
    }
}

/// Stops the baseline and the API.
async fn stop(baseline: Served, host: Host) -> anyhow::Result<()> {
    baseline.stop().await?;
    host.stop().await
}

/// A fresh database on a PostgreSQL server started for this process (see
/// `runplane_test_support::postgres`), or why there is none.
async fn postgres() -> Result<String, String> {
    match tokio::task::spawn_blocking(runplane_test_support::postgres::database).await {
        Ok(Some(url)) => Ok(url),
        Ok(None) => Err("PostgreSQL is not installed".into()),
        Err(error) => Err(match error.try_into_panic() {
            Ok(panic) => panic
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "the PostgreSQL server did not start".into()),
            Err(error) => error.to_string(),
        }),
    }
}
