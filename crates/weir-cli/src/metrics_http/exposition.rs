//! The Prometheus text exposition format of a pipeline snapshot: `# HELP`
//! and `# TYPE` per family, one sample per component (labels `stage` and
//! `role`), then the pipeline-wide books.

use std::fmt::Write;

use weir::metrics::{bottleneck, PipelineSnapshot, StageSnapshot, Verdict};
use weir::AccountingSnapshot;

use crate::figures::format;

/// A per-component metric: name, type, help, and its value for a component
/// (`None`: not applicable, e.g. queue metrics of a source).
type StageMetric = (
    &'static str,
    &'static str,
    &'static str,
    fn(&StageSnapshot) -> Option<f64>,
);

const STAGE_METRICS: &[StageMetric] = &[
    (
        "weir_records_in_total",
        "counter",
        "Records taken in.",
        |s| Some(s.records_in as f64),
    ),
    (
        "weir_records_out_total",
        "counter",
        "Records handed on.",
        |s| Some(s.records_out as f64),
    ),
    (
        "weir_errors_total",
        "counter",
        "Failed attempts, retries included.",
        |s| Some(s.errors as f64),
    ),
    ("weir_retries_total", "counter", "Retries made.", |s| {
        Some(s.retries as f64)
    }),
    (
        "weir_timeouts_total",
        "counter",
        "Attempts that timed out.",
        |s| Some(s.timeouts as f64),
    ),
    (
        "weir_dead_letters_total",
        "counter",
        "Records sent to the dead letters from this component.",
        |s| Some(s.dead_letters as f64),
    ),
    (
        "weir_dropped_total",
        "counter",
        "Records the input link dropped by its overflow policy.",
        |s| s.input.map(|_| s.dropped() as f64),
    ),
    (
        "weir_in_flight",
        "gauge",
        "Records being worked on now.",
        |s| Some(s.in_flight as f64),
    ),
    (
        "weir_queue_depth",
        "gauge",
        "Records queued on the input link.",
        |s| s.input.map(|q| q.len as f64),
    ),
    (
        "weir_queue_capacity",
        "gauge",
        "The input link's bound (absent when unbounded).",
        |s| s.queue_capacity().map(|c| c as f64),
    ),
    (
        "weir_queue_high_water",
        "gauge",
        "The most records the input link ever held.",
        |s| s.input.map(|q| q.high_water as f64),
    ),
    (
        "weir_upstream_blocked_seconds_total",
        "counter",
        "Time producers spent blocked putting into the input link.",
        |s| s.input.map(|_| s.upstream_blocked().as_secs_f64()),
    ),
    (
        "weir_starved_seconds_total",
        "counter",
        "Worker time spent waiting for input.",
        |s| Some(s.starved.as_secs_f64()),
    ),
    (
        "weir_blocked_seconds_total",
        "counter",
        "Worker time spent waiting to hand output on.",
        |s| Some(s.blocked.as_secs_f64()),
    ),
];

/// A pipeline-wide metric: name, help, and its value in the books.
type BooksMetric = (&'static str, &'static str, fn(&AccountingSnapshot) -> u64);

const BOOKS_METRICS: &[BooksMetric] = &[
    ("weir_received_total", "Records the source emitted.", |a| {
        a.received
    }),
    (
        "weir_delivered_total",
        "Records written by the sink.",
        |a| a.delivered,
    ),
    ("weir_dead_lettered_total", "Records dead-lettered.", |a| {
        a.dead_lettered
    }),
    ("weir_filtered_total", "Records removed by a filter.", |a| {
        a.filtered
    }),
    (
        "weir_dropped_records_total",
        "Records dropped by a link's overflow policy.",
        |a| a.dropped,
    ),
    (
        "weir_nacked_total",
        "Records abandoned unfinished at a stop.",
        |a| a.nacked,
    ),
];

