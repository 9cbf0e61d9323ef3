//! The view, the recorder and the report on a real run with a slow stage,
//! used the way the `weir` binary uses them.

use std::time::Duration;

use weir::io::{iter_source, sink_fn};
use weir::stage::Stage;
use weir::Pipeline;
use weir_cli::report::{self, Recorder};
use weir_cli::view::{print_summary, LiveView};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_stage_is_recorded_summarized_and_reported() {
    let running = Pipeline::builder()
        .source("numbers", iter_source(0..300u32))
        .stage(
            "slow",
            Stage::map_async(|n: u32| async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok(n)
            }),
        )
        .sink("out", sink_fn(|_: &u32| Ok(())))
        .start();
    let view = LiveView::start(running.monitor(), true);
    let recorder = Recorder::start(running.monitor());
    let report = running.wait().await;
    view.finish();
    let data = recorder.finish(&report);

    assert_eq!(report.accounting.delivered, 300);
    assert_eq!(data.bottleneck.as_deref(), Some("slow"));
    let names: Vec<&str> = data.series.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(names, ["numbers", "slow", "out"]);
    let slow = &data.series[1];
    assert!(slow.samples.len() >= 3, "{:?}", slow.samples);
    assert!(
        slow.samples.iter().any(|s| s.queue_depth > 0),
        "its input fills"
    );
    assert!(
        slow.samples.iter().any(|s| s.busy > 0.9),
        "{:?}",
        slow.samples
    );
    let last = slow.samples.last().unwrap();
    assert!(
        (last.t - report.duration.as_secs_f64()).abs() < 1e-9,
        "ends at the end"
    );

    let mut summary = Vec::new();
    print_summary(&report, &mut summary).unwrap();
    let summary = String::from_utf8(summary).unwrap();
    assert!(summary.contains("bottleneck: slow"), "{summary}");

    let dir = tempfile::tempdir().unwrap();
    let html_path = dir.path().join("run.html");
    report::write(&html_path, &data).unwrap();
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.contains("<svg") && html.contains("slow"));
    let json_path = dir.path().join("run.json");
    report::write(&json_path, &data).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(json["stages"][1]["name"], "slow");
    assert_eq!(json["accounting"]["delivered"], 300);
}
