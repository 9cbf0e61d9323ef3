//! The running adaptive limiter: a tokio semaphore whose permits are added
//! or forgotten as the algorithm moves the limit.
//!
//! The semaphore queues the waiters (fairly); the limiter keeps, under a
//! lock taken only when a permit is released, the invariant
//! `available + in_flight == effective + debt`: to shrink by `k` it forgets
//! up to `k` available permits and records the rest as `debt`, paid by
//! forgetting permits as they come back instead of returning them.
//!
//! ```
//! use weir_core::limit::{AdaptiveConcurrency, AdaptiveConfig, Limiter};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
//! let limiter = AdaptiveConcurrency::new(AdaptiveConfig::gradient()).unwrap();
//! let answer = limiter.run(async { 42 }).await; // counted as a success
//! assert_eq!(answer, 42);
//! assert_eq!(limiter.stats().successes, 1);
//! # });
//! ```

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::aimd::AimdState;
use super::{AdaptiveConfig, Algorithm, ConfigError, Decision, Outcome, Sample};
use crate::limit::limiter::Limiter;
use crate::limit::wait::WaitCounters;

struct State {
    /// The algorithm's limit, fractional, within the bounds.
    limit: f64,
    /// The whole limit the semaphore enforces: `limit` rounded down.
    effective: usize,
    /// Permits out beyond `effective`, to be forgotten when they come back.
    debt: usize,
    /// Counts multiplicative decreases; see [`Decision::Backoff`].
    epoch: u64,
    min_latency: Option<Duration>,
    /// What the AIMD algorithm remembers between samples.
    aimd: AimdState,
}

#[derive(Default)]
struct Counters {
    in_flight: AtomicUsize,
    limit: AtomicUsize,
    epoch: AtomicU64,
    min_latency_nanos: AtomicU64,
    successes: AtomicU64,
    overloaded: AtomicU64,
    failed: AtomicU64,
    unrecorded: AtomicU64,
}

struct Shared {
    config: AdaptiveConfig,
    semaphore: Semaphore,
    state: Mutex<State>,
    waits: WaitCounters,
    counters: Counters,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Moves the limit to `limit` (clamped), adding or forgetting permits.
    fn resize(&self, state: &mut State, limit: f64) {
        let (min, max) = (self.config.min_limit, self.config.max_limit);
        state.limit = limit.clamp(min as f64, max as f64);
        let target = (state.limit.floor() as usize).clamp(min, max);
        if target > state.effective {
            let grow = target - state.effective;
            let paid = grow.min(state.debt);
            state.debt -= paid;
            self.semaphore.add_permits(grow - paid);
        } else if target < state.effective {
            let shrink = state.effective - target;
            let forgotten = self.semaphore.forget_permits(shrink);
            state.debt += shrink - forgotten;
        }
        state.effective = target;
        self.counters.limit.store(target, Ordering::Relaxed);
    }

    /// Ends one permit's operation: learns from `outcome`, then returns the
    /// permit's slot (or forgets it, if the limit shrank below the permits out).
    fn release(&self, permit: &AdaptivePermit, outcome: Option<Outcome>) {
        let counters = &self.counters;
        let count = |counter: &AtomicU64| counter.fetch_add(1, Ordering::Relaxed);
        let mut state = self.lock();
        let sample = match outcome {
            None => {
                count(&counters.unrecorded);
                None
            }
            Some(Outcome::Failed) => {
                count(&counters.failed);
                None
            }
            Some(Outcome::Overloaded) => {
                count(&counters.overloaded);
                Some((true, Duration::ZERO))
            }
            Some(Outcome::Success { latency }) => {
                count(&counters.successes);
                if state.min_latency.is_none_or(|min| latency < min) {
                    state.min_latency = Some(latency);
                    let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
                    counters.min_latency_nanos.store(nanos, Ordering::Relaxed);
                }
                Some((false, latency))
            }
        };
        if let Some((overloaded, latency)) = sample {
            let sample = Sample {
                limit: state.limit,
                overloaded,
                latency,
                min_latency: state.min_latency,
                in_flight: permit.in_flight_at_grant,
                stale: permit.epoch != state.epoch,
            };
            let decision = match &self.config.algorithm {
                Algorithm::Aimd(aimd) => aimd.decide(&mut state.aimd, &sample),
                Algorithm::Gradient(gradient) => gradient.decide(&sample),
            };
            match decision {
                Decision::Keep => {}
                Decision::Set(limit) => self.resize(&mut state, limit),
                Decision::Backoff(limit) => {
                    // Only one cut per round trip: permits granted before the
                    // last cut saw the old, higher limit.
                    if permit.epoch == state.epoch {
                        state.epoch += 1;
                        counters.epoch.store(state.epoch, Ordering::Relaxed);
                        self.resize(&mut state, limit);
                    }
                }
            }
        }
        counters.in_flight.fetch_sub(1, Ordering::Relaxed);
        if state.debt > 0 {
            state.debt -= 1;
        } else {
            self.semaphore.add_permits(1);
        }
    }
}

