//! The engine: builds a pipeline (source → stages → sink, joined by bounded
//! links), runs it, and stops it.

mod builder;
pub(crate) mod context;
mod dead_letters;
pub(crate) mod hand_off;
mod running;
mod sink;
mod source;
mod unflushed;

pub use builder::{Branch, Flow, LinkConfig, Pipeline, PipelineBuilder, ReadyPipeline};
pub use running::{PipelineMonitor, RunningPipeline, ShutdownHandle, VERDICT_WINDOW};
