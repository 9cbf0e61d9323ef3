//! Errors of stages and of the pipeline.

use std::sync::Arc;

/// The error type stage functions and sinks return: any error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a pipeline run failed as a whole (individual bad records never fail
/// a run: they are dead-lettered).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A stage marked fail-fast failed on a record.
    #[error("stage {stage} failed (fail-fast): {reason}")]
    StageFailed {
        /// The stage.
        stage: Arc<str>,
        /// The error, after retries.
        reason: String,
    },
    /// The sink failed to flush; the records written since the last flush
    /// were nacked.
    #[error("sink {stage} failed: {reason}")]
    SinkFailed {
        /// The sink's name.
        stage: Arc<str>,
        /// The error.
        reason: String,
    },
    /// The dead-letter output failed; records that could not be written
    /// there were nacked.
    #[error("dead-letter output failed: {0}")]
    DeadLetterFailed(String),
    /// A spill link could not write or read its disk.
    #[error("spill link into {stage} failed: {reason}")]
    SpillFailed {
        /// The stage whose input link spills.
        stage: Arc<str>,
        /// The error.
        reason: String,
    },
    /// A task of the engine panicked outside any stage function.
    #[error("engine task failed: {0}")]
    Internal(String),
}

/// Renders a panic payload as text.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        format!("panic: {text}")
    } else if let Some(text) = payload.downcast_ref::<String>() {
        format!("panic: {text}")
    } else {
        "panic".to_owned()
    }
}
