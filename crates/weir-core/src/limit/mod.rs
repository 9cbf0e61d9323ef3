//! Limiters: bound how many operations run at once, or how often they start.
//!
//! * [`ConcurrencyLimit`]: at most `n` operations in flight (a semaphore).
//! * [`RateLimit`]: at most a [`Rate`] of operations started, with a burst
//!   (GCRA on tokio's clock).
//! * [`AdaptiveConcurrency`]: a concurrency limit that moves with the
//!   service, by [AIMD](Aimd) or a [latency gradient](Gradient).
//! * [`OpTimeout`] / [`TimedOut`]: one per-operation timeout for any of them,
//!   saying whether the wait for the limiter or the work ran out of time.
//!
//! Every limiter implements [`Limiter`], which runs an operation under it
//! ([`Limiter::run`], [`Limiter::run_with_timeout`]) the same way for all.
//!
//! Each limiter is a cheap-to-clone handle made from a plain config value
//! (`usize`, [`Rate`], [`AdaptiveConfig`]); clones share the limit. Every
//! limiter keeps statistics in atomics, read without a lock by its `stats()`.
//! All of them use tokio's clock, so tests can run them in paused time.
//!
//! ```
//! use std::time::Duration;
//! use weir_core::limit::{ConcurrencyLimit, Limiter, Rate, RateLimit};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
//! let per_host = ConcurrencyLimit::new(4);
//! let pace = RateLimit::new("50/s".parse::<Rate>().unwrap());
//! let answer = per_host
//!     .run_with_timeout(pace.run(async { 42 }), Duration::from_secs(1))
//!     .await
//!     .unwrap();
//! assert_eq!(answer, 42);
//! # });
//! ```

mod adaptive;
mod concurrency;
mod limiter;
mod rate;
mod rate_limit;
mod timeout;
mod wait;

pub use self::adaptive::{
    AdaptiveConcurrency, AdaptiveConfig, AdaptivePermit, AdaptiveStats, Aimd, Algorithm,
    ConfigError, Gradient, Headroom, Outcome, WatchLatency,
};
pub use self::concurrency::{ConcurrencyLimit, ConcurrencyPermit, ConcurrencyStats};
pub use self::limiter::Limiter;
pub use self::rate::{Rate, RateError};
pub use self::rate_limit::{RateLimit, RateLimited, RateStats};
pub use self::timeout::{OpTimeout, Phase, TimedOut};
