//! What a pipeline reads from and writes to: [`Source`], [`Sink`] and
//! [`DeadLetterSink`], with adapters for iterators and closures.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use weir::io::{iter_source, sink_fn};
//! use weir::Pipeline;
//!
//! let written = Arc::new(Mutex::new(Vec::new()));
//! let keep = written.clone();
//! let source = iter_source(1..=3u32);
//! let sink = sink_fn(move |n: &u32| {
//!     keep.lock().unwrap().push(*n);
//!     Ok(())
//! });
//! let runtime = tokio::runtime::Runtime::new().unwrap();
//! let report = runtime.block_on(Pipeline::builder().source("numbers", source).sink("keep", sink).run());
//! assert_eq!(report.accounting.delivered, 3);
//! assert_eq!(*written.lock().unwrap(), [1, 2, 3]);
//! ```

use std::any::Any;
use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use crate::ack::AckCallback;
use crate::error::BoxError;
use crate::stage::spec::{self, Gauge};

/// One item from a source, with an optional callback that will be told what
/// became of it (see [`crate::ack`]).
pub struct Emitted<T> {
    /// The data.
    pub payload: T,
    /// Told the record's [`Outcome`](crate::Outcome) once it is finished.
    pub on_ack: Option<AckCallback>,
}

impl<T> From<T> for Emitted<T> {
    fn from(payload: T) -> Self {
        Emitted {
            payload,
            on_ack: None,
        }
    }
}

/// What a source hands the engine: a record, or input it could not turn into
/// one (an over-long line, invalid UTF-8, ...), which goes to the dead
/// letters with its reason while the run goes on.
pub enum SourceItem<T> {
    /// A record.
    Record(Emitted<T>),
    /// Bad input: dead-lettered at the source.
    Invalid {
        /// The raw input, as well as the source could keep it.
        raw: Bytes,
        /// Why it is not a record.
        reason: String,
        /// Told the outcome (dead-lettered) once written.
        on_ack: Option<AckCallback>,
    },
}

/// Where records come from. `next` is awaited only when the pipeline has
/// room, so a source that reads incrementally is slowed by backpressure.
pub trait Source<T>: Send + 'static {
    /// The next item, or `None` when the source is exhausted. Called again
    /// only after the previous item was accepted into the pipeline.
    fn next(&mut self) -> impl Future<Output = Option<SourceItem<T>>> + Send;

    /// The origin of the record [`Source::next`] just returned: the
    /// source's id for it, the same when the record is read again after a
    /// restart (a stream and sequence, a file and offset), so a sink can
    /// let its destination drop the duplicate (see [`Sink::write_from`]).
    /// The engine asks once after each record; by default there is none.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use weir::io::{Emitted, Source, SourceItem};
    ///
    /// // A source as it always was: no origins.
    /// struct Plain(u32);
    /// impl Source<u32> for Plain {
    ///     async fn next(&mut self) -> Option<SourceItem<u32>> {
    ///         self.0 += 1;
    ///         Some(SourceItem::Record(Emitted { payload: self.0, on_ack: None }))
    ///     }
    /// }
    ///
    /// // A source that numbers its records by their place in the input.
    /// struct Numbered(u32);
    /// impl Source<u32> for Numbered {
    ///     async fn next(&mut self) -> Option<SourceItem<u32>> {
    ///         self.0 += 1;
    ///         Some(SourceItem::Record(self.0.into()))
    ///     }
    ///     fn take_origin(&mut self) -> Option<Arc<str>> {
    ///         Some(format!("numbers:{}", self.0).into())
    ///     }
    /// }
    ///
    /// futures::executor::block_on(async {
    ///     let (mut plain, mut numbered) = (Plain(0), Numbered(0));
    ///     plain.next().await;
    ///     numbered.next().await;
    ///     assert_eq!(plain.take_origin(), None);
    ///     assert_eq!(numbered.take_origin().as_deref(), Some("numbers:1"));
    /// });
    /// ```
    fn take_origin(&mut self) -> Option<Arc<str>> {
        None
    }

    /// What the source tells about itself beyond the engine's counters (a
    /// broker's pending acks, its connection), shown with the source's
    /// metrics; asked once, when the pipeline is built. None by default.
    fn readings(&self) -> Readings {
        Readings::default()
    }
}

