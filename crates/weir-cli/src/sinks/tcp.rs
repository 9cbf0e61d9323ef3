//! `type = "tcp"`: records written to a TCP connection, one a line. A slow
//! reader at the other end makes the writes wait: backpressure.

use serde::Deserialize;
use tokio::net::TcpStream;

use super::line_writer::LineWriter;
use crate::config::Text;

/// The `[sink]` table of `type = "tcp"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpSinkConfig {
    /// `host:port` to connect to.
    pub address: Text,
}

/// Writes to a TCP connection.
pub type TcpSink = LineWriter<TcpStream>;

/// Connects.
pub async fn connect(config: &TcpSinkConfig) -> Result<TcpSink, String> {
    let stream = TcpStream::connect(config.address.0.as_str())
        .await
        .map_err(|error| format!("cannot connect to {}: {error}", config.address))?;
    Ok(LineWriter::new(stream))
}
