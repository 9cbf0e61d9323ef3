//! The numbers every way of looking at a run shows, in one place: how they
//! are written for people ([`format`]), rates from two snapshots
//! ([`rates`]), and a component's summary row ([`stage_summary`]). The live
//! view and end summary (`view`), the run report (`report`) and the
//! Prometheus endpoint (`metrics_http`) build on this module and not on
//! each other.

pub(crate) mod families;
#[cfg(test)]
pub(crate) mod fixtures;
pub(crate) mod format;
pub(crate) mod rates;
pub(crate) mod stage_summary;

pub use stage_summary::StageSummary;
