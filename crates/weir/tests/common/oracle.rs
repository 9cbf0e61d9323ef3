//! An oracle independent of the engine's own books.
//!
//! The books (`Accounting`) and the sources' callbacks are fed the same
//! outcome by the same function, so comparing them proves only that no token
//! leaked. The oracle instead compares what each source was *told* with what
//! the outputs *actually received*, seen from outside the engine:
//!
//! * every id told `Delivered` was made durable by the sink (written, then a
//!   flush succeeded), and every id the sink made durable was told
//!   `Delivered`;
//! * every id told `DeadLettered` is in the dead-letter output (written and
//!   flushed), and every id there was told `DeadLettered`;
//! * every source id was told exactly once, and the kinds told add up to the
//!   books.
//!
//! Outcomes are compared by kind only (not the stage, reason or policy), so
//! the oracle does not depend on how an outcome spells its details. It
//! assumes a record reaches an output whole, or that all its parts share one
//! fate (no flat_map whose parts fail differently).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use weir::io::{DeadLetter, DeadLetterSink, Sink};
use weir::{AccountingSnapshot, BoxError, Outcome};

use super::{AckingSource, Outcomes};

/// An outcome's kind, without its details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Delivered,
    Filtered,
    DeadLettered,
    Dropped,
    Nacked,
}

impl Kind {
    pub fn of(outcome: &Outcome) -> Kind {
        match outcome {
            Outcome::Delivered => Kind::Delivered,
            Outcome::Filtered { .. } => Kind::Filtered,
            Outcome::DeadLettered { .. } => Kind::DeadLettered,
            Outcome::Dropped { .. } => Kind::Dropped,
            Outcome::Nacked => Kind::Nacked,
            Outcome::Spilled { .. } => unreachable!("no pipeline checked by the oracle spills"),
        }
    }
}

/// What an output received: written, and of that, made durable by a flush.
#[derive(Debug, Default)]
struct Received {
    /// Written since the last successful flush.
    pending: Vec<u64>,
    /// Written and flushed, in order (an id may appear more than once).
    flushed: Vec<u64>,
    /// Calls to `flush`, failed or not.
    flushes: usize,
    /// Calls to `write`, failed or not.
    writes: usize,
}

/// Faults an oracle output injects.
#[derive(Clone, Default)]
pub struct Faults {
    /// How many times writing this id fails before it succeeds.
    pub write_failures: Option<Arc<dyn Fn(u64) -> u32 + Send + Sync>>,
    /// Flushes from this call number on (0-based) fail.
    pub flush_fails_from: Option<usize>,
    /// Sleep this long per written record: a slow output.
    pub delay: Option<Duration>,
}

/// The shared view of one run: told outcomes, sink and dead-letter output.
#[derive(Clone)]
pub struct Oracle {
    told: Outcomes,
    count: u64,
    sink: Arc<Mutex<Received>>,
    dead: Arc<Mutex<Received>>,
}

/// Anything whose ids the oracle can read: a record, or a batch of them.
pub trait Ids: Send + Sync + 'static {
    fn ids(&self) -> Vec<u64>;
}

impl Ids for u64 {
    fn ids(&self) -> Vec<u64> {
        vec![*self]
    }
}

impl Ids for Vec<u64> {
    fn ids(&self) -> Vec<u64> {
        self.clone()
    }
}

impl Oracle {
    /// A source of `0..count` whose outcomes the oracle records.
    pub fn new(count: u64) -> (Oracle, AckingSource) {
        let (source, told) = AckingSource::new(count);
        let oracle = Oracle {
            told,
            count,
            sink: Arc::default(),
            dead: Arc::default(),
        };
        (oracle, source)
    }

    /// A sink (of `T`) that reports to the oracle.
    pub fn sink<T: Ids>(&self, faults: Faults) -> OracleSink<T> {
        OracleSink {
            received: self.sink.clone(),
            faults,
            attempts: BTreeMap::new(),
            _records: std::marker::PhantomData,
        }
    }

    /// A dead-letter output that reports to the oracle.
    pub fn dead_letters(&self, faults: Faults) -> OracleDeadLetters {
        OracleDeadLetters {
            received: self.dead.clone(),
            faults,
        }
    }

    /// The outcomes told to the source, by id.
    pub fn outcomes(&self) -> &Outcomes {
        &self.told
    }

    /// Ids the sink made durable, in order, with repeats.
    pub fn delivered_copies(&self) -> Vec<u64> {
        self.sink.lock().unwrap().flushed.clone()
    }

    /// Ids in the dead-letter output, in order.
    pub fn dead_lettered_copies(&self) -> Vec<u64> {
        self.dead.lock().unwrap().flushed.clone()
    }

    /// Calls to the sink's `write`, failed or not.
    pub fn sink_writes(&self) -> usize {
        self.sink.lock().unwrap().writes
    }

    /// Calls to the sink's `flush`, failed or not.
    pub fn sink_flushes(&self) -> usize {
        self.sink.lock().unwrap().flushes
    }

    /// Ids told each kind.
    pub fn told(&self) -> BTreeMap<Kind, BTreeSet<u64>> {
        let mut by_kind: BTreeMap<Kind, BTreeSet<u64>> = BTreeMap::new();
        for (id, outcome) in self.told.lock().unwrap().iter() {
            by_kind.entry(Kind::of(outcome)).or_default().insert(*id);
        }
        by_kind
    }

    /// Ids told `kind`.
    pub fn told_ids(&self, kind: Kind) -> BTreeSet<u64> {
        self.told().remove(&kind).unwrap_or_default()
    }

