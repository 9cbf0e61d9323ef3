//! Suite `asyncio`: weir's `Queue` against Python's `asyncio.Queue`, the
//! API it is modelled on, in the same shapes as the `queue` suite. Python runs
//! `python/asyncio_queue.py` as a child process (timed inside the script, so
//! interpreter start-up is not counted); weir runs in this process, its reps
//! interleaved with Python's.

use std::process::Command;

use crate::queue::{self, Runner, Shape};
use crate::report::{self, Table, Target, Unit};
use crate::Opts;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python/asyncio_queue.py");
const TARGET_RATIO: f64 = 30.0;

/// The interpreter: `$WEIR_BENCH_PYTHON` or `python3`.
fn python() -> String {
    std::env::var("WEIR_BENCH_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Items per Python run (before `--scale`): asyncio manages ~40k items/s at
/// capacity 1 and a few 100k/s at larger capacities.
fn python_items(opts: &Opts, capacity: usize) -> u64 {
    opts.items(match capacity {
        1 => 20_000,
        2..=16 => 50_000,
        _ => 100_000,
    })
}

struct PyRun {
    items_per_sec: f64,
    python: String,
}

fn run_python(s: Shape) -> Result<PyRun, String> {
    let out = Command::new(python())
        .arg(SCRIPT)
        .args([s.producers, s.consumers, s.capacity].map(|n| n.to_string()))
        .arg(s.items.to_string())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{SCRIPT} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    // One flat JSON object; pick the two fields without a JSON dependency.
    let field = |key: &str| -> Option<String> {
        let rest = stdout.split(&format!("\"{key}\":")).nth(1)?;
        let value = rest.split([',', '}']).next()?.trim();
        Some(value.trim_matches('"').to_owned())
    };
    let items_per_sec = field("items_per_sec")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("unexpected output from {SCRIPT}: {stdout}"))?;
    Ok(PyRun {
        items_per_sec,
        python: field("python").unwrap_or_default(),
    })
}

pub fn run(opts: &Opts) -> Vec<Target> {
    let probe = Shape {
        producers: 1,
        consumers: 1,
        capacity: 16,
        items: 1_000,
    };
    let version = match run_python(probe) {
        Ok(r) => r.python,
        Err(e) => {
            println!("\nasyncio suite SKIPPED: {e}");
            println!("(install python3 or set WEIR_BENCH_PYTHON to an interpreter to run it)");
            return Vec::new();
        }
    };

    let rt = queue::runtime();
    let mut table = Table::new(
        format!("asyncio: weir vs Python {version} asyncio.Queue, items/s (median)"),
        &[
            "shape",
            "weir items",
            "weir",
            "asyncio items",
            "asyncio",
            "weir/asyncio",
        ],
    );
    let mut worst: Option<(f64, String)> = None;
    for &(producers, consumers) in &queue::SHAPES {
        for &capacity in &queue::CAPACITIES {
            let weir_shape = Shape {
                producers,
                consumers,
                capacity,
                items: queue::items_for(opts, capacity),
            };
            let py_shape = Shape {
                items: python_items(opts, capacity),
                ..weir_shape
            };
            let mut failure = None;
            let results = {
                let rt = &rt;
                let failure = &mut failure;
                let mut runners: Vec<Runner<'_>> = vec![
                    Box::new(move || {
                        queue::items_per_sec(weir_shape.items, queue::run_weir(rt, weir_shape))
                    }),
                    Box::new(move || match run_python(py_shape) {
                        Ok(r) => r.items_per_sec,
                        Err(e) => {
                            *failure = Some(e);
                            f64::NAN
                        }
                    }),
                ];
                queue::measure_interleaved(opts.reps, &mut runners)
            };
            if let Some(e) = failure {
                println!("\nasyncio suite ABORTED: {e}");
                return Vec::new();
            }
            let (weir, py) = (results[0].0, results[1].0);
            let r = weir / py;
            table.row(vec![
                weir_shape.label(),
                report::count(weir_shape.items),
                report::rate(weir),
                report::count(py_shape.items),
                report::rate(py),
                report::ratio(r),
            ]);
            if worst.as_ref().is_none_or(|(w, _)| r < *w) {
                worst = Some((r, weir_shape.label()));
            }
        }
    }
    table.note(
        "asyncio is single-threaded (one event loop); weir runs on a 2-worker tokio runtime. \
         asyncio timings exclude interpreter start-up.",
    );
    table.print();
    let (measured, label) = worst.expect("at least one shape");
    vec![Target {
        suite: "asyncio",
        name: format!("weir / asyncio, worst shape ({label})"),
        measured,
        threshold: TARGET_RATIO,
        unit: Unit::Ratio,
        at_most: false,
    }]
}
