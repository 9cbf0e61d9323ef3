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
//!
//! A record handed off to a spill link ([`Outcome::Spilled`]) is committed
//! like a finished one, but it is not finished yet. So a run that read all
//! of its input and nacked nothing saves its last checkpoint, at the end of
//! the input, and forgets its checkpoints only once the command says the
//! run finished every record ([`RunEnd`](crate::connector::RunEnd)): its
//! own, and those an earlier run left on a spill, which the source never
//! hears of. A crash before that resumes from the spill, not from the
//! start of the files.

use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use weir::ack::AckCallback;
use weir::Outcome;

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
        Box::new(move |outcome| progress.finish(ticket, outcome))
    }

    /// A record's acknowledgement: committed unless it was nacked.
    pub(super) fn finish(&self, ticket: Ticket, outcome: &Outcome) {
        let mut state = self.state.lock();
        state.outstanding -= 1;
        if outcome.is_final() {
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

    /// Whether the checkpoints are to be forgotten if the run finishes
    /// every record: all input was read and nothing nacked.
    fn read_all(&self) -> bool {
        let state = self.state.lock();
        state.exhausted && !state.nacked
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
/// emitted is acknowledged; then ends. If the source read all of its input
/// and nothing was nacked, it then waits for `run_finished`, and forgets the
/// checkpoints if the run finished every record (records handed off to a
/// spill, this run's or an earlier one's, finish only when they leave it).
pub(super) fn spawn_writer(
    progress: Arc<Progress>,
    checkpoints: Checkpoints,
    interval: Duration,
    run_finished: impl Future<Output = bool> + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut failing = false;
        loop {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = progress.wake.notified() => {}
            }
            let (write, done) = progress.next_write();
            failing = perform_reporting(write, &checkpoints, failing).await;
            if done {
                if progress.read_all() && run_finished.await {
                    perform_reporting(Write::Forget, &checkpoints, failing).await;
                }
                return;
            }
        }
    })
}

/// Performs `write` off the runtime's threads; says the first of a run of
/// failures (`failing`: the last write failed). Whether this one failed.
async fn perform_reporting(write: Write, checkpoints: &Checkpoints, failing: bool) -> bool {
    let target = checkpoints.clone();
    let result = tokio::task::spawn_blocking(move || perform(write, &target))
        .await
        .unwrap_or_else(|panic| Err(std::io::Error::other(panic.to_string())));
    match result {
        Err(error) if !failing => {
            eprintln!(
                "weir: cannot write the checkpoint {}: {error} (the run goes on; a crash now \
                 would read more again)",
                checkpoints.path().display()
            );
            true
        }
        Err(_) => true,
        Ok(()) => false,
    }
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
        progress.finish(tickets[1], &Outcome::Delivered);
        assert_eq!(
            committed(&progress, slot),
            (0, 0),
            "the first is not finished"
        );
        progress.finish(tickets[0], &Outcome::Delivered);
        assert_eq!(committed(&progress, slot), (20, 2));
        progress.skip(slot, 45, 5);
        progress.finish(tickets[3], &Outcome::Delivered);
        assert_eq!(committed(&progress, slot), (20, 2));
        progress.finish(tickets[2], &Outcome::Delivered);
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
        progress.finish(second, &Outcome::Delivered);
        progress.finish(first, &Outcome::Nacked);
        assert_eq!(committed(&progress, slot), (0, 0));
        progress.close(true);
        let (write, done) = progress.next_write();
        assert!(done);
        assert!(
            matches!(write, Write::Save(..)),
            "not forgotten after a nack"
        );
        assert!(!progress.read_all(), "nor later");
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
    fn a_batch_read_to_its_end_saves_its_last_checkpoint_and_waits_for_the_run() {
        let spilled = Outcome::Spilled {
            stage: "slow".into(),
        };
        for outcome in [Outcome::Delivered, spilled] {
            let (progress, slot, _dir) = progress_with_a_file();
            let first = progress.emit(slot, 10, 1);
            let second = progress.emit(slot, 20, 2);
            progress.close(true);
            progress.finish(first, &Outcome::Delivered);
            assert!(!progress.next_write().1, "a record is outstanding");
            // A record handed off to a spill is committed, not finished.
            progress.finish(second, &outcome);
            assert_eq!(committed(&progress, slot), (20, 2), "{outcome}");
            let (write, done) = progress.next_write();
            assert!(done);
            let Write::Save(entries, _) = write else {
                panic!("saved, not forgotten: {outcome}");
            };
            assert_eq!(entries[0].offset, 20, "at the end of the input");
            assert!(progress.read_all(), "forgotten if the run finishes");
        }
    }

    /// Runs the writer of `progress` into `dir` until it has saved its
    /// last checkpoint and waits; tells it the run ended (`finished` or
    /// not) and lets it end. Returns the checkpoint file.
    fn writer_told(progress: &Arc<Progress>, dir: &std::path::Path, finished: bool) -> PathBuf {
        let checkpoints = Checkpoints::in_dir(dir);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let end = crate::connector::RunEnd::default();
            let writer = spawn_writer(
                progress.clone(),
                checkpoints.clone(),
                Duration::from_millis(1),
                end.finished(),
            );
            let saved = async {
                while !checkpoints.path().exists() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            };
            tokio::time::timeout(Duration::from_secs(10), saved)
                .await
                .expect("the last checkpoint is saved");
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(!writer.is_finished(), "waiting for the run's end");
            end.tell(finished);
            writer.await.unwrap();
        });
        checkpoints.path().to_owned()
    }

    #[test]
    fn the_writer_forgets_only_once_the_run_finished_every_record() {
        for finished in [true, false] {
            let (progress, slot, dir) = progress_with_a_file();
            let ticket = progress.emit(slot, 10, 1);
            let spilled = Outcome::Spilled {
                stage: "slow".into(),
            };
            progress.finish(ticket, &spilled);
            progress.close(true);
            let path = writer_told(&progress, dir.path(), finished);
            assert_eq!(path.exists(), !finished, "run finished: {finished}");
        }
    }
}
