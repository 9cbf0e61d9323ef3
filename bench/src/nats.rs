//! Suite `nats`: NATS JetStream → a trivial stage → JetStream, 1M messages
//! of 200 bytes, against a private `nats-server -js` (127.0.0.1, ephemeral
//! port, temporary store). Side by side in one run:
//!
//! - **bare**: a program written here on async-nats alone: a pull consumer,
//!   each message published to the output stream with at most 256 publish
//!   acks pending, and acked once its publish is acked;
//! - **weir, 1 worker**: `weir run` with the `nats` source (`format =
//!   "json"`), a `json` stage with no options (the records are objects
//!   already, so it passes them on), the `nats` sink;
//! - **weir, 2 workers**: two such processes sharing the consumer;
//! - **bare, with message ids**: the bare program publishing each message
//!   with a `Nats-Msg-Id` header (`STREAM:SEQ`), as weir's sink does so
//!   the output stream drops a replay's duplicates. Not a target: it shows
//!   what that header costs (the server checks every id against its
//!   duplicate window).
//!
//! The messages are JSON objects (`{"id":N,"pad":"xx…"}`, 200 bytes), as a
//! pipeline of JSON records has them. (A JSON *string* would not do: the
//! source decodes it to a text record, which the `json` stage then parses
//! again as JSON, and every record is dead-lettered.)
//!
//! Each contender has its own consumer on the input stream and its own
//! output stream; it is timed from its start until its output stream holds
//! every message. A weir run that cannot get there (a worker exited, or its
//! consumer acked every message while the output stream still lacks some:
//! they were dead-lettered) fails the suite at once with the worker's
//! stderr, and so does a run whose books show a dead letter. Also
//! reported: weir's peak RSS with the million messages waiting in the
//! stream (it pulls only what its links have room for).
//!
//! Targets: weir ≥ 0.8x the bare program; 2 workers ≥ 1.3x 1 worker.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::message::PublishMessage;
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
/// How long a weir run may stay with every input message acked and its
/// output stream short before the suite gives up on it.
const STALLED: Duration = Duration::from_secs(5);

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

/// One contender's run: its wall time, and the CPU time it and the
/// server spent meanwhile.
#[derive(Debug, Clone, Copy)]
struct Run {
    time: Duration,
    cpu: Duration,
    server_cpu: Duration,
}

/// The run of median time.
fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_by_key(|run| run.time);
    runs[runs.len() / 2]
}

