//! Tests of the `weir` binary, run for real against local servers on
//! ephemeral ports.

#[path = "../common/mod.rs"]
mod common;

mod bad_input;
mod config_errors;
mod examples;
mod exit_codes;
mod failure_paths;
mod http_source;
mod metrics_and_report;
mod promises;
mod sigterm;
mod tcp_backpressure;
