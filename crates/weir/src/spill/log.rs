//! The segmented log under a spill link: records appended to numbered
//! segment files, read back in order, and segments deleted once every
//! record in them finished. Synchronous; the link calls it under its lock.
//!
//! Files in the directory: `lock` (held with `flock` while the log is
//! open: the lock dies with the process, so a kill leaves nothing to
//! clean up), `ledger` (the sequence number through which every record
//! finished, with its checksum; replaced atomically), and
//! `<first seq, 20 digits>.seg`, the segments. Sequence numbers are `u64`
//! and never wrap.

use std::collections::{BTreeSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read as _, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::error::{at, SpillError};
use super::format::{self, Header, HEADER};

const LEDGER: &str = "ledger";
const LOCK: &str = "lock";

struct Segment {
    first_seq: u64,
    path: PathBuf,
    /// Bytes written to the file (readable).
    len: u64,
    /// The last record written to the file, if any is known.
    last_seq: Option<u64>,
}

/// Where the reader is.
struct Cursor {
    segment: u64,
    offset: u64,
    file: Option<BufReader<File>>,
}

/// What [`SpillLog::read_next`] found.
pub(crate) enum Next {
    Record {
        seq: u64,
        books: u32,
        origin: Option<String>,
        payload: Vec<u8>,
    },
    /// Bytes that are not a record (a bad checksum, or a record cut short),
    /// skipped.
    Corrupt {
        file: PathBuf,
        bytes: Vec<u8>,
        why: &'static str,
    },
    Empty,
}

/// What opening found from an earlier run.
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    /// Records left by an earlier run, to be replayed (some may turn out to
    /// be corrupt when read).
    pub(crate) records: u64,
    /// A torn last record cut off the newest segment: its file and bytes.
    pub(crate) torn: Option<(PathBuf, Vec<u8>)>,
}

pub(crate) struct SpillLog {
    dir: PathBuf,
    _lock: File,
    segment_bytes: u64,
    /// Whether the ledger and directory are fsynced (every sync policy but
    /// `never`).
    sync_metadata: bool,
    segments: VecDeque<Segment>,
    writer: Option<File>,
    pending: Vec<u8>,
    pending_last_seq: Option<u64>,
    reader: Cursor,
    next_seq: u64,
    /// The first sequence number of this run: lower ones are replays.
    pub(crate) first_seq_of_run: u64,
    /// Records read and not yet finished.
    outstanding: BTreeSet<u64>,
    last_read_seq: u64,
    /// Every record up to this one finished (as the ledger says).
    acked_through: u64,
    ledger_says: u64,
    /// Records written (or recovered) and not yet read.
    pub(crate) unread: u64,
}

