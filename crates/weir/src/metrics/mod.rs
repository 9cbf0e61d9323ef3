//! Per-component metrics, snapshots of them, and the bottleneck verdict.
//!
//! A running pipeline exposes [`PipelineSnapshot`]s; everything people see
//! (the live view, the Prometheus endpoint, the run report) is drawn from
//! them. [`verdicts`] turns two snapshots into each component's
//! starved/busy/blocked shares, and [`bottleneck`] names the limit.

mod snapshot;
pub(crate) mod stage;
mod verdict;

pub use snapshot::{LatencySummary, PipelineSnapshot, Role, StageSnapshot, LATENCY_BUCKETS};
pub use verdict::{bottleneck, verdicts, Verdict, VerdictState, BUSY_THRESHOLD};
