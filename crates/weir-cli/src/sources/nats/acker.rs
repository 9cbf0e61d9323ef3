//! The acker: one task that tells the server what became of each message.
//!
//! The engine reports a record's outcome through a synchronous callback;
//! the callback only sends it here, over a channel, and this task publishes
//! the ack (`+ACK`, `-NAK`, `+TERM`). It also keeps every message the
//! pipeline holds and, when one has been in work for half of `ack_wait`,
//! sends `+WPI` (in progress) so the server does not give it to another
//! worker while this one is still at it.
//!
//! The task ends once the source and every record's callback are gone, and
//! the last pull request's messages are nakked: the command waits for it
//! (the source's lingering work), so a drained run leaves no message
//! waiting for `ack_wait`. Naks are held until that last pull request is
//! over, so the server gives the nakked messages to another worker (or the
//! next run) rather than straight back to this one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::AckKind;
use async_nats::{Client, Subject};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use weir::ack::AckCallback;
use weir::Outcome;

use super::pull::Puller;

/// How long the acker waits for its last acks to reach the server.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// `dead_letters`: what a dead-lettered message gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DeadLetterAck {
    /// Acked: the dead-letter output has it.
    #[default]
    Ack,
    /// Terminated: the server stops redelivering it and publishes a
    /// `MSG_TERMINATED` advisory.
    Term,
}

/// What the acker has done, for the live view and the summary.
#[derive(Debug, Default)]
pub(crate) struct AckCounts {
    /// Messages handed to the pipeline and not yet acked or nakked.
    pub(crate) pending: AtomicU64,
    /// Messages that came for the second time or more.
    pub(crate) redelivered: AtomicU64,
    /// Acks (`+ACK`, `+TERM`) sent.
    pub(crate) acked: AtomicU64,
    /// Naks sent.
    pub(crate) nakked: AtomicU64,
}

enum Command {
    /// A message handed to the pipeline.
    Track(Subject),
    /// Its ack.
    Done(Subject, AckKind),
    /// The source is gone: nak what its last pull request brings.
    Leftover(Box<Puller>),
}

/// The source's handle on the acker.
#[derive(Debug)]
pub(crate) struct Acks {
    sender: mpsc::UnboundedSender<Command>,
    dead_letters: DeadLetterAck,
    counts: Arc<AckCounts>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Track(reply) => write!(f, "Track({reply})"),
            Command::Done(reply, kind) => write!(f, "Done({reply}, {kind:?})"),
            Command::Leftover(_) => f.write_str("Leftover"),
        }
    }
}

impl Acks {
    /// Starts the acker on `client`.
    pub(crate) fn start(
        client: Client,
        ack_wait: Duration,
        dead_letters: DeadLetterAck,
        counts: Arc<AckCounts>,
    ) -> (Acks, JoinHandle<()>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(client, receiver, ack_wait, counts.clone()));
        let acks = Acks {
            sender,
            dead_letters,
            counts,
        };
        (acks, task)
    }

    /// Tracks the message with ack subject `reply`; the callback acks it
    /// by its outcome.
    pub(crate) fn track(&self, reply: Subject) -> AckCallback {
        self.counts.pending.fetch_add(1, Ordering::Relaxed);
        let _ = self.sender.send(Command::Track(reply.clone()));
        let sender = self.sender.clone();
        let dead_letters = self.dead_letters;
        Box::new(move |outcome: &Outcome| {
            let kind = match outcome {
                // Spilled: synced to a spill link, which replays it after a
                // crash: handed off, so acked.
                Outcome::Delivered
                | Outcome::Filtered { .. }
                | Outcome::Dropped { .. }
                | Outcome::Spilled { .. } => AckKind::Ack,
                Outcome::DeadLettered { .. } => match dead_letters {
                    DeadLetterAck::Ack => AckKind::Ack,
                    DeadLetterAck::Term => AckKind::Term,
                },
                Outcome::Nacked => AckKind::Nak(None),
            };
            let _ = sender.send(Command::Done(reply, kind));
        })
    }

    /// Hands over the puller when the source is dropped.
    pub(crate) fn leftover(&self, puller: Puller) {
        let _ = self.sender.send(Command::Leftover(Box::new(puller)));
    }
}

