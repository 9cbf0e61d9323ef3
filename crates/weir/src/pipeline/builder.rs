//! Building a pipeline: a source, stages in order, a sink, each joined to
//! the next by a bounded link (a [`weir_core::Queue`]).

use std::future::Future;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use weir_core::{Dropped, Overflow, Queue};

use super::context::RunContext;
use super::dead_letters::run_dead_letters;
use super::running::{Link, RunningPipeline};
use super::sink::run_sink;
use super::source::run_source;
use crate::ack::{DropPolicy, Outcome};
use crate::error::BoxError;
use crate::io::{DeadLetterSink, LogDeadLetters, Sink, Source};
use crate::metrics::stage::StageMetrics;
use crate::metrics::Role;
use crate::record::Record;
use crate::spill::{self, SpillConfig, SpillError, SpillShared};
use crate::stage::fan::{run_broadcast, run_merge};
use crate::stage::spec::Work;
use crate::stage::transform::Transform;
use crate::stage::{Emit, RetryPolicy, Stage};
use crate::RunReport;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The capacity and overflow policy of a link between two components.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkConfig {
    /// Records the link holds at most (at least 1).
    pub capacity: usize,
    /// What a full link does with one more record. Records a dropping policy
    /// discards are finished as [`Outcome::Dropped`] and counted.
    pub overflow: Overflow,
}

impl Default for LinkConfig {
    /// 64 records, blocking when full.
    fn default() -> Self {
        LinkConfig {
            capacity: 64,
            overflow: Overflow::Block,
        }
    }
}

/// Entry point: `Pipeline::builder().source(..).map(..).sink(..)`.
///
/// ```
/// use weir::io::{iter_source, sink_fn};
/// use weir::Pipeline;
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// let report = Pipeline::builder()
///     .source("numbers", iter_source(1..=100u64))
///     .filter("even", |n| n % 2 == 0)
///     .map("square", |n| Ok(n * n))
///     .sink("check", sink_fn(|n: &u64| { assert!(n % 4 == 0); Ok(()) }))
///     .run()
///     .await;
/// assert_eq!(report.accounting.delivered, 50);
/// assert_eq!(report.accounting.filtered, 50);
/// assert!(report.accounting.balances());
/// # });
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Pipeline;

impl Pipeline {
    /// Starts describing a pipeline with default links ([`LinkConfig::default`]).
    pub fn builder() -> PipelineBuilder {
        PipelineBuilder {
            links: LinkConfig::default(),
            dead_letter_capacity: 64,
        }
    }
}

/// Pipeline-wide settings, before the source is given.
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct PipelineBuilder {
    links: LinkConfig,
    dead_letter_capacity: usize,
}

impl PipelineBuilder {
    /// The default for every link (each can be overridden with [`Flow::link`]).
    pub fn links(mut self, links: LinkConfig) -> Self {
        self.links = links;
        self
    }

    /// The capacity of the link to the dead-letter output.
    pub fn dead_letter_capacity(mut self, capacity: usize) -> Self {
        self.dead_letter_capacity = capacity.max(1);
        self
    }

    /// The source the pipeline reads from.
    pub fn source<T: Send + 'static>(self, name: &str, source: impl Source<T>) -> Flow<T> {
        let ctx = Arc::new(RunContext::new(self.dead_letter_capacity));
        let name: Arc<str> = name.into();
        let metrics = Arc::new(StageMetrics::new(name.clone(), Role::Source, 1));
        *metrics.readings.lock() = source.readings().0;
        ctx.register(metrics.clone());
        let build = Build {
            ctx: ctx.clone(),
            tasks: Vec::new(),
            links: Vec::new(),
            default_link: self.links,
            next_link: None,
        };
        Flow {
            build,
            producer_metrics: metrics.clone(),
            spill: None,
            producer: Box::new(move |build, output| {
                build
                    .tasks
                    .push(run_source(source, name, metrics, ctx, output).boxed());
            }),
        }
    }
}

/// The parts of a pipeline that do not depend on the record type.
pub(crate) struct Build {
    pub(crate) ctx: Arc<RunContext>,
    pub(crate) tasks: Vec<BoxFuture<'static, ()>>,
    pub(crate) links: Vec<Link>,
    default_link: LinkConfig,
    next_link: Option<LinkConfig>,
}

impl Build {
    /// Adds the task of a component (stage, sink, broadcast or merge) whose
    /// `metrics` mark it done when `run` ends. (The source's task is added
    /// by [`PipelineBuilder::source`], which does not mark it done.)
    fn spawn_component(
        &mut self,
        metrics: &Arc<StageMetrics>,
        run: impl Future<Output = ()> + Send + 'static,
    ) {
        let done = metrics.clone();
        self.tasks.push(run.map(move |()| done.mark_done()).boxed());
    }
}

