//! The record type every connector of the `weir` command works on.
//!
//! A record is a JSON value behind an `Arc`: a line read as text is a JSON
//! string, a JSON line is parsed. The `Arc` makes the copies the engine
//! keeps for retries and dead letters cheap.

use std::sync::Arc;

/// A record's payload in the `weir` command.
pub type Payload = Arc<serde_json::Value>;

/// Wraps a value as a payload.
pub fn payload(value: serde_json::Value) -> Payload {
    Arc::new(value)
}