impl SpillLog {
    /// Opens (creating) the log in `dir`, locks it, cuts a torn tail off the
    /// newest segment and drops segments every record of which finished.
    pub(crate) fn open(
        dir: &Path,
        segment_bytes: u64,
        sync_metadata: bool,
    ) -> Result<(SpillLog, Recovered), SpillError> {
        fs::create_dir_all(dir).map_err(at(dir))?;
        let lock_path = dir.join(LOCK);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(at(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(SpillError::Locked { path: dir.into() })
            }
            Err(fs::TryLockError::Error(e)) => return Err(at(&lock_path)(e)),
        }
        let acked_through = read_ledger(&dir.join(LEDGER));
        let mut segments = list_segments(dir)?;
        let mut recovered = Recovered::default();
        if let Some(last) = segments.back_mut() {
            let (last_seq, torn) = check_tail(last)?;
            last.last_seq = last_seq;
            recovered.torn = torn.map(|bytes| (last.path.clone(), bytes));
        }
        // A segment is finished when the next one starts at or below the
        // ledger, or (the newest) its last record is at or below it.
        let mut kept = VecDeque::new();
        let count = segments.len();
        for (i, segment) in segments.drain(..).enumerate() {
            let last = if i + 1 < count {
                None
            } else {
                Some(segment.last_seq)
            };
            let finished = match last {
                Some(last_seq) => last_seq.is_none_or(|s| s <= acked_through),
                None => false,
            };
            if finished {
                fs::remove_file(&segment.path).map_err(at(&segment.path))?;
            } else {
                kept.push_back(segment);
            }
        }
        // Segments wholly below the ledger (their successor starts at or
        // below it).
        while kept.len() > 1 && kept[1].first_seq <= acked_through + 1 {
            let segment = kept.pop_front().expect("two segments");
            fs::remove_file(&segment.path).map_err(at(&segment.path))?;
        }
        let last_seq = kept.back().and_then(|s| s.last_seq).unwrap_or(0);
        let first = kept.front().map_or(0, |s| s.first_seq.saturating_sub(1));
        recovered.records = last_seq.saturating_sub(acked_through.max(first));
        let next_seq =
            (last_seq.max(acked_through) + 1).max(kept.back().map_or(1, |s| s.first_seq + 1));
        let reader = Cursor {
            segment: kept.front().map_or(next_seq, |s| s.first_seq),
            offset: 0,
            file: None,
        };
        let log = SpillLog {
            dir: dir.into(),
            _lock: lock,
            segment_bytes: segment_bytes.max(1),
            sync_metadata,
            segments: kept,
            writer: None,
            pending: Vec::new(),
            pending_last_seq: None,
            reader,
            next_seq,
            first_seq_of_run: next_seq,
            outstanding: BTreeSet::new(),
            last_read_seq: acked_through,
            acked_through,
            ledger_says: acked_through,
            unread: recovered.records,
        };
        Ok((log, recovered))
    }