/// A concurrency limit that moves with the service: it probes upwards while
/// the service keeps up and backs off on rising latency or an
/// [`Outcome::Overloaded`], by the [`Algorithm`] in its [`AdaptiveConfig`].
///
/// Acquire a permit, do the work, and report the outcome on it with
/// [`AdaptivePermit::record`]; a permit dropped without a record releases
/// its slot but teaches nothing. The limit stays within the configured
/// bounds, and at most [`current_limit`](Self::current_limit) permits are
/// out at once (when the limit shrinks below the permits already out, no
/// new permit is granted until enough come back). Waiters are served first
/// come, first served.
///
/// Clone the handle to share the limit: every clone counts against, and
/// teaches, the same limit.
#[derive(Clone)]
pub struct AdaptiveConcurrency {
    shared: Arc<Shared>,
}

impl fmt::Debug for AdaptiveConcurrency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveConcurrency")
            .field("config", &self.shared.config)
            .field("current_limit", &self.current_limit())
            .finish()
    }
}

impl AdaptiveConcurrency {
    /// A limiter starting at `config.initial_limit`.
    ///
    /// # Errors
    /// [`ConfigError`] if the bounds are out of order or zero, or an
    /// algorithm setting is out of its range.
    pub fn new(config: AdaptiveConfig) -> Result<Self, ConfigError> {
        config.check()?;
        let initial = config.initial_limit;
        let counters = Counters::default();
        counters.limit.store(initial, Ordering::Relaxed);
        Ok(AdaptiveConcurrency {
            shared: Arc::new(Shared {
                config,
                semaphore: Semaphore::new(initial),
                state: Mutex::new(State {
                    limit: initial as f64,
                    effective: initial,
                    debt: 0,
                    epoch: 0,
                    min_latency: None,
                    aimd: AimdState::default(),
                }),
                waits: WaitCounters::default(),
                counters,
            }),
        })
    }

    /// Waits for a permit under the current limit. Do the work, then report
    /// how it went with [`AdaptivePermit::record`].
    ///
    /// # Cancel safety
    /// Cancel-safe: if the future is dropped before it completes, no permit
    /// was taken (the caller loses only its place in the line).
    pub async fn acquire(&self) -> AdaptivePermit {
        let waiting = self.shared.waits.start();
        self.shared
            .semaphore
            .acquire()
            .await
            .expect("the semaphore of an AdaptiveConcurrency is never closed")
            .forget();
        waiting.granted();
        self.permit()
    }

    /// A permit if the current limit allows one now, without waiting. It may
    /// be taken even while others wait in [`AdaptiveConcurrency::acquire`].
    pub fn try_acquire(&self) -> Option<AdaptivePermit> {
        self.shared.semaphore.try_acquire().ok()?.forget();
        self.shared.waits.start().granted();
        Some(self.permit())
    }

    /// Wraps a semaphore permit just taken (and forgotten) in our own.
    fn permit(&self) -> AdaptivePermit {
        let counters = &self.shared.counters;
        AdaptivePermit {
            shared: self.shared.clone(),
            granted_at: Instant::now(),
            in_flight_at_grant: counters.in_flight.fetch_add(1, Ordering::Relaxed) + 1,
            epoch: counters.epoch.load(Ordering::Relaxed),
            released: false,
        }
    }

    /// The limit now: how many permits may be out at once.
    pub fn current_limit(&self) -> usize {
        self.shared.counters.limit.load(Ordering::Relaxed)
    }

    /// The settings this limiter was made with.
    pub fn config(&self) -> &AdaptiveConfig {
        &self.shared.config
    }

