//! Suite `nats`: NATS JetStream → a trivial stage → JetStream, 1M messages
//! of 200 bytes, against a private `nats-server -js` (127.0.0.1, ephemeral
//! port, temporary store). Side by side in one run:
//!
//! - **bare**: a program written here on async-nats alone: a pull consumer,
//!   each message published to the output stream with at most 256 publish
//!   acks pending, and acked once its publish is acked;
//! - **weir, 1 worker**: `weir run` with the `nats` source, a `json` stage
//!   (`.`), the `nats` sink;
//! - **weir, 2 workers**: two such processes sharing the consumer.
//!
//! Each contender has its own consumer on the input stream and its own
//! output stream; it is timed from its start until its output stream holds
//! every message. Also reported: weir's peak RSS with the million messages
//! waiting in the stream (it pulls only what its links have room for).
//!
//! Targets: weir ≥ 0.8x the bare program; 2 workers ≥ 1.3x 1 worker.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::pull, stream};
use futures::stream::FuturesUnordered;
use futures::StreamExt;

use crate::http::clients::weir_binary;
use crate::report::{self, Table, Target, Unit};
use crate::Opts;

const MESSAGES: u64 = 1_000_000;
const SIZE: usize = 200;
/// Publish acks awaited at once, by the filler and the bare program (the
/// `nats` sink's default `max_pending`).
const MAX_PENDING: usize = 256;
const INPUT: &str = "BENCH_IN";

pub fn run(opts: &Opts) -> Vec<Target> {
    let Some(bin) = weir_binary() else {
        println!(
            "\n(weir binary not found: build it with `cargo build --release -p weir-cli` \
             or set WEIR_BIN; the nats suite is skipped)"
        );
        return Vec::new();
    };
    let dir = std::env::temp_dir().join(format!("weir-bench-nats-{}", std::process::id()));
    let result = std::fs::create_dir_all(&dir)
        .map_err(|e| e.to_string())
        .and_then(|()| run_in(opts, &bin, &dir));
    let _ = std::fs::remove_dir_all(&dir);
    result.unwrap_or_else(|error| {
        println!("\n(nats suite failed: {error})");
        Vec::new()
    })
}

/// A private server, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(dir: &Path) -> Result<Server, String> {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", "-1", "-sd"])
        .arg(dir.join("store"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("nats-server (Debian's `nats-server`): {e}"))?;
    let log = child.stderr.take().ok_or("no stderr")?;
    let mut lines = BufReader::new(log).lines().map_while(Result::ok);
    let port = lines
        .find_map(|line| {
            let (_, addr) = line.split_once("Listening for client connections on ")?;
            addr.trim().rsplit(':').next()?.parse::<u16>().ok()
        })
        .ok_or("nats-server did not start")?;
    // Keep reading its log so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Ok(Server {
        child,
        url: format!("nats://127.0.0.1:{port}"),
    })
}

fn run_in(opts: &Opts, bin: &Path, dir: &Path) -> Result<Vec<Target>, String> {
    let count = opts.items(MESSAGES);
    let server = start_server(dir)?;
    let runtime = crate::queue::runtime();
    let filled = Instant::now();
    runtime.block_on(fill(&server.url, count))?;
    let fill_time = filled.elapsed();
    let bare = runtime.block_on(bare(&server.url, count))?;
    let (one, peak_kib) = weir_workers(&runtime, bin, dir, &server.url, count, 1)?;
    let (two, _) = weir_workers(&runtime, bin, dir, &server.url, count, 2)?;
    let rate = |time: Duration| count as f64 / time.as_secs_f64();
    let mut table = Table::new(
        format!(
            "nats: {} messages of {SIZE} bytes, JetStream → trivial stage → JetStream \
             (file streams, one local nats-server)",
            report::count(count)
        ),
        &["contender", "time", "rate", "vs bare"],
    );
    for (name, time) in [
        ("bare async-nats program", bare),
        ("weir, 1 worker", one),
        ("weir, 2 workers", two),
    ] {
        table.row(vec![
            name.to_owned(),
            format!("{:.2} s", time.as_secs_f64()),
            report::rate(rate(time)),
            report::ratio(rate(time) / rate(bare)),
        ]);
    }
    table.note(format!(
        "Filling the input stream took {:.1} s. weir's peak RSS (1 worker, the stream \
         holding every message): {}.",
        fill_time.as_secs_f64(),
        report::bytes(peak_kib * 1024)
    ));
    table.print();
    Ok(vec![
        Target::ratio(
            "nats",
            "weir vs the bare program",
            rate(one) / rate(bare),
            0.8,
        ),
        Target::ratio("nats", "2 workers vs 1", rate(two) / rate(one), 1.3),
        Target::ratio("nats", "weir's peak RSS", peak_kib as f64 / 1024.0, 64.0)
            .in_unit(Unit::Plain("MiB"))
            .or_less(),
    ])
}

