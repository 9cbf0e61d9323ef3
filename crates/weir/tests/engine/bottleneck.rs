//! The bottleneck verdict on pipelines whose slow part is known. Time is
//! virtual (paused), so the shares do not depend on the machine's speed.

use crate::common;

use std::time::Duration;

use common::{AckingSource, CollectSink};
use weir::metrics::{Verdict, VerdictState};
use weir::stage::Stage;
use weir::{Pipeline, RunReport};

const SLOW: Duration = Duration::from_millis(2);

fn sleepy(delay: Option<Duration>) -> Stage<u64, u64> {
    Stage::map_async(move |n: u64| async move {
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        Ok(n)
    })
}

async fn run_four_stages(
    slow_stage: Option<usize>,
    sink: CollectSink,
    slow_source: bool,
) -> RunReport {
    let (mut source, _) = AckingSource::new(1_000);
    if slow_source {
        source = source.slow(SLOW);
    }
    let mut flow = Pipeline::builder().source("source", source);
    for i in 1..=4 {
        let delay = (slow_stage == Some(i)).then_some(SLOW);
        flow = flow.stage(&format!("stage-{i}"), sleepy(delay));
    }
    let report = flow.sink("sink", sink).run().await;
    assert!(report.accounting.balances());
    assert_eq!(report.accounting.delivered, 1_000);
    report
}

fn verdict<'a>(report: &'a RunReport, name: &str) -> &'a Verdict {
    report
        .verdicts
        .iter()
        .find(|v| v.name.as_ref() == name)
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_slow_second_stage_is_named_and_its_neighbours_are_blocked_and_starved() {
    let report = run_four_stages(Some(2), CollectSink::default(), false).await;
    assert_eq!(
        report.bottleneck.as_deref(),
        Some("stage-2"),
        "{:#?}",
        report.verdicts
    );
    assert!(
        verdict(&report, "stage-2").busy > 0.9,
        "{:#?}",
        report.verdicts
    );
    assert_eq!(verdict(&report, "stage-1").state(), VerdictState::Blocked);
    assert_eq!(verdict(&report, "source").state(), VerdictState::Blocked);
    assert_eq!(verdict(&report, "stage-3").state(), VerdictState::Starved);
    assert_eq!(verdict(&report, "sink").state(), VerdictState::Starved);
}

#[tokio::test(start_paused = true)]
async fn a_slow_sink_is_named_and_every_stage_is_blocked_on_it() {
    let sink = CollectSink {
        delay: Some(SLOW),
        ..CollectSink::default()
    };
    let report = run_four_stages(None, sink, false).await;
    assert_eq!(
        report.bottleneck.as_deref(),
        Some("sink"),
        "{:#?}",
        report.verdicts
    );
    for stage in ["source", "stage-1", "stage-2", "stage-3", "stage-4"] {
        assert_eq!(
            verdict(&report, stage).state(),
            VerdictState::Blocked,
            "{stage}: {:#?}",
            report.verdicts
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_source_and_a_sink_of_one_name_keep_their_own_verdicts() {
    // A `file` source writing to a `file` sink: the same name, two roles.
    let (source, _) = AckingSource::new(1_000);
    let sink = CollectSink {
        delay: Some(SLOW),
        ..CollectSink::default()
    };
    let report = Pipeline::builder()
        .source("file", source)
        .stage("work", sleepy(None))
        .sink("file", sink)
        .run()
        .await;
    let [source, _, sink] = &report.snapshot.stages[..] else {
        panic!("three components");
    };
    let of = |stage| report.verdicts.iter().find(|v| v.is_of(stage)).unwrap();
    assert_eq!(
        of(source).state(),
        VerdictState::Blocked,
        "{:#?}",
        report.verdicts
    );
    assert_eq!(
        of(sink).state(),
        VerdictState::Busy,
        "{:#?}",
        report.verdicts
    );
    assert!(report.is_bottleneck(sink) && !report.is_bottleneck(source));
    assert_eq!(report.bottleneck.as_deref(), Some("file sink"));
}

#[tokio::test(start_paused = true)]
async fn a_slow_source_is_named_as_the_limit_and_every_stage_is_starved() {
    let report = run_four_stages(None, CollectSink::default(), true).await;
    assert_eq!(
        report.bottleneck.as_deref(),
        Some("source"),
        "{:#?}",
        report.verdicts
    );
    for stage in ["stage-1", "stage-2", "stage-3", "stage-4", "sink"] {
        assert_eq!(
            verdict(&report, stage).state(),
            VerdictState::Starved,
            "{stage}: {:#?}",
            report.verdicts
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_live_window_names_the_bottleneck_while_the_run_goes_on() {
    let (source, _) = AckingSource::new(100_000);
    let running = Pipeline::builder()
        .source("source", source)
        .map("fast", Ok)
        .stage("slow", sleepy(Some(SLOW)))
        .sink("sink", CollectSink::default())
        .start();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let monitor = running.monitor();
    assert_eq!(
        monitor.bottleneck().as_deref(),
        Some("slow"),
        "{:#?}",
        monitor.window_verdicts()
    );
    let report = running.drain(Duration::from_secs(10)).await;
    assert!(report.accounting.balances());
}

#[tokio::test(start_paused = true)]
async fn latency_percentiles_reflect_the_time_a_stage_takes() {
    let report = run_four_stages(Some(3), CollectSink::default(), false).await;
    let slow = report
        .snapshot
        .stages
        .iter()
        .find(|s| s.name.as_ref() == "stage-3")
        .unwrap();
    assert_eq!(
        slow.latency.count, 1_000,
        "async stages measure every record"
    );
    let p50 = slow.latency.p50;
    assert!(
        p50 >= SLOW && p50 < SLOW * 2,
        "p50 {p50:?} for a {SLOW:?} stage"
    );
    assert!(slow.latency.max >= SLOW);
}
