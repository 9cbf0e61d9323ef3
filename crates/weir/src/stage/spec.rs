//! [`Stage`]: the plain description of one transforming stage: its function
//! (per record, or per batch of records) and how it is run (concurrency,
//! order, timeout, retries, rate limit).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use weir_core::limit::RateLimit;

use super::attempt::TimeoutPolicy;
use super::retry::RetryPolicy;
use crate::error::BoxError;

/// What one call of a stage function produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Emit<U> {
    /// One record out (map).
    One(U),
    /// Nothing: the record is finished as filtered.
    Skip,
    /// Any number of records (flat_map); none is the same as [`Emit::Skip`].
    Many(Vec<U>),
}

pub(crate) type SyncFn<T, U> = Arc<dyn Fn(T) -> Result<Emit<U>, BoxError> + Send + Sync>;
pub(crate) type AsyncFn<T, U> =
    Arc<dyn Fn(T) -> BoxFuture<'static, Result<Emit<U>, BoxError>> + Send + Sync>;

pub(crate) enum StageFn<T, U> {
    /// Cheap work run inline on the worker task.
    Inline(SyncFn<T, U>),
    /// CPU-heavy work run on tokio's blocking pool, so it cannot starve the
    /// async workers.
    Blocking(SyncFn<T, U>),
    /// Async work (I/O).
    Async(AsyncFn<T, U>),
}

impl<T, U> Clone for StageFn<T, U> {
    fn clone(&self) -> Self {
        match self {
            StageFn::Inline(f) => StageFn::Inline(f.clone()),
            StageFn::Blocking(f) => StageFn::Blocking(f.clone()),
            StageFn::Async(f) => StageFn::Async(f.clone()),
        }
    }
}

/// What a stage calls its function on.
pub(crate) enum Work<T, U> {
    /// Each record, one by one.
    Each(StageFn<T, U>),
    /// Batches of up to `size` records, a partial batch once `max_wait` has
    /// passed since its first record; the function makes one record of each
    /// batch.
    Batch {
        size: usize,
        max_wait: Duration,
        join: StageFn<Vec<T>, U>,
    },
}

/// A transforming stage, described before it runs.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use weir::io::{iter_source, sink_fn};
/// use weir::stage::{RetryPolicy, Stage};
/// use weir::Pipeline;
///
/// let fetch = Stage::map_async(|n: u64| async move { Ok(n * 2) })
///     .concurrency(8)
///     .ordered()
///     .timeout(Duration::from_secs(2))
///     .retry(RetryPolicy::new(3));
/// let out = Arc::new(Mutex::new(Vec::new()));
/// let keep = out.clone();
/// let runtime = tokio::runtime::Runtime::new().unwrap();
/// let report = runtime.block_on(
///     Pipeline::builder()
///         .source("ids", iter_source(0..100u64))
///         .stage("fetch", fetch)
///         .sink("keep", sink_fn(move |n: &u64| Ok(keep.lock().unwrap().push(*n))))
///         .run(),
/// );
/// assert_eq!(report.accounting.delivered, 100);
/// // `ordered`: with 8 in flight, the output keeps the input's order.
/// assert_eq!(*out.lock().unwrap(), (0..100).map(|n| n * 2).collect::<Vec<_>>());
/// ```
pub struct Stage<T, U> {
    pub(crate) work: Work<T, U>,
    pub(crate) concurrency: usize,
    pub(crate) ordered: bool,
    pub(crate) timeout: Option<(Duration, TimeoutPolicy<U>)>,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) rate: Option<Arc<RateLimit>>,
    pub(crate) fail_fast: bool,
    pub(crate) readings: Readings,
}

/// A named reading a stage exposes with its metrics (e.g. an adaptive
/// concurrency limit), read each time a snapshot is taken.
#[derive(Clone)]
pub struct Gauge {
    pub(crate) name: Arc<str>,
    pub(crate) read: Arc<dyn Fn() -> f64 + Send + Sync>,
}

