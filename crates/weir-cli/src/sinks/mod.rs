//! Sinks of the weir command.
pub mod http;
