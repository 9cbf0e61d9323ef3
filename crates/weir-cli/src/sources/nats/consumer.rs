//! Finding (or creating) the stream and the durable pull consumer every
//! worker shares. A consumer that exists is used only if its settings are
//! the pipeline's: silently altering one that other workers use would
//! change their behaviour under them.

use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy};
use async_nats::jetstream::context::{ConsumerInfoErrorKind, GetStreamErrorKind};
use async_nats::jetstream::stream::{self, StorageType};
use async_nats::jetstream::Context;
use async_nats::jetstream::ErrorCode;

/// What the pipeline asks of the consumer.
#[derive(Debug, Clone)]
pub(crate) struct Wanted<'a> {
    pub(crate) stream: &'a str,
    pub(crate) consumer: &'a str,
    pub(crate) subject: Option<&'a str>,
    pub(crate) ack_wait: Duration,
    pub(crate) max_ack_pending: i64,
    /// `None`: whatever the consumer has (unlimited for a new one).
    pub(crate) max_deliver: Option<i64>,
}

/// The stream or the consumer could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConsumerError {
    #[error("stream {stream:?} does not exist (give `subject` to create it)")]
    NoStream { stream: String },
    #[error("stream {stream:?}: {source}")]
    Stream {
        stream: String,
        #[source]
        source: async_nats::Error,
    },
    #[error("consumer {consumer:?}: {source}")]
    Consumer {
        consumer: String,
        #[source]
        source: async_nats::Error,
    },
    #[error(
        "consumer {consumer:?} exists with {setting} = {found}, the pipeline asks for {wanted} \
         (change the pipeline, or delete the consumer when no worker uses it)"
    )]
    Differs {
        consumer: String,
        setting: &'static str,
        found: String,
        wanted: String,
    },
}

/// The consumer's settings as the server has them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settled {
    /// Its `max_deliver` (≤ 0: unlimited).
    pub(crate) max_deliver: i64,
}

/// Finds the stream (creating a file stream on `subject` when it is
/// missing and `subject` is given) and the consumer (creating it when
/// missing, checking it when it exists).
pub(crate) async fn prepare(js: &Context, wanted: &Wanted<'_>) -> Result<Settled, ConsumerError> {
    let stream_error = |source: async_nats::Error| ConsumerError::Stream {
        stream: wanted.stream.to_owned(),
        source,
    };
    let stream = match js.get_stream(wanted.stream).await {
        Ok(stream) => stream,
        Err(error) if is_stream_not_found(error.kind()) => {
            let Some(subject) = wanted.subject else {
                return Err(ConsumerError::NoStream {
                    stream: wanted.stream.to_owned(),
                });
            };
            js.create_stream(stream::Config {
                name: wanted.stream.to_owned(),
                subjects: vec![subject.to_owned()],
                storage: StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|error| stream_error(error.into()))?
        }
        Err(error) => return Err(stream_error(error.into())),
    };
    let consumer_error = |source: async_nats::Error| ConsumerError::Consumer {
        consumer: wanted.consumer.to_owned(),
        source,
    };
    match stream.consumer_info(wanted.consumer).await {
        Ok(info) => check(wanted, &info.config),
        Err(error) if error.kind() == ConsumerInfoErrorKind::NotFound => {
            let config = pull::Config {
                durable_name: Some(wanted.consumer.to_owned()),
                ack_policy: AckPolicy::Explicit,
                ack_wait: wanted.ack_wait,
                max_ack_pending: wanted.max_ack_pending,
                max_deliver: wanted.max_deliver.unwrap_or(-1),
                filter_subject: wanted.subject.unwrap_or_default().to_owned(),
                ..Default::default()
            };
            stream
                .create_consumer(config)
                .await
                .map_err(|error| consumer_error(error.into()))?;
            Ok(Settled {
                max_deliver: wanted.max_deliver.unwrap_or(-1),
            })
        }
        Err(error) => Err(consumer_error(error.into())),
    }
}

fn is_stream_not_found(kind: GetStreamErrorKind) -> bool {
    matches!(kind, GetStreamErrorKind::JetStream(error) if error.error_code() == ErrorCode::STREAM_NOT_FOUND)
}

/// The consumer's settings against the pipeline's: the first that differs
/// is the error.
fn check(
    wanted: &Wanted<'_>,
    found: &async_nats::jetstream::consumer::Config,
) -> Result<Settled, ConsumerError> {
    let differs = |setting: &'static str, found: String, wanted_value: String| {
        Err(ConsumerError::Differs {
            consumer: wanted.consumer.to_owned(),
            setting,
            found,
            wanted: wanted_value,
        })
    };
    if found.deliver_subject.is_some() {
        return differs("delivery", "push".into(), "pull".into());
    }
    if found.ack_policy != AckPolicy::Explicit {
        return differs(
            "ack_policy",
            format!("{:?}", found.ack_policy).to_lowercase(),
            "explicit".into(),
        );
    }
    if found.ack_wait != wanted.ack_wait {
        let show = |d: Duration| humantime::format_duration(d).to_string();
        return differs("ack_wait", show(found.ack_wait), show(wanted.ack_wait));
    }
    if found.max_ack_pending != wanted.max_ack_pending {
        return differs(
            "max_ack_pending",
            found.max_ack_pending.to_string(),
            wanted.max_ack_pending.to_string(),
        );
    }
    let subject = wanted.subject.unwrap_or_default();
    if found.filter_subject != subject {
        let show = |s: &str| {
            if s.is_empty() {
                "(none)".to_owned()
            } else {
                format!("{s:?}")
            }
        };
        return differs("subject", show(&found.filter_subject), show(subject));
    }
    if let Some(max_deliver) = wanted.max_deliver {
        if found.max_deliver != max_deliver {
            return differs(
                "max_deliver",
                found.max_deliver.to_string(),
                max_deliver.to_string(),
            );
        }
    }
    Ok(Settled {
        max_deliver: found.max_deliver,
    })
}
