//! Tests of the `weir` binary, run for real against local servers on
//! ephemeral ports.

#[path = "../common/mod.rs"]
mod common;

mod bad_input;
mod checkpoints;
mod command_stream;
mod config_errors;
mod env;
mod examples;
mod exit_codes;
mod failure_paths;
mod http_admission;
mod http_source;
mod https;
mod jq;
mod metrics_and_report;
mod nats;
mod nats_server;
mod observe;
mod outage;
mod promises;
mod sigterm;
mod spill;
mod tcp_backpressure;
