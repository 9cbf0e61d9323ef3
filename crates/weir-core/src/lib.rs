//! Backpressure primitives for async Rust.
//!
//! * [`Queue`]: a bounded MPMC queue with asyncio-like semantics (`put`
//!   waits when full, `get`, `task_done`, `join`, shutdown) and explicit
//!   overflow policies; nothing is ever dropped without a trace.
//! * [`limit`]: concurrency and rate limiters with statistics, usable around
//!   any future and composable with a per-operation timeout.
//!
//! This crate depends on tokio and small crates only, so it pulls in no HTTP
//! or broker code.

#![warn(missing_docs)]

pub mod limit;
pub mod queue;
mod sync;

pub use limit::{AdaptiveConcurrency, AdaptiveConfig, ConcurrencyLimit, Rate, RateLimit, TimedOut};
pub use queue::{
    BuildError, DropReason, Dropped, GetError, Overflow, PutError, Queue, QueueBuilder, QueueStats,
    TaskDoneError,
};
