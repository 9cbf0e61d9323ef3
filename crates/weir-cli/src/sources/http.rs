//! `type = "http"`: an HTTP server taking records as `POST /ingest` bodies
//! (one record a line). It never buffers beyond a small bounded queue.
//!
//! It pushes back by waiting first and refusing second: a request whose
//! records do not fit in the queue waits (requests in arrival order) for
//! room, up to `admit_timeout`; only if room does not come in time is it
//! answered `503` with `Retry-After`. A request is queued whole or not at
//! all. Once queued, the reply waits until every record of the request is
//! finished and says what became of them.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bytes::BytesMut;
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::codec::Decoder;
use tokio_util::sync::{CancellationToken, DropGuard};
use weir::io::{Source, SourceItem};
use weir_core::Queue;

use super::format::Format;
use super::http_tally::tally;
use super::line_codec::LineCodec;
use super::listen::{listen, ListenError};
use crate::config::HumanDuration;
use crate::connector::{OpenedSource, SourceConnector, SourceContext};
use crate::record::Payload;

/// The `[source]` table of `type = "http"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpSourceConfig {
    /// The address to listen on (default `127.0.0.1:8080`; port 0 picks one).
    #[serde(default = "default_listen")]
    listen: String,
    /// `lines` (default) or `json`.
    #[serde(default)]
    format: Format,
    /// Longer lines are dead-lettered (default 1 MiB).
    #[serde(default = "super::default_max_line_length")]
    max_line_length: NonZeroUsize,
    /// Larger bodies are refused with 413 (default 4 MiB).
    #[serde(default = "default_max_body_bytes")]
    max_body_bytes: NonZeroUsize,
    /// Records waiting between the server and the pipeline (default 256).
    #[serde(default = "default_queue")]
    queue: NonZeroUsize,
    /// How long a request waits for room in the queue before it is
    /// answered 503 (default 1s).
    #[serde(default = "default_admit_timeout")]
    admit_timeout: HumanDuration,
    /// The `Retry-After` of a 503 (default 1s).
    #[serde(default = "default_retry_after")]
    retry_after: HumanDuration,
    /// If set, requests need `Authorization: Bearer <token>`.
    token: Option<String>,
}

fn default_listen() -> String {
    "127.0.0.1:8080".to_owned()
}

fn default_max_body_bytes() -> NonZeroUsize {
    NonZeroUsize::new(4 << 20).unwrap_or(NonZeroUsize::MIN)
}

fn default_queue() -> NonZeroUsize {
    NonZeroUsize::new(256).unwrap_or(NonZeroUsize::MIN)
}

fn default_retry_after() -> HumanDuration {
    HumanDuration(Duration::from_secs(1))
}

fn default_admit_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(1))
}

/// What the request handlers share.
struct Ingest {
    queue: Queue<SourceItem<Payload>>,
    /// The queue's free room, one permit a record: a request takes permits
    /// for all its records at once (tokio's semaphore serves waiters in
    /// order), then queues them; the source gives one back per record it
    /// takes. Only handlers put, so the queue never lacks the room a
    /// request holds permits for.
    room: Arc<Semaphore>,
    admit_timeout: Duration,
    format: Format,
    max_line_length: usize,
    token: Option<String>,
    retry_after_secs: u64,
}

/// The running server, read as a source.
pub(crate) struct HttpSource {
    queue: Queue<SourceItem<Payload>>,
    room: Arc<Semaphore>,
    local_addr: SocketAddr,
    /// The server, which ends once it has answered every request after the
    /// source is dropped (records abandoned by a stop get their `503`).
    server: Option<JoinHandle<()>>,
    /// Stops the server (gracefully) when the source is dropped.
    _server: DropGuard,
}

impl SourceConnector for HttpSourceConfig {
    const TYPE: &'static str = "http";
    type Source = HttpSource;
    type Error = ListenError;

