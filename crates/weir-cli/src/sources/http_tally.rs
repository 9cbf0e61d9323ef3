//! What became of the records of one HTTP request, told to the request's
//! handler once every record is finished (or abandoned).

use std::sync::Arc;

use parking_lot::Mutex;

use serde::Serialize;
use tokio::sync::oneshot;
use weir::ack::AckCallback;
use weir::Outcome;

/// The records of one request by outcome; the body of the reply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutcomeCounts {
    /// Written by the sink.
    pub delivered: u64,
    /// Sent to the dead letters (including lines that were not records).
    pub dead_lettered: u64,
    /// Discarded by a link's dropping policy.
    pub dropped: u64,
    /// Removed by a filter.
    pub filtered: u64,
    /// Not finished: the run stopped first; send them again.
    pub nacked: u64,
}

/// Counts outcomes; when the last callback is gone (called or dropped
/// unfinished), sends the counts. Records whose callback was dropped without
/// being called count as nacked.
struct Tally {
    expected: u64,
    counts: Mutex<OutcomeCounts>,
    done: Option<oneshot::Sender<OutcomeCounts>>,
}

impl Drop for Tally {
    fn drop(&mut self) {
        let mut counts = *self.counts.get_mut();
        let finished = counts.delivered + counts.dead_lettered + counts.dropped + counts.filtered;
        counts.nacked = self.expected.saturating_sub(finished);
        if let Some(done) = self.done.take() {
            let _no_one_waits = done.send(counts);
        }
    }
}

/// Makes one callback per record of a request and the receiver of their
/// counts.
pub fn tally(records: usize) -> (Vec<AckCallback>, oneshot::Receiver<OutcomeCounts>) {
    let (done, counts) = oneshot::channel();
    let tally = Arc::new(Tally {
        expected: records as u64,
        counts: Mutex::new(OutcomeCounts::default()),
        done: Some(done),
    });
    let callbacks = (0..records)
        .map(|_| {
            let tally = tally.clone();
            Box::new(move |outcome: &Outcome| {
                let mut counts = tally.counts.lock();
                match outcome {
                    // Spilled: synced to a spill link's disk, which now
                    // answers for it: accepted as delivered.
                    Outcome::Delivered | Outcome::Spilled { .. } => counts.delivered += 1,
                    Outcome::DeadLettered { .. } => counts.dead_lettered += 1,
                    Outcome::Dropped { .. } => counts.dropped += 1,
                    Outcome::Filtered { .. } => counts.filtered += 1,
                    Outcome::Nacked => {}
                }
            }) as AckCallback
        })
        .collect();
    (callbacks, counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_outcomes_and_unfinished_records() {
        let (mut callbacks, counts) = tally(3);
        let unfinished = callbacks.pop().unwrap();
        let dropped = callbacks.pop().unwrap();
        let delivered = callbacks.pop().unwrap();
        delivered(&Outcome::Delivered);
        dropped(&Outcome::Dropped {
            stage: "s".into(),
            policy: weir::DropPolicy::DropNewest,
        });
        drop(unfinished);
        let counts = counts.await.unwrap();
        assert_eq!((counts.delivered, counts.dropped, counts.nacked), (1, 1, 1));
    }
}
