//! [`RateLimit`]: paces operations to a [`Rate`], letting up to its burst
//! start at once after a quiet spell.
//!
//! # Why
//! Some limits are about how often, not how many at once: an API quota of
//! 100 requests a second, a database that tolerates 5 writes a millisecond.
//! The rate limiter makes callers wait for their turn instead of failing, so
//! a pipeline upstream of it slows down (backpressure).
//!
//! # Guarantee
//! Over any stretch of time `t`, at most `burst + 1 + (t + 2 ms) / interval`
//! operations are let through, and a caller that keeps up gets the full
//! rate (GCRA, the "generic cell rate algorithm", see [`Pacer`]). The 2 ms
//! are tokio's timer resolution: at rates above a few hundred a second, a
//! waiter cannot sleep for one interval, so operations go through in small
//! bunches once a timer tick instead of evenly spaced. Callers
//! waiting in [`RateLimit::acquire`] are let through in the order they
//! started waiting. Time is tokio's clock, so the limiter follows
//! `tokio::time::pause` in tests.
//!
//! # Why not the `governor` crate
//! governor's GCRA restarts its schedule from the moment of each check, so a
//! caller that sleeps until its turn and wakes a little late (tokio's timer
//! has a 1 ms resolution) loses that lateness every time: a 200/s limit
//! measured 162/s. [`Pacer`] keeps the schedule when a caller is only
//! slightly late, which is the whole difference.
//!
//! # Example
//! ```
//! use std::time::Duration;
//! use weir_core::limit::{Rate, RateLimit};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
//! let limit = RateLimit::new(Rate::per_second(10).with_burst(2));
//! let start = tokio::time::Instant::now();
//! for _ in 0..12 {
//!     limit.acquire().await;
//! }
//! // 2 at once, then one every 100ms.
//! assert_eq!(start.elapsed(), Duration::from_secs(1));
//! assert_eq!(limit.stats().granted, 12);
//! # });
//! ```

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use super::limiter::Limiter;
use super::rate::Rate;
use super::wait::WaitCounters;

/// The GCRA schedule: the theoretical arrival time of the next operation.
///
/// Standard GCRA lets an operation through at `now` if `now >= tat -
/// tolerance` (`tolerance = (burst - 1) * interval`) and then sets `tat =
/// max(tat, now) + interval`. Here, a caller less than [`LATENESS`] past
/// `tat` keeps the schedule (`tat + interval`) instead of restarting it from
/// `now`, so timer lateness is not lost: the operations that fell due while
/// the caller overslept go through at once. After a longer quiet spell the
/// schedule restarts from `now`, as in standard GCRA.
#[derive(Debug)]
struct Pacer {
    /// Since the limiter's origin.
    tat: Duration,
    interval: Duration,
    tolerance: Duration,
}

/// How late a caller may be and keep the schedule: a couple of timer ticks.
/// It must not depend on the interval: at 100 000/s (10 µs), a bound of
/// half an interval made every 1 ms wake restart the schedule, and a
/// throttle stage set to 100 000/s measured 1 400/s.
const LATENESS: Duration = Duration::from_millis(2);

impl Pacer {
    fn new(rate: Rate) -> Self {
        let interval = rate.interval();
        Pacer {
            tat: Duration::ZERO,
            interval,
            tolerance: interval * (rate.burst().max(1) - 1),
        }
    }

    /// Lets one operation through at `now`, or says how long to wait.
    fn check(&mut self, now: Duration) -> Result<(), Duration> {
        let allowed_at = self.tat.saturating_sub(self.tolerance);
        if now < allowed_at {
            return Err(allowed_at - now);
        }
        let base = if now <= self.tat + LATENESS {
            self.tat
        } else {
            now
        };
        self.tat = base + self.interval;
        Ok(())
    }
}

struct Shared {
    rate: Rate,
    pacer: Mutex<Pacer>,
    origin: Instant,
    /// Held by the caller whose turn it is; tokio's mutex is fair, so
    /// waiters go through in order and only one sleeps on the GCRA at a time.
    turn: tokio::sync::Mutex<()>,
    waits: WaitCounters,
}

impl Shared {
    fn check(&self) -> Result<(), Duration> {
        let now = self.origin.elapsed();
        self.pacer.lock().check(now)
    }
}

/// Paces operations to a [`Rate`]: over any stretch of time `t`, at most
/// `burst + 1 + t / interval` are let through (GCRA on tokio's clock).
/// Waiters are let through in the order they came.
///
/// Clone the handle to share the limit: every clone draws on the same rate.
#[derive(Clone)]
pub struct RateLimit {
    shared: Arc<Shared>,
}

impl fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("rate", &self.shared.rate)
            .field("waiting", &self.shared.waits.waiting())
            .finish()
    }
}

