//! One component's final counters and where its time went over the whole
//! run: a row of the end summary, the HTML table and the JSON report.

use serde::Serialize;
use weir::metrics::{StageSnapshot, VerdictState};
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

/// A component's row in the end-of-run table: its final snapshot, and where
/// its time went over the whole run. Serialized flat, durations in seconds
/// (see [`columns`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageSummary {
    /// The component's counters at the end of the run.
    #[serde(flatten, serialize_with = "columns::snapshot")]
    pub snapshot: StageSnapshot,
    /// Share of its time spent waiting for input over the run.
    pub starved: f64,
    /// Share of its time spent on its own work over the run.
    pub busy: f64,
    /// Share of its time spent waiting to hand output on over the run.
    pub blocked: f64,
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
                let verdict = report.verdicts.iter().find(|v| v.is_of(stage));
                let share = |state| verdict.map_or(0.0, |v| v.share(state));
                StageSummary {
                    snapshot: stage.clone(),
                    starved: share(VerdictState::Starved),
                    busy: share(VerdictState::Busy),
                    blocked: share(VerdictState::Blocked),
                    bottleneck: report.is_bottleneck(stage),
                }
            })
            .collect()
    }

    /// `high-water/capacity` of the input link: `64/64`, `12/∞`, or `-`
    /// for a component without one.
    fn queue_fill(&self) -> String {
        let input = self.snapshot.input;
        match (
            input.map(|queue| queue.high_water),
            self.snapshot.queue_capacity(),
        ) {
            (Some(high), Some(capacity)) => format!("{high}/{capacity}"),
            (Some(high), None) => format!("{high}/∞"),
            (None, _) => "-".to_string(),
        }
    }

    /// The row's cells, in the order of [`COLUMNS`].
    pub(crate) fn cells(&self) -> [String; COLUMNS.len()] {
        let stage = &self.snapshot;
        [
            stage.name.to_string(),
            format::role(stage.role).to_string(),
            stage.records_in.to_string(),
            stage.records_out.to_string(),
            stage.errors.to_string(),
            stage.retries.to_string(),
            stage.dead_letters.to_string(),
            stage.dropped().to_string(),
            self.queue_fill(),
            match stage.input {
                Some(_) => format::seconds(stage.upstream_blocked().as_secs_f64()),
                None => "-".to_string(),
            },
            format::share(self.starved),
            format::share(self.busy),
            format::share(self.blocked),
            format::seconds(stage.latency.p50.as_secs_f64()),
            format::seconds(stage.latency.p99.as_secs_f64()),
        ]
    }
}

/// How a [`StageSnapshot`] is written in a report row: its counters as
/// they are, what its input link saw, and durations as seconds
/// (`*_seconds`).
pub mod columns {
    use std::time::Duration;

    use serde::ser::{SerializeMap, Serializer};
    use weir::metrics::StageSnapshot;

    /// A duration as seconds.
    pub fn seconds<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(duration.as_secs_f64())
    }

    /// `snapshot`'s columns: `name`, `role`, `workers`, `records_in`,
    /// `records_out`, `errors`, `retries`, `timeouts`, `dead_letters`,
    /// `dropped`, `queue_high_water` and `queue_capacity` (`null` without an
    /// input link), `upstream_blocked_seconds`, and
    /// `latency_p50_seconds`/`_p90_`/`_p99_`.
    pub fn snapshot<S: Serializer>(
        snapshot: &StageSnapshot,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        struct Seconds(Duration);
        impl serde::Serialize for Seconds {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                seconds(&self.0, serializer)
            }
        }
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("name", &snapshot.name)?;
        map.serialize_entry("role", &snapshot.role)?;
        map.serialize_entry("workers", &snapshot.workers)?;
        map.serialize_entry("records_in", &snapshot.records_in)?;
        map.serialize_entry("records_out", &snapshot.records_out)?;
        map.serialize_entry("errors", &snapshot.errors)?;
        map.serialize_entry("retries", &snapshot.retries)?;
        map.serialize_entry("timeouts", &snapshot.timeouts)?;
        map.serialize_entry("dead_letters", &snapshot.dead_letters)?;
        map.serialize_entry("dropped", &snapshot.dropped())?;
        map.serialize_entry(
            "queue_high_water",
            &snapshot.input.map(|queue| queue.high_water),
        )?;
        map.serialize_entry("queue_capacity", &snapshot.queue_capacity())?;
        map.serialize_entry(
            "upstream_blocked_seconds",
            &Seconds(snapshot.upstream_blocked()),
        )?;
        let latency = &snapshot.latency;
        map.serialize_entry("latency_p50_seconds", &Seconds(latency.p50))?;
        map.serialize_entry("latency_p90_seconds", &Seconds(latency.p90))?;
        map.serialize_entry("latency_p99_seconds", &Seconds(latency.p99))?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use crate::report::fixtures::run_data;

    #[test]
    fn a_row_is_written_flat_with_the_report_field_names() {
        let data = run_data();
        let row = serde_json::to_value(&data.stages[1]).unwrap();
        let mut keys: Vec<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        let mut expected = [
            "name",
            "role",
            "workers",
            "records_in",
            "records_out",
            "errors",
            "retries",
            "timeouts",
            "dead_letters",
            "dropped",
            "queue_high_water",
            "queue_capacity",
            "upstream_blocked_seconds",
            "starved",
            "busy",
            "blocked",
            "latency_p50_seconds",
            "latency_p90_seconds",
            "latency_p99_seconds",
            "bottleneck",
        ];
        expected.sort_unstable();
        assert_eq!(keys, expected);
        let enrich = &data.stages[1].snapshot;
        assert_eq!(row["name"], "enrich");
        assert_eq!(row["role"], "stage");
        assert_eq!(row["records_in"], enrich.records_in);
        assert_eq!(row["queue_capacity"], 64);
        assert_eq!(
            row["upstream_blocked_seconds"].as_f64().unwrap(),
            enrich.upstream_blocked().as_secs_f64()
        );
        assert_eq!(
            row["latency_p99_seconds"].as_f64().unwrap(),
            enrich.latency.p99.as_secs_f64()
        );
        assert_eq!(row["busy"], data.stages[1].busy);
        assert_eq!(row["bottleneck"], true);
        let source = serde_json::to_value(&data.stages[0]).unwrap();
        assert_eq!(source["queue_high_water"], serde_json::Value::Null);
        assert_eq!(source["queue_capacity"], serde_json::Value::Null);
    }
}