/// The exposition of `snapshot`, with shares and bottleneck from
/// `verdicts`.
pub(super) fn render_metrics(snapshot: &PipelineSnapshot, verdicts: &[Verdict]) -> String {
    let mut text = String::new();
    for &(name, kind, help, value) in STAGE_METRICS {
        family(&mut text, name, kind, help);
        for stage in &snapshot.stages {
            if let Some(value) = value(stage) {
                sample(&mut text, name, &stage_labels(stage, None), value);
            }
        }
    }
    family(
        &mut text,
        "weir_latency_seconds",
        "gauge",
        "Per-record processing latency quantiles since the start.",
    );
    for stage in &snapshot.stages {
        let latency = &stage.latency;
        for (quantile, value) in [
            ("0.5", latency.p50),
            ("0.9", latency.p90),
            ("0.99", latency.p99),
        ] {
            let labels = stage_labels(stage, Some(("quantile", quantile)));
            sample(
                &mut text,
                "weir_latency_seconds",
                &labels,
                value.as_secs_f64(),
            );
        }
    }
    family(
        &mut text,
        "weir_stage_gauge",
        "gauge",
        "A reading a stage exposes, e.g. its adaptive concurrency limit.",
    );
    for stage in &snapshot.stages {
        for (gauge, value) in &stage.gauges {
            let labels = stage_labels(stage, Some(("gauge", gauge)));
            sample(&mut text, "weir_stage_gauge", &labels, *value);
        }
    }
    family(
        &mut text,
        "weir_share",
        "gauge",
        "Share of worker time starved, busy or blocked over the recent window.",
    );
    for stage in &snapshot.stages {
        let Some(verdict) = verdicts.iter().find(|v| v.name == stage.name) else {
            continue;
        };
        for (state, value) in [
            ("starved", verdict.starved),
            ("busy", verdict.busy),
            ("blocked", verdict.blocked),
        ] {
            let labels = stage_labels(stage, Some(("state", state)));
            sample(&mut text, "weir_share", &labels, value);
        }
    }
    family(
        &mut text,
        "weir_bottleneck",
        "gauge",
        "1 for the component limiting the pipeline over the recent window.",
    );
    let limit = bottleneck(verdicts).map(|v| v.name.clone());
    for stage in &snapshot.stages {
        let is_limit = limit.as_ref() == Some(&stage.name);
        sample(
            &mut text,
            "weir_bottleneck",
            &stage_labels(stage, None),
            f64::from(u8::from(is_limit)),
        );
    }
    for &(name, help, value) in BOOKS_METRICS {
        family(&mut text, name, "counter", help);
        sample(&mut text, name, "", value(&snapshot.accounting) as f64);
    }
    text
}

fn family(text: &mut String, name: &str, kind: &str, help: &str) {
    let _ = write!(text, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
}

fn sample(text: &mut String, name: &str, labels: &str, value: f64) {
    if labels.is_empty() {
        let _ = writeln!(text, "{name} {value}");
    } else {
        let _ = writeln!(text, "{name}{{{labels}}} {value}");
    }
}

/// `stage="…",role="…"` plus one more label if given.
fn stage_labels(stage: &StageSnapshot, extra: Option<(&str, &str)>) -> String {
    let mut labels = format!(
        "stage=\"{}\",role=\"{}\"",
        escape_label(&stage.name),
        format::role(stage.role)
    );
    if let Some((name, value)) = extra {
        let _ = write!(labels, ",{name}=\"{}\"", escape_label(value));
    }
    labels
}

/// A label value as the exposition format wants it: backslash, double
/// quote and newline escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::fixtures::two_snapshots;
    use weir::metrics::verdicts;

    #[test]
    fn exposition_has_help_type_labels_and_the_bottleneck() {
        let (earlier, later) = two_snapshots();
        let text = render_metrics(&later, &verdicts(&earlier, &later));
        for line in [
            "# HELP weir_records_in_total Records taken in.",
            "# TYPE weir_records_in_total counter",
            "weir_records_in_total{stage=\"enrich\",role=\"stage\"} 2050",
            "weir_queue_depth{stage=\"enrich\",role=\"stage\"} 48",
            "weir_queue_capacity{stage=\"out\",role=\"sink\"} 64",
            "weir_upstream_blocked_seconds_total{stage=\"enrich\",role=\"stage\"} 0.9",
            "weir_latency_seconds{stage=\"enrich\",role=\"stage\",quantile=\"0.99\"} 0.012",
            "weir_share{stage=\"ids\",role=\"source\",state=\"blocked\"} 0.9",
            "weir_bottleneck{stage=\"enrich\",role=\"stage\"} 1",
            "weir_bottleneck{stage=\"out\",role=\"sink\"} 0",
            "weir_received_total 2100",
            "# TYPE weir_nacked_total counter",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(
            !text.contains("weir_queue_depth{stage=\"ids\""),
            "a source has no input link"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
    }
}
