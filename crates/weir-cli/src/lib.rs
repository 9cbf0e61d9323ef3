//! The `weir` command: backpressure-correct pipelines from a TOML file.
//!
//! [`main`] is the whole command (`src/main.rs` only calls it). Inside, by
//! layer, lowest first:
//!
//! * `config`: the parsing kit (document, spans, errors, units, `${NAME}`
//!   interpolation, the retry dialect, `[links]`); imports no connector.
//! * `connector`: what a source, stage or sink connector is, and the
//!   registry entry that makes one known; `http_client` and `template`,
//!   shared by the connectors that need them.
//! * `sources`, `stages`, `sinks`: the connectors, one file each, each
//!   registry one list (`SOURCES`, `STAGES`, `SINKS`).
//! * `pipeline_file` (the whole file, checked, and its warnings) and
//!   `assemble` (the file to a pipeline).
//! * `figures` (numbers as people read them, rates, the summary row),
//!   shared by `view` (live view, end summary), `report` (HTML/JSON) and
//!   `metrics_http` (Prometheus), which do not import each other.
//! * `data_dir`: the locked directory where a run keeps its state.
//! * `stderr` (the live frame and log lines sharing it), `logging` (the
//!   tracing subscriber on it), `top` (`weir top`, a live view of running
//!   weirs read from their `/metrics`).
//! * `app` (the command), `cli` (its flags), `signals`, `exit_code`.
//!
//! The public items below are the narrow surface the tests and the bench
//! use.

mod app;
mod assemble;
mod cli;
mod config;
mod connector;
pub mod data_dir;
mod exit_code;
mod figures;
mod http_client;
mod logging;
mod metrics_http;
mod nats_client;
pub mod parts;
mod pipeline_file;
pub mod record;
pub mod report;
mod signals;
mod sinks;
mod sources;
mod stages;
mod stderr;
mod template;
mod top;
pub mod view;

pub use app::main;
