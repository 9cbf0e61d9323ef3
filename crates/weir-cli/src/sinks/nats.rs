//! `type = "nats"`: records published to NATS JetStream, each counted
//! delivered only once the stream acknowledged it.
//!
//! Publishes are pipelined: up to `max_pending` (default 256) wait for their
//! ack at once, and the next write waits when that many do, so a slow
//! broker pushes back. A flush waits for every ack; a publish that failed
//! (no ack in time, the connection lost) is sent again, with the same
//! message id, until it is acked or [`RETRY_FOR`] has passed.
//!
//! The message id (`Nats-Msg-Id`) is the record's origin when its source
//! gave one (`STREAM:SEQ` from a `nats` source), so a record read again
//! after a worker died is dropped by the stream as a duplicate (within the
//! stream's `duplicate_window`, 2 minutes by default). A record without an
//! origin gets an id of this run, which makes the sink's own retries safe.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::context::GetStreamErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{self, StorageType};
use async_nats::jetstream::Context;
use async_nats::jetstream::ErrorCode;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use serde::Deserialize;
use weir::io::{Readings, Sink};
use weir::BoxError;

use super::line_writer::encode;
use crate::connector::SinkConnector;
use crate::nats_client::{self, Auth, ConnectError, ConnectionState, Server, Urls};
use crate::record::Payload;
use crate::template::{Escape, Template};

/// How long a flush goes on sending again what was not acked.
const RETRY_FOR: Duration = Duration::from_secs(60);
/// The pause between two rounds of sending again.
const RETRY_PAUSE: Duration = Duration::from_millis(250);

/// The `[sink]` table of `type = "nats"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NatsSinkConfig {
    /// The server, or a list of servers.
    url: Urls,
    /// As the source's `auth`.
    auth: Option<Auth>,
    /// Root certificates (PEM) to trust; setting it requires TLS.
    tls_ca: Option<PathBuf>,
    /// The subject, a template: `"out.{service}"`.
    subject: String,
    /// The stream to create when it does not exist, on the subject's
    /// literal part (`out.{service}` → `out.>`).
    stream: Option<String>,
    /// Publishes waiting for their ack at once (default 256).
    #[serde(default = "default_max_pending")]
    max_pending: NonZeroUsize,
}

fn default_max_pending() -> NonZeroUsize {
    NonZeroUsize::new(256).unwrap_or(NonZeroUsize::MIN)
}

impl NatsSinkConfig {
    /// The subjects of the stream to create: the subject itself, or its
    /// literal part then `>`.
    fn stream_subject(&self) -> Result<String, String> {
        match Template::parse(&self.subject).prefix() {
            (text, false) => Ok(text.to_owned()),
            (text, true) if text.ends_with('.') && text.len() > 1 => Ok(format!("{text}>")),
            _ => Err(format!(
                "to create stream {:?}, the subject's placeholders must follow a literal \
                 first token and a dot (as in \"out.{{service}}\"), not {:?}",
                self.stream.as_deref().unwrap_or_default(),
                self.subject
            )),
        }
    }
}

/// The sink could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NatsSinkError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("stream {stream:?}: {source}")]
    Stream {
        stream: String,
        #[source]
        source: async_nats::Error,
    },
}

/// One publish, kept so it can be sent again.
#[derive(Debug, Clone)]
struct Publish {
    subject: String,
    payload: Bytes,
    id: String,
}

/// A publish that failed, with why.
type Failed = (Publish, BoxError);

/// Publishes to JetStream and waits for the acks.
pub(crate) struct NatsSink {
    js: Context,
    subject: Template,
    max_pending: usize,
    /// Publishes waiting for their ack.
    pending: FuturesUnordered<BoxFuture<'static, Result<(), Failed>>>,
    /// Publishes that failed, sent again at the next flush.
    failed: Vec<Failed>,
    /// Numbers the records without an origin.
    written: u64,
    /// The id of this run, for the records without an origin.
    run: String,
    line: Vec<u8>,
    connection: Arc<ConnectionState>,
}

impl SinkConnector for NatsSinkConfig {
    const TYPE: &'static str = "nats";
    type Sink = NatsSink;
    type Error = NatsSinkError;

    fn check(&self) -> Result<(), String> {
        if self.stream.is_some() {
            self.stream_subject()?;
        }
        Ok(())
    }

