//! Records from any byte stream of lines, read incrementally: one frame is
//! decoded per call, so nothing is read ahead of what the pipeline accepts
//! beyond one read buffer. `next_item` is cancel-safe.

use futures::StreamExt;
use tokio::io::AsyncRead;
use tokio_util::codec::FramedRead;
use weir::io::SourceItem;

use super::format::{invalid, Format};
use super::line_codec::LineCodec;
use crate::record::Payload;

/// Reads records from a stream of lines.
#[derive(Debug)]
pub struct LineReader<R> {
    frames: FramedRead<R, LineCodec>,
    format: Format,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// Lines of at most `max_line_length` bytes, read as `format`.
    pub fn new(reader: R, format: Format, max_line_length: usize) -> Self {
        LineReader {
            frames: FramedRead::new(reader, LineCodec::new(max_line_length)),
            format,
        }
    }

    /// The next item, or `None` at the end of the stream. A read error is an
    /// invalid item (so it is seen in the dead letters) and ends the stream.
    pub async fn next_item(&mut self) -> Option<SourceItem<Payload>> {
        loop {
            match self.frames.next().await? {
                Ok(frame) => {
                    if let Some(item) = self.format.item(frame) {
                        return Some(item);
                    }
                }
                Err(error) => {
                    return Some(invalid(Default::default(), format!("read error: {error}")))
                }
            }
        }
    }
}
