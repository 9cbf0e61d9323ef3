//! `AdaptiveConcurrency` against a simulated service, in paused virtual
//! time: the limit must settle near the service's capacity and respect its
//! bounds, for both algorithms.
//!
//! The fake service has `capacity` workers and a fixed service time; a
//! request beyond `capacity` queues for a worker (so latency grows with the
//! excess), and beyond twice `capacity` inside it is shed at once as
//! overloaded. Clients (four times the capacity of them) loop acquire →
//! call → record, so the limiter is the only thing holding load back.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use weir_core::limit::{
    AdaptiveConcurrency, AdaptiveConfig, Aimd, Algorithm, Outcome, WatchLatency,
};

const SERVICE_TIME: Duration = Duration::from_millis(10);

/// A model service that clients call through the limiter.
trait Call: Send + Sync + 'static {
    fn call(&self) -> impl Future<Output = Outcome> + Send;
}

/// `clients` tasks calling `service` through `limiter` until `stop`.
fn spawn_clients<S: Call>(
    limiter: &AdaptiveConcurrency,
    service: &Arc<S>,
    clients: usize,
    stop: Instant,
) -> Vec<JoinHandle<()>> {
    (0..clients)
        .map(|_| {
            let (limiter, service) = (limiter.clone(), service.clone());
            tokio::spawn(async move {
                while Instant::now() < stop {
                    let permit = limiter.acquire().await;
                    permit.record(service.call().await);
                }
            })
        })
        .collect()
}

struct Service {
    capacity: AtomicUsize,
    workers: Semaphore,
    inside: AtomicUsize,
    peak_inside: AtomicUsize,
}

impl Service {
    fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Service {
            capacity: AtomicUsize::new(capacity),
            workers: Semaphore::new(capacity),
            inside: AtomicUsize::new(0),
            peak_inside: AtomicUsize::new(0),
        })
    }
}

impl Call for Service {
    async fn call(&self) -> Outcome {
        let start = Instant::now();
        let inside = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak_inside.fetch_max(inside, Ordering::SeqCst);
        let outcome = if inside > 2 * self.capacity.load(Ordering::SeqCst) {
            tokio::time::sleep(SERVICE_TIME / 10).await; // a quick 503
            Outcome::Overloaded
        } else {
            let _worker = self.workers.acquire().await.unwrap();
            tokio::time::sleep(SERVICE_TIME).await;
            Outcome::Success {
                latency: start.elapsed(),
            }
        };
        self.inside.fetch_sub(1, Ordering::SeqCst);
        outcome
    }
}

impl Service {
    /// Takes `by` workers away for good (once they are free).
    async fn shrink(&self, by: usize) {
        let by_u32 = u32::try_from(by).unwrap();
        self.workers.acquire_many(by_u32).await.unwrap().forget();
        self.capacity.fetch_sub(by, Ordering::SeqCst);
    }
}

/// What a run saw: the limit sampled every service time, and the
/// throughput over the second half of the run.
#[derive(Debug)]
struct Run {
    /// The limit after every service time, for the whole run.
    all: Vec<usize>,
    /// Over the second half: mean, lowest and highest limit.
    mean: f64,
    low: usize,
    high: usize,
    /// Successes per service time over the second half.
    throughput: f64,
    overloaded: u64,
    /// The most requests inside the service at once, over the whole run.
    peak_inside: usize,
}

/// Drives `limiter` against a service of `capacity` for `rounds` service
/// times; if `shrink_to` is given, the service drops to that capacity at the
/// start of the second half.
async fn drive(
    limiter: &AdaptiveConcurrency,
    capacity: usize,
    rounds: u32,
    shrink_to: Option<usize>,
) -> Run {
    let service = Service::new(capacity);
    let stop = Instant::now() + SERVICE_TIME * rounds;
    let clients = spawn_clients(limiter, &service, 4 * capacity, stop);
    let mut all = Vec::new();
    let mut successes_at_half = 0;
    for round in 0..rounds {
        if round == rounds / 4 {
            if let Some(smaller) = shrink_to {
                let service = service.clone();
                tokio::spawn(async move { service.shrink(capacity - smaller).await });
            }
        }
        tokio::time::sleep(SERVICE_TIME).await;
        all.push(limiter.current_limit());
        if round + 1 == rounds / 2 {
            successes_at_half = limiter.stats().successes;
        }
    }
    for client in clients {
        client.await.unwrap();
    }
    let stats = limiter.stats();
    let half = &all[all.len() / 2..];
    Run {
        mean: half.iter().sum::<usize>() as f64 / half.len() as f64,
        low: *half.iter().min().unwrap(),
        high: *half.iter().max().unwrap(),
        throughput: (stats.successes - successes_at_half) as f64 / f64::from(rounds / 2),
        overloaded: stats.overloaded,
        peak_inside: service.peak_inside.load(Ordering::SeqCst),
        all,
    }
}

fn limiter(config: AdaptiveConfig) -> AdaptiveConcurrency {
    AdaptiveConcurrency::new(config).unwrap()
}

