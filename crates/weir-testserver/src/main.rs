//! `weir-testserver`: runs the fault-injecting test server until Ctrl-C,
//! then prints its stats.

use std::time::Duration;

use clap::Parser;
use weir_testserver::{start, Faults, Outage, OutageKind, ServerConfig};

/// A fault-injecting HTTP test server on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Port (0 picks a free one; the address is printed).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Requests in service at once before latency grows.
    #[arg(long, default_value_t = 64)]
    capacity: usize,
    /// Base latency in milliseconds.
    #[arg(long, default_value_t = 10)]
    latency_ms: u64,
    /// Answer 503 beyond this many times the capacity in service.
    #[arg(long, default_value_t = 2.0)]
    overload_factor: f64,
    /// Rate of 500 answers.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Rate of 429 answers.
    #[arg(long, default_value_t = 0.0)]
    throttle_rate: f64,
    /// Retry-After of the 429s, in seconds.
    #[arg(long, default_value_t = 1)]
    retry_after: u64,
    /// Rate of hung requests.
    #[arg(long, default_value_t = 0.0)]
    hang_rate: f64,
    /// How long a hung request is held, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    hang_ms: u64,
    /// Rate of connections closed without a response.
    #[arg(long, default_value_t = 0.0)]
    reset_rate: f64,
    /// Seed of the fault draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// An outage: `503` (every request answered 503 with `--retry-after`)
    /// or `refused` (the port closed).
    #[arg(long)]
    outage: Option<String>,
    /// When the outage begins, in ms after the start.
    #[arg(long, default_value_t = 10_000)]
    outage_start_ms: u64,
    /// How long it lasts, in ms.
    #[arg(long, default_value_t = 10_000)]
    outage_ms: u64,
}

impl From<Args> for ServerConfig {
    fn from(args: Args) -> Self {
        ServerConfig {
            port: args.port,
            capacity: args.capacity,
            base_latency: Duration::from_millis(args.latency_ms),
            overload_factor: args.overload_factor,
            faults: Faults {
                error_rate: args.error_rate,
                throttle_rate: args.throttle_rate,
                retry_after_secs: args.retry_after,
                hang_rate: args.hang_rate,
                hang_for: Duration::from_millis(args.hang_ms),
                reset_rate: args.reset_rate,
            },
            seed: args.seed,
            tls: None,
            outage: args.outage.as_deref().map(|kind| Outage {
                start: Duration::from_millis(args.outage_start_ms),
                length: Duration::from_millis(args.outage_ms),
                kind: match kind {
                    "refused" => OutageKind::Refused,
                    _ => OutageKind::Unavailable {
                        retry_after_secs: args.retry_after,
                    },
                },
            }),
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let server = start(Args::parse().into()).await?;
    println!("listening on http://{}", server.addr());
    tokio::signal::ctrl_c().await?;
    eprintln!("{:?}", server.stats());
    server.shutdown().await;
    Ok(())
}