    /// The sequence number of the last record appended (or, before any,
    /// the one before the next).
    pub(crate) fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Bytes the log takes on disk, written or about to be.
    pub(crate) fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.len).sum::<u64>() + self.pending.len() as u64
    }

    /// Appends one record (buffered until [`SpillLog::flush`]); returns its
    /// sequence number and the bytes it takes.
    pub(crate) fn append(
        &mut self,
        books: u32,
        origin: Option<&str>,
        payload: &[u8],
    ) -> Result<(u64, u64), SpillError> {
        let seq = self.next_seq;
        let active_len = self.segments.back().map_or(0, |s| s.len) + self.pending.len() as u64;
        if self.writer.is_none() || active_len >= self.segment_bytes {
            self.flush()?;
            self.start_segment(seq)?;
        }
        let before = self.pending.len();
        format::encode(&mut self.pending, seq, books, origin, payload);
        self.next_seq += 1;
        self.pending_last_seq = Some(seq);
        self.unread += 1;
        Ok((seq, (self.pending.len() - before) as u64))
    }

    fn start_segment(&mut self, first_seq: u64) -> Result<(), SpillError> {
        let path = self.dir.join(format!("{first_seq:020}.seg"));
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(at(&path))?;
        if self.sync_metadata {
            sync_dir(&self.dir)?;
        }
        self.writer = Some(file);
        self.segments.push_back(Segment {
            first_seq,
            path,
            len: 0,
            last_seq: None,
        });
        Ok(())
    }

    /// Writes what was appended to the file (the reader can read it; a
    /// killed process no longer loses it).
    pub(crate) fn flush(&mut self) -> Result<(), SpillError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let (Some(writer), Some(segment)) = (self.writer.as_mut(), self.segments.back_mut()) else {
            unreachable!("records are appended to an open segment")
        };
        writer.write_all(&self.pending).map_err(at(&segment.path))?;
        segment.len += self.pending.len() as u64;
        segment.last_seq = self.pending_last_seq.take();
        self.pending.clear();
        Ok(())
    }

    /// Flushes and fsyncs the newest segment (a power loss no longer loses
    /// what was appended).
    pub(crate) fn sync(&mut self) -> Result<(), SpillError> {
        self.flush()?;
        if let (Some(writer), Some(segment)) = (self.writer.as_ref(), self.segments.back()) {
            writer.sync_data().map_err(at(&segment.path))?;
        }
        Ok(())
    }

    /// The next record in order, skipping records an earlier run finished.
    pub(crate) fn read_next(&mut self) -> Result<Next, SpillError> {
        loop {
            let Some(index) = self
                .segments
                .iter()
                .position(|s| s.first_seq >= self.reader.segment)
            else {
                return Ok(Next::Empty);
            };
            let segment = &self.segments[index];
            if segment.first_seq != self.reader.segment {
                self.reader = Cursor {
                    segment: segment.first_seq,
                    offset: 0,
                    file: None,
                };
            }
            let remaining = segment.len - self.reader.offset.min(segment.len);
            if remaining == 0 {
                let active = index + 1 == self.segments.len() && self.writer.is_some();
                if active {
                    return Ok(Next::Empty);
                }
                self.reader.segment = segment.first_seq + 1;
                self.reader.file = None;
                continue;
            }
            let path = segment.path.clone();
            if self.reader.file.is_none() {
                let mut file = File::open(&path).map_err(at(&path))?;
                file.seek(SeekFrom::Start(self.reader.offset))
                    .map_err(at(&path))?;
                self.reader.file = Some(BufReader::with_capacity(256 * 1024, file));
            }
            let file = self.reader.file.as_mut().expect("opened above");
            if remaining < HEADER as u64 {
                return Ok(self.cut_short(path, remaining, "a record cut short"));
            }
            let mut head = [0u8; HEADER];
            file.read_exact(&mut head).map_err(at(&path))?;
            let header = Header::parse(&head);
            if u64::from(header.len) > remaining - HEADER as u64 {
                self.reader.offset += HEADER as u64;
                let rest = remaining - HEADER as u64;
                let mut read = self.cut_short(path, rest, "a record cut short");
                if let Next::Corrupt { bytes, .. } = &mut read {
                    bytes.splice(0..0, head);
                }
                return Ok(read);
            }
            let mut payload = vec![0u8; header.len as usize];
            file.read_exact(&mut payload).map_err(at(&path))?;
            self.reader.offset += (HEADER + payload.len()) as u64;
            self.unread = self.unread.saturating_sub(1);
            if !header.checks(&payload) {
                let mut bytes = head.to_vec();
                bytes.extend_from_slice(&payload);
                return Ok(Next::Corrupt {
                    file: path,
                    bytes,
                    why: "a checksum that does not match",
                });
            }
            if header.seq <= self.acked_through {
                continue; // finished by an earlier run
            }
            let Some((origin, payload)) = format::split_body(&header, payload) else {
                return Ok(Next::Corrupt {
                    file: path,
                    bytes: head.to_vec(),
                    why: "an origin longer than its record",
                });
            };
            self.outstanding.insert(header.seq);
            self.last_read_seq = header.seq;
            return Ok(Next::Record {
                seq: header.seq,
                books: header.books(),
                origin,
                payload,
            });
        }
    }

    /// The rest of the reader's segment (`rest` bytes), skipped as corrupt.
    fn cut_short(&mut self, file: PathBuf, rest: u64, why: &'static str) -> Next {
        let mut bytes = Vec::new();
        if let Some(reader) = self.reader.file.as_mut() {
            // A read error here only shortens what is reported.
            let _ = std::io::Read::read_to_end(&mut reader.take(rest), &mut bytes);
        }
        self.reader.offset += rest;
        self.unread = self.unread.saturating_sub(1);
        Next::Corrupt { file, bytes, why }
    }

    /// Notes that record `seq` finished; deletes the segments whose every
    /// record finished (ledger first, then the files).
    pub(crate) fn finish(&mut self, seq: u64) -> Result<(), SpillError> {
        self.outstanding.remove(&seq);
        self.acked_through = self
            .outstanding
            .first()
            .map_or(self.last_read_seq, |first| first - 1)
            .max(self.acked_through);
        let deletable = self.segments.iter().take_while(|s| self.is_done(s)).count();
        if deletable == 0 {
            return Ok(());
        }
        self.write_ledger()?;
        for _ in 0..deletable {
            let segment = self.segments.pop_front().expect("counted above");
            if self.segments.is_empty() {
                self.writer = None;
            }
            fs::remove_file(&segment.path).map_err(at(&segment.path))?;
        }
        Ok(())
    }

    /// Whether every record of `segment` was read and finished.
    fn is_done(&self, segment: &Segment) -> bool {
        let active = std::ptr::eq(segment, self.segments.back().expect("a segment"));
        let read = segment.first_seq < self.reader.segment
            || (segment.first_seq == self.reader.segment && self.reader.offset >= segment.len);
        let last = segment.last_seq.unwrap_or(segment.first_seq);
        read && (!active || self.pending.is_empty())
            && segment.len > 0
            && last <= self.acked_through
    }

    /// Records the ledger if it moved (a restart then skips what finished).
    pub(crate) fn write_ledger(&mut self) -> Result<(), SpillError> {
        if self.ledger_says == self.acked_through {
            return Ok(());
        }
        let path = self.dir.join(LEDGER);
        let tmp = self.dir.join("ledger.tmp");
        let mut bytes = self.acked_through.to_le_bytes().to_vec();
        bytes.extend_from_slice(&crc32c::crc32c(&bytes).to_le_bytes());
        let mut file = File::create(&tmp).map_err(at(&tmp))?;
        file.write_all(&bytes).map_err(at(&tmp))?;
        if self.sync_metadata {
            file.sync_data().map_err(at(&tmp))?;
        }
        fs::rename(&tmp, &path).map_err(at(&path))?;
        if self.sync_metadata {
            sync_dir(&self.dir)?;
        }
        self.ledger_says = self.acked_through;
        Ok(())
    }
}

