//! The metric families a component's snapshot is exposed as, listed once:
//! the Prometheus endpoint (`metrics_http`) writes them and `weir top`
//! reads them back into a [`StageSnapshot`], so what one writes the other
//! finds.
//!
//! A family's name is given without its suffixes: a counter's samples end
//! in `_total`, and a unit adds `_seconds` before it
//! (`weir_starved` → `weir_starved_seconds_total`), as prometheus-client
//! writes them; [`StageFamily::sample_name`] gives the full name.

use std::time::Duration;

use weir::metrics::StageSnapshot;
use weir::AccountingSnapshot;

/// What kind of value a family holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Only grows.
    Counter,
    /// Goes up and down.
    Gauge,
}

/// One per-component family: labels `stage` and `role`.
pub(crate) struct StageFamily {
    /// The name without the unit and `_total` suffixes.
    pub(crate) name: &'static str,
    /// Counter or gauge.
    pub(crate) kind: Kind,
    /// Whether the value is in seconds (the name gains `_seconds`).
    pub(crate) seconds: bool,
    /// The `# HELP` text.
    pub(crate) help: &'static str,
    /// The component's value (`None`: not applicable, e.g. the queue of a
    /// source, which has no input link).
    pub(crate) read: fn(&StageSnapshot) -> Option<f64>,
    /// Puts a scraped value back into a snapshot.
    pub(crate) write: fn(&mut StageSnapshot, f64),
}

impl StageFamily {
    /// The name its samples carry: `weir_records_in_total`,
    /// `weir_starved_seconds_total`, `weir_queue_depth`.
    pub(crate) fn sample_name(&self) -> String {
        let unit = if self.seconds { "_seconds" } else { "" };
        let total = match self.kind {
            Kind::Counter => "_total",
            Kind::Gauge => "",
        };
        format!("{}{unit}{total}", self.name)
    }
}

fn count(value: f64) -> u64 {
    value.max(0.0) as u64
}

fn secs(value: f64) -> Duration {
    Duration::try_from_secs_f64(value).unwrap_or_default()
}

/// The input link's stats, created when a scraped value says there is one.
fn input(stage: &mut StageSnapshot) -> &mut weir_core::QueueStats {
    stage.input.get_or_insert_with(Default::default)
}

/// Every per-component family but the latency histogram and the stage's
/// own readings (which have a label of their own).
pub(crate) const STAGE_FAMILIES: &[StageFamily] = &[
    StageFamily {
        name: "weir_records_in",
        kind: Kind::Counter,
        seconds: false,
        help: "Records taken in.",
        read: |s| Some(s.records_in as f64),
        write: |s, v| s.records_in = count(v),
    },
    StageFamily {
        name: "weir_records_out",
        kind: Kind::Counter,
        seconds: false,
        help: "Records handed on.",
        read: |s| Some(s.records_out as f64),
        write: |s, v| s.records_out = count(v),
    },
    StageFamily {
        name: "weir_errors",
        kind: Kind::Counter,
        seconds: false,
        help: "Failed attempts, retries included.",
        read: |s| Some(s.errors as f64),
        write: |s, v| s.errors = count(v),
    },
    StageFamily {
        name: "weir_retries",
        kind: Kind::Counter,
        seconds: false,
        help: "Retries made.",
        read: |s| Some(s.retries as f64),
        write: |s, v| s.retries = count(v),
    },
    StageFamily {
        name: "weir_timeouts",
        kind: Kind::Counter,
        seconds: false,
        help: "Attempts that timed out.",
        read: |s| Some(s.timeouts as f64),
        write: |s, v| s.timeouts = count(v),
    },
    StageFamily {
        name: "weir_dead_letters",
        kind: Kind::Counter,
        seconds: false,
        help: "Records sent to the dead letters from this component.",
        read: |s| Some(s.dead_letters as f64),
        write: |s, v| s.dead_letters = count(v),
    },
    StageFamily {
        name: "weir_dropped",
        kind: Kind::Counter,
        seconds: false,
        help: "Records the input link dropped by its overflow policy.",
        read: |s| s.input.map(|_| s.dropped() as f64),
        write: |s, v| input(s).dropped_oldest = count(v),
    },
    StageFamily {
        name: "weir_workers",
        kind: Kind::Gauge,
        seconds: false,
        help: "Workers running the component (its concurrency).",
        read: |s| Some(s.workers as f64),
        write: |s, v| s.workers = count(v) as usize,
    },
    StageFamily {
        name: "weir_in_flight",
        kind: Kind::Gauge,
        seconds: false,
        help: "Records being worked on now.",
        read: |s| Some(s.in_flight as f64),
        write: |s, v| s.in_flight = count(v),
    },
    StageFamily {
        name: "weir_queue_depth",
        kind: Kind::Gauge,
        seconds: false,
        help: "Records queued on the input link.",
        read: |s| s.input.map(|q| q.len as f64),
        write: |s, v| input(s).len = count(v) as usize,
    },
    StageFamily {
        name: "weir_queue_capacity",
        kind: Kind::Gauge,
        seconds: false,
        help: "The input link's bound (absent when unbounded).",
        read: |s| s.queue_capacity().map(|c| c as f64),
        write: |s, v| input(s).capacity = Some(count(v) as usize),
    },
    StageFamily {
        name: "weir_queue_high_water",
        kind: Kind::Gauge,
        seconds: false,
        help: "The most records the input link ever held.",
        read: |s| s.input.map(|q| q.high_water as f64),
        write: |s, v| input(s).high_water = count(v) as usize,
    },
    StageFamily {
        name: "weir_upstream_blocked",
        kind: Kind::Counter,
        seconds: true,
        help: "Time producers spent blocked putting into the input link.",
        read: |s| s.input.map(|_| s.upstream_blocked().as_secs_f64()),
        write: |s, v| input(s).put_blocked = secs(v),
    },
    StageFamily {
        name: "weir_starved",
        kind: Kind::Counter,
        seconds: true,
        help: "Worker time spent waiting for input.",
        read: |s| Some(s.starved.as_secs_f64()),
        write: |s, v| s.starved = secs(v),
    },
    StageFamily {
        name: "weir_blocked",
        kind: Kind::Counter,
        seconds: true,
        help: "Worker time spent waiting to hand output on.",
        read: |s| Some(s.blocked.as_secs_f64()),
        write: |s, v| s.blocked = secs(v),
    },
];

