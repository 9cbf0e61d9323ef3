//! [`Aimd`]: additive increase, multiplicative decrease, as TCP does, one
//! decision per round trip, with a memory of where the service showed
//! strain.
//!
//! * **Round trips.** Successes are gathered a limit's worth at a time
//!   (see [`round_trip`](super::round_trip)); at the end of each, the
//!   limit moves once.
//! * **Queueing.** A round trip whose mean latency is above
//!   `latency_tolerance` × the lowest mean seen, plus an allowance for the
//!   service's own noise, looks like a queue in the service; two in a row
//!   are one: the limit is cut by `lowest / mean` (Little's law: the
//!   concurrency that would have served as many without the queue),
//!   between ×0.5 and ×0.9.
//! * **Overload.** An [`Outcome::Overloaded`] cuts the limit by `backoff`
//!   at once, at most once per round trip.
//! * **Not a queue of ours.** If the round trip after such a cut is no
//!   faster, sending less did not help: the service (or the client's
//!   machine) is slower now. That latency becomes the baseline instead of
//!   cutting again and again down to the minimum.
//! * **Growth.** A round trip with the limit in use and no queue grows the
//!   limit: doubled in slow start, which ends at the first cut or once the
//!   mean is half the tolerance above the lowest; then by half the way
//!   back to the **ceiling**, the limit at the last cut, where the service
//!   last showed strain (but at least `increase`); at or above the
//!   ceiling, by `increase`. So the limit returns quickly to just below
//!   the level that hurt, and probes past it slowly: it saws in a narrow
//!   band under the service's capacity instead of between half and all of
//!   it. (Growing only by `increase` after a queue was tried: on the bench,
//!   with the machine loaded by other builds, the limit then sank to 11 to
//!   21 against a capacity of 32 and stayed there.)
//!
//! With [`WatchLatency::AfterOverload`] latency moves nothing until the
//! service has signalled overload once: what a fixed concurrency wants, a
//! ceiling that latency alone never lowers, but which, once the service
//! has refused work, settles where the service keeps up.
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

use super::round_trip::{Baseline, RoundTrip, MIN_SAMPLES};
#[cfg(doc)]
use super::Outcome;
use super::{parameter, ConfigError, Decision, Sample};

/// Settings of the AIMD algorithm; see the [module doc](self) for how the
/// limit moves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aimd {
    /// Added to the limit per round trip at or above the ceiling (and at
    /// least that much below it); 1.0 by default. Must be positive.
    pub increase: f64,
    /// The factor the limit is multiplied by on an [`Outcome::Overloaded`];
    /// 0.9 by default. Must be in `(0, 1)`.
    pub backoff: f64,
    /// A round trip whose mean latency is above this many times the
    /// lowest mean seen (plus the noise allowance) shows a queue; 1.1 by
    /// default. Must be at least 1; `f64::INFINITY` reacts to
    /// [`Outcome::Overloaded`] only.
    pub latency_tolerance: f64,
    /// When latency may cut the limit; [`WatchLatency::Always`] by default.
    pub watch_latency: WatchLatency,
}

/// When [`Aimd`] lets latency cut the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WatchLatency {
    /// From the start (an adaptive limit).
    #[default]
    Always,
    /// Once the service has signalled overload: until then the limit stays
    /// at its maximum whatever the latency (a fixed limit, a ceiling).
    AfterOverload,
}

impl Default for Aimd {
    /// The tolerance of 1.1 was chosen for the bench's overload suite (a
    /// service whose latency grows as `(in_service / capacity)²` past its
    /// capacity; modelled in `tests/primitives/limit_adaptive.rs`): a mean 10% above
    /// the lowest is about 1.05 × capacity in service, and the limit saws
    /// between about 0.9 and 1.1 × capacity (0.96 of the capacity served
    /// in the model); 1.5 (the previous default, per sample) let it sit at
    /// about 1.2 × capacity, where that service serves 20% less.
    fn default() -> Self {
        Aimd {
            increase: 1.0,
            backoff: 0.9,
            latency_tolerance: 1.1,
            watch_latency: WatchLatency::Always,
        }
    }
}

/// A cut for queueing takes at least this share of the limit away...
const MAX_QUEUEING_FACTOR: f64 = 0.9;
/// ...and at most this share.
const MIN_QUEUEING_FACTOR: f64 = 0.5;