fn algorithms() -> [(&'static str, AdaptiveConfig); 2] {
    [
        ("aimd", AdaptiveConfig::aimd()),
        ("gradient", AdaptiveConfig::gradient()),
    ]
}

/// Asserts that the second half of `run` stayed within 0.5C..=1.5C and
/// kept the service busy.
fn assert_settled(name: &str, capacity: usize, run: &Run) {
    println!(
        "{name} C={capacity}: limit mean {:.1}, range {}..={}, throughput {:.1}/round, \
         overloaded {}, peak inside {}",
        run.mean, run.low, run.high, run.throughput, run.overloaded, run.peak_inside
    );
    let c = capacity as f64;
    assert!(
        run.low as f64 >= 0.5 * c && run.high as f64 <= 1.5 * c,
        "{name}: limit left 0.5C..=1.5C (C = {capacity}): {run:?}"
    );
    assert!(
        run.throughput >= 0.9 * c,
        "{name}: service under-used (C = {capacity}): {run:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn limit_settles_near_capacity() {
    for capacity in [10, 40] {
        for (name, config) in algorithms() {
            let run = drive(&limiter(config), capacity, 600, None).await;
            assert_settled(name, capacity, &run);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn limit_comes_down_from_far_above_capacity() {
    let capacity = 40;
    for (name, config) in algorithms() {
        let limiter = limiter(AdaptiveConfig {
            initial_limit: 4 * capacity, // twice what the service sheds at
            ..config
        });
        let run = drive(&limiter, capacity, 600, None).await;
        assert!(
            run.overloaded > 0,
            "{name}: the service never shed: {run:?}"
        );
        assert_settled(name, capacity, &run);
    }
}

#[tokio::test(start_paused = true)]
async fn limit_follows_a_capacity_drop() {
    for (name, config) in algorithms() {
        let run = drive(&limiter(config), 40, 800, Some(10)).await;
        assert_settled(&format!("{name} after 40 -> 10"), 10, &run);
    }
}

#[tokio::test(start_paused = true)]
async fn limit_stays_within_max() {
    let capacity = 40;
    for (name, config) in algorithms() {
        let limiter = limiter(AdaptiveConfig {
            max_limit: 15,
            ..config
        });
        let run = drive(&limiter, capacity, 300, None).await;
        assert!(run.all.iter().all(|&limit| limit <= 15), "{name}: {run:?}");
        assert!(run.peak_inside <= 15, "{name}: {run:?}");
        assert_eq!(
            run.low, 15,
            "{name}: should sit at max under demand: {run:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn limit_stays_within_min() {
    let capacity = 10;
    for (name, config) in algorithms() {
        // The service sheds above 20 inside; the floor is 30.
        let limiter = limiter(AdaptiveConfig {
            initial_limit: 60,
            min_limit: 30,
            ..config
        });
        let run = drive(&limiter, capacity, 300, None).await;
        assert!(run.all.iter().all(|&limit| limit >= 30), "{name}: {run:?}");
        assert!(run.overloaded > 0, "{name}: {run:?}");
        assert_eq!(
            run.high, 30,
            "{name}: should sit at min when overloaded: {run:?}"
        );
    }
}

/// A service whose latency rises past its capacity, as `weir-testserver`'s
/// does (and the bench's overload suite): `base × (inside / capacity)²`
/// beyond `capacity`, a quick 503 beyond twice it. Past its capacity it
/// serves *less*: at 1.2 × capacity, 1 / 1.2 of it. Each latency is
/// multiplied by a factor from `noise` (1 when there is none), drawn from
/// a seeded generator so a run is the same every time.
struct RisingService {
    capacity: usize,
    base: Duration,
    inside: AtomicUsize,
    noise: fn(&mut Rng) -> f64,
    rng: std::sync::Mutex<Rng>,
}

/// xorshift64*: enough randomness for a latency model, and seeded.
struct Rng(u64);

impl Rng {
    /// Uniform in [0, 1).
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// No noise.
fn steady(_: &mut Rng) -> f64 {
    1.0
}

/// Latency that varies by nature, whatever the load: a third of the
/// requests are cache hits at a tenth of the base, the rest misses
/// anywhere from half to two and a half times it (a mean of 1.03 × base,
/// a standard deviation of 0.68 × base).
fn cache_hits_and_misses(rng: &mut Rng) -> f64 {
    if rng.next() < 1.0 / 3.0 {
        0.1
    } else {
        0.5 + 2.0 * rng.next()
    }
}

/// ±30% around the base, uniformly.
fn jitter(rng: &mut Rng) -> f64 {
    0.7 + 0.6 * rng.next()
}

impl RisingService {
    fn new(capacity: usize, noise: fn(&mut Rng) -> f64) -> Arc<Self> {
        Self::seeded(capacity, noise, 0x9e37_79b9_7f4a_7c15)
    }

    fn seeded(capacity: usize, noise: fn(&mut Rng) -> f64, seed: u64) -> Arc<Self> {
        Arc::new(RisingService {
            capacity,
            base: Duration::from_millis(20),
            inside: AtomicUsize::new(0),
            noise,
            rng: std::sync::Mutex::new(Rng(seed)),
        })
    }
}

impl Call for RisingService {
    async fn call(&self) -> Outcome {
        let start = Instant::now();
        let inside = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
        let outcome = if inside > 2 * self.capacity {
            tokio::time::sleep(Duration::from_millis(1)).await; // a quick 503
            Outcome::Overloaded
        } else {
            let load = inside as f64 / self.capacity as f64;
            let noise = (self.noise)(&mut self.rng.lock().unwrap());
            tokio::time::sleep(self.base.mul_f64(load.powi(2).max(1.0) * noise)).await;
            Outcome::Success {
                latency: start.elapsed(),
            }
        };
        self.inside.fetch_sub(1, Ordering::SeqCst);
        outcome
    }
}

/// What a run against a [`RisingService`] saw over its second half.
#[derive(Debug)]
struct RisingRun {
    /// The limit every 20 ms over the second half: mean and lowest.
    mean: f64,
    low: usize,
    /// Successes per second of (virtual) time over the second half.
    goodput: f64,
}

/// Drives `limiter` against `service` for `seconds` of virtual time, with
/// 300 clients.
async fn drive_rising(
    limiter: &AdaptiveConcurrency,
    service: Arc<RisingService>,
    seconds: u32,
) -> RisingRun {
    const TICK: Duration = Duration::from_millis(20);
    let ticks = seconds * 50;
    let stop = Instant::now() + TICK * ticks;
    let clients = spawn_clients(limiter, &service, 300, stop);
    let mut limits = Vec::new();
    let mut successes_at_half = 0;
    for tick in 0..ticks {
        tokio::time::sleep(TICK).await;
        if tick == ticks / 2 {
            successes_at_half = limiter.stats().successes;
        }
        if tick >= ticks / 2 {
            limits.push(limiter.current_limit());
        }
    }
    for client in clients {
        client.await.unwrap();
    }
    let stats = limiter.stats();
    RisingRun {
        mean: limits.iter().sum::<usize>() as f64 / limits.len() as f64,
        low: *limits.iter().min().unwrap(),
        goodput: (stats.successes - successes_at_half) as f64 / f64::from(seconds) * 2.0,
    }
}

/// What the `http` stage's `concurrency = 256` is: AIMD at 256 that
/// watches latency only once the service signalled overload.
fn fixed(n: usize) -> AdaptiveConfig {
    AdaptiveConfig {
        initial_limit: n,
        max_limit: n,
        ..AdaptiveConfig::new(Algorithm::Aimd(Aimd {
            backoff: 0.5,
            watch_latency: WatchLatency::AfterOverload,
            ..Aimd::default()
        }))
    }
}

#[tokio::test(start_paused = true)]
async fn aimd_holds_near_the_capacity_of_a_service_whose_latency_rises_past_it() {
    // Capacity 32 at 20 ms: at most 1600/s, served at 32 in flight.
    let ideal = 1600.0;
    let adaptive = AdaptiveConfig {
        max_limit: 256,
        ..AdaptiveConfig::aimd()
    };
    for (name, config, noise) in [
        ("adaptive", adaptive, steady as fn(&mut Rng) -> f64),
        ("adaptive, ±30% jitter", adaptive, jitter),
        ("fixed 256", fixed(256), steady),
    ] {
        let run = drive_rising(&limiter(config), RisingService::new(32, noise), 20).await;
        println!("{name}: {run:?}");
        assert!(
            (28.0..=36.0).contains(&run.mean),
            "{name}: the limit did not settle near 32: {run:?}"
        );
        assert!(
            run.goodput >= 0.9 * ideal,
            "{name}: served under 0.9 of the capacity: {run:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn aimd_does_not_collapse_when_latency_varies_by_nature() {
    // No queue below 10,000: only the latency's own noise, a standard
    // deviation of two thirds of its mean. The limit should climb to its
    // maximum and stay near it.
    let config = AdaptiveConfig {
        max_limit: 256,
        ..AdaptiveConfig::aimd()
    };
    for seed in [1, 0x9e37_79b9_7f4a_7c15, 0xdead_beef, 42] {
        let limiter = limiter(config);
        let service = RisingService::seeded(10_000, cache_hits_and_misses, seed);
        let run = drive_rising(&limiter, service, 20).await;
        println!(
            "seed {seed}: {run:?}, decreases {}",
            limiter.stats().decreases
        );
        assert!(
            run.low >= 64 && run.mean >= 192.0,
            "seed {seed}: the limit sank on noise alone: {run:?}"
        );
    }
    // A fixed limit never moves without an overload signal.
    let limiter = limiter(fixed(256));
    let run = drive_rising(
        &limiter,
        RisingService::new(10_000, cache_hits_and_misses),
        5,
    )
    .await;
    assert_eq!((run.low, limiter.stats().decreases), (256, 0), "{run:?}");
}