/// What the acker's loop woke up for.
enum Event {
    Command(Option<Command>),
    /// A message the last pull request brought, `None` once it is over.
    Leftover(Option<async_nats::Message>),
    Tick,
}

/// The next message of the stopping puller's last request (`None` once it
/// is over); never ready while there is no stopping puller.
async fn leftover(stopping: &mut Option<Puller>) -> Option<async_nats::Message> {
    match stopping {
        Some(puller) => puller.leftover().await,
        None => std::future::pending().await,
    }
}

async fn run(
    client: Client,
    mut commands: mpsc::UnboundedReceiver<Command>,
    ack_wait: Duration,
    counts: Arc<AckCounts>,
) {
    let acked_counts = counts.clone();
    let half = ack_wait / 2;
    let mut in_work: HashMap<String, Instant> = HashMap::new();
    let mut ticks = tokio::time::interval((ack_wait / 4).max(Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A nak waits until the source's last pull request is over: sent while
    // the request is open, the server hands the message straight back to
    // it, to this worker that is stopping, which naks it again, each round
    // using up one of its `max_deliver` deliveries. Meanwhile the message
    // stays in `in_work`, kept in progress. (A record is nacked only when
    // the run ends: a drain deadline, a failure.)
    // The puller once the source is gone, until its last request is over.
    let mut stopping: Option<Puller> = None;
    let mut open = true;
    let send = {
        let client = client.clone();
        move |reply: Subject, kind: AckKind| {
            let client = client.clone();
            let counts = counts.clone();
            async move {
                match kind {
                    AckKind::Nak(_) => counts.nakked.fetch_add(1, Ordering::Relaxed),
                    AckKind::Progress => 0,
                    _ => counts.acked.fetch_add(1, Ordering::Relaxed),
                };
                if let Err(error) = client.publish(reply, kind.into()).await {
                    tracing::warn!(%error, "nats source: ack not sent");
                }
            }
        }
    };
    while open || stopping.is_some() {
        let event = tokio::select! {
            command = commands.recv(), if open => Event::Command(command),
            left = leftover(&mut stopping) => Event::Leftover(left),
            _ = ticks.tick() => Event::Tick,
        };
        match event {
            Event::Command(None) => open = false,
            Event::Command(Some(Command::Track(reply))) => {
                in_work.insert(reply.to_string(), Instant::now());
            }
            Event::Command(Some(Command::Done(reply, kind))) => {
                acked_counts.pending.fetch_sub(1, Ordering::Relaxed);
                if !matches!(kind, AckKind::Nak(_)) {
                    in_work.remove(reply.as_str());
                    send(reply, kind).await;
                }
            }
            Event::Command(Some(Command::Leftover(puller))) => stopping = Some(*puller),
            // Brought after the source stopped taking: nakked at the end.
            Event::Leftover(Some(message)) => {
                if let Some(reply) = message.reply {
                    in_work.insert(reply.to_string(), Instant::now());
                }
            }
            Event::Leftover(None) => {
                if let Some(puller) = stopping.take() {
                    for message in puller.close().await {
                        if let Some(reply) = message.reply {
                            in_work.insert(reply.to_string(), Instant::now());
                        }
                    }
                }
            }
            Event::Tick => {
                let now = Instant::now();
                for (reply, since) in &mut in_work {
                    if now.duration_since(*since) >= half {
                        *since = now;
                        send(Subject::from(reply.as_str()), AckKind::Progress).await;
                    }
                }
            }
        }
    }
    // Every callback has run and the last pull request is over: what is
    // left in work was nakked, or came after the source stopped taking
    // (or, should a message have had no outcome, goes back at once).
    for reply in in_work.into_keys() {
        send(Subject::from(reply), AckKind::Nak(None)).await;
    }
    if tokio::time::timeout(FLUSH_TIMEOUT, client.flush())
        .await
        .is_err()
    {
        tracing::warn!("nats source: the last acks may not have reached the server");
    }
}