/// [`RateLimit::try_acquire`] found no permit free now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limited: next permit in {retry_after:?}")]
pub struct RateLimited {
    /// How long until a permit is free (if nobody else takes it first).
    pub retry_after: Duration,
}

impl RateLimit {
    /// A limiter for `rate`, with its burst available at once.
    pub fn new(rate: Rate) -> Self {
        RateLimit {
            shared: Arc::new(Shared {
                rate,
                pacer: Mutex::new(Pacer::new(rate)),
                origin: Instant::now(),
                turn: tokio::sync::Mutex::new(()),
                waits: WaitCounters::default(),
            }),
        }
    }

    /// Waits until the rate allows one more operation, and counts it as
    /// started. Nothing needs to be held or returned afterwards.
    ///
    /// # Cancel safety
    /// Cancel-safe: if the future is dropped before it completes, nothing was
    /// taken from the rate and the next waiter moves up.
    pub async fn acquire(&self) {
        let waiting = self.shared.waits.start();
        let _turn = self.shared.turn.lock().await;
        while let Err(wait) = self.shared.check() {
            tokio::time::sleep(wait).await;
        }
        waiting.granted();
    }

    /// Counts one operation as started if the rate allows it now, without
    /// waiting. It may go ahead of callers waiting in [`RateLimit::acquire`].
    ///
    /// # Errors
    /// [`RateLimited`], saying when to try again.
    ///
    /// ```
    /// use weir_core::limit::{Rate, RateLimit};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let limit = RateLimit::new(Rate::per_second(2));
    /// assert!(limit.try_acquire().is_ok());
    /// let err = limit.try_acquire().unwrap_err();
    /// assert_eq!(err.retry_after, std::time::Duration::from_millis(500));
    /// # });
    /// ```
    pub fn try_acquire(&self) -> Result<(), RateLimited> {
        match self.shared.check() {
            Ok(()) => {
                self.shared.waits.start().granted();
                Ok(())
            }
            Err(retry_after) => Err(RateLimited { retry_after }),
        }
    }

    /// The rate this limiter was made with.
    pub fn rate(&self) -> Rate {
        self.shared.rate
    }

    /// A snapshot of the limiter's counters, read without a lock.
    pub fn stats(&self) -> RateStats {
        let waits = &self.shared.waits;
        RateStats {
            rate: self.shared.rate,
            granted: waits.granted(),
            waiting: waits.waiting(),
            wait_time: waits.wait_time(),
        }
    }
}

/// Dropping a [`Limiter::run`] future before the work starts takes nothing
/// from the rate; after, the operation counts as started.
impl Limiter for RateLimit {
    type Permit = ();

    fn acquire(&self) -> impl Future<Output = ()> + Send {
        RateLimit::acquire(self)
    }
}

/// A snapshot of a [`RateLimit`]'s counters. Counters only grow; take two
/// snapshots and subtract to get rates over an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateStats {
    /// The rate.
    pub rate: Rate,
    /// Operations let through so far.
    pub granted: u64,
    /// Callers waiting now.
    pub waiting: usize,
    /// Total time callers spent waiting before they were let through (waits
    /// that were given up are not counted).
    pub wait_time: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A caller that always wakes 1.2 ms after its turn (tokio's timer is
    /// 1 ms coarse) still gets the full rate: 200 operations in a second at
    /// 200/s, not 162 as with a schedule that restarts at each check.
    #[test]
    fn a_slightly_late_caller_keeps_the_full_rate() {
        let mut pacer = Pacer::new(Rate::per_second(200));
        let late = Duration::from_micros(1_200);
        let mut now = Duration::ZERO;
        let mut granted = 0;
        while now < Duration::from_secs(1) {
            match pacer.check(now) {
                Ok(()) => granted += 1,
                Err(wait) => now += wait + late,
            }
        }
        assert!((199..=201).contains(&granted), "{granted}");
    }

    /// At rates far above the timer's resolution, a caller that wakes only
    /// once a millisecond still gets the full rate, in bunches.
    #[test]
    fn a_rate_finer_than_the_timer_is_kept_in_bunches() {
        let mut pacer = Pacer::new(Rate::per_second(100_000));
        let mut now = Duration::ZERO;
        let mut granted = 0;
        while now < Duration::from_secs(1) {
            match pacer.check(now) {
                Ok(()) => granted += 1,
                // Every sleep lasts until the next whole millisecond.
                Err(_) => now = Duration::from_millis(now.as_millis() as u64 + 1),
            }
        }
        assert!((99_000..=100_001).contains(&granted), "{granted}");
    }

    #[test]
    fn after_a_quiet_spell_the_schedule_restarts_without_a_double_grant() {
        let mut pacer = Pacer::new(Rate::per_second(100));
        assert_eq!(pacer.check(Duration::from_secs(5)), Ok(()));
        assert_eq!(
            pacer.check(Duration::from_secs(5)),
            Err(Duration::from_millis(10))
        );
    }
}
