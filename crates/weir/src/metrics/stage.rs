//! The live counters of one pipeline component (source, stage or sink).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use hdrhistogram::Histogram;
use weir_core::QueueStats;

use super::snapshot::{LatencySummary, Role, StageSnapshot};
use crate::stage::spec::Readings;

/// Reads a link's stats without knowing its item type.
pub(crate) type QueueProbe = Box<dyn Fn() -> QueueStats + Send + Sync>;

/// Latencies above an hour are recorded as an hour.
const MAX_LATENCY_MICROS: u64 = 3_600_000_000;

/// Inline stages measure the latency of one record in this many.
pub(crate) const LATENCY_SAMPLE_EVERY: u64 = 16;

/// Counters of one component, shared by its workers. Updated with relaxed
/// atomics; the latency histogram takes a short lock per record.
pub(crate) struct StageMetrics {
    pub(crate) name: Arc<str>,
    pub(crate) role: Role,
    pub(crate) workers: usize,
    pub(crate) records_in: AtomicU64,
    pub(crate) records_out: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) dead_letters: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    /// Time spent waiting for input outside the input link's own waits (an
    /// output's yield before it flushes), in nanoseconds: counted as
    /// starved.
    waited_for_input_nanos: AtomicU64,
    latency_micros: parking_lot::Mutex<Histogram<u64>>,
    /// Readings the component exposes (see [`crate::stage::Stage::gauge`],
    /// [`status`](crate::stage::Stage::status) and
    /// [`retries_inside`](crate::stage::Stage::retries_inside)).
    pub(crate) readings: Mutex<Readings>,
    /// When the component ended; from then on its time counts as starved.
    done_at: OnceLock<Instant>,
    /// The links this component reads from (none for a source; several for
    /// a merge).
    pub(crate) inputs: Mutex<Vec<QueueProbe>>,
    /// The links this component writes to (none for a sink; several for a
    /// broadcast).
    pub(crate) outputs: Mutex<Vec<QueueProbe>>,
}

impl StageMetrics {
    pub(crate) fn new(name: Arc<str>, role: Role, workers: usize) -> Self {
        StageMetrics {
            name,
            role,
            workers,
            records_in: AtomicU64::new(0),
            records_out: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            dead_letters: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            waited_for_input_nanos: AtomicU64::new(0),
            readings: Mutex::default(),
            done_at: OnceLock::new(),
            latency_micros: Mutex::new(
                Histogram::new_with_bounds(1, MAX_LATENCY_MICROS, 2)
                    .expect("bounds and 2 significant figures are valid"),
            ),
            inputs: Mutex::default(),
            outputs: Mutex::default(),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Marks a record taken in; returns when, for [`StageMetrics::end`], if
    /// this record's latency is to be measured. Every record is measured when
    /// `every_record`; else one in [`LATENCY_SAMPLE_EVERY`], because reading
    /// the clock twice would cost more than a cheap inline stage itself.
    pub(crate) fn begin(&self, every_record: bool) -> Option<Instant> {
        let seen = self.records_in.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        (every_record || seen.is_multiple_of(LATENCY_SAMPLE_EVERY)).then(Instant::now)
    }

    /// Time the component waited for input other than in its input link's
    /// `get` (which the link counts itself): counted as starved.
    pub(crate) fn waited_for_input(&self, waited: Duration) {
        let nanos = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        self.waited_for_input_nanos
            .fetch_add(nanos, Ordering::Relaxed);
    }

    /// Marks a record done with (whatever came of it) and records its latency.
    pub(crate) fn end(&self, started: Option<Instant>) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let Some(started) = started else { return };
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.latency_micros.lock().saturating_record(micros.max(1));
    }

    /// Marks the component ended (its input exhausted, or stopped).
    pub(crate) fn mark_done(&self) {
        let _ = self.done_at.set(Instant::now());
    }

    pub(crate) fn snapshot(&self) -> StageSnapshot {
        // Time since the component ended is time with nothing to do.
        let idle_since_done = self.done_at.get().map_or(Duration::ZERO, |at| {
            at.elapsed() * u32::try_from(self.workers).unwrap_or(u32::MAX)
        });
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let input = combined(&self.inputs);
        let output = combined(&self.outputs);
        let latency = {
            let histogram = self.latency_micros.lock();
            LatencySummary::from_micros(&histogram)
        };
        let readings = self.readings.lock().clone();
        StageSnapshot {
            name: self.name.clone(),
            role: self.role,
            workers: self.workers,
            records_in: load(&self.records_in),
            records_out: load(&self.records_out),
            errors: load(&self.errors),
            retries: load(&self.retries) + readings.retries.as_ref().map_or(0, |read| read()),
            timeouts: load(&self.timeouts),
            dead_letters: load(&self.dead_letters),
            in_flight: load(&self.in_flight),
            starved: input.map_or(Duration::ZERO, |q| q.get_waited)
                + Duration::from_nanos(load(&self.waited_for_input_nanos))
                + idle_since_done,
            blocked: output.map_or(Duration::ZERO, |q| q.put_blocked),
            input,
            latency,
            gauges: readings
                .gauges
                .iter()
                .map(|gauge| (gauge.name.clone(), (gauge.read)()))
                .collect(),
            status: readings.status.as_ref().and_then(|read| read()),
        }
    }
}

/// The stats of several links read as one (see `QueueStats: Add`).
fn combined(probes: &Mutex<Vec<QueueProbe>>) -> Option<QueueStats> {
    probes
        .lock()
        .iter()
        .map(|probe| probe())
        .reduce(|a, b| a + b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_waited_for_input_outside_the_link_counts_as_starved() {
        let metrics = StageMetrics::new("out".into(), Role::Sink, 1);
        assert_eq!(metrics.snapshot().starved, Duration::ZERO);
        metrics.waited_for_input(Duration::from_millis(7));
        metrics.waited_for_input(Duration::from_millis(5));
        let snapshot = metrics.snapshot();
        assert_eq!(snapshot.starved, Duration::from_millis(12));
        assert_eq!(snapshot.blocked, Duration::ZERO);
    }
}
