//! The `http` sink: records POSTed in batches, as JSON lines or a JSON
//! array, with the HTTP client's timeouts, retries (`Retry-After`, retry
//! budget) and TLS options (see [`crate::http_client`]).
//!
//! ```toml
//! [sink]
//! type = "http"
//! url = "https://127.0.0.1:8080/ingest"
//! format = "ndjson"      # or "array"
//! batch_size = 500
//! timeout = "10s"
//! retries = { max_attempts = 5 }   # attempts per batch, in all
//! ```
//!
//! Records are buffered by `write` and sent by `flush` (so the engine
//! acknowledges them as delivered only once the server accepted them with a
//! 2xx), in batches of at most `batch_size`. A batch that fails for good
//! fails the flush, and so the run; batches sent before it stay sent, so a
//! rerun delivers them again (at-least-once).

use std::num::NonZeroUsize;

use bytes::Bytes;
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde::Deserialize;
use weir::io::Sink;
use weir::BoxError;

use crate::config::{ConfigError, SourceFile, TablePart};
use crate::connector::SinkConnector;
use crate::http_client::{CallError, CallOptions, Caller, ClientError, HttpMethod};
use crate::record::Payload;

/// The `[sink]` table of `type = "http"` (without `type`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpSinkConfig {
    /// Where batches are sent.
    url: String,
    /// POST (default) or PUT, PATCH.
    #[serde(default = "post")]
    method: HttpMethod,
    /// How a batch is encoded: `ndjson` (default) or `array`.
    #[serde(default)]
    format: BatchFormat,
    /// Records per request at most; 100 by default.
    #[serde(default = "batch_size")]
    batch_size: NonZeroUsize,
    /// The HTTP client's options, read from the same table.
    #[serde(skip)]
    call: CallOptions,
}

fn post() -> HttpMethod {
    HttpMethod::Post
}

fn batch_size() -> NonZeroUsize {
    NonZeroUsize::new(100).unwrap_or(NonZeroUsize::MIN)
}

/// How a batch of records is encoded in one request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum BatchFormat {
    /// One JSON record per line (`application/x-ndjson`).
    #[default]
    Ndjson,
    /// A JSON array of the records (`application/json`).
    Array,
}

impl BatchFormat {
    fn encode(self, batch: &[Payload]) -> Bytes {
        let mut body = Vec::new();
        match self {
            BatchFormat::Ndjson => {
                for record in batch {
                    // A Value always serializes.
                    let _ = serde_json::to_writer(&mut body, record.as_ref());
                    body.push(b'\n');
                }
            }
            BatchFormat::Array => {
                let _ = serde_json::to_writer(&mut body, batch);
            }
        }
        body.into()
    }

    fn content_type(self) -> &'static str {
        match self {
            BatchFormat::Ndjson => "application/x-ndjson",
            BatchFormat::Array => "application/json",
        }
    }
}

/// A batch the server did not accept.
#[derive(Debug, thiserror::Error)]
#[error("sending a batch of {records} records to {url}: {error}")]
pub(crate) struct HttpSinkError {
    /// Records in the batch.
    records: usize,
    /// Where it went.
    url: String,
    /// Why it failed.
    #[source]
    error: CallError,
}

/// See the module doc.
#[derive(Debug)]
pub(crate) struct HttpSink {
    caller: Caller,
    url: String,
    method: Method,
    format: BatchFormat,
    batch_size: usize,
    buffer: Vec<Payload>,
}

impl SinkConnector for HttpSinkConfig {
    const TYPE: &'static str = "http";
    type Sink = HttpSink;
    type Error = ClientError;

    /// Its own keys and the HTTP client's (`retries` is the sink's own: it
    /// retries a batch itself, honouring `Retry-After`).
    fn parse(file: &SourceFile, part: &mut TablePart) -> Result<Self, ConfigError> {
        CallOptions::take_with(file, part, |config: &mut Self| &mut config.call)
    }

    fn check(&self) -> Result<(), String> {
        self.call.check(&self.url)
    }

    async fn open(&self) -> Result<HttpSink, ClientError> {
        Ok(HttpSink {
            caller: Caller::new(&self.call, 1, None)?,
            url: self.url.clone(),
            method: self.method.into(),
            format: self.format,
            batch_size: self.batch_size.get(),
            buffer: Vec::new(),
        })
    }
}

impl Sink<Payload> for HttpSink {
    async fn write(&mut self, record: &Payload) -> Result<(), BoxError> {
        self.buffer.push(record.clone());
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), BoxError> {
        let buffer = std::mem::take(&mut self.buffer);
        for batch in buffer.chunks(self.batch_size) {
            let body = self.format.encode(batch);
            self.caller
                .call(
                    |client| {
                        client
                            .request(self.method.clone(), &self.url)
                            .header(CONTENT_TYPE, self.format.content_type())
                            .body(body.clone())
                    },
                    || (),
                )
                .await
                .map_err(|error| HttpSinkError {
                    records: batch.len(),
                    url: self.url.clone(),
                    error,
                })?;
        }
        Ok(())
    }
}
