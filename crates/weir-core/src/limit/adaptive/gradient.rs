//! [`Gradient`]: follows the latency gradient, as Netflix's `GradientLimit`.
//!
//! For every success, `gradient = tolerance × min_latency / latency`,
//! clamped to `0.5..=1`; the target limit is `limit × gradient + headroom`,
//! and the limit moves `smoothing / limit` of the way there, so about
//! `smoothing` of the way per round trip (a limit's worth of successes).
//! While latency stays at
//! its minimum, the headroom makes the limit grow; once requests start to
//! queue in the service, latency rises and the gradient pulls the limit back
//! to where the queue is about `headroom` deep. An overload multiplies the
//! limit by `backoff`.
//!
//! The baseline is the lowest latency ever seen, so the latencies recorded
//! should be for comparable work. `tolerance` above 1 accepts that much
//! latency noise (or queueing) before backing off, at the price of settling
//! higher above the service's capacity.
//!
//! ```
//! use weir_core::limit::{AdaptiveConcurrency, AdaptiveConfig, Algorithm, Gradient, Headroom};
//!
//! let gradient = Gradient { headroom: Headroom::Fixed(4), ..Gradient::default() };
//! let limiter = AdaptiveConcurrency::new(AdaptiveConfig {
//!     max_limit: 200,
//!     ..AdaptiveConfig::new(Algorithm::Gradient(gradient))
//! })
//! .unwrap();
//! assert_eq!(limiter.stats().max_limit, 200);
//! ```

use super::{parameter, ConfigError, Decision, Sample};

/// How many requests beyond the no-queueing point the gradient algorithm
/// allows, so it keeps probing for more capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Headroom {
    /// The square root of the limit (the default).
    Sqrt,
    /// A fixed number of requests.
    Fixed(usize),
}

/// Settings of the latency-gradient algorithm, after Netflix's
/// `GradientLimit`.
///
/// For every success, `gradient = tolerance × min_latency / latency`,
/// clamped to `0.5..=1`; the target limit is `limit × gradient + headroom`,
/// and the limit moves `smoothing` of the way there per round trip. While
/// latency stays at its minimum the headroom makes the limit grow; once
/// requests queue in the service, latency rises and the limit settles where
/// the queue is about `headroom` deep. An overload multiplies the limit by
/// `backoff`, at most once per round trip.
///
/// The baseline is the lowest latency ever seen, so the latencies recorded
/// should be for comparable work; `tolerance` above 1 absorbs latency noise,
/// at the price of settling further above the service's capacity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gradient {
    /// Latency up to this many times the minimum counts as no queueing; 1.0
    /// by default. Must be at least 1.
    pub tolerance: f64,
    /// How far the limit moves toward its target per round trip (a limit's
    /// worth of successes), in `(0, 1]`; 0.2 by default.
    pub smoothing: f64,
    /// Allowed queue in the service; [`Headroom::Sqrt`] by default.
    pub headroom: Headroom,
    /// The factor the limit is multiplied by on an overload; 0.9 by default.
    /// Must be in `(0, 1)`.
    pub backoff: f64,
}

impl Default for Gradient {
    fn default() -> Self {
        Gradient {
            tolerance: 1.0,
            smoothing: 0.2,
            headroom: Headroom::Sqrt,
            backoff: 0.9,
        }
    }
}

/// The gradient never cuts the limit by more than half at once.
const MIN_GRADIENT: f64 = 0.5;

impl Gradient {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        parameter(
            "tolerance",
            self.tolerance,
            self.tolerance >= 1.0 && self.tolerance.is_finite(),
            "at least 1",
        )?;
        parameter(
            "smoothing",
            self.smoothing,
            self.smoothing > 0.0 && self.smoothing <= 1.0,
            "0 < smoothing <= 1",
        )?;
        parameter(
            "backoff",
            self.backoff,
            self.backoff > 0.0 && self.backoff < 1.0,
            "0 < backoff < 1",
        )
    }

    pub(super) fn decide(&self, sample: &Sample) -> Decision {
        let limit = sample.limit;
        if sample.overloaded {
            return Decision::Backoff(limit * self.backoff);
        }
        let gradient = (self.tolerance / sample.latency_ratio()).clamp(MIN_GRADIENT, 1.0);
        let headroom = match self.headroom {
            Headroom::Sqrt => limit.sqrt(),
            Headroom::Fixed(n) => n as f64,
        };
        let mut target = limit * gradient + headroom;
        if !sample.limit_in_use() {
            // An idle limit is no evidence that more would be fine.
            target = target.min(limit);
        }
        // About `limit` samples arrive per round trip, so each moves the limit
        // 1/limit of the smoothed step: it moves `smoothing` of the way per
        // round trip, not per sample (which would overshoot by a whole
        // round trip's worth of steps before latency could react).
        let step = self.smoothing / limit.max(1.0);
        Decision::Set(limit + (target - limit) * step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(decision: Decision) -> f64 {
        match decision {
            Decision::Set(limit) => limit,
            other => panic!("expected Set, got {other:?}"),
        }
    }

    #[test]
    fn grows_by_headroom_at_minimum_latency() {
        let gradient = Gradient::default();
        // target = 16 × 1 + 4, moved 0.2 / 16 of the way: 16.05
        assert!((set(gradient.decide(&Sample::success(16.0, 10, 16))) - 16.05).abs() < 1e-9);
    }

    #[test]
    fn shrinks_when_latency_rises_and_never_more_than_half() {
        let gradient = Gradient {
            headroom: Headroom::Fixed(0),
            ..Gradient::default()
        };
        // Latency doubled: target 8, moved 0.2 / 16 of the way from 16: 15.9
        assert!((set(gradient.decide(&Sample::success(16.0, 20, 16))) - 15.9).abs() < 1e-9);
        // Latency ×10 still targets half.
        assert!((set(gradient.decide(&Sample::success(16.0, 100, 16))) - 15.9).abs() < 1e-9);
    }

    #[test]
    fn idle_limit_does_not_grow_and_overload_backs_off() {
        let gradient = Gradient::default();
        assert!((set(gradient.decide(&Sample::success(16.0, 10, 2))) - 16.0).abs() < 1e-9);
        let overloaded = Sample {
            overloaded: true,
            ..Sample::success(16.0, 0, 16)
        };
        assert_eq!(gradient.decide(&overloaded), Decision::Backoff(16.0 * 0.9));
    }
}
