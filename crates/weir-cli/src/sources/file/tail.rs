//! Reading one file's lines from an offset, each with the offset and line
//! number just past it; at the end of the file, either the last unfinished
//! line is a line (a batch run) or it waits for its newline (follow mode).

use std::fs::File;
use std::io::{self, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::codec::Decoder;

use super::identity::Inode;
use super::progress::Slot;
use crate::sources::line_codec::{Frame, LineCodec};

/// Bytes read from the file at a time.
const READ_SIZE: usize = 64 * 1024;

/// One open file being read.
#[derive(Debug)]
pub(super) struct Tail {
    /// The path it was opened under.
    pub(super) path: PathBuf,
    /// The same, as a record's origin names it.
    pub(super) name: Arc<str>,
    /// Its identity.
    pub(super) inode: Inode,
    /// Its progress, when checkpoints are kept.
    pub(super) slot: Option<Slot>,
    /// A second handle, to fingerprint and measure it.
    pub(super) handle: Arc<File>,
    /// Follow mode: the path now names another file; read this one to its
    /// end once more, then let it go.
    pub(super) rotated: bool,
    file: tokio::fs::File,
    buf: BytesMut,
    codec: LineCodec,
    max_line_length: usize,
    /// The offset decoding started at (`codec.consumed()` counts from here).
    base: u64,
    /// Bytes read from the file so far, as an offset.
    read_to: u64,
    /// Lines before `base`, and lines decoded since.
    base_line: u64,
    lines: u64,
}

/// A line read, with the offset and line number just past it.
#[derive(Debug)]
pub(super) struct Read {
    pub(super) frame: Frame,
    pub(super) end: u64,
    pub(super) line: u64,
}

impl Tail {
    /// Opens `handle` (already open at `path`) to read from `offset`, which
    /// is after `line` lines.
    pub(super) async fn start(
        path: PathBuf,
        handle: File,
        offset: u64,
        line: u64,
        max_line_length: usize,
    ) -> io::Result<Tail> {
        let inode = Inode::of(&handle)?;
        let mut file = tokio::fs::File::from_std(handle.try_clone()?);
        file.seek(SeekFrom::Start(offset)).await?;
        Ok(Tail {
            name: path.display().to_string().into(),
            path,
            inode,
            slot: None,
            handle: Arc::new(handle),
            rotated: false,
            file,
            buf: BytesMut::with_capacity(READ_SIZE),
            codec: LineCodec::new(max_line_length),
            max_line_length,
            base: offset,
            read_to: offset,
            base_line: line,
            lines: 0,
        })
    }

    /// The next line, or `None` at the end of what the file holds now. With
    /// `last`, an unterminated last line is a line; without, it waits for
    /// more. Cancel-safe: what was read stays in the buffer.
    pub(super) async fn next(&mut self, last: bool) -> io::Result<Option<Read>> {
        loop {
            if let Some(frame) = self.codec.decode(&mut self.buf)? {
                return Ok(Some(self.read(frame)));
            }
            self.buf.reserve(READ_SIZE);
            let n = self.file.read_buf(&mut self.buf).await?;
            self.read_to += n as u64;
            if n == 0 {
                if !last {
                    return Ok(None);
                }
                return Ok(self
                    .codec
                    .decode_eof(&mut self.buf)?
                    .map(|frame| self.read(frame)));
            }
        }
    }

    fn read(&mut self, frame: Frame) -> Read {
        self.lines += 1;
        Read {
            frame,
            end: self.base + self.codec.consumed(),
            line: self.base_line + self.lines,
        }
    }

    /// Whether the file is now shorter than what was read of it: it was
    /// truncated (copy-truncate rotation).
    pub(super) fn truncated(&self) -> io::Result<bool> {
        Ok(self.handle.metadata()?.len() < self.read_to)
    }

    /// Starts over from the beginning of the file (after a truncation).
    pub(super) async fn restart(&mut self) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(0)).await?;
        self.buf.clear();
        self.codec = LineCodec::new(self.max_line_length);
        self.base = 0;
        self.read_to = 0;
        self.base_line = 0;
        self.lines = 0;
        Ok(())
    }
}
