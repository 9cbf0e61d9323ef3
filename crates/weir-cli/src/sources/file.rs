//! `type = "file"`: records from files, one a line, read one file after
//! the other (a glob's matches in sorted order).

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use serde::Deserialize;
use weir::io::{Source, SourceItem};

use super::format::{invalid, Format};
use super::line_reader::LineReader;
use crate::connector::{OpenedSource, SourceConnector};
use crate::record::Payload;

/// The `[source]` table of `type = "file"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileSourceConfig {
    /// A path or a glob (`logs/*.jsonl`).
    path: String,
    /// `lines` (default) or `json`.
    #[serde(default)]
    format: Format,
    /// Longer lines are dead-lettered (default 1 MiB).
    #[serde(default = "super::default_max_line_length")]
    max_line_length: NonZeroUsize,
}

/// Reads the files matching a glob.
#[derive(Debug)]
pub(crate) struct FileSource {
    pending: VecDeque<PathBuf>,
    current: Option<LineReader<tokio::fs::File>>,
    config: FileSourceConfig,
}

/// Why the file source cannot start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FileSourceError {
    /// The pattern is not a glob.
    #[error("bad glob {pattern:?}: {source}")]
    BadGlob {
        /// The `path`.
        pattern: String,
        /// Why.
        #[source]
        source: glob::PatternError,
    },
    /// Nothing matches.
    #[error("no file matches {pattern:?}")]
    NoMatch {
        /// The `path`.
        pattern: String,
    },
}

impl SourceConnector for FileSourceConfig {
    const TYPE: &'static str = "file";
    type Source = FileSource;
    type Error = FileSourceError;

    /// Finds the files; an error if the glob is malformed or matches none.
    async fn open(&self) -> Result<FileSource, FileSourceError> {
        let pattern = &self.path;
        let paths = glob::glob(pattern).map_err(|source| FileSourceError::BadGlob {
            pattern: pattern.clone(),
            source,
        })?;
        let mut pending: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
        if pending.is_empty() {
            return Err(FileSourceError::NoMatch {
                pattern: pattern.clone(),
            });
        }
        pending.sort();
        Ok(FileSource {
            pending: pending.into(),
            current: None,
            config: self.clone(),
        })
    }
}

impl OpenedSource for FileSource {}

impl Source<Payload> for FileSource {
    async fn next(&mut self) -> Option<SourceItem<Payload>> {
        loop {
            if let Some(reader) = &mut self.current {
                match reader.next_item().await {
                    Some(item) => return Some(item),
                    None => self.current = None,
                }
            }
            let path = self.pending.front()?.clone();
            // Opening is cancel-safe: the path stays queued until it is open.
            match tokio::fs::File::open(&path).await {
                Ok(file) => {
                    self.pending.pop_front();
                    self.current = Some(LineReader::new(
                        file,
                        self.config.format,
                        self.config.max_line_length.get(),
                    ));
                }
                Err(error) => {
                    self.pending.pop_front();
                    let reason = format!("cannot open {}: {error}", path.display());
                    return Some(invalid(Default::default(), reason));
                }
            }
        }
    }
}
