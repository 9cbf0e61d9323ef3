//! Records written to an output but not yet flushed. They are finished
//! (acknowledged to their sources) only once a flush succeeds; if it fails,
//! they are dropped unfinished, which nacks them.
//!
//! An output (the sink, the dead-letter output) flushes when its input is
//! momentarily empty: [`next_or_flush`] is that loop step, for both. It
//! first yields once to the scheduler, so that a producer that is running
//! (a stage in the middle of a batch) can hand over what it has: with a
//! jq stage that keeps one record in eight, the file sink made 11.6k
//! `write`s for 125k lines without the yield and 1.5k with it, and the run
//! took 0.80-0.91 s instead of 0.92-1.00 s (`weir run`, 1M lines,
//! concurrency 2). The wait is one turn of the scheduler, not a timer: a
//! record is still never held back for company. The turn is time spent
//! waiting for input: `waited` is told it, and a sink counts it as starved
//! (otherwise a sink whose input is often momentarily empty looked busy
//! for the time other tasks ran in its turn, and was named the bottleneck
//! of a pipeline whose jq stage limited it).

use std::future::Future;

use super::hand_off::Taker;
use crate::ack::{AckSet, Outcome};
use crate::error::BoxError;

/// What an output does next.
pub(crate) enum Next<I> {
    /// Write this item.
    Item(I),
    /// The input is shut down and drained: flush one last time and end.
    End,
    /// A flush failed (the run is failing): end at once.
    Stop,
}

/// The next item for an output reading `input`: taken at once if one is
/// at hand or queued (also after one yield to the scheduler, whose length
/// `waited` is told); else what was written is flushed first (`flush`
/// returns whether to go on), and then the next item is awaited.
pub(crate) async fn next_or_flush<I, F>(
    input: &mut Taker<I>,
    flush: impl FnOnce() -> F,
    waited: impl FnOnce(std::time::Duration),
) -> Next<I>
where
    F: Future<Output = bool>,
{
    if let Some(item) = input.try_next() {
        return Next::Item(item);
    }
    let yielded = std::time::Instant::now();
    tokio::task::yield_now().await;
    waited(yielded.elapsed());
    if let Some(item) = input.try_next() {
        return Next::Item(item);
    }
    if !flush().await {
        return Next::Stop;
    }
    match input.next().await {
        Some(item) => Next::Item(item),
        None => Next::End,
    }
}

#[derive(Default)]
pub(crate) struct Unflushed {
    written: Vec<(AckSet, Outcome)>,
}

impl Unflushed {
    /// Notes a written record and the outcome it gets once flushed.
    pub(crate) fn push(&mut self, acks: AckSet, outcome: Outcome) {
        self.written.push((acks, outcome));
    }

    pub(crate) fn len(&self) -> usize {
        self.written.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.written.is_empty()
    }

    /// Settles what was written by the flush's result: on success every
    /// record is finished with its outcome; on failure they are nacked and
    /// the error comes back as text.
    pub(crate) fn settle(&mut self, flushed: Result<(), BoxError>) -> Result<(), String> {
        match flushed {
            Ok(()) => {
                for (acks, outcome) in self.written.drain(..) {
                    acks.finish(outcome);
                }
                Ok(())
            }
            Err(error) => {
                self.written.clear();
                Err(error.to_string())
            }
        }
    }
}