/// One branch of a [`Flow::broadcast`]: given the branch's start, returns
/// its end.
pub type Branch<T, U> = Box<dyn FnOnce(Flow<T>) -> Flow<U> + Send>;

/// A link as the components at its two ends see it.
type LinkQueue<T> = Queue<Record<T>>;

/// The last component added, waiting to be given its output link.
type Producer<T> = Box<dyn FnOnce(&mut Build, Queue<Record<T>>) + Send>;

/// A spill link asked for with [`Flow::spill`], waiting for its consumer:
/// given the link's capacity and the consumer, starts the link's tasks and
/// returns its two ends (the producer's, the consumer's).
type SpillMaker<T> =
    Box<dyn FnOnce(&mut Build, usize, &Arc<StageMetrics>) -> (LinkQueue<T>, LinkQueue<T>) + Send>;

/// A pipeline under construction whose records are, at this point, `T`s.
#[must_use = "a flow does nothing until it has a sink and is run"]
pub struct Flow<T> {
    build: Build,
    producer: Producer<T>,
    producer_metrics: Arc<StageMetrics>,
    spill: Option<SpillMaker<T>>,
}

impl<T: Send + 'static> Flow<T> {
    /// Sets the capacity and overflow policy of the next link only.
    pub fn link(mut self, link: LinkConfig) -> Self {
        self.build.next_link = Some(link);
        self
    }

    /// Makes the next link a spill link ([`crate::spill`]): its memory part
    /// holds the link's capacity, and when that is full, records go to a
    /// log in `config.dir` instead of blocking the producer, up to
    /// `config.max_bytes`; the consumer gets them back in order.
    ///
    /// # Errors
    /// The directory cannot be created, read or locked (another run uses
    /// it).
    pub fn spill(mut self, config: SpillConfig) -> Result<Self, SpillError>
    where
        T: Serialize + DeserializeOwned,
    {
        let opened = SpillShared::open_log(&config)?;
        self.spill = Some(Box::new(move |build, capacity, consumer| {
            let shared = SpillShared::new(
                opened,
                config,
                consumer.name.clone(),
                build.ctx.accounting.clone(),
            );
            {
                let mut readings = consumer.readings.lock();
                readings.gauges.extend(spill::gauges(&shared));
                if let Some(said) = shared.recovered.clone() {
                    readings
                        .status
                        .get_or_insert_with(|| Arc::new(move || Some(said.clone())));
                }
            }
            let ahead = Queue::bounded((capacity / 2).max(1));
            let behind = Queue::bounded((capacity - capacity / 2).max(1));
            let ctx = build.ctx.clone();
            build.tasks.push(
                spill::run_writer(shared.clone(), ctx.clone(), ahead.clone(), behind.clone())
                    .boxed(),
            );
            build
                .tasks
                .push(spill::run_reader(shared, ctx, consumer.clone(), behind.clone()).boxed());
            (ahead, behind)
        }));
        Ok(self)
    }

    /// Joins the last component to a new one, `consumer`, by a link, and
    /// returns the link for the consumer to read.
    fn connect(mut self, consumer: &Arc<StageMetrics>) -> (Build, Queue<Record<T>>) {
        let config = self
            .build
            .next_link
            .take()
            .unwrap_or(self.build.default_link);
        let spilled = self.spill.is_some();
        let (ahead, queue) = match self.spill.take() {
            Some(make) => make(&mut self.build, config.capacity.max(1), consumer),
            None => {
                let queue = link_queue(config, consumer.name.clone());
                (queue.clone(), queue)
            }
        };
        let probe = |queue: &Queue<Record<T>>| {
            let queue = queue.clone();
            Box::new(move || queue.stats()) as crate::metrics::stage::QueueProbe
        };
        consumer.inputs.lock().push(probe(&queue));
        self.producer_metrics.outputs.lock().push(probe(&ahead));
        (self.producer)(&mut self.build, ahead.clone());
        for end in [&ahead, &queue] {
            let held = end.clone();
            self.build.links.push(Link {
                consumer: consumer.name.clone(),
                len: Box::new(move || held.len()),
                abandon: {
                    let queue = end.clone();
                    Box::new(move || drop(queue.shutdown_immediate()))
                },
            });
            if !spilled {
                break; // one queue, both ends
            }
        }
        (self.build, queue)
    }

    fn then<U: Send + 'static>(
        self,
        name: &str,
        role: Role,
        workers: usize,
        run: impl FnOnce(
                Arc<StageMetrics>,
                Arc<RunContext>,
                Queue<Record<T>>,
                Queue<Record<U>>,
            ) -> BoxFuture<'static, ()>
            + Send
            + 'static,
    ) -> Flow<U> {
        let metrics = Arc::new(StageMetrics::new(name.into(), role, workers));
        self.build.ctx.register(metrics.clone());
        let (build, input) = self.connect(&metrics);
        let ctx = build.ctx.clone();
        let stage_metrics = metrics.clone();
        Flow {
            build,
            producer_metrics: metrics,
            spill: None,
            producer: Box::new(move |build, output| {
                let done = stage_metrics.clone();
                build.spawn_component(&done, run(stage_metrics, ctx, input, output));
            }),
        }
    }

    /// Adds a stage described by a [`Stage`].
    pub fn stage<U: Send + 'static>(self, name: &str, mut stage: Stage<T, U>) -> Flow<U>
    where
        T: Clone + Sync,
    {
        let workers = match stage.work {
            Work::Batch { .. } => 1,
            Work::Each(_) if stage.ordered => 1,
            Work::Each(_) => stage.concurrency,
        };
        let name_arc: Arc<str> = name.into();
        self.then(
            name,
            Role::Stage,
            workers,
            move |metrics, ctx, input, output| {
                metrics
                    .readings
                    .lock()
                    .merge(std::mem::take(&mut stage.readings));
                Transform {
                    name: name_arc,
                    stage,
                    metrics,
                    ctx,
                }
                .run(input, output)
                .boxed()
            },
        )
    }

    /// One record in, one out; an `Err` dead-letters the record.
    pub fn map<U: Send + 'static>(
        self,
        name: &str,
        f: impl Fn(T) -> Result<U, BoxError> + Send + Sync + 'static,
    ) -> Flow<U>
    where
        T: Clone + Sync,
    {
        self.stage(name, Stage::map(f))
    }

    /// Keeps the records for which `predicate` holds.
    pub fn filter(self, name: &str, predicate: impl Fn(&T) -> bool + Send + Sync + 'static) -> Self
    where
        T: Clone + Sync,
    {
        self.stage(name, Stage::filter(predicate))
    }

    /// One record in, any number out.
    pub fn flat_map<U: Send + 'static>(
        self,
        name: &str,
        f: impl Fn(T) -> Result<Vec<U>, BoxError> + Send + Sync + 'static,
    ) -> Flow<U>
    where
        T: Clone + Sync,
    {
        self.stage(name, Stage::emit(move |x| f(x).map(Emit::Many)))
    }

    /// Fan-out and fan-in: every record goes to each branch (a copy each;
    /// the slowest branch pushes back on all), and the branches' outputs are
    /// merged into one flow again. The record is finished when every branch
    /// has finished its copy, with the most serious outcome among them.
    ///
    /// ```
    /// use weir::io::{iter_source, sink_fn};
    /// use weir::{Branch, Flow, Pipeline};
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// let double: Branch<u32, u32> = Box::new(|flow: Flow<u32>| flow.map("double", |n| Ok(n * 2)));
    /// let keep: Branch<u32, u32> = Box::new(|flow: Flow<u32>| flow);
    /// let report = Pipeline::builder()
    ///     .source("numbers", iter_source(1..=10u32))
    ///     .broadcast("fork", vec![double, keep])
    ///     .sink("out", sink_fn(|_: &u32| Ok(())))
    ///     .run()
    ///     .await;
    /// assert_eq!(report.snapshot.stages.last().unwrap().records_in, 20);
    /// assert_eq!(report.accounting.delivered, 10); // per source record
    /// # });
    /// ```
    pub fn broadcast<U: Send + 'static>(self, name: &str, branches: Vec<Branch<T, U>>) -> Flow<U>
    where
        T: Clone + Sync,
    {
        assert!(
            !branches.is_empty(),
            "a broadcast needs at least one branch"
        );
        let fork = Arc::new(StageMetrics::new(name.into(), Role::Stage, 1));
        self.build.ctx.register(fork.clone());
        let (mut build, input) = self.connect(&fork);
        let merge_name = format!("{name}-merge");
        let merge = Arc::new(StageMetrics::new(
            merge_name.into(),
            Role::Stage,
            branches.len(),
        ));
        // Each branch's first link, filled in as the branch is connected.
        let starts: Arc<Mutex<Vec<Option<LinkQueue<T>>>>> =
            Arc::new(Mutex::new((0..branches.len()).map(|_| None).collect()));
        let mut ends = Vec::with_capacity(branches.len());
        for (i, branch) in branches.into_iter().enumerate() {
            let slot = starts.clone();
            let start = Flow {
                build,
                producer_metrics: fork.clone(),
                spill: None,
                producer: Box::new(move |_build, queue| slot.lock()[i] = Some(queue)),
            };
            let (rest, end) = branch(start).connect(&merge);
            build = rest;
            ends.push(end);
        }
        build.ctx.register(merge.clone());
        let starts: Vec<_> = starts
            .lock()
            .drain(..)
            .map(|start| start.expect("every branch was connected"))
            .collect();
        let name = Arc::<str>::from(name);
        build.spawn_component(&fork.clone(), run_broadcast(name, fork, input, starts));
        let ctx = build.ctx.clone();
        let merge_metrics = merge.clone();
        Flow {
            build,
            producer_metrics: merge,
            spill: None,
            producer: Box::new(move |build, output| {
                let done = merge_metrics.clone();
                build.spawn_component(&done, run_merge(ctx, merge_metrics, ends, output));
            }),
        }
    }

    /// Groups records into batches of up to `size`, sending a partial batch
    /// once `max_wait` has passed since its first record: a
    /// [`Stage::batch`] that passes each batch on as it is.
    pub fn batch(self, name: &str, size: usize, max_wait: Duration) -> Flow<Vec<T>>
    where
        T: Clone + Sync,
    {
        self.stage(name, Stage::batch(size, max_wait, Ok))
    }

    /// Ends the pipeline in a sink.
    pub fn sink(self, name: &str, sink: impl Sink<T>) -> ReadyPipeline
    where
        T: Sync,
    {
        self.sink_with_retry(name, sink, None)
    }

    /// Ends the pipeline in a sink whose failed writes are retried.
    pub fn sink_with_retry(
        self,
        name: &str,
        sink: impl Sink<T>,
        retry: Option<RetryPolicy>,
    ) -> ReadyPipeline
    where
        T: Sync,
    {
        let metrics = Arc::new(StageMetrics::new(name.into(), Role::Sink, 1));
        *metrics.readings.lock() = sink.readings().0;
        self.build.ctx.register(metrics.clone());
        let (mut build, input) = self.connect(&metrics);
        let ctx = build.ctx.clone();
        let name: Arc<str> = name.into();
        build.spawn_component(
            &metrics.clone(),
            run_sink(sink, name, retry, metrics, ctx, input),
        );
        ReadyPipeline {
            build,
            dead_letters: Box::new(|ctx, queue| {
                run_dead_letters(LogDeadLetters, ctx, queue).boxed()
            }),
        }
    }
}

