//! The clients that run inside a `weir-bench child http-*` process: weir's
//! pipeline with the CLI's HTTP stage (library API), and a plain reqwest
//! loop with `buffer_unordered`. Each prints
//! `ok=.. failed=.. limit=..` on stdout; the weir client also `steady=..`,
//! its goodput over the last two thirds of its successes (past start-up
//! and slow start).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use serde_json::json;
use weir::io::{iter_source, sink_fn};
use weir::Pipeline;
use weir_cli::record::{payload, Payload};

/// `child http-weir BASE N CONCURRENCY` (a number or `adaptive`).
pub fn weir(args: &[String]) -> Result<(), String> {
    let [base, n, concurrency] = args else {
        return Err(format!("expected BASE N CONCURRENCY, got {args:?}"));
    };
    let n: u64 = n.parse().map_err(|e| format!("bad N {n:?}: {e}"))?;
    let concurrency = if concurrency == "adaptive" {
        "\"adaptive\"\nmax_concurrency = 256".to_owned()
    } else {
        let fixed: usize = concurrency
            .parse()
            .map_err(|e| format!("bad concurrency {concurrency:?}: {e}"))?;
        fixed.to_string()
    };
    let table = format!(
        "url = \"{base}/items/{{id}}\"\ntimeout = \"10s\"\n\
         retries = {{ max_attempts = 3 }}\nconcurrency = {concurrency}\n"
    );
    let (stage, limit) = weir_cli::parts::http_stage(&table, "fetch")?;
    let ok = Arc::new(AtomicU64::new(0));
    let counted = ok.clone();
    // Nanoseconds from `start` to the (n/3)-th success and to the last.
    let (third, last) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (third_at, last_at) = (third.clone(), last.clone());
    let start = Instant::now();
    let report = crate::queue::runtime().block_on(
        Pipeline::builder()
            .source(
                "ids",
                iter_source((0..n).map(|id| payload(json!({ "id": id })))),
            )
            .stage("fetch", stage)
            .sink(
                "count",
                sink_fn(move |record: &Payload| {
                    if record["status"] == 200 {
                        let count = counted.fetch_add(1, Ordering::Relaxed) + 1;
                        let now = start.elapsed().as_nanos() as u64;
                        if count == n / 3 {
                            third_at.store(now, Ordering::Relaxed);
                        }
                        last_at.store(now, Ordering::Relaxed);
                    }
                    Ok(())
                }),
            )
            .run(),
    );
    let ok = ok.load(Ordering::Relaxed);
    let span = last
        .load(Ordering::Relaxed)
        .saturating_sub(third.load(Ordering::Relaxed));
    let steady = if ok > n / 3 && span > 0 {
        (ok - n / 3) as f64 / (span as f64 / 1e9)
    } else {
        0.0
    };
    println!(
        "ok={ok} failed={} limit={} steady={steady:.1}",
        report.accounting.dead_lettered,
        limit.map_or(0, |l| l.current_limit())
    );
    Ok(())
}

/// `child http-reqwest BASE N CONCURRENCY`.
pub fn reqwest(args: &[String]) -> Result<(), String> {
    let [base, n, concurrency] = args else {
        return Err(format!("expected BASE N CONCURRENCY, got {args:?}"));
    };
    let n: u64 = n.parse().map_err(|e| format!("bad N {n:?}: {e}"))?;
    let concurrency: usize = concurrency.parse().map_err(|e| format!("bad C: {e}"))?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .map_err(|e| e.to_string())?;
    let ok = crate::queue::runtime().block_on(
        futures::stream::iter(0..n)
            .map(|id| {
                let request = client.get(format!("{base}/items/{id}"));
                async move {
                    match request.send().await {
                        Ok(response) => response.status() == 200 && response.bytes().await.is_ok(),
                        Err(_) => false,
                    }
                }
            })
            .buffer_unordered(concurrency)
            .filter(|ok| futures::future::ready(*ok))
            .count(),
    );
    println!("ok={ok} failed={} limit=0", n - ok as u64);
    Ok(())
}
