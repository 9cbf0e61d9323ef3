//! What a run reports when it ends.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::accounting::AccountingSnapshot;
use crate::error::PipelineError;
use crate::metrics::{bottleneck, PipelineSnapshot, StageSnapshot, Verdict};

/// Records a component still held when the run was stopped; they were
/// nacked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldRecords {
    /// The component.
    pub stage: Arc<str>,
    /// Records queued on its input link.
    pub queued: u64,
    /// Records it was working on.
    pub in_work: u64,
}

/// The end of a run: the books, every component's final counters, where
/// time went, and what was left behind if the run was stopped.
#[derive(Debug)]
pub struct RunReport {
    /// The books; balanced at the end of every run.
    pub accounting: AccountingSnapshot,
    /// How long the run took.
    pub duration: Duration,
    /// Every component's final counters.
    pub snapshot: PipelineSnapshot,
    /// Each component's starved/busy/blocked shares over the whole run.
    pub verdicts: Vec<Verdict>,
    /// The component that limited the run, by the rule in
    /// [`crate::metrics`]: its name, with its role if another component
    /// has the same name (see [`Verdict::display_name`]).
    pub bottleneck: Option<Arc<str>>,
    /// What a stop left behind (empty if the run ended by itself or drained
    /// in time).
    pub held_at_stop: Vec<HeldRecords>,
    /// Why the run failed, if it did.
    pub error: Option<PipelineError>,
}

impl RunReport {
    pub(crate) fn new(
        snapshot: PipelineSnapshot,
        verdicts: Vec<Verdict>,
        error: Option<PipelineError>,
        held_at_stop: Vec<HeldRecords>,
    ) -> Self {
        RunReport {
            accounting: snapshot.accounting,
            duration: snapshot.elapsed,
            bottleneck: bottleneck(&verdicts).map(|v| v.display_name(&verdicts).into()),
            snapshot,
            verdicts,
            held_at_stop,
            error,
        }
    }

    /// Whether `stage` is the component that limited the run.
    pub fn is_bottleneck(&self, stage: &StageSnapshot) -> bool {
        bottleneck(&self.verdicts).is_some_and(|v| v.is_of(stage))
    }

    /// Records delivered per second over the run.
    pub fn throughput(&self) -> f64 {
        self.accounting.delivered as f64 / self.duration.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.accounting)?;
        write!(
            f,
            "{:.2?}, {:.0} records/s",
            self.duration,
            self.throughput()
        )?;
        if let Some(name) = &self.bottleneck {
            write!(f, ", bottleneck: {name}")?;
        }
        for held in &self.held_at_stop {
            write!(
                f,
                "\nstopped with {} queued and {} in work at {} (nacked)",
                held.queued, held.in_work, held.stage
            )?;
        }
        if let Some(error) = &self.error {
            write!(f, "\nerror: {error}")?;
        }
        Ok(())
    }
}
