//! Load generators for Runplane's HTTP API, each measured against a plain axum handler
//! in the same process, so a figure comes with what the machine does without Runplane.
//!
//! # Overview
//!
//! - [`host`]: the real API over the real run service, store and local target.
//! - [`baseline`]: plain axum handlers answering the same bytes.
//! - [`cpu`]: CPU time of the process and of its ended children.
//! - [`load`]: a closed-loop HTTP/1.1 load generator with HDR latency histograms.
//! - [`report`]: the tables.
//! - [`bench`](mod@bench): what every benchmark binary shares (target folder, machine, JSON file).
//!
//! The `api` binary (`make bench-api`) puts them together; see its documentation.

pub mod baseline;
pub mod bench;
pub mod cluster;
pub mod cpu;
pub mod host;
pub mod load;
pub mod report;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Resolves when a [`Served`] server is asked to stop.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A server on a fresh 127.0.0.1 port, serving in a task until [`Served::stop`].
pub struct Served {
    /// Where it listens.
    pub addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Served {
    /// Binds 127.0.0.1:0 and spawns `serve(listener, shutdown)`.
    pub async fn start<F, S>(serve: S) -> anyhow::Result<Served>
    where
        S: FnOnce(TcpListener, Shutdown) -> F,
        F: Future<Output = std::io::Result<()>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot listen on 127.0.0.1")?;
        let addr = listener.local_addr()?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(
            listener,
            Box::pin(async move {
                let _ = stopped.await;
            }),
        ));
        Ok(Served {
            addr,
            shutdown,
            task,
        })
    }

    /// Stops accepting, finishes the requests in flight and waits for the server.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(());
        self.task.await.context("the server panicked")??;
        Ok(())
    }
}
