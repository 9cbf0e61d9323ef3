//! `type = "file"`: records from files, one a line, read one file after the
//! other (a glob's matches in sorted order), with checkpoints that follow
//! the acknowledgements so an interrupted run resumes where its finished
//! records end; `follow = true` reads like `tail -F`.
//!
//! **The guarantee: at least once.** Each file's checkpoint (in the data
//! directory, `checkpoints/file.json`) is the offset after its longest run
//! of finished records (delivered, filtered, dead-lettered once the
//! dead-letter output flushed, dropped by a policy); a nacked record holds
//! it back. It is written every `checkpoint_interval`, at each file's end
//! and at shutdown. After a `kill -9`, a new run reads again at most what
//! finished since the last write plus what was in flight; after a drain
//! (SIGTERM), nothing. A run that reads all of its input and finishes
//! every record (none nacked, no error) forgets its checkpoints at its end,
//! so a batch pipeline run again reads its files again. With a spill link
//! (`when_full = "spill"`), a record synced to the spill counts as finished
//! for the checkpoint but not for the run: until the run ends, the
//! checkpoint stays at the end of the files, and a crash while the spill
//! holds records (this run's or an earlier one's) resumes from the spill,
//! not from the start of the files.
//!
//! **Which file is which.** A file is known by its device, inode and the
//! CRC32 of its first bytes, not by its name: a rotated file (renamed) is
//! still found; a file replaced, truncated below its checkpoint or whose
//! inode was reused is read from its start, with a warning naming it.
//!
//! Submodules: `identity` (inode and fingerprint), `checkpoints` (the file
//! on disk), `progress` (finished prefixes and the writer task), `tail`
//! (reading one file with offsets).

mod checkpoints;
mod identity;
mod progress;
mod tail;

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use tokio::task::JoinHandle;
use weir::io::{Source, SourceItem};

use self::checkpoints::{CheckpointError, Checkpoints};
use self::identity::Inode;
use self::progress::{spawn_writer, Progress};
use self::tail::{Read, Tail};
use super::format::{invalid, Format};
use crate::config::{ByteSize, HumanDuration};
use crate::connector::{OpenedSource, SourceConnector, SourceContext};
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
    /// Wait for appended lines and new files, like `tail -F`; ends only on
    /// a signal.
    #[serde(default)]
    follow: bool,
    /// Keep checkpoints in the data directory (default true).
    #[serde(default = "yes")]
    checkpoints: bool,
    /// How often the checkpoints are written, at most (default 1s).
    #[serde(default = "one_second")]
    checkpoint_interval: HumanDuration,
    /// Follow mode: how often to look for new lines and files (default
    /// 250ms).
    #[serde(default = "quarter_second")]
    poll_interval: HumanDuration,
}

fn yes() -> bool {
    true
}

fn one_second() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(1))
}

