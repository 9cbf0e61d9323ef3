//! `type = "tcp"`: records written to a TCP connection, one a line. A slow
//! reader at the other end makes the writes wait: backpressure.

use std::io;

use serde::Deserialize;
use tokio::net::TcpStream;

use super::line_writer::LineWriter;
use crate::connector::SinkConnector;

/// The `[sink]` table of `type = "tcp"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TcpSinkConfig {
    /// `host:port` to connect to.
    address: String,
}

/// Writes to a TCP connection.
pub(crate) type TcpSink = LineWriter<TcpStream>;

/// The connection could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to {address}: {source}")]
pub(crate) struct TcpSinkError {
    address: String,
    #[source]
    source: io::Error,
}

impl SinkConnector for TcpSinkConfig {
    const TYPE: &'static str = "tcp";
    type Sink = TcpSink;
    type Error = TcpSinkError;

    /// Connects.
    async fn open(&self) -> Result<TcpSink, TcpSinkError> {
        let stream = TcpStream::connect(self.address.as_str())
            .await
            .map_err(|source| TcpSinkError {
                address: self.address.clone(),
                source,
            })?;
        Ok(LineWriter::new(stream))
    }
}
