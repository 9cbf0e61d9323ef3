//! A fast source into a slow sink: the records alive at once stay within
//! the links' capacities plus the stages' concurrency, counted exactly.

use std::sync::atomic::{AtomicI64, Ordering};

use weir::io::{iter_source, Sink};
use weir::stage::Stage;
use weir::{BoxError, LinkConfig, Pipeline};
use weir_core::Overflow;

static ALIVE: AtomicI64 = AtomicI64::new(0);
static PEAK: AtomicI64 = AtomicI64::new(0);

/// A payload that counts how many of it exist.
struct Tracked(u64);

impl Tracked {
    fn new(n: u64) -> Self {
        let alive = ALIVE.fetch_add(1, Ordering::SeqCst) + 1;
        PEAK.fetch_max(alive, Ordering::SeqCst);
        Tracked(n)
    }
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        Tracked::new(self.0)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        ALIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Slower than everything before it: yields to the scheduler every record.
struct SlowSink;

impl Sink<Tracked> for SlowSink {
    async fn write(&mut self, item: &Tracked) -> Result<(), BoxError> {
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        std::hint::black_box(item.0);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_alive_never_exceed_link_capacities_plus_concurrency() {
    const RECORDS: u64 = 1_000_000;
    const CAPACITY: usize = 16;
    const CONCURRENCY: usize = 4;
    // Links: source→a, a→b, b→sink.
    const LINKS: usize = 3;
    let report = Pipeline::builder()
        .links(LinkConfig {
            capacity: CAPACITY,
            overflow: Overflow::Block,
        })
        .source("fast", iter_source((0..RECORDS).map(Tracked::new)))
        .stage(
            "a",
            Stage::map(|t: Tracked| Ok(Tracked::new(t.0 + 1))).concurrency(CONCURRENCY),
        )
        .map("b", |t: Tracked| Ok(t))
        .sink("slow", SlowSink)
        .run()
        .await;
    assert_eq!(report.accounting.delivered, RECORDS);
    assert_eq!(
        ALIVE.load(Ordering::SeqCst),
        0,
        "every payload was dropped at the end"
    );
    // Each worker holds at most its input and one copy (kept for a dead
    // letter) or its output, plus a batch taken from its input and one made
    // for its output, each at most half a link; the source's batch fits in
    // its link's room, and the sink holds a batch too.
    let workers = CONCURRENCY + 1;
    let batch = CAPACITY / 2;
    let bound = (LINKS * CAPACITY + workers * (2 + 2 * batch) + batch + 2) as i64;
    let peak = PEAK.load(Ordering::SeqCst);
    assert!(peak <= bound, "peak {peak} payloads alive, bound {bound}");
    // The links really filled: backpressure, not a lucky schedule.
    let high_water: usize = report
        .snapshot
        .stages
        .iter()
        .filter_map(|s| s.input.map(|q| q.high_water))
        .sum();
    assert!(high_water >= CAPACITY, "links filled up: {high_water}");
}
