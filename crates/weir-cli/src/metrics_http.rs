//! Prometheus text exposition of a running pipeline's metrics over HTTP:
//! `GET /metrics` on the address given to [`serve`].
//!
//! Per component (labels `stage` and `role`): its counters, its input
//! link's depth, capacity and high-water mark, where its time went (totals,
//! and shares over [`weir::VERDICT_WINDOW`]), its latency quantiles and
//! whether it is the bottleneck now. Pipeline-wide: the books.

mod exposition;

use std::net::SocketAddr;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::task::JoinHandle;
use weir::PipelineMonitor;

use exposition::render_metrics;

/// Binds `addr` (port 0 picks a free port) and serves `GET /metrics` until
/// the returned task is aborted. Returns the address actually bound.
pub async fn serve(
    addr: SocketAddr,
    monitor: PipelineMonitor,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(metrics))
        .with_state(monitor);
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            eprintln!("weir: metrics endpoint on {bound} stopped: {error}");
        }
    });
    Ok((bound, task))
}

/// `GET /metrics`: the pipeline now, shares and bottleneck over the recent
/// window.
async fn metrics(State(monitor): State<PipelineMonitor>) -> impl IntoResponse {
    let body = render_metrics(&monitor.snapshot(), &monitor.window_verdicts());
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir::io::{iter_source, sink_fn};
    use weir::stage::Stage;
    use weir::Pipeline;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serves_the_counters_of_a_real_run() {
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
        let (addr, server) = serve(([127, 0, 0, 1], 0).into(), running.monitor())
            .await
            .unwrap();
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
        server.abort();
    }
}
