//! Stopping a run: a graceful drain loses nothing; a drain that reaches its
//! deadline names what it left behind, and the books show it as nacked.

mod common;

use std::time::Duration;

use common::{tally, AckingSource, CollectSink};
use weir::stage::Stage;
use weir::Pipeline;

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
