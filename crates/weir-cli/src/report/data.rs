//! Everything a run report holds: each component's time series and the
//! run's summary. Serialized as is for the JSON report.

use std::sync::Arc;

use serde::Serialize;
use weir::metrics::Role;
use weir::{AccountingSnapshot, HeldRecords, RunReport};

use crate::figures::stage_summary::StageSummary;

/// A recorded run: time series per component plus the end-of-run summary.
#[derive(Debug, Clone, Serialize)]
pub struct RunData {
    /// The run's books.
    pub accounting: AccountingSnapshot,
    /// The books as one line: `in 10 = delivered 7 + filtered 1 + ...`.
    pub accounting_line: String,
    /// How long the run took, in seconds.
    pub duration_seconds: f64,
    /// Records delivered per second over the run.
    pub throughput: f64,
    /// The component that limited the run, if one did.
    pub bottleneck: Option<Arc<str>>,
    /// Every component's final counters and time shares, source first.
    pub stages: Vec<StageSummary>,
    /// Every component's samples over time, in the order of `stages`.
    pub series: Vec<StageSeries>,
    /// What a stop left behind, per component (nacked).
    pub held_at_stop: Vec<HeldRecords>,
    /// Why the run failed, if it did.
    pub error: Option<String>,
}

impl RunData {
    /// The summary of `report` joined with the time series recorded.
    pub fn new(report: &RunReport, series: Vec<StageSeries>) -> RunData {
        RunData {
            accounting: report.accounting,
            accounting_line: report.accounting.to_string(),
            duration_seconds: report.duration.as_secs_f64(),
            throughput: report.throughput(),
            bottleneck: report.bottleneck.clone(),
            stages: StageSummary::from_report(report),
            series,
            held_at_stop: report.held_at_stop.clone(),
            error: report.error.as_ref().map(ToString::to_string),
        }
    }
}

/// One component's samples over the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageSeries {
    /// The component's name.
    pub name: Arc<str>,
    /// Source, stage or sink.
    pub role: Role,
    /// Oldest first.
    pub samples: Vec<Sample>,
}

/// A component at one sample time; rates and shares are over the interval
/// since the previous sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sample {
    /// Seconds since the run started.
    pub t: f64,
    /// Records queued on its input link.
    pub queue_depth: usize,
    /// Records handed on per second.
    pub throughput: f64,
    /// Share of its time waiting for input.
    pub starved: f64,
    /// Share of its time on its own work.
    pub busy: f64,
    /// Share of its time waiting to hand output on.
    pub blocked: f64,
    /// Records in work.
    pub in_flight: u64,
    /// Its concurrency limit, for a component that has one (an HTTP
    /// stage's `concurrency_limit` gauge).
    pub concurrency_limit: Option<f64>,
}
