//! How a stage runs its records: `ordered` keeps the input order under
//! concurrency (and only then is the order kept), and latency is measured
//! for every record of an async stage, sampled for an inline one. In paused
//! time, so the sleeps cost nothing and the order is exact.

use crate::common;

use std::time::Duration;

use common::oracle::{Faults, Oracle};
use weir::stage::Stage;
use weir::Pipeline;

/// 20 records through a stage of concurrency 4 in which record 0 takes
/// 50 ms and the others no time; the ids in the order the sink got them.
async fn through_a_slow_first_record(ordered: bool) -> Vec<u64> {
    let (oracle, source) = Oracle::new(20);
    let mut stage = Stage::map_async(|n: u64| async move {
        if n == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(n)
    })
    .concurrency(4);
    if ordered {
        stage = stage.ordered();
    }
    let report = Pipeline::builder()
        .source("numbers", source)
        .stage("work", stage)
        .sink("out", oracle.sink::<u64>(Faults::default()))
        .dead_letters(oracle.dead_letters(Faults::default()))
        .run()
        .await;
    oracle.assert_agrees(&report.accounting);
    assert_eq!(report.accounting.delivered, 20);
    oracle.delivered_copies()
}

#[tokio::test(start_paused = true)]
async fn ordered_keeps_the_input_order_under_concurrency() {
    assert_eq!(
        through_a_slow_first_record(true).await,
        (0..20).collect::<Vec<_>>()
    );
}

#[tokio::test(start_paused = true)]
async fn without_ordered_a_slow_record_is_overtaken() {
    let order = through_a_slow_first_record(false).await;
    assert_ne!(order[0], 0, "{order:?}");
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..20).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn async_stages_time_every_record_and_inline_ones_a_sample() {
    let (oracle, source) = Oracle::new(32);
    let report = Pipeline::builder()
        .source("numbers", source)
        .map("inline", Ok)
        .stage(
            "async",
            Stage::map_async(|n: u64| async move {
                tokio::time::sleep(Duration::from_millis(n + 1)).await;
                Ok(n)
            }),
        )
        .sink("out", oracle.sink::<u64>(Faults::default()))
        .dead_letters(oracle.dead_letters(Faults::default()))
        .run()
        .await;
    oracle.assert_agrees(&report.accounting);
    let stages = &report.snapshot.stages;
    let latency = |name: &str| {
        stages
            .iter()
            .find(|s| s.name.as_ref() == name)
            .unwrap()
            .latency
    };
    // One inline record in 16 is timed (reading the clock costs more than
    // the stage); every async one is.
    assert_eq!(latency("inline").count, 2);
    assert_eq!(latency("async").count, 32);
    assert!(latency("async").max >= Duration::from_millis(32));
}

/// 10 records through a stage whose odd records take an hour, timed out
/// after 50 ms under `policy`.
async fn with_odd_records_timing_out(
    policy: weir::stage::TimeoutPolicy<u64>,
) -> (weir::RunReport, common::CollectSink, common::Outcomes) {
    let (source, outcomes) = common::AckingSource::new(10);
    let sink = common::CollectSink::default();
    let report = Pipeline::builder()
        .source("numbers", source)
        .stage(
            "slow-odds",
            Stage::map_async(|n: u64| async move {
                if n % 2 == 1 {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                Ok(n)
            })
            .timeout_with(Duration::from_millis(50), policy),
        )
        .sink("out", sink.clone())
        .run()
        .await;
    (report, sink, outcomes)
}

#[tokio::test(start_paused = true)]
async fn a_fallback_timeout_policy_emits_the_fallback_instead() {
    let fallback = weir::stage::TimeoutPolicy::Fallback(std::sync::Arc::new(|| 999));
    let (report, sink, outcomes) = with_odd_records_timing_out(fallback).await;
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(report.accounting.delivered, 10);
    assert_eq!(common::tally(&outcomes), [10, 0, 0, 0, 0]);
    let items = sink.items.lock().unwrap().clone();
    assert_eq!(items, [0, 999, 2, 999, 4, 999, 6, 999, 8, 999]);
}

#[tokio::test(start_paused = true)]
async fn a_fail_pipeline_timeout_policy_stops_the_run() {
    let policy = weir::stage::TimeoutPolicy::FailPipeline;
    let (report, sink, _) = with_odd_records_timing_out(policy).await;
    assert!(
        matches!(report.error, Some(weir::PipelineError::StageFailed { .. })),
        "{:?}",
        report.error
    );
    assert!(report.accounting.nacked >= 1, "{}", report.accounting);
    assert_eq!(report.accounting.dead_lettered, 0);
    assert!(!sink.items.lock().unwrap().contains(&1));
}
