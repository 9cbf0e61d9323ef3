//! weir-core's integration tests (but the loom model, `loom_queue.rs`,
//! built with its own cfg), one binary (one link) for all: each module is
//! one primitive.

mod limit_adaptive;
mod limit_concurrency;
mod limit_rate;
mod limit_timeout;
mod queue_behaviour;
mod queue_model;