    /// A snapshot of the limiter's counters, read without a lock.
    pub fn stats(&self) -> AdaptiveStats {
        let shared = &self.shared;
        let counters = &shared.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        AdaptiveStats {
            limit: self.current_limit(),
            min_limit: shared.config.min_limit,
            max_limit: shared.config.max_limit,
            in_flight: counters.in_flight.load(Ordering::Relaxed),
            waiting: shared.waits.waiting(),
            acquired: shared.waits.granted(),
            wait_time: shared.waits.wait_time(),
            successes: load(&counters.successes),
            overloaded: load(&counters.overloaded),
            failed: load(&counters.failed),
            unrecorded: load(&counters.unrecorded),
            decreases: load(&counters.epoch),
            min_latency: (load(&counters.successes) > 0)
                .then(|| Duration::from_nanos(load(&counters.min_latency_nanos))),
        }
    }
}

/// [`Limiter::run`] records [`Outcome::Success`] with the time the work
/// took; in [`Limiter::run_with_timeout`], work that runs out of time is
/// recorded as [`Outcome::Overloaded`]. To report failures too, use
/// [`AdaptiveConcurrency::acquire`] and [`AdaptivePermit::record`].
impl Limiter for AdaptiveConcurrency {
    type Permit = AdaptivePermit;

    fn acquire(&self) -> impl Future<Output = AdaptivePermit> + Send {
        AdaptiveConcurrency::acquire(self)
    }

    fn finished(permit: AdaptivePermit) {
        permit.success();
    }

    fn work_timed_out(permit: AdaptivePermit) {
        permit.record(Outcome::Overloaded);
    }
}

/// Permission to run one operation under an [`AdaptiveConcurrency`]. Report
/// how the operation went with [`record`](AdaptivePermit::record) or
/// [`success`](AdaptivePermit::success); dropping it without a report
/// releases it and teaches the limiter nothing (counted as
/// [`AdaptiveStats::unrecorded`]). It can be moved into a spawned task.
#[must_use = "the permit is released as soon as it is dropped; record the outcome on it"]
pub struct AdaptivePermit {
    shared: Arc<Shared>,
    granted_at: Instant,
    in_flight_at_grant: usize,
    epoch: u64,
    released: bool,
}

impl AdaptivePermit {
    /// Reports how the operation went and releases the permit.
    pub fn record(mut self, outcome: Outcome) {
        self.released = true;
        self.shared.release(&self, Some(outcome));
    }

    /// Records [`Outcome::Success`] with the latency measured from the moment
    /// this permit was granted.
    pub fn success(self) {
        let latency = self.elapsed();
        self.record(Outcome::Success { latency });
    }

    /// Time since this permit was granted.
    pub fn elapsed(&self) -> Duration {
        self.granted_at.elapsed()
    }
}

impl Drop for AdaptivePermit {
    fn drop(&mut self) {
        if !self.released {
            self.shared.clone().release(self, None);
        }
    }
}

impl fmt::Debug for AdaptivePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptivePermit")
            .field("elapsed", &self.elapsed())
            .field("in_flight_at_grant", &self.in_flight_at_grant)
            .finish()
    }
}

/// A snapshot of an [`AdaptiveConcurrency`]'s counters. Counters only grow;
/// take two snapshots and subtract to get rates over an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AdaptiveStats {
    /// The limit now (as [`AdaptiveConcurrency::current_limit`]).
    pub limit: usize,
    /// The lowest the limit may go.
    pub min_limit: usize,
    /// The highest the limit may go.
    pub max_limit: usize,
    /// Permits held now; may exceed `limit` for a while after it shrank.
    pub in_flight: usize,
    /// Callers waiting for a permit now.
    pub waiting: usize,
    /// Permits granted so far.
    pub acquired: u64,
    /// Total time callers spent waiting before they were granted a permit.
    pub wait_time: Duration,
    /// Outcomes recorded as [`Outcome::Success`].
    pub successes: u64,
    /// Outcomes recorded as [`Outcome::Overloaded`].
    pub overloaded: u64,
    /// Outcomes recorded as [`Outcome::Failed`].
    pub failed: u64,
    /// Permits dropped without an outcome.
    pub unrecorded: u64,
    /// Multiplicative decreases of the limit so far.
    pub decreases: u64,
    /// The lowest latency recorded (the algorithms' baseline), if any.
    pub min_latency: Option<Duration>,
}

#[cfg(test)]
mod tests {
    use super::super::{Gradient, Headroom};
    use super::*;