/// A source's or a sink's gauges and status, read each time a snapshot is
/// taken (see [`Source::readings`], [`Sink::readings`]); the same as a
/// stage's
/// ([`Stage::gauge`](crate::stage::Stage::gauge),
/// [`Stage::status`](crate::stage::Stage::status)).
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use weir::io::{Readings, Source, SourceItem};
/// use weir::Pipeline;
///
/// struct Counted(Arc<AtomicU64>);
/// impl Source<u32> for Counted {
///     async fn next(&mut self) -> Option<SourceItem<u32>> {
///         let n = self.0.fetch_add(1, Ordering::Relaxed);
///         (n < 3).then(|| SourceItem::Record((n as u32).into()))
///     }
///     fn readings(&self) -> Readings {
///         let pulled = self.0.clone();
///         Readings::default()
///             .gauge("pulled", move || pulled.load(Ordering::Relaxed) as f64)
///             .status(|| Some("connected".into()))
///     }
/// }
/// let pipeline = Pipeline::builder()
///     .source("counted", Counted(Arc::default()))
///     .sink("out", weir::io::sink_fn(|_: &u32| Ok(())));
/// let runtime = tokio::runtime::Runtime::new().unwrap();
/// let report = runtime.block_on(pipeline.run());
/// let source = &report.snapshot.stages[0];
/// assert_eq!(source.status.as_deref(), Some("connected"));
/// assert!(source.gauges.iter().any(|(name, value)| &**name == "pulled" && *value == 4.0));
/// assert_eq!(report.accounting.delivered, 3);
/// ```
#[derive(Default)]
pub struct Readings(pub(crate) spec::Readings);

impl Readings {
    /// A reading by name, e.g. `pending_acks`.
    pub fn gauge(mut self, name: &str, read: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        self.0.gauges.push(Gauge {
            name: name.into(),
            read: Arc::new(read),
        });
        self
    }

    /// The component's state in words while it is unusual
    /// (`reconnecting`); `None` while all is well.
    pub fn status(mut self, read: impl Fn() -> Option<String> + Send + Sync + 'static) -> Self {
        self.0.status = Some(Arc::new(read));
        self
    }
}

/// Where finished records go.
pub trait Sink<T>: Send + 'static {
    /// Writes one record. A record is acknowledged as delivered only after a
    /// later [`Sink::flush`] succeeds.
    fn write(&mut self, item: &T) -> impl Future<Output = Result<(), BoxError>> + Send;

    /// Writes one record whose source gave it `origin` (see
    /// [`Emitted::with_origin`]), an id that is the same when the record is
    /// written again after a replay. The engine calls this one; by default
    /// it is [`Sink::write`]. A sink whose destination drops duplicates by
    /// id (a message id) overrides it.
    ///
    /// ```
    /// use weir::io::Sink;
    /// use weir::BoxError;
    ///
    /// struct Ids(Vec<Option<String>>);
    /// impl Sink<u32> for Ids {
    ///     async fn write(&mut self, _: &u32) -> Result<(), BoxError> {
    ///         Ok(())
    ///     }
    ///     async fn write_from(&mut self, _: &u32, origin: Option<&str>) -> Result<(), BoxError> {
    ///         self.0.push(origin.map(str::to_owned));
    ///         Ok(())
    ///     }
    /// }
    /// let mut sink = Ids(Vec::new());
    /// futures::executor::block_on(sink.write_from(&1, Some("S:1"))).unwrap();
    /// assert_eq!(sink.0, [Some("S:1".to_owned())]);
    /// ```
    fn write_from(
        &mut self,
        item: &T,
        origin: Option<&str>,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = origin;
        self.write(item)
    }

    /// Makes every record written so far durable (or visible). Called when
    /// the sink's input is momentarily empty, every 1024 records, and at the
    /// end.
    fn flush(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send {
        async { Ok(()) }
    }

    /// What the sink tells about itself beyond the engine's counters (its
    /// connection), shown with the sink's metrics; asked once, when the
    /// pipeline is built. None by default. See [`Readings`].
    fn readings(&self) -> Readings {
        Readings::default()
    }
}

