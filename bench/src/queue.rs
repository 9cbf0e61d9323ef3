//! Suite `queue`: items/s through weir's bounded `Queue` and through its
//! peers (tokio mpsc, async-channel, flume, kanal), same shapes, same
//! runtime, measurements interleaved so that noise hits every peer alike.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

use crate::report::{self, Table, Target, Unit};
use crate::Opts;

pub const CAPACITIES: [usize; 4] = [1, 16, 128, 1024];
/// (producers, consumers)
pub const SHAPES: [(usize, usize); 2] = [(1, 1), (4, 4)];

/// One measurement's setup.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub producers: usize,
    pub consumers: usize,
    pub capacity: usize,
    pub items: u64,
}

impl Shape {
    pub fn label(&self) -> String {
        format!(
            "{}P/{}C cap {}",
            self.producers, self.consumers, self.capacity
        )
    }

    pub fn is_spsc(&self) -> bool {
        self.producers == 1 && self.consumers == 1
    }
}

/// Items per run for a capacity (before `--scale`): small capacities mean a
/// task switch every item or few, so they get fewer items to keep run time sane.
pub fn items_for(opts: &Opts, capacity: usize) -> u64 {
    opts.items(match capacity {
        1 => 200_000,
        2..=16 => 500_000,
        _ => 1_000_000,
    })
}

/// The runtime every throughput run uses: multi-thread, 2 workers.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

type RunFn = fn(&Runtime, Shape) -> Duration;

struct Peer {
    name: &'static str,
    run: RunFn,
    /// Natively multi-consumer; tokio mpsc is not.
    mpmc: bool,
}

const WEIR: Peer = Peer {
    name: "weir",
    run: run_weir,
    mpmc: true,
};

const PEERS: [Peer; 4] = [
    Peer {
        name: "tokio mpsc",
        run: run_tokio,
        mpmc: false,
    },
    Peer {
        name: "async-channel",
        run: run_async_channel,
        mpmc: true,
    },
    Peer {
        name: "flume",
        run: run_flume,
        mpmc: true,
    },
    Peer {
        name: "kanal",
        run: run_kanal,
        mpmc: true,
    },
];

/// The `[start, end)` slice of `0..items` that producer `i` of `n` sends.
fn slice(items: u64, i: usize, n: usize) -> std::ops::Range<u64> {
    let n = n as u64;
    let i = i as u64;
    (items * i / n)..(items * (i + 1) / n)
}

/// Spawns consumers then producers, waits for the producers, calls
/// `producers_done` (for queues closed explicitly), waits for the consumers,
/// checks that every item arrived exactly once (count and sum), and returns
/// the elapsed time from the first spawn to the last item.
async fn drive<P, C>(
    items: u64,
    producers: Vec<P>,
    consumers: Vec<C>,
    producers_done: impl FnOnce(),
) -> Duration
where
    P: Future<Output = ()> + Send + 'static,
    C: Future<Output = (u64, u64)> + Send + 'static,
{
    let start = Instant::now();
    let consumers: Vec<_> = consumers.into_iter().map(tokio::spawn).collect();
    let producers: Vec<_> = producers.into_iter().map(tokio::spawn).collect();
    for p in producers {
        p.await.expect("producer panicked");
    }
    producers_done();
    let (mut count, mut sum) = (0, 0u64);
    for c in consumers {
        let (n, s) = c.await.expect("consumer panicked");
        count += n;
        sum = sum.wrapping_add(s);
    }
    let elapsed = start.elapsed();
    assert_eq!(count, items, "items lost or duplicated");
    assert_eq!(
        sum,
        (0..items).fold(0u64, u64::wrapping_add),
        "items corrupted"
    );
    elapsed
}

pub fn run_weir(rt: &Runtime, s: Shape) -> Duration {
    rt.block_on(async {
        let q = weir_core::Queue::<u64>::bounded(s.capacity);
        let producers = (0..s.producers)
            .map(|i| {
                let q = q.clone();
                async move {
                    for n in slice(s.items, i, s.producers) {
                        q.put(n).await.expect("queue open");
                    }
                }
            })
            .collect();
        let consumers = (0..s.consumers)
            .map(|_| {
                let q = q.clone();
                async move {
                    let (mut count, mut sum) = (0, 0u64);
                    while let Some(n) = q.get().await {
                        count += 1;
                        sum = sum.wrapping_add(n);
                    }
                    (count, sum)
                }
            })
            .collect();
        drive(s.items, producers, consumers, || q.shutdown()).await
    })
}

