//! Suite `outage`: a 10 s outage (every request answered `503` with
//! `Retry-After: 1`) in the middle of a 30 s run of weir's HTTP stage
//! (adaptive concurrency) against `weir-testserver` (capacity 32, 20 ms),
//! records offered at 1,000/s by a throttle stage in front of it.
//!
//! Reported: dead letters (target 0), records delivered more than once
//! (target 0), and the seconds from the end of the outage until the
//! delivery rate is back to 90% of its level before it (target <= 3 s).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::json;
use weir::io::{iter_source, sink_fn};
use weir::Pipeline;
use weir_cli::record::{payload, Payload};
use weir_testserver::{Outage, OutageKind, ServerConfig};

use crate::report::{self, Table, Target, Unit};
use crate::Opts;

const OFFERED_PER_SEC: u64 = 1_000;
const RUN: Duration = Duration::from_secs(30);
const OUTAGE_START: Duration = Duration::from_secs(10);
const OUTAGE: Duration = Duration::from_secs(10);
/// The width of the buckets the delivery rate is measured in.
const BUCKET: Duration = Duration::from_millis(500);

pub fn run(opts: &Opts) -> Vec<Target> {
    // The run's length is the point: --scale shortens nothing but the count
    // offered past the run's end.
    let records = opts.items(OFFERED_PER_SEC * RUN.as_secs());
    let runtime = crate::queue::runtime();
    let server = match runtime.block_on(weir_testserver::start(ServerConfig {
        capacity: 32,
        base_latency: Duration::from_millis(20),
        outage: Some(Outage {
            start: OUTAGE_START,
            length: OUTAGE,
            kind: OutageKind::Unavailable {
                retry_after_secs: 1,
            },
        }),
        ..ServerConfig::default()
    })) {
        Ok(server) => server,
        Err(e) => {
            println!("\noutage: cannot start the test server: {e}");
            return Vec::new();
        }
    };
    let started = Instant::now();
    let delivered: Arc<Mutex<Vec<(u64, Duration)>>> = Arc::default();
    let seen = delivered.clone();
    let stages = weir_cli::parts::stage(
        &format!("type = \"throttle\"\nrate = \"{OFFERED_PER_SEC}/s\"\n"),
        "offer",
    )
    .and_then(|offer| {
        let table = format!(
            "url = \"{}/items/{{id}}\"\nconcurrency = \"adaptive\"\ntimeout = \"2s\"\n",
            server.url()
        );
        weir_cli::parts::http_stage(&table, "fetch").map(|(fetch, _)| (offer, fetch))
    });
    let (offer, fetch) = match stages {
        Ok(stages) => stages,
        Err(e) => {
            println!("\noutage: cannot build the stages: {e}");
            return Vec::new();
        }
    };
    let report = runtime.block_on(
        Pipeline::builder()
            .source(
                "ids",
                iter_source((0..records).map(|id| payload(json!({ "id": id })))),
            )
            .stage("offer", offer)
            .stage("fetch", fetch)
            .sink(
                "collect",
                sink_fn(move |record: &Payload| {
                    let id = record["input"]["id"].as_u64().unwrap_or(u64::MAX);
                    seen.lock().push((id, started.elapsed()));
                    Ok(())
                }),
            )
            .run(),
    );
    drop(server);
    let delivered = std::mem::take(&mut *delivered.lock());

    let mut times_seen: HashMap<u64, u32> = HashMap::new();
    for (id, _) in &delivered {
        *times_seen.entry(*id).or_default() += 1;
    }
    let duplicates = times_seen.values().filter(|n| **n > 1).count();
    let dead = report.accounting.dead_lettered;

    // The delivery rate per bucket; "before" is the mean over the 5 s
    // before the outage.
    let buckets = (report.duration.as_secs_f64() / BUCKET.as_secs_f64()).ceil() as usize + 1;
    let mut per_bucket = vec![0u64; buckets];
    for (_, at) in &delivered {
        let bucket = (at.as_secs_f64() / BUCKET.as_secs_f64()) as usize;
        if let Some(count) = per_bucket.get_mut(bucket) {
            *count += 1;
        }
    }
    let rate =
        |bucket: usize| per_bucket.get(bucket).copied().unwrap_or(0) as f64 / BUCKET.as_secs_f64();
    let index = |at: Duration| (at.as_secs_f64() / BUCKET.as_secs_f64()) as usize;
    let before: f64 = (index(OUTAGE_START - Duration::from_secs(5))..index(OUTAGE_START))
        .map(rate)
        .sum::<f64>()
        / (5.0 / BUCKET.as_secs_f64());
    let outage_end = OUTAGE_START + OUTAGE;
    let back = (index(outage_end)..buckets)
        .find(|bucket| rate(*bucket) >= 0.9 * before)
        .map(|bucket| (bucket as f64 * BUCKET.as_secs_f64() - outage_end.as_secs_f64()).max(0.0));
    let during: f64 = (index(OUTAGE_START + Duration::from_secs(1))..index(outage_end))
        .map(rate)
        .sum::<f64>()
        / ((OUTAGE.as_secs_f64() - 1.0) / BUCKET.as_secs_f64());

    let mut table = Table::new(
        format!(
            "outage: {} records offered at {OFFERED_PER_SEC}/s, 503 + Retry-After 1 s from \
             {}s to {}s, adaptive http stage against capacity 32",
            report::count(records),
            OUTAGE_START.as_secs(),
            outage_end.as_secs()
        ),
        &[
            "delivered",
            "dead letters",
            "duplicates",
            "rate before",
            "rate during",
            "back to 90% after",
        ],
    );
    table.row(vec![
        report::count(report.accounting.delivered),
        dead.to_string(),
        duplicates.to_string(),
        format!("{before:.0}/s"),
        format!("{during:.0}/s"),
        back.map_or("never".into(), |s| format!("{s:.1} s")),
    ]);
    table.note(format!(
        "Rates in {} ms buckets; run took {:.1} s.",
        BUCKET.as_millis(),
        report.duration.as_secs_f64()
    ));
    table.print();
    let plain = |name: &str, measured: f64, threshold: f64, unit: &'static str| {
        Target::ratio("outage", name, measured, threshold)
            .in_unit(Unit::Plain(unit))
            .or_less()
    };
    vec![
        plain("dead letters", dead as f64, 0.0, "records"),
        plain("records delivered twice", duplicates as f64, 0.0, "records"),
        plain(
            "seconds until 90% of the rate before",
            back.unwrap_or(f64::INFINITY),
            3.0,
            "s",
        ),
    ]
}
