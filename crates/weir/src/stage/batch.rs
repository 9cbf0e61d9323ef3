//! Batching: records grouped by count or by time, whichever comes first.

use std::sync::Arc;
use std::time::Duration;

use weir_core::Queue;

use crate::ack::AckSet;
use crate::metrics::stage::StageMetrics;
use crate::record::Record;

/// Groups up to `size` records into one; a batch is sent early once
/// `max_wait` has passed since its first record arrived. The batch's
/// acknowledgements are those of all its records.
pub(crate) async fn run_batch<T: Send + 'static>(
    metrics: Arc<StageMetrics>,
    size: usize,
    max_wait: Duration,
    input: Queue<Record<T>>,
    output: Queue<Record<Vec<T>>>,
) {
    let size = size.max(1);
    'batches: while let Some(first) = input.get().await {
        let started = metrics.begin(true);
        let deadline = tokio::time::Instant::now() + max_wait;
        let mut records = vec![first];
        let mut input_open = true;
        while records.len() < size {
            match tokio::time::timeout_at(deadline, input.get()).await {
                Ok(Some(record)) => {
                    StageMetrics::add(&metrics.records_in, 1);
                    records.push(record);
                }
                Ok(None) => {
                    input_open = false;
                    break;
                }
                Err(_deadline) => break,
            }
        }
        let id = records[0].id;
        let (payloads, acks): (Vec<T>, Vec<AckSet>) =
            records.into_iter().map(|r| (r.payload, r.acks)).unzip();
        let batch = Record::new(id, payloads, AckSet::merge(acks));
        metrics.end(started);
        StageMetrics::add(&metrics.records_out, 1);
        if output.put(batch).await.is_err() || !input_open {
            break 'batches;
        }
    }
    output.shutdown();
}
