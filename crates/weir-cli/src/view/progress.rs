//! The one-line progress report printed every few seconds when stderr is
//! not a terminal (or the view is quiet).

use weir::metrics::PipelineSnapshot;

use crate::figures::format;

/// `weir 12.0s: in 12034, delivered 11900, dead 3, 998/s, bottleneck enrich`,
/// the rate being records delivered per second since `earlier`, then the
/// readings of any component with a status (`; fetch: paused 2s: ...`).
pub(crate) fn render_progress(
    earlier: &PipelineSnapshot,
    now: &PipelineSnapshot,
    bottleneck: Option<&str>,
) -> String {
    let window = now.elapsed.saturating_sub(earlier.elapsed).as_secs_f64();
    let delivered = now
        .accounting
        .delivered
        .saturating_sub(earlier.accounting.delivered);
    let rate = if window > 0.0 {
        delivered as f64 / window
    } else {
        0.0
    };
    let mut line = format!(
        "weir {}: in {}, delivered {}, dead {}, {}, bottleneck {}",
        format::duration(now.elapsed),
        now.accounting.received,
        now.accounting.delivered,
        now.accounting.dead_lettered,
        format::rate(rate),
        bottleneck.unwrap_or("none"),
    );
    // A component in an unusual state (e.g. paused by an outage) says so.
    for stage in now.stages.iter().filter(|stage| stage.status.is_some()) {
        if let Some(readings) = format::readings(stage) {
            line.push_str("; ");
            line.push_str(&readings);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::fixtures::two_snapshots;

    #[test]
    fn progress_line_has_books_rate_and_bottleneck() {
        let (earlier, later) = two_snapshots();
        assert_eq!(
            render_progress(&earlier, &later, Some("enrich")),
            "weir 2.00s: in 2100, delivered 1995, dead 3, 995/s, bottleneck enrich"
        );
        assert!(render_progress(&later, &later, None).ends_with("0/s, bottleneck none"));
    }
}
