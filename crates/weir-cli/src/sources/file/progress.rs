//! Which records of each file are finished, and the task that writes the
//! checkpoints that follow them.
//!
//! The reader registers every record with the offset just past it
//! ([`Progress::emit`]); the record's acknowledgement marks it finished
//! ([`Progress::finish`]). Per file, the committed offset is the end of the
//! longest run of finished records from where the file was started: a
//! record finished out of order waits for the ones before it, and a nacked
//! record holds the offset back for the rest of the run (it is read again
//! by the next one). The checkpoint never follows the reader, only the
//! acknowledgements.

use std::collections::VecDeque;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use weir::ack::AckCallback;

use super::checkpoints::{Checkpoints, FileCheckpoint};
use super::identity::{Fingerprint, Inode};

/// A file as the progress knows it; an index into its list.
pub(super) type Slot = usize;

/// One file's progress.
#[derive(Debug)]
struct FileProgress {
    path: PathBuf,
    inode: Inode,
    /// Kept open to fingerprint the file when writing its checkpoint.
    file: Arc<File>,
    /// The offset and line number after the longest finished prefix.
    committed: (u64, u64),
    /// Records read and not committed yet, oldest first: the offset and
    /// line number after each, and whether it finished.
    pending: VecDeque<(u64, u64, bool)>,
    /// The sequence number of `pending`'s front.
    head: u64,
    /// Superseded (rotated away, truncated): dropped from the checkpoints
    /// once nothing of it is pending.
    retired: bool,
}

#[derive(Debug, Default)]
struct State {
    files: Vec<FileProgress>,
    /// Checkpoints of an earlier run not matched to an open file yet: kept
    /// in every write until their file is opened.
    carried: Vec<FileCheckpoint>,
    /// Records emitted and not yet acknowledged.
    outstanding: u64,
    /// The source is gone: no more records will be emitted.
    closed: bool,
    /// The source read all of its input to the end.
    exhausted: bool,
    /// Some record was nacked: its file must be read again from it.
    nacked: bool,
    /// Something changed since the last write.
    dirty: bool,
}

/// The progress of every file a source reads; see the module docs.
#[derive(Debug, Default)]
pub(super) struct Progress {
    state: Mutex<State>,
    /// Asks the writer to write now (a file ended, the source closed).
    wake: Notify,
}

/// A record registered with [`Progress::emit`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Ticket {
    slot: Slot,
    seq: u64,
}

impl Progress {
    /// A progress that carries an earlier run's checkpoints until their
    /// files are opened.
    pub(super) fn resuming(carried: Vec<FileCheckpoint>) -> Progress {
        Progress {
            state: Mutex::new(State {
                carried,
                ..State::default()
            }),
            wake: Notify::new(),
        }
    }

    /// Takes the first carried checkpoint that `matches`.
    pub(super) fn take_checkpoint(
        &self,
        matches: impl Fn(&FileCheckpoint) -> bool,
    ) -> Option<FileCheckpoint> {
        let mut state = self.state.lock();
        let index = state.carried.iter().position(matches)?;
        Some(state.carried.remove(index))
    }

    /// Starts following a file opened at `offset`, line `line`.
    pub(super) fn add_file(
        &self,
        path: PathBuf,
        inode: Inode,
        file: Arc<File>,
        offset: u64,
        line: u64,
    ) -> Slot {
        let mut state = self.state.lock();
        state.dirty = true;
        state.files.push(FileProgress {
            path,
            inode,
            file,
            committed: (offset, line),
            pending: VecDeque::new(),
            head: 0,
            retired: false,
        });
        state.files.len() - 1
    }

    /// Registers a record ending at `end` (line `line`), not finished yet.
    pub(super) fn emit(&self, slot: Slot, end: u64, line: u64) -> Ticket {
        let mut state = self.state.lock();
        state.outstanding += 1;
        let file = &mut state.files[slot];
        let seq = file.head + file.pending.len() as u64;
        file.pending.push_back((end, line, false));
        Ticket { slot, seq }
    }

