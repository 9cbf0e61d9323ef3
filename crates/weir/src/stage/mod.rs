//! Stages: what runs between the source and the sink.
//!
//! A [`Stage`] describes a transformation (map, filter, flat_map, async or
//! blocking work, a batch joined into one record) and how it runs: concurrency (ordered or not), a timeout
//! with a [`TimeoutPolicy`], a [`RetryPolicy`], a rate limit, fail-fast.
//! Add it to a pipeline with [`Flow::stage`](crate::Flow::stage), or use the
//! shortcuts ([`Flow::map`](crate::Flow::map), ...).

mod attempt;
pub(crate) mod fan;
pub(crate) mod retry;
pub(crate) mod spec;
pub(crate) mod transform;

pub use attempt::{AttemptError, AttemptsError, TimeoutPolicy};
pub use retry::RetryPolicy;
pub use spec::{Emit, Gauge, Stage};
