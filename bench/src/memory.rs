//! Suite `memory`: peak memory when a fast producer meets a slow consumer.
//! A bounded weir queue (capacity 1024) makes the producer wait, so memory
//! stays flat; an unbounded channel lets the producer run ahead, so memory
//! grows with the number of items.
//!
//! Peak RSS is per process, so each case runs in a child process: the harness
//! re-executes itself as `weir-bench child <case> <items>`, and the child
//! prints `VmHWM` from `/proc/self/status` when done. The parent prints the
//! table. Linux only (the suite is skipped where `/proc` is missing).

use std::process::Command;
use std::time::Instant;

use crate::report::{self, Table, Target, Unit};
use crate::Opts;

const CAPACITY: usize = 1024;
/// The consumer yields to the scheduler every this many items.
const YIELD_EVERY: u64 = 64;
/// Rounds of busy work per item in the consumer (a few tens of ns).
const WORK_ROUNDS: u32 = 12;
const SMALL: u64 = 1_000_000;
const LARGE: u64 = 10_000_000;
/// Peak RSS varies little between runs: at most this many reps per case,
/// whatever `--reps` says, to keep the suite under a minute.
const MAX_REPS: usize = 3;
/// "Flat": the bounded queue's peak RSS may grow by at most this much from
/// 1M to 10M items.
const FLAT_GROWTH_MIB: f64 = 1.0;
/// "A few MB": the bounded queue's peak RSS at 10M items.
const BOUNDED_PEAK_MIB: f64 = 8.0;

#[derive(Clone, Copy)]
struct Case {
    arg: &'static str,
    label: &'static str,
}

const BOUNDED: Case = Case {
    arg: "memory-bounded",
    label: "weir Queue::bounded(1024)",
};
const UNBOUNDED: Case = Case {
    arg: "memory-unbounded",
    label: "tokio mpsc::unbounded_channel",
};
const WEIR_UNBOUNDED: Case = Case {
    arg: "memory-weir-unbounded",
    label: "weir Queue::unbounded (reference)",
};
const CASES: [Case; 3] = [BOUNDED, UNBOUNDED, WEIR_UNBOUNDED];

/// What one child run reports.
#[derive(Debug, Clone, Copy)]
struct Sample {
    peak_kib: u64,
    baseline_kib: u64,
    secs: f64,
    backlog: u64,
}

/// A line of `/proc/self/status`, in KiB (e.g. `VmHWM`).
fn status_kib(key: &str) -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(key)?.strip_prefix(':')?;
            rest.trim().trim_end_matches("kB").trim().parse().ok()
        })
        .ok_or_else(|| format!("no {key} in /proc/self/status"))
}

/// Tiny per-item work, opaque to the optimiser.
fn work(acc: u64, n: u64) -> u64 {
    let mut x = acc ^ n;
    for _ in 0..WORK_ROUNDS {
        x = std::hint::black_box(x.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(7));
    }
    x
}

/// Entry point of `weir-bench child <case> <items>`: runs one case, prints
/// `peak_kib=.. baseline_kib=.. secs=.. backlog=..` on stdout.
pub fn child(args: &[String]) -> Result<(), String> {
    let [case, items] = args else {
        return Err(format!("expected <case> <items>, got {args:?}"));
    };
    let items: u64 = items
        .parse()
        .map_err(|e| format!("bad item count {items:?}: {e}"))?;
    let rt = crate::queue::runtime();
    let baseline_kib = status_kib("VmRSS")?;
    let start = Instant::now();
    let (checksum, backlog) = match case.as_str() {
        "memory-bounded" => rt.block_on(weir_case(weir_core::Queue::bounded(CAPACITY), items)),
        "memory-weir-unbounded" => rt.block_on(weir_case(weir_core::Queue::unbounded(), items)),
        "memory-unbounded" => rt.block_on(tokio_unbounded_case(items)),
        other => return Err(format!("unknown child case {other:?}")),
    };
    let secs = start.elapsed().as_secs_f64();
    std::hint::black_box(checksum);
    let peak_kib = status_kib("VmHWM")?;
    println!("peak_kib={peak_kib} baseline_kib={baseline_kib} secs={secs:.3} backlog={backlog}");
    Ok(())
}

/// Returns (checksum, most items queued at once).
async fn weir_case(q: weir_core::Queue<u64>, items: u64) -> (u64, u64) {
    let producer = {
        let q = q.clone();
        tokio::spawn(async move {
            for n in 0..items {
                q.put(n).await.expect("queue open");
            }
            q.shutdown();
        })
    };
    let consumer = {
        let q = q.clone();
        tokio::spawn(async move {
            let (mut acc, mut count) = (0u64, 0u64);
            while let Some(n) = q.get().await {
                acc = work(acc, n);
                count += 1;
                if count.is_multiple_of(YIELD_EVERY) {
                    tokio::task::yield_now().await;
                }
            }
            assert_eq!(count, items, "items lost");
            acc
        })
    };
    producer.await.expect("producer panicked");
    let acc = consumer.await.expect("consumer panicked");
    (acc, q.stats().high_water as u64)
}

