//! Answering one request: the fault draw, the latency model, the echo.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Request, Response, StatusCode};
use tokio::time::Instant;

use crate::faults::Fault;
use crate::stats::{RequestLog, Stats};
use crate::{OutageKind, ServerConfig};

/// The error a handler returns to make hyper close the connection without
/// a response.
#[derive(Debug)]
pub(crate) struct InjectedReset;

impl fmt::Display for InjectedReset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("injected connection reset")
    }
}

impl std::error::Error for InjectedReset {}

pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    pub(crate) started: Instant,
    pub(crate) stats: Stats,
}

impl Shared {
    /// Latency of a request served while `in_service` are in service: the
    /// base, times `(in_service / capacity)²` beyond capacity.
    fn latency(&self, in_service: usize) -> Duration {
        let load = in_service as f64 / self.config.capacity.max(1) as f64;
        self.config.base_latency.mul_f64(load.powi(2).max(1.0))
    }

    fn overloaded(&self, in_service: usize) -> bool {
        in_service as f64 > self.config.overload_factor * self.config.capacity as f64
    }

    /// The `Retry-After` to answer `503` with, while an
    /// [`OutageKind::Unavailable`] outage lasts.
    fn unavailable(&self) -> Option<u64> {
        let outage = self.config.outage?;
        match outage.kind {
            OutageKind::Unavailable { retry_after_secs }
                if outage.covers(self.started.elapsed()) =>
            {
                Some(retry_after_secs)
            }
            _ => None,
        }
    }
}

pub(crate) async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, InjectedReset> {
    let arrived = Instant::now();
    let key = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let path = request.uri().path().to_owned();
    let (seq, nth) = shared.stats.arrive(&key);
    let body_bytes = match request.into_body().collect().await {
        Ok(body) => body.to_bytes().len(),
        Err(_) => return Err(InjectedReset), // the client went away
    };
    let config = &shared.config;
    let fault = config.faults.decide(config.seed, &key, nth);
    let mut retry_after = None;
    let unavailable = shared.unavailable();
    let status = match fault {
        _ if unavailable.is_some() => {
            retry_after = unavailable.map(Duration::from_secs);
            Some(StatusCode::SERVICE_UNAVAILABLE)
        }
        Fault::Reset => None,
        Fault::Throttle => {
            retry_after = Some(Duration::from_secs(config.faults.retry_after_secs));
            Some(StatusCode::TOO_MANY_REQUESTS)
        }
        Fault::Hang => {
            shared.stats.hang();
            tokio::time::sleep(config.faults.hang_for).await;
            Some(StatusCode::GATEWAY_TIMEOUT)
        }
        Fault::None | Fault::Error => {
            let in_service = shared.stats.enter();
            if shared.overloaded(in_service.now) {
                Some(StatusCode::SERVICE_UNAVAILABLE)
            } else {
                crate::precise_sleep(shared.latency(in_service.now)).await;
                Some(if fault == Fault::Error {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                })
            }
        }
    };
    let entry = RequestLog {
        seq,
        arrived,
        answered: Instant::now(),
        status: status.map(|s| s.as_u16()),
        retry_after,
        fault,
    };
    shared.stats.answered(key, entry);
    let Some(status) = status else {
        return Err(InjectedReset);
    };
    let echo = serde_json::json!({
        "path": path,
        "seq": seq,
        "attempt": nth + 1,
        "body_bytes": body_bytes,
    });
    let mut response = Response::new(Full::new(Bytes::from(echo.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(after) = retry_after {
        headers.insert(RETRY_AFTER, HeaderValue::from(after.as_secs()));
    }
    Ok(response)
}
