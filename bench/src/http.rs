//! Suite `http`: weir's HTTP stage as an HTTP client, against the
//! fault-free `weir-testserver` running in this process.
//!
//! 1. **Throughput at a fixed concurrency.** 20,000 GETs at concurrency 64
//!    against a server with 20 ms latency and ample capacity, so the ideal
//!    is 64 / 20 ms = 3,200 requests/s: weir (the library pipeline with the
//!    CLI's HTTP stage, and the `weir` binary when it is built) vs Python
//!    aiohttp + `asyncio.Semaphore(64)` vs `xargs -P 64 curl` vs reqwest +
//!    `buffer_unordered(64)`. Each client is a child process; its peak RSS
//!    is the highest summed RSS of its process tree ([`tree_rss`]).
//! 2. **Overload.** A server with capacity 32 (20 ms latency, growing as
//!    `(in_service / 32)²` beyond it, 503 beyond 64 in service): the HTTP
//!    stage with adaptive concurrency vs fixed 8, fixed 32 (the oracle: the
//!    capacity, known in advance) and fixed 256, same retry settings (3
//!    attempts, retry budget 0.2): goodput and error rates.

mod child;
pub(crate) mod clients;
mod tree_rss;

use std::time::Duration;

use weir_testserver::{RunningServer, ServerConfig, ServerStats};

use crate::report::{self, Table, Target, Unit};
use crate::Opts;
use clients::{Client, Run};

const LATENCY: Duration = Duration::from_millis(20);
const CONCURRENCY: usize = 64;
const FETCHES: u64 = 20_000;
/// `xargs` starts one `curl` per URL: fewer URLs, same rate measured.
const CURL_FETCHES: u64 = 5_000;
const OVERLOAD_CAPACITY: usize = 32;
const OVERLOAD_FETCHES: u64 = 3_000;
/// Each measurement takes seconds: at most this many reps.
const MAX_REPS: usize = 3;
/// weir's requests/s as a share of the ideal 64 / 20 ms (the target).
const TARGET_SHARE_OF_IDEAL: f64 = 0.95;

/// Entry point of `weir-bench child http-*`.
pub fn child(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("http-weir") => child::weir(&args[1..]),
        Some("http-reqwest") => child::reqwest(&args[1..]),
        other => Err(format!("unknown http child {other:?}")),
    }
}

/// The test server on its own runtime, for one measurement.
struct Server {
    runtime: tokio::runtime::Runtime,
    server: RunningServer,
}

impl Server {
    fn start(config: ServerConfig) -> Result<Self, String> {
        let runtime = crate::queue::runtime();
        let server = runtime
            .block_on(weir_testserver::start(config))
            .map_err(|e| format!("cannot start the test server: {e}"))?;
        Ok(Server { runtime, server })
    }

    fn stop(self) -> ServerStats {
        let stats = self.server.stats();
        self.runtime.block_on(self.server.shutdown());
        stats
    }
}

/// Runs `client` against a fresh server; the run and the server's stats.
fn measure(
    client: &Client,
    config: &ServerConfig,
    n: u64,
    concurrency: usize,
) -> Result<(Run, ServerStats), String> {
    let server = Server::start(config.clone())?;
    let run = client.run(&server.server.url(), n, concurrency);
    let stats = server.stop();
    Ok((run?, stats))
}

pub fn run(opts: &Opts) -> Vec<Target> {
    let reps = opts.reps.min(MAX_REPS);
    let mut clients = vec![Client::WeirLibrary {
        concurrency: CONCURRENCY.to_string(),
    }];
    match clients::weir_binary() {
        Some(bin) => clients.push(Client::WeirBinary { bin }),
        None => println!(
            "\n(weir binary not found: build it with `cargo build --release -p weir-cli` \
             or set WEIR_BIN; its row is skipped)"
        ),
    }
    match clients::aiohttp_python() {
        Ok(python) => clients.push(Client::Aiohttp { python }),
        Err(e) => println!("\n(aiohttp SKIPPED: {e})"),
    }
    clients.push(Client::XargsCurl);
    clients.push(Client::Reqwest);
    let mut targets = throughput(opts, reps, &clients);
    targets.extend(overload(opts, reps));
    targets
}

