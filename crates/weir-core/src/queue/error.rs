//! Errors of the queue. Every error of an operation that was handed an item
//! gives that item back, so a caller cannot lose it by accident.

use std::fmt;

/// Why an item could not be put; the item is inside.
#[must_use = "the item that could not be put is inside this error; handle it or it is lost"]
#[derive(PartialEq, Eq)]
pub enum PutError<T> {
    /// The queue is full: from `try_put`, or from `put` under
    /// [`Overflow::Reject`](super::Overflow::Reject).
    Full(T),
    /// The queue was shut down.
    Closed(T),
    /// `put_timeout` waited its whole timeout for room.
    TimedOut(T),
}

impl<T> PutError<T> {
    /// Takes the item back out of the error.
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full(item) | PutError::Closed(item) | PutError::TimedOut(item) => item,
        }
    }

    /// Whether the queue was shut down (as opposed to merely full).
    pub fn is_closed(&self) -> bool {
        matches!(self, PutError::Closed(_))
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The item need not be Debug; say which case it is.
        f.write_str(match self {
            PutError::Full(_) => "Full(..)",
            PutError::Closed(_) => "Closed(..)",
            PutError::TimedOut(_) => "TimedOut(..)",
        })
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PutError::Full(_) => "queue is full",
            PutError::Closed(_) => "queue is shut down",
            PutError::TimedOut(_) => "timed out waiting for room in the queue",
        })
    }
}

impl<T> std::error::Error for PutError<T> {}

/// Why `try_get` or `get_timeout` returned no item.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GetError {
    /// The queue is empty (from `try_get`).
    #[error("queue is empty")]
    Empty,
    /// The queue was shut down and holds no more items.
    #[error("queue is shut down and drained")]
    Closed,
    /// `get_timeout` waited its whole timeout for an item.
    #[error("timed out waiting for an item")]
    TimedOut,
}

/// `task_done` was called more times than items were put.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("task_done called more times than there were items put")]
pub struct TaskDoneError;

/// A queue could not be built from its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// Capacity 0 would switch backpressure off; use `Queue::unbounded` to
    /// say so explicitly.
    #[error("capacity must be at least 1 (use Queue::unbounded for no bound)")]
    ZeroCapacity,
    /// A dropping policy needs somewhere to send what it drops.
    #[error("overflow policy {0:?} drops items, so it needs an on_drop handler")]
    MissingDropHandler(super::Overflow),
}
