//! What changed between two snapshots of a run: each component's
//! throughput and how much of its producers' time went into waiting on it.

use weir::metrics::PipelineSnapshot;

/// One component's rates over a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct StageRates {
    /// Records taken in per second.
    pub(crate) records_in_per_second: f64,
    /// Records handed on per second.
    pub(crate) records_per_second: f64,
    /// Share (0..=1) of its producer's worker time spent blocked putting
    /// into this component's input link.
    pub(crate) upstream_blocked: f64,
}

/// Every component's rates between `earlier` and `later` (in the order of
/// `later.stages`); zeros if no time passed.
pub(crate) fn stage_rates(earlier: &PipelineSnapshot, later: &PipelineSnapshot) -> Vec<StageRates> {
    let window = later.elapsed.saturating_sub(earlier.elapsed).as_secs_f64();
    later
        .stages
        .iter()
        .enumerate()
        .map(|(index, now)| {
            if window <= 0.0 {
                return StageRates {
                    records_in_per_second: 0.0,
                    records_per_second: 0.0,
                    upstream_blocked: 0.0,
                };
            }
            let before = earlier.stages.get(index);
            let records_in = now
                .records_in
                .saturating_sub(before.map_or(0, |s| s.records_in));
            let records_out = now
                .records_out
                .saturating_sub(before.map_or(0, |s| s.records_out));
            let blocked = now
                .upstream_blocked()
                .saturating_sub(before.map_or(Default::default(), |s| s.upstream_blocked()));
            let producers = index
                .checked_sub(1)
                .and_then(|producer| later.stages.get(producer))
                .map_or(1, |producer| producer.workers.max(1));
            StageRates {
                records_in_per_second: records_in as f64 / window,
                records_per_second: records_out as f64 / window,
                upstream_blocked: (blocked.as_secs_f64() / (window * producers as f64))
                    .clamp(0.0, 1.0),
            }
        })
        .collect()
}
