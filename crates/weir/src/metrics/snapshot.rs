//! Plain values describing a pipeline at one moment: what the live view,
//! the Prometheus endpoint and the run report are drawn from.

use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use weir_core::QueueStats;

use crate::accounting::AccountingSnapshot;

/// What part a component plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Emits records.
    Source,
    /// Transforms records.
    Stage,
    /// Writes records out.
    Sink,
}

impl Role {
    /// `source`, `stage` or `sink`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Source => "source",
            Role::Stage => "stage",
            Role::Sink => "sink",
        }
    }
}

/// The upper bounds, in seconds, of the latency buckets a
/// [`LatencySummary`] counts records into (a last, unbounded bucket holds
/// the rest): 100 µs to a minute, about three per decade, for a histogram
/// that can be summed across workers (Prometheus' `le` buckets).
pub const LATENCY_BUCKETS: [f64; 18] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];

/// Processing latency percentiles of a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct LatencySummary {
    /// Records measured (inline stages and sinks sample one record in 16).
    pub count: u64,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest.
    pub max: Duration,
    /// The records measured, by bucket: `buckets[i]` counts those at most
    /// [`LATENCY_BUCKETS`]`[i]` and above the bucket before; the last
    /// holds those above a minute. Counted from the histogram, whose
    /// values are exact to two significant figures, so a record within 1%
    /// of a bound may land in the bucket beside.
    #[serde(skip)]
    pub buckets: [u64; LATENCY_BUCKETS.len() + 1],
    /// The sum of the latencies measured (to two significant figures).
    #[serde(skip)]
    pub sum: Duration,
}

impl LatencySummary {
    pub(crate) fn from_micros(histogram: &Histogram<u64>) -> Self {
        let at = |q: f64| Duration::from_micros(histogram.value_at_quantile(q));
        let mut buckets = [0; LATENCY_BUCKETS.len() + 1];
        let mut sum_micros = 0u128;
        for step in histogram.iter_recorded() {
            let micros = step.value_iterated_to();
            let count = step.count_at_value();
            sum_micros += u128::from(micros) * u128::from(count);
            let seconds = micros as f64 / 1e6;
            let bucket = LATENCY_BUCKETS.partition_point(|&bound| bound < seconds);
            buckets[bucket] += count;
        }
        LatencySummary {
            count: histogram.len(),
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: Duration::from_micros(histogram.max()),
            buckets,
            sum: Duration::from_micros(u64::try_from(sum_micros).unwrap_or(u64::MAX)),
        }
    }
}

/// One component's counters at one moment. Counters only grow; durations
/// are totals over all the component's workers since the start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageSnapshot {
    /// The component's name.
    pub name: Arc<str>,
    /// Source, stage or sink.
    pub role: Role,
    /// Workers running it (its concurrency).
    pub workers: usize,
    /// Records taken in.
    pub records_in: u64,
    /// Records handed on (parts count one by one).
    pub records_out: u64,
    /// Failed attempts (each retry's failure counts).
    pub errors: u64,
    /// Retries made.
    pub retries: u64,
    /// Attempts that timed out.
    pub timeouts: u64,
    /// Records sent to the dead letters from here.
    pub dead_letters: u64,
    /// Records being worked on now.
    pub in_flight: u64,
    /// The link feeding this component: depth, capacity, high-water mark,
    /// drops, and how long upstream was blocked on it.
    #[serde(skip)]
    pub input: Option<QueueStats>,
    /// Total time the workers waited for input (starved).
    pub starved: Duration,
    /// Total time the workers waited to hand output downstream (blocked).
    pub blocked: Duration,
    /// Per-record processing latency.
    pub latency: LatencySummary,
    /// The stage's own readings, by name (e.g. `concurrency_limit`).
    pub gauges: Vec<(Arc<str>, f64)>,
    /// The stage's state in words while it is unusual (e.g. `paused: ...`).
    pub status: Option<String>,
}

impl StageSnapshot {
    /// Items queued on the input link now.
    pub fn queue_len(&self) -> usize {
        self.input.map_or(0, |q| q.len)
    }

    /// The input link's capacity (`None`: no link, or unbounded).
    pub fn queue_capacity(&self) -> Option<usize> {
        self.input.and_then(|q| q.capacity)
    }

    /// Records the input link dropped under its overflow policy.
    pub fn dropped(&self) -> u64 {
        self.input.map_or(0, |q| q.dropped())
    }

    /// Time upstream spent blocked putting into this component's input.
    pub fn upstream_blocked(&self) -> Duration {
        self.input.map_or(Duration::ZERO, |q| q.put_blocked)
    }
}

/// The whole pipeline at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipelineSnapshot {
    /// Time since the run started.
    pub elapsed: Duration,
    /// The run's books.
    pub accounting: AccountingSnapshot,
    /// Source first, then the stages in order, then the sink.
    pub stages: Vec<StageSnapshot>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_count_each_record_once_under_its_bound() {
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 2).unwrap();
        for micros in [50, 80, 700, 700, 3_000, 90_000_000] {
            histogram.record(micros).unwrap();
        }
        let summary = LatencySummary::from_micros(&histogram);
        assert_eq!(summary.buckets.iter().sum::<u64>(), 6);
        assert_eq!(summary.buckets[0], 2, "50 µs and 80 µs are under 100 µs");
        assert_eq!(summary.buckets[3], 2, "700 µs is under 1 ms");
        assert_eq!(summary.buckets[5], 1, "3 ms is under 5 ms");
        assert_eq!(
            summary.buckets[LATENCY_BUCKETS.len()],
            1,
            "90 s is over a minute"
        );
        let sum = summary.sum.as_secs_f64();
        assert!((sum - 90.004_53).abs() < 0.01 * 90.0, "{sum}");
    }
}
