//! `type = "stdin"`: records from standard input, one a line.

use std::num::NonZeroUsize;

use serde::Deserialize;
use weir::io::{Source, SourceItem};

use super::format::Format;
use super::line_reader::LineReader;
use crate::record::Payload;

/// The `[source]` table of `type = "stdin"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinSourceConfig {
    /// `lines` (default) or `json`.
    #[serde(default)]
    pub format: Format,
    /// Longer lines are dead-lettered (default 1 MiB).
    #[serde(default = "super::default_max_line_length")]
    pub max_line_length: NonZeroUsize,
}

/// Reads standard input.
#[derive(Debug)]
pub struct StdinSource(LineReader<tokio::io::Stdin>);

impl StdinSource {
    /// A source reading this process's standard input.
    pub fn new(config: &StdinSourceConfig) -> Self {
        StdinSource(LineReader::new(
            tokio::io::stdin(),
            config.format,
            config.max_line_length.get(),
        ))
    }
}

impl Source<Payload> for StdinSource {
    async fn next(&mut self) -> Option<SourceItem<Payload>> {
        self.0.next_item().await
    }
}
