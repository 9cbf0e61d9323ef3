//! The `http` sink: records POSTed in batches, as JSON lines or a JSON
//! array, with the HTTP stage's timeouts and retries (`Retry-After`, retry
//! budget; see `stages::http::call`).
//!
//! ```toml
//! [sink]
//! type = "http"
//! url = "http://127.0.0.1:8080/ingest"
//! format = "ndjson"      # or "array"
//! batch_size = 500
//! timeout = "10s"
//! retries = 5            # attempts per batch, in all
//! ```
//!
//! Records are buffered by `write` and sent by `flush` (so the engine
//! acknowledges them as delivered only once the server accepted them with a
//! 2xx), in batches of at most `batch_size`. A batch that fails for good
//! fails the flush, and so the run; batches sent before it stay sent, so a
//! rerun delivers them again (at-least-once).

use bytes::Bytes;
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde::Deserialize;
use weir::io::Sink;
use weir::BoxError;

use crate::config::units::HumanDuration;
use crate::record::Payload;
use crate::stages::http::{defaults, CallError, CallSettings, Caller, HttpMethod};

/// The `[sink]` table of `type = "http"` (without `type`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSinkConfig {
    /// Where batches are sent.
    pub url: String,
    /// POST (default) or PUT, PATCH.
    #[serde(default = "post")]
    pub method: HttpMethod,
    /// How a batch is encoded: `ndjson` (default) or `array`.
    #[serde(default)]
    pub format: BatchFormat,
    /// Records per request at most; 100 by default.
    #[serde(default = "batch_size")]
    pub batch_size: usize,
    /// TCP connect timeout; 2s by default.
    #[serde(default = "defaults::connect_timeout")]
    pub connect_timeout: HumanDuration,
    /// Whole-request timeout, per attempt; 10s by default.
    #[serde(default = "defaults::timeout")]
    pub timeout: HumanDuration,
    /// Attempts per batch in all, the first included; 3 by default.
    #[serde(default = "defaults::retries")]
    pub retries: u32,
    /// Retries may be at most this share of requests over 10 s (plus 10 per
    /// second); 0.2 by default.
    #[serde(default = "defaults::retry_budget")]
    pub retry_budget: f64,
    /// First backoff's scale, doubling per retry; 100ms by default.
    #[serde(default = "defaults::backoff_base")]
    pub backoff_base: HumanDuration,
    /// The longest backoff and `Retry-After` waited for; 10s by default.
    #[serde(default = "defaults::backoff_max")]
    pub backoff_max: HumanDuration,
}

fn post() -> HttpMethod {
    HttpMethod::Post
}

fn batch_size() -> usize {
    100
}

/// How a batch of records is encoded in one request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchFormat {
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
pub struct HttpSinkError {
    /// Records in the batch.
    pub records: usize,
    /// Where it went.
    pub url: String,
    /// Why it failed.
    pub error: CallError,
}

/// See the module doc.
#[derive(Debug)]
pub struct HttpSink {
    caller: Caller,
    url: String,
    method: Method,
    format: BatchFormat,
    batch_size: usize,
    buffer: Vec<Payload>,
}

/// Builds the sink from its config.
///
/// # Errors
/// A message saying which setting is wrong.
pub fn build(config: &HttpSinkConfig) -> Result<HttpSink, String> {
    if config.batch_size == 0 {
        return Err("batch_size must be at least 1".into());
    }
    let settings = CallSettings {
        connect_timeout: config.connect_timeout.0,
        timeout: config.timeout.0,
        attempts: config.retries,
        retry_budget: config.retry_budget,
        backoff_base: config.backoff_base.0,
        backoff_max: config.backoff_max.0,
        pool: 1,
    }
    .check()?;
    Ok(HttpSink {
        caller: Caller::new(settings, None)?,
        url: config.url.clone(),
        method: config.method.into(),
        format: config.format,
        batch_size: config.batch_size,
        buffer: Vec::new(),
    })
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
                .call(|client| {
                    client
                        .request(self.method.clone(), &self.url)
                        .header(CONTENT_TYPE, self.format.content_type())
                        .body(body.clone())
                })
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