    /// Input up to `end` that holds no record (a blank line): finished as
    /// soon as everything before it is.
    pub(super) fn skip(&self, slot: Slot, end: u64, line: u64) {
        let mut state = self.state.lock();
        let file = &mut state.files[slot];
        file.pending.push_back((end, line, true));
        Self::advance(&mut state, slot);
    }

    /// The callback that tells this progress a record's outcome.
    pub(super) fn callback(self: &Arc<Self>, ticket: Ticket) -> AckCallback {
        let progress = self.clone();
        Box::new(move |outcome| progress.finish(ticket, outcome.is_final()))
    }

    /// A record's acknowledgement: `committed` unless it was nacked.
    pub(super) fn finish(&self, ticket: Ticket, committed: bool) {
        let mut state = self.state.lock();
        state.outstanding -= 1;
        if committed {
            let file = &mut state.files[ticket.slot];
            if let Some(entry) = file.pending.get_mut((ticket.seq - file.head) as usize) {
                entry.2 = true;
            }
            Self::advance(&mut state, ticket.slot);
        } else {
            state.nacked = true;
        }
        if state.closed && state.outstanding == 0 {
            self.wake.notify_one();
        }
    }

    fn advance(state: &mut State, slot: Slot) {
        let file = &mut state.files[slot];
        let mut moved = false;
        while let Some(&(end, line, true)) = file.pending.front() {
            file.committed = (end, line);
            file.pending.pop_front();
            file.head += 1;
            moved = true;
        }
        state.dirty |= moved;
    }

    /// The reader reached the end of a file: write its checkpoint soon.
    pub(super) fn file_ended(&self) {
        self.wake.notify_one();
    }

    /// The file is superseded: forget it once nothing of it is pending.
    pub(super) fn retire(&self, slot: Slot) {
        let mut state = self.state.lock();
        state.files[slot].retired = true;
        state.dirty = true;
    }

    /// The source is gone; `exhausted` if it read all of its input.
    pub(super) fn close(&self, exhausted: bool) {
        let mut state = self.state.lock();
        state.closed = true;
        state.exhausted = exhausted;
        drop(state);
        self.wake.notify_one();
    }

    /// What to write now, if anything.
    fn next_write(&self) -> (Write, bool) {
        let mut state = self.state.lock();
        let done = state.closed && state.outstanding == 0;
        if done && state.exhausted && !state.nacked {
            return (Write::Forget, true);
        }
        if !std::mem::take(&mut state.dirty) {
            return (Write::Nothing, done);
        }
        let files = state
            .files
            .iter()
            .filter(|file| !(file.retired && file.pending.is_empty()))
            .map(|file| Entry {
                path: file.path.clone(),
                inode: file.inode,
                file: file.file.clone(),
                offset: file.committed.0,
                line: file.committed.1,
            })
            .collect();
        (Write::Save(files, state.carried.clone()), done)
    }
}

/// A file's entry, before its fingerprint is taken.
struct Entry {
    path: PathBuf,
    inode: Inode,
    file: Arc<File>,
    offset: u64,
    line: u64,
}

enum Write {
    Nothing,
    Save(Vec<Entry>, Vec<FileCheckpoint>),
    Forget,
}

fn perform(write: Write, checkpoints: &Checkpoints) -> std::io::Result<()> {
    match write {
        Write::Nothing => Ok(()),
        Write::Forget => checkpoints.forget(),
        Write::Save(entries, carried) => {
            let mut files: Vec<FileCheckpoint> = entries
                .into_iter()
                .map(|entry| {
                    Ok(FileCheckpoint {
                        fingerprint: Fingerprint::of(&entry.file, entry.offset)?,
                        path: entry.path,
                        inode: entry.inode,
                        offset: entry.offset,
                        line: entry.line,
                    })
                })
                .collect::<std::io::Result<_>>()?;
            files.extend(carried);
            checkpoints.save(files)
        }
    }
}

