//! The Kubernetes benchmark (`make bench-kube`): N live runs of a short Python job on
//! the test control plane, through the host built in this process as the cluster
//! tests build it (built-in runtimes, `KubernetesTarget`, `Control::run_kubernetes`),
//! against a plain kube server-side-apply loop doing the same applies.
//!
//! Once, on a plane of the benchmark's own (`--plane-dir`, stopped at the end unless
//! `--keep-plane`): the benchmark's watchers of Pods and Jobs start, then the baseline of
//! memory and open watches is taken, then the host's target is made. Per number of runs
//! N (`--runs`), in order:
//!
//! 1. the host: N runs of `examples/python/hello.yaml` in a fresh namespace, whose pods
//!    kwok runs for `--pod-runs-for` and then marks Succeeded; each run validated and
//!    driven by its own task, at most `--concurrency` of them between submission and
//!    READY. When every run is READY: the submission throughput, memory and the open
//!    watches; when every run is over: memory again and the lag of each run's
//!    COMPLETED event behind its pod's Succeeded (and its Job's Complete) as the
//!    benchmark's own watchers received them;
//! 2. the namespace is deleted and waited for, so the next phase has the cluster alone;
//! 3. the baseline: the same manifests (planned and guarded by the host beforehand, for
//!    other run ids in another namespace) applied by a plain loop, `--concurrency` runs at
//!    a time; its runs per second and the ratio host / baseline;
//! 4. that namespace is deleted and waited for too.
//!
//! Host, benchmark, etcd, the API server, the controllers and kwok share the machine:
//! the ratio is the figure to compare across machines, not the absolute ones.
//!
//! With `--replicas 1,2,3` (`make bench-kube-replicas`, issue 17) the host is not built
//! in-process: per number of runs N, the baseline is measured once, then for each number
//! of replicas R ([`runplane_load::cluster::replicas`]):
//!
//! 1. R `runplane serve` processes (`target/release/runplane`) on a fresh PostgreSQL
//!    database and the plane, started one after another (the first fills the compiled
//!    cache the others read);
//! 2. N runs of the hello example posted to them in turn over HTTP, `--concurrency`
//!    requests at a time: runs accepted per second, and runs READY per second from the
//!    store's READY transitions, each against the baseline's runs per second;
//! 3. once every run is live (READY, PENDING or RUNNING), each replica's memory; from R = 2, the last
//!    replica is killed (SIGKILL) and the store polled until none of the live runs is
//!    its own any more, then until its runs are COMPLETED;
//! 4. once every run is over, the survivors' memory and the lag of each run's COMPLETED
//!    transition (the store's time) behind its pod's Succeeded (the benchmark's
//!    watchers), apart for the runs taken over; the namespace is deleted.
//!
//! The report goes to `target/bench/kube-replicas.json`, each replica's stderr to
//! `target/bench/kube-replicas-<R>-<N>-<n>.log`.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use hyper::Method;
use hyper::body::Bytes;
use kube::Client;
use runplane_engine::{BASELINE_FLAG, Compiler, Tier};
use runplane_load::bench::{describe_machine, show_warnings, target_dir, write_report};
use runplane_load::cluster::figures::{
    Baseline, HostFigures, Lag, RawFigures, Report, Settings, Size,
};
use runplane_load::cluster::memory::{self, Memory};
use runplane_load::cluster::metrics::{self, Counts, Metrics};
use runplane_load::cluster::plane::{self, Plane};
use runplane_load::cluster::replicas::{self, Database, Launch, Replica, ReplicaSize, Takeover};
use runplane_load::cluster::runs::{Outcome, Progress, Submission, seconds};
use runplane_load::cluster::seen::{self, Seen};
use runplane_load::cluster::{create_namespace, delete_namespace, raw};
use runplane_load::{host, load};
use runplane_model::{RunState, SpecFile};
use runplane_target_kubernetes::KubernetesTarget;

/// The subcommand that makes this executable a compiler worker.
const COMPILE_WORKER: &str = "compile-worker";
/// The host's watched kinds, as the API server's metrics name them.
const HOST_KINDS: [&str; 5] = [
    "configmaps",
    "jobs.batch",
    "deployments.apps",
    "services",
    "pods",
];
/// The longest a namespace deletion is waited for.
const CLEANUP: Duration = Duration::from_secs(10 * 60);
/// How often progress is printed.
const PROGRESS: Duration = Duration::from_secs(15);

