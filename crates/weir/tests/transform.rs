//! How a stage runs its records: `ordered` keeps the input order under
//! concurrency (and only then is the order kept), and latency is measured
//! for every record of an async stage, sampled for an inline one. In paused
//! time, so the sleeps cost nothing and the order is exact.

mod common;

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
