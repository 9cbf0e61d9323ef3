//! Sinks of the `weir` command, one file each, known through [`SINKS`],
//! and the dead-letter output.
//!
//! To add a sink: a file here with its config type implementing
//! [`SinkConnector`](crate::connector::SinkConnector), and its line in
//! [`SINKS`].

pub(crate) mod dead_letter;
mod file;
mod http;
mod line_writer;
mod nats;
mod stdout;
mod tcp;

use std::ops::Range;

use serde::Deserialize;
use weir::stage::RetryPolicy;

use crate::config::{ConfigError, LinkPart, RetryOptions, SourceFile, TablePart};
use crate::connector::{parse_connector, ConnectorType, SinkSpec};

/// Every sink type, by its `type`.
pub(crate) const SINKS: &[ConnectorType<dyn SinkSpec>] = &[
    ConnectorType::sink::<stdout::StdoutSinkConfig>(),
    ConnectorType::sink::<file::FileSinkConfig>(),
    ConnectorType::sink::<tcp::TcpSinkConfig>(),
    ConnectorType::sink::<http::HttpSinkConfig>(),
    ConnectorType::sink::<nats::NatsSinkConfig>(),
];

/// Options every sink takes besides its own.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SinkOptions {
    /// Retry failed writes: `{ max_attempts = 3, backoff = "100ms" }`.
    retries: Option<RetryOptions>,
}

impl SinkOptions {
    /// The retry policy for failed writes.
    pub(crate) fn retry_policy(&self) -> Option<RetryPolicy> {
        self.retries.as_ref().map(RetryOptions::policy)
    }
}

/// The `[sink]` table.
#[derive(Debug)]
pub(crate) struct SinkConfig {
    /// What the sink is, by its `type`.
    pub(crate) spec: Box<dyn SinkSpec>,
    /// The generic options.
    pub(crate) options: SinkOptions,
    /// The link into it, where it differs from `[links]`.
    pub(crate) link: LinkPart,
    /// Where its `type = ...` is.
    pub(crate) span: Option<Range<usize>>,
}

impl SinkConfig {
    /// Reads the `[sink]` table.
    pub(crate) fn from_part(file: &SourceFile, mut part: TablePart) -> Result<Self, ConfigError> {
        part.expect::<SinkOptions>();
        part.expect::<LinkPart>();
        let (spec, span) = parse_connector(file, &mut part, "sink", SINKS)?;
        let options = part.take(file)?;
        let link = part.take(file)?;
        part.finish(file)?;
        spec.check()
            .map_err(|message| file.error(span.clone(), &message))?;
        Ok(SinkConfig {
            spec,
            options,
            link,
            span,
        })
    }
}
