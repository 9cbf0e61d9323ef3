//! What latency says about queueing, one round trip at a time.
//!
//! [`RoundTrip`] gathers the latencies of about a limit's worth of
//! operations (one round trip) and gives their mean and how far that mean
//! could be off by chance (its standard error, from the spread of the
//! samples).
//!
//! [`Baseline`] compares each round trip's mean with the lowest mean seen,
//! allowing for that chance: a queue in the service delays every request
//! alike, so it moves the mean while the spread stays small, and even a
//! queue of a few requests shows. A service whose latency varies by nature
//! (cache hits next to misses) has a wide spread, so its round trips get a
//! wide allowance and its limit does not collapse.

use std::time::Duration;

/// A round trip is at least this many samples, even under a small limit:
/// a mean of fewer is mostly noise.
pub(super) const MIN_SAMPLES: usize = 16;

/// The lowest mean rises by this many of its standard errors per round
/// trip (at least [`MIN_BASELINE_RISE`]). The lowest of many round trips is
/// a lucky one, below the typical one by more standard errors the longer
/// it is kept; rising keeps it about one to two below, whatever the noise.
/// Without it, a service whose latency varies by nature had its limit
/// sink to 4 of 256 in the noisy-latency test; with a fixed 1% a round
/// trip, a limit sawing just above a steady service's capacity dragged the
/// baseline up with it.
const BASELINE_RISE: f64 = 0.1;

/// The lowest mean rises at least this share per round trip, so that it
/// follows a service that became slower for good (after a deploy, a
/// failover): twice as slow in about 700 round trips.
const MIN_BASELINE_RISE: f64 = 0.001;

/// A round trip within this share of the lowest mean is one without a
/// queue: its spread is the service's own noise.
const NEAR_LOWEST: f64 = 0.02;

/// A mean counts as queueing only above `tolerance` plus this many standard
/// errors of the mean (relative to it). The lowest mean is itself a lucky
/// round trip, about one to two standard errors below the typical one, so
/// 3 (with the tolerance's 10%) leaves one to two more, and `Aimd` wants
/// two such round trips in a row before it cuts. Chosen on the models of
/// `tests/primitives/limit_adaptive.rs`: with it the noisy-latency test keeps the
/// limit above 190 of 256, and a steady service's queue shows at about
/// 1.05 × its capacity.
const NOISE_ALLOWANCE: f64 = 3.0;

/// The latencies of the round trip in progress.
#[derive(Debug, Default)]
pub(super) struct RoundTrip {
    count: usize,
    sum: f64,
    /// The latency before, and the sum of squared differences between
    /// consecutive latencies (see [`RoundTrip::add`]).
    previous: Option<f64>,
    sum_of_squared_steps: f64,
    in_use: usize,
    stale: usize,
}

/// A finished round trip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Finished {
    /// The mean latency, in seconds.
    pub(super) mean: f64,
    /// The spread of the latencies (their standard deviation, as a share
    /// of the mean).
    pub(super) spread: f64,
    /// How many latencies.
    pub(super) count: usize,
    /// At least half of its operations started with the limit in use (see
    /// `Sample::limit_in_use`).
    pub(super) in_use: bool,
    /// At least half of its operations were granted after the last cut, so
    /// it measured the limit now.
    pub(super) fresh: bool,
    /// All of them were.
    pub(super) all_fresh: bool,
}

impl RoundTrip {
    /// Adds one success (`stale`: granted before the last cut); returns the
    /// round trip once it has `wanted` samples, and starts the next.
    ///
    /// The spread comes from the differences between consecutive latencies
    /// (von Neumann's mean square successive difference), not from the
    /// deviations from the mean: a limit that moved during the round trip
    /// shifts the latencies in steps, which would pass for noise and
    /// widen the allowance just when a queue forms.
    pub(super) fn add(
        &mut self,
        latency: Duration,
        in_use: bool,
        stale: bool,
        wanted: usize,
    ) -> Option<Finished> {
        let latency = latency.as_secs_f64();
        self.count += 1;
        self.sum += latency;
        if let Some(previous) = self.previous.replace(latency) {
            self.sum_of_squared_steps += (latency - previous).powi(2);
        }
        self.in_use += usize::from(in_use);
        self.stale += usize::from(stale);
        if self.count < wanted {
            return None;
        }
        let count = self.count as f64;
        let mean = self.sum / count;
        let variance = if self.count > 1 {
            self.sum_of_squared_steps / (2.0 * (count - 1.0))
        } else {
            0.0
        };
        let finished = Finished {
            mean,
            spread: if mean > 0.0 {
                variance.sqrt() / mean
            } else {
                0.0
            },
            count: self.count,
            in_use: self.in_use * 2 >= self.count,
            fresh: self.stale * 2 <= self.count,
            all_fresh: self.stale == 0,
        };
        self.clear();
        Some(finished)
    }

    /// Drops the samples gathered so far (after a cut: they measured the
    /// old limit).
    pub(super) fn clear(&mut self) {
        *self = RoundTrip::default();
    }
}

/// The lowest round-trip mean seen, and the noise of round trips without
/// a queue.
#[derive(Debug, Default)]
pub(super) struct Baseline {
    lowest: Option<f64>,
    /// Average spread of the first round trip and of those near the
    /// lowest: the service's own noise. A queue spreads latencies too, so
    /// slower round trips do not count, or a queue would widen the
    /// allowance that should catch it.
    spread: Option<f64>,
}

/// Weight of each round trip in [`Baseline::spread`].
const NOISE_WEIGHT: f64 = 0.1;

