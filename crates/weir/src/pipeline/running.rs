//! A pipeline in flight: snapshots of its metrics, the bottleneck over a
//! sliding window, and shutdown (graceful drain with a deadline, or at once).

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::builder::{Build, DeadLetterRunner};
use super::context::RunContext;
use crate::error::PipelineError;
use crate::metrics::{self, PipelineSnapshot, Verdict};
use crate::report::{HeldRecords, RunReport};

/// The window [`PipelineMonitor::window_verdicts`] looks back over.
pub const VERDICT_WINDOW: Duration = Duration::from_secs(5);
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// A link as the running pipeline sees it, whatever its record type.
pub(crate) struct Link {
    pub(crate) consumer: Arc<str>,
    pub(crate) len: Box<dyn Fn() -> usize + Send + Sync>,
    /// Shuts the link at once and drops what it holds, nacking it.
    pub(crate) abandon: Box<dyn Fn() + Send + Sync>,
}

/// Stops a running pipeline; cheap to clone and to move into a signal
/// handler.
#[derive(Clone)]
pub struct ShutdownHandle {
    ctx: Arc<RunContext>,
}

impl ShutdownHandle {
    /// Graceful drain: the sources stop reading, every link empties, work in
    /// flight finishes, the sink flushes. After `deadline`, whatever is still
    /// held is abandoned (nacked) and named in the report.
    pub fn drain(&self, deadline: Duration) {
        if self.ctx.drain.is_cancelled() {
            return;
        }
        self.ctx.drain.cancel();
        let abort = self.ctx.abort.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(deadline) => abort.cancel(),
                _ = abort.cancelled() => {}
            }
        });
    }

    /// Immediate stop: everything still held is abandoned (nacked).
    pub fn stop_now(&self) {
        self.ctx.drain.cancel();
        self.ctx.abort.cancel();
    }

    /// Whether a drain or stop was asked for.
    pub fn is_stopping(&self) -> bool {
        self.ctx.drain.is_cancelled()
    }
}

/// A started pipeline.
pub struct RunningPipeline {
    ctx: Arc<RunContext>,
    links: Arc<Vec<Link>>,
    main: JoinHandle<()>,
    monitor: PipelineMonitor,
    held_at_stop: Arc<Mutex<Vec<HeldRecords>>>,
}

/// Reads a running pipeline's metrics from anywhere (a live view, a metrics
/// endpoint); cheap to clone.
#[derive(Clone)]
pub struct PipelineMonitor {
    ctx: Arc<RunContext>,
    history: Arc<Mutex<VecDeque<PipelineSnapshot>>>,
    first: Arc<PipelineSnapshot>,
}

impl PipelineMonitor {
    /// Every component's counters now.
    pub fn snapshot(&self) -> PipelineSnapshot {
        snapshot(&self.ctx)
    }

    /// Each component's starved/busy/blocked shares over the last
    /// [`VERDICT_WINDOW`] (or since the start, if shorter).
    pub fn window_verdicts(&self) -> Vec<Verdict> {
        let oldest = self
            .history
            .lock()
            .front()
            .cloned()
            .unwrap_or_else(|| (*self.first).clone());
        metrics::verdicts(&oldest, &self.snapshot())
    }

    /// The current bottleneck over the window, by the rule in
    /// [`crate::metrics`]: its name, with its role if another component has
    /// the same name ([`Verdict::display_name`](metrics::Verdict::display_name)).
    pub fn bottleneck(&self) -> Option<Arc<str>> {
        let verdicts = self.window_verdicts();
        metrics::bottleneck(&verdicts).map(|v| v.display_name(&verdicts).into())
    }
}

