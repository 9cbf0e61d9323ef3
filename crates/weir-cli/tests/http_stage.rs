//! The HTTP stage against the real test server (weir-testserver): faults
//! end as deliveries or dead letters, each record once; `Retry-After` is
//! honoured; the adaptive limit finds the server's capacity.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use weir::io::{iter_source, sink_fn, DeadLetter, DeadLetterSink};
use weir::{BoxError, Pipeline, RunReport};
use weir_cli::record::{payload, Payload};
use weir_testserver::{Faults, RunningServer, ServerConfig};

/// Dead letters by the `id` of their record.
#[derive(Clone, Default)]
struct DeadLetters(Arc<Mutex<Vec<(u64, String)>>>);

impl DeadLetterSink for DeadLetters {
    async fn write(&mut self, letter: &DeadLetter) -> Result<(), BoxError> {
        let record = letter.payload_as::<Payload>().expect("a Payload");
        let id = record["id"].as_u64().expect("an id");
        self.0.lock().unwrap().push((id, letter.reason.clone()));
        Ok(())
    }
}

/// The test server is on loopback, which reqwest does not exempt from a
/// proxy in the environment: the clients the stage and sink build must see
/// none. Every test calls this before building one (`Once`: no test reads
/// the environment while it changes).
fn without_proxy() {
    static CLEARED: std::sync::Once = std::sync::Once::new();
    CLEARED.call_once(|| {
        let proxies = ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"];
        for variable in proxies
            .into_iter()
            .flat_map(|v| [v.to_owned(), v.to_lowercase()])
        {
            std::env::remove_var(variable);
        }
    });
}

/// A connector's table: TOML built from `fields`.
fn stage_config(fields: Value) -> String {
    without_proxy();
    let Value::Object(fields) = fields else {
        panic!("fields must be an object")
    };
    fields
        .iter()
        .map(|(key, value)| format!("{key} = {}\n", toml_value(value)))
        .collect()
}

/// A JSON value written as a TOML value (objects as inline tables).
fn toml_value(value: &Value) -> String {
    match value {
        Value::Object(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|(key, value)| format!("{key} = {}", toml_value(value)))
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
        Value::Array(values) => {
            let values: Vec<String> = values.iter().map(toml_value).collect();
            format!("[{}]", values.join(", "))
        }
        other => other.to_string(),
    }
}

/// Runs `records` ids through the stage; returns the report, the outputs
/// and the dead letters.
async fn run(
    config: &str,
    records: u64,
) -> (RunReport, Vec<Payload>, Vec<(u64, String)>, Option<usize>) {
    let (stage, limit) = weir_cli::parts::http_stage(config, "fetch").unwrap();
    let outputs = Arc::new(Mutex::new(Vec::new()));
    let dead = DeadLetters::default();
    let sink_outputs = outputs.clone();
    let report = Pipeline::builder()
        .source(
            "ids",
            iter_source((0..records).map(|id| payload(json!({"id": id})))),
        )
        .stage("fetch", stage)
        .sink(
            "collect",
            sink_fn(move |record: &Payload| {
                sink_outputs.lock().unwrap().push(record.clone());
                Ok(())
            }),
        )
        .dead_letters(dead.clone())
        .run()
        .await;
    let outputs = std::mem::take(&mut *outputs.lock().unwrap());
    let dead = std::mem::take(&mut *dead.0.lock().unwrap());
    (report, outputs, dead, limit.map(|l| l.current_limit()))
}

