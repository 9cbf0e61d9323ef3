//! The running spill link: a writer task between the producer's queue and
//! the log (or straight to the consumer's queue while nothing is on disk),
//! and a reader task from the log to the consumer's queue.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Notify;
use tokio::time::Instant;
use weir_core::{PutError, Queue};

use super::format;
use super::log::{self, Recovered, SpillLog};
use super::{SpillConfig, SpillError, SpillSync};
use crate::accounting::Accounting;
use crate::ack::{AckCallback, AckSet, AckToken, Outcome};
use crate::error::PipelineError;
use crate::io::DeadPayload;
use crate::metrics::stage::StageMetrics;
use crate::pipeline::context::RunContext;
use crate::pipeline::hand_off::put_all;
use crate::record::Record;

/// Records the writer takes from its queue at once (one flush, and under
/// `batch` at most one fsync, for all of them).
const WRITE_BATCH: usize = 256;
/// The link spills when its producer was blocked (its queue full) for at
/// least half of the last window of this length. Shorter stalls are
/// scheduling noise, not a full link: spilling as soon as the consumer's
/// queue was full, `weir-bench spill` on a loaded 2-core machine sent 460k
/// of 3M records to disk through a link whose consumer is faster than its
/// producer.
const PRESSURE_WINDOW: Duration = Duration::from_millis(10);
/// How often a writer waiting for room looks whether the producer is
/// held back.
const FULL_CHECK: Duration = Duration::from_millis(1);
/// Records the reader takes from the log at once at most (one lock for
/// all), fewer when the consumer's queue has less room.
const READ_BATCH: usize = 64;
/// The longest a record waits for its fsync under [`SpillSync::Batch`].
pub const BATCH_SYNC_EVERY: Duration = Duration::from_millis(100);

/// A spill link's counters, read by its gauges.
#[derive(Debug, Default)]
pub(crate) struct SpillStats {
    pub(crate) records_on_disk: AtomicU64,
    pub(crate) bytes_on_disk: AtomicU64,
    pub(crate) spilled: AtomicU64,
    pub(crate) replayed: AtomicU64,
    pub(crate) corrupt: AtomicU64,
}

struct SpillState {
    log: SpillLog,
    /// The tokens of records on disk that still need them in memory (not
    /// yet synced, or parts of split records), in order of sequence number:
    /// records are written and read in that order, so a record read is the
    /// first here if it is here at all.
    debts: VecDeque<(u64, AckSet)>,
    /// Every record up to this one was synced and its tokens handed off.
    settled_through: u64,
    /// Records of this run on disk whose books are owed without a token
    /// (see `AckToken::hand_off`): nacked if the run ends first.
    owed: u64,
    /// The reader holds a record it took from disk and has not yet passed
    /// on.
    in_hand: bool,
    input_closed: bool,
    accounting: Arc<Accounting>,
}

impl SpillState {
    /// Whether a new record may skip the disk: nothing older is on disk or
    /// on its way from it.
    fn bypass(&self) -> bool {
        self.log.unread == 0 && !self.in_hand
    }

    /// Hands off the tokens of every record written since the last
    /// settle; called once what was written is synced (or, under `never`,
    /// flushed). Records already read back keep theirs.
    fn settle(&mut self, stage: &Arc<str>) {
        let mut fresh = Vec::new();
        while self
            .debts
            .back()
            .is_some_and(|(seq, _)| *seq > self.settled_through)
        {
            fresh.extend(self.debts.pop_back());
        }
        for (seq, set) in fresh.into_iter().rev() {
            let mut kept = Vec::new();
            for token in set.into_tokens() {
                match token.hand_off(stage) {
                    Some(token) => kept.push(token),
                    None => self.owed += 1,
                }
            }
            if !kept.is_empty() {
                self.debts.push_back((seq, AckSet::from_tokens(kept)));
            }
        }
        self.settled_through = self.log.last_seq();
    }