/// What AIMD remembers between samples.
#[derive(Debug, Default)]
pub(super) struct AimdState {
    round_trip: RoundTrip,
    baseline: Baseline,
    /// The limit at the last cut: where the service last showed strain.
    ceiling: Option<f64>,
    /// The service has signalled overload at least once.
    overloaded: bool,
    /// The last round trip looked like a queue.
    slow_round_trip: bool,
    /// Successes to pass over before the next round trip (see `decide`).
    skip: usize,
    /// The mean latency of the round trip that made the last cut for a
    /// queue, until a round trip after the cut is measured.
    cut_at_mean: Option<f64>,
}

/// After a cut for a queue, the next round trip must be at least this much
/// faster, or the slowness was not a queue of ours (see `decide`). The
/// smallest cut (×0.9) at the smallest queue the tolerance sees (10%) makes
/// it about 10% faster.
const QUEUE_DRAINED: f64 = 0.05;

impl AimdState {
    /// Cuts `limit` by `factor`; `ceiling` is where the growth after it
    /// slows down.
    fn cut(&mut self, limit: f64, factor: f64, ceiling: f64) -> Decision {
        self.ceiling = Some(ceiling);
        self.round_trip.clear();
        self.slow_round_trip = false;
        self.cut_at_mean = None;
        self.skip = 0;
        Decision::Backoff(limit * factor)
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

    pub(super) fn decide(&self, state: &mut AimdState, sample: &Sample) -> Decision {
        let limit = sample.limit;
        if sample.overloaded {
            if sample.stale {
                // Granted before the last cut: that cut answered it.
                return Decision::Keep;
            }
            state.overloaded = true;
            // The service refused work at `limit`: come back toward it
            // quickly, past it slowly.
            return state.cut(limit, self.backoff, limit);
        }
        if state.skip > 0 {
            state.skip -= 1;
            return Decision::Keep;
        }
        // The first round trip is short: the first answers come from the
        // requests that found the service emptiest, the best guess of its
        // latency without a queue (even if the limit starts far too high).
        let wanted = if state.baseline.is_known() {
            (limit.ceil() as usize).max(MIN_SAMPLES)
        } else {
            MIN_SAMPLES
        };
        let Some(round_trip) =
            state
                .round_trip
                .add(sample.latency, sample.limit_in_use(), sample.stale, wanted)
        else {
            return Decision::Keep;
        };
        if round_trip.all_fresh {
            if let Some(before) = state.cut_at_mean.take() {
                if round_trip.mean > before * (1.0 - QUEUE_DRAINED) {
                    // Sending less did not make it faster: not a queue of
                    // ours, but a service (or a client machine) that is
                    // slower now. Take it as the baseline rather than cut
                    // again and again down to the minimum.
                    state.baseline.rebase(round_trip.mean);
                }
            }
        }
        let queueing = state.baseline.queueing(&round_trip, self.latency_tolerance);
        let watching = state.overloaded || self.watch_latency == WatchLatency::Always;
        if let (Some(ratio), true) = (queueing, watching) {
            // Two slow round trips in a row make a queue; one may be chance
            // (and a cut on chance makes the next round trip smaller and
            // noisier, which made the limit spiral down on a noisy service).
            // In slow start the limit doubles every round trip, so waiting
            // for a second would overshoot twice as far: one ends it.
            if state.slow_round_trip || state.ceiling.is_none() {
                let factor = ratio.clamp(MIN_QUEUEING_FACTOR, MAX_QUEUEING_FACTOR);
                // A round trip of slow start mixes two limits: its mean is
                // no measure to hold the next one against.
                let measured = state.slow_round_trip.then_some(round_trip.mean);
                let decision = state.cut(limit, factor, limit);
                state.cut_at_mean = measured;
                return decision;
            }
            state.slow_round_trip = true;
            return Decision::Keep;
        }
        state.slow_round_trip = false;
        if !(round_trip.in_use && round_trip.fresh) {
            // An idle limit is no evidence that more would be fine, and a
            // round trip from before the last cut measured another limit.
            return Decision::Keep;
        }
        if state.ceiling.is_none()
            && state
                .baseline
                .slower_than(round_trip.mean, (1.0 + self.latency_tolerance) / 2.0)
        {
            // Half the tolerance: slow start ends here, before it doubles
            // into a queue (on the bench it went from 40, 1.25 × capacity,
            // to 80, where the server refuses work, as the round trip at 40
            // still mixed in answers from 20).
            state.ceiling = Some(limit);
        }
        let step = match state.ceiling {
            None => {
                // The next `limit` answers are for requests sent before the
                // limit doubled: they would not show what the new one does
                // (on the bench, the round trip after 20 → 40 answered as
                // fast as at 20, and slow start went on to 80, where the
                // server refuses work).
                state.skip = limit.ceil() as usize;
                limit
            }
            Some(ceiling) if limit < ceiling => ((ceiling - limit) / 2.0).max(self.increase),
            Some(_) => self.increase,
        };
        Decision::Set(limit + step)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Feeds `aimd` one round trip of successes at `latency_ms` with the
    /// limit in use; returns the decision at its end.
    fn round_trip(aimd: &Aimd, state: &mut AimdState, limit: f64, latency_ms: u64) -> Decision {
        let samples = if state.baseline.is_known() {
            (limit.ceil() as usize).max(MIN_SAMPLES)
        } else {
            MIN_SAMPLES
        };
        // Answers to requests sent before a doubling are passed over.
        for _ in 0..state.skip {
            let sample = Sample::success(limit, latency_ms, limit as usize);
            assert_eq!(aimd.decide(state, &sample), Decision::Keep);
        }
        let mut decision = Decision::Keep;
        for n in 0..samples {
            let sample = Sample::success(limit, latency_ms, limit as usize);
            decision = aimd.decide(state, &sample);
            if n + 1 < samples {
                assert_eq!(decision, Decision::Keep, "before the round trip ended");
            }
        }
        decision
    }

    /// Two round trips at `latency_ms`: the first only raises a suspicion
    /// (a queue takes two in a row); the decision at the end of the second.
    fn two_round_trips(
        aimd: &Aimd,
        state: &mut AimdState,
        limit: f64,
        latency_ms: u64,
    ) -> Decision {
        let first = round_trip(aimd, state, limit, latency_ms);
        if !matches!(first, Decision::Set(_)) {
            assert_eq!(first, Decision::Keep, "one slow round trip cut");
        }
        round_trip(aimd, state, limit, latency_ms)
    }

    /// A state past slow start (an overload at 64) that saw 30 round trips
    /// of 20 ms at 32.
    fn past_slow_start(aimd: &Aimd) -> AimdState {
        let mut state = AimdState::default();
        aimd.decide(&mut state, &overloaded(64.0));
        for _ in 0..30 {
            round_trip(aimd, &mut state, 32.0, 20);
        }
        state
    }

    fn overloaded(limit: f64) -> Sample {
        Sample {
            overloaded: true,
            latency: Duration::ZERO,
            ..Sample::success(limit, 0, limit as usize)
        }
    }

    #[test]
    fn doubles_until_the_first_cut_then_closes_half_the_gap_to_the_ceiling() {
        let aimd = Aimd::default();
        let mut state = AimdState::default();
        assert_eq!(round_trip(&aimd, &mut state, 20.0, 10), Decision::Set(40.0));
        assert_eq!(
            aimd.decide(&mut state, &overloaded(40.0)),
            Decision::Backoff(36.0)
        );
        // Below the ceiling of 40: half the gap, but at least `increase`.
        assert_eq!(round_trip(&aimd, &mut state, 32.0, 10), Decision::Set(36.0));
        assert_eq!(round_trip(&aimd, &mut state, 39.5, 10), Decision::Set(40.5));
        // At or above it: `increase` per round trip.
        assert_eq!(round_trip(&aimd, &mut state, 40.5, 10), Decision::Set(41.5));
    }

    #[test]
    fn in_slow_start_one_slow_round_trip_ends_it() {
        let aimd = Aimd::default();
        let mut state = AimdState::default();
        assert_eq!(round_trip(&aimd, &mut state, 10.0, 20), Decision::Set(20.0));
        assert_eq!(round_trip(&aimd, &mut state, 20.0, 20), Decision::Set(40.0));
        assert_eq!(
            round_trip(&aimd, &mut state, 40.0, 40),
            Decision::Backoff(20.0)
        );
        assert_eq!(state.ceiling, Some(40.0));
    }

    #[test]
    fn slow_start_ends_where_latency_starts_to_rise() {
        let aimd = Aimd {
            latency_tolerance: 1.2,
            ..Aimd::default()
        };
        let mut state = AimdState::default();
        round_trip(&aimd, &mut state, 10.0, 20);
        // 15% slower: no queue yet (under 1.2), but past half the
        // tolerance: no more doubling.
        assert_eq!(round_trip(&aimd, &mut state, 20.0, 23), Decision::Set(21.0));
        assert_eq!(state.ceiling, Some(20.0));
    }

    #[test]
    fn an_idle_limit_does_not_grow() {
        let aimd = Aimd::default();
        let mut state = AimdState::default();
        let mut decision = Decision::Keep;
        for _ in 0..MIN_SAMPLES {
            decision = aimd.decide(&mut state, &Sample::success(20.0, 10, 4));
        }
        assert_eq!(decision, Decision::Keep);
    }

    #[test]
    fn one_slow_round_trip_is_chance_two_in_a_row_a_queue() {
        let aimd = Aimd::default();
        let mut state = past_slow_start(&aimd);
        assert_eq!(round_trip(&aimd, &mut state, 32.0, 30), Decision::Keep);
        assert!(matches!(
            round_trip(&aimd, &mut state, 32.0, 20),
            Decision::Set(_)
        ));
        assert_eq!(round_trip(&aimd, &mut state, 32.0, 30), Decision::Keep);
        assert!(matches!(
            round_trip(&aimd, &mut state, 32.0, 30),
            Decision::Backoff(_)
        ));
    }

    #[test]
    fn a_slowness_that_a_cut_does_not_cure_becomes_the_baseline() {
        let aimd = Aimd::default();
        let mut state = past_slow_start(&aimd);
        // 30 ms from now on, whatever the limit: one cut...
        let Decision::Backoff(limit) = two_round_trips(&aimd, &mut state, 32.0, 30) else {
            panic!("two slow round trips are a queue");
        };
        // ...and as the next round trip is no faster, no more: the limit
        // grows back toward where it was.
        assert_eq!(
            round_trip(&aimd, &mut state, limit, 30),
            Decision::Set(limit + (32.0 - limit) / 2.0)
        );
        for _ in 0..10 {
            assert!(matches!(
                round_trip(&aimd, &mut state, 32.0, 30),
                Decision::Set(_)
            ));
        }
    }

    #[test]
    fn a_queue_cuts_by_littles_law_between_half_and_nine_tenths() {
        let aimd = Aimd::default();
        // A service answering in 20 ms for 30 round trips, then slower.
        let steady = || past_slow_start(&aimd);
        // 25 ms against 20: 20 / 25 of the limit would serve as many.
        let Decision::Backoff(limit) = two_round_trips(&aimd, &mut steady(), 40.0, 25) else {
            panic!("a 25% slower round trip is a queue");
        };
        // (The lowest rose a little over the first slow round trip.)
        assert!((limit - 32.0).abs() < 0.1, "{limit}");
        // 15% slower: 20 / 23 of it.
        let Decision::Backoff(limit) = two_round_trips(&aimd, &mut steady(), 32.0, 23) else {
            panic!("a 15% slower round trip is a queue");
        };
        assert!((limit - 32.0 * 20.0 / 23.0).abs() < 0.1, "{limit}");
        // A strict one (tolerance 1) still cuts at least a tenth.
        let strict = Aimd {
            latency_tolerance: 1.0,
            ..aimd
        };
        let mut state = past_slow_start(&strict);
        assert_eq!(
            two_round_trips(&strict, &mut state, 32.0, 21),
            Decision::Backoff(32.0 * 0.9)
        );
        // Four times slower: the largest, ×0.5.
        assert_eq!(
            two_round_trips(&aimd, &mut steady(), 32.0, 80),
            Decision::Backoff(16.0)
        );
        // 5% slower is within the tolerance: the limit grows.
        assert!(matches!(
            two_round_trips(&aimd, &mut steady(), 32.0, 21),
            Decision::Set(_)
        ));
    }

    #[test]
    fn samples_from_before_a_cut_teach_nothing() {
        let aimd = Aimd::default();
        let mut state = AimdState::default();
        aimd.decide(&mut state, &overloaded(40.0));
        let stale = Sample {
            stale: true,
            ..overloaded(36.0)
        };
        assert_eq!(aimd.decide(&mut state, &stale), Decision::Keep);
        assert_eq!(state.ceiling, Some(40.0));
    }

    #[test]
    fn after_overload_only_latency_waits_for_an_overload() {
        let fixed = Aimd {
            backoff: 0.5,
            watch_latency: WatchLatency::AfterOverload,
            ..Aimd::default()
        };
        let mut state = AimdState::default();
        round_trip(&fixed, &mut state, 256.0, 10);
        // Eight times slower, every round trip: a fixed limit stays.
        for _ in 0..10 {
            assert!(matches!(
                round_trip(&fixed, &mut state, 256.0, 80),
                Decision::Set(_)
            ));
        }
        assert_eq!(
            fixed.decide(&mut state, &overloaded(256.0)),
            Decision::Backoff(128.0)
        );
        // Once the service refused work, a queue cuts it too.
        assert!(matches!(
            two_round_trips(&fixed, &mut state, 128.0, 80),
            Decision::Backoff(_)
        ));
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
