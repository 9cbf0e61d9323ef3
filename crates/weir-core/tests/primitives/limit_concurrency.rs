//! Behaviour of `ConcurrencyLimit`: the bound holds, stats move, permits
//! never leak (cancellation, panics). Runs in paused virtual time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use weir_core::limit::{ConcurrencyLimit, ConcurrencyStats, Limiter};

/// Counts operations inside the work, remembering the most seen at once.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Gauge {
    async fn work(&self, for_: Duration) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(for_).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn concurrency_never_exceeds_the_limit() {
    let limit = ConcurrencyLimit::new(3);
    let gauge = Arc::new(Gauge::default());
    let tasks: Vec<_> = (0..40u64)
        .map(|n| {
            let (limit, gauge) = (limit.clone(), gauge.clone());
            tokio::spawn(async move {
                limit
                    .run(gauge.work(Duration::from_millis(5 + n % 7)))
                    .await;
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(gauge.peak.load(Ordering::SeqCst), 3);
    assert_eq!(limit.in_flight(), 0);
    assert_eq!(limit.stats().acquired, 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_bound_holds_across_threads() {
    let limit = ConcurrencyLimit::new(4);
    let gauge = Arc::new(Gauge::default());
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (limit, gauge) = (limit.clone(), gauge.clone());
            tokio::spawn(async move {
                for _ in 0..20 {
                    limit.run(gauge.work(Duration::ZERO)).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert!(gauge.peak.load(Ordering::SeqCst) <= 4);
    assert_eq!(limit.stats().acquired, 64 * 20);
}

#[tokio::test(start_paused = true)]
async fn stats_move_with_waits_and_holds() {
    let limit = ConcurrencyLimit::new(1);
    let first = limit.acquire().await;
    let waiter = {
        let limit = limit.clone();
        tokio::spawn(async move {
            let permit = limit.acquire().await;
            tokio::time::sleep(Duration::from_millis(30)).await;
            drop(permit);
        })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(
        limit.stats(),
        ConcurrencyStats {
            limit: 1,
            in_flight: 1,
            waiting: 1,
            acquired: 1,
            wait_time: Duration::ZERO,
            held_time: Duration::ZERO,
        }
    );
    assert_eq!(first.held_for(), Duration::from_millis(10));
    drop(first);
    waiter.await.unwrap();
    let stats = limit.stats();
    assert_eq!((stats.in_flight, stats.waiting, stats.acquired), (0, 0, 2));
    assert_eq!(stats.wait_time, Duration::from_millis(10));
    assert_eq!(stats.held_time, Duration::from_millis(40));
}

#[tokio::test(start_paused = true)]
async fn cancelled_acquire_takes_nothing() {
    let limit = ConcurrencyLimit::new(1);
    let held = limit.acquire().await;
    let gave_up = tokio::time::timeout(Duration::from_millis(5), limit.acquire()).await;
    assert!(gave_up.is_err());
    assert_eq!(limit.stats().waiting, 0);
    drop(held);
    assert_eq!(limit.in_flight(), 0);
    assert!(limit.try_acquire().is_some());
}

#[tokio::test(start_paused = true)]
async fn a_panicking_task_releases_its_permit() {
    let limit = ConcurrencyLimit::new(1);
    let task = {
        let limit = limit.clone();
        tokio::spawn(async move {
            let _permit = limit.acquire().await;
            panic!("work failed");
        })
    };
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(limit.in_flight(), 0);
    let start = Instant::now();
    let _permit = limit.acquire().await;
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[test]
#[should_panic(expected = "at least 1")]
fn a_limit_of_zero_is_refused() {
    let _ = ConcurrencyLimit::new(0);
}
