//! `type = "stdout"`: records to standard output, one a line. The only sink
//! that writes to stdout; everything for people goes to stderr.

use serde::Deserialize;

use super::line_writer::LineWriter;

/// The `[sink]` table of `type = "stdout"` (no options).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutSinkConfig {}

/// Writes to standard output.
pub type StdoutSink = LineWriter<tokio::io::Stdout>;

/// The sink.
pub fn open() -> StdoutSink {
    LineWriter::new(tokio::io::stdout())
}