/// Builds a link whose dropping policy (if any) finishes what it drops as
/// [`Outcome::Dropped`] at `consumer`.
///
/// In a pipeline, [`Overflow::Reject`] refuses the incoming record just as
/// [`Overflow::DropNewest`] does (no producer can hand a refused record to
/// anyone else), so the link is built as `DropNewest` and reports the
/// record as dropped under the policy `reject`.
fn link_queue<T: Send + 'static>(config: LinkConfig, consumer: Arc<str>) -> Queue<Record<T>> {
    let (overflow, rejects) = match config.overflow {
        Overflow::Reject => (Overflow::DropNewest, true),
        other => (other, false),
    };
    Queue::builder(config.capacity.max(1))
        .overflow(overflow)
        .on_drop(move |dropped: Dropped<Record<T>>| {
            let policy = if rejects {
                DropPolicy::Reject
            } else {
                DropPolicy::from(dropped.reason)
            };
            dropped.item.finish(Outcome::Dropped {
                stage: consumer.clone(),
                policy,
            });
        })
        .build()
        .expect("capacity is at least 1 and a drop handler is set")
}

pub(crate) type DeadLetterRunner = Box<
    dyn FnOnce(Arc<RunContext>, Queue<super::context::DeadLetterEntry>) -> BoxFuture<'static, ()>
        + Send,
>;

/// A complete pipeline, ready to run.
#[must_use = "a pipeline does nothing until it is run"]
pub struct ReadyPipeline {
    build: Build,
    dead_letters: DeadLetterRunner,
}

impl ReadyPipeline {
    /// Where dead letters go (default: logged with `tracing` and counted).
    pub fn dead_letters(mut self, sink: impl DeadLetterSink) -> Self {
        self.dead_letters = Box::new(move |ctx, queue| run_dead_letters(sink, ctx, queue).boxed());
        self
    }

    /// Starts every component on the current tokio runtime.
    pub fn start(self) -> RunningPipeline {
        RunningPipeline::start(self.build, self.dead_letters)
    }

    /// Runs to the end and reports.
    pub async fn run(self) -> RunReport {
        self.start().wait().await
    }
}
