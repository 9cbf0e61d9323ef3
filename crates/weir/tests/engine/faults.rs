//! End-to-end runs with injected faults (errors, timeouts, panics, failing
//! sink writes, flushes and dead-letter outputs): every record is accounted
//! for, and what every source is told agrees with what the sink and the
//! dead-letter output actually received (see `common::oracle`).

use crate::common;

use std::collections::HashSet;
use std::time::Duration;

use common::oracle::{Faults, Kind, Oracle};
use common::tally;
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
    let (oracle, source) = Oracle::new(2_000);
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
        .sink("collect", oracle.sink::<u64>(Faults::default()))
        .dead_letters(oracle.dead_letters(Faults::default()))
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
    let mut items = oracle.delivered_copies();
    items.sort_unstable();
    assert_eq!(items.len() as u64, 2 * books.delivered);
    assert!(items.chunks(2).all(|pair| pair[0] == pair[1]));
    // Every source record was told once, with the outcome the books show,
    // and the outputs received exactly what the sources were told.
    let outcomes = oracle.outcomes();
    let told = tally(outcomes);
    assert_eq!(
        told,
        [books.delivered, books.filtered, books.dead_lettered, 0, 0]
    );
    let distinct: HashSet<u64> = outcomes.lock().unwrap().iter().map(|(n, _)| *n).collect();
    assert_eq!(distinct.len(), 2_000);
    oracle.assert_agrees(&books);
    let failures: std::collections::BTreeSet<u64> =
        (0..2_000).filter(|&n| roll(n, 1) <= 7).collect();
    assert_eq!(oracle.told_ids(Kind::DeadLettered), failures);
    assert!(report.error.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_rescue_transient_errors() {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    let attempts: Arc<Mutex<HashMap<u64, u32>>> = Arc::default();
    let seen = attempts.clone();
    let (oracle, source) = Oracle::new(100);
    let outcomes = oracle.outcomes();
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
        .sink("collect", oracle.sink::<u64>(Faults::default()))
        .dead_letters(oracle.dead_letters(Faults::default()))
        .run()
        .await;
    oracle.assert_agrees(&report.accounting);
    assert_eq!(report.accounting.delivered, 100);
    assert_eq!(tally(outcomes), [100, 0, 0, 0, 0]);
    let stage = &report.snapshot.stages[1];
    assert_eq!((stage.errors, stage.retries), (200, 200));
    assert!(attempts.lock().unwrap().values().all(|&n| n == 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_record_counts_its_attempts_and_gives_up_after_the_last() {
    let (oracle, source) = Oracle::new(10);
    let outcomes = oracle.outcomes();
    let report = Pipeline::builder()
        .source("numbers", source)
        .stage(
            "always-fails",
            Stage::map(|n: u64| -> Result<u64, weir::BoxError> { Err(format!("no {n}").into()) })
                .retry(RetryPolicy::new(3).base_delay(Duration::from_millis(1))),
        )
        .sink("collect", oracle.sink::<u64>(Faults::default()))
        .dead_letters(oracle.dead_letters(Faults::default()))
        .run()
        .await;
    oracle.assert_agrees(&report.accounting);
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
async fn run_behind_a_full_link(count: u64, overflow: Overflow) -> (weir::RunReport, Oracle) {
    let (oracle, source) = Oracle::new(count);
    let slow = Faults {
        delay: Some(Duration::from_millis(1)),
        ..Faults::default()
    };
    let report = Pipeline::builder()
        .source("numbers", source)
        .map("pass", Ok)
        .link(LinkConfig {
            capacity: 2,
            overflow,
        })
        .sink("slow", oracle.sink::<u64>(slow))
        .dead_letters(oracle.dead_letters(Faults::default()))
        .run()
        .await;
    oracle.assert_agrees(&report.accounting);
    (report, oracle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropping_link_reports_dropped_never_delivered() {
    let (report, oracle) = run_behind_a_full_link(500, Overflow::DropNewest).await;
    let outcomes = oracle.outcomes();
    let books = report.accounting;
    assert!(books.balances(), "{books}");
    assert!(
        books.dropped > 0,
        "a slow sink behind a 2-slot drop_newest link drops"
    );
    let told = tally(outcomes);
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
    let written: HashSet<u64> = oracle.delivered_copies().into_iter().collect();
    assert_eq!(delivered, written);
    assert_eq!(report.snapshot.stages[2].dropped(), books.dropped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fail_fast_stage_stops_the_run_and_nacks_what_was_left() {
    let (oracle, source) = Oracle::new(10_000);
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
        .sink("collect", oracle.sink::<u64>(Faults::default()))
        .dead_letters(oracle.dead_letters(Faults::default()))
        .run()
        .await;
    oracle.assert_agrees(&report.accounting);
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
    /// policies) with random fault rates, in the stages and in the sink's
    /// writes, always balance their books, and what each source was told
    /// agrees with what the sink and the dead-letter output received.
    #[test]
    fn random_pipelines_with_random_faults_balance(
        count in 0u64..400,
        stages in proptest::collection::vec((1usize..4, any::<bool>(), 0u64..30), 1..4),
        capacity in 1usize..8,
        dropping in any::<bool>(),
        sink_fault_percent in 0u64..30,
        salt in any::<u64>(),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (oracle, source) = Oracle::new(count);
        let outputs = oracle.clone();
        let books = runtime.block_on(async move {
            let oracle = outputs;
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
                        if r.is_multiple_of(2) { panic!("injected panic") }
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
            // A failing write fails once or twice: one retry rescues the
            // first kind, the second is dead-lettered by the sink.
            let sink_salt = salt.rotate_left(17);
            let sink_faults = Faults {
                write_failures: Some(std::sync::Arc::new(move |n| {
                    let r = roll(n, sink_salt);
                    if r < sink_fault_percent { 1 + (r % 2) as u32 } else { 0 }
                })),
                ..Faults::default()
            };
            let retry = RetryPolicy::new(2).base_delay(Duration::from_millis(1));
            let report = flow
                .sink_with_retry("collect", oracle.sink::<u64>(sink_faults), Some(retry))
                .dead_letters(oracle.dead_letters(Faults::default()))
                .run()
                .await;
            let told = tally(oracle.outcomes());
            (report.accounting, told)
        });
        let (books, told) = books;
        prop_assert!(books.balances(), "{}", books);
        prop_assert_eq!(books.received, count);
        prop_assert_eq!(books.nacked, 0);
        prop_assert_eq!(told, [books.delivered, books.filtered, books.dead_lettered, books.dropped, 0]);
        let agreement = oracle.check(&books);
        prop_assert!(agreement.is_ok(), "{}", agreement.unwrap_err());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejecting_link_refuses_records_as_dropped_and_the_run_goes_on() {
    let (report, oracle) = run_behind_a_full_link(300, Overflow::Reject).await;
    let outcomes = oracle.outcomes();
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

/// `count` records straight into a sink and a dead-letter output with the
/// given faults; the oracle has checked the run.
async fn run_with_faulty_outputs(
    count: u64,
    stage_fails: fn(u64) -> bool,
    sink: Faults,
    sink_retry: Option<RetryPolicy>,
    dead_letters: Faults,
) -> (weir::RunReport, Oracle) {
    let (oracle, source) = Oracle::new(count);
    let report = Pipeline::builder()
        .source("numbers", source)
        .map("check", move |n: u64| {
            if stage_fails(n) {
                Err(format!("{n} fails").into())
            } else {
                Ok(n)
            }
        })
        .sink_with_retry("out", oracle.sink::<u64>(sink), sink_retry)
        .dead_letters(oracle.dead_letters(dead_letters))
        .run()
        .await;
    oracle.assert_agrees(&report.accounting);
    (report, oracle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_flush_nacks_what_it_held_and_fails_the_run() {
    let failing_flush = Faults {
        flush_fails_from: Some(0),
        ..Faults::default()
    };
    let (report, oracle) =
        run_with_faulty_outputs(50, |_| false, failing_flush, None, Faults::default()).await;
    let books = report.accounting;
    assert!(
        matches!(report.error, Some(weir::PipelineError::SinkFailed { .. })),
        "{:?}",
        report.error
    );
    assert_eq!(books.delivered, 0, "nothing was flushed: {books}");
    assert!(books.nacked >= 1, "{books}");
    assert!(oracle.delivered_copies().is_empty());
    assert!(oracle.sink_writes() >= 1, "the sink was written to");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_that_fails_later_keeps_what_was_flushed_delivered() {
    // The sink flushes at least every 1024 records: the first flush
    // succeeds, a later one fails.
    let failing_later = Faults {
        flush_fails_from: Some(1),
        ..Faults::default()
    };
    let (report, oracle) =
        run_with_faulty_outputs(2_000, |_| false, failing_later, None, Faults::default()).await;
    let books = report.accounting;
    assert!(matches!(
        report.error,
        Some(weir::PipelineError::SinkFailed { .. })
    ));
    assert!(books.delivered > 0 && books.nacked > 0, "{books}");
    assert_eq!(books.delivered, oracle.delivered_copies().len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_writes_that_fail_then_succeed_are_retried_and_delivered() {
    let flaky = Faults {
        write_failures: Some(std::sync::Arc::new(|n| (n % 3) as u32)),
        ..Faults::default()
    };
    let retry = RetryPolicy::new(3).base_delay(Duration::from_millis(1));
    let (report, oracle) =
        run_with_faulty_outputs(60, |_| false, flaky, Some(retry), Faults::default()).await;
    let books = report.accounting;
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!((books.delivered, books.dead_lettered), (60, 0), "{books}");
    // 20 records fail once, 20 twice: 60 failed writes, each retried.
    assert_eq!(oracle.sink_writes(), 60 + 20 + 40);
    let sink = &report.snapshot.stages[2];
    assert_eq!((sink.errors, sink.retries), (60, 60));
    let mut copies = oracle.delivered_copies();
    copies.sort_unstable();
    assert_eq!(copies, (0..60).collect::<Vec<_>>(), "each written once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_writes_that_fail_past_their_retries_are_dead_lettered() {
    let flaky = Faults {
        write_failures: Some(std::sync::Arc::new(|n| if n % 4 == 0 { 5 } else { 0 })),
        ..Faults::default()
    };
    let retry = RetryPolicy::new(2).base_delay(Duration::from_millis(1));
    let (report, oracle) =
        run_with_faulty_outputs(40, |_| false, flaky, Some(retry), Faults::default()).await;
    let books = report.accounting;
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!((books.delivered, books.dead_lettered), (30, 10), "{books}");
    let expected: std::collections::BTreeSet<u64> = (0..40).filter(|n| n % 4 == 0).collect();
    assert_eq!(oracle.told_ids(Kind::DeadLettered), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_output_that_cannot_write_fails_the_run_and_nacks() {
    let broken = Faults {
        write_failures: Some(std::sync::Arc::new(|_| 1)),
        ..Faults::default()
    };
    let (report, oracle) =
        run_with_faulty_outputs(20, |n| n == 5, Faults::default(), None, broken).await;
    let books = report.accounting;
    assert!(
        matches!(report.error, Some(weir::PipelineError::DeadLetterFailed(_))),
        "{:?}",
        report.error
    );
    assert_eq!(books.dead_lettered, 0, "{books}");
    assert!(oracle.told_ids(Kind::Nacked).contains(&5), "{books}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_output_whose_flush_fails_nacks_its_letters() {
    let broken = Faults {
        flush_fails_from: Some(0),
        ..Faults::default()
    };
    let (report, oracle) =
        run_with_faulty_outputs(20, |n| n % 5 == 0, Faults::default(), None, broken).await;
    let books = report.accounting;
    assert!(matches!(
        report.error,
        Some(weir::PipelineError::DeadLetterFailed(_))
    ));
    assert_eq!(books.dead_lettered, 0, "{books}");
    assert!(oracle.told_ids(Kind::Nacked).contains(&0), "{books}");
    assert!(oracle.dead_lettered_copies().is_empty());
}

/// The start of every attempt at each record, in paused time.
type Attempts = std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<u64, Vec<Duration>>>>;

#[tokio::test(start_paused = true)]
async fn retries_back_off_exponentially_with_jitter_up_to_the_cap() {
    let attempts: Attempts = Default::default();
    let seen = attempts.clone();
    let start = tokio::time::Instant::now();
    let (oracle, source) = Oracle::new(60);
    let report = Pipeline::builder()
        .source("numbers", source)
        .stage(
            "always-fails",
            Stage::map_async(move |n: u64| {
                let at = start.elapsed();
                seen.lock().unwrap().entry(n).or_default().push(at);
                async move { Err::<u64, _>(weir::BoxError::from("no")) }
            })
            .concurrency(60)
            .retry(
                RetryPolicy::new(5)
                    .base_delay(Duration::from_millis(10))
                    .max_delay(Duration::from_millis(25)),
            ),
        )
        .sink("out", oracle.sink::<u64>(Faults::default()))
        .dead_letters(oracle.dead_letters(Faults::default()))
        .run()
        .await;
    assert_eq!(report.accounting.dead_lettered, 60);
    oracle.assert_agrees(&report.accounting);
    // Retry n waits a uniform time in [0, min(25ms, 10ms * 2^(n-1))]; the
    // timer rounds up to the next millisecond.
    let ceilings = [10, 20, 25, 25];
    let tick = Duration::from_millis(1);
    let mut gaps: Vec<Vec<Duration>> = vec![Vec::new(); 4];
    for times in attempts.lock().unwrap().values() {
        assert_eq!(times.len(), 5);
        for (retry, pair) in times.windows(2).enumerate() {
            gaps[retry].push(pair[1] - pair[0]);
        }
    }
    for (retry, gaps) in gaps.iter().enumerate() {
        let ceiling = Duration::from_millis(ceilings[retry]);
        let longest = *gaps.iter().max().unwrap();
        assert!(longest <= ceiling + tick, "retry {retry}: {gaps:?}");
        // Jitter: the 60 records do not all wait the same.
        let distinct: HashSet<&Duration> = gaps.iter().collect();
        assert!(distinct.len() > 5, "retry {retry} without jitter: {gaps:?}");
    }
    // Exponential: later retries wait longer than the first one can; the
    // cap: no wait reaches the uncapped 40 ms and 80 ms.
    let beyond = |retry: usize, ms: u64| {
        gaps[retry]
            .iter()
            .any(|gap| *gap > Duration::from_millis(ms) + tick)
    };
    assert!(beyond(1, 10), "the second retry waits up to 20 ms");
    assert!(beyond(2, 20) && beyond(3, 20), "later retries up to 25 ms");
}

// Paused time: the source refills the sink's input while the sink sleeps,
// so the input never runs dry and only the every-1024 rule flushes.
#[tokio::test(start_paused = true)]
async fn a_busy_sink_flushes_every_1024_records_and_delivers_them_all() {
    let (oracle, source) = Oracle::new(3_000);
    let busy = Faults {
        delay: Some(Duration::from_millis(1)),
        ..Faults::default()
    };
    let report = Pipeline::builder()
        .source("numbers", source)
        .sink("out", oracle.sink::<u64>(busy))
        .dead_letters(oracle.dead_letters(Faults::default()))
        .run()
        .await;
    let books = report.accounting;
    assert_eq!(books.delivered, 3_000, "{books}");
    oracle.assert_agrees(&books);
    // At 1024 and 2048 records written, and once at the end: never with
    // nothing written.
    assert_eq!(oracle.sink_flushes(), 3);
}
