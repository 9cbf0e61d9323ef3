//! `type = "file"`: records appended to a file, one a line.

use serde::Deserialize;

use super::line_writer::LineWriter;
use crate::config::Text;

/// The `[sink]` table of `type = "file"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    /// The file; created if missing, appended to.
    pub path: Text,
}

/// Appends to a file.
pub type FileSink = LineWriter<tokio::fs::File>;

/// Opens the file for appending.
pub async fn open(config: &FileSinkConfig) -> Result<FileSink, String> {
    let file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&config.path.0)
        .await
        .map_err(|error| format!("cannot open {}: {error}", config.path))?;
    Ok(LineWriter::new(file))
}