/// Writes the checkpoints every `interval` while something changed, when
/// a file ends, and once more when the source is gone and every record it
/// emitted is acknowledged; then ends. A run that read all of its input and
/// nacked nothing forgets its checkpoints instead.
pub(super) fn spawn_writer(
    progress: Arc<Progress>,
    checkpoints: Checkpoints,
    interval: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut failing = false;
        loop {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = progress.wake.notified() => {}
            }
            let (write, done) = progress.next_write();
            let target = checkpoints.clone();
            let result = tokio::task::spawn_blocking(move || perform(write, &target))
                .await
                .unwrap_or_else(|panic| Err(std::io::Error::other(panic.to_string())));
            match result {
                Err(error) if !failing => {
                    failing = true;
                    eprintln!(
                        "weir: cannot write the checkpoint {}: {error} (the run goes on; a crash \
                         now would read more again)",
                        checkpoints.path().display()
                    );
                }
                Err(_) => {}
                Ok(()) => failing = false,
            }
            if done {
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress_with_a_file() -> (Arc<Progress>, Slot, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in");
        std::fs::write(&path, b"").unwrap();
        let file = Arc::new(File::open(&path).unwrap());
        let progress = Arc::new(Progress::default());
        let inode = Inode::of(&file).unwrap();
        let slot = progress.add_file(path, inode, file, 0, 0);
        (progress, slot, dir)
    }

    fn committed(progress: &Progress, slot: Slot) -> (u64, u64) {
        progress.state.lock().files[slot].committed
    }

    #[test]
    fn the_offset_follows_the_longest_finished_prefix() {
        let (progress, slot, _dir) = progress_with_a_file();
        let tickets: Vec<_> = (1..=4).map(|n| progress.emit(slot, n * 10, n)).collect();
        progress.finish(tickets[1], true);
        assert_eq!(
            committed(&progress, slot),
            (0, 0),
            "the first is not finished"
        );
        progress.finish(tickets[0], true);
        assert_eq!(committed(&progress, slot), (20, 2));
        progress.skip(slot, 45, 5);
        progress.finish(tickets[3], true);
        assert_eq!(committed(&progress, slot), (20, 2));
        progress.finish(tickets[2], true);
        assert_eq!(
            committed(&progress, slot),
            (45, 5),
            "through the blank line"
        );
    }

    #[test]
    fn a_nacked_record_holds_the_offset_back_and_the_checkpoint_is_kept() {
        let (progress, slot, _dir) = progress_with_a_file();
        let first = progress.emit(slot, 10, 1);
        let second = progress.emit(slot, 20, 2);
        progress.finish(second, true);
        progress.finish(first, false);
        assert_eq!(committed(&progress, slot), (0, 0));
        progress.close(true);
        let (write, done) = progress.next_write();
        assert!(done);
        assert!(
            matches!(write, Write::Save(..)),
            "not forgotten after a nack"
        );
    }

    #[test]
    fn checkpoints_of_files_not_opened_yet_are_kept_in_every_write() {
        let earlier = FileCheckpoint {
            path: "b.log".into(),
            inode: Inode { dev: 1, ino: 2 },
            fingerprint: Fingerprint { len: 0, crc32: 0 },
            offset: 40,
            line: 4,
        };
        let progress = Progress::resuming(vec![earlier.clone()]);
        progress.state.lock().dirty = true;
        let Write::Save(_, carried) = progress.next_write().0 else {
            panic!("a write");
        };
        assert_eq!(carried, std::slice::from_ref(&earlier));
        assert_eq!(progress.take_checkpoint(|cp| cp.line == 4), Some(earlier));
        progress.state.lock().dirty = true;
        let Write::Save(_, carried) = progress.next_write().0 else {
            panic!("a write");
        };
        assert!(carried.is_empty(), "taken by its file");
    }

    #[test]
    fn a_finished_batch_forgets_its_checkpoints() {
        let (progress, slot, _dir) = progress_with_a_file();
        let ticket = progress.emit(slot, 10, 1);
        progress.close(true);
        assert!(!progress.next_write().1, "a record is outstanding");
        progress.finish(ticket, true);
        assert!(matches!(progress.next_write(), (Write::Forget, true)));
    }
}
