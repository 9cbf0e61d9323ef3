//! Counters every limiter keeps about the callers it makes wait: how many
//! wait now, how many were let through, and how long they waited in total.
//! Plain atomics, updated by the waiting task and read without a lock.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Default)]
pub(crate) struct WaitCounters {
    waiting: AtomicUsize,
    granted: AtomicU64,
    wait_nanos: AtomicU64,
}

impl WaitCounters {
    /// Starts counting one waiter; the returned guard stops counting it when
    /// dropped, so a cancelled wait never leaves `waiting` too high.
    pub(crate) fn start(&self) -> Waiting<'_> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        Waiting {
            counters: self,
            since: Instant::now(),
        }
    }

    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    pub(crate) fn granted(&self) -> u64 {
        self.granted.load(Ordering::Relaxed)
    }

    pub(crate) fn wait_time(&self) -> Duration {
        Duration::from_nanos(self.wait_nanos.load(Ordering::Relaxed))
    }
}

/// One caller waiting for a limiter (see [`WaitCounters::start`]).
pub(crate) struct Waiting<'a> {
    counters: &'a WaitCounters,
    since: Instant,
}

impl Waiting<'_> {
    /// The caller got through: counts it and adds its wait to the total.
    pub(crate) fn granted(self) {
        let waited = self.since.elapsed();
        add_duration(&self.counters.wait_nanos, waited);
        self.counters.granted.fetch_add(1, Ordering::Relaxed);
        // `Drop` takes it off `waiting`.
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.counters.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Adds a duration, in nanoseconds, to an atomic total (saturating).
pub(crate) fn add_duration(total: &AtomicU64, elapsed: Duration) {
    let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
    total.fetch_add(nanos, Ordering::Relaxed);
}