    fn limiter(config: AdaptiveConfig) -> AdaptiveConcurrency {
        AdaptiveConcurrency::new(config).unwrap()
    }

    #[test]
    fn rejects_bad_bounds() {
        let bad = |config| AdaptiveConcurrency::new(config).unwrap_err();
        let aimd = AdaptiveConfig::aimd();
        assert_eq!(
            bad(AdaptiveConfig {
                min_limit: 0,
                ..aimd
            }),
            ConfigError::ZeroMinLimit
        );
        assert!(matches!(
            bad(AdaptiveConfig {
                initial_limit: 5,
                min_limit: 6,
                ..aimd
            }),
            ConfigError::Bounds {
                initial: 5,
                min: 6,
                ..
            }
        ));
        assert!(matches!(
            bad(AdaptiveConfig {
                max_limit: usize::MAX,
                ..aimd
            }),
            ConfigError::MaxTooLarge(_)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn shrinks_below_permits_out_and_pays_the_debt() {
        let limiter = limiter(AdaptiveConfig {
            initial_limit: 10,
            ..AdaptiveConfig::aimd()
        });
        let mut permits: Vec<_> = (0..10).map(|_| limiter.try_acquire().unwrap()).collect();
        // 10 out; one overload cuts the limit to 9 while 9 remain out.
        permits.pop().unwrap().record(Outcome::Overloaded);
        assert_eq!(limiter.current_limit(), 9);
        assert!(limiter.try_acquire().is_none());
        // Cuts from permits granted before the first one are ignored...
        permits.pop().unwrap().record(Outcome::Overloaded);
        assert_eq!(limiter.current_limit(), 9);
        assert_eq!(limiter.stats().decreases, 1);
        // ...so 8 are out under a limit of 9: exactly one more fits.
        let extra = limiter.try_acquire().unwrap();
        assert!(limiter.try_acquire().is_none());
        // A permit granted after the cut can cut again: 9 × 0.9 = 8.1 → 8,
        // while 9 are out: its own release is forgotten, not returned.
        extra.record(Outcome::Overloaded);
        assert_eq!(limiter.current_limit(), 8);
        assert_eq!(limiter.stats().in_flight, 8);
        assert!(limiter.try_acquire().is_none());
        drop(permits.pop());
        assert!(limiter.try_acquire().is_some_and(|p| {
            p.record(Outcome::Failed);
            true
        }));
        let stats = limiter.stats();
        assert_eq!(
            (stats.unrecorded, stats.failed, stats.overloaded),
            (1, 1, 3)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn grows_and_wakes_waiters() {
        let limiter = limiter(AdaptiveConfig {
            initial_limit: 1,
            ..AdaptiveConfig::gradient()
        });
        let first = limiter.acquire().await;
        let waiter = {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.acquire().await.success() })
        };
        tokio::task::yield_now().await;
        assert_eq!(limiter.stats().waiting, 1);
        tokio::time::sleep(Duration::from_millis(10)).await;
        first.success(); // 1 + 0.2 × √1 → 1.2: still 1, but the slot frees
        waiter.await.unwrap();
        assert_eq!(limiter.stats().successes, 2);
        assert_eq!(limiter.stats().min_latency, Some(Duration::ZERO));

        // From 1, with a headroom of 5: a success while the one permit is
        // in use grows the limit to 1 + 0.2 × 5 = 2, and the growth lets a
        // second waiter in besides the one taking the freed slot.
        let limiter = self::limiter(AdaptiveConfig {
            initial_limit: 1,
            ..AdaptiveConfig::new(Algorithm::Gradient(Gradient {
                headroom: Headroom::Fixed(5),
                ..Gradient::default()
            }))
        });
        let first = limiter.acquire().await;
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move { limiter.acquire().await })
            })
            .collect();
        tokio::task::yield_now().await;
        assert_eq!(limiter.stats().waiting, 2);
        tokio::time::sleep(Duration::from_millis(10)).await;
        first.success();
        assert_eq!(limiter.current_limit(), 2, "the limit grew");
        let mut permits = Vec::new();
        for waiter in waiters {
            permits.push(waiter.await.unwrap());
        }
        let stats = limiter.stats();
        assert_eq!((stats.in_flight, stats.waiting), (2, 0));
        assert!(limiter.try_acquire().is_none(), "no more than the limit");
    }
}
