//! End-to-end runs with injected faults (errors, timeouts, panics): every
//! record is accounted for, every source is told the truth.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{tally, AckingSource, CollectSink};
use proptest::prelude::*;
use weir::stage::{RetryPolicy, Stage};
use weir::{DropPolicy, LinkConfig, Outcome, Pipeline};
use weir_core::Overflow;

/// Deterministic "randomness" per record and attempt-independent.
fn roll(n: u64, salt: u64) -> u64 {
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt;
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (x ^ (x >> 29)) % 100
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_timeouts_and_panics_are_dead_lettered_and_the_books_balance() {
    let (source, outcomes) = AckingSource::new(2_000);
    let sink = CollectSink::default();
    let report = Pipeline::builder()
        .source("numbers", source)
        .stage(
            "flaky",
            Stage::map_async(|n: u64| async move {
                match roll(n, 1) {
                    0..=4 => Err(format!("injected error on {n}").into()),
                    5..=6 => {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        Ok(n)
                    }
                    7 => panic!("injected panic on {n}"),
                    _ => Ok(n),
                }
            })
            .concurrency(8)
            .timeout(Duration::from_millis(50)),
        )
        .filter("drop-multiples-of-7", |n| n % 7 != 0)
        .flat_map("twice", |n| Ok(vec![n, n]))
        .sink("collect", sink.clone())
        .run()
        .await;

    let books = report.accounting;
    assert!(books.balances(), "{books}");
    assert_eq!(books.received, 2_000);
    assert_eq!(books.nacked, 0);
    let expected_failures = (0..2_000).filter(|&n| roll(n, 1) <= 7).count() as u64;
    assert_eq!(books.dead_lettered, expected_failures);
    let survivors: Vec<u64> = (0..2_000).filter(|&n| roll(n, 1) > 7).collect();
    let filtered = survivors.iter().filter(|&&n| n % 7 == 0).count() as u64;
    assert_eq!(books.filtered, filtered);
    assert_eq!(books.delivered, survivors.len() as u64 - filtered);
    // Each delivered record reached the sink exactly twice (flat_map).
    let mut items = sink.items.lock().unwrap().clone();
    items.sort_unstable();
    assert_eq!(items.len() as u64, 2 * books.delivered);
    assert!(items.chunks(2).all(|pair| pair[0] == pair[1]));
    // Every source record was told once, with the outcome the books show.
    let told = tally(&outcomes);
    assert_eq!(
        told,
        [books.delivered, books.filtered, books.dead_lettered, 0, 0]
    );
    let distinct: HashSet<u64> = outcomes.lock().unwrap().iter().map(|(n, _)| *n).collect();
    assert_eq!(distinct.len(), 2_000);
    assert!(report.error.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_rescue_transient_errors() {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    let attempts: Arc<Mutex<HashMap<u64, u32>>> = Arc::default();
    let seen = attempts.clone();
    let (source, outcomes) = AckingSource::new(100);
    let report = Pipeline::builder()
        .source("numbers", source)
        .stage(
            "fails-twice-then-works",
            Stage::map_async(move |n: u64| {
                let attempt = {
                    let mut seen = seen.lock().unwrap();
                    let count = seen.entry(n).or_default();
                    *count += 1;
                    *count
                };
                async move {
                    if attempt <= 2 {
                        Err(format!("transient failure {attempt} of {n}").into())
                    } else {
                        Ok(n)
                    }
                }
            })
            .concurrency(4)
            .retry(RetryPolicy::new(3).base_delay(Duration::from_millis(1))),
        )
        .sink("collect", CollectSink::default())
        .run()
        .await;
    assert_eq!(report.accounting.delivered, 100);
    assert_eq!(tally(&outcomes), [100, 0, 0, 0, 0]);
    let stage = &report.snapshot.stages[1];
    assert_eq!((stage.errors, stage.retries), (200, 200));
    assert!(attempts.lock().unwrap().values().all(|&n| n == 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_record_counts_its_attempts_and_gives_up_after_the_last() {
    let (source, outcomes) = AckingSource::new(10);
    let report = Pipeline::builder()
        .source("numbers", source)
        .stage(
            "always-fails",
            Stage::map(|n: u64| -> Result<u64, weir::BoxError> { Err(format!("no {n}").into()) })
                .retry(RetryPolicy::new(3).base_delay(Duration::from_millis(1))),
        )
        .sink("collect", CollectSink::default())
        .run()
        .await;
    assert_eq!(report.accounting.dead_lettered, 10);
    let stage = &report.snapshot.stages[1];
    assert_eq!(stage.errors, 30, "3 attempts per record");
    assert_eq!(stage.retries, 20);
    for (_, outcome) in outcomes.lock().unwrap().iter() {
        match outcome {
            Outcome::DeadLettered { stage, reason } => {
                assert_eq!(stage.as_ref(), "always-fails");
                assert!(reason.starts_with("no "), "{reason}");
            }
            other => panic!("unexpected outcome {other:?}"),
        }
    }
}

/// `count` records through a pass-through stage into a slow sink behind a
/// 2-slot link with the given policy.
async fn run_behind_a_full_link(
    count: u64,
    overflow: Overflow,
) -> (weir::RunReport, common::Outcomes, CollectSink) {
    let (source, outcomes) = AckingSource::new(count);
    let sink = CollectSink {
        delay: Some(Duration::from_millis(1)),
        ..CollectSink::default()
    };
    let report = Pipeline::builder()
        .source("numbers", source)
        .map("pass", Ok)
        .link(LinkConfig {
            capacity: 2,
            overflow,
        })
        .sink("slow", sink.clone())
        .run()
        .await;
    (report, outcomes, sink)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropping_link_reports_dropped_never_delivered() {
    let (report, outcomes, sink) = run_behind_a_full_link(500, Overflow::DropNewest).await;
    let books = report.accounting;
    assert!(books.balances(), "{books}");
    assert!(
        books.dropped > 0,
        "a slow sink behind a 2-slot drop_newest link drops"
    );
    let told = tally(&outcomes);
    assert_eq!(told[3], books.dropped);
    assert_eq!(told[0], books.delivered);
    // What the source was told "delivered" is exactly what the sink got.
    let delivered: HashSet<u64> = outcomes
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, o)| *o == Outcome::Delivered)
        .map(|(n, _)| *n)
        .collect();
    let written: HashSet<u64> = sink.items.lock().unwrap().iter().copied().collect();
    assert_eq!(delivered, written);
    assert_eq!(report.snapshot.stages[2].dropped(), books.dropped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fail_fast_stage_stops_the_run_and_nacks_what_was_left() {
    let (source, _) = AckingSource::new(10_000);
    let report = Pipeline::builder()
        .source("numbers", source)
        .stage(
            "strict",
            Stage::map(|n: u64| {
                if n == 100 {
                    Err("bad record".into())
                } else {
                    Ok(n)
                }
            })
            .fail_fast(),
        )
        .sink("collect", CollectSink::default())
        .run()
        .await;
    assert!(matches!(
        report.error,
        Some(weir::PipelineError::StageFailed { .. })
    ));
    let books = report.accounting;
    assert!(books.balances(), "{books}");
    assert!(books.nacked >= 1, "the failing record is nacked: {books}");
    assert!(books.received < 10_000);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Random pipelines (stage count, concurrency, order, link sizes and
    /// policies) with random fault rates always balance their books.
    #[test]
    fn random_pipelines_with_random_faults_balance(
        count in 0u64..400,
        stages in proptest::collection::vec((1usize..4, any::<bool>(), 0u64..30), 1..4),
        capacity in 1usize..8,
        dropping in any::<bool>(),
        salt in any::<u64>(),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let books = runtime.block_on(async move {
            let (source, outcomes) = AckingSource::new(count);
            let overflow = if dropping { Overflow::DropOldest } else { Overflow::Block };
            let mut flow = Pipeline::builder()
                .links(LinkConfig { capacity, overflow })
                .source("numbers", source);
            for (i, (concurrency, ordered, fault_percent)) in stages.into_iter().enumerate() {
                let salt = salt.wrapping_add(i as u64);
                let mut stage = Stage::map_async(move |n: u64| async move {
                    let r = roll(n, salt);
                    if r < fault_percent / 2 {
                        Err("injected".into())
                    } else if r < fault_percent {
                        if r % 2 == 0 { panic!("injected panic") }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        Ok(n)
                    } else {
                        tokio::task::yield_now().await;
                        Ok(n)
                    }
                })
                .concurrency(concurrency)
                .timeout(Duration::from_millis(20));
                if ordered { stage = stage.ordered(); }
                flow = flow.stage(&format!("stage-{i}"), stage);
            }
            let report = flow.sink("collect", CollectSink::default()).run().await;
            let told = tally(&outcomes);
            (report.accounting, told)
        });
        let (books, told) = books;
        prop_assert!(books.balances(), "{}", books);
        prop_assert_eq!(books.received, count);
        prop_assert_eq!(books.nacked, 0);
        prop_assert_eq!(told, [books.delivered, books.filtered, books.dead_lettered, books.dropped, 0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejecting_link_refuses_records_as_dropped_and_the_run_goes_on() {
    let (report, outcomes, _) = run_behind_a_full_link(300, Overflow::Reject).await;
    let books = report.accounting;
    assert!(books.balances(), "{books}");
    assert_eq!(books.received, 300, "the run went on to the end");
    assert!(books.dropped > 0 && books.delivered > 0, "{books}");
    assert!(outcomes.lock().unwrap().iter().all(|(_, o)| match o {
        Outcome::Dropped { policy, stage } =>
            *policy == DropPolicy::Reject && stage.as_ref() == "slow",
        other => *other == Outcome::Delivered,
    }));
}
