//! Running a [`Stage`]: workers that take records from the input link, run
//! the stage function on each (with rate limit, timeout, retries, panic
//! capture), and put what it emits on the output link. A batch stage's one
//! worker first gathers a batch, then runs the join function on it the same
//! way.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesOrdered;
use futures::{FutureExt, StreamExt};
use weir_core::Queue;

use super::attempt::{panic_error, AttemptError, TimeoutPolicy};
use super::retry::{retrying, Retryable};
use super::spec::{Emit, Stage, StageFn, Work};
use crate::ack::{AckSet, Outcome};
use crate::error::PipelineError;
use crate::metrics::stage::StageMetrics;
use crate::pipeline::context::RunContext;
use crate::pipeline::hand_off::{batch_size, put_all, Taker};
use crate::record::Record;

/// What one record became: usually one record, so no allocation for it.
type Outputs<U> = smallvec::SmallVec<[Record<U>; 1]>;

pub(crate) struct Transform<T, U> {
    pub(crate) name: Arc<str>,
    pub(crate) stage: Stage<T, U>,
    pub(crate) metrics: Arc<StageMetrics>,
    pub(crate) ctx: Arc<RunContext>,
}

impl<T, U> Transform<T, U>
where
    T: Clone + Send + Sync + 'static,
    U: Send + 'static,
{
    /// Runs until the input link is shut down and drained, then shuts the
    /// output link.
    pub(crate) async fn run(self, input: Queue<Record<T>>, output: Queue<Record<U>>) {
        let this = Arc::new(self);
        if let Work::Batch {
            size,
            max_wait,
            join,
        } = &this.stage.work
        {
            this.run_batches(*size, *max_wait, join, &input, &output)
                .await;
        } else if this.stage.ordered && this.stage.concurrency > 1 {
            this.clone().run_ordered(&input, &output).await;
        } else {
            let workers: Vec<_> = (0..this.stage.concurrency)
                .map(|_| {
                    let (this, input, output) = (this.clone(), input.clone(), output.clone());
                    let ctx = this.ctx.clone();
                    ctx.spawn(async move { this.run_worker(&input, &output).await })
                })
                .collect();
            for worker in workers {
                // A worker only ends early if aborted; its records are nacked.
                let _ = worker.await;
            }
        }
        output.shutdown();
    }

    async fn run_worker(&self, input: &Queue<Record<T>>, output: &Queue<Record<U>>) {
        if self.works_at_once() {
            return self.run_batched_worker(input, output).await;
        }
        while let Some(record) = input.get().await {
            for out in self.process(record).await {
                if output.put(out).await.is_err() {
                    return; // downstream stopped at once; the record is nacked
                }
            }
            // `get` spends tokio's budget already; spending one more unit per
            // record makes a busy worker yield twice as often, which measured
            // ~0.86x of a hand-written pipeline against ~0.62x without
            // (`weir-bench pipeline`).
            tokio::task::consume_budget().await;
        }
    }

    /// Whether a record's work never waits: an inline function with no
    /// rate limit to wait for and no retries to back off between. Only
    /// then may a worker hold its outputs while it works through a batch:
    /// they are held while it works, not while it waits (the one wait
    /// left is a failed record's, for room on the dead-letter link).
    fn works_at_once(&self) -> bool {
        matches!(&self.stage.work, Work::Each(StageFn::Inline(_)))
            && self.stage.rate.is_none()
            && self.stage.retry.is_none()
    }

    /// A worker of a function that works at once (`works_at_once`): it
    /// works through what is queued in batches and hands its outputs on
    /// together (`hand_off`). Other work takes one record at a time, so
    /// that every worker gets its share and no output waits for another
    /// record's wait.
    async fn run_batched_worker(&self, input: &Queue<Record<T>>, output: &Queue<Record<U>>) {
        let mut input = Taker::new(input.clone());
        let most = batch_size(output);
        let mut outs = VecDeque::with_capacity(most);
        loop {
            let record = match input.try_next() {
                Some(record) => record,
                None => {
                    // Nothing more at hand: pass on what was made first.
                    if !put_all(output, &mut outs).await {
                        return; // downstream stopped at once; the records are nacked
                    }
                    match input.next().await {
                        Some(record) => record,
                        None => return,
                    }
                }
            };
            outs.extend(self.process(record).await);
            if outs.len() >= most && !put_all(output, &mut outs).await {
                return;
            }
            tokio::task::consume_budget().await;
        }
    }

    /// Gathers up to `size` records into one batch (fewer once `max_wait`
    /// has passed since the first, or at the end of the input) and passes
    /// the batch through `join`. The batch's acknowledgements are those of
    /// all its records.
    async fn run_batches(
        &self,
        size: usize,
        max_wait: Duration,
        join: &StageFn<Vec<T>, U>,
        input: &Queue<Record<T>>,
        output: &Queue<Record<U>>,
    ) {
        while let Some(first) = input.get().await {
            let started = self.metrics.begin(true);
            let deadline = tokio::time::Instant::now() + max_wait;
            let mut records = vec![first];
            let mut input_open = true;
            while records.len() < size {
                match tokio::time::timeout_at(deadline, input.get()).await {
                    Ok(Some(record)) => {
                        StageMetrics::add(&self.metrics.records_in, 1);
                        records.push(record);
                    }
                    Ok(None) => {
                        input_open = false;
                        break;
                    }
                    Err(_deadline) => break,
                }
            }
            let id = records[0].id;
            let (payloads, acks): (Vec<T>, Vec<AckSet>) =
                records.into_iter().map(|r| (r.payload, r.acks)).unzip();
            let batch = Record::new(id, payloads, AckSet::merge(acks));
            for out in self.settle(batch, join, started).await {
                if output.put(out).await.is_err() {
                    return; // downstream stopped at once; the batch is nacked
                }
            }
            if !input_open {
                return;
            }
        }
    }

    /// Up to `concurrency` records in work at once, each on its own task,
    /// emitted in input order.
    async fn run_ordered(self: Arc<Self>, input: &Queue<Record<T>>, output: &Queue<Record<U>>) {
        let mut in_work = FuturesOrdered::new();
        let mut input_open = true;
        loop {
            tokio::select! {
                biased;
                Some(done) = in_work.next(), if !in_work.is_empty() => {
                    let done: Result<Option<Outputs<U>>, tokio::task::JoinError> = done;
                    // Aborted work already nacked its record.
                    let outs = done.ok().flatten().unwrap_or_default();
                    for out in outs {
                        if output.put(out).await.is_err() {
                            return;
                        }
                    }
                }
                next = input.get(), if input_open && in_work.len() < self.stage.concurrency => {
                    match next {
                        Some(record) => {
                            let this = self.clone();
                            let work = self.ctx.clone().until_aborted(async move { this.process(record).await });
                            in_work.push_back(self.ctx.tasks.spawn(work));
                        }
                        None => input_open = false,
                    }
                }
                else => return,
            }
        }
    }

    /// Runs the stage on one record until it succeeds or is given up on.
    /// Returns what to pass on (empty if filtered, dead-lettered or failed).
    async fn process(&self, record: Record<T>) -> Outputs<U> {
        let Work::Each(function) = &self.stage.work else {
            unreachable!("batch stages run through run_batches")
        };
        let started = self.metrics.begin(!matches!(function, StageFn::Inline(_)));
        self.settle(record, function, started).await
    }

    /// Runs `function` on `record` (one record, or a batch) with the
    /// stage's rate limit, timeout and retries, and settles the result:
    /// what to pass on, or the record dead-lettered (or the run failed).
    /// Ends the record's measurement begun at `started`.
    async fn settle<I>(
        &self,
        mut record: Record<I>,
        function: &StageFn<I, U>,
        started: Option<tokio::time::Instant>,
    ) -> Outputs<U>
    where
        I: Clone + Send + Sync + 'static,
    {
        let call = Call {
            transform: self,
            function,
            input: &record.payload,
        };
        let (attempts, result) = retrying(self.stage.retry.as_ref(), &self.metrics, call).await;
        // The function's own attempts inside the last one count too.
        let inside = result
            .as_ref()
            .err()
            .map_or(1, AttemptError::attempts_inside);
        record.attempts = attempts - 1 + inside;
        self.metrics.end(started);
        match result {
            Ok(emit) => self.emit(record, emit),
            Err(AttemptError::TimedOut(_)) if self.timeout_policy_falls_back() => {
                let Some((_, TimeoutPolicy::Fallback(fallback))) = &self.stage.timeout else {
                    unreachable!("checked by timeout_policy_falls_back")
                };
                self.emit(record, Emit::One(fallback()))
            }
            Err(error) => {
                let fails_pipeline = self.stage.fail_fast
                    || (matches!(error, AttemptError::TimedOut(_))
                        && matches!(self.stage.timeout, Some((_, TimeoutPolicy::FailPipeline))));
                if fails_pipeline {
                    self.ctx.fail(PipelineError::StageFailed {
                        stage: self.name.clone(),
                        reason: error.to_string(),
                    });
                    drop(record); // nacked: the run stops before it is finished
                } else {
                    self.ctx
                        .dead_letter(record, &self.name, error.to_string(), &self.metrics)
                        .await;
                }
                Outputs::new()
            }
        }
    }

    fn timeout_policy_falls_back(&self) -> bool {
        matches!(self.stage.timeout, Some((_, TimeoutPolicy::Fallback(_))))
    }

    fn emit<I>(&self, record: Record<I>, emit: Emit<U>) -> Outputs<U> {
        let outs = match emit {
            Emit::One(payload) => smallvec::smallvec![record.with_payload(payload)],
            Emit::Skip => {
                record.finish(Outcome::Filtered {
                    stage: self.name.clone(),
                });
                Outputs::new()
            }
            Emit::Many(payloads) => record.split(payloads, &self.name).into(),
        };
        StageMetrics::add(&self.metrics.records_out, outs.len() as u64);
        outs
    }

    /// One call of the stage function, with its timeout, panics captured.
    async fn attempt<I: Send + 'static>(
        &self,
        function: &StageFn<I, U>,
        input: I,
    ) -> Result<Emit<U>, AttemptError> {
        let call = async {
            match function {
                StageFn::Inline(f) => std::panic::catch_unwind(AssertUnwindSafe(|| f(input)))
                    .map_err(panic_error)?
                    .map_err(AttemptError::Failed),
                StageFn::Blocking(f) => {
                    let f = f.clone();
                    tokio::task::spawn_blocking(move || f(input))
                        .await
                        .map_err(|join| match join.try_into_panic() {
                            Ok(payload) => panic_error(payload),
                            Err(_cancelled) => {
                                AttemptError::Panicked("cancelled at shutdown".into())
                            }
                        })?
                        .map_err(AttemptError::Failed)
                }
                StageFn::Async(f) => AssertUnwindSafe(f(input))
                    .catch_unwind()
                    .await
                    .map_err(panic_error)?
                    .map_err(AttemptError::Failed),
            }
        };
        match &self.stage.timeout {
            Some((after, _)) => tokio::time::timeout(*after, call)
                .await
                .map_err(|_elapsed| AttemptError::TimedOut(*after))?,
            None => call.await,
        }
    }
}

/// One call of a stage function on a record (or a batch), as the retry loop
/// makes it: the rate limit first, then the attempt on a copy of the input.
struct Call<'a, T, U, I> {
    transform: &'a Transform<T, U>,
    function: &'a StageFn<I, U>,
    input: &'a I,
}

impl<T, U, I> Retryable for Call<'_, T, U, I>
where
    T: Clone + Send + Sync + 'static,
    U: Send + 'static,
    I: Clone + Send + Sync + 'static,
{
    type Output = Emit<U>;

    fn attempt(&mut self) -> impl Future<Output = Result<Emit<U>, AttemptError>> + Send {
        let (transform, function, input) = (self.transform, self.function, self.input.clone());
        async move {
            if let Some(rate) = &transform.stage.rate {
                rate.acquire().await;
            }
            transform.attempt(function, input).await
        }
    }
}
