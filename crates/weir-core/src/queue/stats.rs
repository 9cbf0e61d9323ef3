//! Counters every queue keeps, cheap enough to leave on: plain atomics
//! updated while the queue's lock is already held, read without it.

use std::time::Duration;

use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use super::policy::DropReason;

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) len: AtomicUsize,
    pub(crate) high_water: AtomicUsize,
    pub(crate) put: AtomicU64,
    pub(crate) got: AtomicU64,
    pub(crate) dropped_oldest: AtomicU64,
    pub(crate) dropped_newest: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) put_blocked_nanos: AtomicU64,
    pub(crate) get_waited_nanos: AtomicU64,
    pub(crate) put_waiting: AtomicUsize,
    pub(crate) get_waiting: AtomicUsize,
    pub(crate) shut_down: AtomicBool,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_duration(counter: &AtomicU64, elapsed: Duration) {
        Self::add(
            counter,
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
        );
    }

    pub(crate) fn set_len(&self, len: usize) {
        self.len.store(len, Ordering::Relaxed);
        if len > self.high_water.load(Ordering::Relaxed) {
            self.high_water.store(len, Ordering::Relaxed);
        }
    }

    pub(crate) fn count_drop(&self, reason: DropReason) {
        Self::add(
            match reason {
                DropReason::DropOldest => &self.dropped_oldest,
                DropReason::DropNewest => &self.dropped_newest,
            },
            1,
        );
    }

    pub(crate) fn snapshot(&self, capacity: Option<usize>) -> QueueStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        QueueStats {
            len: self.len.load(Ordering::Relaxed),
            capacity,
            high_water: self.high_water.load(Ordering::Relaxed),
            put: load(&self.put),
            got: load(&self.got),
            dropped_oldest: load(&self.dropped_oldest),
            dropped_newest: load(&self.dropped_newest),
            rejected: load(&self.rejected),
            put_blocked: Duration::from_nanos(load(&self.put_blocked_nanos)),
            get_waited: Duration::from_nanos(load(&self.get_waited_nanos)),
            putters_waiting: self.put_waiting.load(Ordering::Relaxed),
            getters_waiting: self.get_waiting.load(Ordering::Relaxed),
            shut_down: self.shut_down.load(Ordering::Relaxed),
        }
    }
}

/// A snapshot of a queue's counters. Counters only grow; take two snapshots
/// and subtract to get rates over an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    /// Items queued now.
    pub len: usize,
    /// The bound, or `None` for a queue made with `Queue::unbounded`.
    pub capacity: Option<usize>,
    /// The most items ever queued at once.
    pub high_water: usize,
    /// Items accepted into the queue.
    pub put: u64,
    /// Items taken out by `get`, `try_get` or `get_timeout`.
    pub got: u64,
    /// Items evicted by [`Overflow::DropOldest`](super::Overflow::DropOldest).
    pub dropped_oldest: u64,
    /// Items refused by [`Overflow::DropNewest`](super::Overflow::DropNewest).
    pub dropped_newest: u64,
    /// Puts refused with `Full`: `try_put` on a full queue, `put` under
    /// [`Overflow::Reject`](super::Overflow::Reject), or `put_timeout` timing out.
    pub rejected: u64,
    /// Total time producers spent waiting for room in `put`.
    pub put_blocked: Duration,
    /// Total time consumers spent waiting for an item in `get`.
    pub get_waited: Duration,
    /// Producers waiting for room now.
    pub putters_waiting: usize,
    /// Consumers waiting for an item now.
    pub getters_waiting: usize,
    /// Whether `shutdown` or `shutdown_immediate` was called.
    pub shut_down: bool,
}

impl QueueStats {
    /// Whether the queue is at its bound (never true when unbounded).
    pub fn is_full(&self) -> bool {
        self.capacity.is_some_and(|cap| self.len >= cap)
    }

    /// Items dropped by policy, for every reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_oldest + self.dropped_newest
    }
}