async fn connect(url: &str) -> Result<jetstream::Context, String> {
    let client = async_nats::connect(url).await.map_err(|e| e.to_string())?;
    Ok(jetstream::new(client))
}

/// Creates a file stream `name` on `subject`.
async fn create_stream(js: &jetstream::Context, name: &str, subject: &str) -> Result<(), String> {
    js.create_stream(stream::Config {
        name: name.to_owned(),
        subjects: vec![subject.to_owned()],
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map(drop)
    .map_err(|e| e.to_string())
}

/// Publishes `count` messages of `SIZE` bytes (a JSON string) to the input.
async fn fill(url: &str, count: u64) -> Result<(), String> {
    let js = connect(url).await?;
    create_stream(&js, INPUT, "bench.in").await?;
    let body = format!("\"{}\"", "x".repeat(SIZE - 2));
    let mut pending = FuturesUnordered::new();
    for _ in 0..count {
        let ack = js
            .publish("bench.in", body.clone().into())
            .await
            .map_err(|e| e.to_string())?;
        pending.push(async move { ack.await.map(drop).map_err(|e| e.to_string()) });
        if pending.len() >= MAX_PENDING {
            if let Some(ack) = pending.next().await {
                ack?;
            }
        }
    }
    while let Some(ack) = pending.next().await {
        ack.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// How many messages stream `name` holds.
async fn stored(js: &jetstream::Context, name: &str) -> u64 {
    match js.get_stream(name).await {
        Ok(mut stream) => stream.info().await.map_or(0, |info| info.state.messages),
        Err(_) => 0,
    }
}

/// The bare program: pull, publish (≤ 256 publish acks pending), ack each
/// message once its publish is acked.
async fn bare(url: &str, count: u64) -> Result<Duration, String> {
    let js = connect(url).await?;
    create_stream(&js, "BENCH_BARE", "bench.bare").await?;
    let consumer = js
        .get_stream(INPUT)
        .await
        .map_err(|e| e.to_string())?
        .create_consumer(pull::Config {
            durable_name: Some("bare".into()),
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(MAX_PENDING)
        .messages()
        .await
        .map_err(|e| e.to_string())?;
    let mut pending = FuturesUnordered::new();
    let (mut taken, mut done) = (0, 0);
    while done < count {
        tokio::select! {
            biased;
            Some(result) = pending.next(), if !pending.is_empty() => {
                result?;
                done += 1;
            }
            message = messages.next(), if pending.len() < MAX_PENDING && taken < count => {
                let message = message
                    .ok_or("the consumer's messages ended")?
                    .map_err(|e| e.to_string())?;
                taken += 1;
                let ack = js
                    .publish("bench.bare", message.payload.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                pending.push(async move {
                    ack.await.map_err(|e| e.to_string())?;
                    message.ack().await.map_err(|e| e.to_string())
                });
            }
        }
    }
    Ok(started.elapsed())
}

/// `workers` weir processes on one consumer; the time until the output
/// stream holds every message, and the first worker's peak RSS (KiB).
fn weir_workers(
    runtime: &tokio::runtime::Runtime,
    bin: &Path,
    dir: &Path,
    url: &str,
    count: u64,
    workers: usize,
) -> Result<(Duration, u64), String> {
    let output = format!("BENCH_WEIR{workers}");
    let subject = format!("bench.weir{workers}");
    let toml = dir.join(format!("weir{workers}.toml"));
    std::fs::write(
        &toml,
        format!(
            "[source]\ntype = \"nats\"\nurl = \"{url}\"\nstream = \"{INPUT}\"\n\
             consumer = \"weir{workers}\"\nformat = \"json\"\n\n\
             [[stage]]\ntype = \"json\"\nfilter = \".\"\n\n\
             [sink]\ntype = \"nats\"\nurl = \"{url}\"\nsubject = \"{subject}\"\n\
             stream = \"{output}\"\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    let js = runtime.block_on(connect(url))?;
    let started = Instant::now();
    let children: Vec<Child> = (0..workers)
        .map(|worker| {
            Command::new(bin)
                .args(["run", "--quiet"])
                .arg(&toml)
                .env(
                    "WEIR_DATA_DIR",
                    dir.join(format!("data-{workers}-{worker}")),
                )
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    let mut children = Children(children);
    let mut peak = 0;
    loop {
        if runtime.block_on(stored(&js, &output)) >= count {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err(format!("{workers} weir workers did not finish in 10 min"));
        }
        peak = peak.max(rss_kib(children.0[0].id()));
        std::thread::sleep(Duration::from_millis(20));
    }
    let time = started.elapsed();
    children.terminate();
    Ok((time, peak))
}

/// The children, killed when dropped (SIGTERM first when done).
struct Children(Vec<Child>);

impl Children {
    fn terminate(&mut self) {
        for child in &self.0 {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        for child in &mut self.0 {
            let _ = child.wait();
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Peak resident memory of process `pid`, in KiB (0 if unknown).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(PathBuf::from(format!("/proc/{pid}/status")))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}
