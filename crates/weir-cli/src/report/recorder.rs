//! Samples a running pipeline every 500 ms into per-component time series,
//! and at the end joins them with the run's report into [`RunData`].

use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use weir::metrics::{verdicts, PipelineSnapshot};
use weir::{PipelineMonitor, RunReport};

use super::data::{RunData, Sample, StageSeries};
use crate::figures::rates::stage_rates;

/// How often the recorder samples.
const SAMPLE_EVERY: Duration = Duration::from_millis(500);

/// Records a run's time series while it runs.
pub struct Recorder {
    /// `None` once finished; the task stops sampling when it finds it so.
    timeline: Arc<Mutex<Option<Timeline>>>,
    task: JoinHandle<()>,
}

impl Recorder {
    /// Starts sampling `monitor`'s pipeline. Must be called within a tokio
    /// runtime.
    pub fn start(monitor: PipelineMonitor) -> Recorder {
        let timeline = Arc::new(Mutex::new(Some(Timeline::new(monitor.snapshot()))));
        let task = tokio::spawn(sample_every(SAMPLE_EVERY, monitor, timeline.clone()));
        Recorder { timeline, task }
    }

    /// Stops sampling, takes a last sample from the report's final snapshot,
    /// and joins the series with the report's summary.
    pub fn finish(self, report: &RunReport) -> RunData {
        let timeline = self.timeline.lock().take();
        self.task.abort();
        let mut timeline = timeline.unwrap_or_else(|| Timeline::new(report.snapshot.clone()));
        timeline.record(report.snapshot.clone());
        RunData::new(report, timeline.series)
    }
}

/// Samples into `timeline` every `every` until the recorder is finished.
async fn sample_every(
    every: Duration,
    monitor: PipelineMonitor,
    timeline: Arc<Mutex<Option<Timeline>>>,
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let snapshot = monitor.snapshot();
        match timeline.lock().as_mut() {
            Some(timeline) => timeline.record(snapshot),
            None => return,
        }
    }
}

/// The gauge charted as a component's concurrency limit.
const CONCURRENCY_LIMIT: &str = "concurrency_limit";

/// The series so far and the snapshot the next sample is measured from.
struct Timeline {
    previous: PipelineSnapshot,
    series: Vec<StageSeries>,
}

impl Timeline {
    fn new(first: PipelineSnapshot) -> Self {
        let series = first
            .stages
            .iter()
            .map(|stage| StageSeries {
                name: stage.name.clone(),
                role: stage.role,
                samples: Vec::new(),
            })
            .collect();
        Timeline {
            previous: first,
            series,
        }
    }

    /// Adds a sample per component over the interval since the last one;
    /// does nothing if no time passed.
    fn record(&mut self, now: PipelineSnapshot) {
        if now.elapsed <= self.previous.elapsed {
            return;
        }
        let rates = stage_rates(&self.previous, &now);
        let shares = verdicts(&self.previous, &now);
        for (((series, stage), rates), shares) in self
            .series
            .iter_mut()
            .zip(&now.stages)
            .zip(rates)
            .zip(shares)
        {
            series.samples.push(Sample {
                t: now.elapsed.as_secs_f64(),
                queue_depth: stage.queue_len(),
                throughput: rates.records_per_second,
                starved: shares.starved,
                busy: shares.busy,
                blocked: shares.blocked,
                in_flight: stage.in_flight,
                concurrency_limit: stage
                    .gauges
                    .iter()
                    .find(|(name, _)| name.as_ref() == CONCURRENCY_LIMIT)
                    .map(|(_, limit)| *limit),
            });
        }
        self.previous = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::fixtures::two_snapshots;

    #[test]
    fn timeline_samples_depth_throughput_and_shares_per_interval() {
        let (earlier, later) = two_snapshots();
        let mut timeline = Timeline::new(earlier);
        timeline.record(later.clone());
        timeline.record(later);
        let [ids, enrich, out] = &timeline.series[..] else {
            panic!("one series per component")
        };
        assert_eq!(enrich.samples.len(), 1, "no sample when no time passed");
        assert_eq!(
            enrich.samples[0],
            Sample {
                t: 2.0,
                queue_depth: 48,
                throughput: 1998.0,
                starved: 0.0,
                busy: 1.0,
                blocked: 0.0,
                in_flight: 4,
                concurrency_limit: None,
            }
        );
        assert_eq!(ids.samples[0].queue_depth, 0);
        assert!((ids.samples[0].blocked - 0.9).abs() < 1e-9);
        assert!((out.samples[0].starved - 0.95).abs() < 1e-9);
    }
}
