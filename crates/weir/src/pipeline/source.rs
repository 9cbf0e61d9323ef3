//! Running a source: pull an item only when the first link has room.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use weir_core::Queue;

use crate::ack::{AckSet, AckToken};
use crate::io::{DeadPayload, Source, SourceItem};
use crate::metrics::stage::StageMetrics;
use crate::pipeline::context::RunContext;
use crate::record::Record;

/// How often (in records) a source that is always ready checks for a drain.
const DRAIN_CHECK_EVERY: u64 = 64;

pub(crate) async fn run_source<T: Send + 'static>(
    mut source: impl Source<T>,
    name: Arc<str>,
    metrics: Arc<StageMetrics>,
    ctx: Arc<RunContext>,
    output: Queue<Record<T>>,
) {
    let drain = ctx.drain.clone();
    let drain = drain.cancelled();
    tokio::pin!(drain);
    for pulled in 0u64.. {
        // The source is polled first, so a ready source pays nothing for the
        // drain check but this one, every so often.
        if pulled % DRAIN_CHECK_EVERY == 0 && ctx.drain.is_cancelled() {
            break;
        }
        // `next` is cancelled when a drain begins; sources are cancel-safe.
        let item = tokio::select! {
            biased;
            item = source.next() => item,
            _ = &mut drain => break,
        };
        let Some(item) = item else { break };
        StageMetrics::add(&metrics.records_in, 1);
        let (emitted, origin) = match item {
            SourceItem::Record(emitted) => (emitted, source.take_origin()),
            SourceItem::Invalid {
                raw,
                reason,
                on_ack,
            } => {
                let token = AckToken::new(ctx.accounting.clone(), on_ack, None);
                let raw = DeadPayload::Raw(raw);
                let mut record = Record::new(ctx.next_id(), raw, AckSet::one(token));
                record.attempts = 1;
                ctx.dead_letter_payload(record, &name, reason, &metrics)
                    .await;
                continue;
            }
        };
        let token = AckToken::new(ctx.accounting.clone(), emitted.on_ack, origin);
        let record = Record::new(ctx.next_id(), emitted.payload, AckSet::one(token));
        StageMetrics::add(&metrics.records_out, 1);
        // Held while waiting for room, so a stop can say so.
        metrics.in_flight.fetch_add(1, Ordering::Relaxed);
        let put = output.put(record).await;
        metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
        if put.is_err() {
            break; // stopped at once; the record is nacked
        }
    }
    output.shutdown();
}
