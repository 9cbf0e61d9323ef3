//! The engine against the same pipeline written by hand.
//!
//! 1. Throughput: source → 3 trivial map stages → sink, 1M u64 records,
//!    through `weir::Pipeline` (acknowledgements, metrics, dead-letter
//!    plumbing all on) vs tokio tasks joined by `mpsc::channel(64)`.
//!    Target: the engine at least 0.8x the hand-written pipeline.
//! 2. Memory: 10M records from a fast source into a slow sink through the
//!    engine, in a child process; peak RSS (VmHWM) at 1M and at 10M records
//!    should be the same (flat), since links are bounded.

use std::process::Command;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use weir::io::{iter_source, Sink};
use weir::{BoxError, Pipeline};

use crate::report::{self, Table, Target, Unit};
use crate::Opts;

const RECORDS: u64 = 1_000_000;
const MEMORY_SMALL: u64 = 1_000_000;
const MEMORY_LARGE: u64 = 10_000_000;
const LINK: usize = 64;

async fn engine(records: u64) -> Duration {
    let start = Instant::now();
    let report = Pipeline::builder()
        .source("numbers", iter_source(0..records))
        .map("add", |n: u64| Ok(n + 1))
        .map("mul", |n: u64| Ok(n.wrapping_mul(3)))
        .map("xor", |n: u64| Ok(n ^ 0x55))
        .sink(
            "count",
            weir::io::sink_fn(|n: &u64| {
                std::hint::black_box(n);
                Ok(())
            }),
        )
        .run()
        .await;
    assert_eq!(report.accounting.delivered, records, "records lost");
    start.elapsed()
}

async fn hand_written(records: u64) -> Duration {
    use tokio::sync::mpsc;
    let start = Instant::now();
    let (tx0, mut rx0) = mpsc::channel::<u64>(LINK);
    let (tx1, mut rx1) = mpsc::channel::<u64>(LINK);
    let (tx2, mut rx2) = mpsc::channel::<u64>(LINK);
    let (tx3, mut rx3) = mpsc::channel::<u64>(LINK);
    let source = tokio::spawn(async move {
        for n in 0..records {
            tx0.send(n).await.expect("open");
        }
    });
    let add = tokio::spawn(async move {
        while let Some(n) = rx0.recv().await {
            tx1.send(n + 1).await.expect("open");
        }
    });
    let mul = tokio::spawn(async move {
        while let Some(n) = rx1.recv().await {
            tx2.send(n.wrapping_mul(3)).await.expect("open");
        }
    });
    let xor = tokio::spawn(async move {
        while let Some(n) = rx2.recv().await {
            tx3.send(n ^ 0x55).await.expect("open");
        }
    });
    let mut delivered = 0;
    while let Some(n) = rx3.recv().await {
        std::hint::black_box(n);
        delivered += 1;
    }
    for task in [source, add, mul, xor] {
        task.await.expect("task");
    }
    assert_eq!(delivered, records, "records lost");
    start.elapsed()
}

/// The hand-written pipeline again, on weir's `Queue` instead of tokio mpsc:
/// separates the queue's cost from the engine's.
async fn hand_written_weir_queues(records: u64) -> Duration {
    use weir_core::Queue;
    let start = Instant::now();
    let links: Vec<Queue<u64>> = (0..4).map(|_| Queue::bounded(LINK)).collect();
    let stage = |input: Queue<u64>, output: Queue<u64>, f: fn(u64) -> u64| {
        tokio::spawn(async move {
            while let Some(n) = input.get().await {
                output.put(f(n)).await.expect("open");
            }
            output.shutdown();
        })
    };
    let source = {
        let output = links[0].clone();
        tokio::spawn(async move {
            for n in 0..records {
                output.put(n).await.expect("open");
            }
            output.shutdown();
        })
    };
    let stages = [
        stage(links[0].clone(), links[1].clone(), |n| n + 1),
        stage(links[1].clone(), links[2].clone(), |n| n.wrapping_mul(3)),
        stage(links[2].clone(), links[3].clone(), |n| n ^ 0x55),
    ];
    let mut delivered = 0;
    while let Some(n) = links[3].get().await {
        std::hint::black_box(n);
        delivered += 1;
    }
    source.await.expect("task");
    for task in stages {
        task.await.expect("task");
    }
    assert_eq!(delivered, records, "records lost");
    start.elapsed()
}

/// Slower than the source: a little work per record, yielding often.
struct SlowSink(u64);

