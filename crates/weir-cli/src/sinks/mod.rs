//! Sinks of the `weir` command, one file each, and the dead-letter output.

pub mod dead_letter;
pub mod file;
pub mod http;
pub mod line_writer;
pub mod stdout;
pub mod tcp;

use std::ops::Range;

use serde::Deserialize;
use weir::io::Sink;
use weir::stage::RetryPolicy;
use weir::BoxError;

use crate::config::{ConfigError, Section, SourceFile, TablePart};
use crate::record::Payload;
use crate::stages::options::RetryOptions;

/// The `[sink]` table, by its `type`.
#[derive(Debug, Clone)]
pub enum SinkConfig {
    /// `type = "stdout"`.
    Stdout(stdout::StdoutSinkConfig),
    /// `type = "file"`.
    File(file::FileSinkConfig),
    /// `type = "tcp"`.
    Tcp(tcp::TcpSinkConfig),
    /// `type = "http"` (retries its batches itself).
    Http(http::HttpSinkConfig),
}

const SINK_TYPES: &[&str] = &["stdout", "file", "tcp", "http"];

/// Options every sink takes besides its `type`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkOptions {
    /// Retry failed writes: `{ max_attempts = 3, backoff = "100ms" }`.
    pub retries: Option<RetryOptions>,
}

/// A `[sink]` table: its own options and the generic ones.
#[derive(Debug, Clone)]
pub struct SinkSection {
    /// What the sink is.
    pub config: SinkConfig,
    /// The generic options.
    pub options: SinkOptions,
}

impl SinkConfig {
    /// Reads the `[sink]` table.
    pub fn from_part(
        file: &SourceFile,
        mut part: TablePart,
    ) -> Result<Section<SinkSection>, ConfigError> {
        let (kind, span): (String, Option<Range<usize>>) = part.take_type(file, "sink")?;
        // The HTTP sink's `retries` are its own.
        let generic: &[&str] = if kind == "http" { &[] } else { &["retries"] };
        let options: SinkOptions = part.split_off(generic).into_config(file)?;
        let config = match kind.as_str() {
            "stdout" => SinkConfig::Stdout(part.into_config(file)?),
            "file" => SinkConfig::File(part.into_config(file)?),
            "tcp" => SinkConfig::Tcp(part.into_config(file)?),
            "http" => SinkConfig::Http(part.into_config(file)?),
            other => return Err(file.unknown_type("sink", other, span, SINK_TYPES)),
        };
        Ok(Section {
            config: SinkSection { config, options },
            span,
        })
    }

    /// The type's name, to name the sink in the pipeline.
    pub fn kind(&self) -> &'static str {
        match self {
            SinkConfig::Stdout(_) => "stdout",
            SinkConfig::File(_) => "file",
            SinkConfig::Tcp(_) => "tcp",
            SinkConfig::Http(_) => "http",
        }
    }

    /// Opens the sink.
    pub async fn build(&self) -> Result<AnySink, String> {
        Ok(match self {
            SinkConfig::Stdout(_) => AnySink::Stdout(stdout::open()),
            SinkConfig::File(config) => AnySink::File(file::open(config).await?),
            SinkConfig::Tcp(config) => AnySink::Tcp(tcp::connect(config).await?),
            SinkConfig::Http(config) => AnySink::Http(Box::new(http::build(config)?)),
        })
    }
}

impl SinkOptions {
    /// The retry policy for failed writes.
    pub fn retry_policy(&self) -> Option<RetryPolicy> {
        self.retries.as_ref().map(RetryOptions::policy)
    }
}

/// Any sink of the command.
pub enum AnySink {
    /// Standard output.
    Stdout(stdout::StdoutSink),
    /// A file.
    File(file::FileSink),
    /// A TCP connection.
    Tcp(tcp::TcpSink),
    /// An HTTP endpoint.
    Http(Box<http::HttpSink>),
}

impl Sink<Payload> for AnySink {
    async fn write(&mut self, record: &Payload) -> Result<(), BoxError> {
        match self {
            AnySink::Stdout(sink) => sink.write(record).await,
            AnySink::File(sink) => sink.write(record).await,
            AnySink::Tcp(sink) => sink.write(record).await,
            AnySink::Http(sink) => sink.write(record).await,
        }
    }

    async fn flush(&mut self) -> Result<(), BoxError> {
        match self {
            AnySink::Stdout(sink) => sink.flush().await,
            AnySink::File(sink) => sink.flush().await,
            AnySink::Tcp(sink) => sink.flush().await,
            AnySink::Http(sink) => sink.flush().await,
        }
    }
}
