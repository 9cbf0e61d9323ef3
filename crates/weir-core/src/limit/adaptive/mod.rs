//! [`AdaptiveConcurrency`]: a concurrency limit that finds the service's
//! capacity by itself, in the spirit of Netflix's `concurrency-limits` and
//! Vector's adaptive request concurrency.
//!
//! # Why
//! A fixed [`ConcurrencyLimit`](super::ConcurrencyLimit) is either too low
//! (wasted throughput) or too high (queueing in the service, timeouts,
//! 429s), and the right value moves as the service scales, degrades or is
//! shared. The adaptive limit probes upwards while the service keeps up and
//! backs off when it shows strain: rising latency, or an explicit
//! [`Outcome::Overloaded`].
//!
//! # How it is used
//! Acquire an [`AdaptivePermit`], do the work, and report how it went with
//! [`AdaptivePermit::record`] (or [`AdaptivePermit::success`], which measures
//! the latency from the moment the permit was granted). A permit dropped
//! without a record releases its slot but teaches the limiter nothing: a
//! cancelled operation says nothing reliable about the service (use
//! [`Limiter::run_with_timeout`](crate::limit::Limiter::run_with_timeout) to
//! have work timeouts count as [`Outcome::Overloaded`]).
//!
//! # Algorithms
//! * [`Aimd`] (the default): one decision per round trip (a limit's worth
//!   of successes). Two round trips in a row whose mean latency is above
//!   `latency_tolerance` × the lowest mean seen, beyond the service's own
//!   noise, show a queue and cut the limit by Little's law (×0.5..=×0.9);
//!   an overload cuts it by `backoff`. Otherwise it grows: doubling until
//!   the first cut, then quickly back toward the level of the last cut and
//!   slowly (+1 per round trip) past it. It holds a narrow band just under
//!   the service's capacity, and a latency that varies by nature does not
//!   make it collapse.
//! * [`Gradient`]: moves the limit by `min_latency / latency` (clamped to
//!   0.5..=1), plus a queue headroom, smoothed: it settles where latency
//!   starts to rise, without needing errors to find it.
//!
//! # Guarantee
//! The limit stays within `min_limit..=max_limit`. At most
//! [`current_limit`](AdaptiveConcurrency::current_limit) permits are
//! granted at once; when the limit shrinks below the permits already out, no
//! new permit is granted until enough are released. After a multiplicative
//! decrease, outcomes of permits granted before it cannot cause another
//! (one decrease per "round trip", as TCP does), so one burst of errors does
//! not collapse the limit. Waiters are served first come, first served.
//!
//! # Example
//! ```
//! use std::time::Duration;
//! use weir_core::limit::{AdaptiveConcurrency, AdaptiveConfig, Outcome};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
//! let limiter = AdaptiveConcurrency::new(AdaptiveConfig {
//!     initial_limit: 8,
//!     max_limit: 64,
//!     ..AdaptiveConfig::aimd()
//! })
//! .unwrap();
//! let permit = limiter.acquire().await;
//! let status = 503; // pretend the service said so
//! permit.record(if status == 503 {
//!     Outcome::Overloaded
//! } else {
//!     Outcome::Success { latency: Duration::from_millis(20) }
//! });
//! assert_eq!(limiter.current_limit(), 7); // 8 × 0.9, rounded down
//! assert_eq!(limiter.stats().overloaded, 1);
//! # });
//! ```

mod aimd;
mod gradient;
mod limiter;
mod round_trip;

use std::time::Duration;

pub use self::aimd::{Aimd, WatchLatency};
pub use self::gradient::{Gradient, Headroom};
pub use self::limiter::{AdaptiveConcurrency, AdaptivePermit, AdaptiveStats};

/// How one operation under an [`AdaptiveConcurrency`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The service did the work; `latency` is how long it took (what the
    /// algorithms watch for congestion).
    Success {
        /// Time from sending the request to its answer.
        latency: Duration,
    },
    /// The service showed it is overloaded: a timeout, HTTP 429 or 503, a
    /// "slow down" reply. The limit backs off.
    Overloaded,
    /// The operation failed for a reason that says nothing about load (a bad
    /// request, a bug). The limit does not move.
    Failed,
}

/// Which algorithm moves the limit; each carries its settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Algorithm {
    /// Additive increase, multiplicative decrease.
    Aimd(Aimd),
    /// Latency gradient.
    Gradient(Gradient),
}

/// The settings of an [`AdaptiveConcurrency`]: a plain value, checked by
/// [`AdaptiveConcurrency::new`]. Start from [`AdaptiveConfig::aimd`] or
/// [`AdaptiveConfig::gradient`] and change fields with struct update syntax.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveConfig {
    /// The algorithm and its settings.
    pub algorithm: Algorithm,
    /// The limit to start from; 10 by default.
    pub initial_limit: usize,
    /// The limit never goes below this (at least 1); 1 by default.
    pub min_limit: usize,
    /// The limit never goes above this; 1000 by default.
    pub max_limit: usize,
}