fn run_tokio(rt: &Runtime, s: Shape) -> Duration {
    rt.block_on(async {
        let (tx, rx) = tokio::sync::mpsc::channel::<u64>(s.capacity);
        let producers = (0..s.producers)
            .map(|i| {
                let tx = tx.clone();
                async move {
                    for n in slice(s.items, i, s.producers) {
                        tx.send(n).await.expect("channel open");
                    }
                }
            })
            .collect();
        drop(tx);
        if s.consumers == 1 {
            let mut rx = rx;
            let consumer = async move {
                let (mut count, mut sum) = (0, 0u64);
                while let Some(n) = rx.recv().await {
                    count += 1;
                    sum = sum.wrapping_add(n);
                }
                (count, sum)
            };
            drive(s.items, producers, vec![consumer], || {}).await
        } else {
            // tokio's mpsc has one receiver: consumers share it behind an
            // async mutex (held across `recv`), the usual workaround.
            let rx = Arc::new(tokio::sync::Mutex::new(rx));
            let consumers = (0..s.consumers)
                .map(|_| {
                    let rx = rx.clone();
                    async move {
                        let (mut count, mut sum) = (0, 0u64);
                        loop {
                            let next = rx.lock().await.recv().await;
                            let Some(n) = next else { break };
                            count += 1;
                            sum = sum.wrapping_add(n);
                        }
                        (count, sum)
                    }
                })
                .collect();
            drive(s.items, producers, consumers, || {}).await
        }
    })
}

/// The MPMC peers differ only in how a channel is made and what their send
/// and receive methods are called; one body serves them all.
macro_rules! mpmc_peer {
    ($run:ident, $make:path, $send:ident, $recv:ident) => {
        fn $run(rt: &Runtime, s: Shape) -> Duration {
            rt.block_on(async {
                let (tx, rx) = $make(s.capacity);
                let producers = (0..s.producers)
                    .map(|i| {
                        let tx = tx.clone();
                        async move {
                            for n in slice(s.items, i, s.producers) {
                                tx.$send(n).await.expect("channel open");
                            }
                        }
                    })
                    .collect();
                drop(tx);
                let consumers = (0..s.consumers)
                    .map(|_| {
                        let rx = rx.clone();
                        async move {
                            let (mut count, mut sum) = (0, 0u64);
                            while let Ok(n) = rx.$recv().await {
                                count += 1;
                                sum = sum.wrapping_add(n);
                            }
                            (count, sum)
                        }
                    })
                    .collect();
                drop(rx);
                drive(s.items, producers, consumers, || {}).await
            })
        }
    };
}

mpmc_peer!(run_async_channel, async_channel::bounded::<u64>, send, recv);
mpmc_peer!(run_flume, flume::bounded::<u64>, send_async, recv_async);
mpmc_peer!(run_kanal, kanal::bounded_async::<u64>, send, recv);

/// Entry point of `weir-bench child queue <peer> <P> <C> <capacity> <items> [runs]`:
/// runs one peer alone, for profiling (`perf record -g -- weir-bench child queue weir 1 1 1024 5000000`).
pub fn child(args: &[String]) -> Result<(), String> {
    let usage = "expected queue <peer> <producers> <consumers> <capacity> <items> [runs]";
    let (name, nums) = args.split_first().ok_or(usage)?;
    let nums: Vec<u64> = nums
        .iter()
        .map(|n| n.parse().map_err(|e| format!("{usage}: {n:?}: {e}")))
        .collect::<Result<_, _>>()?;
    let (&[p, c, capacity, items], runs) = match nums.as_slice() {
        [a, b, d, e] => (&[*a, *b, *d, *e], 1),
        [a, b, d, e, r] => (&[*a, *b, *d, *e], *r),
        _ => return Err(usage.to_owned()),
    };
    let peer = std::iter::once(&WEIR)
        .chain(PEERS.iter())
        .find(|peer| peer.name == name.as_str())
        .ok_or_else(|| format!("unknown peer {name:?}"))?;
    let as_usize = |n: u64| usize::try_from(n).map_err(|e| e.to_string());
    let shape = Shape {
        producers: as_usize(p)?,
        consumers: as_usize(c)?,
        capacity: as_usize(capacity)?,
        items,
    };
    let rt = runtime();
    for _ in 0..runs {
        let rate = items_per_sec(items, (peer.run)(&rt, shape));
        println!("{} {}: {}", peer.name, shape.label(), report::rate(rate));
    }
    Ok(())
}

#[allow(clippy::cast_precision_loss)]
pub fn items_per_sec(items: u64, elapsed: Duration) -> f64 {
    items as f64 / elapsed.as_secs_f64()
}

/// One measurement: runs once and returns items/s.
pub type Runner<'a> = Box<dyn FnMut() -> f64 + 'a>;