fn throughput(opts: &Opts, reps: usize, clients: &[Client]) -> Vec<Target> {
    let config = ServerConfig {
        capacity: 100_000,
        base_latency: LATENCY,
        ..ServerConfig::default()
    };
    let ideal = CONCURRENCY as f64 / LATENCY.as_secs_f64();
    let mut samples: Vec<Vec<Run>> = vec![Vec::new(); clients.len()];
    for _ in 0..reps {
        for (client, runs) in clients.iter().zip(&mut samples) {
            let n = opts.items(match client {
                Client::XargsCurl => CURL_FETCHES,
                _ => FETCHES,
            });
            match measure(client, &config, n, CONCURRENCY) {
                Ok((run, _)) => runs.push(run),
                Err(e) => println!("\n{} FAILED: {e}", client.label(CONCURRENCY)),
            }
        }
    }
    let mut table = Table::new(
        format!(
            "http: GETs at concurrency {CONCURRENCY}, server latency {} ms \
             (ideal {ideal:.0} req/s), median of {reps}",
            LATENCY.as_millis()
        ),
        &[
            "client", "requests", "ok", "req/s", "of ideal", "vs weir", "peak RSS",
        ],
    );
    let rate = |run: &Run| run.ok as f64 / run.secs;
    let weir_rate = samples[0].iter().map(rate).collect::<Vec<_>>();
    let weir_rate = (!weir_rate.is_empty()).then(|| report::median(&weir_rate));
    // (req/s, peak RSS) medians, by client, for the targets below.
    let mut medians: Vec<Option<(f64, f64)>> = Vec::new();
    for (client, runs) in clients.iter().zip(&samples) {
        if runs.is_empty() {
            medians.push(None);
            continue;
        }
        let rates: Vec<f64> = runs.iter().map(rate).collect();
        let per_sec = report::median(&rates);
        let rss: Vec<f64> = runs.iter().map(|r| r.peak_rss as f64).collect();
        medians.push(Some((per_sec, report::median(&rss))));
        let last = runs[runs.len() - 1];
        table.row(vec![
            client.label(CONCURRENCY),
            report::count(last.ok + last.failed),
            report::count(last.ok),
            format!("{per_sec:.0}/s"),
            format!("{:.0}%", per_sec / ideal * 100.0),
            weir_rate.map_or("-".into(), |w| report::ratio(w / per_sec)),
            report::bytes(report::median(&rss) as u64),
        ]);
    }
    table.note(
        "req/s = successful requests / wall time of the client process (start-up included). \
         \"vs weir\" = weir's req/s / the client's. Peak RSS: highest sum over the client's \
         process tree, sampled every 20 ms (for xargs: xargs + its curls at that moment).",
    );
    table.print();
    let target = |name: String, measured: f64, threshold: f64, at_most: bool| Target {
        suite: "http",
        name,
        measured,
        threshold,
        unit: Unit::Ratio,
        at_most,
    };
    let mut targets: Vec<Target> = weir_rate
        .map(|w| {
            target(
                format!("weir req/s as a share of the ideal {ideal:.0}/s"),
                w / ideal,
                TARGET_SHARE_OF_IDEAL,
                false,
            )
        })
        .into_iter()
        .collect();
    let aiohttp = clients
        .iter()
        .zip(&medians)
        .find_map(|(client, m)| matches!(client, Client::Aiohttp { .. }).then_some(*m)?);
    if let (Some((weir, weir_rss)), Some((aio, aio_rss))) = (medians[0], aiohttp) {
        targets.push(target(
            "weir req/s / aiohttp req/s".into(),
            weir / aio,
            1.0,
            false,
        ));
        targets.push(target(
            "weir peak RSS / aiohttp peak RSS".into(),
            weir_rss / aio_rss,
            1.0,
            true,
        ));
    }
    targets
}

/// Adaptive goodput at least this share of the server's capacity.
const TARGET_ADAPTIVE_OF_CAPACITY: f64 = 0.9;
/// Adaptive goodput at least this share of the oracle's (fixed 32).
const TARGET_ADAPTIVE_OF_ORACLE: f64 = 0.95;
/// Fixed 256's goodput at least this share of the oracle's.
const TARGET_FIXED_256_OF_ORACLE: f64 = 0.8;