impl Sink<u64> for SlowSink {
    async fn write(&mut self, item: &u64) -> Result<(), BoxError> {
        self.0 = self.0.wrapping_add(*item);
        if item.is_multiple_of(16) {
            tokio::task::yield_now().await;
        }
        Ok(())
    }
}

/// `weir-bench child pipeline <records>`: runs the slow-sink pipeline and
/// prints `peak_kib=..`.
pub fn child(args: &[String]) -> Result<(), String> {
    let records: u64 = args
        .first()
        .and_then(|a| a.parse().ok())
        .ok_or("expected a record count")?;
    let runtime = crate::queue::runtime();
    let report = runtime.block_on(
        Pipeline::builder()
            .source("fast", iter_source(0..records))
            .map("inc", |n: u64| Ok(n + 1))
            .sink("slow", SlowSink(0))
            .run(),
    );
    if report.accounting.delivered != records {
        return Err(format!("records lost: {}", report.accounting));
    }
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    let peak = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .ok_or("no VmHWM")?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .to_owned();
    println!("peak_kib={peak}");
    Ok(())
}

fn child_peak_kib(records: u64) -> Result<u64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .args(["child", "pipeline", &records.to_string()])
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .trim()
        .strip_prefix("peak_kib=")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            format!(
                "child failed: {stdout} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

fn seconds(runtime: &Runtime, run: impl Fn() -> Duration) -> f64 {
    let _guard = runtime.enter();
    run().as_secs_f64()
}

pub fn run(opts: &Opts) -> Vec<Target> {
    let runtime = crate::queue::runtime();
    let records = opts.items(RECORDS);
    let rate = |secs: &[f64]| records as f64 / report::median(secs);
    // Interleaved, so that load from elsewhere falls on all three alike.
    let (mut engine_secs, mut hand_secs, mut queue_secs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..opts.reps {
        engine_secs.push(seconds(&runtime, || runtime.block_on(engine(records))));
        hand_secs.push(seconds(&runtime, || {
            runtime.block_on(hand_written(records))
        }));
        queue_secs.push(seconds(&runtime, || {
            runtime.block_on(hand_written_weir_queues(records))
        }));
    }
    let (engine_rate, hand_rate) = (rate(&engine_secs), rate(&hand_secs));
    let queue_rate = rate(&queue_secs);
    let mut table = Table::new(
        format!(
            "pipeline: 3 trivial stages, {} records (median of {})",
            report::count(records),
            opts.reps
        ),
        &["pipeline", "records/s", "spread", "engine / hand-written"],
    );
    table.row(vec![
        "weir engine".into(),
        report::rate(engine_rate),
        format!("{:.0}%", report::spread_pct(&engine_secs)),
        format!("{:.2}x", engine_rate / hand_rate),
    ]);
    table.row(vec![
        "hand-written tokio mpsc".into(),
        report::rate(hand_rate),
        format!("{:.0}%", report::spread_pct(&hand_secs)),
        "1.00x".into(),
    ]);
    table.row(vec![
        "hand-written weir queues".into(),
        report::rate(queue_rate),
        format!("{:.0}%", report::spread_pct(&queue_secs)),
        format!("{:.2}x", queue_rate / hand_rate),
    ]);
    table.print();
    let mut targets = vec![Target {
        suite: "pipeline",
        name: "engine / hand-written throughput".into(),
        measured: engine_rate / hand_rate,
        threshold: 0.8,
        unit: Unit::Ratio,
        at_most: false,
    }];

    let sizes = [opts.items(MEMORY_SMALL), opts.items(MEMORY_LARGE)];
    let peaks: Result<Vec<u64>, String> = sizes.iter().map(|&n| child_peak_kib(n)).collect();
    match peaks {
        Ok(peaks) => {
            let mut table = Table::new(
                "pipeline: peak RSS, fast source → slow sink through the engine",
                &["records", "peak RSS"],
            );
            for (n, kib) in sizes.iter().zip(&peaks) {
                table.row(vec![
                    report::count(*n),
                    format!("{:.1} MiB", *kib as f64 / 1024.0),
                ]);
            }
            table.print();
            targets.push(Target {
                suite: "pipeline",
                name: format!(
                    "peak RSS {} / {} records",
                    report::count(sizes[1]),
                    report::count(sizes[0])
                ),
                measured: peaks[1] as f64 / peaks[0] as f64,
                threshold: 1.2,
                unit: Unit::Ratio,
                at_most: true,
            });
        }
        Err(e) => println!("\npipeline memory SKIPPED: {e}"),
    }
    targets
}