async fn tokio_unbounded_case(items: u64) -> (u64, u64) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let producer = tokio::spawn(async move {
        for n in 0..items {
            tx.send(n).expect("channel open");
        }
    });
    let consumer = tokio::spawn(async move {
        let (mut acc, mut count, mut backlog) = (0u64, 0u64, 0usize);
        while let Some(n) = rx.recv().await {
            acc = work(acc, n);
            count += 1;
            if count.is_multiple_of(YIELD_EVERY) {
                backlog = backlog.max(rx.len());
                tokio::task::yield_now().await;
            }
        }
        assert_eq!(count, items, "items lost");
        (acc, backlog as u64)
    });
    producer.await.expect("producer panicked");
    consumer.await.expect("consumer panicked")
}

fn run_child(case: Case, items: u64) -> Result<Sample, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
    let out = Command::new(exe)
        .args(["child", case.arg, &items.to_string()])
        .output()
        .map_err(|e| format!("cannot start child: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "child {} failed ({}): {}",
            case.arg,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let field = |key: &str| -> Result<&str, String> {
        stdout
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .ok_or_else(|| format!("child {} printed no {key}: {stdout}", case.arg))
    };
    let num = |key: &str| -> Result<u64, String> {
        field(key)?
            .parse()
            .map_err(|e| format!("child {}: bad {key}: {e}", case.arg))
    };
    Ok(Sample {
        peak_kib: num("peak_kib")?,
        baseline_kib: num("baseline_kib")?,
        secs: field("secs")?
            .parse()
            .map_err(|e| format!("child {}: bad secs: {e}", case.arg))?,
        backlog: num("backlog")?,
    })
}

/// Median of each field over the reps (fields taken independently).
fn median_sample(samples: &[Sample]) -> Sample {
    #[allow(clippy::cast_precision_loss)]
    let med = |f: fn(&Sample) -> u64| -> u64 {
        let values: Vec<f64> = samples.iter().map(|s| f(s) as f64).collect();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let m = report::median(&values).round() as u64;
        m
    };
    let secs: Vec<f64> = samples.iter().map(|s| s.secs).collect();
    Sample {
        peak_kib: med(|s| s.peak_kib),
        baseline_kib: med(|s| s.baseline_kib),
        secs: report::median(&secs),
        backlog: med(|s| s.backlog),
    }
}

#[allow(clippy::cast_precision_loss)]
fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

pub fn run(opts: &Opts) -> Vec<Target> {
    if let Err(e) = status_kib("VmHWM") {
        println!("\nmemory suite SKIPPED: {e} (needs Linux /proc)");
        return Vec::new();
    }
    let sizes = [opts.items(SMALL), opts.items(LARGE)];
    let reps = opts.reps.min(MAX_REPS);
    // results[case][size]
    let mut results = vec![Vec::new(); CASES.len()];
    for (ci, &case) in CASES.iter().enumerate() {
        for &items in &sizes {
            let mut samples = Vec::with_capacity(reps);
            for _ in 0..reps {
                match run_child(case, items) {
                    Ok(s) => samples.push(s),
                    Err(e) => {
                        println!("\nmemory suite ABORTED: {e}");
                        return Vec::new();
                    }
                }
            }
            results[ci].push(median_sample(&samples));
        }
    }

    let mut table = Table::new(
        "memory: peak RSS (VmHWM), fast producer / slow consumer (median)",
        &[
            "case",
            "items",
            "peak RSS",
            "peak - baseline",
            "max queued",
            "time",
        ],
    );
    for (ci, case) in CASES.iter().enumerate() {
        for (si, &items) in sizes.iter().enumerate() {
            let s = results[ci][si];
            table.row(vec![
                case.label.to_owned(),
                report::count(items),
                report::bytes(s.peak_kib * 1024),
                report::bytes(s.peak_kib.saturating_sub(s.baseline_kib) * 1024),
                s.backlog.to_string(),
                format!("{:.2} s", s.secs),
            ]);
        }
    }
    table.note(format!(
        "Each row: a child process (`weir-bench child <case> <items>`), {} reps, median. \
         Items are u64; the consumer does ~{WORK_ROUNDS} multiply-rotate rounds per item and \
         yields every {YIELD_EVERY} items. baseline = VmRSS after the runtime is built, \
         before any item. max queued: queue high_water (weir) or the largest rx.len() the \
         consumer saw (tokio, sampled every {YIELD_EVERY} items).",
        reps
    ));
    table.print();

    let (b_small, b_large) = (results[0][0], results[0][1]);
    let (u_small, u_large) = (results[1][0], results[1][1]);
    let bounded_growth = mib(b_large.peak_kib) - mib(b_small.peak_kib);
    let unbounded_growth = mib(u_large.peak_kib) - mib(u_small.peak_kib);
    let (small_m, large_m) = (report::count(sizes[0]), report::count(sizes[1]));
    vec![
        Target {
            suite: "memory",
            name: format!("bounded peak RSS growth {small_m} -> {large_m} items (flat)"),
            measured: bounded_growth,
            threshold: FLAT_GROWTH_MIB,
            unit: Unit::Plain("MiB"),
            at_most: true,
        },
        Target {
            suite: "memory",
            name: format!("bounded peak RSS at {large_m} items (a few MB)"),
            measured: mib(b_large.peak_kib),
            threshold: BOUNDED_PEAK_MIB,
            unit: Unit::Plain("MiB"),
            at_most: true,
        },
        Target {
            suite: "memory",
            name: format!(
                "unbounded peak RSS growth {small_m} -> {large_m} items (grows; \
                 shown for contrast, >= 10x the bounded limit)"
            ),
            measured: unbounded_growth,
            threshold: FLAT_GROWTH_MIB * 10.0,
            unit: Unit::Plain("MiB"),
            at_most: false,
        },
    ]
}
