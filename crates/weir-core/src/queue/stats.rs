//! Counters every queue keeps, cheap enough to leave on: plain atomics
//! updated while the queue's lock is already held, read without it.

use std::time::Duration;

use tokio::time::Instant;

use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use super::policy::DropReason;

/// Time spent waiting on one side of the queue, including waits still in
/// progress: a producer stuck for a minute shows a minute now, not only once
/// it gets room.
#[derive(Default)]
pub(crate) struct WaitClock {
    /// Waiters waiting now.
    pub(crate) waiting: AtomicUsize,
    /// Total of finished waits.
    finished_nanos: AtomicU64,
    /// Sum of the start times (since the epoch) of the waits in progress.
    started_nanos_sum: AtomicU64,
}

impl WaitClock {
    /// A wait begins now; returns when, for [`WaitClock::end`].
    pub(crate) fn begin(&self, epoch: Instant) -> Instant {
        let now = Instant::now();
        self.started_nanos_sum
            .fetch_add(nanos(now - epoch), Ordering::Relaxed);
        self.waiting.fetch_add(1, Ordering::Relaxed);
        now
    }

    /// A wait that began at `since` ends now.
    pub(crate) fn end(&self, since: Instant, epoch: Instant) {
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        self.started_nanos_sum
            .fetch_sub(nanos(since - epoch), Ordering::Relaxed);
        self.finished_nanos
            .fetch_add(nanos(since.elapsed()), Ordering::Relaxed);
    }

    /// Total waiting time so far, the waits in progress included. The
    /// counters are read one by one, so a wait that begins or ends meanwhile
    /// can be off by its own length; the result is clamped to be sane.
    fn total(&self, epoch: Instant) -> Duration {
        let since_epoch = nanos(epoch.elapsed());
        let waiting = self.waiting.load(Ordering::Relaxed) as u64;
        let ongoing = (waiting * since_epoch)
            .saturating_sub(self.started_nanos_sum.load(Ordering::Relaxed))
            .min(waiting.saturating_mul(since_epoch));
        Duration::from_nanos(self.finished_nanos.load(Ordering::Relaxed) + ongoing)
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

pub(crate) struct Counters {
    /// What wait start times are measured from.
    pub(crate) epoch: Instant,
    pub(crate) len: AtomicUsize,
    pub(crate) high_water: AtomicUsize,
    pub(crate) put: AtomicU64,
    pub(crate) got: AtomicU64,
    pub(crate) dropped_oldest: AtomicU64,
    pub(crate) dropped_newest: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) put_wait: WaitClock,
    pub(crate) get_wait: WaitClock,
    pub(crate) shut_down: AtomicBool,
}

impl Counters {
    pub(crate) fn new() -> Self {
        Counters {
            epoch: Instant::now(),
            len: AtomicUsize::default(),
            high_water: AtomicUsize::default(),
            put: AtomicU64::default(),
            got: AtomicU64::default(),
            dropped_oldest: AtomicU64::default(),
            dropped_newest: AtomicU64::default(),
            rejected: AtomicU64::default(),
            put_wait: WaitClock::default(),
            get_wait: WaitClock::default(),
            shut_down: AtomicBool::default(),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
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
            put_blocked: self.put_wait.total(self.epoch),
            get_waited: self.get_wait.total(self.epoch),
            putters_waiting: self.put_wait.waiting.load(Ordering::Relaxed),
            getters_waiting: self.get_wait.waiting.load(Ordering::Relaxed),
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
    /// Total time producers spent waiting for room in `put`, waits still in
    /// progress included.
    pub put_blocked: Duration,
    /// Total time consumers spent waiting for an item in `get`, waits still
    /// in progress included.
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

/// Several queues read as one (e.g. the links into a merge): counts and
/// times add up, the capacity is unbounded if either is, and the whole is
/// shut down only when both are.
///
/// ```
/// use weir_core::Queue;
/// let (a, b) = (Queue::<u32>::bounded(4), Queue::<u32>::bounded(6));
/// a.try_put(1).unwrap();
/// b.shutdown();
/// let both = a.stats() + b.stats();
/// assert_eq!((both.len, both.capacity, both.put), (1, Some(10), 1));
/// assert!(!both.shut_down);
/// ```
impl std::ops::Add for QueueStats {
    type Output = QueueStats;

    fn add(self, other: QueueStats) -> QueueStats {
        QueueStats {
            len: self.len + other.len,
            capacity: self.capacity.zip(other.capacity).map(|(a, b)| a + b),
            high_water: self.high_water + other.high_water,
            put: self.put + other.put,
            got: self.got + other.got,
            dropped_oldest: self.dropped_oldest + other.dropped_oldest,
            dropped_newest: self.dropped_newest + other.dropped_newest,
            rejected: self.rejected + other.rejected,
            put_blocked: self.put_blocked + other.put_blocked,
            get_waited: self.get_waited + other.get_waited,
            putters_waiting: self.putters_waiting + other.putters_waiting,
            getters_waiting: self.getters_waiting + other.getters_waiting,
            shut_down: self.shut_down && other.shut_down,
        }
    }
}
