//! `type = "stdout"`: records to standard output, one a line. The only sink
//! that writes to stdout; everything for people goes to stderr.

use std::convert::Infallible;

use serde::Deserialize;

use super::line_writer::LineWriter;
use crate::connector::SinkConnector;

/// The `[sink]` table of `type = "stdout"` (no options).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StdoutSinkConfig {}

/// Writes to standard output.
pub(crate) type StdoutSink = LineWriter<tokio::io::Stdout>;

impl SinkConnector for StdoutSinkConfig {
    const TYPE: &'static str = "stdout";
    type Sink = StdoutSink;
    type Error = Infallible;

    async fn open(&self) -> Result<StdoutSink, Infallible> {
        Ok(LineWriter::new(tokio::io::stdout()))
    }
}