    /// The tokens kept for record `seq`, which is being read. Entries
    /// before it are of records that will not be read (their bytes were
    /// corrupt): dropping them nacks what they still hold.
    fn take_debt(&mut self, seq: u64) -> Option<AckSet> {
        while self.debts.front().is_some_and(|(first, _)| *first < seq) {
            self.debts.pop_front();
        }
        match self.debts.front() {
            Some((first, _)) if *first == seq => self.debts.pop_front().map(|(_, set)| set),
            _ => None,
        }
    }
}

impl Drop for SpillState {
    fn drop(&mut self) {
        // Records still on disk stay there for the next run; this run's
        // books call them nacked (the next run counts them in again).
        for _ in 0..self.owed {
            self.accounting.record_outcome(&Outcome::Nacked);
        }
        let _ = self.log.flush();
        let _ = self.log.write_ledger();
    }
}

pub(crate) struct SpillShared {
    state: Mutex<SpillState>,
    /// Wakes the reader: records were written, or the input closed.
    data: Notify,
    /// Wakes the writer: segments were deleted.
    room: Notify,
    pub(crate) stats: Arc<SpillStats>,
    config: SpillConfig,
    stage: Arc<str>,
    /// What opening found, in words, for the link's status.
    pub(crate) recovered: Option<String>,
    torn: Mutex<Option<(std::path::PathBuf, Vec<u8>)>>,
}

impl SpillShared {
    /// Opens the log of `config` (errors come out before the pipeline is
    /// built).
    pub(crate) fn open_log(config: &SpillConfig) -> Result<(SpillLog, Recovered), SpillError> {
        let segment_bytes = config.segment_bytes.min(config.max_bytes / 4).max(4096);
        SpillLog::open(&config.dir, segment_bytes, config.sync != SpillSync::Never)
    }

    pub(crate) fn new(
        (log, Recovered { records, torn }): (SpillLog, Recovered),
        config: SpillConfig,
        stage: Arc<str>,
        accounting: Arc<Accounting>,
    ) -> Arc<SpillShared> {
        let mut said = Vec::new();
        if records > 0 {
            said.push(format!(
                "replaying {records} records spilled by an earlier run"
            ));
        }
        if let Some((file, bytes)) = &torn {
            said.push(format!(
                "cut a torn record ({} bytes) off the end of {}",
                bytes.len(),
                file.display()
            ));
        }
        for line in &said {
            tracing::warn!(link = %stage, "spill: {line}");
        }
        let settled_through = log.last_seq();
        let stats = Arc::new(SpillStats::default());
        stats.records_on_disk.store(records, Ordering::Relaxed);
        stats.bytes_on_disk.store(log.bytes(), Ordering::Relaxed);
        Arc::new(SpillShared {
            state: Mutex::new(SpillState {
                log,
                settled_through,
                debts: VecDeque::new(),
                owed: 0,
                in_hand: false,
                input_closed: false,
                accounting,
            }),
            data: Notify::new(),
            room: Notify::new(),
            stats,
            config,
            stage,
            recovered: (!said.is_empty()).then(|| said.join("; ")),
            torn: Mutex::new(torn),
        })
    }

    fn fail(&self, ctx: &RunContext, error: &SpillError) {
        ctx.fail(PipelineError::SpillFailed {
            stage: self.stage.clone(),
            reason: error.to_string(),
        });
    }

    fn update_disk(&self, state: &SpillState) {
        let stats = &self.stats;
        stats
            .records_on_disk
            .store(state.log.unread, Ordering::Relaxed);
        stats
            .bytes_on_disk
            .store(state.log.bytes(), Ordering::Relaxed);
    }

    /// A replayed record finished: its segment may go.
    fn finished(&self, seq: u64) -> Result<(), SpillError> {
        let mut state = self.state.lock();
        state.log.finish(seq)?;
        self.update_disk(&state);
        drop(state);
        self.room.notify_one();
        Ok(())
    }
}

