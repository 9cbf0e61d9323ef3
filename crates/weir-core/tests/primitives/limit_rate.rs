//! Behaviour of `RateLimit`: pacing and bursts in paused virtual time, FIFO
//! order, stats, cancellation.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use weir_core::limit::{Rate, RateLimit, RateLimited};

const MS: Duration = Duration::from_millis(1);

#[tokio::test(start_paused = true)]
async fn paces_many_tasks_to_the_rate() {
    let limit = RateLimit::new("100/s".parse().unwrap());
    let start = Instant::now();
    let times = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (limit, times) = (limit.clone(), times.clone());
            tokio::spawn(async move {
                for _ in 0..25 {
                    limit.acquire().await;
                    times.lock().unwrap().push(start.elapsed());
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let mut times = times.lock().unwrap().clone();
    times.sort();
    assert_eq!(times.len(), 200);
    // Burst 1: the first at once, then one every 10ms: 199 intervals.
    let elapsed = *times.last().unwrap();
    assert!(
        elapsed >= 199 * 10 * MS && elapsed <= 200 * 10 * MS,
        "200 at 100/s took {elapsed:?}"
    );
    // No two closer than the interval (allowing for a nanosecond of rounding).
    let closest = times.windows(2).map(|w| w[1] - w[0]).min().unwrap();
    assert!(
        closest + Duration::from_nanos(1) >= 10 * MS,
        "closest {closest:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn burst_goes_at_once_then_paces() {
    let limit = RateLimit::new(Rate::per_millisecond(5).with_burst(10));
    let start = Instant::now();
    for _ in 0..10 {
        limit.acquire().await;
    }
    assert_eq!(start.elapsed(), Duration::ZERO);
    for _ in 0..50 {
        limit.acquire().await;
    }
    // 50 more at one per 200µs.
    assert_eq!(start.elapsed(), 10 * MS);
    // After a quiet spell the burst is back.
    tokio::time::sleep(100 * MS).await;
    let again = Instant::now();
    for _ in 0..10 {
        limit.acquire().await;
    }
    assert_eq!(again.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn minute_rates_pace_in_virtual_time() {
    let limit = RateLimit::new("600/min".parse().unwrap());
    let start = Instant::now();
    for _ in 0..601 {
        limit.acquire().await;
    }
    assert_eq!(start.elapsed(), Duration::from_secs(60));
}

#[tokio::test(start_paused = true)]
async fn waiters_go_in_order() {
    let limit = RateLimit::new(Rate::per_second(1000));
    let order = Arc::new(Mutex::new(Vec::new()));
    limit.acquire().await; // use up the burst
    let tasks: Vec<_> = (0..10)
        .map(|n| {
            let (limit, order) = (limit.clone(), order.clone());
            tokio::spawn(async move {
                limit.acquire().await;
                order.lock().unwrap().push(n);
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), (0..10).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn stats_move_and_try_acquire_says_when() {
    let limit = RateLimit::new(Rate::per_second(10));
    assert!(limit.try_acquire().is_ok());
    assert_eq!(
        limit.try_acquire(),
        Err(RateLimited {
            retry_after: 100 * MS
        })
    );
    let waiter = {
        let limit = limit.clone();
        tokio::spawn(async move { limit.acquire().await })
    };
    tokio::time::sleep(40 * MS).await;
    let stats = limit.stats();
    assert_eq!((stats.granted, stats.waiting), (1, 1));
    waiter.await.unwrap();
    let stats = limit.stats();
    assert_eq!((stats.granted, stats.waiting), (2, 0));
    assert_eq!(stats.wait_time, 100 * MS);
    assert_eq!(stats.rate, Rate::per_second(10));
}

#[tokio::test(start_paused = true)]
async fn cancelled_wait_takes_nothing_from_the_rate() {
    let limit = RateLimit::new(Rate::per_second(10));
    limit.acquire().await;
    for _ in 0..4 {
        assert!(tokio::time::timeout(20 * MS, limit.acquire())
            .await
            .is_err());
    }
    assert_eq!(limit.stats().waiting, 0);
    assert_eq!(limit.stats().granted, 1);
    // 100ms after the first grant the next one is due, not later.
    let start = Instant::now();
    limit.acquire().await;
    assert_eq!(start.elapsed(), 20 * MS);
    let start = Instant::now();
    limit.acquire().await;
    assert_eq!(start.elapsed(), 100 * MS);
}
