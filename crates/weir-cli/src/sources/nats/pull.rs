//! Pulling from the consumer only when the pipeline asks: one pull request
//! of at most `batch` messages at a time, the next one sent only once the
//! pipeline has taken every message of the last (or the last expired). So
//! at most `batch` messages wait in the client beyond what the pipeline
//! holds, and none are prefetched while its first link is full.
//!
//! Written on the plain client rather than async-nats's `batch()`, whose
//! stream ends (and drops the messages still buffered) a few seconds after
//! the request expires even when the pipeline has not taken them yet: with
//! a slow sink those messages would wait for `ack_wait` instead of being
//! processed. Each request has its own reply subject, so the end of an
//! expired request is not taken for the end of the current one.

use std::time::Duration;

use async_nats::{Client, Message, StatusCode, Subscriber};
use futures::{FutureExt, StreamExt};
use tokio::time::Instant;

/// How long one pull request waits for messages on the server.
const EXPIRES: Duration = Duration::from_secs(2);
/// How long past its expiry a request that got no answer (lost to a
/// reconnect) is given before another is sent.
const GRACE: Duration = Duration::from_secs(1);

/// The puller's subscription and the request in flight.
#[derive(Debug)]
pub(crate) struct Puller {
    client: Client,
    subscriber: Subscriber,
    /// `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`.
    request_subject: String,
    inbox: String,
    batch: usize,
    /// Numbers the requests; the current one replies to `inbox.<request>`.
    request: u64,
    /// Messages the current request may still bring.
    outstanding: usize,
    /// When to give up on the current request.
    deadline: Instant,
}

/// The client lost its subscription (it was closed).
#[derive(Debug, thiserror::Error)]
#[error("the NATS subscription was closed")]
pub(crate) struct Closed;

impl Puller {
    /// Subscribes to a fresh inbox for the replies.
    pub(crate) async fn new(
        client: Client,
        stream: &str,
        consumer: &str,
        batch: usize,
    ) -> Result<Puller, async_nats::SubscribeError> {
        let inbox = client.new_inbox();
        let subscriber = client.subscribe(format!("{inbox}.*")).await?;
        Ok(Puller {
            client,
            subscriber,
            request_subject: format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"),
            inbox,
            batch: batch.max(1),
            request: 0,
            outstanding: 0,
            deadline: Instant::now(),
        })
    }

    fn reply_subject(&self) -> String {
        format!("{}.{}", self.inbox, self.request)
    }

    async fn send_request(&mut self) {
        self.request += 1;
        let body = serde_json::json!({
            "batch": self.batch,
            "expires": EXPIRES.as_nanos() as u64,
        });
        let reply = self.reply_subject();
        // A failed publish (the client closed) shows as a request that got
        // no answer: tried again after its deadline.
        if let Err(error) = self
            .client
            .publish_with_reply(self.request_subject.clone(), reply, body.to_string().into())
            .await
        {
            tracing::warn!(%error, "nats source: pull request not sent");
        }
        self.outstanding = self.batch;
        self.deadline = Instant::now() + EXPIRES + GRACE;
    }

    /// The next message, pulling when nothing is asked for. Cancel-safe:
    /// a message not returned stays in the subscription.
    pub(crate) async fn next(&mut self) -> Result<Message, Closed> {
        loop {
            if self.outstanding == 0 {
                self.send_request().await;
            }
            if let Some(message) = self.receive().await? {
                return Ok(message);
            }
        }
    }

    /// One message from the subscription, or `None` when the current
    /// request ended (or was given up).
    async fn receive(&mut self) -> Result<Option<Message>, Closed> {
        let message = tokio::select! {
            message = self.subscriber.next() => message.ok_or(Closed)?,
            _ = tokio::time::sleep_until(self.deadline) => {
                self.outstanding = 0;
                return Ok(None);
            }
        };
        match message.status {
            None | Some(StatusCode::OK) => {
                self.outstanding = self.outstanding.saturating_sub(1);
                Ok(Some(message))
            }
            Some(StatusCode::IDLE_HEARTBEAT) => Ok(None),
            // 408 expired, 404 nothing, 409 ended by the server: the
            // current request is over; an earlier one's end is ignored.
            Some(status) => {
                if message.subject.as_str() == self.reply_subject() {
                    tracing::trace!(%status, "nats source: pull request ended");
                    self.outstanding = 0;
                }
                Ok(None)
            }
        }
    }

    /// Once the source stopped: the next message the current request
    /// still brings, `None` once it is over (ended, or its deadline
    /// passed). Cancel-safe.
    pub(crate) async fn leftover(&mut self) -> Option<Message> {
        while self.outstanding > 0 {
            match self.receive().await {
                Ok(Some(message)) => return Some(message),
                Ok(None) => {}
                Err(Closed) => return None,
            }
        }
        None
    }

    /// Closes the subscription; returns what arrived anyway (an earlier
    /// request's stragglers).
    pub(crate) async fn close(mut self) -> Vec<Message> {
        let mut left = Vec::new();
        let _ = self.subscriber.unsubscribe().await;
        while let Some(Some(message)) = self.subscriber.next().now_or_never() {
            if message.status.is_none() {
                left.push(message);
            }
        }
        left
    }
}