fn run_in(opts: &Opts, bin: &Path, dir: &Path) -> Result<Vec<Target>, String> {
    let count = opts.items(MESSAGES);
    let server = start_server(dir)?;
    let runtime = crate::queue::runtime();
    let filled = Instant::now();
    runtime.block_on(fill(&server.url, count))?;
    let fill_time = filled.elapsed();
    let contenders = Contenders {
        runtime: &runtime,
        bin,
        dir,
        server: &server,
        count,
    };
    // Interleaved, so a burst of noise on the machine hits every contender.
    let (mut bares, mut ones, mut twos, mut with_ids) = (vec![], vec![], vec![], vec![]);
    let mut peak_kib = 0;
    for rep in 0..opts.reps {
        bares.push(runtime.block_on(bare(&server, count, rep, false))?);
        let (one, peak) = contenders.weir(1, rep)?;
        ones.push(one);
        peak_kib = peak_kib.max(peak);
        twos.push(contenders.weir(2, rep)?.0);
        with_ids.push(runtime.block_on(bare(&server, count, rep, true))?);
    }
    let (bare, one, two) = (median(bares), median(ones), median(twos));
    let with_ids = median(with_ids);
    let rate = |run: Run| count as f64 / run.time.as_secs_f64();
    let per_message = |cpu: Duration| format!("{:.1} µs", cpu.as_secs_f64() * 1e6 / count as f64);
    let mut table = Table::new(
        format!(
            "nats: {} messages of {SIZE} bytes, JetStream → trivial stage → JetStream \
             (file streams, one local nats-server)",
            report::count(count)
        ),
        &[
            "contender",
            "time",
            "rate",
            "vs bare",
            "CPU / msg",
            "server CPU / msg",
        ],
    );
    for (name, run) in [
        ("bare async-nats program", bare),
        ("weir, 1 worker", one),
        ("weir, 2 workers", two),
        ("bare, with message ids", with_ids),
    ] {
        table.row(vec![
            name.to_owned(),
            format!("{:.2} s", run.time.as_secs_f64()),
            report::rate(rate(run)),
            report::ratio(rate(run) / rate(bare)),
            per_message(run.cpu),
            per_message(run.server_cpu),
        ]);
    }
    table.note(format!(
        "Filling the input stream took {:.1} s. weir's peak RSS (1 worker, the stream \
         holding every message): {}. CPU: user + system time of the contender's \
         process(es) and of nats-server during the run, per message.",
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

/// Message `id`: a JSON object of `SIZE` bytes, `{"id":N,"pad":"xx…"}`.
fn message(id: u64) -> String {
    let head = format!("{{\"id\":{id},\"pad\":\"");
    let pad = SIZE.saturating_sub(head.len() + 2);
    format!("{head}{}\"}}", "x".repeat(pad))
}

/// Publishes `count` messages of `SIZE` bytes to the input.
async fn fill(url: &str, count: u64) -> Result<(), String> {
    let js = connect(url).await?;
    create_stream(&js, INPUT, "bench.in").await?;
    let mut pending = FuturesUnordered::new();
    for id in 0..count {
        let ack = js
            .publish("bench.in", message(id).into())
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

/// Whether consumer `name` on the input has acked every message (none
/// waiting, none in work).
async fn all_acked(js: &jetstream::Context, name: &str) -> bool {
    let Ok(stream) = js.get_stream(INPUT).await else {
        return false;
    };
    stream
        .consumer_info(name)
        .await
        .is_ok_and(|info| info.num_pending == 0 && info.num_ack_pending == 0)
}

/// The bare program: pull, publish (≤ 256 publish acks pending), ack each
/// message once its publish is acked; `with_ids`: each publish with the
/// message's origin as message id.
async fn bare(server: &Server, count: u64, rep: usize, with_ids: bool) -> Result<Run, String> {
    let js = connect(&server.url).await?;
    let name = format!("bare{}_{rep}", if with_ids { "_ids" } else { "" });
    let (output, subject) = (
        format!("BENCH_{}", name.to_uppercase()),
        format!("bench.{name}"),
    );
    create_stream(&js, &output, &subject).await?;
    let consumer = js
        .get_stream(INPUT)
        .await
        .map_err(|e| e.to_string())?
        .create_consumer(pull::Config {
            durable_name: Some(name),
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let (cpu, server_cpu) = (cpu_time(std::process::id()), cpu_time(server.child.id()));
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
                let mut publish = PublishMessage::build().payload(message.payload.clone());
                if with_ids {
                    let sequence = message.info().map_err(|e| e.to_string())?.stream_sequence;
                    publish = publish.message_id(format!("{INPUT}:{sequence}"));
                }
                let ack = js
                    .send_publish(subject.clone(), publish)
                    .await
                    .map_err(|e| e.to_string())?;
                pending.push(async move {
                    ack.await.map_err(|e| e.to_string())?;
                    message.ack().await.map_err(|e| e.to_string())
                });
            }
        }
    }
    let run = Run {
        time: started.elapsed(),
        cpu: cpu_time(std::process::id()).saturating_sub(cpu),
        server_cpu: cpu_time(server.child.id()).saturating_sub(server_cpu),
    };
    drop(messages);
    js.delete_stream(&output).await.map_err(|e| e.to_string())?;
    Ok(run)
}

/// What every weir run shares.
struct Contenders<'a> {
    runtime: &'a tokio::runtime::Runtime,
    bin: &'a Path,
    dir: &'a Path,
    server: &'a Server,
    count: u64,
}

impl Contenders<'_> {
    /// `workers` weir processes on one consumer (repetition `rep`): the
    /// run until the output stream holds every message, and the first
    /// worker's peak RSS (KiB).
    fn weir(&self, workers: usize, rep: usize) -> Result<(Run, u64), String> {
        let (runtime, dir, url, count) = (self.runtime, self.dir, &self.server.url, self.count);
        let name = format!("weir{workers}_{rep}");
        let output = format!("BENCH_{}", name.to_uppercase());
        let toml = dir.join(format!("{name}.toml"));
        std::fs::write(
            &toml,
            format!(
                "[source]\ntype = \"nats\"\nurl = \"{url}\"\nstream = \"{INPUT}\"\n\
                 consumer = \"{name}\"\nformat = \"json\"\n\n\
                 [[stage]]\ntype = \"json\"\n\n\
                 [sink]\ntype = \"nats\"\nurl = \"{url}\"\nsubject = \"bench.{name}\"\n\
                 stream = \"{output}\"\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        let js = runtime.block_on(connect(url))?;
        let logs: Vec<PathBuf> = (0..workers)
            .map(|worker| dir.join(format!("{name}-{worker}.log")))
            .collect();
        let server_cpu = cpu_time(self.server.child.id());
        let started = Instant::now();
        let children: Vec<Child> = logs
            .iter()
            .map(|log| {
                let log = std::fs::File::create(log).map_err(|e| e.to_string())?;
                Command::new(self.bin)
                    .args(["run", "--quiet"])
                    .arg(&toml)
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<_, _>>()?;
        let mut children = Children(children);
        let failed = |why: String| {
            let stderr: Vec<String> = logs.iter().map(|log| tail(log)).collect();
            Err(format!(
                "{workers} weir worker(s): {why}; their stderr:\n{}",
                stderr.join("\n--\n")
            ))
        };
        let mut peak = 0;
        let mut acked_since: Option<Instant> = None;
        loop {
            let held = runtime.block_on(stored(&js, &output));
            if held >= count {
                break;
            }
            if let Some(exited) = children.exited() {
                return failed(format!("one exited ({exited}) before the output was full"));
            }
            if runtime.block_on(all_acked(&js, &name)) {
                let since = *acked_since.get_or_insert_with(Instant::now);
                if since.elapsed() > STALLED {
                    children.terminate();
                    return failed(format!(
                        "every input message was acked, but the output holds {held} of {count}"
                    ));
                }
            } else {
                acked_since = None;
            }
            if started.elapsed() > Duration::from_secs(600) {
                return failed("not done in 10 min".to_owned());
            }
            peak = peak.max(rss_kib(children.0[0].id()));
            std::thread::sleep(Duration::from_millis(20));
        }
        let run = Run {
            time: started.elapsed(),
            cpu: children.0.iter().map(|child| cpu_time(child.id())).sum(),
            server_cpu: cpu_time(self.server.child.id()).saturating_sub(server_cpu),
        };
        children.terminate();
        for log in &logs {
            let dead = dead_lettered(&std::fs::read_to_string(log).unwrap_or_default());
            if dead != Some(0) {
                return failed(format!("dead-lettered: {dead:?} (expected 0)"));
            }
        }
        runtime
            .block_on(js.delete_stream(&output))
            .map_err(|e| e.to_string())?;
        Ok((run, peak))
    }
}

/// The dead-lettered count in a run's books (`in N = delivered D +
/// filtered F + dead-lettered L + ...`), `None` if there are none.
fn dead_lettered(stderr: &str) -> Option<u64> {
    let books = stderr.lines().rev().find(|line| line.starts_with("in "))?;
    let (_, after) = books.split_once("dead-lettered ")?;
    after.split_whitespace().next()?.parse().ok()
}

/// The last lines of a worker's stderr.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// The children, killed when dropped (SIGTERM first when done).
struct Children(Vec<Child>);

impl Children {
    /// How the first child that exited ended, if one has.
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.0
            .iter_mut()
            .find_map(|child| child.try_wait().ok().flatten())
    }

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

/// The user + system CPU time process `pid` has used (zero if unknown),
/// from `/proc/PID/stat` in clock ticks of 1/100 s (Linux's `USER_HZ`).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command's name in parentheses: state is field 3, utime 14,
    // stime 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_a_json_object_of_the_size() {
        for id in [0, 7, 999_999] {
            let text = message(id);
            assert_eq!(text.len(), SIZE, "{text}");
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(value["id"], id);
        }
    }

    #[test]
    fn the_dead_letters_are_read_from_the_books() {
        let stderr = "SIGTERM: draining\nin 100 = delivered 0 + filtered 0 + \
                      dead-lettered 100 + dropped 0 + nacked 0\n";
        assert_eq!(dead_lettered(stderr), Some(100));
        assert_eq!(dead_lettered("no books"), None);
    }
}
