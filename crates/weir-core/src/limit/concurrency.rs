//! A fixed concurrency limit: at most `n` operations in flight at once.
//!
//! # Why
//! A pipeline stage that calls a service should not have more calls
//! outstanding than the service can take; beyond that, extra callers should
//! wait (backpressure) instead of piling onto the service. [`ConcurrencyLimit`]
//! is a [`tokio::sync::Semaphore`] with a permit type that cannot leak and
//! with statistics cheap enough to leave on.
//!
//! # Guarantee
//! At most [`ConcurrencyLimit::limit`] [`ConcurrencyPermit`]s exist at any
//! moment; a permit is released when it is dropped, on every path (return,
//! `?`, panic, cancellation). Waiters are served first come, first served.
//!
//! # Example
//! ```
//! use weir_core::limit::{ConcurrencyLimit, Limiter};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let limit = ConcurrencyLimit::new(2);
//! let tasks: Vec<_> = (0..10)
//!     .map(|n| {
//!         let limit = limit.clone();
//!         tokio::spawn(async move { limit.run(async move { n * 2 }).await })
//!     })
//!     .collect();
//! let mut sum = 0;
//! for task in tasks {
//!     sum += task.await.unwrap();
//! }
//! assert_eq!(sum, 90);
//! let stats = limit.stats();
//! assert_eq!((stats.acquired, stats.in_flight), (10, 0));
//! # });
//! ```

use std::fmt;
use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::limiter::Limiter;
use super::wait::{add_duration, WaitCounters};

struct Shared {
    semaphore: Arc<Semaphore>,
    limit: usize,
    waits: WaitCounters,
    held_nanos: AtomicU64,
}

/// At most `n` operations in flight at once: a [`tokio::sync::Semaphore`]
/// with a permit that cannot leak (released on drop, on every path) and
/// statistics. Waiters are served first come, first served.
///
/// Clone the handle to share the limit: every clone counts against the
/// same `n`.
#[derive(Clone)]
pub struct ConcurrencyLimit {
    shared: Arc<Shared>,
}

impl fmt::Debug for ConcurrencyLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyLimit")
            .field("limit", &self.shared.limit)
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

impl ConcurrencyLimit {
    /// A limit of `n` operations in flight at once.
    ///
    /// # Panics
    /// If `n` is 0 (nothing could ever run) or above
    /// [`Semaphore::MAX_PERMITS`].
    pub fn new(n: usize) -> Self {
        assert!(n > 0, "ConcurrencyLimit::new: the limit must be at least 1");
        assert!(
            n <= Semaphore::MAX_PERMITS,
            "ConcurrencyLimit::new: the limit must be at most Semaphore::MAX_PERMITS"
        );
        ConcurrencyLimit {
            shared: Arc::new(Shared {
                semaphore: Arc::new(Semaphore::new(n)),
                limit: n,
                waits: WaitCounters::default(),
                held_nanos: AtomicU64::new(0),
            }),
        }
    }

    /// Waits for a permit. Hold it while doing the work; dropping it lets the
    /// next waiter in.
    ///
    /// # Cancel safety
    /// Cancel-safe: if the future is dropped before it completes, no permit
    /// was taken (the caller loses only its place in the line).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let limit = weir_core::limit::ConcurrencyLimit::new(1);
    /// let permit = limit.acquire().await;
    /// assert!(limit.try_acquire().is_none());
    /// drop(permit);
    /// assert!(limit.try_acquire().is_some());
    /// # });
    /// ```
    pub async fn acquire(&self) -> ConcurrencyPermit {
        let waiting = self.shared.waits.start();
        let permit = self
            .shared
            .semaphore
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore of a ConcurrencyLimit is never closed");
        waiting.granted();
        self.permit(permit)
    }

    /// A permit if one is free now, without waiting. It may be taken even
    /// while others wait in [`ConcurrencyLimit::acquire`].
    pub fn try_acquire(&self) -> Option<ConcurrencyPermit> {
        let permit = self.shared.semaphore.clone().try_acquire_owned().ok()?;
        self.shared.waits.start().granted();
        Some(self.permit(permit))
    }

    fn permit(&self, permit: OwnedSemaphorePermit) -> ConcurrencyPermit {
        ConcurrencyPermit {
            _permit: permit,
            shared: self.shared.clone(),
            acquired_at: Instant::now(),
        }
    }

    /// The limit this was built with.
    pub fn limit(&self) -> usize {
        self.shared.limit
    }

    /// Permits held now.
    pub fn in_flight(&self) -> usize {
        self.shared.limit - self.shared.semaphore.available_permits()
    }

    /// A snapshot of the limit's counters, read without a lock.
    pub fn stats(&self) -> ConcurrencyStats {
        let shared = &self.shared;
        ConcurrencyStats {
            limit: shared.limit,
            in_flight: self.in_flight(),
            waiting: shared.waits.waiting(),
            acquired: shared.waits.granted(),
            wait_time: shared.waits.wait_time(),
            held_time: Duration::from_nanos(shared.held_nanos.load(Ordering::Relaxed)),
        }
    }
}

impl Limiter for ConcurrencyLimit {
    type Permit = ConcurrencyPermit;

    fn acquire(&self) -> impl Future<Output = ConcurrencyPermit> + Send {
        ConcurrencyLimit::acquire(self)
    }
}

/// Permission to run one operation under a [`ConcurrencyLimit`]. Released
/// when dropped. It owns its share of the limit, so it can be moved into a
/// spawned task.
#[must_use = "the permit is released as soon as it is dropped"]
pub struct ConcurrencyPermit {
    _permit: OwnedSemaphorePermit,
    shared: Arc<Shared>,
    acquired_at: Instant,
}

impl ConcurrencyPermit {
    /// How long this permit has been held.
    pub fn held_for(&self) -> Duration {
        self.acquired_at.elapsed()
    }
}

impl fmt::Debug for ConcurrencyPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyPermit")
            .field("held_for", &self.held_for())
            .finish()
    }
}

impl Drop for ConcurrencyPermit {
    fn drop(&mut self) {
        add_duration(&self.shared.held_nanos, self.acquired_at.elapsed());
        // The semaphore permit is returned right after, as a field.
    }
}

/// A snapshot of a [`ConcurrencyLimit`]'s counters. Counters only grow; take
/// two snapshots and subtract to get rates over an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConcurrencyStats {
    /// The limit.
    pub limit: usize,
    /// Permits held now.
    pub in_flight: usize,
    /// Callers waiting for a permit now.
    pub waiting: usize,
    /// Permits granted so far.
    pub acquired: u64,
    /// Total time callers spent waiting before they were granted a permit
    /// (waits that were given up are not counted).
    pub wait_time: Duration,
    /// Total time permits were held, counted when each is released; divide
    /// by elapsed time for the average concurrency.
    pub held_time: Duration,
}