impl Baseline {
    /// The service is this slow now without a queue of ours: `mean` is the
    /// new lowest.
    pub(super) fn rebase(&mut self, mean: f64) {
        self.lowest = Some(mean);
    }

    /// Whether `mean` is above `factor` × the lowest.
    pub(super) fn slower_than(&self, mean: f64, factor: f64) -> bool {
        self.lowest.is_some_and(|lowest| mean > lowest * factor)
    }

    /// Whether there is a baseline yet.
    pub(super) fn is_known(&self) -> bool {
        self.lowest.is_some()
    }

    /// Takes a finished round trip. If it is fresh and its mean is above
    /// `tolerance` × the lowest (plus the noise allowance), returns
    /// `lowest / mean`: by Little's law, the share of the limit that would
    /// have served as many at the lowest latency. A stale round trip only
    /// teaches the baseline.
    pub(super) fn queueing(&mut self, round_trip: &Finished, tolerance: f64) -> Option<f64> {
        const FLOOR: f64 = 1e-6; // 1µs, so instant work does not divide by 0
        let mean = round_trip.mean.max(FLOOR);
        // The standard error of this round trip's mean, if only the
        // service's own noise moved it: a smaller round trip is noisier.
        let spread = *self.spread.get_or_insert(round_trip.spread);
        let noise = spread / (round_trip.count.max(1) as f64).sqrt();
        let queueing = match self.lowest {
            Some(lowest) if round_trip.fresh => {
                let threshold = lowest * (tolerance + NOISE_ALLOWANCE * noise);
                (mean > threshold).then_some(lowest / mean)
            }
            _ => None,
        };
        if self
            .lowest
            .is_some_and(|lowest| mean <= lowest * (1.0 + NEAR_LOWEST))
        {
            self.spread = Some(spread + (round_trip.spread - spread) * NOISE_WEIGHT);
        }
        let rise = (BASELINE_RISE * noise).max(MIN_BASELINE_RISE);
        self.lowest = Some(match self.lowest {
            Some(lowest) => mean.min(lowest * (1.0 + rise)),
            None => mean,
        });
        queueing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A fresh round trip of 100 latencies whose mean has a standard error
    /// of `noise` × `mean`.
    fn steady(mean: f64, noise: f64) -> Finished {
        Finished {
            mean,
            spread: noise * 10.0,
            count: 100,
            in_use: true,
            fresh: true,
            all_fresh: true,
        }
    }

    #[test]
    fn a_round_trip_gives_the_mean_and_the_spread() {
        let mut round_trip = RoundTrip::default();
        for n in 0..19 {
            let latency = if n % 2 == 0 { ms(10) } else { ms(30) };
            assert_eq!(round_trip.add(latency, true, n < 10, 20), None);
        }
        let finished = round_trip.add(ms(20), false, false, 20).unwrap();
        assert!((finished.mean - 0.0195).abs() < 1e-9, "{finished:?}");
        // Steps of 20 ms (10 the last): spread √((18 × 400 + 100) / 38)
        // = 13.86 ms, 71% of the mean.
        assert!((finished.spread - 0.7107).abs() < 0.001, "{finished:?}");
        assert_eq!(finished.count, 20);
        assert!(finished.in_use);
        assert!(finished.fresh, "10 stale of 20 is not a majority");
        // The next one starts empty.
        assert_eq!(round_trip.add(ms(10), true, true, 2), None);
        let finished = round_trip.add(ms(10), true, true, 2).unwrap();
        assert_eq!((finished.spread, finished.fresh), (0.0, false));
    }

    #[test]
    fn a_steady_service_shows_a_small_queue() {
        let mut baseline = Baseline::default();
        assert!(!baseline.is_known());
        assert_eq!(baseline.queueing(&steady(0.020, 0.001), 1.1), None);
        assert!(baseline.is_known());
        // 13% slower, every request: a queue.
        let ratio = baseline.queueing(&steady(0.0226, 0.001), 1.1).unwrap();
        assert!((ratio - 0.020 / 0.0226).abs() < 1e-9);
        // Unless the round trip measured the limit before a cut.
        let stale = Finished {
            fresh: false,
            all_fresh: false,
            ..steady(0.0226, 0.001)
        };
        assert_eq!(baseline.queueing(&stale, 1.1), None);
    }

    #[test]
    fn a_noisy_service_gets_a_wide_allowance() {
        let mut baseline = Baseline::default();
        baseline.queueing(&steady(0.020, 0.1), 1.1);
        // 35% slower with a standard error of 10%: within chance.
        assert_eq!(baseline.queueing(&steady(0.027, 0.1), 1.1), None);
        // Twice the lowest is a queue.
        assert!(baseline.queueing(&steady(0.040, 0.1), 1.1).is_some());
    }

    #[test]
    fn a_queues_own_spread_does_not_widen_the_allowance() {
        let mut baseline = Baseline::default();
        for _ in 0..30 {
            baseline.queueing(&steady(0.020, 0.005), 1.1);
        }
        // A queue: 25% slower and five times the spread, again and again.
        for _ in 0..20 {
            assert!(baseline.queueing(&steady(0.025, 0.025), 1.1).is_some());
        }
    }

    #[test]
    fn the_baseline_follows_a_service_that_became_slower_for_good() {
        let mut baseline = Baseline::default();
        baseline.queueing(&steady(0.010, 0.0), 1.1);
        let queueing = (0..1000)
            .filter(|_| baseline.queueing(&steady(0.020, 0.0), 1.1).is_some())
            .count();
        assert!(
            queueing < 700,
            "still queueing after {queueing} round trips"
        );
        assert_eq!(baseline.queueing(&steady(0.020, 0.0), 1.1), None);
    }
}