/// Takes records from `input`; passes each straight to `output` while
/// nothing is on disk and `output` has room, writes it to the log otherwise.
pub(crate) async fn run_writer<T: Serialize + Send + 'static>(
    shared: Arc<SpillShared>,
    ctx: Arc<RunContext>,
    input: Queue<Record<T>>,
    output: Queue<Record<T>>,
) {
    let result = write_all(&shared, &input, &output).await;
    let result = result.and_then(|()| {
        let mut state = shared.state.lock();
        if shared.config.sync != SpillSync::Never {
            state.log.sync()?;
        } else {
            state.log.flush()?;
        }
        state.settle(&shared.stage);
        state.input_closed = true;
        Ok(())
    });
    if let Err(error) = result {
        shared.fail(&ctx, &error);
        input.shutdown();
    }
    shared.data.notify_one();
}

async fn write_all<T: Serialize + Send + 'static>(
    shared: &SpillShared,
    input: &Queue<Record<T>>,
    output: &Queue<Record<T>>,
) -> Result<(), SpillError> {
    let sync = shared.config.sync;
    let mut sync_due: Option<Instant> = None;
    // The ledger only spares a restart from replaying what finished: it is
    // written at most every BATCH_SYNC_EVERY (and when segments go).
    let mut last_ledger = Instant::now();
    let mut encoded = Vec::new();
    let mut pressure = Pressure::new(input);
    loop {
        let first = match sync_due {
            Some(due) => tokio::select! {
                first = input.get() => first,
                () = tokio::time::sleep_until(due) => {
                    let mut state = shared.state.lock();
                    state.log.sync()?;
                    state.settle(&shared.stage);
                    sync_due = None;
                    continue;
                }
            },
            None => input.get().await,
        };
        let Some(first) = first else { return Ok(()) };
        let mut batch = VecDeque::from([first]);
        input.try_get_many(WRITE_BATCH - 1, &mut batch);
        // While nothing is on disk, records go straight on, what fits in
        // one hand-off; the rest, in order, to disk once the link's memory
        // is full.
        if shared.state.lock().bypass() {
            loop {
                output.try_put_many(&mut batch);
                let Some(record) = batch.pop_front() else {
                    break;
                };
                match pass_on(input, output, record, &mut pressure).await {
                    Passed::On => {}
                    Passed::Full(record) => {
                        batch.push_front(record);
                        break;
                    }
                    Passed::Stopped => return Ok(()),
                }
            }
        }
        let mut wrote = false;
        let mut records = batch.into_iter();
        loop {
            // The records that serialize, in order, up to one that does not.
            let mut group = Vec::with_capacity(records.len());
            encoded.clear();
            let mut unwritable = None;
            for record in records.by_ref() {
                let start = encoded.len();
                match serde_json::to_writer(&mut encoded, &record.payload) {
                    Ok(()) => group.push((record, start..encoded.len())),
                    Err(error) => {
                        encoded.truncate(start);
                        unwritable = Some((record, error));
                        break;
                    }
                }
            }
            wrote |= !group.is_empty();
            append_all(shared, group, &encoded).await?;
            let Some((record, error)) = unwritable else {
                break;
            };
            // A payload that cannot be written cannot be spilled: it waits
            // for room in memory instead.
            tracing::warn!(link = %shared.stage, %error, "spill: cannot serialize a record; waiting for room");
            if output.put(record).await.is_err() {
                return Ok(());
            }
        }
        if wrote {
            let mut state = shared.state.lock();
            state.log.flush()?;
            match sync {
                SpillSync::Never => state.settle(&shared.stage),
                SpillSync::Always => {}
                SpillSync::Batch => {
                    let due = *sync_due.get_or_insert(Instant::now() + BATCH_SYNC_EVERY);
                    if Instant::now() >= due {
                        state.log.sync()?;
                        state.settle(&shared.stage);
                        sync_due = None;
                    }
                }
            }
            if last_ledger.elapsed() >= BATCH_SYNC_EVERY {
                state.log.write_ledger()?;
                last_ledger = Instant::now();
            }
            drop(state);
            shared.data.notify_one();
        }
    }
}

