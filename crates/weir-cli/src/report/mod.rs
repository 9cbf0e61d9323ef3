//! The run report: a [`Recorder`] samples the pipeline while it runs, and
//! at the end [`write`] saves the samples and the run's summary as one
//! self-contained HTML page (charts of every component's queue depth and
//! throughput over time, the summary table, the books, the bottleneck) or,
//! for a `.json` path, as JSON.

mod data;
#[cfg(test)]
pub(crate) mod fixtures;
mod html;
pub(crate) mod rates;
mod recorder;
pub(crate) mod stage_summary;
mod svg;

use std::path::Path;

pub use data::{RunData, Sample, StageSeries};
pub use recorder::Recorder;
pub use stage_summary::StageSummary;

/// Writes `data` to `path`: JSON if the extension is `.json`, HTML
/// otherwise.
pub fn write(path: &Path, data: &RunData) -> std::io::Result<()> {
    let is_json = path
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("json"));
    let contents = if is_json {
        serde_json::to_vec_pretty(data).map_err(std::io::Error::other)?
    } else {
        html::render_html(data).into_bytes()
    };
    std::fs::write(path, contents)
}
