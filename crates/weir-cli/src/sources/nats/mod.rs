//! `type = "nats"`: a durable pull consumer on a NATS JetStream stream,
//! shared by every worker that runs the same pipeline file.
//!
//! Messages are pulled only when the pipeline asks for the next record, in
//! requests of at most the first link's capacity (`pull.rs`). Each record's
//! outcome becomes its ack (`acker.rs`): delivered, filtered and dropped are
//! acked; dead-lettered is acked (or terminated, `dead_letters = "term"`)
//! once the dead-letter output has it; nacked (a drain deadline, a failed
//! stage under fail-fast) is nakked, so another worker takes it at once. A
//! record still in work at half its `ack_wait` gets an in-progress ack.
//!
//! A message on its `max_deliver`-th delivery is not tried again: it goes
//! to the dead letters with its delivery count, so it is kept somewhere
//! rather than dropped by the server after one more failed attempt.
//!
//! Each record's origin is `STREAM:SEQUENCE`, so a `nats` sink downstream
//! publishes it with that message id and the target stream drops the
//! duplicate when it comes again after a worker died.
//!
//! Guarantee: at least once. A message is acked only after its outcome is
//! final; a worker that dies leaves its unacked messages to the others
//! after `ack_wait`.

mod acker;
mod consumer;
mod pull;

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::Deserialize;
use tokio::task::JoinHandle;
use weir::io::{Emitted, SourceItem};
use weir::io::{Readings, Source};

use self::acker::{AckCounts, Acks, DeadLetterAck};
use self::consumer::{ConsumerError, Wanted};
use self::pull::Puller;
use super::format::Format;
use super::line_codec::Frame;
use crate::config::HumanDuration;
use crate::connector::{OpenedSource, SourceConnector, SourceContext};
use crate::nats_client::{self, Auth, ConnectError, ConnectionState, Server, Urls};
use crate::record::Payload;

/// The `[source]` table of `type = "nats"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NatsSourceConfig {
    /// The server, or a list of servers.
    url: Urls,
    /// `{ token = "..." }`, `{ user = "...", password = "..." }` or
    /// `{ credentials = "path.creds" }`.
    auth: Option<Auth>,
    /// Root certificates (PEM) to trust; setting it requires TLS.
    tls_ca: Option<PathBuf>,
    /// The stream.
    stream: String,
    /// The durable pull consumer every worker shares.
    consumer: String,
    /// Only messages on this subject (wildcards allowed); also the subject
    /// of the stream created when it does not exist.
    subject: Option<String>,
    /// How long a message may stay unacked before the server gives it to
    /// another worker (default 30s).
    #[serde(default = "default_ack_wait")]
    ack_wait: HumanDuration,
    /// Unacked messages the server lets out, across all workers (default
    /// 1000).
    #[serde(default = "default_max_ack_pending")]
    max_ack_pending: NonZeroUsize,
    /// Deliveries of a message before it is dead-lettered (default: what
    /// the consumer has; unlimited for a new one).
    max_deliver: Option<NonZeroUsize>,
    /// Messages asked for at once (default: the first link's capacity).
    batch: Option<NonZeroUsize>,
    /// `lines` (default: the message is a text record) or `json`.
    #[serde(default)]
    format: Format,
    /// What a dead-lettered message gets: `ack` (default) or `term`.
    #[serde(default)]
    dead_letters: DeadLetterAck,
}

fn default_ack_wait() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(30))
}

fn default_max_ack_pending() -> NonZeroUsize {
    NonZeroUsize::new(1000).unwrap_or(NonZeroUsize::MIN)
}

/// The source could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NatsSourceError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Consumer(#[from] ConsumerError),
    #[error("cannot subscribe for the pulled messages: {0}")]
    Subscribe(#[from] async_nats::SubscribeError),
}

/// Pulls from the consumer, hands each message to the pipeline with an ack
/// callback.
#[derive(Debug)]
pub(crate) struct NatsSource {
    /// Taken when the source is dropped (handed to the acker to nak).
    puller: Option<Puller>,
    acks: Acks,
    acker: Option<JoinHandle<()>>,
    js: async_nats::jetstream::Context,
    stream: String,
    format: Format,
    /// `max_deliver` as the consumer has it (≤ 0: unlimited).
    max_deliver: i64,
    counts: Arc<AckCounts>,
    connection: Arc<ConnectionState>,
    /// The origin of the record last returned, `STREAM:SEQUENCE`.
    origin: Option<Arc<str>>,
}

impl SourceConnector for NatsSourceConfig {
    const TYPE: &'static str = "nats";
    type Source = NatsSource;
    type Error = NatsSourceError;