fn overload(opts: &Opts, reps: usize) -> Vec<Target> {
    let config = ServerConfig {
        capacity: OVERLOAD_CAPACITY,
        base_latency: LATENCY,
        overload_factor: 2.0,
        ..ServerConfig::default()
    };
    let n = opts.items(OVERLOAD_FETCHES);
    let mut table = Table::new(
        format!(
            "http overload: {} GETs, server capacity {OVERLOAD_CAPACITY} ({} ms; 503 beyond \
             {}), median of {reps}",
            report::count(n),
            LATENCY.as_millis(),
            2 * OVERLOAD_CAPACITY
        ),
        &[
            "weir http stage",
            "goodput",
            "goodput, last 2/3",
            "dead-lettered",
            "server 503s / requests",
            "final limit",
        ],
    );
    // (setting, goodput, dead-lettered share) per setting that ran.
    let mut results: Vec<(&str, f64, f64)> = Vec::new();
    // (setting, goodput over the last two thirds of its successes).
    let mut steadies: Vec<(&str, f64)> = Vec::new();
    let settings = ["adaptive", "8", "32", "256"];
    let client = |concurrency: &str| Client::WeirLibrary {
        concurrency: concurrency.into(),
    };
    // Interleaved, one rep of every setting at a time, so that a change in
    // the machine's load (2 shared cores) falls on all of them alike.
    let mut all_runs: Vec<Vec<(Run, ServerStats)>> = vec![Vec::new(); settings.len()];
    for _ in 0..reps {
        for (concurrency, runs) in settings.iter().zip(&mut all_runs) {
            match measure(&client(concurrency), &config, n, 0) {
                Ok(measured) => runs.push(measured),
                Err(e) => println!("\nconcurrency {concurrency} FAILED: {e}"),
            }
        }
    }
    for (concurrency, runs) in settings.into_iter().zip(all_runs) {
        let client = client(concurrency);
        if runs.is_empty() {
            continue;
        }
        let median = |f: &dyn Fn(&(Run, ServerStats)) -> f64| {
            report::median(&runs.iter().map(f).collect::<Vec<_>>())
        };
        let goodput = median(&|(run, _)| run.ok as f64 / run.secs);
        let dead = median(&|(run, _)| run.failed as f64 / n as f64);
        let rejected = median(&|(_, stats)| {
            let rejected = stats.statuses.get(&503).copied().unwrap_or(0);
            rejected as f64 / stats.requests.max(1) as f64
        });
        let limit = median(&|(run, _)| run.limit as f64);
        let steady = median(&|(run, _)| run.steady);
        results.push((concurrency, goodput, dead));
        steadies.push((concurrency, steady));
        table.row(vec![
            client.label(0),
            format!("{goodput:.0}/s"),
            format!("{steady:.0}/s"),
            format!("{:.1}%", dead * 100.0),
            format!("{:.1}%", rejected * 100.0),
            format!("{limit:.0}"),
        ]);
    }
    table.note(format!(
        "Ideal goodput at capacity: {OVERLOAD_CAPACITY} / {} ms = {:.0}/s. Every client: \
         3 attempts for per-record failures, retry budget 0.2; 503s are service signals \
         (waited out with backoff, not counted as failed attempts). Goodput: successes / \
         wall time of the child process, start-up included (the targets' measure); \
         last 2/3: successes after the first third / the time they took.",
        LATENCY.as_millis(),
        OVERLOAD_CAPACITY as f64 / LATENCY.as_secs_f64()
    ));
    let capacity = OVERLOAD_CAPACITY as f64 / LATENCY.as_secs_f64();
    let steady = |setting: &str| steadies.iter().find(|s| s.0 == setting).map(|s| s.1);
    if let (Some(adaptive), Some(oracle)) = (steady("adaptive"), steady("32")) {
        table.note(format!(
            "Over the last two thirds (not a target): adaptive {:.2}x of capacity, \
             the oracle {:.2}x, adaptive / oracle {:.2}x.",
            adaptive / capacity,
            oracle / capacity,
            adaptive / oracle
        ));
    }
    table.print();
    let result = |setting: &str| results.iter().find(|r| r.0 == setting).map(|r| (r.1, r.2));
    let (Some(adaptive), Some(oracle), Some(fixed_256)) =
        (result("adaptive"), result("32"), result("256"))
    else {
        return Vec::new();
    };
    let target = |name: &str, measured: f64, threshold: f64| {
        Target::ratio("http", format!("overload: {name}"), measured, threshold)
    };
    vec![
        target(
            "adaptive goodput / capacity",
            adaptive.0 / capacity,
            TARGET_ADAPTIVE_OF_CAPACITY,
        ),
        target(
            "adaptive goodput / oracle (fixed 32)",
            adaptive.0 / oracle.0,
            TARGET_ADAPTIVE_OF_ORACLE,
        ),
        target("adaptive records dead-lettered (share)", adaptive.1, 0.0).or_less(),
        target(
            "fixed 256 goodput / oracle (fixed 32)",
            fixed_256.0 / oracle.0,
            TARGET_FIXED_256_OF_ORACLE,
        ),
        target("fixed 256 records dead-lettered (share)", fixed_256.1, 0.0).or_less(),
    ]
}
