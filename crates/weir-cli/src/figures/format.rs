//! Short human renderings of counts, rates, shares and durations, shared by
//! the live view, the end summary and the HTML report.

use std::time::Duration;

use weir::metrics::Role;

/// A rate in records per second: `850/s`, `12.4k/s`, `3.1M/s`.
pub(crate) fn rate(per_second: f64) -> String {
    if per_second >= 999_950.0 {
        format!("{:.1}M/s", per_second / 1e6)
    } else if per_second >= 9_999.5 {
        format!("{:.1}k/s", per_second / 1e3)
    } else {
        format!("{per_second:.0}/s")
    }
}

/// A share of time (0..=1) as a whole percentage: `97%`.
pub(crate) fn share(fraction: f64) -> String {
    format!("{:.0}%", fraction * 100.0)
}

/// A duration with three significant digits: `412µs`, `1.25ms`, `34.0s`,
/// `2m05s`.
pub(crate) fn duration(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds >= 60.0 {
        let whole = duration.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    } else if duration.is_zero() {
        "0".to_string()
    } else if seconds >= 1.0 {
        three_digits(seconds, "s")
    } else if seconds >= 1e-3 {
        three_digits(seconds * 1e3, "ms")
    } else {
        three_digits(seconds * 1e6, "µs")
    }
}

fn three_digits(value: f64, unit: &str) -> String {
    let decimals = if value >= 99.95 {
        0
    } else if value >= 9.995 {
        1
    } else {
        2
    };
    format!("{value:.decimals$}{unit}")
}

/// A duration given in seconds, as [`duration`] renders it.
pub(crate) fn seconds(seconds: f64) -> String {
    duration(Duration::from_secs_f64(seconds.max(0.0)))
}

/// A component's role as a word: `source`, `stage`, `sink`.
pub(crate) fn role(role: Role) -> &'static str {
    role.as_str()
}

/// The role a word names, as [`role`] writes it.
pub(crate) fn role_named(word: &str) -> Option<Role> {
    [Role::Source, Role::Stage, Role::Sink]
        .into_iter()
        .find(|&r| role(r) == word)
}

/// What a component says of itself beyond the table's columns: its
/// gauges (`concurrency_limit 37`) and its status (`paused 3s: HTTP 503
/// from 127.0.0.1:8080, next probe in 1s`), as one line; `None` if it
/// says nothing.
pub(crate) fn readings(stage: &weir::metrics::StageSnapshot) -> Option<String> {
    let mut parts: Vec<String> = stage
        .gauges
        .iter()
        .map(|(name, value)| format!("{name} {}", number(*value)))
        .collect();
    parts.extend(stage.status.clone());
    (!parts.is_empty()).then(|| format!("{}: {}", stage.name, parts.join(", ")))
}

/// A gauge's value: whole numbers without decimals.
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_scale_their_unit() {
        assert_eq!(rate(0.0), "0/s");
        assert_eq!(rate(850.4), "850/s");
        assert_eq!(rate(12_400.0), "12.4k/s");
        assert_eq!(rate(3_100_000.0), "3.1M/s");
    }

    #[test]
    fn durations_keep_three_digits() {
        assert_eq!(duration(Duration::ZERO), "0");
        assert_eq!(duration(Duration::from_micros(412)), "412µs");
        assert_eq!(duration(Duration::from_micros(1250)), "1.25ms");
        assert_eq!(duration(Duration::from_millis(3400)), "3.40s");
        assert_eq!(duration(Duration::from_millis(34_000)), "34.0s");
        assert_eq!(duration(Duration::from_secs(125)), "2m05s");
        assert_eq!(seconds(0.5), "500ms");
    }

    #[test]
    fn readings_name_the_gauges_and_the_status() {
        let (_, mut stage) = crate::figures::fixtures::two_snapshots();
        let stage = &mut stage.stages[1];
        assert_eq!(readings(stage), None);
        stage.gauges = vec![("concurrency_limit".into(), 37.0), ("load".into(), 0.5)];
        stage.status = Some("paused 2s: HTTP 503 from 127.0.0.1:9, next probe in 1s".into());
        assert_eq!(
            readings(stage).unwrap(),
            "enrich: concurrency_limit 37, load 0.50, \
             paused 2s: HTTP 503 from 127.0.0.1:9, next probe in 1s"
        );
    }

    #[test]
    fn shares_are_percentages() {
        assert_eq!(share(0.974), "97%");
        assert_eq!(share(1.0), "100%");
    }
}