    /// Connects, finds (or creates) the stream and the consumer.
    async fn open(&self, context: &SourceContext) -> Result<NatsSource, NatsSourceError> {
        let server = Server {
            urls: &self.url,
            auth: self.auth.as_ref(),
            tls_ca: self.tls_ca.as_ref(),
        };
        let (client, connection) = nats_client::connect(server, "weir source").await?;
        let js = async_nats::jetstream::new(client.clone());
        let as_i64 = |n: NonZeroUsize| i64::try_from(n.get()).unwrap_or(i64::MAX);
        let wanted = Wanted {
            stream: &self.stream,
            consumer: &self.consumer,
            subject: self.subject.as_deref(),
            ack_wait: self.ack_wait.0,
            max_ack_pending: as_i64(self.max_ack_pending),
            max_deliver: self.max_deliver.map(as_i64),
        };
        let settled = consumer::prepare(&js, &wanted).await?;
        let batch = self
            .batch
            .map(NonZeroUsize::get)
            .unwrap_or(context.link_capacity)
            // The server refuses a pull larger than max_ack_pending.
            .min(self.max_ack_pending.get())
            .max(1);
        let puller = Puller::new(client.clone(), &self.stream, &self.consumer, batch).await?;
        let counts = Arc::new(AckCounts::default());
        let (acks, acker) = Acks::start(client, self.ack_wait.0, self.dead_letters, counts.clone());
        Ok(NatsSource {
            puller: Some(puller),
            acks,
            acker: Some(acker),
            js,
            stream: self.stream.clone(),
            format: self.format,
            max_deliver: settled.max_deliver,
            counts,
            connection,
            origin: None,
        })
    }
}

impl NatsSource {
    /// The item for one pulled message.
    fn item(&mut self, message: async_nats::Message) -> Option<SourceItem<Payload>> {
        let message = async_nats::jetstream::Message {
            message,
            context: self.js.clone(),
        };
        let (sequence, delivered) = match message.info() {
            Ok(info) => (info.stream_sequence, info.delivered),
            Err(error) => {
                tracing::warn!(%error, "nats source: a message without JetStream metadata, skipped");
                return None;
            }
        };
        let reply = message.message.reply.clone()?;
        if delivered > 1 {
            self.counts.redelivered.fetch_add(1, Ordering::Relaxed);
        }
        let on_ack = Some(self.acks.track(reply));
        let payload = message.message.payload;
        if self.max_deliver > 0 && delivered >= self.max_deliver {
            return Some(SourceItem::Invalid {
                raw: payload,
                reason: format!(
                    "delivered {delivered} times (the consumer's max_deliver), never finished"
                ),
                on_ack,
            });
        }
        self.origin = Some(super::origin::origin_at(&self.stream, sequence));
        Some(match self.format.item(Frame::Line(payload.clone())) {
            Some(SourceItem::Record(emitted)) => SourceItem::Record(Emitted {
                payload: emitted.payload,
                on_ack,
            }),
            Some(SourceItem::Invalid { raw, reason, .. }) => SourceItem::Invalid {
                raw,
                reason,
                on_ack,
            },
            // A blank message in `json`: nothing to process, so acked.
            _ => SourceItem::Invalid {
                raw: payload,
                reason: "empty message".to_owned(),
                on_ack,
            },
        })
    }
}

impl Source<Payload> for NatsSource {
    /// Cancel-safe: a message not yet returned stays in the subscription.
    async fn next(&mut self) -> Option<SourceItem<Payload>> {
        loop {
            let message = match self.puller.as_mut()?.next().await {
                Ok(message) => message,
                Err(error) => {
                    tracing::error!(%error, "nats source: ends");
                    return None;
                }
            };
            if let Some(item) = self.item(message) {
                return Some(item);
            }
        }
    }

    fn take_origin(&mut self) -> Option<Arc<str>> {
        self.origin.take()
    }

    /// `pending_acks` (messages in work, not yet acked or nakked),
    /// `redeliveries` (messages that came again), and the connection while
    /// it is, or was, lost.
    fn readings(&self) -> Readings {
        let (pending, redelivered) = (self.counts.clone(), self.counts.clone());
        let connection = self.connection.clone();
        Readings::default()
            .gauge("pending_acks", move || {
                pending.pending.load(Ordering::Relaxed) as f64
            })
            .gauge("redeliveries", move || {
                redelivered.redelivered.load(Ordering::Relaxed) as f64
            })
            .status(move || connection.status())
    }
}

impl OpenedSource for NatsSource {
    /// The acker: it ends once every record's ack is sent and what the last
    /// pull request brought is nakked.
    fn take_lingering(&mut self) -> Option<JoinHandle<()>> {
        self.acker.take()
    }
}

impl Drop for NatsSource {
    fn drop(&mut self) {
        if let Some(puller) = self.puller.take() {
            self.acks.leftover(puller);
        }
    }
}
