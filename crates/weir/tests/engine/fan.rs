//! Broadcast and merge: every branch gets every record, the slowest branch
//! sets the pace, and a record's outcome is the most serious of its copies.

use crate::common;

use std::time::Duration;

use common::{tally, AckingSource, CollectSink};
use weir::stage::Stage;
use weir::{Branch, Flow, LinkConfig, Pipeline};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_branch_gets_every_record_and_outcomes_combine() {
    let (source, outcomes) = AckingSource::new(300);
    let sink = CollectSink::default();
    let tens: Branch<u64, u64> = Box::new(|flow: Flow<u64>| flow.map("tens", |n| Ok(n * 10)));
    // Fails on multiples of 3: those records are dead-lettered as a whole,
    // even though the other branch delivered its copy.
    let picky: Branch<u64, u64> = Box::new(|flow: Flow<u64>| {
        flow.map("picky", |n| {
            if n % 3 == 0 {
                Err("multiple of 3".into())
            } else {
                Ok(n)
            }
        })
    });
    let report = Pipeline::builder()
        .source("numbers", source)
        .broadcast("fork", vec![tens, picky])
        .sink("collect", sink.clone())
        .run()
        .await;
    let books = report.accounting;
    assert!(books.balances(), "{books}");
    assert_eq!(books.dead_lettered, 100);
    assert_eq!(books.delivered, 200);
    assert_eq!(tally(&outcomes), [200, 0, 100, 0, 0]);
    let mut items = sink.items.lock().unwrap().clone();
    items.sort_unstable();
    let mut expected: Vec<u64> = (0..300)
        .map(|n| n * 10)
        .chain((0..300).filter(|n| n % 3 != 0))
        .collect();
    expected.sort_unstable();
    assert_eq!(items, expected);
}

#[tokio::test(start_paused = true)]
async fn the_slowest_branch_sets_the_pace_of_all() {
    let (source, _) = AckingSource::new(1_000);
    let fast: Branch<u64, u64> = Box::new(|flow: Flow<u64>| flow.map("fast", Ok));
    let slow: Branch<u64, u64> = Box::new(|flow: Flow<u64>| {
        flow.stage(
            "slow",
            Stage::map_async(|n: u64| async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                Ok(n)
            }),
        )
    });
    let running = Pipeline::builder()
        .links(LinkConfig {
            capacity: 8,
            ..LinkConfig::default()
        })
        .source("numbers", source)
        .broadcast("fork", vec![fast, slow])
        .sink("collect", CollectSink::default())
        .start();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let snapshot = running.monitor().snapshot();
    let count = |name: &str| {
        snapshot
            .stages
            .iter()
            .find(|s| s.name.as_ref() == name)
            .unwrap()
            .records_in
    };
    // The fast branch cannot run ahead of the slow one by more than the
    // links between them hold.
    assert!(
        count("slow") >= 90,
        "slow branch progressed: {}",
        count("slow")
    );
    assert!(
        count("fast") <= count("slow") + 3 * 8 + 2,
        "fast {} slow {}",
        count("fast"),
        count("slow")
    );
    let report = running.wait().await;
    assert!(report.accounting.balances());
    assert_eq!(report.accounting.delivered, 1_000);
    assert_eq!(
        report.bottleneck.as_deref(),
        Some("slow"),
        "{:#?}",
        report.verdicts
    );
}