/// What a stage's function tells about itself beyond the engine's own
/// counters, read each time a snapshot is taken: its gauges, its status
/// (e.g. `paused: HTTP 503 from ...`), and the retries it makes inside
/// one attempt.
#[derive(Clone, Default)]
pub(crate) struct Readings {
    pub(crate) gauges: Vec<Gauge>,
    pub(crate) status: Option<Arc<dyn Fn() -> Option<String> + Send + Sync>>,
    pub(crate) retries: Option<Arc<dyn Fn() -> u64 + Send + Sync>>,
}

impl Readings {
    /// Adds `other`'s gauges to these; its status and retries win where it
    /// has them (a stage's own readings over its input link's).
    pub(crate) fn merge(&mut self, other: Readings) {
        self.gauges.extend(other.gauges);
        self.status = other.status.or(self.status.take());
        self.retries = other.retries.or(self.retries.take());
    }
}

impl<T: Send + 'static, U: Send + 'static> Stage<T, U> {
    fn new(function: StageFn<T, U>) -> Self {
        Self::with_work(Work::Each(function))
    }

    fn with_work(work: Work<T, U>) -> Self {
        Stage {
            work,
            concurrency: 1,
            ordered: false,
            timeout: None,
            retry: None,
            rate: None,
            fail_fast: false,
            readings: Readings::default(),
        }
    }

    /// One record in, one out; an error dead-letters the record.
    pub fn map(f: impl Fn(T) -> Result<U, BoxError> + Send + Sync + 'static) -> Self {
        Self::new(StageFn::Inline(Arc::new(move |x| f(x).map(Emit::One))))
    }

    /// One record in, any number out.
    pub fn flat_map(f: impl Fn(T) -> Result<Vec<U>, BoxError> + Send + Sync + 'static) -> Self {
        Self::new(StageFn::Inline(Arc::new(move |x| f(x).map(Emit::Many))))
    }

    /// Full control: the function says what to emit.
    pub fn emit(f: impl Fn(T) -> Result<Emit<U>, BoxError> + Send + Sync + 'static) -> Self {
        Self::new(StageFn::Inline(Arc::new(f)))
    }

    /// CPU-heavy work, run on the blocking pool (with [`Stage::concurrency`]
    /// bounding how many run at once).
    pub fn map_blocking(f: impl Fn(T) -> Result<U, BoxError> + Send + Sync + 'static) -> Self {
        Self::new(StageFn::Blocking(Arc::new(move |x| f(x).map(Emit::One))))
    }

    /// Async work, e.g. a request per record.
    pub fn map_async<F, Fut>(f: F) -> Self
    where
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<U, BoxError>> + Send + 'static,
    {
        Self::new(StageFn::Async(Arc::new(move |x| {
            f(x).map(|r| r.map(Emit::One)).boxed()
        })))
    }

    /// Async work that says what to emit.
    pub fn emit_async<F, Fut>(f: F) -> Self
    where
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Emit<U>, BoxError>> + Send + 'static,
    {
        Self::new(StageFn::Async(Arc::new(move |x| f(x).boxed())))
    }

    /// Groups records into batches of up to `size` (at least 1) and makes
    /// one record of each batch with `join`; a partial batch is joined once
    /// `max_wait` has passed since its first record, and at the end of the
    /// input. The joined record stands for every record of its batch: each
    /// is acknowledged with its outcome (delivered, dead-lettered, ...). A
    /// failed `join` is retried, timed out and dead-lettered as any stage
    /// function is, with the whole batch as the dead letter's payload.
    ///
    /// A batch stage runs one worker: [`Stage::concurrency`] and
    /// [`Stage::ordered`] do not apply to it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir::io::{iter_source, sink_fn};
    /// use weir::stage::Stage;
    /// use weir::Pipeline;
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// let sum = Stage::batch(10, Duration::from_secs(1), |batch: Vec<u32>| Ok(batch.iter().sum::<u32>()));
    /// let report = Pipeline::builder()
    ///     .source("numbers", iter_source(1..=25u32))
    ///     .stage("sum", sum)
    ///     .sink("out", sink_fn(|total: &u32| { assert!(*total > 0); Ok(()) }))
    ///     .run()
    ///     .await;
    /// let names: Vec<_> = report.snapshot.stages.iter().map(|s| s.name.to_string()).collect();
    /// assert_eq!(names, ["numbers", "sum", "out"]);
    /// assert_eq!(report.snapshot.stages[1].records_out, 3); // 10 + 10 + 5
    /// assert_eq!(report.accounting.delivered, 25); // per source record
    /// # });
    /// ```
    pub fn batch(
        size: usize,
        max_wait: Duration,
        join: impl Fn(Vec<T>) -> Result<U, BoxError> + Send + Sync + 'static,
    ) -> Self {
        Self::with_work(Work::Batch {
            size: size.max(1),
            max_wait,
            join: StageFn::Inline(Arc::new(move |batch| join(batch).map(Emit::One))),
        })
    }

