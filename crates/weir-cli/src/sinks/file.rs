//! `type = "file"`: records appended to a file, one a line.
//!
//! A run killed in the middle of a write (SIGKILL, a crash) can leave the
//! file ending in part of a line. That record was not acknowledged (its
//! write did not finish, so neither did its flush), and comes again from a
//! durable source; the next run starts on a new line, so the fragment
//! stands alone instead of spoiling the first record it appends.
//!
//! The file is written with plain blocking `write` calls from the sink's
//! task, not through `tokio::fs` (see [`AppendFile`]).

use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

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
pub(crate) type FileSink = LineWriter<AppendFile>;

/// A file opened for appending: a regular file written by blocking
/// `write` calls made right in the task that polls it; anything else (a
/// named pipe, a terminal, a device) through `tokio::fs`.
///
/// `tokio::fs::File` hands every write to the blocking thread pool and
/// wakes the task again when it is done. The sink flushes whenever its
/// input is momentarily empty, which on a file → file run is every few
/// records (55k flushes of about 2.5 KB for 1M lines): two thread
/// switches each. Measured (1M lines of ~138 bytes, `weir run` file →
/// file, no stage, 2 cores): 2.08 s with `tokio::fs::File` (1.25 s of it
/// system time), 1.41 s with blocking writes (0.43 s). A write to a
/// regular file on a local disk lands in the page cache and returns in
/// microseconds; what it can block on (the kernel throttling a writer of
/// too many dirty pages) the sink would wait for anyway, and the
/// runtime's other worker goes on with the other tasks meanwhile. On a
/// network or FUSE file system a write can block for as long as the
/// server is away, holding one of the runtime's threads: point the sink
/// at a local disk. A pipe's reader, or a paused terminal, may not read
/// for minutes: those keep the thread pool.
#[derive(Debug)]
pub(crate) enum AppendFile {
    /// Written in place.
    Blocking(std::fs::File),
    /// Written on the blocking thread pool.
    Pooled(tokio::fs::File),
}

impl tokio::io::AsyncWrite for AppendFile {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            AppendFile::Blocking(file) => loop {
                match file.write(buf) {
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                    written => return Poll::Ready(written),
                }
            },
            AppendFile::Pooled(file) => Pin::new(file).poll_write(cx, buf),
        }
    }

    /// A `std::fs::File` keeps no buffer of its own: nothing to flush
    /// (the line writer's buffer is written by `poll_write`).
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            AppendFile::Blocking(_) => Poll::Ready(Ok(())),
            AppendFile::Pooled(file) => Pin::new(file).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            AppendFile::Blocking(_) => Poll::Ready(Ok(())),
            AppendFile::Pooled(file) => Pin::new(file).poll_shutdown(cx),
        }
    }
}

impl AppendFile {
    /// Writes to `file` in place if it is a regular file.
    async fn new(file: tokio::fs::File) -> io::Result<AppendFile> {
        Ok(if file.metadata().await?.file_type().is_file() {
            AppendFile::Blocking(file.into_std().await)
        } else {
            AppendFile::Pooled(file)
        })
    }
}

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
        let file = open_append(Path::new(&self.path))
            .await
            .map_err(|source| FileSinkError {
                path: self.path.clone(),
                source,
            })?;
        Ok(LineWriter::new(file))
    }
}

/// Opens `path` for appending (created if missing), on a new line: if a
/// write was cut short there (the file ends in part of a line), a newline
/// is written and flushed first, so that the fragment stands alone. Used
/// by the file sink and the dead-letter file.
pub(crate) async fn open_append(path: &Path) -> io::Result<AppendFile> {
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await?;
    let owned = path.to_owned();
    // A file this run may write but not read (mode 0200) is appended to
    // as it is.
    let cut = tokio::task::spawn_blocking(move || ends_in_part_of_a_line(&owned))
        .await
        .is_ok_and(|cut| cut.unwrap_or(false));
    if cut {
        tracing::warn!(
            path = %path.display(),
            "the file ends in part of a line (a write cut short by a crash?); \
             starting on a new line"
        );
        tokio::io::AsyncWriteExt::write_all(&mut file, b"\n").await?;
        // `tokio::fs::File` reports a failed write at the next flush.
        tokio::io::AsyncWriteExt::flush(&mut file).await?;
    }
    AppendFile::new(file).await
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_regular_file_is_written_in_place_a_named_pipe_on_the_thread_pool() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out.jsonl");
        let config = FileSinkConfig {
            path: file.display().to_string(),
        };
        let sink = config.open().await.unwrap();
        assert!(matches!(sink.get_ref(), AppendFile::Blocking(_)));

        let pipe = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&pipe).status();
        assert!(made.unwrap().success());
        let reading = pipe.clone();
        let reader = std::thread::spawn(move || std::fs::read_to_string(reading));
        let config = FileSinkConfig {
            path: pipe.display().to_string(),
        };
        // Opening a pipe waits for its reader: not forever.
        let opened = tokio::time::timeout(std::time::Duration::from_secs(30), config.open());
        let mut sink = opened.await.expect("the pipe opened").unwrap();
        assert!(matches!(sink.get_ref(), AppendFile::Pooled(_)));
        sink.write(&crate::record::payload(serde_json::json!(
            "through the pipe"
        )))
        .await
        .unwrap();
        sink.flush().await.unwrap();
        drop(sink);
        assert_eq!(reader.join().unwrap().unwrap(), "through the pipe\n");
    }
}
