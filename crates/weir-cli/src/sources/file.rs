//! `type = "file"`: records from files, one a line, read one file after
//! the other (a glob's matches in sorted order).

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use serde::Deserialize;
use weir::io::{Source, SourceItem};

use super::format::{invalid, Format};
use super::line_reader::LineReader;
use crate::config::Text;
use crate::record::Payload;

/// The `[source]` table of `type = "file"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// A path or a glob (`logs/*.jsonl`).
    pub path: Text,
    /// `lines` (default) or `json`.
    #[serde(default)]
    pub format: Format,
    /// Longer lines are dead-lettered (default 1 MiB).
    #[serde(default = "super::default_max_line_length")]
    pub max_line_length: NonZeroUsize,
}

/// Reads the files matching a glob.
#[derive(Debug)]
pub struct FileSource {
    pending: VecDeque<PathBuf>,
    current: Option<LineReader<tokio::fs::File>>,
    config: FileSourceConfig,
}

impl FileSource {
    /// Finds the files; an error if the glob is malformed or matches none.
    pub fn new(config: &FileSourceConfig) -> Result<Self, String> {
        let paths = glob::glob(&config.path)
            .map_err(|error| format!("bad glob {:?}: {error}", config.path.0))?;
        let mut pending: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
        if pending.is_empty() {
            return Err(format!("no file matches {:?}", config.path.0));
        }
        pending.sort();
        Ok(FileSource {
            pending: pending.into(),
            current: None,
            config: config.clone(),
        })
    }
}

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
