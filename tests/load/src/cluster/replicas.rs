//! The replica mode of the Kubernetes benchmark (`kube --replicas 1,2,3`, issue 17):
//! real `runplane serve` processes sharing one PostgreSQL database (decision 60), the
//! runs submitted through their HTTP API round-robin, and what the store says of them.
//!
//! - [`Replica`]: one `runplane serve` (the release binary) on a 127.0.0.1 port, its
//!   stderr kept in a log file; its memory read from `/proc/<pid>`, and SIGKILL.
//! - [`Database`]: a fresh database on the PostgreSQL server of
//!   `runplane_test_support::postgres` (started by this process, stopped when it ends),
//!   read with `psql`: run states, owners, and the time of each transition.
//! - [`submit`]: the runs posted to the replicas in turn, at most `concurrency` requests
//!   at a time.
//! - [`ReplicaSize`]: the figures of one number of replicas, and their table.
//!
//! The lag is the store's time of each run's COMPLETED transition against the
//! benchmark's own sighting of its pod Succeeded ([`crate::cluster::seen`]): both are
//! wall-clock times of this machine.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use hyper::Method;
use hyper::body::Bytes;
use runplane_model::{ALL_STATES, RunState};
use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, oneshot};

use crate::cluster::figures::{Lag, RawFigures, render_counts, render_mappings, render_memory};
use crate::cluster::memory::Memory;
use crate::cluster::metrics::Counts;
use crate::cluster::seen;
use crate::load;

/// What `runplane serve` prints once it listens, before the address.
const SERVING: &str = "runplane serving http://";
/// The longest a replica may take to listen (the first one compiles the runtimes when
/// the cache is empty).
const STARTUP: Duration = Duration::from_secs(300);

/// One `runplane serve` process; killed when dropped.
pub struct Replica {
    /// Where its API listens.
    pub addr: SocketAddr,
    /// Its process id.
    pub pid: u32,
    child: Child,
}

/// How the replicas are started.
pub struct Launch<'a> {
    /// The `runplane` executable.
    pub program: &'a Path,
    /// The cluster's kubeconfig.
    pub kubeconfig: &'a Path,
    /// `RUNPLANE_DATABASE_URL`.
    pub database_url: &'a str,
    /// `XDG_CACHE_HOME` of every replica: the compiled runtimes are cached there, so only
    /// the first start compiles them.
    pub cache: &'a Path,
}

impl Launch<'_> {
    /// Starts a replica working in `dir`, its stderr written to `log` (lines naming a
    /// warning or an error are printed too, prefixed with `name`), and returns once it
    /// listens.
    pub async fn start(&self, dir: &Path, log: &Path, name: &str) -> anyhow::Result<Replica> {
        let mut child = Command::new(self.program)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .current_dir(dir)
            .env("RUNPLANE_DATABASE_URL", self.database_url)
            .env("KUBECONFIG", self.kubeconfig)
            .env("RUNPLANE_HOME", dir.join("home"))
            .env("XDG_CACHE_HOME", self.cache)
            .env_remove("RUNPLANE_SERVER")
            .env_remove("RUNPLANE_PLUGINS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", self.program.display()))?;
        let pid = child.id().context("the replica exited at once")?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut file = tokio::fs::File::create(log)
            .await
            .with_context(|| format!("cannot create {}", log.display()))?;
        let (listening, address) = oneshot::channel();
        let name = name.to_string();
        // Drains stderr as long as the replica lives, so it never blocks on a full pipe.
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            let mut listening = Some(listening);
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = file.write_all(format!("{line}\n").as_bytes()).await;
                if let Some(address) = line
                    .strip_prefix(SERVING)
                    .and_then(|rest| rest.strip_suffix("/api/v1"))
                    && let Some(listening) = listening.take()
                {
                    let _ = listening.send(address.to_string());
                } else if line.contains("WARN") || line.contains("ERROR") || line.contains("error")
                {
                    eprintln!("  [{name}] {line}");
                }
            }
            let _ = file.flush().await;
        });
        let address = tokio::time::timeout(STARTUP, address)
            .await
            .context("runplane serve did not listen in time")?
            .with_context(|| {
                format!(
                    "runplane serve exited before listening: see {}",
                    log.display()
                )
            })?;
        Ok(Replica {
            addr: address.parse().context("the address serve printed")?,
            pid,
            child,
        })
    }
}

impl Replica {
    /// The replica's memory now.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        Memory::of_pid(self.pid)
    }

    /// SIGKILL, and waits for the process to be gone.
    pub async fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().await.context("cannot kill the replica")
    }
}