    /// Connects; creates the stream when `stream` names one that does not
    /// exist.
    async fn open(&self) -> Result<NatsSink, NatsSinkError> {
        let server = Server {
            urls: &self.url,
            auth: self.auth.as_ref(),
            tls_ca: self.tls_ca.as_ref(),
        };
        let (client, connection) = nats_client::connect(server, "weir sink").await?;
        let js = async_nats::jetstream::new(client.clone());
        if let Some(stream) = &self.stream {
            ensure_stream(&js, stream, self.stream_subject().unwrap_or_default())
                .await
                .map_err(|source| NatsSinkError::Stream {
                    stream: stream.clone(),
                    source,
                })?;
        }
        Ok(NatsSink {
            js,
            subject: Template::parse(&self.subject),
            max_pending: self.max_pending.get(),
            pending: FuturesUnordered::new(),
            failed: Vec::new(),
            written: 0,
            run: client.new_inbox().replace("_INBOX.", "weir-"),
            line: Vec::new(),
            connection,
        })
    }
}

async fn ensure_stream(js: &Context, name: &str, subject: String) -> Result<(), async_nats::Error> {
    match js.get_stream(name).await {
        Ok(_) => Ok(()),
        Err(error) => match error.kind() {
            GetStreamErrorKind::JetStream(inner)
                if inner.error_code() == ErrorCode::STREAM_NOT_FOUND =>
            {
                js.create_stream(stream::Config {
                    name: name.to_owned(),
                    subjects: vec![subject],
                    storage: StorageType::File,
                    ..Default::default()
                })
                .await?;
                Ok(())
            }
            _ => Err(error.into()),
        },
    }
}

impl NatsSink {
    /// Sends `publish`; its ack is awaited among the pending.
    async fn send(&mut self, publish: Publish) {
        while self.pending.len() >= self.max_pending {
            if let Some(Err(failed)) = self.pending.next().await {
                self.failed.push(failed);
            }
        }
        let message = PublishMessage::build()
            .payload(publish.payload.clone())
            .message_id(publish.id.as_str());
        match self.js.send_publish(publish.subject.clone(), message).await {
            Ok(ack) => self.pending.push(Box::pin(async move {
                match ack.await {
                    Ok(_) => Ok(()),
                    Err(error) => Err((publish, error.into())),
                }
            })),
            Err(error) => self.failed.push((publish, error.into())),
        }
    }

    /// Waits for every pending ack; returns what failed.
    async fn settle(&mut self) -> Vec<Failed> {
        while let Some(result) = self.pending.next().await {
            if let Err(failed) = result {
                self.failed.push(failed);
            }
        }
        std::mem::take(&mut self.failed)
    }
}

impl Sink<Payload> for NatsSink {
    async fn write(&mut self, record: &Payload) -> Result<(), BoxError> {
        self.write_from(record, None).await
    }

    async fn write_from(&mut self, record: &Payload, origin: Option<&str>) -> Result<(), BoxError> {
        let subject = self.subject.render(record, Escape::None)?;
        self.line.clear();
        encode(record, &mut self.line)?;
        self.written += 1;
        let id = match origin {
            Some(origin) => origin.to_owned(),
            None => format!("{}-{}", self.run, self.written),
        };
        let publish = Publish {
            subject,
            payload: Bytes::copy_from_slice(&self.line),
            id,
        };
        self.send(publish).await;
        Ok(())
    }

    /// Every publish acked: sends again what failed until it is, or
    /// [`RETRY_FOR`] has passed.
    async fn flush(&mut self) -> Result<(), BoxError> {
        let started = tokio::time::Instant::now();
        loop {
            let failed = self.settle().await;
            let Some((_, error)) = failed.first() else {
                return Ok(());
            };
            if started.elapsed() >= RETRY_FOR {
                return Err(format!(
                    "{} publishes not acknowledged after {RETRY_FOR:?}, the last: {error}",
                    failed.len()
                )
                .into());
            }
            tracing::warn!(count = failed.len(), %error, "nats sink: publishing again");
            tokio::time::sleep(RETRY_PAUSE).await;
            for (publish, _) in failed {
                self.send(publish).await;
            }
        }
    }

    /// The connection while it is, or was, lost.
    fn readings(&self) -> Readings {
        let connection = self.connection.clone();
        Readings::default().status(move || connection.status())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(subject: &str) -> NatsSinkConfig {
        NatsSinkConfig {
            url: Urls::One("nats://127.0.0.1:4222".into()),
            auth: None,
            tls_ca: None,
            subject: subject.into(),
            stream: Some("OUT".into()),
            max_pending: default_max_pending(),
        }
    }

    #[test]
    fn the_created_stream_takes_the_subjects_literal_part() {
        assert_eq!(config("out.all").stream_subject().unwrap(), "out.all");
        assert_eq!(config("out.{service}").stream_subject().unwrap(), "out.>");
        assert_eq!(config("a.b.{x}.c").stream_subject().unwrap(), "a.b.>");
        let error = config("{service}.out").check().unwrap_err();
        assert!(error.contains("\"{service}.out\""), "{error}");
        assert!(config("out-{service}").check().is_err());
    }
}
