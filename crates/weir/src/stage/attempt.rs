//! One attempt of a stage function on one record: its timeout, and the
//! panic and error it may end in.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::BoxError;

/// Why one attempt failed.
#[derive(Debug)]
pub enum AttemptError {
    /// The function returned an error.
    Failed(BoxError),
    /// The attempt ran past the stage's timeout and was cancelled.
    TimedOut(Duration),
    /// The function panicked.
    Panicked(String),
}

impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptError::Failed(error) => write!(f, "{error}"),
            AttemptError::TimedOut(after) => write!(f, "timed out after {after:?}"),
            AttemptError::Panicked(message) => f.write_str(message),
        }
    }
}

/// An error from a stage function that made several attempts itself (an
/// HTTP client retrying inside one call): a record dead-lettered with it
/// counts those attempts in its `attempts`. Displays as its error.
#[derive(Debug)]
pub struct AttemptsError {
    /// Attempts the function made.
    pub attempts: u32,
    /// Why the last one failed.
    pub error: BoxError,
}

impl fmt::Display for AttemptsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for AttemptsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

impl AttemptError {
    /// Attempts this one stands for: more than one when the function made
    /// several itself ([`AttemptsError`]).
    pub(crate) fn attempts_inside(&self) -> u32 {
        match self {
            AttemptError::Failed(error) => error
                .downcast_ref::<AttemptsError>()
                .map_or(1, |inside| inside.attempts),
            AttemptError::TimedOut(_) | AttemptError::Panicked(_) => 1,
        }
    }
}

/// What a stage does with a record whose attempt timed out (after retries).
pub enum TimeoutPolicy<U> {
    /// Send it to the dead letters (the default).
    DeadLetter,
    /// Stop the whole pipeline.
    FailPipeline,
    /// Emit this value instead, built from nothing (degrade).
    Fallback(Arc<dyn Fn() -> U + Send + Sync>),
}

impl<U> Clone for TimeoutPolicy<U> {
    fn clone(&self) -> Self {
        match self {
            TimeoutPolicy::DeadLetter => TimeoutPolicy::DeadLetter,
            TimeoutPolicy::FailPipeline => TimeoutPolicy::FailPipeline,
            TimeoutPolicy::Fallback(f) => TimeoutPolicy::Fallback(f.clone()),
        }
    }
}

impl<U> fmt::Debug for TimeoutPolicy<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutPolicy::DeadLetter => "DeadLetter",
            TimeoutPolicy::FailPipeline => "FailPipeline",
            TimeoutPolicy::Fallback(_) => "Fallback(..)",
        })
    }
}

pub(crate) fn panic_error(payload: Box<dyn Any + Send>) -> AttemptError {
    AttemptError::Panicked(crate::error::panic_message(payload.as_ref()))
}