/// A record that failed, with where and why.
#[derive(Debug)]
pub struct DeadLetter {
    /// The record's id.
    pub record_id: u64,
    /// The stage where it failed (`source` for bad input).
    pub stage: Arc<str>,
    /// Why it failed.
    pub reason: String,
    /// How many attempts were made.
    pub attempts: u32,
    /// When it was dead-lettered.
    pub at: SystemTime,
    /// What failed: the record's payload, or a source's raw input.
    pub payload: DeadPayload,
}

/// What a dead letter holds of what failed.
#[derive(Debug)]
pub enum DeadPayload {
    /// The record's payload as it entered the failing stage or sink, of the
    /// pipeline's record type at that point (so type-erased here; see
    /// [`DeadLetter::payload_as`]).
    Record(Box<dyn Any + Send + Sync>),
    /// Input a source could not make a record of
    /// ([`SourceItem::Invalid`]), as it was read.
    Raw(Bytes),
}

impl DeadLetter {
    /// The record's payload, if the letter holds a record whose payload is
    /// a `T`.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use weir::io::{DeadLetter, DeadPayload};
    /// let letter = DeadLetter {
    ///     record_id: 1,
    ///     stage: "parse".into(),
    ///     reason: "not a number".into(),
    ///     attempts: 1,
    ///     at: SystemTime::now(),
    ///     payload: DeadPayload::Record(Box::new(String::from("x1"))),
    /// };
    /// assert_eq!(letter.payload_as::<String>().map(String::as_str), Some("x1"));
    /// assert!(letter.payload_as::<u32>().is_none());
    /// assert!(letter.raw().is_none());
    /// ```
    pub fn payload_as<T: 'static>(&self) -> Option<&T> {
        match &self.payload {
            DeadPayload::Record(payload) => payload.downcast_ref(),
            DeadPayload::Raw(_) => None,
        }
    }

    /// The raw input, if the letter holds input a source could not make a
    /// record of.
    pub fn raw(&self) -> Option<&Bytes> {
        match &self.payload {
            DeadPayload::Raw(raw) => Some(raw),
            DeadPayload::Record(_) => None,
        }
    }
}

/// Where dead letters go. Records are acknowledged as dead-lettered only
/// after `write` succeeds.
pub trait DeadLetterSink: Send + 'static {
    /// Writes one dead letter.
    fn write(&mut self, letter: &DeadLetter) -> impl Future<Output = Result<(), BoxError>> + Send;

    /// Makes what was written durable.
    fn flush(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send {
        async { Ok(()) }
    }
}

/// The dead-letter output used when none is configured: each letter is
/// logged as a `tracing` warning (and counted in the run's accounting).
#[derive(Debug, Default)]
pub struct LogDeadLetters;

impl DeadLetterSink for LogDeadLetters {
    async fn write(&mut self, letter: &DeadLetter) -> Result<(), BoxError> {
        tracing::warn!(
            record = letter.record_id,
            stage = %letter.stage,
            attempts = letter.attempts,
            reason = %letter.reason,
            "dead letter"
        );
        Ok(())
    }
}

/// A source that yields an iterator's items.
pub fn iter_source<I>(items: I) -> IterSource<I::IntoIter>
where
    I: IntoIterator,
    I::IntoIter: Send + 'static,
{
    IterSource(items.into_iter())
}

/// See [`iter_source`].
#[derive(Debug)]
pub struct IterSource<I>(I);

impl<I> Source<I::Item> for IterSource<I>
where
    I: Iterator + Send + 'static,
    I::Item: Send,
{
    async fn next(&mut self) -> Option<SourceItem<I::Item>> {
        self.0.next().map(|item| SourceItem::Record(item.into()))
    }
}

/// A sink that calls `write` for each record.
pub fn sink_fn<T, F>(write: F) -> FnSink<F>
where
    F: FnMut(&T) -> Result<(), BoxError> + Send + 'static,
{
    FnSink(write)
}

/// See [`sink_fn`].
#[derive(Debug)]
pub struct FnSink<F>(F);

impl<T, F> Sink<T> for FnSink<F>
where
    T: Sync,
    F: FnMut(&T) -> Result<(), BoxError> + Send + 'static,
{
    async fn write(&mut self, item: &T) -> Result<(), BoxError> {
        (self.0)(item)
    }
}