/// N runs of a short job through the host against a plain server-side-apply loop.
#[derive(Parser, Debug)]
struct Args {
    /// Numbers of runs, one phase each.
    #[arg(long, value_delimiter = ',', default_values_t = [1000, 5000])]
    runs: Vec<usize>,
    /// Runs between submission and READY at once (the baseline: runs being applied).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// How long kwok keeps each pod Running before Succeeded (a Go duration): longer
    /// than the submission of 5,000 runs takes on 2 cores, so every run is live at once.
    #[arg(long, default_value = "90s")]
    pod_runs_for: String,
    /// Longest a phase may take (submission and every run's end), in seconds.
    #[arg(long, default_value_t = 1800)]
    timeout: u64,
    /// The plane's run dir (default ~/.cache/runplane/control-plane/bench).
    #[arg(long)]
    plane_dir: Option<PathBuf>,
    /// Leave the plane running at the end.
    #[arg(long)]
    keep_plane: bool,
    /// Replica mode: per number of runs, the baseline once, then for each number of
    /// replicas that many `runplane serve` processes (`target/release/runplane`) on a
    /// fresh PostgreSQL database, the runs posted to them over HTTP in turn, and (from
    /// two replicas) the last one killed while its runs are live.
    #[arg(long, value_delimiter = ',')]
    replicas: Vec<usize>,
    /// Where the JSON report goes (default: target/bench/kube.json, in replica mode
    /// target/bench/kube-replicas.json).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Besides the benchmark, this executable is its own compiler worker (as `runplane
/// compile-worker`) and the process of the reference watchers ([`seen::run_child`]).
fn main() -> anyhow::Result<ExitCode> {
    let mut raw = std::env::args_os().skip(1);
    let first = raw.next();
    if first.as_deref() == Some(COMPILE_WORKER.as_ref()) {
        let tier = if raw.next().is_some_and(|flag| flag == BASELINE_FLAG) {
            Tier::Baseline
        } else {
            Tier::Optimized
        };
        return Ok(runplane_engine::run_compile_worker(tier));
    }
    let runtime = tokio::runtime::Runtime::new()?;
    if first.as_deref() == Some(seen::SUBCOMMAND.as_ref()) {
        let kubeconfig = PathBuf::from(raw.next().context("seen KUBECONFIG")?);
        runtime.block_on(async {
            let client = Plane::client_of(&kubeconfig).await?;
            seen::run_child(client).await
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    runtime.block_on(benchmark())?;
    Ok(ExitCode::SUCCESS)
}

/// The benchmark (see the module documentation).
async fn benchmark() -> anyhow::Result<()> {
    let args = Args::parse();
    let target = target_dir()?;
    show_warnings();
    let cores = describe_machine();
    let dir = args.plane_dir.clone().unwrap_or_else(plane::default_dir);
    eprintln!(
        "starting the benchmark's control plane in {}…",
        dir.display()
    );
    let plane = Plane::start(dir).await?;
    let report = bench(&args, &plane, &target, cores).await;
    if args.keep_plane {
        eprintln!(
            "the plane keeps running: RUNPLANE_CONTROL_PLANE_DIR={} tests/control-plane/down",
            plane.dir.display()
        );
    } else if let Err(error) = plane.stop() {
        eprintln!("warning: {error:#}");
    }
    let report = report?;
    println!(
        "Host (with the benchmark's driver of the runs), the benchmark's watchers (a process \
         of their own), etcd, kube-apiserver, the controllers and kwok share {cores} cores."
    );
    let name = if args.replicas.is_empty() {
        "kube.json"
    } else {
        "kube-replicas.json"
    };
    let out = args.out.unwrap_or_else(|| target.join("bench").join(name));
    write_report(&report, &out)?;
    Ok(())
}

/// Everything measured on the running plane (see the module documentation).
async fn bench(
    args: &Args,
    plane: &Plane,
    target_dir: &std::path::Path,
    cores: usize,
) -> anyhow::Result<serde_json::Value> {
    let runplane = target_dir.join("release").join("runplane");
    if !args.replicas.is_empty() && !runplane.is_file() {
        bail!(
            "{} is missing: build it first (`cargo build --release -p runplane-cli`, as \
             `make bench-kube-replicas` does)",
            runplane.display()
        );
    }
    let scratch = tempfile::Builder::new()
        .prefix("runplane-bench-")
        .tempdir()?;
    let compiled = target_dir.join("bench").join("compiled");
    let components_compiled = std::fs::read_dir(&compiled).map_or(true, |mut d| d.next().is_none());
    eprintln!("loading the built-in runtimes…");
    // Compiled in a worker process, as `runplane serve` compiles: on a fresh machine the
    // compiler's memory would otherwise stay in the host's.
    let compiler = Compiler::Worker {
        program: std::env::current_exe().context("cannot find this executable")?,
        args: vec![COMPILE_WORKER.into()],
    };
    let wiring = host::wiring_compiled_by(&compiled, scratch.path(), compiler)?;
    if components_compiled {
        eprintln!(
            "the runtime components were compiled by worker processes (nothing in {} yet)",
            compiled.display()
        );
    }
    let client = plane.client().await?;
    let seen = Seen::start(&plane.kubeconfig, Duration::from_secs(120)).await?;
    // The watchers' watch requests follow their listing: let them be open.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = Metrics::read(&client).await?.watches;
    let baseline = Baseline {
        memory: Memory::now()?,
        watchers_memory: seen.memory()?,
        watches: HOST_KINDS
            .iter()
            .map(|kind| (kind.to_string(), before.get(*kind).copied().unwrap_or(0)))
            .collect(),
    };
    let target = KubernetesTarget::from_kubeconfig(&plane.kubeconfig).await?;
    let wiring = wiring.with_kubernetes(target.clone());
    let bench = Bench {
        args,
        plane,
        wiring: &wiring,
        target: &target,
        client: &client,
        seen: &seen,
        before: &before,
        unique: unique(),
        target_dir,
    };
    if !args.replicas.is_empty() {
        let mut report = replicas::Report {
            runplane,
            concurrency: args.concurrency,
            pod_runs_for: args.pod_runs_for.clone(),
            cores,
            raw: BTreeMap::new(),
            sizes: Vec::new(),
        };
        for &runs in &args.runs {
            bench.replica_sizes(runs, &mut report).await?;
        }
        return Ok(serde_json::to_value(report)?);
    }
    let mut sizes = Vec::new();
    for &runs in &args.runs {
        let size = bench.size(runs).await?;
        println!("{}", size.render());
        sizes.push(size);
    }
    Ok(serde_json::to_value(Report {
        settings: Settings {
            concurrency: args.concurrency,
            pod_runs_for: args.pod_runs_for.clone(),
            cores,
            plane_dir: plane.dir.display().to_string(),
            components_compiled,
        },
        baseline,
        sizes,
    })?)
}

/// What every phase uses.
struct Bench<'a> {
    args: &'a Args,
    plane: &'a Plane,
    wiring: &'a host::Wiring,
    target: &'a KubernetesTarget,
    /// The benchmark's own client (namespaces, metrics).
    client: &'a Client,
    seen: &'a Seen,
    /// Open watches before the host's target existed.
    before: &'a Counts,
    /// Suffix of this invocation's namespaces.
    unique: u64,
    /// The cargo target directory (the figures go under `bench/`).
    target_dir: &'a std::path::Path,
}

impl Bench<'_> {
    /// The host's phase, then the baseline's, for `runs` runs.
    async fn size(&self, runs: usize) -> anyhow::Result<Size> {
        let namespace = format!("bench-host-{runs}-{}", self.unique);
        eprintln!("{runs} runs: submitting through the host to namespace {namespace}…");
        let host = self.host(runs, &namespace).await?;
        let mut cleanup = vec![self.cleanup(&namespace).await?];

        let (raw, raw_requests, raw_cleanup) = self.raw(runs).await?;
        cleanup.push(raw_cleanup);
        Ok(Size {
            runs,
            throughput_ratio: host.figures.runs_per_second
                / raw.runs_per_second.max(f64::MIN_POSITIVE),
            host: host.figures,
            raw,
            lag_from_pod_succeeded: host.lag_from_pod_succeeded,
            lag_job_controller: host.lag_job_controller,
            lag_from_job_complete: host.lag_from_job_complete,
            memory_all_ready: host.memory_all_ready,
            memory_end: host.memory_end,
            watchers_all_ready: host.watchers_all_ready,
            watchers_end: host.watchers_end,
            host_watches: host.watches,
            host_requests: host.requests,
            raw_requests,
            cleanup_seconds: cleanup,
        })
    }

    /// The baseline: the host's manifests for `runs` runs applied by the plain loop in a
    /// namespace of its own, then deleted; its figures, the API server's requests by
    /// verb meanwhile, and how long the deletion took.
    async fn raw(&self, runs: usize) -> anyhow::Result<(RawFigures, Counts, Option<f64>)> {
        let namespace = format!("bench-raw-{runs}-{}", self.unique);
        eprintln!("{runs} runs: planning the baseline's manifests…");
        let manifests = raw::prepare(self.wiring, &self.spec(&namespace)?, runs).await?;
        create_namespace(self.client, &namespace).await?;
        eprintln!("{runs} runs: applying them with plain kube to namespace {namespace}…");
        // A client of its own, as the host's target has.
        let raw_client = self.plane.client().await?;
        let requests_before = Metrics::read(self.client).await?.requests;
        let applied = raw::apply(&raw_client, &namespace, manifests, self.args.concurrency).await?;
        let requests = metrics::added(
            &Metrics::read(self.client).await?.requests,
            &requests_before,
        );
        let cleanup = self.cleanup(&namespace).await?;
        let raw = RawFigures {
            applied: applied.runs,
            failed: applied.failed,
            seconds: applied.seconds,
            runs_per_second: applied.runs as f64 / applied.seconds.max(f64::MIN_POSITIVE),
            first_error: applied.first_error,
        };
        Ok((raw, requests, cleanup))
    }

    /// `runs` runs through the host in `namespace`, from submission to their end.
    async fn host(&self, runs: usize, namespace: &str) -> anyhow::Result<HostPhase> {
        let file = self.spec(namespace)?;
        let requests_before = Metrics::read(self.client).await?.requests;
        let mut submission =
            Submission::start(self.wiring, self.target, file, runs, self.args.concurrency);
        let started = submission.started;
        let deadline = started + Duration::from_secs(self.args.timeout);
        let progress = submission.progress();
        let printer = print_progress(progress.clone(), runs);
        let settled = submission.settled(deadline).await;
        let memory_all_ready = Memory::now()?;
        let watchers_all_ready = self.seen.memory()?;
        self.dump_mappings(runs)?;
        let watches = metrics::added(&Metrics::read(self.client).await?.watches, self.before);
        eprintln!(
            "{runs} runs: {} READY, {} over before; waiting for every run to end…",
            settled.ready,
            settled.settled - settled.ready
        );
        let (outcomes, abandoned) = submission.finish(deadline).await;
        printer.abort();
        let ended = Instant::now();
        let memory_end = Memory::now()?;
        let watchers_end = self.seen.memory()?;
        let requests = metrics::added(
            &Metrics::read(self.client).await?.requests,
            &requests_before,
        );
        let completed: Vec<(&Outcome, Instant)> = outcomes
            .iter()
            .filter_map(|o| o.completed.map(|at| (o, at)))
            .collect();
        let seconds_to_ready = seconds(started, settled.at);
        let figures = HostFigures {
            submitted: runs,
            ready: settled.ready,
            completed: completed.len(),
            not_completed: outcomes.len() - completed.len(),
            abandoned,
            seconds_to_ready,
            runs_per_second: settled.ready as f64 / seconds_to_ready.max(f64::MIN_POSITIVE),
            seconds_to_end: seconds(started, ended),
            peak_live: progress.peak_live(),
            first_failure: outcomes
                .iter()
                .find(|o| o.completed.is_none())
                .map(describe),
        };
        let seen = self.seen;
        let lag = |reference: &dyn Fn(&str) -> Option<Instant>| {
            Lag::of(completed.iter().map(|(o, at)| (reference(&o.run_id), *at)))
        };
        Ok(HostPhase {
            figures,
            lag_from_pod_succeeded: lag(&|run| seen.succeeded(run)),
            lag_from_job_complete: lag(&|run| seen.complete(run)),
            lag_job_controller: Lag::of(
                completed.iter().filter_map(|(o, _)| {
                    Some((seen.succeeded(&o.run_id), seen.complete(&o.run_id)?))
                }),
            ),
            memory_all_ready,
            memory_end,
            watchers_all_ready,
            watchers_end,
            watches,
            requests,
        })
    }

    /// Replica mode for `runs` runs: the baseline, then each number of replicas; each
    /// table printed as it is measured.
    async fn replica_sizes(
        &self,
        runs: usize,
        report: &mut replicas::Report,
    ) -> anyhow::Result<()> {
        let (raw, _, _) = self.raw(runs).await?;
        for &count in &self.args.replicas {
            let size = self
                .replicas(runs, count.max(1), &raw, &report.runplane)
                .await?;
            println!("{}", size.render(&raw));
            report.sizes.push(size);
        }
        report.raw.insert(runs, raw);
        Ok(())
    }

    /// `runs` runs posted to `count` replicas, followed in their database to their end;
    /// from two replicas, the last one is killed once every run is live.
    async fn replicas(
        &self,
        runs: usize,
        count: usize,
        raw: &RawFigures,
        runplane: &Path,
    ) -> anyhow::Result<ReplicaSize> {
        let namespace = format!("bench-replicas-{count}-{runs}-{}", self.unique);
        let database = Database::fresh()?;
        let work = tempfile::Builder::new()
            .prefix("runplane-replicas-")
            .tempdir()?;
        let bench_dir = self.target_dir.join("bench");
        let cache = bench_dir.join("serve-cache");
        let launch = Launch {
            program: runplane,
            kubeconfig: &self.plane.kubeconfig,
            database_url: &database.url,
            cache: &cache,
        };
        let mut replicas = Vec::new();
        for n in 0..count {
            let dir = work.path().join(format!("replica-{n}"));
            std::fs::create_dir_all(&dir)?;
            let log = bench_dir.join(format!("kube-replicas-{count}-{runs}-{n}.log"));
            let replica = launch.start(&dir, &log, &format!("replica {n}")).await?;
            eprintln!(
                "replica {n} serves on {} (pid {}), log {}",
                replica.addr,
                replica.pid,
                log.display()
            );
            replicas.push(Some(replica));
        }
        let addrs: Vec<SocketAddr> = replicas.iter().flatten().map(|r| r.addr).collect();
        let (path, body) = self.create_function(addrs[0], &namespace).await?;

        eprintln!("{count} replicas, {runs} runs: posting them to namespace {namespace}…");
        let deadline = Instant::now() + Duration::from_secs(self.args.timeout);
        let accepted = replicas::submit(&addrs, &path, body, runs, self.args.concurrency).await;
        let started = accepted.started.unwrap_or_else(Instant::now);
        let total: usize = accepted.ids.iter().map(Vec::len).sum();
        eprintln!(
            "  {total} accepted in {:.1} s, {} refused; waiting for every run to be live…",
            accepted.seconds, accepted.refused
        );
        let states = wait_states(&database, deadline, |states| {
            replicas::settled(states) >= total
        })
        .await?;
        let live_at_once = [RunState::Ready, RunState::Pending, RunState::Running]
            .iter()
            .filter_map(|state| states.get(state.as_str()))
            .sum::<i64>();
        let memory_all_live = replicas
            .iter()
            .flatten()
            .map(Replica::memory)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let last_ready = database.reached(RunState::Ready).await?.into_values().max();
        let seconds_to_ready = last_ready.map_or(0.0, |at| seconds(started, at));

        let mut taken_over = HashSet::new();
        let mut takeover = None;
        if count >= 2
            && let Some(victim) = replicas.last_mut().and_then(Option::take)
            && let Some(first) = accepted.ids[count - 1].first()
        {
            let replica = database.owner(first).await?;
            let live_runs = database.live_of(&replica).await?;
            taken_over.extend(accepted.ids[count - 1].iter().cloned());
            eprintln!(
                "  SIGKILL of replica {} ({replica}), {live_runs} live runs…",
                count - 1
            );
            let killed = Instant::now();
            victim.kill().await?;
            let mut claimed = None;
            while Instant::now() < deadline {
                if database.live_of(&replica).await? == 0 {
                    claimed = Some(killed.elapsed().as_secs_f64());
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            eprintln!("  its runs were claimed after {claimed:?} s");
            takeover = Some((
                Takeover {
                    replica,
                    live_runs,
                    seconds_to_claimed: claimed,
                    seconds_to_completed: None,
                    owners_after: database.live_owners().await?,
                },
                killed,
            ));
        }

        eprintln!("  waiting for every run to end…");
        let states = wait_states(&database, deadline, |states| replicas::live(states) == 0).await?;
        let memory_end = replicas
            .iter()
            .map(|replica| replica.as_ref().map(Replica::memory).transpose())
            .collect::<anyhow::Result<Vec<_>>>()?;
        drop(replicas);
        let completed = database.reached(RunState::Completed).await?;
        let takeover = takeover.map(|(mut takeover, killed)| {
            let ends: Option<Vec<Instant>> = taken_over
                .iter()
                .map(|id| completed.get(id).copied())
                .collect();
            takeover.seconds_to_completed = ends
                .and_then(|ends| ends.into_iter().max())
                .map(|end| seconds(killed, end));
            takeover
        });
        let lag = |keep: &dyn Fn(&str) -> bool| {
            Lag::of(
                completed
                    .iter()
                    .filter(|(run, _)| keep(run))
                    .map(|(run, at)| (self.seen.succeeded(run), *at)),
            )
        };
        let end_states = states;
        let cleanup = self.cleanup(&namespace).await?;
        let per_second = |seconds: f64| total as f64 / seconds.max(f64::MIN_POSITIVE);
        let raw_rate = raw.runs_per_second.max(f64::MIN_POSITIVE);
        Ok(ReplicaSize {
            replicas: count,
            runs,
            accepted: accepted.ids.iter().map(Vec::len).collect(),
            refused: accepted.refused,
            first_refusal: accepted.first_refusal,
            seconds_to_accept: accepted.seconds,
            accepted_per_second: per_second(accepted.seconds),
            seconds_to_ready,
            ready_per_second: per_second(seconds_to_ready),
            live_at_once: usize::try_from(live_at_once).unwrap_or(0),
            accepted_ratio: per_second(accepted.seconds) / raw_rate,
            ready_ratio: per_second(seconds_to_ready) / raw_rate,
            lag_from_pod_succeeded: lag(&|_| true),
            lag_own_runs: lag(&|run| !taken_over.contains(run)),
            lag_taken_over: lag(&|run| taken_over.contains(run)),
            memory_all_live,
            memory_end,
            takeover,
            not_over: replicas::live(&end_states),
            end_states,
            cleanup_seconds: cleanup,
        })
    }

    /// Creates project `namespace` and the hello example's function through the replica
    /// at `addr`; the path and body that start a run of it (its pod kept Running by kwok
    /// for `--pod-runs-for`).
    async fn create_function(
        &self,
        addr: SocketAddr,
        namespace: &str,
    ) -> anyhow::Result<(String, Bytes)> {
        let file = self.spec(namespace)?;
        let post = |path: String, body: serde_json::Value| async move {
            let (status, answer) =
                load::request(addr, Method::POST, &path, Bytes::from(body.to_string())).await?;
            if status.as_u16() != 201 {
                bail!(
                    "POST {path}: {status}: {}",
                    String::from_utf8_lossy(&answer)
                );
            }
            anyhow::Ok(())
        };
        post(
            "/api/v1/projects".into(),
            serde_json::json!({"name": namespace}),
        )
        .await?;
        let function = &file.function;
        post(
            format!("/api/v1/-/{namespace}/functions"),
            serde_json::json!({"name": function.name, "kind": function.kind, "spec": function.spec}),
        )
        .await?;
        let mut spec = serde_json::json!({
            "function": format!("{}://{namespace}/{}", function.kind, function.name),
            "task": file.task.kind,
            "local_execution": false,
        });
        for part in [&file.task.spec, &file.run.spec] {
            if let (Some(spec), Some(part)) = (spec.as_object_mut(), part.as_object()) {
                spec.extend(part.clone());
            }
        }
        let body = serde_json::json!({"kind": format!("{}:run", file.task.kind), "spec": spec});
        Ok((
            format!("/api/v1/-/{namespace}/runs"),
            Bytes::from(body.to_string()),
        ))
    }

    /// The hello example in `namespace`, its pod kept Running by kwok for
    /// `--pod-runs-for` (`tests/control-plane/stages/pod-complete.yaml`).
    fn spec(&self, namespace: &str) -> anyhow::Result<SpecFile> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/python/hello.yaml");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut file = SpecFile::parse(&text)?;
        file.project = namespace.to_string();
        file.task.spec["annotations"] = serde_json::json!([
            {"name": "runplane.io/simulate-delay", "value": self.args.pod_runs_for}
        ]);
        Ok(file)
    }

    /// Writes the process's largest mappings (resident) to
    /// `target/bench/kube-mappings-<runs>.txt`: the evidence behind the breakdown.
    fn dump_mappings(&self, runs: usize) -> anyhow::Result<()> {
        let smaps = std::fs::read_to_string("/proc/self/smaps")?;
        let lines = memory::largest(&memory::mappings(&smaps), 40);
        let path = self
            .target_dir
            .join("bench")
            .join(format!("kube-mappings-{runs}.txt"));
        std::fs::write(&path, lines.join("\n") + "\n")
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Deletes `namespace` and waits for it to be gone; the seconds it took.
    async fn cleanup(&self, namespace: &str) -> anyhow::Result<Option<f64>> {
        eprintln!("deleting namespace {namespace}…");
        let took = delete_namespace(self.client, namespace, CLEANUP).await?;
        if took.is_none() {
            eprintln!("warning: namespace {namespace} still there after {CLEANUP:?}; going on");
        }
        Ok(took.map(|took| took.as_secs_f64()))
    }
}

/// The host phase's figures.
struct HostPhase {
    figures: HostFigures,
    lag_from_pod_succeeded: Lag,
    lag_job_controller: Lag,
    lag_from_job_complete: Lag,
    memory_all_ready: Memory,
    memory_end: Memory,
    watchers_all_ready: Memory,
    watchers_end: Memory,
    watches: Counts,
    requests: Counts,
}

/// `STATE: reason` of a run that did not complete.
fn describe(outcome: &Outcome) -> String {
    match (&outcome.error, &outcome.last) {
        (Some(error), _) => format!("run {}: {error}", outcome.run_id),
        (None, Some((state, reason))) => format!("run {} ended {state}: {reason}", outcome.run_id),
        (None, None) => format!("run {} never moved", outcome.run_id),
    }
}

/// Prints the phase's progress every [`PROGRESS`] until aborted.
fn print_progress(progress: Arc<Progress>, runs: usize) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PROGRESS);
        tick.tick().await;
        loop {
            tick.tick().await;
            eprintln!(
                "  {}/{runs} READY, {} live, {} over, RSS {:.0} MiB",
                progress.ready(),
                progress.live(),
                progress.ended(),
                Memory::now().map_or(0.0, |m| m.rss_mib),
            );
        }
    })
}

/// Reads the runs' states every half second (printing them every [`PROGRESS`]) until
/// `done` holds for them or `deadline` passes; the last states read.
async fn wait_states(
    database: &Database,
    deadline: Instant,
    done: impl Fn(&Counts) -> bool,
) -> anyhow::Result<Counts> {
    let mut printed = Instant::now();
    loop {
        let states = database.states().await?;
        if done(&states) || Instant::now() >= deadline {
            return Ok(states);
        }
        if printed.elapsed() >= PROGRESS {
            printed = Instant::now();
            let shown: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
            eprintln!("  {}", shown.join(", "));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A per-invocation suffix for namespace names.
fn unique() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() % 1_000_000)
}
