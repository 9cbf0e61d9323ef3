//! Splitting a byte stream into lines without ever holding more than
//! `max_length` bytes of one line: a longer line is skipped to its end and
//! reported as [`Frame::TooLong`], and reading goes on (unlike
//! `tokio_util`'s `LinesCodec`, whose stream ends at the first bad line).

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::Decoder;

/// Bytes of an over-long line kept to show in its dead letter.
const KEPT_PREFIX: usize = 256;

/// One line of input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A line without its `\n` (or `\r\n`).
    Line(Bytes),
    /// A line longer than the limit: its first bytes and its full length.
    TooLong {
        /// The line's first bytes.
        prefix: Bytes,
        /// The line's length in bytes.
        length: usize,
    },
}

/// Decodes [`Frame`]s; see the module docs.
#[derive(Debug)]
pub struct LineCodec {
    max_length: usize,
    /// Where to resume looking for `\n` in the buffer.
    searched: usize,
    /// The over-long line being skipped: its prefix and length so far.
    skipping: Option<(Bytes, usize)>,
    /// Bytes of input taken out of the buffer so far: after a frame, the
    /// offset in the stream just past it (its newline included).
    consumed: u64,
}

impl LineCodec {
    /// Lines of at most `max_length` bytes (without the newline).
    pub fn new(max_length: usize) -> Self {
        LineCodec {
            max_length,
            searched: 0,
            skipping: None,
            consumed: 0,
        }
    }

    /// Bytes taken from the stream so far, counted from where decoding
    /// started: just after the last frame returned, its end.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }
}

fn newline(bytes: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', bytes)
}

fn without_cr(mut line: BytesMut) -> Bytes {
    if line.last() == Some(&b'\r') {
        line.truncate(line.len() - 1);
    }
    line.freeze()
}

impl Decoder for LineCodec {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, Self::Error> {
        if let Some((_, length)) = &mut self.skipping {
            return Ok(match newline(buf) {
                Some(end) => {
                    *length += end;
                    buf.advance(end + 1);
                    self.consumed += end as u64 + 1;
                    let (prefix, length) = self.skipping.take().unwrap_or_default();
                    Some(Frame::TooLong { prefix, length })
                }
                None => {
                    *length += buf.len();
                    self.consumed += buf.len() as u64;
                    buf.clear();
                    None
                }
            });
        }
        match newline(&buf[self.searched..]) {
            Some(offset) => {
                let end = self.searched + offset;
                self.searched = 0;
                self.consumed += end as u64 + 1;
                let mut line = buf.split_to(end + 1);
                line.truncate(end);
                Ok(Some(if end > self.max_length {
                    Frame::TooLong {
                        prefix: line.split_to(KEPT_PREFIX.min(end)).freeze(),
                        length: end,
                    }
                } else {
                    Frame::Line(without_cr(line))
                }))
            }
            None if buf.len() > self.max_length => {
                let length = buf.len();
                self.consumed += length as u64;
                let prefix = buf.split_to(KEPT_PREFIX.min(length)).freeze();
                buf.clear();
                self.searched = 0;
                self.skipping = Some((prefix, length));
                Ok(None)
            }
            None => {
                self.searched = buf.len();
                Ok(None)
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, Self::Error> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        self.searched = 0;
        Ok(match self.skipping.take() {
            Some((prefix, length)) => Some(Frame::TooLong { prefix, length }),
            None if buf.is_empty() => None,
            None => {
                self.consumed += buf.len() as u64;
                Some(Frame::Line(without_cr(buf.split())))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(max_length: usize, chunks: &[&[u8]]) -> Vec<Frame> {
        decode_with_ends(max_length, chunks)
            .into_iter()
            .map(|(frame, _)| frame)
            .collect()
    }

    /// Each frame with the stream offset just past it.
    fn decode_with_ends(max_length: usize, chunks: &[&[u8]]) -> Vec<(Frame, u64)> {
        let mut codec = LineCodec::new(max_length);
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                frames.push((frame, codec.consumed()));
            }
        }
        while let Some(frame) = codec.decode_eof(&mut buf).unwrap() {
            frames.push((frame, codec.consumed()));
        }
        frames
    }

    #[test]
    fn counts_the_bytes_behind_each_frame() {
        let ends: Vec<u64> = decode_with_ends(5, &[b"ab\r\n0123456", b"789\n\nlast"])
            .into_iter()
            .map(|(_, end)| end)
            .collect();
        // "ab\r\n" = 4, the over-long line and its newline 11, the blank line 1,
        // the unterminated last line 4.
        assert_eq!(ends, [4, 15, 16, 20]);
    }

    fn line(text: &str) -> Frame {
        Frame::Line(Bytes::copy_from_slice(text.as_bytes()))
    }

    #[test]
    fn splits_lines_across_chunks() {
        let frames = decode_all(10, &[b"ab", b"c\r\nde", b"f\n", b"last"]);
        assert_eq!(frames, vec![line("abc"), line("def"), line("last")]);
    }

    #[test]
    fn skips_an_over_long_line_and_goes_on() {
        let frames = decode_all(5, &[b"ok\n01234", b"56789", b"\nafter\n"]);
        let too_long = Frame::TooLong {
            prefix: Bytes::from_static(b"0123456789"),
            length: 10,
        };
        assert_eq!(frames, vec![line("ok"), too_long, line("after")]);
    }

    #[test]
    fn reports_an_over_long_last_line() {
        let frames = decode_all(3, &[b"x\nabcdef"]);
        assert_eq!(
            frames[1],
            Frame::TooLong {
                prefix: Bytes::from_static(b"abcdef"),
                length: 6
            }
        );
    }
}
