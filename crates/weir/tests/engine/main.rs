//! The engine's integration tests, one binary (one link) for all: each
//! module is one subject.

#[path = "../common/mod.rs"]
mod common;

mod batch;
mod bottleneck;
mod bounded;
mod fan;
mod faults;
mod readings;
mod shutdown;
mod spill;
mod transform;
