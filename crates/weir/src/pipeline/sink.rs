//! Running a sink: write each record, flush when the input is momentarily
//! empty (or every [`FLUSH_EVERY`] records), and only then acknowledge what
//! was flushed as delivered.

use std::future::Future;
use std::sync::Arc;

use futures::FutureExt;

use weir_core::Queue;

use super::hand_off::Taker;
use super::unflushed::{next_or_flush, Next, Unflushed};
use crate::ack::Outcome;
use crate::error::PipelineError;
use crate::io::Sink;
use crate::metrics::stage::StageMetrics;
use crate::pipeline::context::RunContext;
use crate::record::Record;
use crate::stage::retry::{retrying, Retryable};
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
    let mut input = Taker::new(input);
    loop {
        let waited = |waited| metrics.waited_for_input(waited);
        let next = next_or_flush(
            &mut input,
            || flush(&mut sink, &mut written, &name, &ctx),
            waited,
        );
        let record = match next.await {
            Next::Item(record) => record,
            Next::End => break,
            Next::Stop => return,
        };
        let started = metrics.begin(false);
        let write = Write {
            sink: &mut sink,
            item: &record.payload,
            origin: record.acks.origin().map(|origin| &**origin),
        };
        let (attempts, written_or_failed) = retrying(retry.as_ref(), &metrics, write).await;
        metrics.end(started);
        match written_or_failed {
            Ok(()) => {
                StageMetrics::add(&metrics.records_out, 1);
                written.push(record.acks, Outcome::Delivered);
                if written.len() >= FLUSH_EVERY
                    && !flush(&mut sink, &mut written, &name, &ctx).await
                {
                    return;
                }
            }
            Err(error) => {
                let mut record = record;
                record.attempts = attempts;
                ctx.dead_letter(record, &name, error.to_string(), &metrics)
                    .await;
            }
        }
        tokio::task::consume_budget().await;
    }
    flush(&mut sink, &mut written, &name, &ctx).await;
}

/// One write of a record to the sink, as the retry loop makes it.
struct Write<'a, S, T> {
    sink: &'a mut S,
    item: &'a T,
    origin: Option<&'a str>,
}

impl<S: Sink<T>, T: Sync> Retryable for Write<'_, S, T> {
    type Output = ();

    fn attempt(&mut self) -> impl Future<Output = Result<(), AttemptError>> + Send {
        self.sink
            .write_from(self.item, self.origin)
            .map(|written| written.map_err(AttemptError::Failed))
    }
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
