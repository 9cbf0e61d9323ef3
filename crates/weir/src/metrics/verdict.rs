//! Where each component spends its time, and which one limits the run.
//!
//! Over a window between two snapshots, each component's worker-time splits
//! into three shares:
//! * **starved**: waiting for input (its input link empty);
//! * **blocked**: waiting to hand output on (the next link full);
//! * **busy**: everything else: its own work, including waiting on a remote
//!   service, a rate limit or, for a source, its own input.
//!
//! # The bottleneck rule
//! The bottleneck is the component with the largest busy share in the
//! window (ties go to the one furthest downstream), provided that share is
//! at least [`BUSY_THRESHOLD`]. Components upstream of a bottleneck are then
//! mostly blocked and those downstream mostly starved, which the verdicts
//! show. A slow sink makes every stage blocked all the way to it, and the
//! sink is named; a slow source leaves every stage starved, and the source
//! is named as the limit. If nothing is busy enough (an idle or finished
//! pipeline) there is no bottleneck.
//!
//! A verdict is its component's by name *and* role ([`Verdict::is_of`]): a
//! source and a sink may share a name (a `file` source writing to a `file`
//! sink).
//!
//! ```
//! use std::time::Duration;
//! use weir::metrics::{bottleneck, Role, Verdict};
//! let verdict = |name: &str, role, busy| Verdict {
//!     name: name.into(),
//!     role,
//!     starved: 0.0,
//!     busy,
//!     blocked: 1.0 - busy,
//! };
//! let verdicts = [
//!     verdict("file", Role::Source, 0.05),
//!     verdict("slow", Role::Stage, 0.98),
//!     verdict("file", Role::Sink, 0.03),
//! ];
//! assert_eq!(bottleneck(&verdicts).unwrap().name.as_ref(), "slow");
//! assert_eq!(verdicts[2].display_name(&verdicts), "file sink");
//! assert_eq!(verdicts[1].display_name(&verdicts), "slow");
//! ```

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use super::snapshot::{PipelineSnapshot, Role, StageSnapshot};

/// The least busy share a component needs to be named the bottleneck.
pub const BUSY_THRESHOLD: f64 = 0.5;

/// One component's time split over a window; the shares add up to 1.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The component.
    pub name: Arc<str>,
    /// Its role: with the name, which component it is.
    pub role: Role,
    /// Share of time waiting for input.
    pub starved: f64,
    /// Share of time doing its own work.
    pub busy: f64,
    /// Share of time waiting to hand output on.
    pub blocked: f64,
}

/// Where a component spent most of its time over a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictState {
    /// Mostly waiting for input.
    Starved,
    /// Mostly doing its own work.
    Busy,
    /// Mostly waiting to hand output on.
    Blocked,
}

impl VerdictState {
    /// `starved`, `busy` or `blocked`.
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictState::Starved => "starved",
            VerdictState::Busy => "busy",
            VerdictState::Blocked => "blocked",
        }
    }
}

impl fmt::Display for VerdictState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Verdict {
    /// The state with the largest share (ties go to busy, then blocked).
    ///
    /// ```
    /// use weir::metrics::{Verdict, VerdictState};
    /// use weir::metrics::Role;
    /// let v = Verdict { name: "sink".into(), role: Role::Sink, starved: 0.1, busy: 0.2, blocked: 0.7 };
    /// assert_eq!(v.state(), VerdictState::Blocked);
    /// assert_eq!(v.share(v.state()), 0.7);
    /// ```
    pub fn state(&self) -> VerdictState {
        if self.busy >= self.starved && self.busy >= self.blocked {
            VerdictState::Busy
        } else if self.blocked >= self.starved {
            VerdictState::Blocked
        } else {
            VerdictState::Starved
        }
    }

    /// Whether this is the verdict of `stage` (the same name and role).
    pub fn is_of(&self, stage: &StageSnapshot) -> bool {
        self.name == stage.name && self.role == stage.role
    }

    /// The component's name, with its role (`file sink`) if another of
    /// `verdicts` has the same name.
    pub fn display_name(&self, verdicts: &[Verdict]) -> String {
        let shared = verdicts
            .iter()
            .any(|other| other.name == self.name && other.role != self.role);
        if shared {
            format!("{} {}", self.name, self.role.as_str())
        } else {
            self.name.to_string()
        }
    }

    /// The share of time spent in `state`.
    pub fn share(&self, state: VerdictState) -> f64 {
        match state {
            VerdictState::Starved => self.starved,
            VerdictState::Busy => self.busy,
            VerdictState::Blocked => self.blocked,
        }
    }
}

/// The verdict of every component between two snapshots of the same run
/// (`earlier` taken before `later`). Empty if no time passed.
pub fn verdicts(earlier: &PipelineSnapshot, later: &PipelineSnapshot) -> Vec<Verdict> {
    let window = later.elapsed.saturating_sub(earlier.elapsed).as_secs_f64();
    if window <= 0.0 {
        return Vec::new();
    }
    later
        .stages
        .iter()
        .zip(&earlier.stages)
        .map(|(now, before)| {
            let worker_time = window * now.workers.max(1) as f64;
            let share = |d: std::time::Duration| (d.as_secs_f64() / worker_time).clamp(0.0, 1.0);
            let starved = share(now.starved.saturating_sub(before.starved));
            let blocked = share(now.blocked.saturating_sub(before.blocked)).min(1.0 - starved);
            Verdict {
                name: now.name.clone(),
                role: now.role,
                starved,
                busy: (1.0 - starved - blocked).max(0.0),
                blocked,
            }
        })
        .collect()
}

/// The bottleneck by the rule in the [module docs](crate::metrics).
pub fn bottleneck(verdicts: &[Verdict]) -> Option<&Verdict> {
    verdicts
        .iter()
        .filter(|v| v.busy >= BUSY_THRESHOLD)
        .reduce(|best, v| if v.busy >= best.busy { v } else { best })
}
