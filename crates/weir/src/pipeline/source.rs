//! Running a source: pull an item only when the first link has room; what
//! the source has at once goes to the link in one batch (`hand_off`).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;

use weir_core::Queue;

use super::hand_off::{batch_size, put_all};
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
    // Records pulled while the source had them at once, handed to the link
    // together (`hand_off`); never more than the link had room for.
    let most = batch_size(&output);
    let mut batch = VecDeque::with_capacity(most);
    let mut room = 1;
    let room_now = || {
        output
            .capacity()
            .map_or(most, |capacity| capacity.saturating_sub(output.len()))
            .clamp(1, most)
    };
    let mut next_drain_check = 0;
    for pulled in 0u64.. {
        if !batch.is_empty()
            && batch.len() >= room
            && !hand_off(&output, &mut batch, &metrics).await
        {
            break; // stopped at once; the records are nacked
        }
        if batch.is_empty() {
            // The source is polled first, so a ready source pays nothing
            // for the drain check but this one, every so often. Counted in
            // records, not batches: a batch starts at any count.
            if pulled >= next_drain_check {
                next_drain_check = pulled + DRAIN_CHECK_EVERY;
                if ctx.drain.is_cancelled() {
                    break;
                }
            }
            room = room_now();
        }
        let item = {
            // `next` is never dropped unfinished but when a drain begins;
            // sources are cancel-safe for that.
            let next = source.next();
            tokio::pin!(next);
            let mut ready = None;
            if !batch.is_empty() {
                match futures::poll!(next.as_mut()) {
                    Poll::Ready(item) => ready = Some(item),
                    Poll::Pending => {
                        // Nothing more at once: hand over what was pulled,
                        // then wait for the source.
                        if !hand_off(&output, &mut batch, &metrics).await {
                            break;
                        }
                        room = room_now();
                    }
                }
            }
            match ready {
                Some(item) => item,
                None => tokio::select! {
                    biased;
                    item = &mut next => item,
                    _ = &mut drain => break,
                },
            }
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
        batch.push_back(Record::new(
            ctx.next_id(),
            emitted.payload,
            AckSet::one(token),
        ));
        StageMetrics::add(&metrics.records_out, 1);
    }
    hand_off(&output, &mut batch, &metrics).await;
    output.shutdown();
}

/// Puts the batch on the link; returns `false` if the link was shut down at
/// once.
async fn hand_off<T>(
    output: &Queue<Record<T>>,
    batch: &mut VecDeque<Record<T>>,
    metrics: &StageMetrics,
) -> bool {
    // Held while waiting for room, so a stop can say so.
    let held = batch.len() as u64;
    metrics.in_flight.fetch_add(held, Ordering::Relaxed);
    let put = put_all(output, batch).await;
    metrics.in_flight.fetch_sub(held, Ordering::Relaxed);
    put
}
