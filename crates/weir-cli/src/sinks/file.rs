//! `type = "file"`: records appended to a file, one a line.

use std::io;

use serde::Deserialize;

use super::line_writer::LineWriter;
use crate::connector::SinkConnector;

/// The `[sink]` table of `type = "file"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileSinkConfig {
    /// The file; created if missing, appended to.
    path: String,
}

/// Appends to a file.
pub(crate) type FileSink = LineWriter<tokio::fs::File>;

/// The file could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open {path}: {source}")]
pub(crate) struct FileSinkError {
    path: String,
    #[source]
    source: io::Error,
}

impl SinkConnector for FileSinkConfig {
    const TYPE: &'static str = "file";
    type Sink = FileSink;
    type Error = FileSinkError;

    /// Opens the file for appending.
    async fn open(&self) -> Result<FileSink, FileSinkError> {
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await
            .map_err(|source| FileSinkError {
                path: self.path.clone(),
                source,
            })?;
        Ok(LineWriter::new(file))
    }
}