/// A fresh database on the test PostgreSQL server.
pub struct Database {
    /// Its URL, for `RUNPLANE_DATABASE_URL`.
    pub url: String,
    name: String,
}

impl Database {
    /// Creates a database (starting the server on first use).
    pub fn fresh() -> anyhow::Result<Database> {
        let url = runplane_test_support::postgres::database()
            .context("PostgreSQL is not installed (initdb, postgres and psql)")?;
        // `postgres://postgres@localhost/<name>?host=<socket dir>`
        let name = url
            .split('?')
            .next()
            .and_then(|base| base.rsplit_once('/'))
            .map(|(_, name)| name.to_string())
            .context("a database URL without a name")?;
        Ok(Database { url, name })
    }

    /// The rows of `sql`, each split into its columns.
    pub async fn rows(&self, sql: String) -> anyhow::Result<Vec<Vec<String>>> {
        let name = self.name.clone();
        let text = tokio::task::spawn_blocking(move || {
            runplane_test_support::postgres::query(&name, &sql)
        })
        .await
        .context("the query failed")?;
        Ok(text
            .lines()
            .filter(|line| !line.is_empty())
            .map(|line| line.split('|').map(str::to_string).collect())
            .collect())
    }

    /// The single number `sql` answers.
    async fn count(&self, sql: String) -> anyhow::Result<usize> {
        let rows = self.rows(sql).await?;
        let value = rows
            .first()
            .and_then(|row| row.first())
            .context("no count")?;
        Ok(value.parse()?)
    }

    /// Runs by state.
    pub async fn states(&self) -> anyhow::Result<Counts> {
        let rows = self
            .rows("SELECT state, count(*) FROM runs GROUP BY state".into())
            .await?;
        Ok(counts(rows))
    }

    /// Live runs by owner.
    pub async fn live_owners(&self) -> anyhow::Result<Counts> {
        let rows = self
            .rows(format!(
                "SELECT owner, count(*) FROM runs WHERE state NOT IN ({}) GROUP BY owner",
                final_states()
            ))
            .await?;
        Ok(counts(rows))
    }

    /// The replica that owns run `id`.
    pub async fn owner(&self, id: &str) -> anyhow::Result<String> {
        let rows = self
            .rows(format!(
                "SELECT owner FROM runs WHERE id = '{}'",
                quoted(id)
            ))
            .await?;
        rows.into_iter()
            .next()
            .and_then(|row| row.into_iter().next())
            .with_context(|| format!("run {id} is not stored"))
    }

    /// Live runs owned by `replica`.
    pub async fn live_of(&self, replica: &str) -> anyhow::Result<usize> {
        self.count(format!(
            "SELECT count(*) FROM runs WHERE owner = '{}' AND state NOT IN ({})",
            quoted(replica),
            final_states()
        ))
        .await
    }

    /// When each run reached `state`, in this process's clock.
    pub async fn reached(&self, state: RunState) -> anyhow::Result<HashMap<String, Instant>> {
        let rows = self
            .rows(format!(
                "SELECT run_id, at FROM transitions WHERE to_state = '{}'",
                state.as_str()
            ))
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let at = seen::from_epoch_nanos(row.get(1)?.parse().ok()?)?;
                Some((row.first()?.clone(), at))
            })
            .collect())
    }
}

/// Rows of a key and a count.
fn counts(rows: Vec<Vec<String>>) -> Counts {
    rows.into_iter()
        .filter_map(|row| Some((row.first()?.clone(), row.get(1)?.parse().ok()?)))
        .collect()
}

/// The final states, quoted for SQL.
fn final_states() -> String {
    let names: Vec<String> = ALL_STATES
        .iter()
        .filter(|state| state.is_final())
        .map(|state| format!("'{}'", state.as_str()))
        .collect();
    names.join(", ")
}

/// `text` for a SQL string literal.
fn quoted(text: &str) -> String {
    text.replace('\'', "''")
}

/// Runs live (READY, PENDING or RUNNING: every object applied) or over, of `states`.
pub fn settled(states: &Counts) -> usize {
    states
        .iter()
        .filter(|(state, _)| {
            ALL_STATES.iter().any(|known| {
                known.as_str() == state.as_str()
                    && (known.is_final()
                        || matches!(
                            known,
                            RunState::Ready | RunState::Pending | RunState::Running
                        ))
            })
        })
        .map(|(_, n)| usize::try_from(*n).unwrap_or(0))
        .sum()
}

