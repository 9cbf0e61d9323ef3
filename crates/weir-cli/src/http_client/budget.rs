//! [`RetryBudget`]: retries may be at most a share of the requests over a
//! sliding window, so that retries cannot multiply the load on a service
//! that is already failing (a retry storm).
//!
//! Like Finagle's retry budget: each first attempt deposits, each retry
//! withdraws; retries in the last [`WINDOW`] may be at most
//! `ratio × requests` in it, plus [`FLOOR_PER_SECOND`] per second so that a
//! trickle of requests can still retry.

use parking_lot::Mutex;
use std::time::{Duration, Instant};

/// The window the budget is counted over.
pub(crate) const WINDOW: Duration = Duration::from_secs(10);
/// Retries allowed per second of the window whatever the ratio (unless the
/// ratio is 0: no retries at all).
pub(crate) const FLOOR_PER_SECOND: u64 = 10;

/// One bucket per second of the window.
const BUCKETS: usize = WINDOW.as_secs() as usize;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Which second since the budget's start this bucket counts.
    second: u64,
    requests: u64,
    retries: u64,
}

/// See the module doc. Shared by every call of one stage or sink.
#[derive(Debug)]
pub(crate) struct RetryBudget {
    ratio: f64,
    start: Instant,
    buckets: Mutex<[Bucket; BUCKETS]>,
}

impl RetryBudget {
    pub(crate) fn new(ratio: f64) -> Self {
        RetryBudget {
            ratio,
            start: Instant::now(),
            buckets: Mutex::new([Bucket::default(); BUCKETS]),
        }
    }

    /// Runs `f` on the bucket of `now`'s second, with the requests and
    /// retries counted in the window ending at `now`.
    fn with_window<R>(&self, now: Instant, f: impl FnOnce(&mut Bucket, u64, u64) -> R) -> R {
        let second = now.saturating_duration_since(self.start).as_secs();
        let mut buckets = self.buckets.lock();
        let (requests, retries) = buckets
            .iter()
            .filter(|b| b.second + BUCKETS as u64 > second)
            .fold((0, 0), |(q, r), b| (q + b.requests, r + b.retries));
        let bucket = &mut buckets[(second % BUCKETS as u64) as usize];
        if bucket.second != second {
            *bucket = Bucket {
                second,
                ..Bucket::default()
            };
        }
        f(bucket, requests, retries)
    }

    /// Counts a first attempt made `now`.
    pub(crate) fn deposit(&self, now: Instant) {
        self.with_window(now, |bucket, _, _| bucket.requests += 1);
    }

    /// Takes one retry from the budget, if it has one `now`.
    pub(crate) fn withdraw(&self, now: Instant) -> bool {
        if self.ratio <= 0.0 {
            return false;
        }
        let ratio = self.ratio;
        self.with_window(now, |bucket, requests, retries| {
            let allowed = ratio * requests as f64 + (FLOOR_PER_SECOND * WINDOW.as_secs()) as f64;
            let ok = (retries as f64) < allowed;
            if ok {
                bucket.retries += 1;
            }
            ok
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_a_share_of_requests_in_the_window() {
        let budget = RetryBudget::new(0.2);
        let now = Instant::now();
        for _ in 0..1000 {
            budget.deposit(now);
        }
        let floor = FLOOR_PER_SECOND * WINDOW.as_secs();
        let granted = (0..1000).filter(|_| budget.withdraw(now)).count() as u64;
        assert_eq!(granted, 200 + floor);
        // Once the window has passed, the old requests no longer count.
        let later = now + WINDOW + Duration::from_secs(1);
        let granted = (0..1000).filter(|_| budget.withdraw(later)).count() as u64;
        assert_eq!(granted, floor);
        assert!(!RetryBudget::new(0.0).withdraw(now));
    }
}