impl AdaptiveConfig {
    /// Default bounds with `algorithm`.
    pub fn new(algorithm: Algorithm) -> Self {
        AdaptiveConfig {
            algorithm,
            initial_limit: 10,
            min_limit: 1,
            max_limit: 1000,
        }
    }

    /// Default bounds with [`Aimd::default`].
    pub fn aimd() -> Self {
        Self::new(Algorithm::Aimd(Aimd::default()))
    }

    /// Default bounds with [`Gradient::default`].
    pub fn gradient() -> Self {
        Self::new(Algorithm::Gradient(Gradient::default()))
    }

    fn check(&self) -> Result<(), ConfigError> {
        let (initial, min, max) = (self.initial_limit, self.min_limit, self.max_limit);
        if min == 0 {
            return Err(ConfigError::ZeroMinLimit);
        }
        if max > tokio::sync::Semaphore::MAX_PERMITS {
            return Err(ConfigError::MaxTooLarge(max));
        }
        if !(min <= initial && initial <= max) {
            return Err(ConfigError::Bounds { initial, min, max });
        }
        match &self.algorithm {
            Algorithm::Aimd(aimd) => aimd.check(),
            Algorithm::Gradient(gradient) => gradient.check(),
        }
    }
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        Self::aimd()
    }
}

/// An [`AdaptiveConfig`] that cannot work.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A minimum of 0 would let the limit stop all work for good.
    #[error("min_limit must be at least 1")]
    ZeroMinLimit,
    /// The bounds are out of order.
    #[error("need min_limit <= initial_limit <= max_limit, got {min} <= {initial} <= {max}")]
    Bounds {
        /// The initial limit given.
        initial: usize,
        /// The minimum given.
        min: usize,
        /// The maximum given.
        max: usize,
    },
    /// The maximum is above what a tokio semaphore can count.
    #[error("max_limit {0} is above tokio's Semaphore::MAX_PERMITS")]
    MaxTooLarge(usize),
    /// An algorithm setting is out of its range.
    #[error("{name} = {value} is out of range: {expected}")]
    Parameter {
        /// The setting's field name.
        name: &'static str,
        /// The value given.
        value: f64,
        /// The range it must be in.
        expected: &'static str,
    },
}

/// Checks one algorithm setting.
fn parameter(
    name: &'static str,
    value: f64,
    ok: bool,
    expected: &'static str,
) -> Result<(), ConfigError> {
    if ok && !value.is_nan() {
        Ok(())
    } else {
        Err(ConfigError::Parameter {
            name,
            value,
            expected,
        })
    }
}

/// What an algorithm sees of one recorded outcome (never
/// [`Outcome::Failed`], which the limiter ignores).
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// The limit now, before this sample.
    limit: f64,
    /// Whether the operation was overloaded; else it succeeded in `latency`.
    overloaded: bool,
    /// The operation's latency (zero if overloaded).
    latency: Duration,
    /// The lowest latency seen so far, this sample included.
    min_latency: Option<Duration>,
    /// Permits out when this one was granted, itself included.
    in_flight: usize,
    /// The permit was granted before the last multiplicative decrease, so
    /// it measured the old, higher limit.
    stale: bool,
}

#[cfg(test)]
impl Sample {
    /// A success taking `latency_ms` against a 10 ms baseline, for the
    /// algorithms' unit tests.
    fn success(limit: f64, latency_ms: u64, in_flight: usize) -> Sample {
        Sample {
            limit,
            overloaded: false,
            latency: Duration::from_millis(latency_ms),
            min_latency: Some(Duration::from_millis(10)),
            in_flight,
            stale: false,
        }
    }
}

impl Sample {
    /// Whether the limit was being used when the operation started (half of
    /// it or more, as in Netflix's limiters): only then is a success evidence
    /// that a higher limit would be used and tolerated.
    fn limit_in_use(&self) -> bool {
        self.in_flight as f64 * 2.0 >= self.limit
    }

    /// `latency / min_latency`, at least 1 (1 when there is no baseline).
    fn latency_ratio(&self) -> f64 {
        const FLOOR: f64 = 1e-6; // 1µs, so instant work does not divide by 0
        match self.min_latency {
            None => 1.0,
            Some(min) => {
                let min = min.as_secs_f64().max(FLOOR);
                (self.latency.as_secs_f64().max(FLOOR) / min).max(1.0)
            }
        }
    }
}

/// What an algorithm wants done with the limit.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Decision {
    /// Leave it.
    Keep,
    /// Set it to this value (a smooth move, up or down).
    Set(f64),
    /// Cut it to this value, unless a cut already happened since the
    /// sampled permit was granted.
    Backoff(f64),
}
