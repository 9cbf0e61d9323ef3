//! The `weir` command: backpressure-correct pipelines from a TOML file.
//!
//! The binary (`src/main.rs`) parses flags ([`cli`]) and wires these
//! modules: [`config`] (the file and its errors), [`sources`], [`stages`],
//! [`sinks`] (connectors, one file each), [`assemble`] (config to pipeline),
//! [`signals`], [`exit_code`], `view` (live terminal view and end summary),
//! `report` (HTML/JSON run report), `metrics_http` (Prometheus endpoint).

pub mod assemble;
pub mod cli;
pub mod config;
pub mod exit_code;
pub mod metrics_http;
pub mod record;
pub mod report;
pub mod signals;
pub mod sinks;
pub mod sources;
pub mod stages;
pub mod view;
