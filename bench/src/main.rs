//! weir-bench: runs weir and its peers side by side in one process run and
//! prints tables of rates and ratios (ratios matter, absolute times much less:
//! machines are noisy).
//!
//! ```text
//! cargo run --release -p weir-bench -- all
//! cargo run --release -p weir-bench -- queue memory --reps 3
//! cargo run --release -p weir-bench -- list
//! ```
//!
//! To add a suite: write `src/<name>.rs` with a `pub fn run(&Opts) -> Vec<Target>`
//! that prints its tables through [`report`], and add one line to [`SUITES`].

mod asyncio;
mod checkpoints;
mod cli;
mod http;
mod memory;
mod nats;
mod outage;
mod pipeline;
mod queue;
mod report;
mod spill;

use std::process::ExitCode;

use report::Target;

/// Options shared by every suite.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Repetitions per measurement; suites report the median.
    pub reps: usize,
    /// Multiplies every item count (e.g. 0.1 for a quick smoke run).
    pub scale: f64,
}

impl Opts {
    /// `n` scaled by `--scale`, at least 1.
    pub fn items(&self, n: u64) -> u64 {
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let scaled = (n as f64 * self.scale).round() as u64;
        scaled.max(1)
    }
}

pub struct Suite {
    pub name: &'static str,
    pub about: &'static str,
    pub run: fn(&Opts) -> Vec<Target>,
}

/// Every suite, in the order `all` runs them.
pub const SUITES: &[Suite] = &[
    Suite {
        name: "queue",
        about: "items/s through weir's Queue vs tokio mpsc, async-channel, flume, kanal",
        run: queue::run,
    },
    Suite {
        name: "asyncio",
        about: "items/s through weir's Queue vs Python's asyncio.Queue (needs python3)",
        run: asyncio::run,
    },
    Suite {
        name: "memory",
        about: "peak RSS, fast producer + slow consumer: bounded weir vs unbounded channel",
        run: memory::run,
    },
    Suite {
        name: "pipeline",
        about:
            "weir's engine vs the same 3-stage pipeline hand-written with tokio mpsc; engine RSS",
        run: pipeline::run,
    },
    Suite {
        name: "http",
        about: "HTTP GETs: weir's http stage vs aiohttp, xargs curl, reqwest; overload",
        run: http::run,
    },
    Suite {
        name: "outage",
        about: "a 10 s outage in a 30 s run: dead letters, duplicates, recovery time",
        run: outage::run,
    },
    Suite {
        name: "spill",
        about: "spill links: write + replay vs buffered appends and SQLite WAL; a never-full spill link vs block",
        run: spill::run,
    },
    Suite {
        name: "nats",
        about: "nats → stage → nats, 1M messages: weir (1 and 2 workers) vs bare async-nats (with and without message ids)",
        run: nats::run,
    },
    Suite {
        name: "cli",
        about: "the weir binary's jq stage vs jq, mlr, Python asyncio, floors; command stream mode",
        run: cli::run,
    },
    Suite {
        name: "checkpoints",
        about: "the weir binary file → file, 1M lines, checkpoints on vs off",
        run: checkpoints::run,
    },
];

fn usage() -> String {
    let mut text = String::from(
        "usage: weir-bench [--reps N] [--scale F] <suite>... | all | list\n\nsuites:\n",
    );
    for s in SUITES {
        text += &format!("  {:<8} {}\n", s.name, s.about);
    }
    text += "  all      every suite above, in this order\n\noptions:\n";
    text += "  --reps N   repetitions per measurement, median reported (default 5)\n";
    text += "  --scale F  multiply item counts by F (default 1; 0.1 for a smoke run)\n";
    text
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();

    // Hidden: a child process started by a suite (see memory.rs), or one
    // queue peer run alone for profiling (see queue.rs).
    if args.first().map(String::as_str) == Some("child") {
        let result = match args.get(1).map(String::as_str) {
            Some("queue") => queue::child(&args[2..]),
            Some("pipeline") => pipeline::child(&args[2..]),
            Some(name) if name.starts_with("http-") => http::child(&args[1..]),
            _ => memory::child(&args[1..]),
        };
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("weir-bench child: {e}");
                ExitCode::FAILURE
            }
        };
    }

    let mut opts = Opts {
        reps: 5,
        scale: 1.0,
    };
    let mut names = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--reps" => match it.next().and_then(|v| v.parse().ok()) {
                Some(n) if n > 0 => opts.reps = n,
                _ => return bad("--reps needs a positive integer"),
            },
            "--scale" => match it.next().and_then(|v| v.parse().ok()) {
                Some(f) if f > 0.0 => opts.scale = f,
                _ => return bad("--scale needs a positive number"),
            },
            "-h" | "--help" | "help" => {
                print!("{}", usage());
                return ExitCode::SUCCESS;
            }
            "list" => {
                for s in SUITES {
                    println!("{:<8} {}", s.name, s.about);
                }
                return ExitCode::SUCCESS;
            }
            name => names.push(name.to_owned()),
        }
    }
    if names.is_empty() {
        return bad("no suite named");
    }

    let mut chosen: Vec<&Suite> = Vec::new();
    for name in &names {
        if name == "all" {
            chosen.extend(SUITES);
        } else if let Some(s) = SUITES.iter().find(|s| s.name == name) {
            chosen.push(s);
        } else {
            return bad(&format!("unknown suite {name:?}"));
        }
    }

    println!(
        "weir-bench: suites {}; {} reps per measurement (median shown); item scale {}; {} CPUs",
        chosen.iter().map(|s| s.name).collect::<Vec<_>>().join(", "),
        opts.reps,
        opts.scale,
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
    );
    let mut targets = Vec::new();
    for suite in chosen {
        println!("\n## {}: {}", suite.name, suite.about);
        let started = std::time::Instant::now();
        let suite_targets = (suite.run)(&opts);
        report::print_targets(&format!("{} targets:", suite.name), &suite_targets);
        println!(
            "\n({} took {:.1} s)",
            suite.name,
            started.elapsed().as_secs_f64()
        );
        targets.extend(suite_targets);
    }
    if names.len() > 1 || names[0] == "all" {
        report::print_targets("## Summary of targets", &targets);
    }
    // A benchmark, not a test: missed targets are reported, not an error.
    ExitCode::SUCCESS
}

fn bad(msg: &str) -> ExitCode {
    eprintln!("weir-bench: {msg}\n\n{}", usage());
    ExitCode::from(2)
}
