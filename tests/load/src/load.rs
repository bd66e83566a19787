//! A closed-loop HTTP load generator: `clients` connections, each sending its next
//! request as soon as the previous answer is read, latencies recorded in an HDR
//! histogram.
//!
//! The client is bare hyper over one kept-alive HTTP/1.1 connection per client, with
//! `TCP_NODELAY`: it shares the machine's cores with the server under test, so it should
//! cost as little as possible, and the same client measures the API and the baseline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Barrier;

use crate::cpu::Cpu;

/// When a phase ends.
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// After this many timed requests, over all clients.
    Requests(u64),
    /// After this long (requests in flight then are finished and counted).
    Duration(Duration),
}

/// What a phase sends.
#[derive(Clone, Debug)]
pub struct Phase {
    /// The server.
    pub addr: SocketAddr,
    /// `GET` or `POST`.
    pub method: Method,
    /// Request `i` goes to `paths[i % paths.len()]`.
    pub paths: Vec<String>,
    /// JSON body of every request (empty for none).
    pub body: Bytes,
    /// The status every answer must have; any other counts as a failure.
    pub expect: StatusCode,
    /// Concurrent clients, each on its own connection.
    pub clients: usize,
    /// When the timed part ends.
    pub stop: Stop,
    /// Keep the bodies of successful answers (warm-up ones included), to read the ids
    /// of created runs.
    pub keep_bodies: bool,
}

/// What a phase measured.
#[derive(Debug)]
pub struct Measured {
    /// Latency of each timed, successful request, in microseconds.
    pub latency: Histogram<u64>,
    /// From the start of the timed part until the last client finished.
    pub elapsed: Duration,
    /// Requests answered with the expected status (timed ones).
    pub ok: u64,
    /// Requests answered otherwise, or not at all.
    pub failed: u64,
    /// The first failure, to say why.
    pub first_failure: Option<String>,
    /// Bodies of successful answers, when asked for.
    pub bodies: Vec<Bytes>,
    /// CPU time of this whole process (client and servers) over the phase, warm-up
    /// included.
    pub cpu: Cpu,
    /// Requests sent, warm-up included.
    pub sent: u64,
}

impl Measured {
    /// Timed successful requests per second.
    pub fn throughput(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// CPU time of this process per request sent.
    pub fn cpu_per_request(&self) -> Duration {
        self.cpu.own / self.sent.max(1) as u32
    }
}

/// One client's share of a phase.
struct Share {
    latency: Histogram<u64>,
    started: Instant,
    ended: Instant,
    ok: u64,
    failed: u64,
    first_failure: Option<String>,
    bodies: Vec<Bytes>,
}

/// Runs `phase`. Each client first sends one untimed request (it opens the connection
/// and warms whatever the server caches); all clients then start the timed part
/// together.
pub async fn run(phase: Phase) -> anyhow::Result<Measured> {
    if phase.paths.is_empty() || phase.clients == 0 {
        bail!("a phase needs at least one path and one client");
    }
    let cpu = Cpu::now();
    let phase = Arc::new(phase);
    let next = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(Barrier::new(phase.clients));
    let mut clients = Vec::with_capacity(phase.clients);
    for client in 0..phase.clients {
        let (phase, next, barrier) = (phase.clone(), next.clone(), barrier.clone());
        clients.push(tokio::spawn(async move {
            drive(&phase, client as u64, &next, &barrier).await
        }));
    }
    let mut measured = Measured {
        latency: histogram(),
        elapsed: Duration::ZERO,
        ok: 0,
        failed: 0,
        first_failure: None,
        bodies: Vec::new(),
        cpu: Cpu::default(),
        sent: phase.clients as u64,
    };
    let mut started: Option<Instant> = None;
    let mut ended: Option<Instant> = None;
    for client in clients {
        let share = client.await.context("a client panicked")??;
        measured.latency.add(&share.latency)?;
        measured.ok += share.ok;
        measured.failed += share.failed;
        measured.first_failure = measured.first_failure.or(share.first_failure);
        measured.bodies.extend(share.bodies);
        started = Some(started.map_or(share.started, |s| s.min(share.started)));
        ended = Some(ended.map_or(share.ended, |e| e.max(share.ended)));
    }
    if let (Some(started), Some(ended)) = (started, ended) {
        measured.elapsed = ended - started;
    }
    measured.sent += measured.ok + measured.failed;
    measured.cpu = Cpu::now().since(cpu);
    Ok(measured)
}

/// One client: connect, warm up, wait for the others, then send until the phase stops.
async fn drive(
    phase: &Phase,
    client: u64,
    next: &AtomicU64,
    barrier: &Barrier,
) -> anyhow::Result<Share> {
    let mut sender = connect(phase.addr).await?;
    let mut share = Share {
        latency: histogram(),
        started: Instant::now(),
        ended: Instant::now(),
        ok: 0,
        failed: 0,
        first_failure: None,
        bodies: Vec::new(),
    };
    // Warm-up: one untimed request per client, spread over the paths.
    let answer = send(&mut sender, phase, client as usize).await;
    match answer {
        Ok(body) if phase.keep_bodies => share.bodies.push(body),
        Ok(_) => {}
        Err(error) => bail!("the warm-up request failed: {error:#}"),
    }
    barrier.wait().await;
    share.started = Instant::now();
    let deadline = match phase.stop {
        Stop::Duration(duration) => Some(share.started + duration),
        Stop::Requests(_) => None,
    };
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        match (phase.stop, deadline) {
            (Stop::Requests(total), _) if i >= total => break,
            (_, Some(deadline)) if Instant::now() >= deadline => break,
            _ => {}
        }
        let sent = Instant::now();
        match send(&mut sender, phase, i as usize).await {
            Ok(body) => {
                let micros = sent.elapsed().as_micros().max(1) as u64;
                share.latency.record(micros)?;
                share.ok += 1;
                if phase.keep_bodies {
                    share.bodies.push(body);
                }
            }
            Err(error) => {
                share.failed += 1;
                share.first_failure.get_or_insert(format!("{error:#}"));
                if sender.is_closed() {
                    sender = connect(phase.addr).await?;
                }
            }
        }
    }
    share.ended = Instant::now();
    Ok(share)
}

/// A histogram of microseconds, growing as needed, 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant digits are supported")
}

/// A kept-alive HTTP/1.1 connection to `addr`.
async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP handshake")?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Sends request `i` of `phase` and reads the whole answer; its body when the status is
/// the expected one.
async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    phase: &Phase,
    i: usize,
) -> anyhow::Result<Bytes> {
    let path = &phase.paths[i % phase.paths.len()];
    let request = build(phase.addr, phase.method.clone(), path, phase.body.clone())?;
    sender.ready().await.context("the connection closed")?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if status != phase.expect {
        bail!(
            "{} {path}: {status}: {}",
            phase.method,
            String::from_utf8_lossy(&body)
        );
    }
    Ok(body)
}

/// One request on a new connection, outside any measurement (setting up, capturing a
/// body): its status and body.
pub async fn request(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: Bytes,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let mut sender = connect(addr).await?;
    sender.ready().await.context("the connection closed")?;
    let response = sender
        .send_request(build(addr, method, path, body)?)
        .await?;
    let status = response.status();
    Ok((status, response.into_body().collect().await?.to_bytes()))
}

/// A request to `path` on `addr`, with `body` as JSON unless it is empty.
fn build(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: Bytes,
) -> anyhow::Result<Request<Full<Bytes>>> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, addr.to_string());
    if !body.is_empty() {
        request = request.header(CONTENT_TYPE, "application/json");
    }
    Ok(request.body(Full::new(body))?)
}