    /// Checks that what the sources were told, what the outputs received and
    /// the books agree; the error says where they do not.
    pub fn check(&self, books: &AccountingSnapshot) -> Result<(), Disagreement> {
        let mut problems = Vec::new();
        let told = self.told.lock().unwrap().clone();
        let mut times: BTreeMap<u64, usize> = BTreeMap::new();
        for (id, _) in &told {
            *times.entry(*id).or_default() += 1;
        }
        let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
        if !twice.is_empty() {
            problems.push(format!("told more than once: {twice:?}"));
        }
        let untold: Vec<u64> = (0..self.count)
            .filter(|id| !times.contains_key(id))
            .collect();
        if !untold.is_empty() && books.received == self.count {
            problems.push(format!("never told: {untold:?}"));
        }
        let by_kind = self.told();
        let ids = |kind| by_kind.get(&kind).cloned().unwrap_or_default();
        let sink: BTreeSet<u64> = self.delivered_copies().into_iter().collect();
        let dead: BTreeSet<u64> = self.dead_lettered_copies().into_iter().collect();
        compare(
            &mut problems,
            "delivered",
            &ids(Kind::Delivered),
            "sink",
            &sink,
        );
        compare(
            &mut problems,
            "dead-lettered",
            &ids(Kind::DeadLettered),
            "dead-letter output",
            &dead,
        );
        let counts = |kind| ids(kind).len() as u64;
        let told_books = AccountingSnapshot {
            received: told.len() as u64,
            delivered: counts(Kind::Delivered),
            filtered: counts(Kind::Filtered),
            dead_lettered: counts(Kind::DeadLettered),
            dropped: counts(Kind::Dropped),
            nacked: counts(Kind::Nacked),
        };
        if told_books != *books {
            problems.push(format!("told {told_books} but the books say {books}"));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Disagreement(problems))
        }
    }

    /// [`Oracle::check`], panicking with the disagreement.
    #[track_caller]
    pub fn assert_agrees(&self, books: &AccountingSnapshot) {
        if let Err(disagreement) = self.check(books) {
            panic!("{disagreement}");
        }
    }
}

fn compare(
    problems: &mut Vec<String>,
    told_as: &str,
    told: &BTreeSet<u64>,
    output: &str,
    received: &BTreeSet<u64>,
) {
    let missing: Vec<_> = told.difference(received).collect();
    if !missing.is_empty() {
        problems.push(format!(
            "told {told_as} but not in the {output}: {missing:?}"
        ));
    }
    let extra: Vec<_> = received.difference(told).collect();
    if !extra.is_empty() {
        problems.push(format!("in the {output} but not told {told_as}: {extra:?}"));
    }
}

/// Where the oracle found the run's reports untrue.
#[derive(Debug)]
pub struct Disagreement(Vec<String>);

impl fmt::Display for Disagreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the oracle disagrees: {}", self.0.join("; "))
    }
}

impl Received {
    fn write(&mut self, ids: Vec<u64>) {
        self.pending.extend(ids);
    }

    fn flush(&mut self, faults: &Faults) -> Result<(), BoxError> {
        let call = self.flushes;
        self.flushes += 1;
        if faults.flush_fails_from.is_some_and(|from| call >= from) {
            self.pending.clear();
            return Err(format!("injected flush failure (flush {call})").into());
        }
        let pending = std::mem::take(&mut self.pending);
        self.flushed.extend(pending);
        Ok(())
    }
}

/// A sink that tells the oracle what it wrote and flushed.
pub struct OracleSink<T> {
    received: Arc<Mutex<Received>>,
    faults: Faults,
    /// Failed write attempts so far, by first id of the record.
    attempts: BTreeMap<u64, u32>,
    _records: std::marker::PhantomData<fn(T)>,
}

impl<T: Ids> Sink<T> for OracleSink<T> {
    async fn write(&mut self, item: &T) -> Result<(), BoxError> {
        if let Some(delay) = self.faults.delay {
            tokio::time::sleep(delay).await;
        }
        let ids = item.ids();
        self.received.lock().unwrap().writes += 1;
        if let (Some(failures), Some(first)) = (&self.faults.write_failures, ids.first()) {
            let failed = self.attempts.entry(*first).or_default();
            if *failed < failures(*first) {
                *failed += 1;
                return Err(format!("injected write failure {failed} of {first}").into());
            }
        }
        self.received.lock().unwrap().write(ids);
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), BoxError> {
        self.received.lock().unwrap().flush(&self.faults)
    }
}

/// A dead-letter output that tells the oracle what it wrote and flushed.
pub struct OracleDeadLetters {
    received: Arc<Mutex<Received>>,
    faults: Faults,
}

impl DeadLetterSink for OracleDeadLetters {
    async fn write(&mut self, letter: &DeadLetter) -> Result<(), BoxError> {
        if let Some(delay) = self.faults.delay {
            tokio::time::sleep(delay).await;
        }
        let ids = if let Some(id) = letter.payload_as::<u64>() {
            vec![*id]
        } else if let Some(batch) = letter.payload_as::<Vec<u64>>() {
            batch.clone()
        } else {
            return Err("a dead letter whose payload is not a record id".into());
        };
        let mut received = self.received.lock().unwrap();
        received.writes += 1;
        if let Some(failures) = &self.faults.write_failures {
            if failures(ids[0]) > 0 {
                return Err(format!("injected dead-letter write failure on {}", ids[0]).into());
            }
        }
        received.write(ids);
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), BoxError> {
        self.received.lock().unwrap().flush(&self.faults)
    }
}