    /// At most `n` records in work at once (default 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Emit in input order even with concurrency (default: as finished).
    pub fn ordered(mut self) -> Self {
        self.ordered = true;
        self
    }

    /// Cancel an attempt after `after`; the record is then retried if a retry
    /// policy allows, else dead-lettered.
    pub fn timeout(self, after: Duration) -> Self {
        self.timeout_with(after, TimeoutPolicy::DeadLetter)
    }

    /// Like [`Stage::timeout`], with what to do when the last attempt times out.
    pub fn timeout_with(mut self, after: Duration, policy: TimeoutPolicy<U>) -> Self {
        self.timeout = Some((after, policy));
        self
    }

    /// Retry failed attempts.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Wait for this rate limit before each attempt.
    pub fn rate_limit(mut self, limit: Arc<RateLimit>) -> Self {
        self.rate = Some(limit);
        self
    }

    /// Exposes a reading with this stage's metrics, e.g. its adaptive
    /// concurrency limit: `stage.gauge("concurrency_limit", move || limit.current_limit() as f64)`.
    pub fn gauge(mut self, name: &str, read: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        self.readings.gauges.push(Gauge {
            name: name.into(),
            read: Arc::new(read),
        });
        self
    }

    /// Exposes the stage's state in words while it is unusual, e.g.
    /// `paused: HTTP 503 from 127.0.0.1:8080, next probe in 1s`; `None`
    /// while all is well. Shown by the live view and the reports.
    pub fn status(mut self, read: impl Fn() -> Option<String> + Send + Sync + 'static) -> Self {
        self.readings.status = Some(Arc::new(read));
        self
    }

    /// Counts, in the stage's `retries`, the retries its function makes
    /// inside one attempt (e.g. an HTTP client honouring `Retry-After`):
    /// `read` gives how many so far. Pair it with [`AttemptsError`] so a
    /// dead letter's `attempts` counts them too.
    ///
    /// [`AttemptsError`]: crate::stage::AttemptsError
    pub fn retries_inside(mut self, read: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.readings.retries = Some(Arc::new(read));
        self
    }

    /// A record that fails here (after retries) stops the pipeline instead of
    /// being dead-lettered.
    pub fn fail_fast(mut self) -> Self {
        self.fail_fast = true;
        self
    }
}

impl<T: Send + 'static> Stage<T, T> {
    /// Keep the records for which `predicate` is true; the others are
    /// finished as filtered.
    pub fn filter(predicate: impl Fn(&T) -> bool + Send + Sync + 'static) -> Self {
        Self::emit(move |x| {
            Ok(if predicate(&x) {
                Emit::One(x)
            } else {
                Emit::Skip
            })
        })
    }

    /// Look at each record (e.g. to log it) and pass it on unchanged.
    pub fn inspect(f: impl Fn(&T) + Send + Sync + 'static) -> Self {
        Self::emit(move |x| {
            f(&x);
            Ok(Emit::One(x))
        })
    }

    /// Pass records on at most at `limit`'s rate.
    pub fn throttle(limit: Arc<RateLimit>) -> Self {
        Self::emit(|x| Ok(Emit::One(x))).rate_limit(limit)
    }
}
