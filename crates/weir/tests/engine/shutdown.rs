//! Stopping a run: a graceful drain loses nothing; a drain that reaches its
//! deadline names what it left behind, and the books show it as nacked.

use crate::common;

use std::time::Duration;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use common::{tally, AckingSource, CollectSink};
use weir::io::{Source, SourceItem};
use weir::stage::Stage;
use weir::{LinkConfig, Pipeline, ShutdownHandle};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_in_the_middle_of_a_run_loses_nothing() {
    let (source, outcomes) = AckingSource::new(1_000_000);
    let sink = CollectSink {
        delay: Some(Duration::from_micros(200)),
        ..CollectSink::default()
    };
    let running = Pipeline::builder()
        .source("numbers", source)
        .map("inc", |n: u64| Ok(n + 1))
        .stage(
            "slowish",
            Stage::map_async(|n: u64| async move { Ok(n) }).concurrency(4),
        )
        .sink("collect", sink.clone())
        .start();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let report = running.drain(Duration::from_secs(30)).await;
    let books = report.accounting;
    assert!(books.balances(), "{books}");
    assert!(books.received > 0 && books.received < 1_000_000, "{books}");
    assert_eq!(books.nacked, 0, "the drain finished in time: {books}");
    assert_eq!(books.delivered, books.received);
    assert_eq!(sink.items.lock().unwrap().len() as u64, books.delivered);
    assert_eq!(tally(&outcomes), [books.delivered, 0, 0, 0, 0]);
    assert!(report.held_at_stop.is_empty());
}

// Paused time: the clock moves only when every task waits, so the stuck
// stage's workers and its full input link are an exact state, not a race
// against a real sleep on a loaded machine.
#[tokio::test(start_paused = true)]
async fn a_drain_past_its_deadline_names_where_records_were_held_and_nacks_them() {
    let (source, outcomes) = AckingSource::new(1_000);
    let running = Pipeline::builder()
        .source("numbers", source)
        .stage(
            "stuck",
            Stage::map_async(|n: u64| async move {
                if n >= 10 {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                Ok(n)
            })
            .concurrency(2),
        )
        .sink("collect", CollectSink::default())
        .start();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let draining = tokio::time::Instant::now();
    let report = running.drain(Duration::from_millis(200)).await;
    let drained = draining.elapsed();
    assert!(
        drained >= Duration::from_millis(200) && drained < Duration::from_secs(1),
        "the drain gave up at its deadline: {drained:?}"
    );
    let books = report.accounting;
    assert!(books.balances(), "{books}");
    assert_eq!(books.delivered, 10);
    let stuck = report
        .held_at_stop
        .iter()
        .find(|h| h.stage.as_ref() == "stuck")
        .expect("the stuck stage is named");
    assert_eq!(stuck.in_work, 2, "both workers were stuck");
    assert_eq!(stuck.queued, 64, "its input link was full");
    let held: u64 = report
        .held_at_stop
        .iter()
        .map(|h| h.queued + h.in_work)
        .sum();
    assert_eq!(
        books.nacked, held,
        "{books}; held {:?}",
        report.held_at_stop
    );
    assert_eq!(tally(&outcomes)[4], books.nacked);
    assert!(report.to_string().contains("at stuck"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_immediate_stop_abandons_and_reports_what_it_held() {
    let (source, _) = AckingSource::new(100_000);
    let sink = CollectSink {
        delay: Some(Duration::from_millis(1)),
        ..CollectSink::default()
    };
    let running = Pipeline::builder()
        .source("numbers", source)
        .map("pass", Ok)
        .sink("collect", sink)
        .start();
    tokio::time::sleep(Duration::from_millis(100)).await;
    running.shutdown_handle().stop_now();
    let report = running.wait().await;
    let books = report.accounting;
    assert!(books.balances(), "{books}");
    assert!(books.nacked > 0);
    assert!(!report.held_at_stop.is_empty());
}

/// Always has a record at once, and asks for a drain itself after
/// `drain_at` records, so the records pulled after it are counted exactly.
struct DrainingSource {
    pulled: Arc<AtomicU64>,
    drain_at: u64,
    handle: Arc<OnceLock<ShutdownHandle>>,
}

impl Source<u64> for DrainingSource {
    async fn next(&mut self) -> Option<SourceItem<u64>> {
        let n = self.pulled.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.drain_at {
            // The run starts before the test can hand over its handle;
            // a source that fast may get here first, so wait for it.
            let handle = loop {
                match self.handle.get() {
                    Some(handle) => break handle,
                    None => tokio::task::yield_now().await,
                }
            };
            handle.drain(Duration::from_secs(30));
        }
        Some(SourceItem::Record(n.into()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_always_ready_stops_soon_after_a_drain() {
    // A link of 14: batches of up to 7 records, starting at any count, so
    // a drain check made every so many loop turns could miss for long.
    for drain_at in [100, 1_001, 5_003] {
        let pulled = Arc::new(AtomicU64::new(0));
        let handle = Arc::new(OnceLock::new());
        let source = DrainingSource {
            pulled: pulled.clone(),
            drain_at,
            handle: handle.clone(),
        };
        let running = Pipeline::builder()
            .links(LinkConfig {
                capacity: 14,
                ..LinkConfig::default()
            })
            .source("always", source)
            .map("inc", |n: u64| Ok(n + 1))
            .sink("collect", CollectSink::default())
            .start();
        handle
            .set(running.shutdown_handle())
            .unwrap_or_else(|_| unreachable!("set once"));
        let report = running.wait().await;
        let after = pulled.load(Ordering::SeqCst) - drain_at;
        // The source checks for a drain at least every 64 records it
        // pulled, plus the batch it was filling (at most 7 here).
        assert!(after <= 64 + 7, "{after} records pulled after the drain");
        assert_eq!(report.accounting.nacked, 0, "{}", report.accounting);
        assert!(report.accounting.balances(), "{}", report.accounting);
    }
}
