//! Helpers shared by the engine's integration tests.
#![allow(dead_code)] // each test file uses a different subset

pub mod oracle;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use weir::io::{Emitted, Sink, Source, SourceItem};
use weir::{BoxError, Outcome};

/// Outcomes told to a source, by record number.
pub type Outcomes = Arc<Mutex<Vec<(u64, Outcome)>>>;

/// Emits `0..count`, each with a callback that records its outcome.
pub struct AckingSource {
    next: u64,
    count: u64,
    outcomes: Outcomes,
    delay: Option<Duration>,
}

impl AckingSource {
    pub fn new(count: u64) -> (Self, Outcomes) {
        let outcomes = Outcomes::default();
        let source = AckingSource {
            next: 0,
            count,
            outcomes: outcomes.clone(),
            delay: None,
        };
        (source, outcomes)
    }

    /// Waits `delay` before each record: a slow source.
    pub fn slow(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

impl Source<u64> for AckingSource {
    async fn next(&mut self) -> Option<SourceItem<u64>> {
        if self.next == self.count {
            return None;
        }
        if let Some(delay) = self.delay {
            tokio::time::sleep(delay).await;
        }
        let n = self.next;
        self.next += 1;
        let outcomes = self.outcomes.clone();
        Some(SourceItem::Record(Emitted {
            payload: n,
            on_ack: Some(Box::new(move |outcome: &Outcome| {
                outcomes.lock().unwrap().push((n, outcome.clone()));
            })),
        }))
    }
}

/// A sink that keeps what it was given, optionally sleeping per record.
#[derive(Clone, Default)]
pub struct CollectSink {
    pub items: Arc<Mutex<Vec<u64>>>,
    pub delay: Option<Duration>,
}

impl Sink<u64> for CollectSink {
    async fn write(&mut self, item: &u64) -> Result<(), BoxError> {
        if let Some(delay) = self.delay {
            tokio::time::sleep(delay).await;
        }
        self.items.lock().unwrap().push(*item);
        Ok(())
    }
}

/// Counts outcomes by kind: (delivered, filtered, dead-lettered, dropped, nacked).
pub fn tally(outcomes: &Outcomes) -> [u64; 5] {
    let mut counts = [0; 5];
    for (_, outcome) in outcomes.lock().unwrap().iter() {
        counts[match outcome {
            Outcome::Delivered => 0,
            Outcome::Filtered { .. } => 1,
            Outcome::DeadLettered { .. } => 2,
            Outcome::Dropped { .. } => 3,
            Outcome::Nacked => 4,
            Outcome::Spilled { .. } => unreachable!("no pipeline tallied here spills"),
        }] += 1;
    }
    counts
}
