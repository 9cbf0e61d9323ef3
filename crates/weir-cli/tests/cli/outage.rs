//! A downstream outage is backpressure, not a flood of dead letters: while
//! the service answers `503` (or refuses connections), the http stage
//! pauses, its records wait, and the source is held back; when the service
//! is back, every record is delivered exactly once. Only `max_outage` turns
//! an outage into dead letters, with its reason.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use weir_testserver::{Outage, OutageKind, RunningServer, ServerConfig};

use crate::common::{books, run_to_end, stderr, toml_path, Running, Workdir};

/// A server of capacity 32 answering in 20 ms, down as `outage` says, on
/// its own runtime (the binary under test is a child process).
fn server(
    outage: Option<Outage>,
    overload_factor: f64,
) -> (tokio::runtime::Runtime, RunningServer) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime
        .block_on(weir_testserver::start(ServerConfig {
            capacity: 32,
            base_latency: Duration::from_millis(20),
            overload_factor,
            outage,
            ..ServerConfig::default()
        }))
        .unwrap();
    (runtime, server)
}

/// generate (`count`, at `rate` if given) → http stage (`stage` options) → file,
/// with a dead-letter file and a JSON report.
fn pipeline(
    dir: &Workdir,
    url: &str,
    count: u64,
    rate: Option<&str>,
    stage: &str,
) -> std::path::PathBuf {
    let rate = rate
        .map(|rate| format!("rate = \"{rate}\"\n"))
        .unwrap_or_default();
    dir.write(
        "p.toml",
        format!(
            "[source]\ntype = \"generate\"\ncount = {count}\n{rate}\n\
             [[stage]]\ntype = \"http\"\nurl = \"{url}/items/{{id}}\"\ntimeout = \"2s\"\n{stage}\n\n\
             [sink]\ntype = \"file\"\npath = \"{}\"\n\n\
             [dead_letter]\npath = \"{}\"\n",
            toml_path(&dir.path("out.jsonl")),
            toml_path(&dir.path("dead.jsonl")),
        ),
    )
}

/// The text of `url`, fetched on `runtime`.
fn scrape(runtime: &tokio::runtime::Runtime, url: &str) -> String {
    runtime.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        client.get(url).send().await.unwrap().text().await.unwrap()
    })
}

/// How often each input id is in the output.
fn delivered_ids(dir: &Workdir) -> BTreeMap<u64, usize> {
    let mut ids = BTreeMap::new();
    for line in dir.lines("out.jsonl") {
        let output: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(output["status"], 200, "{output}");
        *ids.entry(output["input"]["id"].as_u64().unwrap())
            .or_insert(0) += 1;
    }
    ids
}

fn assert_each_once(dir: &Workdir, count: u64) {
    let ids = delivered_ids(dir);
    let twice: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert_eq!(ids.len() as u64, count, "records missing");
    assert!(
        dir.lines("dead.jsonl").is_empty(),
        "{:?}",
        dir.lines("dead.jsonl")
    );
}

