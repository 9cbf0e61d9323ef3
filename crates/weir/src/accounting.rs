//! The run's accounting: every record a source emitted is, at the end,
//! delivered, filtered, dead-lettered, dropped by policy, or nacked.
//!
//! Counted per *source* record (a record split into parts counts once, with
//! its most serious outcome), on the acknowledgement path, so the books
//! balance by construction only if every record's token is finished: a run
//! whose [`AccountingSnapshot::in_flight`] is not 0 at the end is a bug.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ack::Outcome;

/// Live counters of a run.
#[derive(Debug, Default)]
pub struct Accounting {
    received: AtomicU64,
    delivered: AtomicU64,
    filtered: AtomicU64,
    dead_lettered: AtomicU64,
    dropped: AtomicU64,
    nacked: AtomicU64,
}

impl Accounting {
    pub(crate) fn record_in(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_outcome(&self, outcome: &Outcome) {
        match outcome {
            Outcome::Delivered => &self.delivered,
            Outcome::Filtered { .. } => &self.filtered,
            Outcome::DeadLettered { .. } => &self.dead_lettered,
            Outcome::Dropped { .. } => &self.dropped,
            Outcome::Nacked => &self.nacked,
            // Only sources hear it: the books count the spilled record's
            // final outcome (see `AckToken::hand_off`).
            Outcome::Spilled { .. } => return,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now. Outcomes are read before `received`, so a snapshot
    /// taken while records flow never shows more finished than received.
    pub fn snapshot(&self) -> AccountingSnapshot {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let delivered = load(&self.delivered);
        let filtered = load(&self.filtered);
        let dead_lettered = load(&self.dead_lettered);
        let dropped = load(&self.dropped);
        let nacked = load(&self.nacked);
        AccountingSnapshot {
            received: load(&self.received),
            delivered,
            filtered,
            dead_lettered,
            dropped,
            nacked,
        }
    }
}

/// The books of a run at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct AccountingSnapshot {
    /// Records the sources emitted.
    pub received: u64,
    /// Written by the sink.
    pub delivered: u64,
    /// Removed on purpose by a filter.
    pub filtered: u64,
    /// Sent to the dead-letter output.
    pub dead_lettered: u64,
    /// Discarded by a link's dropping policy.
    pub dropped: u64,
    /// Abandoned unfinished at shutdown (not committed; to be redelivered).
    pub nacked: u64,
}

impl AccountingSnapshot {
    /// Records received and not yet finished.
    pub fn in_flight(&self) -> u64 {
        self.received.saturating_sub(self.finished())
    }

    /// Records finished one way or another.
    pub fn finished(&self) -> u64 {
        self.delivered + self.filtered + self.dead_lettered + self.dropped + self.nacked
    }

    /// Whether every record received is accounted for.
    pub fn balances(&self) -> bool {
        self.received == self.finished()
    }
}

impl fmt::Display for AccountingSnapshot {
    /// `in 10 = delivered 7 + filtered 1 + dead-lettered 1 + dropped 0 + nacked 1`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "in {} = delivered {} + filtered {} + dead-lettered {} + dropped {} + nacked {}",
            self.received,
            self.delivered,
            self.filtered,
            self.dead_lettered,
            self.dropped,
            self.nacked
        )?;
        let in_flight = self.in_flight();
        if in_flight > 0 {
            write!(f, " (+ {in_flight} in flight)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn each_outcome_counts_in_its_own_column() {
        let books = Accounting::default();
        for _ in 0..6 {
            books.record_in();
        }
        let stage: Arc<str> = "s".into();
        books.record_outcome(&Outcome::Delivered);
        books.record_outcome(&Outcome::Delivered);
        books.record_outcome(&Outcome::Filtered {
            stage: stage.clone(),
        });
        books.record_outcome(&Outcome::DeadLettered {
            stage,
            reason: "r".into(),
        });
        books.record_outcome(&Outcome::Nacked);
        let snapshot = books.snapshot();
        assert_eq!(
            snapshot,
            AccountingSnapshot {
                received: 6,
                delivered: 2,
                filtered: 1,
                dead_lettered: 1,
                dropped: 0,
                nacked: 1,
            }
        );
        assert_eq!((snapshot.finished(), snapshot.in_flight()), (5, 1));
        assert!(!snapshot.balances());
    }

    #[test]
    fn a_snapshot_in_flight_says_so_and_a_finished_one_does_not() {
        let mut books = AccountingSnapshot {
            received: 20,
            delivered: 7,
            filtered: 1,
            dead_lettered: 2,
            dropped: 3,
            nacked: 4,
        };
        assert_eq!((books.finished(), books.in_flight()), (17, 3));
        assert_eq!(
            books.to_string(),
            "in 20 = delivered 7 + filtered 1 + dead-lettered 2 + dropped 3 + nacked 4 (+ 3 in flight)"
        );
        books.received = 17;
        assert!(books.balances());
        assert_eq!(books.in_flight(), 0);
        assert!(!books.to_string().contains("in flight"), "{books}");
    }
}
