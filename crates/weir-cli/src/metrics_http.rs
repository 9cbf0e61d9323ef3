//! The HTTP endpoint of a running weir, for Prometheus and orchestrators:
//!
//! * `GET /metrics`: the pipeline's metrics in the Prometheus text format
//!   (see [`exposition`]): per component (labels `stage` and `role`) its
//!   counters, its input link's depth, capacity and high-water mark, where
//!   its time went (totals, and shares over [`weir::VERDICT_WINDOW`]), its
//!   latency histogram, its own readings and whether it is the bottleneck
//!   now; pipeline-wide the books. 503 until the pipeline has started.
//! * `GET /ready`: 200 once the source and sink are connected (the pipeline
//!   has started) and until a drain or stop begins; 503 otherwise.
//! * `GET /health`: 200 while the process runs.
//!
//! The endpoint is served from before the source and sink connect, so an
//! orchestrator sees a live but not ready process while they do.

mod exposition;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::task::JoinHandle;
use weir::{PipelineMonitor, ShutdownHandle};

use exposition::render_metrics;

/// The pipeline the endpoint shows, once it has started.
type Started = Arc<OnceLock<(PipelineMonitor, ShutdownHandle)>>;

/// A served endpoint; dropping it stops serving.
pub struct MetricsEndpoint {
    /// The address actually bound.
    pub addr: SocketAddr,
    started: Started,
    task: JoinHandle<()>,
}

impl MetricsEndpoint {
    /// From now on the endpoint shows this pipeline, and is ready while it
    /// is not stopping.
    pub fn started(&self, monitor: PipelineMonitor, shutdown: ShutdownHandle) {
        let _ = self.started.set((monitor, shutdown));
    }
}

impl Drop for MetricsEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `addr` (port 0 picks a free port) and serves `/metrics`, `/ready`
/// and `/health` until the returned endpoint is dropped.
pub async fn serve(addr: SocketAddr) -> std::io::Result<MetricsEndpoint> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let started = Started::default();
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/ready", get(ready))
        .route("/health", get(|| async { "ok\n" }))
        .with_state(started.clone());
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "metrics endpoint on {bound} stopped");
        }
    });
    Ok(MetricsEndpoint {
        addr: bound,
        started,
        task,
    })
}

/// `GET /metrics`: the pipeline now, shares and bottleneck over the recent
/// window.
async fn metrics(State(started): State<Started>) -> Response {
    let Some((monitor, _)) = started.get() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "not started yet\n").into_response();
    };
    let body = render_metrics(&monitor.snapshot(), &monitor.window_verdicts());
    (
        [(
            CONTENT_TYPE,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        )],
        body,
    )
        .into_response()
}

/// The exposition of `snapshot` (no verdicts), for the tests of readers.
#[cfg(test)]
pub(crate) fn render_for_tests(snapshot: &weir::metrics::PipelineSnapshot) -> String {
    render_metrics(snapshot, &[])
}

/// `GET /ready`: whether the pipeline runs and takes records.
async fn ready(State(started): State<Started>) -> (StatusCode, &'static str) {
    match started.get() {
        None => (StatusCode::SERVICE_UNAVAILABLE, "connecting\n"),
        Some((_, shutdown)) if shutdown.is_stopping() => {
            (StatusCode::SERVICE_UNAVAILABLE, "stopping\n")
        }
        Some(_) => (StatusCode::OK, "ready\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir::io::{iter_source, sink_fn};
    use weir::stage::Stage;
    use weir::Pipeline;

    async fn status(addr: SocketAddr, path: &str) -> u16 {
        reqwest::get(format!("http://{addr}{path}"))
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serves_the_counters_of_a_real_run_and_readiness() {
        let endpoint = serve(([127, 0, 0, 1], 0).into()).await.unwrap();
        let addr = endpoint.addr;
        assert_eq!(status(addr, "/health").await, 200);
        assert_eq!(status(addr, "/ready").await, 503, "not started");
        assert_eq!(status(addr, "/metrics").await, 503, "not started");

        let running = Pipeline::builder()
            .source("numbers", iter_source(0..10u32))
            .stage(
                "halve",
                Stage::map(|n: u32| {
                    if n == 3 {
                        Err("odd one out".into())
                    } else {
                        Ok(n / 2)
                    }
                }),
            )
            .sink("out", sink_fn(|_: &u32| Ok(())))
            .start();
        let shutdown = running.shutdown_handle();
        endpoint.started(running.monitor(), shutdown.clone());
        assert_eq!(status(addr, "/ready").await, 200);
        let report = running.wait().await;
        assert_eq!(report.accounting.delivered, 9);

        let response = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap();
        assert!(response.status().is_success());
        let content_type = response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        let text = response.text().await.unwrap();
        for line in [
            "weir_records_out_total{stage=\"numbers\",role=\"source\"} 10",
            "weir_records_in_total{stage=\"halve\",role=\"stage\"} 10",
            "weir_dead_letters_total{stage=\"halve\",role=\"stage\"} 1",
            "weir_records_in_total{stage=\"out\",role=\"sink\"} 9",
            "weir_queue_depth{stage=\"out\",role=\"sink\"} 0",
            "weir_received_total 10",
            "weir_delivered_total 9",
            "weir_dead_lettered_total 1",
            "weir_nacked_total 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        shutdown.stop_now();
        assert_eq!(status(addr, "/ready").await, 503, "stopping");
        drop(endpoint);
    }
}
