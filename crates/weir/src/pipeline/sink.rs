//! Running a sink: write each record, flush when the input is momentarily
//! empty (or every [`FLUSH_EVERY`] records), and only then acknowledge what
//! was flushed as delivered.

use std::sync::Arc;

use weir_core::Queue;

use super::unflushed::Unflushed;
use crate::ack::Outcome;
use crate::error::PipelineError;
use crate::io::Sink;
use crate::metrics::stage::StageMetrics;
use crate::pipeline::context::RunContext;
use crate::record::Record;
use crate::stage::{AttemptError, RetryPolicy};

/// Records written between two flushes at most.
pub(crate) const FLUSH_EVERY: usize = 1024;

pub(crate) async fn run_sink<T: Send + Sync + 'static>(
    mut sink: impl Sink<T>,
    name: Arc<str>,
    retry: Option<RetryPolicy>,
    metrics: Arc<StageMetrics>,
    ctx: Arc<RunContext>,
    input: Queue<Record<T>>,
) {
    let mut written = Unflushed::default();
    loop {
        let record = match input.try_get() {
            Ok(record) => record,
            Err(_) => {
                if !flush(&mut sink, &mut written, &name, &ctx).await {
                    return;
                }
                match input.get().await {
                    Some(record) => record,
                    None => break,
                }
            }
        };
        let started = metrics.begin(false);
        let mut attempt = 0;
        let failure = loop {
            attempt += 1;
            let error = match sink.write(&record.payload).await {
                Ok(()) => break None,
                Err(error) => AttemptError::Failed(error),
            };
            StageMetrics::add(&metrics.errors, 1);
            match retry.as_ref().and_then(|p| p.next_delay(attempt, &error)) {
                Some(delay) => {
                    StageMetrics::add(&metrics.retries, 1);
                    tokio::time::sleep(delay).await;
                }
                None => break Some(error),
            }
        };
        metrics.end(started);
        match failure {
            None => {
                StageMetrics::add(&metrics.records_out, 1);
                written.push(record.acks, Outcome::Delivered);
                if written.len() >= FLUSH_EVERY
                    && !flush(&mut sink, &mut written, &name, &ctx).await
                {
                    return;
                }
            }
            Some(error) => {
                let mut record = record;
                record.attempts = attempt;
                ctx.dead_letter(record, &name, error.to_string(), &metrics)
                    .await;
            }
        }
        tokio::task::consume_budget().await;
    }
    flush(&mut sink, &mut written, &name, &ctx).await;
}

/// Flushes the sink and acknowledges what was written as delivered. On
/// failure the written records are nacked and the run fails; returns
/// whether to go on.
async fn flush<T>(
    sink: &mut impl Sink<T>,
    written: &mut Unflushed,
    name: &Arc<str>,
    ctx: &RunContext,
) -> bool {
    if written.is_empty() {
        return true;
    }
    let flushed = sink.flush().await;
    written
        .settle(flushed)
        .map_err(|reason| {
            ctx.fail(PipelineError::SinkFailed {
                stage: name.clone(),
                reason,
            })
        })
        .is_ok()
}
