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
//! Over any stretch of time `t`, at most `burst + t / interval` operations
//! are let through (GCRA, the "generic cell rate algorithm", as implemented
//! by the [`governor`] crate). Callers waiting in [`RateLimit::acquire`] are
//! let through in the order they started waiting. Time is tokio's clock, so
//! the limiter follows `tokio::time::pause` in tests.
//!
//! (governor's own `until_ready` sleeps on a wall-clock timer thread, outside
//! tokio; this module does the same check-then-sleep loop on tokio's timer.)
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

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};

use super::rate::Rate;
use super::timeout::{run_limited, OpTimeout, TimedOut};
use super::wait::WaitCounters;

/// governor's clock, read from tokio's: time since the limiter was made.
#[derive(Debug, Clone, Copy)]
struct TokioClock {
    origin: tokio::time::Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        tokio::time::Instant::now().saturating_duration_since(self.origin)
    }
}

type Gcra = governor::RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

struct Shared {
    rate: Rate,
    gcra: Gcra,
    clock: TokioClock,
    /// Held by the caller whose turn it is; tokio's mutex is fair, so
    /// waiters go through in order and only one sleeps on the GCRA at a time.
    turn: tokio::sync::Mutex<()>,
    waits: WaitCounters,
}

/// Paces operations to a [`Rate`]: over any stretch of time `t`, at most
/// `burst + t / interval` are let through (GCRA, by the `governor` crate, on
/// tokio's clock). Waiters are let through in the order they came.
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
        let clock = TokioClock {
            origin: tokio::time::Instant::now(),
        };
        RateLimit {
            shared: Arc::new(Shared {
                rate,
                gcra: governor::RateLimiter::direct_with_clock(rate.quota(), clock),
                clock,
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
        while let Err(not_until) = self.shared.gcra.check() {
            let wait = not_until.wait_time_from(self.shared.clock.now());
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
        match self.shared.gcra.check() {
            Ok(()) => {
                self.shared.waits.start().granted();
                Ok(())
            }
            Err(not_until) => Err(RateLimited {
                retry_after: not_until.wait_time_from(self.shared.clock.now()),
            }),
        }
    }

    /// Waits for the rate to allow one more operation, then runs `work`.
    ///
    /// # Cancel safety
    /// Dropping the future before the work starts takes nothing from the
    /// rate; after, the operation counts as started and the work is dropped.
    pub async fn run<F: Future>(&self, work: F) -> F::Output {
        self.acquire().await;
        work.await
    }

    /// As [`RateLimit::run`], giving up after `timeout`; see [`OpTimeout`]
    /// for which parts it covers (a `Duration` covers the wait and the work).
    ///
    /// # Errors
    /// [`TimedOut`], whose [`phase`](TimedOut::phase) says whether the wait
    /// for the rate or the work ran out of time.
    ///
    /// # Cancel safety
    /// As [`RateLimit::run`].
    pub async fn run_with_timeout<F: Future>(
        &self,
        work: F,
        timeout: impl Into<OpTimeout>,
    ) -> Result<F::Output, TimedOut> {
        run_limited(self.acquire(), work, timeout.into())
            .await
            .map(|((), output)| output)
            .map_err(|expired| expired.error)
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