#[test]
fn a_10s_outage_mid_run_holds_the_source_and_loses_nothing() {
    let outage = Outage {
        start: Duration::from_secs(2),
        length: Duration::from_secs(10),
        kind: OutageKind::Unavailable {
            retry_after_secs: 1,
        },
    };
    let (_runtime, server) = server(Some(outage), 2.0);
    let started = Instant::now();
    let dir = Workdir::new();
    const COUNT: u64 = 3000;
    let pipeline = pipeline(
        &dir,
        &server.url(),
        COUNT,
        Some("500/s"),
        "concurrency = \"adaptive\"",
    );
    let report = dir.path("report.json");
    let run = Running::start(&[
        &"run",
        &pipeline,
        &"--report",
        &report,
        &"--metrics-addr",
        &"127.0.0.1:0",
    ]);
    // Memory stays flat while the outage holds everything back.
    let until = |at: Duration| std::thread::sleep(at.saturating_sub(started.elapsed()));
    until(Duration::from_secs(5));
    let early = run.rss_kib();
    until(Duration::from_secs(8));
    // The pause is visible: on /metrics, and on the progress line.
    let metrics = scrape(&_runtime, &run.metrics_url());
    let gauge = |name: &str| {
        let prefix = format!("weir_stage_gauge{{stage=\"http\",role=\"stage\",gauge=\"{name}\"}} ");
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {name} gauge in\n{metrics}"))
            .parse::<f64>()
            .unwrap()
    };
    assert_eq!(gauge("paused"), 1.0);
    assert!(gauge("concurrency_limit") >= 1.0);
    until(Duration::from_secs(10));
    let late = run.rss_kib();
    assert!(
        late < early + 4096,
        "RSS grew from {early} KiB to {late} KiB in the outage"
    );
    let progress = run.stderr();
    assert!(
        progress.contains("; http: ") && progress.contains("paused"),
        "the progress line never showed the pause:\n{progress}"
    );
    assert!(
        progress.contains("HTTP 503 Service Unavailable from 127.0.0.1:"),
        "{progress}"
    );
    let (code, err) = run.wait(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{err}");
    let books = books(&err);
    assert_eq!((books.delivered, books.dead_lettered), (COUNT, 0), "{err}");
    assert_each_once(&dir, COUNT);
    assert!(
        server.stats().statuses.get(&503).is_some_and(|n| *n > 0),
        "the outage never showed"
    );

    // In the middle of the outage the source was blocked nearly all the
    // time: the link in front of the paused stage was full.
    let data: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    // The retries made inside the stage count in its `retries`.
    let http = &data["stages"][1];
    assert_eq!(http["name"], "http", "{http}");
    assert!(http["retries"].as_u64().unwrap() > 0, "{http}");
    // Its limit is sampled over time, for the report's chart.
    let limits = data["series"][1]["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["concurrency_limit"].as_f64().is_some())
        .count();
    assert!(limits > 0, "no concurrency_limit in the samples");
    let source = &data["series"][0];
    assert_eq!(source["role"], "source", "{source}");
    let mid_outage: Vec<f64> = source["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| (6.0..10.0).contains(&s["t"].as_f64().unwrap()))
        .map(|s| s["blocked"].as_f64().unwrap())
        .collect();
    assert!(!mid_outage.is_empty(), "no samples mid-outage");
    let mean = mid_outage.iter().sum::<f64>() / mid_outage.len() as f64;
    assert!(
        mean > 0.9,
        "source blocked only {mean:.2} of the time mid-outage: {mid_outage:?}"
    );
}

#[test]
fn refused_connections_are_an_outage_too() {
    let outage = Outage {
        start: Duration::from_millis(500),
        length: Duration::from_secs(2),
        kind: OutageKind::Refused,
    };
    let (_runtime, server) = server(Some(outage), 2.0);
    let dir = Workdir::new();
    const COUNT: u64 = 600;
    let pipeline = pipeline(
        &dir,
        &server.url(),
        COUNT,
        Some("300/s"),
        "concurrency = 16",
    );
    let output = run_to_end(&[&"run", &pipeline, &"--quiet"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert_each_once(&dir, COUNT);
}

#[test]
fn max_outage_dead_letters_with_its_reason() {
    let outage = Outage {
        start: Duration::ZERO,
        length: Duration::from_secs(120),
        kind: OutageKind::Unavailable {
            retry_after_secs: 1,
        },
    };
    let (_runtime, _server) = server(Some(outage), 2.0);
    let dir = Workdir::new();
    let pipeline = pipeline(
        &dir,
        &_server.url(),
        20,
        None,
        "concurrency = 4\nmax_outage = \"1500ms\"",
    );
    let started = Instant::now();
    let output = run_to_end(&[&"run", &pipeline, &"--quiet"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30), "{err}");
    assert_eq!(books(&err).dead_lettered, 20, "{err}");
    for line in dir.lines("dead.jsonl") {
        let letter: serde_json::Value = serde_json::from_str(&line).unwrap();
        let reason = letter["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("service unavailable for longer than max_outage"),
            "{reason}"
        );
        // The letter's attempts are the ones its reason counts.
        let attempts = letter["attempts"].as_u64().unwrap();
        assert!(reason.contains(&format!("({attempts} attempt")), "{letter}");
    }
}

#[test]
fn fixed_concurrency_256_against_capacity_32_dead_letters_nothing() {
    let (_runtime, server) = server(None, 2.0);
    let dir = Workdir::new();
    const COUNT: u64 = 2000;
    let pipeline = pipeline(&dir, &server.url(), COUNT, None, "concurrency = 256");
    let output = run_to_end(&[&"run", &pipeline, &"--quiet"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert_each_once(&dir, COUNT);
    assert!(
        server.stats().statuses.get(&503).is_some_and(|n| *n > 0),
        "the server was never overloaded: {:?}",
        server.stats()
    );
}
