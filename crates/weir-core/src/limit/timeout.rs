//! A per-operation timeout around "wait for a limiter, then do the work".
//!
//! # Why
//! Wrapping `limiter.run(work)` in `tokio::time::timeout` gives one error for
//! two very different situations: the limiter never let the operation start
//! (the pipeline is saturated: shed load, back off) or the work itself was
//! slow (the downstream is slow: maybe retry). [`OpTimeout`] says which parts
//! the timeout covers and [`TimedOut`] says which part ran out.
//!
//! # Guarantee
//! Every limiter's [`run_with_timeout`](super::Limiter::run_with_timeout)
//! goes through one implementation here.
//! When it returns [`TimedOut`] with [`Phase::Acquire`], the work future was
//! never polled and no permit was taken; with [`Phase::Work`], the work was
//! started and has been dropped (cancelled), and its permit released.
//!
//! # Example
//! ```
//! use std::time::Duration;
//! use weir_core::limit::{ConcurrencyLimit, Limiter, OpTimeout, Phase};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
//! let limit = ConcurrencyLimit::new(1);
//! let held = limit.acquire().await; // the only permit is taken
//! let err = limit
//!     .run_with_timeout(async { 1 }, OpTimeout::Total(Duration::from_millis(50)))
//!     .await
//!     .unwrap_err();
//! assert_eq!(err.phase, Phase::Acquire);
//! drop(held);
//!
//! // Only the work is timed: the wait for a permit is not bounded.
//! let err = limit
//!     .run_with_timeout(
//!         tokio::time::sleep(Duration::from_secs(1)),
//!         OpTimeout::Work(Duration::from_millis(50)),
//!     )
//!     .await
//!     .unwrap_err();
//! assert_eq!(err.phase, Phase::Work);
//! # });
//! ```

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// Which parts of a limited operation a timeout covers. A plain
/// `Duration` converts to [`OpTimeout::Total`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpTimeout {
    /// One budget for waiting for a permit and doing the work together.
    Total(Duration),
    /// Only the work is timed; the wait for a permit is unbounded.
    Work(Duration),
    /// Separate budgets: `acquire` for the wait, then `work` for the work,
    /// counted from the moment the permit was granted.
    Split {
        /// Budget for the wait for a permit.
        acquire: Duration,
        /// Budget for the work, once the permit is held.
        work: Duration,
    },
}

impl From<Duration> for OpTimeout {
    fn from(total: Duration) -> Self {
        OpTimeout::Total(total)
    }
}

/// The part of a limited operation that ran out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Waiting for the limiter: the work was never started.
    Acquire,
    /// The work itself, after the permit was granted: it was cancelled.
    Work,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Acquire => "waiting for a permit",
            Phase::Work => "doing the work",
        })
    }
}

/// A limited operation ran out of time; [`TimedOut::phase`] says in which
/// part. The work future is not handed back: in the
/// [`Acquire`](Phase::Acquire) phase it was never polled, so the caller can
/// simply build it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("timed out {phase} after {elapsed:?} (of which {waited:?} waiting for a permit)")]
pub struct TimedOut {
    /// Which part ran out of time.
    pub phase: Phase,
    /// Time spent waiting for the permit (all of `elapsed` if the phase is
    /// [`Phase::Acquire`]).
    pub waited: Duration,
    /// Time from the start of the operation until it was given up.
    pub elapsed: Duration,
}

/// A [`TimedOut`] plus the permit, if one was granted, so the limiter can
/// learn from a work timeout before releasing it.
pub(crate) struct Expired<P> {
    pub(crate) error: TimedOut,
    pub(crate) permit: Option<P>,
}

/// The one implementation behind every `run_with_timeout`: waits for
/// `acquire` and then runs `work`, each under the deadline `timeout` gives it.
/// On success the permit is returned with the output; the caller drops it.
pub(crate) async fn run_limited<P, A, F>(
    acquire: A,
    work: F,
    timeout: OpTimeout,
) -> Result<(P, F::Output), Expired<P>>
where
    A: Future<Output = P>,
    F: Future,
{
    let start = Instant::now();
    let (acquire_budget, work_budget, total) = match timeout {
        OpTimeout::Total(total) => (None, None, Some(start + total)),
        OpTimeout::Work(work) => (None, Some(work), None),
        OpTimeout::Split { acquire, work } => (Some(acquire), Some(work), None),
    };
    let earliest = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };

    let acquire_deadline = earliest(total, acquire_budget.map(|d| start + d));
    let permit = match acquire_deadline {
        None => acquire.await,
        Some(deadline) => match tokio::time::timeout_at(deadline, acquire).await {
            Ok(permit) => permit,
            Err(_elapsed) => {
                let elapsed = start.elapsed();
                return Err(Expired {
                    error: TimedOut {
                        phase: Phase::Acquire,
                        waited: elapsed,
                        elapsed,
                    },
                    permit: None,
                });
            }
        },
    };

    let granted = Instant::now();
    let work_deadline = earliest(total, work_budget.map(|d| granted + d));
    let output = match work_deadline {
        None => work.await,
        // `timeout_at` polls the work before looking at the clock, so work
        // that is ready at once succeeds even when the budget is spent.
        Some(deadline) => match tokio::time::timeout_at(deadline, work).await {
            Ok(output) => output,
            Err(_elapsed) => {
                return Err(Expired {
                    error: TimedOut {
                        phase: Phase::Work,
                        waited: granted - start,
                        elapsed: start.elapsed(),
                    },
                    permit: Some(permit),
                })
            }
        },
    };
    Ok((permit, output))
}
