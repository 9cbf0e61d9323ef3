//! A batch stage is one component: it gathers records and joins each batch
//! into one record inside itself, so the snapshot, the report and the
//! metrics show exactly the components the user named; each batch's
//! outcome reaches every source record in it.

use crate::common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{tally, AckingSource, CollectSink};
use weir::stage::{RetryPolicy, Stage};
use weir::Pipeline;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_join_is_one_component() {
    let (source, outcomes) = AckingSource::new(95);
    let sink = CollectSink::default();
    let sum = Stage::batch(10, Duration::from_secs(5), |batch: Vec<u64>| {
        Ok(batch.iter().sum::<u64>())
    });
    let report = Pipeline::builder()
        .source("numbers", source)
        .stage("sum", sum)
        .sink("collect", sink.clone())
        .run()
        .await;
    let names: Vec<&str> = report
        .snapshot
        .stages
        .iter()
        .map(|stage| stage.name.as_ref())
        .collect();
    assert_eq!(names, ["numbers", "sum", "collect"]);
    let verdict_names: Vec<&str> = report.verdicts.iter().map(|v| v.name.as_ref()).collect();
    assert_eq!(verdict_names, ["numbers", "sum", "collect"]);
    let batch = &report.snapshot.stages[1];
    assert_eq!(batch.workers, 1);
    assert_eq!(batch.records_in, 95);
    assert_eq!(batch.records_out, 10); // nine full batches and a last partial one
    let sums = sink.items.lock().unwrap().clone();
    assert_eq!(sums.len(), 10);
    assert_eq!(sums.iter().sum::<u64>(), (0..95).sum::<u64>());
    assert_eq!(*sums.last().unwrap(), (90..95).sum::<u64>());
    let books = report.accounting;
    assert!(books.balances(), "{books}");
    assert_eq!(tally(&outcomes), [95, 0, 0, 0, 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_batch_leaves_after_max_wait() {
    let (source, outcomes) = AckingSource::new(3);
    let source = source.slow(Duration::from_millis(60));
    let sink = CollectSink::default();
    let count = Stage::batch(100, Duration::from_millis(20), |batch: Vec<u64>| {
        Ok(batch.len() as u64)
    });
    let report = Pipeline::builder()
        .source("slow", source)
        .stage("count", count)
        .sink("collect", sink.clone())
        .run()
        .await;
    // Each record waits alone longer than max_wait: three batches of one.
    assert_eq!(*sink.items.lock().unwrap(), [1, 1, 1]);
    assert!(report.accounting.balances());
    assert_eq!(tally(&outcomes), [3, 0, 0, 0, 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_join_is_retried_then_dead_letters_the_whole_batch() {
    let (source, outcomes) = AckingSource::new(20);
    let sink = CollectSink::default();
    let calls = Arc::new(AtomicU32::new(0));
    let seen = calls.clone();
    // The batch holding record 7 always fails; the others succeed.
    let join = Stage::batch(5, Duration::from_secs(5), move |batch: Vec<u64>| {
        seen.fetch_add(1, Ordering::Relaxed);
        if batch.contains(&7) {
            Err("no sevens".into())
        } else {
            Ok(batch.len() as u64)
        }
    })
    .retry(RetryPolicy::new(3).base_delay(Duration::from_millis(1)));
    let report = Pipeline::builder()
        .source("numbers", source)
        .stage("join", join)
        .sink("collect", sink.clone())
        .run()
        .await;
    assert_eq!(calls.load(Ordering::Relaxed), 3 + 3);
    let stage = &report.snapshot.stages[1];
    assert_eq!(stage.errors, 3);
    assert_eq!(stage.retries, 2);
    assert_eq!(stage.dead_letters, 1);
    assert_eq!(*sink.items.lock().unwrap(), [5, 5, 5]);
    let books = report.accounting;
    assert!(books.balances(), "{books}");
    assert_eq!(books.dead_lettered, 5);
    assert_eq!(tally(&outcomes), [15, 0, 5, 0, 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_batch_passes_batches_on_as_they_are() {
    let (source, _outcomes) = AckingSource::new(7);
    let report = Pipeline::builder()
        .source("numbers", source)
        .batch("batch", 3, Duration::from_secs(5))
        .map("len", |batch: Vec<u64>| Ok(batch.len() as u64))
        .sink("collect", CollectSink::default())
        .run()
        .await;
    let out: Vec<u64> = report
        .snapshot
        .stages
        .iter()
        .map(|s| s.records_out)
        .collect();
    assert_eq!(out, [7, 3, 3, 3]);
    assert_eq!(report.accounting.delivered, 7);
}