    /// Binds and starts the server.
    async fn open(&self, _context: &SourceContext) -> Result<HttpSource, ListenError> {
        let config = self;
        let (listener, local_addr) = listen(&config.listen).await?;
        let queue = Queue::bounded(config.queue.get());
        let room = Arc::new(Semaphore::new(config.queue.get()));
        let ingest = Arc::new(Ingest {
            queue: queue.clone(),
            room: room.clone(),
            admit_timeout: config.admit_timeout.0,
            format: config.format,
            max_line_length: config.max_line_length.get(),
            token: config.token.clone(),
            retry_after_secs: config.retry_after.0.as_secs_f64().ceil().max(1.0) as u64,
        });
        let app = Router::new()
            .route("/ingest", post(ingest_records))
            .layer(DefaultBodyLimit::max(config.max_body_bytes.get()))
            .with_state(ingest);
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stopped.cancelled().await });
            if let Err(error) = serve.await {
                tracing::warn!(%error, "http source: server failed");
            }
        });
        Ok(HttpSource {
            queue,
            room,
            local_addr,
            server: Some(server),
            _server: stop.drop_guard(),
        })
    }
}

impl OpenedSource for HttpSource {
    fn local_addr(&self) -> Option<SocketAddr> {
        Some(self.local_addr)
    }

    fn take_lingering(&mut self) -> Option<JoinHandle<()>> {
        self.server.take()
    }
}

impl Drop for HttpSource {
    fn drop(&mut self) {
        // Requests waiting for room are refused; records still queued are
        // dropped unfinished: their requests are answered with them counted
        // as nacked.
        self.room.close();
        drop(self.queue.shutdown_immediate());
    }
}

impl Source<Payload> for HttpSource {
    async fn next(&mut self) -> Option<SourceItem<Payload>> {
        let item = self.queue.get().await?;
        self.room.add_permits(1);
        Some(item)
    }
}

async fn ingest_records(
    State(ingest): State<Arc<Ingest>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(token) = &ingest.token {
        let expected = format!("Bearer {token}");
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if given != Some(expected.as_str()) {
            return (StatusCode::UNAUTHORIZED, "missing or wrong bearer token\n").into_response();
        }
    }
    let mut items = split_records(&ingest, body);
    let capacity = ingest.queue.capacity().unwrap_or(usize::MAX);
    if items.len() > capacity {
        let message = format!(
            "{} records in one request; at most {capacity}\n",
            items.len()
        );
        return (StatusCode::PAYLOAD_TOO_LARGE, message).into_response();
    }
    let (callbacks, outcomes) = tally(items.len());
    for (item, callback) in items.iter_mut().zip(callbacks) {
        let on_ack = match item {
            SourceItem::Record(emitted) => &mut emitted.on_ack,
            SourceItem::Invalid { on_ack, .. } => on_ack,
        };
        *on_ack = Some(callback);
    }
    if !admit(&ingest, items).await {
        let retry_after = ingest.retry_after_secs.to_string();
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, retry_after)],
            "the pipeline is full; retry later\n",
        )
            .into_response();
    }
    match outcomes.await {
        Ok(counts) if counts.nacked == 0 => (StatusCode::OK, Json(counts)).into_response(),
        Ok(counts) => (StatusCode::SERVICE_UNAVAILABLE, Json(counts)).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Queues all of `items` once there is room for all of them, waiting up to
/// the admit timeout; else none (the records are dropped, their callbacks
/// with them, before any was queued).
async fn admit(ingest: &Ingest, items: Vec<SourceItem<Payload>>) -> bool {
    let Ok(wanted) = u32::try_from(items.len()) else {
        return false;
    };
    let room = ingest.room.acquire_many(wanted);
    let Ok(Ok(permits)) = tokio::time::timeout(ingest.admit_timeout, room).await else {
        return false;
    };
    // The permits become the queued records; the source gives them back.
    permits.forget();
    items
        .into_iter()
        .all(|item| ingest.queue.try_put(item).is_ok())
}

fn split_records(ingest: &Ingest, body: Bytes) -> Vec<SourceItem<Payload>> {
    let mut codec = LineCodec::new(ingest.max_line_length);
    let mut buf = BytesMut::from(&body[..]);
    let mut items = Vec::new();
    while let Ok(Some(frame)) = codec.decode_eof(&mut buf) {
        items.extend(ingest.format.item(frame));
    }
    items
}
