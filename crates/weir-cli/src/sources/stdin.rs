//! `type = "stdin"`: records from standard input, one a line.

use std::num::NonZeroUsize;

use serde::Deserialize;
use weir::io::{Source, SourceItem};

use crate::connector::{OpenedSource, SourceConnector, SourceContext};

use super::format::Format;
use super::line_reader::LineReader;
use crate::record::Payload;

/// The `[source]` table of `type = "stdin"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StdinSourceConfig {
    /// `lines` (default) or `json`.
    #[serde(default)]
    format: Format,
    /// Longer lines are dead-lettered (default 1 MiB).
    #[serde(default = "super::default_max_line_length")]
    max_line_length: NonZeroUsize,
}

/// Reads standard input.
#[derive(Debug)]
pub(crate) struct StdinSource(LineReader<tokio::io::Stdin>);

impl SourceConnector for StdinSourceConfig {
    const TYPE: &'static str = "stdin";
    type Source = StdinSource;
    type Error = std::convert::Infallible;

    async fn open(&self, _context: &SourceContext) -> Result<StdinSource, Self::Error> {
        Ok(StdinSource(LineReader::new(
            tokio::io::stdin(),
            self.format,
            self.max_line_length.get(),
        )))
    }
}

impl OpenedSource for StdinSource {}

impl Source<Payload> for StdinSource {
    async fn next(&mut self) -> Option<SourceItem<Payload>> {
        self.0.next_item().await
    }
}