fn quarter_second() -> HumanDuration {
    HumanDuration(std::time::Duration::from_millis(250))
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
    /// The checkpoints cannot be read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The checkpoint directory cannot be created.
    #[error("cannot create the checkpoint directory in {}: {source}", .dir.display())]
    StateDir {
        /// The data directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Reads the files matching a glob; see the module docs.
#[derive(Debug)]
pub(crate) struct FileSource {
    config: FileSourceConfig,
    /// Files found and not opened yet (batch mode: in order).
    waiting: VecDeque<PathBuf>,
    /// Open files. Batch mode reads the first to its end; follow mode goes
    /// round them.
    tails: Vec<Tail>,
    /// Follow mode: the tail to try first.
    cursor: usize,
    /// Where each record's acknowledgement goes, when checkpoints are kept.
    progress: Option<Arc<Progress>>,
    writer: Option<JoinHandle<()>>,
    /// The file and end offset of the record `next` returned last, for
    /// [`Source::take_origin`].
    origin: Option<(Arc<str>, u64)>,
    exhausted: bool,
    quiet: bool,
}

impl FileSourceConfig {
    fn matches(&self) -> Result<Vec<PathBuf>, FileSourceError> {
        let paths = glob::glob(&self.path).map_err(|source| FileSourceError::BadGlob {
            pattern: self.path.clone(),
            source,
        })?;
        let mut found: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
        found.sort();
        Ok(found)
    }
}

impl SourceConnector for FileSourceConfig {
    const TYPE: &'static str = "file";
    type Source = FileSource;
    type Error = FileSourceError;

    fn keeps_state(&self) -> bool {
        self.checkpoints
    }

    /// Finds the files and reads the checkpoints; an error if the glob is
    /// malformed, matches nothing (unless following), or the checkpoints
    /// are damaged.
    async fn open(&self, context: &SourceContext) -> Result<FileSource, FileSourceError> {
        let found = self.matches()?;
        if found.is_empty() && !self.follow {
            return Err(FileSourceError::NoMatch {
                pattern: self.path.clone(),
            });
        }
        let (progress, writer) = match (&context.data_dir, self.checkpoints) {
            (Some(data_dir), true) => {
                let dir =
                    data_dir
                        .subdir("checkpoints")
                        .map_err(|source| FileSourceError::StateDir {
                            dir: data_dir.path().to_owned(),
                            source,
                        })?;
                let checkpoints = Checkpoints::in_dir(&dir);
                let resume = if context.from_start {
                    Vec::new()
                } else {
                    checkpoints.load()?
                };
                let progress = Arc::new(Progress::resuming(resume));
                let writer = spawn_writer(
                    progress.clone(),
                    checkpoints,
                    self.checkpoint_interval.0,
                    context.run_end.finished(),
                );
                (Some(progress), Some(writer))
            }
            _ => (None, None),
        };
        if found.is_empty() {
            eprintln!("weir: no file matches {:?} yet; waiting for one", self.path);
        }
        Ok(FileSource {
            config: self.clone(),
            waiting: found.into(),
            tails: Vec::new(),
            cursor: 0,
            progress,
            writer,
            origin: None,
            exhausted: false,
            quiet: context.quiet,
        })
    }
}

impl OpenedSource for FileSource {
    /// The checkpoint writer: it writes the last checkpoint once every
    /// record is acknowledged.
    fn take_lingering(&mut self) -> Option<JoinHandle<()>> {
        self.writer.take()
    }
}

impl Drop for FileSource {
    fn drop(&mut self) {
        if let Some(progress) = &self.progress {
            progress.close(self.exhausted);
        }
    }
}

impl FileSource {
    /// Where to start reading `file`, found at `path`: its checkpoint if it
    /// is the file checkpointed, else its start (with a warning when a
    /// checkpoint says data is being read again).
    fn start_of(&self, path: &Path, file: &std::fs::File) -> std::io::Result<(u64, u64)> {
        let Some(progress) = &self.progress else {
            return Ok((0, 0));
        };
        let inode = Inode::of(file)?;
        let Some(checkpoint) = progress.take_checkpoint(|cp| cp.inode == inode) else {
            if let Some(checkpoint) = progress.take_checkpoint(|cp| cp.path == path) {
                eprintln!(
                    "warning: {} is not the file checkpointed at line {} (it was replaced or \
                     rotated): reading it from the start",
                    path.display(),
                    checkpoint.line
                );
            }
            return Ok((0, 0));
        };
        if !checkpoint.fingerprint.matches(file)? {
            eprintln!(
                "warning: {} has the inode of the checkpointed {} but not its first bytes (a new \
                 file): reading it from the start",
                path.display(),
                checkpoint.path.display()
            );
            return Ok((0, 0));
        }
        if file.metadata()?.len() < checkpoint.offset {
            eprintln!(
                "warning: {} was truncated below its checkpoint (line {}): reading it from the \
                 start",
                path.display(),
                checkpoint.line
            );
            return Ok((0, 0));
        }
        if !self.quiet && checkpoint.offset > 0 {
            eprintln!(
                "weir: resuming {} at line {} (byte {})",
                path.display(),
                checkpoint.line + 1,
                ByteSize(checkpoint.offset)
            );
        }
        Ok((checkpoint.offset, checkpoint.line))
    }

    /// Opens `path` and adds it to the tails; an unopenable file is an
    /// invalid item (seen in the dead letters).
    async fn open_file(&mut self, path: PathBuf) -> Option<SourceItem<Payload>> {
        let opened = std::fs::File::open(&path).and_then(|file| {
            let start = self.start_of(&path, &file)?;
            Ok((file, start))
        });
        let started = match opened {
            Ok((file, (offset, line))) => {
                let length = self.config.max_line_length.get();
                Tail::start(path.clone(), file, offset, line, length)
                    .await
                    .map(|tail| (tail, offset, line))
            }
            Err(error) => Err(error),
        };
        match started {
            Ok((mut tail, offset, line)) => {
                if let Some(progress) = &self.progress {
                    let handle = tail.handle.clone();
                    tail.slot = Some(progress.add_file(path, tail.inode, handle, offset, line));
                }
                self.tails.push(tail);
                None
            }
            Err(error) => Some(invalid(
                Default::default(),
                format!("cannot open {}: {error}", path.display()),
            )),
        }
    }

    /// The item for a line of the tail at `index`, with its acknowledgement
    /// wired to the progress; `None` for a line that holds no record.
    fn item(&mut self, index: usize, read: Read) -> Option<SourceItem<Payload>> {
        let slot = self.tails[index].slot;
        self.origin = Some((self.tails[index].name.clone(), read.end));
        let progress = self.progress.as_ref().zip(slot);
        let Some(mut item) = self.config.format.item(read.frame) else {
            if let Some((progress, slot)) = progress {
                progress.skip(slot, read.end, read.line);
            }
            return None;
        };
        if let Some((progress, slot)) = progress {
            let callback = progress.callback(progress.emit(slot, read.end, read.line));
            match &mut item {
                SourceItem::Record(emitted) => emitted.on_ack = Some(callback),
                SourceItem::Invalid { on_ack, .. } => *on_ack = Some(callback),
            }
        }
        Some(item)
    }

    /// A read error ends the file (its dead letter says why).
    fn read_error(&mut self, index: usize, error: std::io::Error) -> SourceItem<Payload> {
        let tail = self.tails.remove(index);
        invalid(
            Default::default(),
            format!("read error in {}: {error}", tail.path.display()),
        )
    }

    /// Batch mode: each file to its end, in order.
    async fn next_in_batch(&mut self) -> Option<SourceItem<Payload>> {
        loop {
            if !self.tails.is_empty() {
                match self.tails[0].next(true).await {
                    Ok(Some(read)) => match self.item(0, read) {
                        Some(item) => return Some(item),
                        None => continue,
                    },
                    Ok(None) => {
                        self.tails.remove(0);
                        if let Some(progress) = &self.progress {
                            progress.file_ended();
                        }
                    }
                    Err(error) => return Some(self.read_error(0, error)),
                }
            }
            let Some(path) = self.waiting.pop_front() else {
                self.exhausted = true;
                return None;
            };
            if let Some(item) = self.open_file(path).await {
                return Some(item);
            }
        }
    }

    /// Follow mode: round the open files; when none has a line, wait, look
    /// for rotations, truncations and new files, and go round again.
    async fn next_following(&mut self) -> Option<SourceItem<Payload>> {
        'round: loop {
            while let Some(path) = self.waiting.pop_front() {
                if let Some(item) = self.open_file(path).await {
                    return Some(item);
                }
            }
            let count = self.tails.len();
            for step in 0..count {
                let index = (self.cursor + step) % count;
                let last = self.tails[index].rotated;
                match self.tails[index].next(last).await {
                    Ok(Some(read)) => {
                        self.cursor = index;
                        match self.item(index, read) {
                            Some(item) => return Some(item),
                            None => continue 'round,
                        }
                    }
                    Ok(None) => {}
                    Err(error) => return Some(self.read_error(index, error)),
                }
            }
            if self.tails.iter().any(|tail| !tail.rotated) || self.tails.is_empty() {
                tokio::time::sleep(self.config.poll_interval.0).await;
            }
            self.look_around().await;
        }
    }

    /// Follow mode, all files idle: let go of rotated files read to their
    /// end, start truncated ones over, queue new files.
    async fn look_around(&mut self) {
        let mut index = 0;
        while index < self.tails.len() {
            let tail = &mut self.tails[index];
            if tail.rotated {
                // Read to its end (including an unterminated last line)
                // after the rotation was seen: let it go.
                if let (Some(progress), Some(slot)) = (&self.progress, tail.slot) {
                    progress.retire(slot);
                }
                self.tails.remove(index);
                continue;
            }
            if Inode::at(&tail.path) != Some(tail.inode) {
                tail.rotated = true;
            } else if tail.truncated().unwrap_or(false) {
                eprintln!(
                    "warning: {} was truncated (copy-truncate rotation?): reading it from the start",
                    tail.path.display()
                );
                let restarted = tail.restart().await;
                if let (Some(progress), Some(slot)) = (&self.progress, tail.slot) {
                    progress.retire(slot);
                    tail.slot = Some(progress.add_file(
                        tail.path.clone(),
                        tail.inode,
                        tail.handle.clone(),
                        0,
                        0,
                    ));
                }
                if let Err(error) = restarted {
                    eprintln!("warning: cannot reread {}: {error}", tail.path.display());
                    self.tails.remove(index);
                    continue;
                }
            }
            index += 1;
        }
        let Ok(found) = self.config.matches() else {
            return;
        };
        for path in found {
            let known = Inode::at(&path).is_some_and(|inode| {
                self.tails
                    .iter()
                    .any(|tail| tail.inode == inode && !tail.rotated)
            });
            if !known && !self.waiting.contains(&path) {
                if self.tails.iter().any(|tail| tail.path == path) && !self.quiet {
                    eprintln!(
                        "weir: {} is a new file (rotated or replaced): reading it from the start",
                        path.display()
                    );
                }
                self.waiting.push_back(path);
            }
        }
    }
}

impl Source<Payload> for FileSource {
    async fn next(&mut self) -> Option<SourceItem<Payload>> {
        if self.config.follow {
            self.next_following().await
        } else {
            self.next_in_batch().await
        }
    }

    /// `path:offset`, the offset just past the record's line: the same
    /// when the line is read again after a resume.
    fn take_origin(&mut self) -> Option<Arc<str>> {
        let (path, end) = self.origin.take()?;
        Some(super::origin::origin_at(&path, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_record_s_origin_is_its_file_and_the_offset_after_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.log");
        std::fs::write(&path, "a\n\nbb\n").unwrap();
        let config: FileSourceConfig = serde_json::from_value(serde_json::json!({
            "path": path.display().to_string(),
            "format": "json",
        }))
        .unwrap();
        let mut source = SourceConnector::open(&config, &SourceContext::default())
            .await
            .unwrap();
        let name = path.display();
        assert!(source.next().await.is_some());
        assert_eq!(source.take_origin().as_deref(), Some(&*format!("{name}:2")));
        assert_eq!(source.take_origin(), None, "taken once");
        // The blank line is skipped; the next record ends at byte 6.
        assert!(source.next().await.is_some());
        assert_eq!(source.take_origin().as_deref(), Some(&*format!("{name}:6")));
        assert!(source.next().await.is_none());
    }
}
