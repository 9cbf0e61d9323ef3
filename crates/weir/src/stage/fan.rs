//! Fan-out and fan-in: a broadcast hands every record to each of several
//! branches (the slowest branch pushes back on all), and a merge joins the
//! branches' outputs into one link again.

use std::sync::Arc;

use weir_core::Queue;

use crate::metrics::stage::StageMetrics;
use crate::pipeline::context::RunContext;
use crate::record::Record;

/// Puts a copy of each record into every branch, in turn: a full branch
/// makes the broadcast wait, so the slowest branch sets the pace. Each copy
/// carries a part of the record's acknowledgement; the record is finished
/// when every branch has finished its copy.
pub(crate) async fn run_broadcast<T: Clone + Send + 'static>(
    name: Arc<str>,
    metrics: Arc<StageMetrics>,
    input: Queue<Record<T>>,
    branches: Vec<Queue<Record<T>>>,
) {
    'records: while let Some(record) = input.get().await {
        let started = metrics.begin(false);
        let copies = vec![record.payload.clone(); branches.len()];
        let parts = record.split(copies, &name);
        metrics.end(started);
        StageMetrics::add(&metrics.records_out, parts.len() as u64);
        for (part, branch) in parts.into_iter().zip(&branches) {
            if branch.put(part).await.is_err() {
                break 'records; // stopped at once; the rest is nacked
            }
        }
    }
    for branch in &branches {
        branch.shutdown();
    }
}

/// Forwards every branch's records into `output`, one worker per branch;
/// shuts `output` once every branch has ended.
pub(crate) async fn run_merge<U: Send + 'static>(
    ctx: Arc<RunContext>,
    metrics: Arc<StageMetrics>,
    branches: Vec<Queue<Record<U>>>,
    output: Queue<Record<U>>,
) {
    let forwarders: Vec<_> = branches
        .into_iter()
        .map(|branch| {
            let (metrics, output) = (metrics.clone(), output.clone());
            ctx.spawn(async move {
                while let Some(record) = branch.get().await {
                    StageMetrics::add(&metrics.records_in, 1);
                    if output.put(record).await.is_err() {
                        return;
                    }
                    StageMetrics::add(&metrics.records_out, 1);
                }
            })
        })
        .collect();
    for forwarder in forwarders {
        // A forwarder only fails by being aborted at a stop.
        let _ = forwarder.await;
    }
    output.shutdown();
}
