//! Sources of the `weir` command, one file each, known through [`SOURCES`].
//! Every source reads incrementally: the engine asks for the next record
//! only when the first link has room, and a source reads nothing more until
//! asked. Every `next` is cancel-safe (a drain cancels it).
//!
//! To add a source: a file here with its config type implementing
//! [`SourceConnector`](crate::connector::SourceConnector), and its line in
//! [`SOURCES`].

mod file;
mod format;
mod generate;
mod http;
mod http_tally;
mod line_codec;
mod line_reader;
mod listen;
mod nats;
mod origin;
mod stdin;
mod tcp;

use std::num::NonZeroUsize;
use std::ops::Range;

use crate::config::{ConfigError, SourceFile, TablePart};
use crate::connector::{parse_connector, ConnectorType, SourceSpec};

/// Every source type, by its `type`.
pub(crate) const SOURCES: &[ConnectorType<dyn SourceSpec>] = &[
    ConnectorType::source::<stdin::StdinSourceConfig>(),
    ConnectorType::source::<file::FileSourceConfig>(),
    ConnectorType::source::<tcp::TcpSourceConfig>(),
    ConnectorType::source::<http::HttpSourceConfig>(),
    ConnectorType::source::<generate::GenerateSourceConfig>(),
    ConnectorType::source::<nats::NatsSourceConfig>(),
];

fn default_max_line_length() -> NonZeroUsize {
    NonZeroUsize::new(format::DEFAULT_MAX_LINE_LENGTH).unwrap_or(NonZeroUsize::MIN)
}

/// The `[source]` table.
#[derive(Debug)]
pub(crate) struct SourceConfig {
    /// What the source is, by its `type`.
    pub(crate) spec: Box<dyn SourceSpec>,
    /// Where its `type = ...` is.
    pub(crate) span: Option<Range<usize>>,
}

impl SourceConfig {
    /// Reads the `[source]` table.
    pub(crate) fn from_part(file: &SourceFile, mut part: TablePart) -> Result<Self, ConfigError> {
        let (spec, span) = parse_connector(file, &mut part, "source", SOURCES)?;
        part.finish(file)?;
        Ok(SourceConfig { spec, span })
    }
}
