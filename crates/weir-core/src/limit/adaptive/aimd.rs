//! [`Aimd`]: additive increase, multiplicative decrease, as TCP Reno does.
//!
//! While the limit is in use and the service answers quickly, every success
//! adds `increase / limit`, so the limit grows by about `increase` per
//! limit's worth of operations (per "round trip"). An overload, or a latency
//! above `latency_tolerance` × the lowest latency seen, multiplies the limit
//! by `backoff`. Simple and robust; it oscillates a little below the point
//! where the service starts queueing.
//!
//! ```
//! use weir_core::limit::{AdaptiveConcurrency, AdaptiveConfig, Aimd, Algorithm};
//!
//! let limiter = AdaptiveConcurrency::new(AdaptiveConfig {
//!     min_limit: 2,
//!     ..AdaptiveConfig::new(Algorithm::Aimd(Aimd { backoff: 0.5, ..Aimd::default() }))
//! })
//! .unwrap();
//! assert_eq!(limiter.current_limit(), 10);
//! ```

#[cfg(doc)]
use super::Outcome;
use super::{parameter, ConfigError, Decision, Sample};

/// Settings of the AIMD algorithm: additive increase, multiplicative
/// decrease, as TCP Reno does.
///
/// While the limit is in use (at least half of it was out when the permit
/// was granted) and the service answers quickly, every success adds
/// `increase / limit`, so the limit grows by about `increase` per limit's
/// worth of operations (per round trip). An [`Outcome::Overloaded`], or a
/// latency above `latency_tolerance` × the lowest latency seen, multiplies
/// the limit by `backoff`, at most once per round trip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aimd {
    /// Added to the limit per limit's worth of successes while it is in use;
    /// 1.0 by default. Must be positive.
    pub increase: f64,
    /// The factor the limit is multiplied by on congestion; 0.9 by default.
    /// Must be in `(0, 1)`.
    pub backoff: f64,
    /// A success slower than this many times the lowest latency seen counts
    /// as congestion; 1.5 by default. Must be at least 1;
    /// `f64::INFINITY` reacts to [`Outcome::Overloaded`] only.
    pub latency_tolerance: f64,
}

impl Default for Aimd {
    fn default() -> Self {
        Aimd {
            increase: 1.0,
            backoff: 0.9,
            latency_tolerance: 1.5,
        }
    }
}

impl Aimd {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        parameter(
            "increase",
            self.increase,
            self.increase > 0.0 && self.increase.is_finite(),
            "a positive number",
        )?;
        parameter(
            "backoff",
            self.backoff,
            self.backoff > 0.0 && self.backoff < 1.0,
            "0 < backoff < 1",
        )?;
        parameter(
            "latency_tolerance",
            self.latency_tolerance,
            self.latency_tolerance >= 1.0,
            "at least 1",
        )
    }

    pub(super) fn decide(&self, sample: &Sample) -> Decision {
        if sample.overloaded || sample.latency_ratio() > self.latency_tolerance {
            Decision::Backoff(sample.limit * self.backoff)
        } else if sample.limit_in_use() {
            Decision::Set(sample.limit + self.increase / sample.limit)
        } else {
            Decision::Keep
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_by_one_over_limit_when_in_use() {
        let aimd = Aimd::default();
        assert_eq!(
            aimd.decide(&Sample::success(10.0, 10, 10)),
            Decision::Set(10.1)
        );
        assert_eq!(
            aimd.decide(&Sample::success(10.0, 14, 5)),
            Decision::Set(10.1)
        );
        // Half the limit unused: a success proves nothing.
        assert_eq!(aimd.decide(&Sample::success(10.0, 10, 4)), Decision::Keep);
    }

    #[test]
    fn backs_off_on_overload_and_on_slow_answers() {
        let aimd = Aimd::default();
        let overloaded = Sample {
            overloaded: true,
            ..Sample::success(10.0, 0, 10)
        };
        assert_eq!(aimd.decide(&overloaded), Decision::Backoff(9.0));
        assert_eq!(
            aimd.decide(&Sample::success(10.0, 16, 10)),
            Decision::Backoff(9.0)
        );
        let patient = Aimd {
            latency_tolerance: f64::INFINITY,
            ..aimd
        };
        assert_eq!(
            patient.decide(&Sample::success(10.0, 1000, 10)),
            Decision::Set(10.1)
        );
    }

    #[test]
    fn checks_its_settings() {
        assert!(Aimd::default().check().is_ok());
        for bad in [
            Aimd {
                backoff: 1.0,
                ..Aimd::default()
            },
            Aimd {
                backoff: f64::NAN,
                ..Aimd::default()
            },
            Aimd {
                increase: 0.0,
                ..Aimd::default()
            },
            Aimd {
                latency_tolerance: 0.9,
                ..Aimd::default()
            },
        ] {
            assert!(
                matches!(bad.check(), Err(ConfigError::Parameter { .. })),
                "{bad:?}"
            );
        }
    }
}