/// Median items/s of `reps` runs for each runner, interleaved: rep 1 runs
/// every runner, then rep 2, ... and the order rotates each rep so that no
/// runner always goes first. Returns (median, spread %) per runner.
pub fn measure_interleaved(reps: usize, runners: &mut [Runner<'_>]) -> Vec<(f64, f64)> {
    let k = runners.len();
    let mut samples = vec![Vec::with_capacity(reps); k];
    for rep in 0..reps {
        for j in 0..k {
            let idx = (j + rep) % k;
            samples[idx].push((runners[idx])());
        }
    }
    samples
        .iter()
        .map(|s| (report::median(s), report::spread_pct(s)))
        .collect()
}

pub fn run(opts: &Opts) -> Vec<Target> {
    let rt = runtime();
    let all: Vec<&Peer> = std::iter::once(&WEIR).chain(PEERS.iter()).collect();

    // Warm-up: first touches of the allocator, thread pool and code.
    for p in &all {
        (p.run)(
            &rt,
            Shape {
                producers: 4,
                consumers: 4,
                capacity: 16,
                items: opts.items(50_000),
            },
        );
    }

    let mut rates = Table::new(
        "queue: throughput, items/s (median)",
        &[
            "shape",
            "items",
            "weir",
            "tokio mpsc",
            "async-channel",
            "flume",
            "kanal",
            "max spread",
        ],
    );
    let mut ratios = Table::new(
        "queue: weir / peer (higher is better for weir; > 1.00x means weir is faster)",
        &[
            "shape",
            "vs tokio mpsc",
            "vs async-channel",
            "vs flume",
            "vs kanal",
            "vs best MPMC",
        ],
    );
    let mut targets = Vec::new();

    for &(producers, consumers) in &SHAPES {
        for &capacity in &CAPACITIES {
            let shape = Shape {
                producers,
                consumers,
                capacity,
                items: items_for(opts, capacity),
            };
            let mut runners: Vec<Runner<'_>> = all
                .iter()
                .map(|p| {
                    let run = p.run;
                    let rt = &rt;
                    Box::new(move || items_per_sec(shape.items, run(rt, shape))) as Runner<'_>
                })
                .collect();
            let results = measure_interleaved(opts.reps, &mut runners);
            let weir = results[0].0;
            let max_spread = results.iter().map(|r| r.1).fold(0.0, f64::max);

            let mut row = vec![shape.label(), report::count(shape.items)];
            row.extend(results.iter().enumerate().map(|(i, r)| {
                let star = if !all[i].mpmc && !shape.is_spsc() {
                    "*"
                } else {
                    ""
                };
                format!("{}{star}", report::rate(r.0))
            }));
            row.push(format!("{max_spread:.0}%"));
            rates.row(row);

            let (best_i, best) = results
                .iter()
                .enumerate()
                .skip(1)
                .filter(|(i, _)| all[*i].mpmc)
                .map(|(i, r)| (i, r.0))
                .fold((0, 0.0), |acc, x| if x.1 > acc.1 { x } else { acc });
            let mut row = vec![shape.label()];
            row.extend(results.iter().enumerate().skip(1).map(|(i, r)| {
                let star = if !all[i].mpmc && !shape.is_spsc() {
                    "*"
                } else {
                    ""
                };
                format!("{}{star}", report::ratio(weir / r.0))
            }));
            row.push(format!(
                "{} ({})",
                report::ratio(weir / best),
                all[best_i].name
            ));
            ratios.row(row);

            if shape.is_spsc() && capacity == 1024 {
                targets.push(Target {
                    suite: "queue",
                    name: format!("{} weir / tokio mpsc", shape.label()),
                    measured: weir / results[1].0,
                    threshold: 1.0,
                    unit: Unit::Ratio,
                    at_most: false,
                });
            }
            if !shape.is_spsc() {
                targets.push(Target {
                    suite: "queue",
                    name: format!(
                        "{} weir / best MPMC peer ({})",
                        shape.label(),
                        all[best_i].name
                    ),
                    measured: weir / best,
                    threshold: 1.0,
                    unit: Unit::Ratio,
                    at_most: false,
                });
            }
        }
    }

    let note_tokio = "* tokio mpsc has a single receiver: for 4 consumers they share it \
                      through Arc<tokio::sync::Mutex<Receiver>> (held across recv). It is \
                      shown for reference and left out of \"best MPMC\".";
    rates.note(note_tokio);
    rates.note(
        "max spread: (max/min - 1) over the reps of the noisiest peer in the row; \
         high values mean a noisy machine.",
    );
    ratios.note(note_tokio);
    rates.print();
    ratios.print();
    targets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_everything_once() {
        let items = 1_000_003;
        let mut total = 0;
        let mut next = 0;
        for i in 0..4 {
            let r = slice(items, i, 4);
            assert_eq!(r.start, next);
            next = r.end;
            total += r.end - r.start;
        }
        assert_eq!(total, items);
    }

    #[test]
    fn every_peer_delivers_every_item() {
        let rt = runtime();
        for p in std::iter::once(&WEIR).chain(PEERS.iter()) {
            for &(producers, consumers) in &SHAPES {
                for capacity in [1, 7] {
                    // `drive` asserts count and sum.
                    (p.run)(
                        &rt,
                        Shape {
                            producers,
                            consumers,
                            capacity,
                            items: 10_001,
                        },
                    );
                }
            }
        }
    }
}
