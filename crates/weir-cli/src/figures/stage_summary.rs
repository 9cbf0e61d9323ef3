//! One component's final counters and where its time went over the whole
//! run: a row of the end summary, the HTML table and the JSON report.

use std::sync::Arc;

use serde::Serialize;
use weir::metrics::Role;
use weir::RunReport;

use crate::figures::format;

/// The columns of the end-of-run table: header, and whether the column
/// holds words (aligned left) rather than numbers (aligned right).
pub(crate) const COLUMNS: [(&str, bool); 15] = [
    ("component", true),
    ("role", true),
    ("in", false),
    ("out", false),
    ("errors", false),
    ("retries", false),
    ("dead", false),
    ("dropped", false),
    ("queue hw/cap", false),
    ("up-blocked", false),
    ("starved", false),
    ("busy", false),
    ("blocked", false),
    ("p50", false),
    ("p99", false),
];

/// A component's row in the end-of-run table. Durations are in seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageSummary {
    /// The component's name.
    pub name: Arc<str>,
    /// Source, stage or sink.
    pub role: Role,
    /// Its concurrency.
    pub workers: usize,
    /// Records taken in.
    pub records_in: u64,
    /// Records handed on.
    pub records_out: u64,
    /// Failed attempts.
    pub errors: u64,
    /// Retries made.
    pub retries: u64,
    /// Attempts that timed out.
    pub timeouts: u64,
    /// Records sent to the dead letters from here.
    pub dead_letters: u64,
    /// Records its input link dropped by policy.
    pub dropped: u64,
    /// The most records its input link ever held (`None`: no input link).
    pub queue_high_water: Option<usize>,
    /// Its input link's bound (`None`: no input link, or unbounded).
    pub queue_capacity: Option<usize>,
    /// Total time its producers were blocked putting into its input link.
    pub upstream_blocked_seconds: f64,
    /// Share of its time spent waiting for input over the run.
    pub starved: f64,
    /// Share of its time spent on its own work over the run.
    pub busy: f64,
    /// Share of its time spent waiting to hand output on over the run.
    pub blocked: f64,
    /// Median processing latency.
    pub latency_p50_seconds: f64,
    /// 90th percentile processing latency.
    pub latency_p90_seconds: f64,
    /// 99th percentile processing latency.
    pub latency_p99_seconds: f64,
    /// Whether it limited the run.
    pub bottleneck: bool,
}

impl StageSummary {
    /// Every component's row, source first.
    pub fn from_report(report: &RunReport) -> Vec<StageSummary> {
        report
            .snapshot
            .stages
            .iter()
            .map(|stage| {
                let verdict = report.verdicts.iter().find(|v| v.name == stage.name);
                let share = |pick: fn(&weir::metrics::Verdict) -> f64| verdict.map_or(0.0, pick);
                StageSummary {
                    name: stage.name.clone(),
                    role: stage.role,
                    workers: stage.workers,
                    records_in: stage.records_in,
                    records_out: stage.records_out,
                    errors: stage.errors,
                    retries: stage.retries,
                    timeouts: stage.timeouts,
                    dead_letters: stage.dead_letters,
                    dropped: stage.dropped(),
                    queue_high_water: stage.input.map(|queue| queue.high_water),
                    queue_capacity: stage.queue_capacity(),
                    upstream_blocked_seconds: stage.upstream_blocked().as_secs_f64(),
                    starved: share(|v| v.starved),
                    busy: share(|v| v.busy),
                    blocked: share(|v| v.blocked),
                    latency_p50_seconds: stage.latency.p50.as_secs_f64(),
                    latency_p90_seconds: stage.latency.p90.as_secs_f64(),
                    latency_p99_seconds: stage.latency.p99.as_secs_f64(),
                    bottleneck: report.bottleneck.as_ref() == Some(&stage.name),
                }
            })
            .collect()
    }

    /// `high-water/capacity` of the input link: `64/64`, `12/∞`, or `-`
    /// for a component without one.
    fn queue_fill(&self) -> String {
        match (self.queue_high_water, self.queue_capacity) {
            (Some(high), Some(capacity)) => format!("{high}/{capacity}"),
            (Some(high), None) => format!("{high}/∞"),
            (None, _) => "-".to_string(),
        }
    }

    /// The row's cells, in the order of [`COLUMNS`].
    pub(crate) fn cells(&self) -> [String; COLUMNS.len()] {
        [
            self.name.to_string(),
            format::role(self.role).to_string(),
            self.records_in.to_string(),
            self.records_out.to_string(),
            self.errors.to_string(),
            self.retries.to_string(),
            self.dead_letters.to_string(),
            self.dropped.to_string(),
            self.queue_fill(),
            match self.queue_high_water {
                Some(_) => format::seconds(self.upstream_blocked_seconds),
                None => "-".to_string(),
            },
            format::share(self.starved),
            format::share(self.busy),
            format::share(self.blocked),
            format::seconds(self.latency_p50_seconds),
            format::seconds(self.latency_p99_seconds),
        ]
    }
}
