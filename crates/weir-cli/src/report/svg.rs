//! Line charts as inline SVG, drawn in Rust: no script, no network.

use std::fmt::Write;

/// Colours of the lines, by series index (the HTML legend uses the same).
const LINE_COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;
const Y_TICKS: u32 = 4;
/// At most this many points per line (about one per pixel).
const MAX_POINTS: usize = 700;
/// At most this many intervals between time labels (steps of 1, 2 or 5).
const MAX_X_TICKS: u32 = 6;

/// The colour of the line at `index`.
pub(crate) fn line_color(index: usize) -> &'static str {
    LINE_COLORS[index % LINE_COLORS.len()]
}

/// A chart of one `(t seconds, value)` line per non-empty series over `duration`
/// seconds, the y axis from 0 to a round number above the largest value.
/// `aria_label` names the chart for screen readers.
pub(crate) fn line_chart(aria_label: &str, duration: f64, series: &[Vec<(f64, f64)>]) -> String {
    let x_max = duration.max(f64::EPSILON);
    let y_max = round_up(
        series
            .iter()
            .flatten()
            .map(|&(_, value)| value)
            .fold(0.0, f64::max),
    );
    let x = |t: f64| LEFT + (t / x_max).clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT);
    let y =
        |value: f64| HEIGHT - BOTTOM - (value / y_max).clamp(0.0, 1.0) * (HEIGHT - TOP - BOTTOM);
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{aria_label}">"#
    );
    for tick in 0..=Y_TICKS {
        let value = y_max * f64::from(tick) / f64::from(Y_TICKS);
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" y1="{y:.1}" x2="{x2}" y2="{y:.1}"/><text class="y" x="{tx}" y="{ty:.1}">{label}</text>"#,
            y = y(value),
            x2 = WIDTH - RIGHT,
            tx = LEFT - 6.0,
            ty = y(value) + 4.0,
            label = compact(value),
        );
    }
    let x_step = round_up(x_max / f64::from(MAX_X_TICKS));
    for tick in 0..=(x_max / x_step).floor() as u32 {
        let t = x_step * f64::from(tick);
        let _ = write!(
            svg,
            r#"<text class="x" x="{x:.1}" y="{ty}">{label}</text>"#,
            x = x(t),
            ty = HEIGHT - 8.0,
            label = crate::figures::format::seconds(t),
        );
    }
    // A series with no points draws nothing (it keeps its colour slot).
    for (index, points) in series.iter().enumerate().filter(|(_, p)| !p.is_empty()) {
        let color = line_color(index);
        let path = thin(points, MAX_POINTS)
            .iter()
            .map(|&(t, value)| format!("{:.1},{:.1}", x(t), y(value)))
            .collect::<Vec<_>>()
            .join(" ");
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{color}" stroke-width="1.8" points="{path}"/>"#
        );
        if let [(t, value)] = points[..] {
            let _ = write!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"#,
                x(t),
                y(value)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Every k-th of `points`, k chosen so that at most `max` remain, plus the
/// last: a long run's lines stay light without losing their shape at chart
/// resolution.
fn thin(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max {
        return points.to_vec();
    }
    let stride = points.len().div_ceil(max);
    let mut kept: Vec<_> = points.iter().copied().step_by(stride).collect();
    if kept.last() != points.last() {
        kept.extend(points.last());
    }
    kept
}

/// The smallest 1, 2 or 5 times a power of ten at or above `value` (1 for
/// nothing above 0).
fn round_up(value: f64) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|step| step * magnitude)
        .find(|&candidate| candidate >= value)
        .unwrap_or(10.0 * magnitude)
}

/// An axis label: `0`, `2.5`, `40`, `1.5k`, `2M`.
fn compact(value: f64) -> String {
    let (scaled, unit) = if value >= 1e6 {
        (value / 1e6, "M")
    } else if value >= 1e3 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    let text = format!("{scaled:.1}");
    format!("{}{unit}", text.trim_end_matches(".0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_round_up_to_1_2_or_5() {
        assert_eq!(round_up(0.0), 1.0);
        assert_eq!(round_up(7.0), 10.0);
        assert_eq!(round_up(1998.0), 2000.0);
        assert_eq!(round_up(40.0), 50.0);
        assert_eq!(compact(2000.0), "2k");
        assert_eq!(compact(12.5), "12.5");
        assert_eq!(compact(0.0), "0");
    }

    #[test]
    fn long_lines_are_thinned_keeping_the_ends() {
        let points: Vec<(f64, f64)> = (0..10).map(|i| (f64::from(i), 0.0)).collect();
        let kept = thin(&points, 4);
        assert_eq!(
            kept.iter().map(|p| p.0).collect::<Vec<_>>(),
            [0.0, 3.0, 6.0, 9.0]
        );
        assert_eq!(thin(&points, 3).len(), 4, "0, 4, 8 and the last");
        assert_eq!(thin(&points, 10), points);
    }

    #[test]
    fn chart_draws_a_line_per_series_and_a_dot_for_one_point() {
        let svg = line_chart(
            "depth",
            2.0,
            &[vec![(0.5, 1.0), (1.0, 3.0)], vec![(1.0, 2.0)]],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 1);
        assert!(svg.contains(line_color(1)));
        for label in [">0<", ">500ms<", ">1.00s<", ">1.50s<", ">2.00s<"] {
            assert!(svg.contains(label), "time label {label}");
        }
    }
}
