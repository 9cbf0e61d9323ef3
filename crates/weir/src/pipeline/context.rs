//! What every task of a running pipeline shares: the books, the
//! dead-letter link, the stop signals and the first fatal error.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::SystemTime;

use tokio::time::Instant;

use tokio::task::{AbortHandle, JoinHandle};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use weir_core::Queue;

use crate::accounting::Accounting;
use crate::ack::AckSet;
use crate::error::PipelineError;
use crate::io::{DeadLetter, DeadPayload};
use crate::metrics::stage::StageMetrics;
use crate::record::Record;

/// A dead letter on its way to the dead-letter output, with the
/// acknowledgements to finish once it is written.
pub(crate) type DeadLetterEntry = (DeadLetter, AckSet);

pub(crate) struct RunContext {
    pub(crate) accounting: Arc<Accounting>,
    pub(crate) dead_letters: Queue<DeadLetterEntry>,
    /// Graceful drain: sources stop, the rest finishes what it holds.
    pub(crate) drain: CancellationToken,
    /// Immediate stop: everything still held is abandoned (nacked).
    pub(crate) abort: CancellationToken,
    /// Every task the run spawns, so that the end of a run waits for all of
    /// them, including ones a stop cancelled, before counting.
    pub(crate) tasks: TaskTracker,
    /// Long-lived tasks to abort on an immediate stop; `None` once stopped.
    abort_handles: Mutex<Option<Vec<AbortHandle>>>,
    pub(crate) failure: Mutex<Option<PipelineError>>,
    pub(crate) metrics: Mutex<Vec<Arc<StageMetrics>>>,
    pub(crate) started: Mutex<Instant>,
    next_id: AtomicU64,
}

impl RunContext {
    pub(crate) fn new(dead_letter_capacity: usize) -> Self {
        RunContext {
            accounting: Arc::new(Accounting::default()),
            dead_letters: Queue::bounded(dead_letter_capacity),
            drain: CancellationToken::new(),
            abort: CancellationToken::new(),
            tasks: TaskTracker::new(),
            abort_handles: Mutex::new(Some(Vec::new())),
            failure: Mutex::new(None),
            metrics: Mutex::new(Vec::new()),
            started: Mutex::new(Instant::now()),
            next_id: AtomicU64::new(0),
        }
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Records the first fatal error and stops the run at once.
    pub(crate) fn fail(&self, error: PipelineError) {
        let mut failure = self.failure.lock();
        if failure.is_none() {
            tracing::error!(%error, "pipeline failed; stopping");
            *failure = Some(error);
        }
        drop(failure);
        self.drain.cancel();
        self.abort.cancel();
    }

    /// Sends `record` to the dead letters (its acknowledgement is finished
    /// once the dead-letter output has written it). Waits while the
    /// dead-letter link is full: a slow dead-letter output pushes back too.
    pub(crate) async fn dead_letter<T: Send + Sync + 'static>(
        &self,
        record: Record<T>,
        stage: &Arc<str>,
        reason: String,
        metrics: &StageMetrics,
    ) {
        let erased = record.map_payload(|payload| DeadPayload::Record(Box::new(payload)));
        self.dead_letter_payload(erased, stage, reason, metrics)
            .await;
    }

    /// [`RunContext::dead_letter`] for a payload already made a
    /// [`DeadPayload`] (a source's raw input).
    pub(crate) async fn dead_letter_payload(
        &self,
        record: Record<DeadPayload>,
        stage: &Arc<str>,
        reason: String,
        metrics: &StageMetrics,
    ) {
        StageMetrics::add(&metrics.dead_letters, 1);
        let letter = DeadLetter {
            record_id: record.id,
            stage: stage.clone(),
            reason,
            attempts: record.attempts,
            at: SystemTime::now(),
            payload: record.payload,
        };
        // If the link is already shut (immediate stop), the entry comes back
        // and is dropped: its acknowledgements are nacked, and counted so.
        let _nacked_if_closed = self.dead_letters.put((letter, record.acks)).await;
    }

    /// Spawns a long-lived task of the run (a component or one of its
    /// workers). An immediate stop aborts it, dropping the records it held,
    /// which nacks them. Aborting through the task's handle costs nothing
    /// per poll, unlike racing a cancellation future.
    pub(crate) fn spawn<F>(&self, work: F) -> JoinHandle<()>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let task = self.tasks.spawn(work);
        let mut handles = self.abort_handles.lock();
        match handles.as_mut() {
            Some(handles) => handles.push(task.abort_handle()),
            None => task.abort(),
        }
        task
    }

    /// Aborts every task from [`RunContext::spawn`], and any spawned later.
    pub(crate) fn abort_tasks(&self) {
        let handles = self.abort_handles.lock().take();
        for handle in handles.into_iter().flatten() {
            handle.abort();
        }
    }

    /// Runs `work` until it ends or the run is stopped at once; on a stop,
    /// `work` is dropped, and the records it held are nacked.
    pub(crate) async fn until_aborted<F: std::future::Future>(
        self: Arc<Self>,
        work: F,
    ) -> Option<F::Output> {
        tokio::select! {
            biased;
            _ = self.abort.cancelled() => None,
            out = work => Some(out),
        }
    }

    pub(crate) fn register(&self, metrics: Arc<StageMetrics>) {
        self.metrics.lock().push(metrics);
    }
}
