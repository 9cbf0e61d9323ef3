//! `--metrics-addr` serves Prometheus metrics while the pipeline runs;
//! `--report` writes the run's report at the end.

use std::time::Duration;

use crate::common::{http_client, Running, Workdir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_metrics_while_running_and_writes_the_report() {
    let dir = Workdir::new();
    let pipeline = dir.write(
        "p.toml",
        "[source]\ntype = \"generate\"\n\n\
         [[stage]]\ntype = \"throttle\"\nname = \"slow\"\nrate = \"200/s\"\n\n\
         [sink]\ntype = \"stdout\"\n",
    );
    let report = dir.path("run.json");
    let run = Running::start(&[
        &"run",
        &pipeline,
        &"--quiet",
        &"--metrics-addr",
        &"127.0.0.1:0",
        &"--report",
        &report,
    ]);
    let url = run.metrics_url();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let metrics = http_client()
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("slow"), "{metrics}");

    run.terminate();
    let (code, err) = run.wait(Duration::from_secs(20));
    assert_eq!(code, Some(130), "{err}");
    let written = std::fs::read_to_string(&report).expect("the report was written");
    let _: serde_json::Value = serde_json::from_str(&written).expect("the report is JSON");
}