/// Appends `records` (their payloads at their ranges of `encoded`) to the
/// log in order, under one lock for as many as the disk budget has room
/// for.
async fn append_all<T>(
    shared: &SpillShared,
    records: Vec<(Record<T>, Range<usize>)>,
    encoded: &[u8],
) -> Result<(), SpillError> {
    let always = shared.config.sync == SpillSync::Always;
    let size = |range: &Range<usize>| (format::HEADER + range.len()) as u64;
    let mut records = records.into_iter().peekable();
    while let Some((_, first)) = records.peek() {
        wait_for_room(shared, size(first)).await;
        let mut state = shared.state.lock();
        let mut appended = 0;
        // The first fits: the log is empty or has room for it.
        while let Some((record, range)) = records.next_if(|(_, range)| {
            let used = state.log.bytes();
            appended == 0 || used + size(range) <= shared.config.max_bytes
        }) {
            let books = record.acks.len() as u32;
            let origin = record.acks.origin().cloned();
            let (seq, _) = state
                .log
                .append(books, origin.as_deref(), &encoded[range])?;
            state.debts.push_back((seq, record.acks));
            if always {
                state.log.sync()?;
                state.settle(&shared.stage);
            }
            appended += 1;
        }
        shared.update_disk(&state);
        shared.stats.spilled.fetch_add(appended, Ordering::Relaxed);
    }
    Ok(())
}

/// What came of passing a record on in memory.
enum Passed<T> {
    On,
    /// The link's memory is full: the record goes to disk.
    Full(T),
    /// The consumer stopped at once.
    Stopped,
}

/// Whether a link's producer is held back: blocked on its queue for at
/// least half of the last [`PRESSURE_WINDOW`].
struct Pressure {
    since: Instant,
    blocked_then: Duration,
    held: bool,
}

impl Pressure {
    fn new<T>(input: &Queue<T>) -> Self {
        Pressure {
            since: Instant::now(),
            blocked_then: input.stats().put_blocked,
            held: false,
        }
    }

    /// The verdict of the last full window (a new one starts when the
    /// last is over).
    fn held<T>(&mut self, input: &Queue<T>) -> bool {
        let elapsed = self.since.elapsed();
        if elapsed >= PRESSURE_WINDOW {
            let blocked = input.stats().put_blocked;
            self.held = blocked.saturating_sub(self.blocked_then) * 2 >= elapsed;
            self.since = Instant::now();
            self.blocked_then = blocked;
        }
        self.held
    }
}

/// Passes `record` on to `output`, waiting for room there, unless the
/// producer is held back ([`Pressure`]): then the link's memory is full,
/// and the record goes to disk instead of the producer waiting longer.
async fn pass_on<T>(
    input: &Queue<T>,
    output: &Queue<T>,
    mut record: T,
    pressure: &mut Pressure,
) -> Passed<T> {
    loop {
        if pressure.held(input) {
            return Passed::Full(record);
        }
        match output.put_timeout(record, FULL_CHECK).await {
            Ok(()) => return Passed::On,
            Err(PutError::TimedOut(back)) => record = back,
            Err(_) => return Passed::Stopped,
        }
    }
}

/// Waits until the log has room for `bytes` more (an empty log always has).
async fn wait_for_room(shared: &SpillShared, bytes: u64) {
    loop {
        let room = shared.room.notified();
        tokio::pin!(room);
        room.as_mut().enable();
        let used = shared.state.lock().log.bytes();
        if used == 0 || used + bytes <= shared.config.max_bytes {
            return;
        }
        room.await;
    }
}