/// Runs not over, of `states`.
pub fn live(states: &Counts) -> usize {
    states
        .iter()
        .filter(|(state, _)| {
            !ALL_STATES
                .iter()
                .any(|known| known.as_str() == state.as_str() && known.is_final())
        })
        .map(|(_, n)| usize::try_from(*n).unwrap_or(0))
        .sum()
}

/// What the submission did.
#[derive(Debug, Default)]
pub struct Accepted {
    /// The ids each replica accepted, by replica.
    pub ids: Vec<Vec<String>>,
    /// Requests refused (the first refusal is kept).
    pub refused: usize,
    /// The first refusal.
    pub first_refusal: Option<String>,
    /// When the first request was sent.
    pub started: Option<Instant>,
    /// First request to the last answer.
    pub seconds: f64,
}

/// Posts `runs` times `body` to `path` of the replicas at `addrs` in turn, at most
/// `concurrency` requests at a time, each on a connection of its own.
pub async fn submit(
    addrs: &[SocketAddr],
    path: &str,
    body: Bytes,
    runs: usize,
    concurrency: usize,
) -> Accepted {
    let next = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(Mutex::new(Accepted {
        ids: vec![Vec::new(); addrs.len()],
        ..Accepted::default()
    }));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (next, accepted, addrs, path, body) = (
                next.clone(),
                accepted.clone(),
                addrs.to_vec(),
                path.to_string(),
                body.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= runs {
                        break;
                    }
                    let replica = i % addrs.len();
                    let answer =
                        load::request(addrs[replica], Method::POST, &path, body.clone()).await;
                    let id = match answer {
                        Ok((status, body)) if status.as_u16() == 201 => {
                            serde_json::from_slice::<Value>(&body)
                                .ok()
                                .and_then(|run| Some(run["id"].as_str()?.to_string()))
                                .ok_or_else(|| "an answer without a run id".to_string())
                        }
                        Ok((status, body)) => {
                            Err(format!("{status}: {}", String::from_utf8_lossy(&body)))
                        }
                        Err(error) => Err(format!("{error:#}")),
                    };
                    let mut accepted = accepted.lock().await;
                    match id {
                        Ok(id) => accepted.ids[replica].push(id),
                        Err(error) => {
                            accepted.refused += 1;
                            accepted.first_refusal.get_or_insert(error);
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    let mut accepted = std::mem::take(&mut *accepted.lock().await);
    accepted.started = Some(started);
    accepted.seconds = started.elapsed().as_secs_f64();
    accepted
}

/// The figures of one number of replicas.
#[derive(Debug, Serialize)]
pub struct ReplicaSize {
    /// `runplane serve` processes.
    pub replicas: usize,
    /// Runs submitted.
    pub runs: usize,
    /// Runs accepted (HTTP 201), by replica.
    pub accepted: Vec<usize>,
    /// Submissions refused.
    pub refused: usize,
    /// The first refusal.
    pub first_refusal: Option<String>,
    /// First request to the last answer.
    pub seconds_to_accept: f64,
    /// Runs accepted per second.
    pub accepted_per_second: f64,
    /// First request to the last READY transition (every object applied).
    pub seconds_to_ready: f64,
    /// Runs READY per second over that time: the figure comparable with the plain loop,
    /// which applies every object of a run.
    pub ready_per_second: f64,
    /// Runs READY, PENDING or RUNNING when every run was live (or at the timeout).
    pub live_at_once: usize,
    /// Accepted runs/s over the plain loop's runs/s.
    pub accepted_ratio: f64,
    /// READY runs/s over the plain loop's runs/s.
    pub ready_ratio: f64,
    /// Pod Succeeded (the benchmark's watcher) to the COMPLETED transition (the store),
    /// every run.
    pub lag_from_pod_succeeded: Lag,
    /// The same, the runs their accepting replica drove to the end.
    pub lag_own_runs: Lag,
    /// The same, the runs taken over from the killed replica.
    pub lag_taken_over: Lag,
    /// Each replica's memory when every run was READY or RUNNING.
    pub memory_all_live: Vec<Memory>,
    /// Each replica's memory when every run was over (`null`: the killed one).
    pub memory_end: Vec<Option<Memory>>,
    /// The SIGKILL of the last replica (two replicas or more).
    pub takeover: Option<Takeover>,
    /// Runs by final state.
    pub end_states: Counts,
    /// Runs not over at the timeout.
    pub not_over: usize,
    /// Seconds the namespace deletion took (`null`: timed out).
    pub cleanup_seconds: Option<f64>,
}

/// A replica killed while its runs were live.
#[derive(Debug, Serialize)]
pub struct Takeover {
    /// Its replica id.
    pub replica: String,
    /// Its live runs at the kill.
    pub live_runs: usize,
    /// SIGKILL until no live run in the store was owned by it (`null`: not by the
    /// timeout).
    pub seconds_to_claimed: Option<f64>,
    /// SIGKILL until the last of its runs was COMPLETED (the store's time).
    pub seconds_to_completed: Option<f64>,
    /// Live runs by owner right after the takeover.
    pub owners_after: Counts,
}

impl ReplicaSize {
    /// The table: figure, value, goal.
    pub fn render(&self, raw: &RawFigures) -> String {
        let mut table = Table::new();
        table
            .load_preset(UTF8_BORDERS_ONLY)
            .set_header(["figure", "value", "goal"]);
        let accepted: Vec<String> = self.accepted.iter().map(usize::to_string).collect();
        let mut rows = vec![
            (
                "runs".to_string(),
                format!(
                    "{} submitted, accepted {} (by replica), {} refused; {} live at once; ended {}",
                    self.runs,
                    accepted.join(" + "),
                    self.refused,
                    self.live_at_once,
                    render_counts(&self.end_states, None)
                ),
                String::new(),
            ),
            (
                "submission accepted (HTTP 201)".into(),
                format!(
                    "{:.1} runs/s ({:.1} s)",
                    self.accepted_per_second, self.seconds_to_accept
                ),
                String::new(),
            ),
            (
                "submission to every run READY".into(),
                format!(
                    "{:.1} runs/s ({:.1} s)",
                    self.ready_per_second, self.seconds_to_ready
                ),
                String::new(),
            ),
            (
                "plain kube SSA".into(),
                format!("{:.1} runs/s ({:.1} s)", raw.runs_per_second, raw.seconds),
                String::new(),
            ),
            (
                "accepted / raw, READY / raw".into(),
                format!("{:.2}, {:.2}", self.accepted_ratio, self.ready_ratio),
                "≥ 1.0".into(),
            ),
            (
                "lag pod Succeeded → COMPLETED".into(),
                self.lag_from_pod_succeeded.render(),
                "p99 < 100 ms".into(),
            ),
            (
                "  runs driven by their own replica".into(),
                self.lag_own_runs.render(),
                String::new(),
            ),
            (
                "  runs taken over".into(),
                self.lag_taken_over.render(),
                String::new(),
            ),
        ];
        for (n, memory) in self.memory_all_live.iter().enumerate() {
            rows.push((
                format!("replica {n} RSS, every run live"),
                render_memory(memory),
                "< 300 MiB at 10,000".into(),
            ));
            rows.push((
                "  by mapping".into(),
                render_mappings(memory),
                String::new(),
            ));
        }
        for (n, memory) in self.memory_end.iter().enumerate() {
            rows.push((
                format!("replica {n} RSS, every run over"),
                memory.as_ref().map_or("killed".into(), render_memory),
                String::new(),
            ));
        }
        if let Some(takeover) = &self.takeover {
            let seconds =
                |s: Option<f64>| s.map_or("not by the timeout".into(), |s| format!("{s:.1} s"));
            rows.push((
                format!("SIGKILL of replica {}: its live runs", self.replicas - 1),
                takeover.live_runs.to_string(),
                String::new(),
            ));
            rows.push((
                "  until none is owned by it".into(),
                seconds(takeover.seconds_to_claimed),
                "< 15 s".into(),
            ));
            rows.push((
                "  until all are COMPLETED".into(),
                seconds(takeover.seconds_to_completed),
                String::new(),
            ));
            rows.push((
                "  live runs by owner after".into(),
                render_counts(&takeover.owners_after, None),
                String::new(),
            ));
        }
        for (figure, value, goal) in rows {
            table.add_row([figure, value, goal]);
        }
        let mut text = format!("{} replicas, {} runs\n{table}\n", self.replicas, self.runs);
        if let Some(refusal) = &self.first_refusal {
            text.push_str(&format!("  first refused submission: {refusal}\n"));
        }
        if self.not_over > 0 {
            text.push_str(&format!(
                "  {} runs not over at the timeout\n",
                self.not_over
            ));
        }
        text
    }
}

/// The replica mode's report.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The `runplane` binary.
    pub runplane: PathBuf,
    /// Runs posted at once.
    pub concurrency: usize,
    /// How long kwok keeps each pod Running.
    pub pod_runs_for: String,
    /// Cores of the machine.
    pub cores: usize,
    /// The plain loop per number of runs.
    pub raw: BTreeMap<usize, RawFigures>,
    /// One entry per number of runs and of replicas.
    pub sizes: Vec<ReplicaSize>,
}