/// No request for a key arrived before the `Retry-After` that an earlier
/// answer for that key gave had passed.
fn assert_retry_after_respected(server: &RunningServer) -> usize {
    let mut checked = 0;
    for (key, requests) in server.requests_by_key() {
        for (i, throttled) in requests.iter().enumerate() {
            let Some(after) = throttled.retry_after else {
                continue;
            };
            for next in &requests[i + 1..] {
                checked += 1;
                assert!(
                    next.arrived >= throttled.answered + after,
                    "{key}: request {} came {:?} after a 429 with Retry-After {after:?}",
                    next.seq,
                    next.arrived - throttled.answered,
                );
            }
        }
    }
    checked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_end_delivered_or_dead_lettered_once_and_retry_after_is_honoured() {
    let server = weir_testserver::start(ServerConfig {
        capacity: 64,
        base_latency: Duration::from_millis(5),
        faults: Faults {
            error_rate: 0.05,
            throttle_rate: 0.05,
            retry_after_secs: 1,
            hang_rate: 0.05,
            hang_for: Duration::from_secs(3),
            reset_rate: 0.05,
        },
        seed: 42,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let config = stage_config(json!({
        "url": format!("{}/items/{{id}}", server.url()),
        "concurrency": 32,
        "timeout": "300ms",
        "retries": { "max_attempts": 3, "backoff": "20ms", "max_backoff": "2s" },
        "retry_budget": 0.5,
    }));
    const RECORDS: u64 = 600;
    let (report, outputs, dead, _) = run(&config, RECORDS).await;

    assert!(report.accounting.balances(), "{:?}", report.accounting);
    assert_eq!(report.accounting.delivered, outputs.len() as u64);
    assert_eq!(report.accounting.dead_lettered, dead.len() as u64);
    let mut seen: HashMap<u64, &str> = HashMap::new();
    for output in &outputs {
        let id = output["input"]["id"].as_u64().unwrap();
        assert_eq!(output["status"], 200);
        assert_eq!(output["body"]["path"], format!("/items/{id}"));
        assert!(seen.insert(id, "delivered").is_none(), "{id} twice");
    }
    for (id, reason) in &dead {
        let known = ["HTTP 500", "HTTP 429", "timed out", "request failed"];
        assert!(known.iter().any(|k| reason.contains(k)), "{id}: {reason}");
        assert!(reason.contains("attempt"), "{id}: {reason}");
        assert!(seen.insert(*id, "dead").is_none(), "{id} twice");
    }
    assert_eq!(seen.len() as u64, RECORDS, "records lost");
    // 3 attempts, 20% faults: only a few records fail every attempt.
    assert!(dead.len() < 30, "{} dead letters: {dead:?}", dead.len());

    let stats = server.stats();
    let injected = [
        stats.statuses[&500],
        stats.statuses[&429],
        stats.resets,
        stats.hangs,
    ];
    assert!(injected.iter().all(|n| *n > 0), "{stats:?}");
    assert!(
        assert_retry_after_respected(&server) > 0,
        "no retry after a 429"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_without_the_url_field_is_dead_lettered() {
    let server = weir_testserver::start(ServerConfig::default())
        .await
        .unwrap();
    let config = stage_config(json!({ "url": format!("{}/users/{{user.name}}", server.url()) }));
    let (stage, _) = weir_cli::parts::http_stage(&config, "fetch").unwrap();
    let dead = DeadLetters::default();
    let records = [json!({"id": 1, "user": {"name": "ada"}}), json!({"id": 2})];
    let report = Pipeline::builder()
        .source("records", iter_source(records.map(payload)))
        .stage("fetch", stage)
        .sink("drop", sink_fn(|_: &Payload| Ok(())))
        .dead_letters(dead.clone())
        .run()
        .await;
    assert_eq!(report.accounting.delivered, 1);
    let dead = dead.0.lock().unwrap().clone();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0, 2);
    assert!(dead[0].1.contains("no field `user.name`"), "{}", dead[0].1);
    assert_eq!(server.requests_by_key().len(), 1);
    assert!(server.requests_by_key().contains_key("/users/ada"));
    server.shutdown().await;
}

async fn adaptive_settles(algorithm: &str) -> usize {
    let server = weir_testserver::start(ServerConfig {
        capacity: 16,
        base_latency: Duration::from_millis(10),
        overload_factor: 2.0,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let config = stage_config(json!({
        "url": format!("{}/items/{{id}}", server.url()),
        "concurrency": "adaptive",
        "algorithm": algorithm,
        "max_concurrency": 128,
        "timeout": "2s",
        "retries": { "max_attempts": 5, "backoff": "10ms" },
        "retry_budget": 1.0,
    }));
    let (report, outputs, dead, limit) = run(&config, 2500).await;
    assert!(report.accounting.balances());
    assert_eq!(outputs.len(), 2500, "dead letters: {dead:?}");
    let stats = server.stats();
    eprintln!("{algorithm}: final limit {limit:?}, server {stats:?}");
    server.shutdown().await;
    limit.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_aimd_settles_near_capacity() {
    let limit = adaptive_settles("aimd").await;
    assert!((8..=32).contains(&limit), "limit {limit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_gradient_settles_near_capacity() {
    let limit = adaptive_settles("gradient").await;
    assert!((8..=32).contains(&limit), "limit {limit}");
}

#[test]
fn config_errors_are_explained() {
    let parse = |fields| weir_cli::parts::http_stage(&stage_config(fields), "s").map(drop);
    let url = "http://127.0.0.1:1/x";
    let error = parse(json!({"url": url, "concurrency": "lots"})).unwrap_err();
    assert!(error.contains("adaptive"), "{error}");
    let error = parse(json!({"url": url, "methd": "GET"})).unwrap_err();
    assert!(error.contains("unknown field `methd`"), "{error}");
    // Every key the stage takes is listed, the HTTP client's included.
    assert!(error.contains("url, method, body"), "{error}");
    assert!(error.contains("retry_budget, max_outage, tls"), "{error}");
    let error = parse(json!({"url": url, "concurrency": 4, "max_concurrency": 9})).unwrap_err();
    assert!(error.contains("need concurrency = \"adaptive\""), "{error}");
    // The old retry dialect is refused with the new form shown.
    let error = parse(json!({"url": url, "retries": 4})).unwrap_err();
    assert!(
        error.contains("write `retries = { max_attempts = 4,"),
        "{error}"
    );
    let error = parse(json!({"url": url, "backoff_base": "5ms"})).unwrap_err();
    assert!(error.contains("`backoff_base` is the old form"), "{error}");
    // A URL that cannot work is a config error, not a retried failure.
    let error = parse(json!({"url": "ftp://127.0.0.1/x"})).unwrap_err();
    assert!(error.contains("scheme `ftp`"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_sink_posts_batches_and_retries_failed_ones() {
    use weir::io::Sink;
    without_proxy();

    let server = weir_testserver::start(ServerConfig {
        base_latency: Duration::from_millis(1),
        faults: Faults {
            error_rate: 0.3,
            ..Faults::default()
        },
        seed: 3,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let config = stage_config(json!({
        "type": "http",
        "url": format!("{}/ingest", server.url()),
        "batch_size": 100,
        "retries": { "max_attempts": 8, "backoff": "5ms" },
        "retry_budget": 1.0,
    }));
    let mut sink = weir_cli::parts::sink(&config).await.unwrap();
    for id in 0..250 {
        sink.write(&payload(json!({"id": id}))).await.unwrap();
    }
    sink.flush().await.unwrap();
    let stats = server.stats();
    assert_eq!(stats.statuses[&200], 3, "{stats:?}"); // 100 + 100 + 50
    assert!(
        stats.statuses.get(&500).is_some_and(|n| *n > 0),
        "{stats:?}"
    );
    sink.flush().await.unwrap(); // nothing buffered: no request
    assert_eq!(server.stats().requests, stats.requests);
    server.shutdown().await;
}
