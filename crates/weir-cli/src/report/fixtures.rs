//! The run report's data built from the shared fixtures
//! ([`crate::figures::fixtures`]), for the report's rendering tests.

use super::data::{RunData, Sample, StageSeries};
use crate::figures::fixtures::stopped_report;

/// The stopped run's data, with four samples per component.
pub(crate) fn run_data() -> RunData {
    let report = stopped_report();
    let series = report
        .snapshot
        .stages
        .iter()
        .enumerate()
        .map(|(index, stage)| StageSeries {
            name: stage.name.clone(),
            role: stage.role,
            samples: (1..=4)
                .map(|step| Sample {
                    t: f64::from(step) * 0.5,
                    queue_depth: index * 16 * step as usize,
                    throughput: 1000.0 - index as f64 * 5.0,
                    starved: 0.0,
                    busy: 1.0,
                    blocked: 0.0,
                    in_flight: 4,
                    concurrency_limit: None,
                })
                .collect(),
        })
        .collect();
    RunData::new(&report, series)
}