/// Reads records back from the log, oldest first, into `output`.
pub(crate) async fn run_reader<T: DeserializeOwned + Send + 'static>(
    shared: Arc<SpillShared>,
    ctx: Arc<RunContext>,
    metrics: Arc<StageMetrics>,
    output: Queue<Record<T>>,
) {
    let torn = shared.torn.lock().take();
    if let Some((file, bytes)) = torn {
        shared.stats.corrupt.fetch_add(1, Ordering::Relaxed);
        // A record is handed off under `batch` and `always` only after the
        // fsync that covers it, and synced bytes do not tear: the reason
        // says so (the policy of the run that wrote it is not recorded).
        let reason = format!(
            "a torn record cut off the end of spill file {} at start (written after the \
             last sync: under spill_sync = batch or always it was never acknowledged, and a \
             source that replays sends it again)",
            file.display()
        );
        dead_letter(&shared, &ctx, &metrics, bytes, reason, Vec::new()).await;
    }
    loop {
        let data = shared.data.notified();
        tokio::pin!(data);
        data.as_mut().enable();
        // Read back no more than the consumer's queue has room for (one at
        // least, to wait with): the rest stay on disk, where they count as
        // handed off, instead of in the reader's hands.
        let room = output
            .capacity()
            .map_or(READ_BATCH, |capacity| capacity.saturating_sub(output.len()))
            .clamp(1, READ_BATCH);
        // What tells the link a record it read back finished, so its
        // segment may go.
        let watch = |seq: u64| -> AckCallback {
            let watcher = shared.clone();
            let ctx = ctx.clone();
            Box::new(move |outcome: &Outcome| {
                if outcome.is_final() {
                    if let Err(error) = watcher.finished(seq) {
                        watcher.fail(&ctx, &error);
                    }
                }
            })
        };
        let (batch, failed) = take_batch(&shared, room, &watch);
        if let Some(error) = failed {
            shared.fail(&ctx, &error);
            break;
        }
        let mut stopped = false;
        // Records read back, handed on together before anything waits.
        let mut ready = VecDeque::with_capacity(READ_BATCH);
        for read in batch {
            if !matches!(read, Next::Record { .. }) && !put_all(&output, &mut ready).await {
                stopped = true;
                break;
            }
            match read {
                Next::Wait { closed: true } => stopped = true,
                Next::Wait { closed: false } => data.as_mut().await,
                Next::Corrupt { file, bytes, why } => {
                    shared.stats.corrupt.fetch_add(1, Ordering::Relaxed);
                    let reason = format!("a spilled record with {why} in {}", file.display());
                    tracing::warn!(link = %shared.stage, "spill: skipped {reason}");
                    dead_letter(&shared, &ctx, &metrics, bytes, reason, Vec::new()).await;
                }
                Next::Record { payload, tokens } => match serde_json::from_slice::<T>(&payload) {
                    Ok(value) => {
                        let record = Record::new(ctx.next_id(), value, AckSet::from_tokens(tokens));
                        shared.stats.replayed.fetch_add(1, Ordering::Relaxed);
                        ready.push_back(record);
                    }
                    Err(error) => {
                        if !put_all(&output, &mut ready).await {
                            stopped = true;
                            break;
                        }
                        let reason = format!("a spilled record that does not read back: {error}");
                        dead_letter(&shared, &ctx, &metrics, payload, reason, tokens).await;
                    }
                },
            }
        }
        if !stopped && !put_all(&output, &mut ready).await {
            stopped = true;
        }
        // Only now may new records skip the disk: every record read is
        // passed on.
        shared.state.lock().in_hand = false;
        if stopped {
            break;
        }
    }
    output.shutdown();
}

enum Next {
    Record {
        payload: Vec<u8>,
        tokens: Vec<AckToken>,
    },
    Corrupt {
        file: std::path::PathBuf,
        bytes: Vec<u8>,
        why: &'static str,
    },
    Wait {
        closed: bool,
    },
}