fn sync_dir(dir: &Path) -> Result<(), SpillError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(at(dir))
}

/// The ledger's value; 0 (replay everything) if it is missing or damaged.
fn read_ledger(path: &Path) -> u64 {
    let Ok(bytes) = fs::read(path) else { return 0 };
    if bytes.len() != 12 || crc32c::crc32c(&bytes[..8]).to_le_bytes() != bytes[8..] {
        tracing::warn!(path = %path.display(), "spill ledger damaged; replaying every record");
        return 0;
    }
    u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"))
}

fn list_segments(dir: &Path) -> Result<VecDeque<Segment>, SpillError> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).map_err(at(dir))? {
        let entry = entry.map_err(at(dir))?;
        let name = entry.file_name();
        let Some(first_seq) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".seg"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let len = entry.metadata().map_err(at(entry.path()))?.len();
        segments.push(Segment {
            first_seq,
            path: entry.path(),
            len,
            last_seq: None,
        });
    }
    segments.sort_by_key(|s| s.first_seq);
    Ok(segments.into())
}

/// Reads the newest segment through: its last record, and a torn tail (a
/// header or payload cut short) cut off the file and returned.
fn check_tail(segment: &mut Segment) -> Result<(Option<u64>, Option<Vec<u8>>), SpillError> {
    let path = segment.path.clone();
    let mut file = BufReader::new(File::open(&path).map_err(at(&path))?);
    let mut offset = 0u64;
    let mut last_seq = None;
    loop {
        let remaining = segment.len - offset;
        if remaining == 0 {
            return Ok((last_seq, None));
        }
        let whole = if remaining >= HEADER as u64 {
            let mut head = [0u8; HEADER];
            file.read_exact(&mut head).map_err(at(&path))?;
            let header = Header::parse(&head);
            let fits = u64::from(header.len) <= remaining - HEADER as u64;
            if fits {
                io::copy(
                    &mut (&mut file).take(u64::from(header.len)),
                    &mut io::sink(),
                )
                .map_err(at(&path))?;
                offset += HEADER as u64 + u64::from(header.len);
                last_seq = Some(header.seq);
            }
            fits
        } else {
            false
        };
        if !whole {
            let bytes = fs::read(&path).map_err(at(&path))?;
            let torn = bytes[offset as usize..].to_vec();
            let file = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(at(&path))?;
            file.set_len(offset).map_err(at(&path))?;
            file.sync_all().map_err(at(&path))?;
            segment.len = offset;
            tracing::warn!(
                file = %path.display(),
                bytes = torn.len(),
                "spill: cut a torn record off the end of a segment"
            );
            return Ok((last_seq, Some(torn)));
        }
    }
}
