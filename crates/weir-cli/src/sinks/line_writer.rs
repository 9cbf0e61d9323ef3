//! A sink writing one record a line to any byte stream, buffered: a text
//! record as is, anything else as compact JSON. `flush` flushes the buffer
//! to the stream (no fsync).

use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use weir::io::Sink;
use weir::BoxError;

use crate::record::Payload;

/// Writes records as lines to `W`.
#[derive(Debug)]
pub struct LineWriter<W: AsyncWrite> {
    out: BufWriter<W>,
    line: Vec<u8>,
}

impl<W: AsyncWrite + Unpin + Send + 'static> LineWriter<W> {
    /// Lines to `out`.
    pub fn new(out: W) -> Self {
        LineWriter {
            out: BufWriter::new(out),
            line: Vec::new(),
        }
    }

    /// The stream written to.
    #[cfg(test)]
    pub(crate) fn get_ref(&self) -> &W {
        self.out.get_ref()
    }
}

/// A record as one line (without the newline).
pub fn encode(record: &serde_json::Value, line: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    match record {
        serde_json::Value::String(text) => line.extend_from_slice(text.as_bytes()),
        other => serde_json::to_writer(&mut *line, other)?,
    }
    Ok(())
}

impl<W: AsyncWrite + Unpin + Send + 'static> Sink<Payload> for LineWriter<W> {
    async fn write(&mut self, record: &Payload) -> Result<(), BoxError> {
        self.line.clear();
        encode(record, &mut self.line)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line).await?;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), BoxError> {
        self.out.flush().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::payload;
    use serde_json::json;

    #[tokio::test]
    async fn writes_text_as_is_and_values_as_json() {
        let mut sink = LineWriter::new(Vec::new());
        sink.write(&payload(json!("plain text"))).await.unwrap();
        sink.write(&payload(json!({"a": [1, 2]}))).await.unwrap();
        sink.flush().await.unwrap();
        let written = String::from_utf8(sink.out.into_inner()).unwrap();
        assert_eq!(written, "plain text\n{\"a\":[1,2]}\n");
    }
}