/// Takes up to `most` records from the log under one lock: a
/// `Wait` alone, or records and corrupt bytes in order.
fn take_batch(
    shared: &SpillShared,
    most: usize,
    watch: &dyn Fn(u64) -> AckCallback,
) -> (Vec<Next>, Option<SpillError>) {
    let mut state = shared.state.lock();
    let mut batch = Vec::new();
    let mut failed = None;
    while batch.len() < most {
        match take_next(&mut state, watch) {
            Ok(Next::Wait { closed }) => {
                if batch.is_empty() {
                    batch.push(Next::Wait { closed });
                }
                break;
            }
            Ok(next) => batch.push(next),
            Err(error) => {
                failed = Some(error);
                break;
            }
        }
    }
    shared.update_disk(&state);
    (batch, failed)
}

/// The next record from the log with its tokens, one of which carries
/// `watch(seq)`: on the record's own token when it has just one (the
/// common case, one allocation and one lock fewer), else on a token of its
/// own outside the books.
fn take_next(
    state: &mut SpillState,
    watch: &dyn Fn(u64) -> AckCallback,
) -> Result<Next, SpillError> {
    let mut read = state.log.read_next()?;
    if matches!(read, log::Next::Empty) {
        // Records written but not yet flushed are readable once flushed.
        state.log.flush()?;
        read = state.log.read_next()?;
    }
    let next = match read {
        log::Next::Empty => {
            state.log.unread = 0;
            Next::Wait {
                closed: state.input_closed,
            }
        }
        log::Next::Corrupt { file, bytes, why } => Next::Corrupt { file, bytes, why },
        log::Next::Record {
            seq,
            books,
            origin,
            payload,
        } => {
            // A record written with an origin stood for one source record.
            let origin: Option<Arc<str>> = origin.map(Into::into);
            let accounting = state.accounting.clone();
            let mut watch = Some(watch(seq));
            let mut tokens = if seq >= state.log.first_seq_of_run {
                let mut tokens: Vec<AckToken> = state
                    .take_debt(seq)
                    .map(|set| set.into_tokens().collect())
                    .unwrap_or_default();
                let held = tokens.iter().filter(|t| t.counts()).count() as u64;
                let owed = u64::from(books).saturating_sub(held);
                state.owed -= owed.min(state.owed);
                let alone = tokens.is_empty() && owed == 1;
                tokens.extend((0..owed).map(|_| {
                    let callback = if alone { watch.take() } else { None };
                    AckToken::owed(accounting.clone(), origin.clone(), callback)
                }));
                tokens
            } else {
                let alone = books <= 1;
                (0..books.max(1))
                    .map(|_| {
                        let callback = if alone { watch.take() } else { None };
                        AckToken::new(accounting.clone(), callback, origin.clone())
                    })
                    .collect()
            };
            if let Some(watch) = watch {
                tokens.push(AckToken::watch(watch));
            }
            state.in_hand = true;
            Next::Record { payload, tokens }
        }
    };
    Ok(next)
}

/// Sends bytes that cannot become a record to the dead-letter output,
/// counted in the books (a record in, dead-lettered) unless `tokens`
/// already stand for it.
async fn dead_letter(
    shared: &SpillShared,
    ctx: &Arc<RunContext>,
    metrics: &StageMetrics,
    bytes: Vec<u8>,
    reason: String,
    mut tokens: Vec<AckToken>,
) {
    if !tokens.iter().any(AckToken::counts) {
        tokens.push(AckToken::new(ctx.accounting.clone(), None, None));
    }
    let mut record = Record::new(
        ctx.next_id(),
        DeadPayload::Raw(bytes.into()),
        AckSet::from_tokens(tokens),
    );
    record.attempts = 1;
    ctx.dead_letter_payload(record, &shared.stage, reason, metrics)
        .await;
}