impl RunningPipeline {
    pub(crate) fn start(build: Build, dead_letters: DeadLetterRunner) -> Self {
        let Build {
            ctx, tasks, links, ..
        } = build;
        *ctx.started.lock() = Instant::now();
        let links = Arc::new(links);
        let held_at_stop = Arc::new(Mutex::new(Vec::new()));
        // When a stop comes, note what each component still holds before the
        // tasks drop it.
        let finished = CancellationToken::new();
        {
            let (ctx, links, held) = (ctx.clone(), links.clone(), held_at_stop.clone());
            let finished = finished.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = ctx.abort.cancelled() => {}
                    _ = finished.cancelled() => return,
                }
                *held.lock() = held_records(&ctx, &links);
                ctx.abort_tasks();
            });
        }
        let components: Vec<_> = tasks.into_iter().map(|task| ctx.spawn(task)).collect();
        let dead_letter_task = ctx.spawn(dead_letters(ctx.clone(), ctx.dead_letters.clone()));
        let main = {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                for task in components {
                    join_component(&ctx, task).await;
                }
                // Every component ended: no more dead letters can come.
                ctx.dead_letters.shutdown();
                join_component(&ctx, dead_letter_task).await;
                finished.cancel();
            })
        };
        let first = Arc::new(snapshot(&ctx));
        let history = Arc::new(Mutex::new(VecDeque::from([(*first).clone()])));
        {
            let (ctx, history) = (ctx.clone(), Arc::downgrade(&history));
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(SAMPLE_EVERY);
                loop {
                    tick.tick().await;
                    let Some(history) = history.upgrade() else {
                        return;
                    };
                    let now = snapshot(&ctx);
                    let mut history = history.lock();
                    while history
                        .front()
                        .is_some_and(|s| now.elapsed.saturating_sub(s.elapsed) > VERDICT_WINDOW)
                    {
                        history.pop_front();
                    }
                    history.push_back(now);
                }
            });
        }
        RunningPipeline {
            monitor: PipelineMonitor {
                ctx: ctx.clone(),
                history,
                first,
            },
            ctx,
            links,
            main,
            held_at_stop,
        }
    }

    /// A handle to read the metrics while the pipeline runs.
    pub fn monitor(&self) -> PipelineMonitor {
        self.monitor.clone()
    }

    /// A handle to stop the pipeline from elsewhere.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            ctx: self.ctx.clone(),
        }
    }

    /// Waits for the run to end (the source exhausted and everything drained,
    /// or a stop) and reports.
    pub async fn wait(self) -> RunReport {
        if let Err(error) = self.main.await {
            self.ctx.fail(PipelineError::Internal(error.to_string()));
        }
        self.ctx.tasks.close();
        self.ctx.tasks.wait().await;
        // After a stop, links may still hold records: drop them, nacking.
        for link in self.links.iter() {
            (link.abandon)();
        }
        drop(self.ctx.dead_letters.shutdown_immediate());
        let last = snapshot(&self.ctx);
        let verdicts = metrics::verdicts(&self.monitor.first, &last);
        let error = self.ctx.failure.lock().take();
        let held_at_stop = std::mem::take(&mut *self.held_at_stop.lock());
        RunReport::new(last, verdicts, error, held_at_stop)
    }

    /// Drains gracefully with a deadline, then reports.
    pub async fn drain(self, deadline: Duration) -> RunReport {
        self.shutdown_handle().drain(deadline);
        self.wait().await
    }
}

/// Waits for a component's task; a panic outside any stage function fails
/// the run (an abort by a stop does not).
async fn join_component(ctx: &RunContext, task: JoinHandle<()>) {
    if let Err(error) = task.await {
        if error.is_panic() {
            ctx.fail(PipelineError::Internal(error.to_string()));
        }
    }
}

fn snapshot(ctx: &RunContext) -> PipelineSnapshot {
    let started = *ctx.started.lock();
    let stages = ctx.metrics.lock().iter().map(|m| m.snapshot()).collect();
    PipelineSnapshot {
        elapsed: started.elapsed(),
        accounting: ctx.accounting.snapshot(),
        stages,
    }
}

/// What each component holds: records queued on its input link plus records
/// it is working on.
fn held_records(ctx: &RunContext, links: &[Link]) -> Vec<HeldRecords> {
    let metrics = ctx.metrics.lock();
    metrics
        .iter()
        .map(|m| {
            let queued = links
                .iter()
                .filter(|l| l.consumer == m.name)
                .map(|l| (l.len)() as u64)
                .sum::<u64>();
            HeldRecords {
                stage: m.name.clone(),
                queued,
                in_work: m.in_flight.load(std::sync::atomic::Ordering::Relaxed),
            }
        })
        .filter(|h| h.queued + h.in_work > 0)
        .collect()
}
