//! A pipeline snapshot in the Prometheus text format (version 0.0.4),
//! written by prometheus-client: per component (labels `stage` and `role`)
//! the families of [`STAGE_FAMILIES`], its own readings, its latency
//! histogram, and its starved/busy/blocked shares and bottleneck mark over
//! the recent window; then the pipeline-wide books and uptime.
//!
//! The values are the engine's own counters read at scrape time, so the
//! metrics are "const" ones built per scrape by a [`Collector`] rather than
//! counters kept in step by hand.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use weir::metrics::{bottleneck, PipelineSnapshot, StageSnapshot, Verdict, LATENCY_BUCKETS};

use crate::figures::families::{Kind, BOOKS_FAMILIES, READINGS, READING_LABEL, STAGE_FAMILIES};
use crate::figures::format;

/// The exposition of `snapshot`, with shares and bottleneck from
/// `verdicts`.
pub(super) fn render_metrics(snapshot: &PipelineSnapshot, verdicts: &[Verdict]) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector {
        snapshot: snapshot.clone(),
        verdicts: verdicts.to_vec(),
    }));
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
        .expect("writing to a String cannot fail");
    text
}

/// One scrape's worth of numbers.
#[derive(Debug)]
struct SnapshotCollector {
    snapshot: PipelineSnapshot,
    verdicts: Vec<Verdict>,
}

/// A component's labels, plus one more if given.
fn labels<'a>(
    stage: &'a StageSnapshot,
    extra: Option<(&'a str, &'a str)>,
) -> Vec<(&'a str, &'a str)> {
    let mut labels = vec![
        ("stage", stage.name.as_ref()),
        ("role", format::role(stage.role)),
    ];
    labels.extend(extra);
    labels
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stages = &self.snapshot.stages;
        for family in STAGE_FAMILIES {
            let unit = family.seconds.then_some(Unit::Seconds);
            let kind = match family.kind {
                Kind::Counter => MetricType::Counter,
                Kind::Gauge => MetricType::Gauge,
            };
            let mut metric =
                encoder.encode_descriptor(family.name, family.help, unit.as_ref(), kind)?;
            for stage in stages {
                let Some(value) = (family.read)(stage) else {
                    continue;
                };
                let labels = labels(stage, None);
                let sample = metric.encode_family(&labels)?;
                // Counts are whole numbers and written as such; seconds not.
                match (family.kind, family.seconds) {
                    (Kind::Counter, true) => ConstCounter::new(value).encode(sample)?,
                    (Kind::Counter, false) => ConstCounter::new(value as u64).encode(sample)?,
                    (Kind::Gauge, true) => ConstGauge::new(value).encode(sample)?,
                    (Kind::Gauge, false) => ConstGauge::new(value as u64).encode(sample)?,
                }
            }
        }

        let mut metric = encoder.encode_descriptor(
            READINGS,
            "A reading a component exposes, by name (label gauge), e.g. its adaptive concurrency limit.",
            None,
            MetricType::Gauge,
        )?;
        for stage in stages {
            for (name, value) in &stage.gauges {
                let labels = labels(stage, Some((READING_LABEL, name.as_ref())));
                ConstGauge::new(*value).encode(metric.encode_family(&labels)?)?;
            }
        }

        let mut metric = encoder.encode_descriptor(
            "weir_latency",
            "Per-record processing latency (inline stages and sinks measure one record in 16).",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for stage in stages {
            let latency = &stage.latency;
            let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
                .iter()
                .copied()
                .chain([f64::INFINITY])
                .zip(latency.buckets)
                .collect();
            let labels = labels(stage, None);
            metric
                .encode_family(&labels)?
                .encode_histogram::<NoLabelSet>(
                    latency.sum.as_secs_f64(),
                    latency.count,
                    &buckets,
                    None,
                )?;
        }

        let mut metric = encoder.encode_descriptor(
            "weir_share",
            "Share of worker time starved, busy or blocked over the recent window.",
            None,
            MetricType::Gauge,
        )?;
        for stage in stages {
            let Some(verdict) = self.verdicts.iter().find(|v| v.is_of(stage)) else {
                continue;
            };
            for (state, value) in [
                ("starved", verdict.starved),
                ("busy", verdict.busy),
                ("blocked", verdict.blocked),
            ] {
                let labels = labels(stage, Some(("state", state)));
                ConstGauge::new(value).encode(metric.encode_family(&labels)?)?;
            }
        }

        let mut metric = encoder.encode_descriptor(
            "weir_bottleneck",
            "1 for the component limiting the pipeline over the recent window.",
            None,
            MetricType::Gauge,
        )?;
        let limit = bottleneck(&self.verdicts);
        for stage in stages {
            let is_limit = limit.is_some_and(|limit| limit.is_of(stage));
            let labels = labels(stage, None);
            ConstGauge::new(i64::from(is_limit)).encode(metric.encode_family(&labels)?)?;
        }

        for family in BOOKS_FAMILIES {
            let metric =
                encoder.encode_descriptor(family.name, family.help, None, MetricType::Counter)?;
            ConstCounter::new((family.read)(&self.snapshot.accounting)).encode(metric)?;
        }
        let metric = encoder.encode_descriptor(
            "weir_uptime",
            "Time since the run started.",
            Some(&Unit::Seconds),
            MetricType::Gauge,
        )?;
        ConstGauge::new(self.snapshot.elapsed.as_secs_f64()).encode(metric)?;
        Ok(())
    }
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
            "# TYPE weir_latency_seconds histogram",
            "weir_latency_seconds_bucket{stage=\"enrich\",role=\"stage\",le=\"+Inf\"} 0",
            "weir_share{stage=\"ids\",role=\"source\",state=\"blocked\"} 0.9",
            "weir_bottleneck{stage=\"enrich\",role=\"stage\"} 1",
            "weir_bottleneck{stage=\"out\",role=\"sink\"} 0",
            "weir_received_total 2100",
            "# TYPE weir_nacked_total counter",
            "weir_uptime_seconds 2.0",
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
    fn readings_and_odd_names_are_written_escaped() {
        let (earlier, mut later) = two_snapshots();
        later.stages[1].name = "en\"rich".into();
        later.stages[1].gauges = vec![("concurrency_limit".into(), 37.0)];
        let text = render_metrics(&later, &verdicts(&earlier, &later));
        let line = "weir_stage_gauge{stage=\"en\\\"rich\",role=\"stage\",gauge=\"concurrency_limit\"} 37.0";
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}
