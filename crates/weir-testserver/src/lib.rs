//! weir-testserver: an HTTP server that behaves like a real service under
//! load, for testing and benchmarking HTTP clients (weir's HTTP stage above
//! all).
//!
//! * **Capacity and latency.** Up to `capacity` requests in service answer
//!   in `base_latency`; beyond it latency grows as
//!   `base_latency × (in_service / capacity)²`, and beyond
//!   `overload_factor × capacity` the server answers 503 at once. The
//!   latency is held to a fraction of a millisecond ([`precise_sleep`]),
//!   not rounded up to tokio's millisecond ticks, which made a 20 ms
//!   request take 21.8 ms.
//! * **Faults** ([`Faults`]), at given rates: 500s, 429s with a
//!   `Retry-After`, hangs past the client's timeout, and connections closed
//!   without a response. Which request gets which is decided by a hash of
//!   the seed, the request's key (path and query) and how often that key was
//!   asked before: deterministic for a seed, fresh for each retry.
//! * **Stats** ([`ServerStats`]) and a per-key request log
//!   ([`RunningServer::requests_by_key`]).
//!
//! Any method and path is answered; a served request gets a JSON echo:
//! `{"path": "/items/7", "seq": 12, "attempt": 1, "body_bytes": 0}`
//! (`seq`: the server's sequence number; `attempt`: how many times this
//! key was asked, this one included).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let server = weir_testserver::start(weir_testserver::ServerConfig::default()).await?;
//! println!("listening on http://{}", server.addr());
//! println!("{:?}", server.stats());
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod faults;
mod precise;
mod service;
mod stats;
mod tls;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

pub use faults::{Fault, Faults};
pub use precise::precise_sleep;
use service::{handle, Shared};
pub use stats::{RequestLog, ServerStats};
pub use tls::{TestPki, Tls};

/// How the server behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// The port on 127.0.0.1; 0 (the default) picks a free one.
    pub port: u16,
    /// Requests in service at once before latency grows; 64 by default.
    pub capacity: usize,
    /// Latency of a request while at most `capacity` are in service; 10 ms
    /// by default.
    pub base_latency: Duration,
    /// Beyond `overload_factor × capacity` in service, answer 503; 2 by
    /// default.
    pub overload_factor: f64,
    /// Faults to inject; none by default.
    pub faults: Faults,
    /// Seed of the fault draws.
    pub seed: u64,
    /// Serve HTTPS with these settings; plain HTTP by default.
    pub tls: Option<Tls>,
    /// A window during which the service is down; none by default.
    pub outage: Option<Outage>,
}

/// A window during which the server is down, timed from its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    /// When it begins, after the server started.
    pub start: Duration,
    /// How long it lasts.
    pub length: Duration,
    /// How the server is down.
    pub kind: OutageKind,
}

/// How a server is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutageKind {
    /// Every request is answered `503` with this `Retry-After` (seconds).
    Unavailable {
        /// The `Retry-After` sent.
        retry_after_secs: u64,
    },
    /// The port is closed: connections are refused, and those open when the
    /// outage begins are closed.
    Refused,
}

impl Outage {
    /// Whether `since_start` falls in the window.
    pub fn covers(&self, since_start: Duration) -> bool {
        since_start >= self.start && since_start < self.start + self.length
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            port: 0,
            capacity: 64,
            base_latency: Duration::from_millis(10),
            overload_factor: 2.0,
            faults: Faults::default(),
            seed: 0,
            tls: None,
            outage: None,
        }
    }
}

/// A server started by [`start`]. Dropping it stops the server too.
pub struct RunningServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
}

impl RunningServer {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://{addr}` (`https://` with TLS), without a trailing slash.
    pub fn url(&self) -> String {
        let scheme = if self.shared.config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// The counters now.
    pub fn stats(&self) -> ServerStats {
        self.shared.stats.snapshot()
    }

    /// Every answered request so far, by key (path and query), each key's
    /// in arrival order.
    pub fn requests_by_key(&self) -> HashMap<String, Vec<RequestLog>> {
        self.shared.stats.requests_by_key()
    }

    /// Stops accepting and closes every connection (requests in service are
    /// cancelled).
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Binds 127.0.0.1:`config.port` and serves on the current tokio runtime.
///
/// # Errors
/// The bind's, or TLS settings that rustls refuses.
pub async fn start(config: ServerConfig) -> io::Result<RunningServer> {
    let acceptor = config.tls.as_ref().map(tls::acceptor).transpose()?;
    let listener = TcpListener::bind(("127.0.0.1", config.port)).await?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        config,
        started: tokio::time::Instant::now(),
        stats: Default::default(),
    });
    let task = tokio::spawn(accept(listener, acceptor, shared.clone()));
    Ok(RunningServer {
        addr,
        shared,
        task: Some(task),
    })
}

/// Accepts connections until aborted; aborting drops (and so aborts) every
/// connection's task. During a [`OutageKind::Refused`] outage the listener
/// is closed (and every open connection with it) and bound again after.
async fn accept(listener: TcpListener, acceptor: Option<TlsAcceptor>, shared: Arc<Shared>) {
    let mut listener = Some(listener);
    let mut connections = JoinSet::new();
    let refused = shared
        .config
        .outage
        .filter(|outage| outage.kind == OutageKind::Refused);
    let (mut down_at, up_at) = match refused {
        Some(outage) => (
            Some(shared.started + outage.start),
            Some(shared.started + outage.start + outage.length),
        ),
        None => (None, None),
    };
    let addr = listener.as_ref().and_then(|l| l.local_addr().ok());
    loop {
        tokio::select! {
            accepted = async { listener.as_ref()?.accept().await.ok() }, if listener.is_some() => {
                let Some((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let acceptor = acceptor.clone();
                connections.spawn(async move {
                    let service = service_fn(move |request| handle(shared.clone(), request));
                    let http = http1::Builder::new();
                    // Errors here are resets (injected or by the client) or
                    // failed handshakes (a client that does not trust us, or
                    // that we do not trust).
                    let _ = match acceptor {
                        None => http.serve_connection(TokioIo::new(stream), service).await,
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(stream) => http.serve_connection(TokioIo::new(stream), service).await,
                            Err(_) => return,
                        },
                    };
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = sleep_until(down_at), if down_at.is_some() => {
                down_at = None;
                listener = None;
                connections.abort_all();
            }
            () = sleep_until(up_at), if listener.is_none() => {
                listener = match addr {
                    Some(addr) => TcpListener::bind(addr).await.ok(),
                    None => None,
                };
                if listener.is_none() {
                    return;
                }
            }
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