/// The family of a stage's own readings (e.g. its adaptive concurrency
/// limit), one sample per reading, labelled `gauge` with its name: any
/// reading a stage adds shows up here and in `weir top` without more code.
pub(crate) const READINGS: &str = "weir_stage_gauge";
/// The label naming a reading.
pub(crate) const READING_LABEL: &str = "gauge";
/// A pipeline-wide counter of the books (no labels).
pub(crate) struct BooksFamily {
    /// The name without `_total`.
    pub(crate) name: &'static str,
    /// The `# HELP` text.
    pub(crate) help: &'static str,
    /// Its value in the books.
    pub(crate) read: fn(&AccountingSnapshot) -> u64,
    /// Puts a scraped value back into the books.
    pub(crate) write: fn(&mut AccountingSnapshot, u64),
}

impl BooksFamily {
    /// The name its sample carries (`weir_received_total`).
    pub(crate) fn sample_name(&self) -> String {
        format!("{}_total", self.name)
    }
}

/// The books, one counter per outcome.
pub(crate) const BOOKS_FAMILIES: &[BooksFamily] = &[
    BooksFamily {
        name: "weir_received",
        help: "Records the source emitted.",
        read: |a| a.received,
        write: |a, v| a.received = v,
    },
    BooksFamily {
        name: "weir_delivered",
        help: "Records written by the sink.",
        read: |a| a.delivered,
        write: |a, v| a.delivered = v,
    },
    BooksFamily {
        name: "weir_dead_lettered",
        help: "Records dead-lettered.",
        read: |a| a.dead_lettered,
        write: |a, v| a.dead_lettered = v,
    },
    BooksFamily {
        name: "weir_filtered",
        help: "Records removed by a filter.",
        read: |a| a.filtered,
        write: |a, v| a.filtered = v,
    },
    BooksFamily {
        name: "weir_dropped_records",
        help: "Records dropped by a link's overflow policy.",
        read: |a| a.dropped,
        write: |a, v| a.dropped = v,
    },
    BooksFamily {
        name: "weir_nacked",
        help: "Records abandoned unfinished at a stop.",
        read: |a| a.nacked,
        write: |a, v| a.nacked = v,
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::fixtures::two_snapshots;

    #[test]
    fn each_family_writes_back_what_it_reads() {
        let (_, later) = two_snapshots();
        for original in &later.stages {
            let mut copy = original.clone();
            copy.input = None;
            for family in STAGE_FAMILIES {
                if let Some(value) = (family.read)(original) {
                    (family.write)(&mut copy, value);
                }
            }
            for family in STAGE_FAMILIES {
                assert_eq!(
                    (family.read)(&copy),
                    (family.read)(original),
                    "{} of {}",
                    family.name,
                    original.name
                );
            }
        }
    }

    #[test]
    fn sample_names_carry_unit_and_total() {
        let name = |n: &str| {
            STAGE_FAMILIES
                .iter()
                .find(|f| f.name == n)
                .unwrap()
                .sample_name()
        };
        assert_eq!(name("weir_starved"), "weir_starved_seconds_total");
        assert_eq!(name("weir_records_in"), "weir_records_in_total");
        assert_eq!(name("weir_queue_depth"), "weir_queue_depth");
    }
}
