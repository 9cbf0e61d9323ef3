//! `type = "file"`: records appended to a file, one a line.
//!
//! A run killed in the middle of a write (SIGKILL, a crash) can leave the
//! file ending in part of a line. That record was not acknowledged (its
//! write did not finish, so neither did its flush), and comes again from a
//! durable source; the next run starts on a new line, so the fragment
//! stands alone instead of spoiling the first record it appends.

use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::path::Path;

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

    /// Opens the file for appending, on a new line.
    async fn open(&self) -> Result<FileSink, FileSinkError> {
        let error = |source| FileSinkError {
            path: self.path.clone(),
            source,
        };
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await
            .map_err(error)?;
        let path = self.path.clone();
        // A file this run may write but not read (mode 0200) is appended
        // to as it is.
        let cut = tokio::task::spawn_blocking(move || ends_in_part_of_a_line(Path::new(&path)))
            .await
            .is_ok_and(|cut| cut.unwrap_or(false));
        if cut {
            tracing::warn!(
                path = %self.path,
                "file sink: the file ends in part of a line (a write cut short by a crash?); \
                 starting on a new line"
            );
            tokio::io::AsyncWriteExt::write_all(&mut file, b"\n")
                .await
                .map_err(error)?;
        }
        Ok(LineWriter::new(file))
    }
}

/// Whether `path` is a non-empty regular file whose last byte is not a
/// newline.
fn ends_in_part_of_a_line(path: &Path) -> io::Result<bool> {
    let mut file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() || meta.len() == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir::io::Sink as _;

    async fn append(path: &Path, line: &str) {
        let config = FileSinkConfig {
            path: path.display().to_string(),
        };
        let mut sink = config.open().await.unwrap();
        sink.write(&crate::record::payload(serde_json::json!(line)))
            .await
            .unwrap();
        sink.flush().await.unwrap();
    }

    #[tokio::test]
    async fn a_torn_last_line_is_left_alone_and_the_next_run_starts_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        std::fs::write(&path, "{\"n\":1}\n{\"n\":2").unwrap();
        append(&path, "{\"n\":3}").await;
        append(&path, "{\"n\":4}").await;
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\"n\":1}\n{\"n\":2\n{\"n\":3}\n{\"n\":4}\n");
    }
}
