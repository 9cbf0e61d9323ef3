//! Records cross a link in batches when several are at hand at once.
//!
//! A link is a [`Queue`]; one `put` and one `get` per record cost a lock
//! each, and, worse, a wake-up of the task on the other side whenever it
//! had caught up and was waiting: a futex and a thread switch on a
//! multi-threaded runtime. A producer that has several records ready (a
//! source reading a buffered file, a cheap stage working through its
//! input) hands them over with [`put_all`], one lock and one wake-up for
//! all; a consumer takes what is queued with a [`Taker`], one lock for up
//! to a batch of records.
//!
//! Nothing waits to fill a batch: a batch is what was ready at once, so a
//! record is never held back for company, and latency is what it was.
//! A batch is at most half its link's capacity ([`batch_size`]), so a
//! stage worker holds at most that many records taken from its input and
//! that many made for its output beyond what the links hold; the source
//! pulls no more than its link has room for (`source.rs`).
//!
//! Measured (`perf record` of `weir run` file → jq → file, 1M lines):
//! before this module about a third of the samples were in the kernel
//! waking and parking threads (`futex`, `eventfd`, `try_to_wake_up`), after
//! it 9%, and the run took 4.21 s instead of 6.13 s (BENCHMARKS.md, `cli`).

use std::collections::VecDeque;

use weir_core::Queue;

/// The most records moved across a link under one lock: half the default
/// link (64), so that a producer's batch and a consumer's fit in it
/// together.
pub(crate) const HAND_OFF: usize = 32;

/// The records moved across `link` at once: half its capacity, at least
/// one, at most [`HAND_OFF`].
pub(crate) fn batch_size<T>(link: &Queue<T>) -> usize {
    link.capacity()
        .map_or(HAND_OFF, |capacity| capacity / 2)
        .clamp(1, HAND_OFF)
}

/// Puts every record of `batch` on `output`, in order: what fits at once
/// under one lock, then waiting for room as [`Queue::put`] does. Returns
/// `false` if the link was shut down at once; what was left of `batch` is
/// dropped (nacked).
pub(crate) async fn put_all<T>(output: &Queue<T>, batch: &mut VecDeque<T>) -> bool {
    loop {
        output.try_put_many(batch);
        let Some(next) = batch.pop_front() else {
            return true;
        };
        if output.put(next).await.is_err() {
            batch.clear();
            return false;
        }
    }
}

/// The consuming end of a link, taking what is queued in batches.
pub(crate) struct Taker<I> {
    input: Queue<I>,
    taken: VecDeque<I>,
    batch: usize,
}

impl<I> Taker<I> {
    pub(crate) fn new(input: Queue<I>) -> Self {
        let batch = batch_size(&input);
        Taker {
            input,
            taken: VecDeque::with_capacity(batch),
            batch,
        }
    }

    /// The next record if one is at hand or queued, without waiting.
    pub(crate) fn try_next(&mut self) -> Option<I> {
        if self.taken.is_empty() {
            self.input.try_get_many(self.batch, &mut self.taken);
        }
        self.taken.pop_front()
    }

    /// The next record, waiting for one; `None` once the link is shut down
    /// and drained.
    ///
    /// # Cancel safety
    /// Cancel-safe: a record is only taken from the link when this returns.
    pub(crate) async fn next(&mut self) -> Option<I> {
        if let Some(item) = self.try_next() {
            return Some(item);
        }
        let first = self.input.get().await?;
        self.input.try_get_many(self.batch - 1, &mut self.taken);
        Some(first)
    }
}
