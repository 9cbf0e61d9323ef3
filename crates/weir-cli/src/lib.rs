//! The `weir` command: backpressure-correct pipelines from a TOML file.
//!
//! The binary (`src/main.rs`) parses flags and wires these modules:
//! `config` (the file and its errors), `sources`, `stages`, `sinks`
//! (connectors, one file each), `view` (live terminal view and end summary),
//! `report` (HTML/JSON run report), `metrics_http` (Prometheus endpoint).

pub mod config;
pub mod metrics_http;
pub mod record;
pub mod report;
pub mod sinks;
pub mod sources;
pub mod stages;
pub mod view;
