//! weir: backpressure-correct async pipelines.
//!
//! A pipeline is a source, stages in order, and a sink, joined by bounded
//! links ([`weir_core::Queue`]); when the sink is slow, the links fill and
//! every stage up to the source waits: memory stays bounded by the sum of the
//! link capacities plus the stages' concurrency (and, for a stage whose work
//! never waits, a batch of up to half a link taken from its input and one
//! made for its output: records cross links in batches when several are at
//! hand).
//!
//! * Records travel in a [`Record`] envelope with an acknowledgement back to
//!   their source ([`ack`]); the source learns each record's [`Outcome`].
//! * Errors, timeouts and panics in a stage become dead letters after their
//!   retries; the pipeline goes on ([`stage`]).
//! * Every run balances its books ([`AccountingSnapshot`]): records in =
//!   delivered + filtered + dead-lettered + dropped + nacked.
//! * [`metrics`] names the bottleneck from each component's
//!   starved/busy/blocked shares.
//!
//! ```
//! use std::time::Duration;
//! use weir::io::{iter_source, sink_fn};
//! use weir::stage::{RetryPolicy, Stage};
//! use weir::Pipeline;
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let report = Pipeline::builder()
//!     .source("ids", iter_source(0..20u32))
//!     .stage("lookup", Stage::map_async(|id: u32| async move {
//!         if id == 13 { Err("unlucky".into()) } else { Ok(id * 10) }
//!     }).concurrency(4).ordered().timeout(Duration::from_secs(1)).retry(RetryPolicy::new(2)))
//!     .sink("out", sink_fn(|_: &u32| Ok(())))
//!     .run()
//!     .await;
//! assert_eq!(report.accounting.delivered, 19);
//! assert_eq!(report.accounting.dead_lettered, 1);
//! assert!(report.accounting.balances());
//! # });
//! ```

#![warn(missing_docs)]

mod accounting;
pub mod ack;
mod error;
pub mod io;
pub mod metrics;
mod pipeline;
mod record;
mod report;
pub mod spill;
pub mod stage;

pub use accounting::{Accounting, AccountingSnapshot};
pub use ack::{DropPolicy, Outcome};
pub use error::{BoxError, PipelineError};
pub use pipeline::{
    Branch, Flow, LinkConfig, Pipeline, PipelineBuilder, PipelineMonitor, ReadyPipeline,
    RunningPipeline, ShutdownHandle, VERDICT_WINDOW,
};
pub use record::Record;
pub use report::{HeldRecords, RunReport};
