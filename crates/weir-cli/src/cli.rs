//! The command line: `weir run`, `weir validate`, their flags and help.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::HumanDuration;
use crate::logging::LogFormat;

const EXAMPLES: &str = "\
Examples:
  weir run examples/quickstart.toml          run a pipeline, live view on stderr
  weir validate pipeline.toml                check a file, warn about choices that defeat backpressure
  weir run p.toml --dead-letter bad.jsonl    keep the records that failed, with their reasons
  weir run p.toml --report run.html          write a report of the run (or run.json)
  weir run p.toml --metrics-addr 127.0.0.1:9100   serve Prometheus metrics while running
  cat in.jsonl | weir run p.toml --quiet > out.jsonl
  weir top 127.0.0.1:9100 127.0.0.1:9101     watch two running workers' metrics, summed

Exit codes: 0 success, 1 success with dead-lettered, dropped or nacked records,
2 invalid pipeline file, 3 run failed, 130 interrupted (SIGINT/SIGTERM).";

/// weir: backpressure-correct pipelines from a TOML file.
///
/// A source, stages and a sink joined by bounded links: when the sink is
/// slow, every step up to the source waits, and memory stays bounded.
/// Records go to stdout only when the sink is stdout; everything for people
/// goes to stderr.
#[derive(Debug, Parser)]
#[command(name = "weir", version, after_help = EXAMPLES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Which log events to show on stderr: a level (error, warn, info,
    /// debug, trace) or filter directives (weir_cli=debug,warn); overrides
    /// RUST_LOG. Default: warn.
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// How log lines are written.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a pipeline until its source ends, or until SIGINT/SIGTERM drains it.
    Run(RunArgs),
    /// Check a pipeline file without running it.
    Validate {
        /// The pipeline file.
        pipeline: PathBuf,
    },
    /// Watch running weirs through their metrics endpoints: rates, queues,
    /// where time goes, and the bottleneck, summed across workers.
    Top(TopArgs),
}

/// The flags of `weir top`.
#[derive(Debug, clap::Args)]
pub struct TopArgs {
    /// Each weir's metrics address (`--metrics-addr`): HOST:PORT or a URL
    /// (default http://127.0.0.1:9100/metrics). Several: the workers of
    /// one pipeline, summed per component.
    #[arg(value_name = "URL")]
    pub urls: Vec<String>,
    /// How often to refresh.
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub interval: HumanDuration,
    /// Plain text frames on stdout even on a terminal.
    #[arg(long)]
    pub plain: bool,
    /// Stop after this many frames (plain text only).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
}

/// The flags of `weir run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The pipeline file.
    pub pipeline: PathBuf,
    /// Append dead letters to this file as JSON lines (overrides [dead_letter]).
    #[arg(long, value_name = "PATH")]
    pub dead_letter: Option<PathBuf>,
    /// How long a drain (after SIGINT/SIGTERM) may take before what is left
    /// is abandoned.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub drain_timeout: HumanDuration,
    /// No live view, no warnings: only errors and the final line.
    #[arg(long, short)]
    pub quiet: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics while running.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Write a report of the run: HTML or JSON, by the file's extension.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Where the run keeps its state (checkpoints), locked while it runs
    /// (overrides the file's data_dir; default .weir/<pipeline file stem>/).
    #[arg(long, value_name = "DIR", env = "WEIR_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Read every input from its start, ignoring the checkpoints of an
    /// earlier run (which this run then replaces).
    #[arg(long)]
    pub from_start: bool,
}
